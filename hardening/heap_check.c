/* heap_check.c — hak_check_heap(): the slow walk over every invariant.
 *
 * It checks the calling thread's heap and every abandoned heap (each held
 * exclusively while it is checked); live heaps of other threads are theirs
 * alone and are not touched. Per superslab: magic, owner, registration,
 * free mask. Per slab in use: geometry (capacity * stride <= usable, the
 * one stride), carve position, every free list (nodes in the slab, at a
 * block boundary, carved, tagged free, finite), the used count; in debug
 * also the per-slot state, poison of free blocks and canaries of live ones.
 */
#include "hakmem.h"

#include "alloc.h"
#include "hooks.h"
#include "heap.h"
#include "superslab.h"

typedef struct walk {
    hak_heap_t *h;
    size_t blocks;
} walk_t;

HAK_COLD static void fail(const void *p, const hak_slab_t *s, const char *what)
{
    hak_report(HAK_CHECK_HEAP, p,
               s ? slab_where(s) : (hak_where_t){ HAK_WHERE_NONE, 0, NULL },
               what);
}

/* Verifies one free list of slab s; returns its length. */
static uint32_t check_list(hak_superslab_t *ss, hak_slab_t *s,
                           hak_block_t *head, uintptr_t key)
{
    uint32_t n = 0;
    for (hak_block_t *b = head; b; b = block_decode(b, key)) {
        if (++n > s->carved)
            fail(b, s, " (free list longer than the carved blocks)");
        if (slab_index(s, (uintptr_t)b, s->carved) == UINT32_MAX)
            fail(b, s, " (free list node not a carved block)");
        if (b->tag != tag_free(b))
            fail(b, s, " (free list node not tagged free)");
        if (HAK_SLOTSTATE && hak_dbg_slot_value(ss, s, b) != 0)
            fail(b, s, " (free list node is live)");
        if (HAK_POISON && hak_dbg_first_not((const uint8_t *)b, sizeof *b,
                                            s->stride, HAK_POISON_BYTE)
                              != s->stride)
            hak_report(HAK_CHECK_POISON, b, slab_where(s), NULL);
    }
    return n;
}

/* Debug: live slots carry intact canaries; returns how many are live. */
static uint32_t check_live(hak_superslab_t *ss, hak_slab_t *s)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < s->carved; i++) {
        const uint8_t *b = slab_slot(s, i);
        uint32_t v = hak_dbg_slot_value(ss, s, b);
        if (!v)
            continue;
        live++;
        /* Bytes below 16 may be a remote push's link and tag in flight. */
        if (hak_dbg_first_not(b, v - 1 < 16 ? 16 : v - 1, s->stride,
                              HAK_CANARY_BYTE) != s->stride)
            hak_report(HAK_CHECK_CANARY, b, slab_where(s), NULL);
    }
    return live;
}

static void check_slab(walk_t *w, hak_superslab_t *ss, hak_slab_t *s)
{
    unsigned c = s->cls;
    if (c >= HAK_NUM_CLASSES)
        fail(s->start, s, " (slab in use without a class)");
    if (hak_class_tier(c) != ss->tier)
        fail(s->start, s, " (class of the wrong tier)");
    if (s->stride != hak_stride(c) || s->capacity != hak_capacity(c) ||
        (size_t)s->capacity * s->stride > slab_bytes(ss))
        fail(s->start, s, " (slab geometry differs from the stride)");
    if (s->carved > s->capacity)
        fail(s->start, s, " (carved past capacity)");
    uint32_t nfree = check_list(ss, s, s->free, s->key);
    if ((s->state == HAK_SLAB_CURRENT) != (w->h->hot.cur[c] == s))
        fail(s->start, s, " (current slab mismatch)");
    /* The queue was drained first, so every carved block is out or in the
     * slab's list. */
    if (slab_used(s) != s->carved - nfree)
        fail(s->start, s, " (used count wrong)");
    uint32_t base = s->state == HAK_SLAB_CURRENT ? 0
                    : s->state == HAK_SLAB_PARTIAL ? 1 : slab_used(s);
    if (s->used_base != base)
        fail(s->start, s, " (free trigger wrong for the slab's state)");
    if (s->state == HAK_SLAB_PARTIAL && !nfree && s->carved == s->capacity)
        fail(s->start, s, " (partial slab without room)");
    if (s->state == HAK_SLAB_FULL && nfree)
        fail(s->start, s, " (full slab with free blocks)");
    if (HAK_SLOTSTATE && check_live(ss, s) != s->carved - nfree)
        fail(s->start, s, " (live slots differ from the free lists)");
    w->blocks += s->carved;
}

static void check_superslab(walk_t *w, hak_superslab_t *ss)
{
    if (ss->magic != (HAK_SS_MAGIC ^ ss_base(ss)) || ss->owner != w->h)
        fail(ss, NULL, " (superslab header damaged)");
    if (registry_tier(ss_base(ss)) != ss->tier)
        fail(ss, NULL, " (superslab not registered)");
    uint32_t used = 0;
    for (unsigned i = 1; i < ss->nslabs; i++) {
        hak_slab_t *s = &ss->slabs[i];
        if (ss->free_mask & (1u << i)) {
            if (s->cls != HAK_CLASS_NONE || s->capacity || s->carved)
                fail(s->start, s, " (unused slab has blocks)");
            continue;
        }
        used++;
        check_slab(w, ss, s);
    }
    if (used != ss->used_slabs || ss->free_mask & 1)
        fail(ss, NULL, " (superslab slab count wrong)");
}

static void check_heap(hak_heap_t *h, void *arg)
{
    walk_t *w = arg;
    w->h = h;
    heap_drain(h);
    for (unsigned tier = HAK_TIER_TINY; tier <= HAK_TIER_MID; tier++)
        for (hak_superslab_t *ss = h->ss[tier]; ss; ss = ss->next)
            check_superslab(w, ss);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        for (hak_slab_t *s = h->cls[c].partial; s; s = s->next)
            if (s->cls != c || s->state != HAK_SLAB_PARTIAL)
                fail(s->start, s, " (partial list holds a wrong slab)");
}

size_t hak_check_heap(void)
{
    hak_init();
    walk_t w = { NULL, 0 };
    if (hak_tls_heap)
        check_heap(hak_tls_heap, &w);
    heap_visit_pool(~0u, check_heap, &w);
    return w.blocks;
}
