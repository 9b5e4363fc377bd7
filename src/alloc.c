/* alloc.c — malloc and free for the tiny and mid tiers (call tree in
 * alloc.h). The fast paths take no lock and make no call; everything else
 * is in separate non-inlined functions. */
#include "alloc.h"

#include <errno.h>
#include <string.h>

#include "hakmem.h"

#include "hooks.h"
#include "heap.h"
#include "large.h"
#include "remote.h"
#include "superslab.h"
#include "vg.h"

/* ---- Reports (cold) ----------------------------------------------------- */

HAK_COLD static void report_bad_link(hak_block_t *b, hak_block_t *next)
{
    (void)next;
    hak_superslab_t *ss = ss_of((uintptr_t)b);
    hak_report(HAK_CHECK_FREELIST, b, slab_where(slab_of(ss, (uintptr_t)b)),
               " (link leaves the slab)");
}

/* p is in one of our superslabs but is not a live block's start. */
HAK_COLD static void report_bad_small(const void *p, hak_slab_t *s,
                                      const char *check)
{
    uintptr_t a = (uintptr_t)p;
    if (s->cls != HAK_CLASS_NONE && a >= (uintptr_t)s->start &&
        a < (uintptr_t)s->start + (size_t)s->capacity * s->stride)
        hak_report(HAK_CHECK_MISALIGNED, p, slab_where(s), NULL);
    hak_report(check, p, slab_where(s), " (not a block in use)");
}

HAK_COLD static void report_double_free(const void *p, hak_slab_t *s)
{
    hak_report(HAK_CHECK_DOUBLE_FREE, p, slab_where(s), NULL);
}

/* A double free from a thread that does not own the block: name the
 * owner's thread (its heap number) and the freeing one. */
HAK_COLD static void report_remote_double_free(const void *p, hak_slab_t *s,
                                               const hak_heap_t *owner)
{
    char d[96];
    hak_fmt_t f = { d, 0, sizeof d };
    hak_fmt_str(&f, " (owner thread #");
    hak_fmt_dec(&f, owner->id);
    hak_fmt_str(&f, ", freed again by ");
    if (hak_tls_heap) {
        hak_fmt_str(&f, "thread #");
        hak_fmt_dec(&f, hak_tls_heap->id);
    } else {
        hak_fmt_str(&f, "a thread that never allocated");
    }
    hak_fmt_str(&f, ")");
    hak_report(HAK_CHECK_DOUBLE_FREE, p, slab_where(s), d);
}

/* ---- Slab lists -------------------------------------------------------- */

/* The current slab of a class that has none: no blocks, never written. */
hak_slab_t hak_slab_none = { .cls = HAK_CLASS_NONE };

/* Pop the head of s->free; the next link must stay inside s. */
HAK_INLINE hak_block_t *slab_pop(hak_slab_t *s, hak_block_t *b,
                                 unsigned shift)
{
    hak_block_t *next = block_decode(b, s->key);
    if (HAK_HARDEN &&
        HAK_UNLIKELY(((uintptr_t)next ^ (uintptr_t)b) >> shift) && next)
        report_bad_link(b, next);
    s->free = next;
    s->credit++;
    return b;
}

/* A free block leaves the allocator. */
HAK_INLINE void *hand_out(hak_heap_t *h, size_t c, hak_slab_t *s,
                          hak_block_t *b, size_t req)
{
    h->nalloc[c]++;
    hak_superslab_t *ss = ss_of((uintptr_t)b);
    hak_dbg_on_alloc(ss, s, b);
    if (HAK_BLOCK_HEADER) /* zoo 1: a header the stride forgot */
        memset((uint8_t *)b + hak_class_size[s->cls], 0x48, HAK_BLOCK_HEADER);
    b->tag = 0;
    HAK_VG_ALLOC(b, req);
    HAK_VG_NOACCESS((uint8_t *)b + req, s->stride - req);
    hak_dbg_arm(ss, s, b, req);
    return b;
}

/* Push b on its slab's list. Returns nonzero when s needs attention. */
HAK_INLINE int slab_push(hak_slab_t *s, hak_block_t *b)
{
    b->tag = tag_free(b);
    b->link = block_encode(b, s->free, s->key);
    s->free = b;
    return --s->credit < 0;
}

static void partial_push(hak_class_cache_t *cc, hak_slab_t *s)
{
    s->prev = NULL;
    s->next = cc->partial;
    if (s->next)
        s->next->prev = s;
    cc->partial = s;
}

static void partial_remove(hak_class_cache_t *cc, hak_slab_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        cc->partial = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* A free made s's credit negative (types.h): a FULL slab got its first
 * block back, or a PARTIAL one became empty. */
HAK_NOINLINE static void slab_attention(hak_heap_t *h, hak_slab_t *s)
{
    hak_class_cache_t *cc = &h->cls[s->cls];
    if (s->state == HAK_SLAB_FULL) {
        slab_set_state(s, HAK_SLAB_PARTIAL, 1);
        partial_push(cc, s);
    }
    if (slab_used(s) == 0) {
        partial_remove(cc, s);
        superslab_release_slab(h, ss_of((uintptr_t)s->start), s);
    }
}

void cache_retire(hak_heap_t *h, unsigned c)
{
    hak_class_cache_t *cc = &h->cls[c];
    hak_slab_t *s = h->hot.cur[c];
    if (s == &hak_slab_none)
        return;
    h->hot.cur[c] = &hak_slab_none;
    if (slab_used(s) == 0) {
        superslab_release_slab(h, ss_of((uintptr_t)s->start), s);
    } else if (s->free || s->carved < s->capacity) {
        slab_set_state(s, HAK_SLAB_PARTIAL, 1);
        partial_push(cc, s);
    } else {
        slab_set_state(s, HAK_SLAB_FULL, slab_used(s));
    }
}

/* ---- Remote frees ------------------------------------------------------- */

void heap_drain(hak_heap_t *h)
{
    hak_block_t *chain = remote_take(&h->remote);
    if (!chain)
        return;
    h->ndrain++;
    /* zoo 4: the chain is spliced without sanitising or validation. */
    const int check = HAK_ZOO != 4;
    if (check)
        hak_dbg_sanitize_chain(h, chain);
    while (chain) {
        hak_block_t *b = chain;
        uintptr_t a = (uintptr_t)b;
        /* Untrusted until proven: ours, owned by h, a carved block, queued.
         * Only then is its link read. */
        hak_superslab_t *ss = ss_of(a);
        hak_slab_t *s = check ? remote_node_check(h, b) : slab_of(ss, a);
        chain = remote_next(&h->remote, b);
        /* Each node is a miss (another core wrote it): start the next one
         * while this one is pushed. A prefetch never faults, so an
         * unvalidated address is harmless here. */
        __builtin_prefetch(chain);
        hak_dbg_on_drain(ss, s, b);
        h->cls[s->cls].nremote++;
        if (slab_push(s, b))
            slab_attention(h, s);
    }
}

/* Another heap owns b's superslab: push it on that heap's queue. Reads
 * only slab fields that are immutable while the block is live. */
HAK_NOINLINE static void free_remote(hak_block_t *b)
{
    hak_superslab_t *ss = ss_of((uintptr_t)b);
    hak_slab_t *s = slab_of(ss, (uintptr_t)b);
    if (HAK_HARDEN) {
        if (HAK_UNLIKELY(slab_index(s, (uintptr_t)b, s->capacity) ==
                         UINT32_MAX))
            report_bad_small(b, s, HAK_CHECK_INVALID_FREE);
        HAK_VG_DEFINED(b, sizeof *b);
        if (HAK_UNLIKELY(tag_is_free(b) && HAK_ZOO != 3))
            report_remote_double_free(b, s, ss->owner);
    }
    hak_dbg_on_free(ss, s, b, 0);
    HAK_VG_FREE(b, s->stride);
    HAK_VG_DEFINED(b, sizeof *b);
    remote_push(&ss->owner->remote, b);
}

/* ---- Refill (slow) ------------------------------------------------------ */

/* Makes h->hot.cur[c]->free non-empty, or returns a single carved block, or
 * returns NULL with the list still empty when the OS has no memory. */
HAK_NOINLINE static hak_block_t *heap_refill(hak_heap_t *h, unsigned c)
{
    hak_class_cache_t *cc = &h->cls[c];
    cc->nrefill++;
    /* Now and then, drain an abandoned heap: frees into the blocks of
     * exited threads must not pile up while no new thread adopts them. */
    if ((cc->nrefill & 255) == 0)
        heap_reclaim(1, 0);
    heap_drain(h);
    for (;;) {
        hak_slab_t *s = h->hot.cur[c];
        if (s->free)
            return NULL;
        /* Blocks already freed into another slab before fresh ones: the
         * memory is touched already, and a slab that empties can go. */
        hak_slab_t *p = cc->partial;
        int take_partial = p && p->free;
        if (!take_partial && s->carved < s->capacity) {
            hak_superslab_t *ss = ss_of((uintptr_t)s->start);
            if (hak_g.batch_refill) {
                s->free = slab_carve_batch(ss, s, HAK_REFILL_BATCH);
                return NULL;
            }
            s->credit++;
            return slab_carve_one(ss, s);
        }
        cache_retire(h, c);
        s = take_partial ? p : cc->partial;
        if (s) {
            partial_remove(cc, s);
        } else {
            s = superslab_take_slab(h, c);
            if (!s)
                return NULL;
        }
        slab_set_state(s, HAK_SLAB_CURRENT, 0);
        h->hot.cur[c] = s;
    }
}

static void *heap_alloc(hak_heap_t *h, unsigned c, size_t req)
{
    unsigned shift = hak_tier_shift(hak_class_tier(c));
    for (;;) {
        hak_slab_t *s = h->hot.cur[c];
        hak_block_t *b = s->free;
        if (b)
            return hand_out(h, c, s, slab_pop(s, b, shift), req);
        b = heap_refill(h, c);
        if (b)
            return hand_out(h, c, h->hot.cur[c], b, req);
        if (!h->hot.cur[c]->free) {
            errno = ENOMEM;
            return NULL;
        }
    }
}

HAK_NOINLINE static void *alloc_slow(size_t n)
{
    hak_init();
    if (n > HAK_SMALL_LIMIT)
        return large_alloc(n, HAK_ALIGN);
    hak_heap_t *h = hak_tls_heap;
    if (!h && !(h = heap_get_slow())) {
        errno = ENOMEM;
        return NULL;
    }
    return heap_alloc(h, hak_class_of(n), n);
}

void *alloc_class(unsigned c, size_t req)
{
    hak_heap_t *h = hak_tls_heap;
    if (!h && !(h = heap_get_slow())) {
        errno = ENOMEM;
        return NULL;
    }
    return heap_alloc(h, c, req);
}

/* ---- The fast paths ----------------------------------------------------- */

/* Pop class c's current slab, or NULL when its list is empty (or the
 * thread has no heap: the static hot part lists no block). */
HAK_INLINE void *alloc_fast(size_t c, size_t n, unsigned shift)
{
    const hak_heap_hot_t *hot = hak_tls_hot;
    hak_slab_t *s = hot->cur[c];
    hak_block_t *b = s->free;
    if (HAK_LIKELY(b != NULL))
        return hand_out(heap_of_hot(hot), c, s, slab_pop(s, b, shift), n);
    return NULL;
}

/* Above the tiny tier: the mid classes' own fast path, out of line so
 * the tiny one keeps no stack frame. */
HAK_NOINLINE static void *malloc_above_tiny(size_t n)
{
    if (n <= HAK_SMALL_LIMIT) {
        void *p = alloc_fast(hak_class_of_256[(n + HAK_SLACK_MIN + 255) >> 8],
                             n, HAK_MID_SHIFT);
        if (HAK_LIKELY(p != NULL))
            return p;
    }
    return alloc_slow(n);
}

void *hak_malloc(size_t n)
{
    if (HAK_LIKELY(n <= HAK_TINY_MAX - HAK_SLACK_MIN)) {
        void *p = alloc_fast(hak_class_of_16[(n + HAK_SLACK_MIN + 15) >> 4],
                             n, HAK_TINY_SHIFT);
        if (HAK_LIKELY(p != NULL))
            return p;
        return alloc_slow(n);
    }
    return malloc_above_tiny(n);
}

hak_small_ref_t small_validate(const void *p, const char *check)
{
    uintptr_t a = (uintptr_t)p;
    hak_superslab_t *ss = ss_of(a);
    hak_slab_t *s = slab_of(ss, a);
    if (slab_index(s, a, s->capacity) == UINT32_MAX)
        report_bad_small(p, s, check);
    const hak_block_t *b = p;
    /* memcheck: reading the tag marks the first 16 bytes defined. */
    HAK_VG_DEFINED(b, sizeof *b);
    if (tag_is_free(b))
        hak_report(check, p, slab_where(s), " (block is free)");
    return (hak_small_ref_t){ ss, s };
}

/* The owner frees a block that failed validation. HAK_TAIL: the compiler
 * must not learn that it never returns, so the fast path reaches it with a
 * tail jump and needs no stack frame of its own. */
HAK_TAIL static void free_invalid(void *p)
{
    hak_slab_t *s = slab_of(ss_of((uintptr_t)p), (uintptr_t)p);
    if (slab_index(s, (uintptr_t)p, s->carved) == UINT32_MAX)
        report_bad_small(p, s, HAK_CHECK_INVALID_FREE);
    report_double_free(p, s);
}

/* The owner h frees b, a block of its superslab ss (not yet validated). */
HAK_INLINE void free_local(hak_heap_t *h, hak_superslab_t *ss, hak_block_t *b)
{
    uintptr_t a = (uintptr_t)b;
    hak_slab_t *s = slab_of(ss, a);
    if (HAK_HARDEN) {
        HAK_VG_DEFINED(b, sizeof *b);
        if (HAK_UNLIKELY(slab_index(s, a, s->carved) == UINT32_MAX ||
                         tag_is_free(b))) {
            free_invalid(b);
            return;
        }
    }
    hak_dbg_on_free(ss, s, b, 1);
    HAK_VG_FREE(b, s->stride);
    HAK_VG_DEFINED(b, sizeof *b);
    h->nfree++;
    if (HAK_UNLIKELY(slab_push(s, b)))
        slab_attention(h, s);
}

/* Not in the hot superslab: ask the registry whose block p is. */
HAK_TAIL static void free_cold(void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (!registry_tier(a)) {
        if (p)
            large_free(p);
        return;
    }
    hak_superslab_t *ss = ss_of(a);
    hak_heap_t *h = hak_tls_heap;
    if (ss->owner != h) {
        free_remote(p);
        return;
    }
    h->hot.hot_base = ss_base(ss);
    free_local(h, ss, p);
}

void hak_free(void *p)
{
    /* Most frees land in the superslab the thread freed into last, which
     * is its own: then neither the registry nor the owner is asked. */
    const hak_heap_hot_t *hot = hak_tls_hot;
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)HAK_SS_MASK;
    if (HAK_UNLIKELY(base != hot->hot_base)) {
        free_cold(p);
        return;
    }
    free_local(heap_of_hot(hot), ss_of(base), p);
}
