/* alloc.c — malloc and free for the tiny and mid tiers (call tree in
 * alloc.h). The fast paths take no lock and make no call; everything else
 * is in separate non-inlined functions. Neither path reads or writes the
 * block itself: a slot's state is its bit in the slab's bitmap. */
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
#include "zero.h"

/* ---- Reports (cold) ----------------------------------------------------- */

/* p is in one of our superslabs but is not a block's start (the
 * reporters below read s as slab.h's shared view: any thread). */
HAK_COLD static void report_bad_small(const void *p, hak_slab_t *s,
                                      const char *check)
{
    uintptr_t a = (uintptr_t)p;
    hak_where_t w = slab_where_shared(s);
    hak_geom_t g = slab_geom_shared(s);
    if (g.capacity && w.size && a >= (uintptr_t)g.start &&
        a < (uintptr_t)g.start + (size_t)g.capacity * w.size)
        hak_report(HAK_CHECK_MISALIGNED, p, w, NULL);
    hak_report(check, p, w, " (not a block in use)");
}

/* p looked like a slot of s, but s was released or set up again while it
 * was checked: p was no live block (a live block's slab stays). */
HAK_COLD static void report_reused(const void *p, hak_slab_t *s,
                                   const char *check)
{
    hak_report(check, p, slab_where_shared(s),
               " (not a block in use: its slab was set up again)");
}

/* p is slot i of s, and the bitmap says it is free: freed already, or
 * never handed out since the slab was set up. Above the highest word the
 * cursor reached (top) it is the latter for sure; the per-slot state
 * knows per slot, which only the owner may read (another thread's read
 * would race with the owner handing the slot out). `freeing`: the caller
 * is free(), for which a freed slot is a double free. */
HAK_COLD static void report_free_slot(const void *p, hak_slab_t *s,
                                      uint32_t i, const char *check,
                                      int freeing)
{
    hak_superslab_t *ss = ss_of((uintptr_t)p);
    int kept = hak_slots_kept() && ss->owner == hak_tls_heap;
    hak_where_t w = slab_where_shared(s);
    if (slot_word(i) > HAK_SHARED_LOAD(s->top) ||
        (kept && hak_chk_slot_value(ss, s, p) == HAK_SLOT_FRESH))
        hak_report(check, p, w, " (never handed out)");
    hak_report(freeing ? HAK_CHECK_DOUBLE_FREE : check, p, w,
               kept ? " (block is free)"
                    : " (block is free: freed, or never handed out)");
}

/* The slot b starts in s, which the bitmap must show in use; else the
 * report naming `check` (`freeing`: for free(), a freed slot is a double
 * free). Whether another thread's free of it waits is the caller's to ask.
 * Any thread: it reads s as slab.h's shared view. */
static uint32_t slot_in_use(const void *b, hak_slab_t *s, const char *check,
                            int freeing)
{
    hak_geom_t g = slab_geom_shared(s);
    uint32_t i = geom_index(&g, (uintptr_t)b);
    if (i == UINT32_MAX)
        report_bad_small(b, s, check);
    int is_free = slab_slot_free(s, i);
    if (!slab_geom_still(s, &g))
        report_reused(b, s, check);
    if (is_free)
        report_free_slot(b, s, i, check, freeing);
    return i;
}

/* A double free that involves a thread other than the owner: name the
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
    hak_report(HAK_CHECK_DOUBLE_FREE, p, slab_where_shared(s), d);
}

/* ---- Slab lists -------------------------------------------------------- */

/* The current slab of a class that has none: an empty bitmap, never
 * written (the refill never moves its cursor). */
hak_slab_t hak_slab_none = { .cls = HAK_CLASS_NONE };

/* A free slot leaves the allocator as a block for a request of req. */
HAK_INLINE void *hand_out(hak_heap_t *h, size_t c, hak_slab_t *s, uint8_t *b,
                          size_t req)
{
    hak_count(&h->nalloc[c], 1);
    s->credit++;
    hak_superslab_t *ss = ss_of((uintptr_t)b);
    hak_dbg_on_alloc(ss, s, b);
    if (HAK_BLOCK_HEADER) /* zoo 1: a header the stride forgot */
        memset(b + hak_class_size[s->cls], 0x48, HAK_BLOCK_HEADER);
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

static void partial_push(hak_class_state_t *cs, hak_slab_t *s)
{
    s->prev = NULL;
    s->next = cs->partial;
    if (s->next)
        s->next->prev = s;
    cs->partial = s;
}

static void partial_remove(hak_class_state_t *cs, hak_slab_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        cs->partial = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* A free made s's credit negative (types.h): a FULL slab got blocks back,
 * or a PARTIAL one became empty. */
HAK_NOINLINE static void slab_attention(hak_heap_t *h, hak_slab_t *s)
{
    hak_class_state_t *cs = &h->cls[s->cls];
    if (s->state == HAK_SLAB_FULL) {
        slab_set_state(s, HAK_SLAB_PARTIAL, 1);
        partial_push(cs, s);
    }
    if (slab_used(s) == 0) {
        partial_remove(cs, s);
        superslab_release_slab(h, ss_of((uintptr_t)s->start), s);
    }
}

void slab_retire(hak_heap_t *h, unsigned c)
{
    hak_class_state_t *cs = &h->cls[c];
    hak_slab_t *s = h->hot.cur[c];
    if (s == &hak_slab_none)
        return;
    h->hot.cur[c] = &hak_slab_none;
    if (slab_used(s) == 0) {
        superslab_release_slab(h, ss_of((uintptr_t)s->start), s);
    } else if (slab_used(s) < s->capacity) {
        slab_set_state(s, HAK_SLAB_PARTIAL, 1);
        partial_push(cs, s);
    } else {
        slab_set_state(s, HAK_SLAB_FULL, slab_used(s));
    }
}

/* ---- Frees ---------------------------------------------------------------- */

/* The owner h frees slot i of s: w is its word of bits with i's bit set
 * (validated: it was clear, and the block is not queued). */
HAK_INLINE void free_commit(hak_heap_t *h, hak_superslab_t *ss, hak_slab_t *s,
                            uint8_t *b, uint32_t i, uint64_t w)
{
    size_t k = slot_word(i);
    hak_dbg_on_free(ss, s, b, 1);
    HAK_VG_FREE(b, s->stride);
    slab_bits_store(s, k, w);
    /* Last freed, first reused: its line is warm. */
    s->take = b;
    s->take_slot = (uint16_t)i;
    hak_count(&h->nfree, 1);
    if (HAK_UNLIKELY(--s->credit < 0))
        slab_attention(h, s);
}

/* The owner's free that the fast path could not finish: p is not a block
 * of s, or its slot is free, or some block of s waits in rbits (is it
 * this one?). Reports, or frees p. HAK_TAIL: the compiler must not learn
 * that it may not return, so the fast path reaches it with a tail jump
 * and needs no stack frame of its own. */
HAK_TAIL static void free_local_slow(hak_heap_t *h, hak_superslab_t *ss,
                                     uint8_t *b)
{
    hak_slab_t *s = slab_of(ss, (uintptr_t)b);
    uint32_t i = slot_in_use(b, s, HAK_CHECK_INVALID_FREE, 1);
    if (slab_slot_queued(s, i))
        report_remote_double_free(b, s, ss->owner);
    free_commit(h, ss, s, b, i, word_with_bit(slab_bits(s, slot_word(i)), i));
}

/* The owner h frees b, an address in its superslab ss (not yet validated).
 * One exact division says which slot b starts; setting its bit must change
 * the word (it was live). While another thread's frees into s wait (rsum),
 * b might be one of them: the slow path looks. */
HAK_INLINE void free_local(hak_heap_t *h, hak_superslab_t *ss, uint8_t *b)
{
    hak_slab_t *s = slab_of(ss, (uintptr_t)b);
    uint32_t i = slab_index(s, (uintptr_t)b, s->capacity);
    if (HAK_HARDEN && HAK_UNLIKELY(i == UINT32_MAX)) {
        free_local_slow(h, ss, b);
        return;
    }
    uint64_t w = slab_bits(s, slot_word(i));
    uint64_t freed = word_with_bit(w, i);
    if (HAK_HARDEN &&
        HAK_UNLIKELY(freed == w ||
                     atomic_load_explicit(&s->rsum, memory_order_relaxed))) {
        free_local_slow(h, ss, b);
        return;
    }
    free_commit(h, ss, s, b, i, freed);
}

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
        report_bad_small(b, s, HAK_CHECK_INVALID_FREE);
    int is_free = slab_slot_free(s, i);
    if (HAK_HARDEN && HAK_UNLIKELY(!slab_geom_still(s, &g)))
        report_reused(b, s, HAK_CHECK_INVALID_FREE);
    if (HAK_HARDEN && HAK_UNLIKELY(is_free)) {
        if (slot_word(i) > HAK_SHARED_LOAD(s->top))
            report_free_slot(b, s, i, HAK_CHECK_INVALID_FREE, 1);
        report_remote_double_free(b, s, ss->owner);
    }
    hak_dbg_on_free(ss, s, b, 0);
    HAK_VG_FREE(b, s->stride);
    uint64_t old = remote_free_bits(&ss->owner->remote, s, i);
    if (HAK_HARDEN && HAK_UNLIKELY(old & slot_bit(i)) && HAK_ZOO != 3)
        report_remote_double_free(b, s, ss->owner);
}

/* Merges the blocks other threads freed into s (owner only). s may be
 * released (and its superslab unmapped) before this returns. */
static void slab_merge_remote(hak_heap_t *h, hak_slab_t *s)
{
    hak_superslab_t *ss = ss_of((uintptr_t)s->start);
    uint64_t sum = atomic_exchange_explicit(&s->rsum, 0, HAK_BITS_ORDER);
    uint32_t n = 0;
    while (sum) {
        size_t k = (size_t)__builtin_ctzll(sum);
        sum &= sum - 1;
        /* zoo 4: the word is read, not taken: its bits are merged again
         * at a later drain, when their blocks may be live. */
        uint64_t x = HAK_ZOO == 4
            ? atomic_load_explicit(&slab_rbits(s)[k], memory_order_acquire)
            : atomic_exchange_explicit(&slab_rbits(s)[k], 0, HAK_BITS_ORDER);
        uint64_t w = slab_bits(s, k);
        if (HAK_UNLIKELY(x & w)) {
            /* Freed by the owner and by another thread. */
            uint32_t i = (uint32_t)(k * 64 + (size_t)__builtin_ctzll(x & w));
            report_remote_double_free(slab_slot(s, i), s, h);
        }
        if (hak_slots_kept())
            for (uint64_t y = x; y; y &= y - 1)
                hak_chk_on_drain(ss, s, slab_slot(s, (uint32_t)(k * 64 +
                                     (size_t)__builtin_ctzll(y))));
        slab_bits_store(s, k, w | x);
        if (x && k == s->cursor && !s->take)
            slab_take_from_bits(s);
        n += (uint32_t)__builtin_popcountll(x);
    }
    hak_count(&h->cls[s->cls].nremote, n);
    s->credit -= (int32_t)n;
    if (s->credit < 0)
        slab_attention(h, s);
}

void heap_drain(hak_heap_t *h)
{
    hak_slab_t *s = remote_take(&h->remote);
    if (!s)
        return;
    hak_count(&h->ndrain, 1);
    while (s) {
        /* A queued slab is a descriptor of one of h's superslabs in use:
         * metadata, which no program write reaches. */
        if (HAK_UNLIKELY(ss_of((uintptr_t)s)->owner != h ||
                         !s->capacity))
            hak_report(HAK_CHECK_REMOTE, s, slab_where(s),
                       " (queued slab not in use by this heap)");
        /* Read before the merge resets rsum: from then on a freer may
         * queue s again and rewrite rnext. */
        hak_slab_t *next = s->rnext;
        slab_merge_remote(h, s);
        s = next;
    }
}

/* ---- Refill (slow) ------------------------------------------------------ */

/* Makes the cursor word of h->hot.cur[c] non-empty; 0 when the OS has no
 * memory for a new slab. Order: blocks already freed into the current
 * slab, then a partial slab's (its memory is touched already, and a slab
 * that empties can go), then fresh words of the current slab, then a new
 * slab. */
HAK_NOINLINE static int heap_refill(hak_heap_t *h, unsigned c)
{
    hak_class_state_t *cs = &h->cls[c];
    hak_count(&cs->nrefill, 1);
    /* Now and then, drain an abandoned heap: frees into the blocks of
     * exited threads must not pile up while no new thread adopts them. */
    if ((hak_counter(&cs->nrefill) & 255) == 0)
        heap_reclaim(1, 0);
    heap_drain(h);
    int switched = 0;
    for (;;) {
        hak_slab_t *s = h->hot.cur[c];
        if (s->take)
            return 1;
        if (s != &hak_slab_none) {
            /* The cursor word is empty: the lowest word with free slots. */
            uint32_t words = (s->capacity + 63u) / 64u, k = 0;
            while (k < words && !slab_bits(s, k))
                k++;
            if (k < words && (k <= s->top || switched || !cs->partial)) {
                s->cursor = (uint16_t)k;
                if (k > s->top) /* read by other threads (slab.h) */
                    HAK_SHARED_STORE(s->top, (uint16_t)k);
                slab_take_from_bits(s);
                return 1;
            }
        }
        /* The partial slab before the current one joins the list. */
        hak_slab_t *p = cs->partial;
        slab_retire(h, c);
        s = p;
        if (s) {
            partial_remove(cs, s);
            switched = 1;
        } else {
            s = superslab_take_slab(h, c);
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
        return zero_alloc(HAK_ALIGN);
    size_t extra = hak_slack() - HAK_SLACK_MIN; /* HAK_SEC_CANARY's byte */
    if (n > HAK_SMALL_LIMIT - extra)
        return large_alloc(n, HAK_ALIGN, NULL);
    hak_heap_t *h = hak_tls_heap;
    if (!h && !(h = heap_get_slow())) {
        errno = ENOMEM;
        return NULL;
    }
    return heap_alloc(h, hak_class_of(n + extra), n);
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
    return alloc_slow(n);
}

/* Above the tiny tier: the mid classes' own fast path, out of line so
 * the tiny one keeps no stack frame. */
HAK_NOINLINE static void *malloc_above_tiny(size_t n)
{
    if (n <= HAK_SMALL_LIMIT)
        return alloc_fast(hak_class_of_256[(n + HAK_SLACK_MIN + 255) >> 8],
                          n);
    return alloc_slow(n);
}

void *hak_malloc(size_t n)
{
    /* Release: n == 0 is index 0 of the table, HAK_CLASS_ZERO, whose
     * empty slab sends it to alloc_slow at no cost here. Debug: the slack
     * puts 0 at index 1 with 1..15, so it asks. */
    if (HAK_SLACK_MIN && HAK_UNLIKELY(n == 0))
        return alloc_slow(0);
    if (HAK_LIKELY(n <= HAK_TINY_MAX - HAK_SLACK_MIN))
        return alloc_fast(hak_class_of_16[(n + HAK_SLACK_MIN + 15) >> 4], n);
    return malloc_above_tiny(n);
}

hak_small_ref_t small_validate(const void *p, const char *check)
{
    uintptr_t a = (uintptr_t)p;
    hak_superslab_t *ss = ss_of(a);
    hak_slab_t *s = slab_of(ss, a);
    uint32_t i = slot_in_use(p, s, check, 0);
    if (slab_slot_queued(s, i))
        hak_report(check, p, slab_where_shared(s),
                   " (block is free: freed by another thread)");
    /* HAKMEM_SECURITY's delay holds freed blocks live in the bitmap. */
    if (hak_sec() && hak_chk_slot_value(ss, s, p) < HAK_SLOT_LIVE)
        hak_report(check, p, slab_where_shared(s), " (block is free: delayed)");
    return (hak_small_ref_t){ ss, s };
}

/* p is in no tiny or mid superslab (registry tier `tier`): a zero-size
 * block, a large one, NULL, or no block of ours (large_free reports). */
static void free_not_small(void *p, unsigned tier)
{
    if (tier == HAK_TIER_ZERO)
        zero_free(p);
    else if (p)
        large_free(p);
}

/* HAKMEM_SECURITY_DELAY: b waits in h's FIFO; returns the block it
 * pushes out (to be freed for real now), or NULL. */
static uint8_t *quarantine_swap(hak_heap_t *h, uint8_t *b)
{
    uint8_t *old = h->quarantine[h->qpos];
    h->quarantine[h->qpos] = b;
    h->qpos = (h->qpos + 1) % HAK_QUARANTINE;
    return old;
}

void heap_quarantine_flush(hak_heap_t *h)
{
    for (unsigned n = 0; n < HAK_QUARANTINE; n++) {
        uint8_t *b = quarantine_swap(h, NULL);
        if (b)
            free_local(h, ss_of((uintptr_t)b), b);
    }
}

/* Every free while HAKMEM_SECURITY is set (the fast path never matches:
 * the thread's hot part is the static one): validate, run the checks of
 * hardening/debug.c (canary, double free by the slot state, zeroing),
 * delay the owner's frees, then free as usual. */
HAK_NOINLINE static void free_secure(uint8_t *b)
{
    uintptr_t a = (uintptr_t)b;
    unsigned tier = registry_tier(a);
    if (tier != HAK_TIER_TINY && tier != HAK_TIER_MID) {
        free_not_small(b, tier);
        return;
    }
    hak_superslab_t *ss = ss_of(a);
    hak_slab_t *s = slab_of(ss, a);
    uint32_t i = slot_in_use(b, s, HAK_CHECK_INVALID_FREE, 1);
    hak_heap_t *h = hak_tls_heap;
    if (ss->owner != h) {
        hak_chk_on_free(ss, s, b, 0);
        free_remote(b);
        return;
    }
    if (slab_slot_queued(s, i))
        report_remote_double_free(b, s, h);
    hak_chk_on_free(ss, s, b, 1);
    if (hak_g.sec & HAK_SEC_DELAY) {
        b = quarantine_swap(h, b);
        if (!b)
            return;
        /* Written while it waited? (its zeros are checked again at
         * reuse, but the program may never reuse it) */
        ss = ss_of((uintptr_t)b);
        hak_chk_still_free(ss, slab_of(ss, (uintptr_t)b), b);
    }
    free_local(h, ss, b);
}

/* Not in the hot superslab: ask the registry whose block p is. */
HAK_TAIL static void free_cold(void *p)
{
    if (HAK_UNLIKELY(hak_sec())) {
        free_secure(p);
        return;
    }
    uintptr_t a = (uintptr_t)p;
    unsigned tier = registry_tier(a);
    if (tier != HAK_TIER_TINY && tier != HAK_TIER_MID) {
        free_not_small(p, tier);
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
