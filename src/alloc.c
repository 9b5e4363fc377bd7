/* alloc.c — malloc and free for the slab tiers (tiny, mid, big; call tree
 * in alloc.h). The fast paths take no lock and make no call; everything else
 * is in separate non-inlined functions. Neither path reads or writes the
 * block itself: a slot's state is its bit in the slab's bitmap. */
#include "alloc.h"

#include <errno.h>
#include <string.h>

#include "hakmem.h"

#include "hooks.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "remote.h"
#include "superslab.h"
#include "vg.h"
#include "zero.h"

/* ---- Taking a slot ----------------------------------------------------- */

/* A free slot leaves the allocator as a block for a request of req. */
HAK_INLINE void *hand_out(hak_heap_t *h, size_t c, hak_slab_t *s, uint8_t *b,
                          size_t req)
{
    hak_count(&h->nalloc[c], 1);
    s->credit++;
    hak_superslab_t *ss = ss_of((uintptr_t)b);
    hak_dbg_on_alloc(ss, s, b);
    HAK_VG_ALLOC(b, req);
    HAK_VG_NOACCESS(b + req, s->stride - req);
    hak_dbg_arm(ss, s, b, req);
    return b;
}

/* Hands out s->take, p (non-NULL: the caller tested it): its bit leaves
 * the bitmap, and the slot taken next is the lowest free one of the
 * cursor word. */
HAK_INLINE uint8_t *slab_take(hak_slab_t *s, uint8_t *p)
{
    uint32_t i = s->take_slot;
    size_t k = slot_word(i);
    slab_bits_store(s, k, word_without_bit(slab_bits(s, k), i));
    slab_take_from_bits(s);
    return p;
}

/* ---- Frees ---------------------------------------------------------------- */

/* Another heap owns b's superslab: set b's bit in the slab's rbits (and
 * queue the slab for its owner). b may be no live block, in a slab its
 * owner is releasing or setting up again right now: it is validated with
 * the shared view of slab.h, and only a slot of a set-up that held still
 * while its bit was read is freed. */
HAK_NOINLINE static void free_remote(uint8_t *b)
{
    hak_superslab_t *ss = ss_of((uintptr_t)b);
    hak_slab_t *s = slab_of(ss, (uintptr_t)b);
    hak_geom_t g = slab_geom_shared(s);
    uint32_t i = geom_index(&g, (uintptr_t)b);
    if (HAK_UNLIKELY(i == UINT32_MAX))
        hak_report_bad_small(b, s, HAK_CHECK_INVALID_FREE);
    int is_free = slab_slot_free(s, i);
    if (HAK_HARDEN && HAK_UNLIKELY(!slab_geom_still(s, &g)))
        hak_report_reused(b, s, HAK_CHECK_INVALID_FREE);
    if (HAK_HARDEN && HAK_UNLIKELY(is_free)) {
        if (slot_word(i) > HAK_SHARED_LOAD(s->top))
            hak_report_free_slot(b, s, i, HAK_CHECK_INVALID_FREE, 1);
        hak_report_remote_double_free(b, s, ss->owner);
    }
    hak_dbg_on_free(ss, s, b, 0);
    HAK_VG_FREE(b, s->stride);
    uint64_t old = remote_free_bits(&ss->owner->remote, s, i);
    if (HAK_HARDEN && HAK_UNLIKELY(old & slot_bit(i)))
        hak_report_remote_double_free(b, s, ss->owner);
}

/* ---- Refill (slow) ------------------------------------------------------ */

/* Whether partial slab q is worth leaving the current slab s for: it has
 * an eighth of its slots free (what a full slab waits for before it joins
 * the queue) and more than twice as many freed slots as s (fresh words do
 * not count: they come last, after every freed block).
 * Then the refill takes q, and s waits at the tail of the queue,
 * gathering the frees made into it meanwhile. Frees land in every slab of
 * a class while malloc takes from one: without this, a nearly full current
 * slab was kept until its last free slot went, a few slots a refill,
 * while the slabs in the queue filled. (Without the eighth, a slab left
 * poor could be taken back still poor: a version without it made
 * alloc-test with two threads refill 1.4 times as often as no rule.) */
HAK_INLINE int richer(const hak_slab_t *q, const hak_slab_t *s)
{
    uint32_t free_q = slab_free_touched(q);
    return free_q >= slab_full_wait(q) && free_q > 2u * slab_free_touched(s);
}

/* Makes the cursor word of h->hot.cur[c] non-empty; 0 when the OS has no
 * memory for a new slab. Order: blocks already freed into the current
 * slab (unless the partial slab next in line is richer), then a partial
 * slab's (its memory is touched already, and a slab that empties can go),
 * then fresh words of the current slab, then a new slab.
 *
 * Other threads' frees are merged (the heap's remote queue drained) when
 * the refill would leave the current slab, not at every refill: a drain
 * moves the cache lines of the queue, the slabs' summaries and remote
 * bitmaps from the freeing threads' cores to this one, and the freeing
 * threads' next frees move them back. xmalloc-test (every free remote)
 * drained 190k times in 5 s instead of 950k and freed 1.18 times as many
 * blocks (5 pairs); 1.26 times where its two cores were 400 ns apart. */
HAK_NOINLINE static int heap_refill(hak_heap_t *h, unsigned c)
{
    hak_class_state_t *cs = &h->cls[c];
    hak_count(&cs->nrefill, 1);
    /* Now and then, drain an abandoned heap: frees into the blocks of
     * exited threads must not pile up while no new thread adopts them. */
    if ((hak_counter(&cs->nrefill) & 255) == 0)
        hak_heap_reclaim(1, 0);
    int switched = 0, drained = 0;
    for (;;) {
        hak_slab_t *s = h->hot.cur[c];
        if (s->take)
            return 1;
        if (s != &hak_slab_none) {
            /* The cursor word is empty: the next word with free slots,
             * unless a partial slab comes first (fresh words, or the
             * slab at the head of the queue is the richer). */
            uint32_t words = (s->capacity + 63u) / 64u, k = slab_next_word(s);
            if (k < words && (switched || !cs->partial ||
                              (k <= s->top && !richer(cs->partial, s)))) {
                s->cursor = (uint16_t)k;
                if (k > s->top) /* read by other threads (slab.h) */
                    HAK_SHARED_STORE(s->top, (uint16_t)k);
                slab_take_from_bits(s);
                return 1;
            }
        }
        /* Leaving the current slab: first merge what other threads have
         * freed (once a refill), which may give it free slots again or
         * make a partial slab of another. */
        if (!drained && remote_pending(&h->remote)) {
            drained = 1;
            hak_heap_drain(h);
            continue;
        }
        /* The partial slab before the current one joins the list. */
        hak_slab_t *p = cs->partial;
        hak_slab_retire(h, c);
        s = p;
        if (s) {
            partial_remove(cs, s);
            switched = 1;
        } else {
            s = hak_superslab_take_slab(h, c);
            if (!s)
                return 0;
        }
        slab_set_state(s, HAK_SLAB_CURRENT, 0);
        h->hot.cur[c] = s;
    }
}

/* HAKMEM_SECURITY: the checks of a block leaving (hardening/debug.c). */
static void sec_hand_out(hak_slab_t *s, uint8_t *b, size_t req)
{
    hak_superslab_t *ss = ss_of((uintptr_t)b);
    hak_chk_on_alloc(ss, s, b);
    hak_chk_arm(ss, s, b, req);
}

static void *heap_alloc(hak_heap_t *h, unsigned c, size_t req)
{
    for (;;) {
        hak_slab_t *s = h->hot.cur[c];
        uint8_t *p = s->take;
        if (p) {
            uint8_t *b = hand_out(h, c, s, slab_take(s, p), req);
            if (hak_sec())
                sec_hand_out(s, b, req);
            return b;
        }
        if (!heap_refill(h, c)) {
            errno = ENOMEM;
            return NULL;
        }
    }
}

HAK_NOINLINE static void *alloc_slow(size_t n)
{
    hak_init();
    if (n == 0) /* HAK_CLASS_ZERO has no slab (types.h) */
        return hak_zero_alloc(HAK_ALIGN);
    if (n > HAK_SMALL_LIMIT)
        return hak_large_alloc(n, HAK_ALIGN, NULL);
    return hak_alloc_class(hak_class_of(n), n);
}

void *hak_alloc_class(unsigned c, size_t req)
{
    hak_heap_t *h = hak_tls_heap;
    if (!h && !(h = hak_heap_get_slow())) {
        errno = ENOMEM;
        return NULL;
    }
    return heap_alloc(h, c, req);
}

/* The fast path's miss for class c (n > 0 bytes, small): the cursor word
 * of c's current slab is empty. A thread with a heap refills it here, its
 * class known (init is done: a heap exists only after it); a thread with
 * none, and n == 0 (HAK_CLASS_ZERO, whose slab stays empty), go the whole
 * way. alloc-test refills on 44% of its allocations: alloc_slow's second
 * look at n was a quarter of each refill. */
HAK_NOINLINE static void *alloc_refill(size_t c, size_t n)
{
    hak_heap_t *h = hak_tls_heap;
    if (HAK_UNLIKELY(!h || c == HAK_CLASS_ZERO))
        return alloc_slow(n);
    return heap_alloc(h, (unsigned)c, n);
}

/* ---- The fast paths ----------------------------------------------------- */

/* The lowest free slot of class c's current slab's cursor word; when that
 * word is empty (or the thread has no heap: the static hot part names the
 * empty slab), the slow path. */
HAK_INLINE void *alloc_fast(size_t c, size_t n)
{
    const hak_heap_hot_t *hot = hak_tls_hot;
    hak_slab_t *s = hot->cur[c];
    uint8_t *p = s->take;
    if (HAK_LIKELY(p != NULL))
        return hand_out(heap_of_hot(hot), c, s, slab_take(s, p), n);
    return alloc_refill(c, n);
}

/* Above the tiny tier: the mid classes' own fast path, out of line so
 * the tiny one keeps no stack frame. */
HAK_NOINLINE static void *malloc_above_tiny(size_t n)
{
    if (n <= HAK_SMALL_LIMIT)
        return alloc_fast(hak_class_of_256[(n + 255) >> 8], n);
    return alloc_slow(n);
}

void *hak_malloc(size_t n)
{
    /* n == 0 is index 0 of the table, HAK_CLASS_ZERO, whose empty slab
     * sends it to alloc_slow at no cost here. */
    if (HAK_LIKELY(n <= HAK_TINY_MAX))
        return alloc_fast(hak_class_of_16[(n + 15) >> 4], n);
    return malloc_above_tiny(n);
}

hak_small_ref_t hak_small_validate(const void *p, const char *check)
{
    uintptr_t a = (uintptr_t)p;
    hak_superslab_t *ss = ss_of(a);
    hak_slab_t *s = slab_of(ss, a);
    uint32_t i = hak_slot_in_use(p, s, check, 0);
    if (slab_slot_queued(s, i))
        hak_report(check, p, slab_where_shared(s),
                   " (block is free: freed by another thread)");
    /* HAKMEM_SECURITY's delay holds freed blocks live in the bitmap. */
    if (hak_sec() && hak_chk_slot_value(ss, s, p) < HAK_SLOT_LIVE)
        hak_report(check, p, slab_where_shared(s), " (block is free: delayed)");
    return (hak_small_ref_t){ ss, s };
}

/* p is in no tiny or mid superslab (registry tier `tier`): a zero-size
 * block, a large one, NULL, or no block of ours (hak_large_free reports). */
static void free_not_small(void *p, unsigned tier)
{
    if (tier == HAK_TIER_ZERO)
        hak_zero_free(p);
    else if (p)
        hak_large_free(p);
}

/* p's superslab when the registry says p is in the tiny or mid tier;
 * else p is freed as what it is (free_not_small) and the answer is NULL. */
HAK_INLINE hak_superslab_t *small_or_free(void *p)
{
    unsigned tier = registry_tier((uintptr_t)p);
    if (!HAK_TIER_IS_SLAB(tier)) {
        free_not_small(p, tier);
        return NULL;
    }
    return ss_of((uintptr_t)p);
}

/* Every free while HAKMEM_SECURITY is set (the fast path never matches:
 * the thread's hot part is the static one): validate, run the checks of
 * hardening/debug.c (canary, double free by the slot state, zeroing),
 * delay the owner's frees, then free as usual. */
HAK_NOINLINE static void free_secure(uint8_t *b)
{
    hak_superslab_t *ss = small_or_free(b);
    if (!ss)
        return;
    hak_slab_t *s = slab_of(ss, (uintptr_t)b);
    uint32_t i = hak_slot_in_use(b, s, HAK_CHECK_INVALID_FREE, 1);
    hak_heap_t *h = hak_tls_heap;
    if (ss->owner != h) {
        hak_chk_on_free(ss, s, b, 0);
        free_remote(b);
        return;
    }
    if (slab_slot_queued(s, i))
        hak_report_remote_double_free(b, s, h);
    hak_chk_on_free(ss, s, b, 1);
    if (hak_g.sec & HAK_SEC_DELAY) {
        b = hak_quarantine_swap(h, b);
        if (!b)
            return;
        /* Written while it waited? (its zeros are checked again at
         * reuse, but the program may never reuse it) */
        ss = ss_of((uintptr_t)b);
        hak_chk_still_free(ss, slab_of(ss, (uintptr_t)b), b);
    }
    free_local(h, ss, b);
}

HAK_TAIL void hak_free_small(hak_superslab_t *ss, void *p)
{
    hak_heap_t *h = hak_tls_heap;
    if (ss->owner != h) {
        free_remote(p);
        return;
    }
    hot_set(&h->hot, ss);
    free_local(h, ss, p);
}

/* Not in a hot superslab: ask the registry whose block p is. */
HAK_TAIL static void free_cold(void *p)
{
    if (HAK_UNLIKELY(hak_sec())) {
        free_secure(p);
        return;
    }
    hak_superslab_t *ss = small_or_free(p);
    if (!ss)
        return;
    hak_free_small(ss, p);
}

void hak_free(void *p)
{
    /* Most frees land in a superslab the thread freed into lately, which
     * is its own: then neither the registry nor the owner is asked. */
    const hak_heap_hot_t *hot = hak_tls_hot;
    uintptr_t a = (uintptr_t)p, shift = hot_shift(hot, a);
    if (HAK_UNLIKELY(!hot_hit(shift))) {
        free_cold(p);
        return;
    }
    free_local_in(heap_of_hot(hot), ss_of(a), hot_slab(shift, a), p);
}
