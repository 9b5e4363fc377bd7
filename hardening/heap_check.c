/* heap_check.c — hak_check_heap(): the slow walk over every invariant.
 *
 * It checks the calling thread's heap and every abandoned heap (each held
 * exclusively while it is checked); live heaps of other threads are theirs
 * alone and are not touched. Per superslab: magic, owner, registration,
 * free mask. Per slab in use: geometry (capacity * stride <= usable, the
 * one stride), the slot bitmap (nothing past the capacity, the cursor
 * and take invariants, nothing both free and queued), the used count; in debug also
 * the per-slot state, poison of free blocks and canaries of live ones.
 * Returns the number of slots (live and free) it checked.
 */
#include "hakmem.h"

#include "heap.h"
#include "hooks.h"
#include "init.h"
#include "slab_list.h"
#include "superslab.h"

typedef struct walk {
    hak_heap_t *h;
    size_t blocks;
    uint32_t dirty;     /* dirty slabs seen in the tier being walked */
} walk_t;

HAK_COLD static void fail(const void *p, const hak_slab_t *s, const char *what)
{
    hak_report(HAK_CHECK_HEAP, p,
               s ? slab_where(s) : (hak_where_t){ HAK_WHERE_NONE, 0, NULL },
               what);
}

/* The slot bitmap of s: no bit at or past the capacity, the cursor
 * invariants of types.h, no slot both free and queued. Returns the number
 * of free slots. */
static uint32_t check_bits(hak_slab_t *s)
{
    uint32_t words = (s->capacity + 63u) / 64u, nfree = 0;
    if (s->cursor >= words || s->top >= words || s->cursor > s->top)
        fail(s->start, s, " (cursor outside the slab's words)");
    if (s->take ? s->take_slot >= s->capacity ||
                      s->take != slab_slot(s, s->take_slot) ||
                      !slab_slot_free(s, s->take_slot)
                : slab_bits(s, s->cursor) != 0)
        fail(s->take ? s->take : s->start, s,
             " (next slot to take not a free slot)");
    for (uint32_t k = 0; k < HAK_SLAB_WORDS; k++) {
        uint64_t w = slab_bits(s, k);
        uint64_t valid = k + 1 < words ? ~(uint64_t)0
                         : k + 1 == words && s->capacity % 64
                             ? ((uint64_t)1 << (s->capacity % 64)) - 1
                         : k + 1 == words ? ~(uint64_t)0 : 0;
        if (w & ~valid)
            fail(s->start, s, " (free bit past the capacity)");
        if (k > s->top && w != valid)
            fail(slab_slot(s, k * 64), s, " (slot above top handed out)");
        if (w & atomic_load_explicit(&slab_rbits(s)[k], memory_order_relaxed))
            fail(slab_slot(s, k * 64), s, " (slot free and queued)");
        nfree += (uint32_t)__builtin_popcountll(w);
    }
    return nfree;
}

/* Debug: every slot's state agrees with the bitmap; free ones keep their
 * poison and live ones their canary. Returns how many are live. */
static uint32_t check_slots(hak_superslab_t *ss, hak_slab_t *s)
{
    uint32_t live = 0, span = hak_checked_span(s->cls);
    for (uint32_t i = 0; i < s->capacity; i++) {
        const uint8_t *b = slab_slot(s, i);
        uint32_t v = hak_chk_slot_value(ss, s, b);
        if (slab_slot_free(s, i)) {
            if (v >= HAK_SLOT_LIVE)
                fail(b, s, " (free slot with a live state)");
            if (v == HAK_SLOT_FREE && hak_poison_on() &&
                hak_chk_first_not(b, 0, span, HAK_FREE_BYTE) != span)
                hak_report(HAK_CHECK_POISON, b, slab_where(s), NULL);
            continue;
        }
        if (v < HAK_SLOT_LIVE)
            fail(b, s, " (live slot without a live state)");
        live++;
        if (hak_canary_on() &&
            hak_chk_first_not(b, v - HAK_SLOT_LIVE, span, HAK_CANARY_BYTE) !=
                span)
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
    uint32_t nfree = check_bits(s);
    if ((s->state == HAK_SLAB_CURRENT) != (w->h->hot.cur[c] == s))
        fail(s->start, s, " (current slab mismatch)");
    /* Blocks other threads free meanwhile stay counted as used until the
     * next drain, so this holds while they run. */
    if (slab_used(s) != s->capacity - nfree)
        fail(s->start, s, " (used count wrong)");
    uint32_t base = s->state == HAK_SLAB_CURRENT ? 0
                    : s->state == HAK_SLAB_PARTIAL ? 1 : slab_full_base(s);
    if (s->used_base != base)
        fail(s->start, s, " (free trigger wrong for the slab's state)");
    if (s->state == HAK_SLAB_PARTIAL && !nfree)
        fail(s->start, s, " (partial slab without room)");
    if (s->state == HAK_SLAB_FULL && nfree >= slab_full_wait(s))
        fail(s->start, s, " (full slab with room to rejoin the partial list)");
    if (hak_slots_kept() && check_slots(ss, s) != s->capacity - nfree)
        fail(s->start, s, " (live slots differ from the bitmap)");
    w->blocks += s->capacity;
}

static void check_superslab(walk_t *w, hak_superslab_t *ss)
{
    if (ss->magic != (HAK_SS_MAGIC ^ ss_base(ss)) || ss->owner != w->h)
        fail(ss, NULL, " (superslab header damaged)");
    if (registry_tier(ss_base(ss)) != ss->tier)
        fail(ss, NULL, " (superslab not registered)");
    if (ss->spare_kept)
        fail(ss, NULL, " (superslab in use marked as a spare)");
    uint32_t used = 0;
    for (unsigned i = 1; i < ss->nslabs; i++) {
        hak_slab_t *s = &ss->slabs[i];
        if (i >= ss->ninit) { /* never written: unused, all zero */
            if (!(ss->free_mask & (1u << i)) || s->start || s->capacity)
                fail(ss, NULL, " (slab past the written descriptors)");
            continue;
        }
        if (ss->free_mask & (1u << i)) {
            if (s->cls != HAK_CLASS_NONE || s->capacity)
                fail(s->start, s, " (unused slab has blocks)");
            continue;
        }
        used++;
        check_slab(w, ss, s);
    }
    if (used != ss->used_slabs || ss->free_mask & 1)
        fail(ss, NULL, " (superslab slab count wrong)");
    if (ss->dirty_mask & ~ss->free_mask)
        fail(ss, NULL, " (dirty slab in use)");
    w->dirty += (uint32_t)__builtin_popcount(ss->dirty_mask);
}

static void check_heap(hak_heap_t *h, void *arg)
{
    walk_t *w = arg;
    w->h = h;
    hak_heap_quarantine_flush(h); /* delayed blocks are live to the bitmap */
    hak_heap_drain(h);
    for (unsigned tier = HAK_TIER_TINY; tier < HAK_SLAB_TIERS; tier++) {
        w->dirty = 0;
        for (hak_superslab_t *ss = h->ss[tier]; ss; ss = ss->next)
            check_superslab(w, ss);
        if (w->dirty != h->ndirty[tier])
            fail(h, NULL, " (dirty slab count wrong)");
        unsigned n = 0;
        for (hak_superslab_t *ss = h->spare[tier]; ss; ss = ss->next) {
            if (ss->dirty_mask)
                fail(ss, NULL, " (spare superslab with dirty slabs)");
            if (ss->spare_kept && n >= HAK_SPARES_KEPT)
                fail(ss, NULL, " (old spare superslab keeps its pages)");
            n++;
        }
    }
    /* free's fast path trusts the hot superslabs: each one of h's own,
     * still registered (a spare, at most), in its way, with its slab
     * size. */
    for (unsigned way = 0; way < HAK_HOT_WAYS; way++) {
        uintptr_t e = h->hot.hot_ss[way], hb = e & ~(uintptr_t)HAK_SS_MASK;
        if (e == HAK_HOT_NONE)
            continue;
        unsigned tier = registry_tier(hb);
        const hak_superslab_t *hs = ss_of(hb);
        if (!HAK_TIER_IS_SLAB(tier) ||
            hs->owner != h || HAK_HOT_WAY(hb) != way || e != hot_entry_of(hs))
            fail((void *)hb, NULL, " (hot superslab not the heap's own)");
    }
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        for (hak_slab_t *s = h->cls[c].partial; s; s = s->next)
            if (s->cls != c || s->state != HAK_SLAB_PARTIAL)
                fail(s->start, s, " (partial list holds a wrong slab)");
}

size_t hak_check_heap(void)
{
    hak_init();
    walk_t w = { NULL, 0, 0 };
    if (hak_tls_heap)
        check_heap(hak_tls_heap, &w);
    hak_heap_visit_pool(~0u, check_heap, &w);
    return w.blocks;
}
