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

/* ---- Class cache -------------------------------------------------------- */

/* Pop the cache head; the next link must stay inside the head's slab. */
HAK_INLINE hak_block_t *cache_pop(hak_class_cache_t *cc, unsigned shift)
{
    hak_block_t *b = cc->free;
    hak_block_t *next = block_decode(b, cc->key);
    if (HAK_HARDEN &&
        HAK_UNLIKELY(((uintptr_t)next ^ (uintptr_t)b) >> shift) && next)
        report_bad_link(b, next);
    cc->free = next;
    return b;
}

/* A free block leaves the allocator. */
HAK_INLINE void *hand_out(hak_class_cache_t *cc, hak_block_t *b, size_t req)
{
    cc->nalloc++;
    hak_superslab_t *ss = ss_of((uintptr_t)b);
    hak_slab_t *s = slab_of(ss, (uintptr_t)b);
    hak_dbg_on_alloc(ss, s, b);
    if (HAK_BLOCK_HEADER) /* zoo 1: a header the stride forgot */
        memset((uint8_t *)b + hak_class_size[s->cls], 0x48, HAK_BLOCK_HEADER);
    b->tag = 0;
    HAK_VG_ALLOC(b, req);
    HAK_VG_NOACCESS((uint8_t *)b + req, s->stride - req);
    hak_dbg_arm(ss, s, b, req);
    return b;
}

HAK_INLINE void cache_push(hak_class_cache_t *cc, hak_block_t *b)
{
    b->link = block_encode(b, cc->free, cc->key);
    cc->free = b;
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

/* The owner frees b into a slab that is not its class's current one. */
HAK_NOINLINE static void free_to_slab(hak_heap_t *h, hak_superslab_t *ss,
                                      hak_slab_t *s, hak_block_t *b)
{
    hak_class_cache_t *cc = &h->cls[s->cls];
    b->link = block_encode(b, s->local_free, s->key);
    s->local_free = b;
    if (s->state == HAK_SLAB_FULL) {
        s->state = HAK_SLAB_PARTIAL;
        partial_push(cc, s);
    }
    if (--s->used == 0) {
        partial_remove(cc, s);
        superslab_release_slab(h, ss, s);
    }
}

void cache_retire(hak_heap_t *h, unsigned c)
{
    hak_class_cache_t *cc = &h->cls[c];
    hak_slab_t *s = cc->cur;
    if (!s)
        return;
    /* Every carved block of s is out unless it is in the cache list. */
    uint32_t cached = 0;
    hak_block_t *tail = NULL;
    for (hak_block_t *b = cc->free; b; b = block_decode(b, cc->key)) {
        cached++;
        tail = b;
    }
    if (tail) {
        /* cc->key == s->key, so the list is already a valid slab list. */
        tail->link = block_encode(tail, s->local_free, s->key);
        s->local_free = cc->free;
    }
    cc->free = NULL;
    cc->cur = NULL;
    s->used = s->carved - cached;
    if (s->used == 0) {
        superslab_release_slab(h, ss_of((uintptr_t)s->start), s);
    } else if (s->local_free) {
        s->state = HAK_SLAB_PARTIAL;
        partial_push(cc, s);
    } else {
        s->state = HAK_SLAB_FULL;
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
        hak_dbg_on_drain(ss, s, b);
        b->tag = tag_free(b);
        hak_class_cache_t *cc = &h->cls[s->cls];
        cc->nfree++;
        cc->nremote++;
        if (s == cc->cur)
            cache_push(cc, b);
        else
            free_to_slab(h, ss, s, b);
    }
}

/* Another heap owns p's superslab: push it on that heap's queue. Reads
 * only slab fields that are immutable while the block is live. */
HAK_NOINLINE static void free_remote(hak_superslab_t *ss, hak_slab_t *s,
                                     hak_block_t *b)
{
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

/* Makes cc->free non-empty, or returns a single carved block, or returns
 * NULL with cc->free still empty when the OS has no memory. */
HAK_NOINLINE static hak_block_t *heap_refill(hak_heap_t *h, unsigned c)
{
    hak_class_cache_t *cc = &h->cls[c];
    /* Now and then, drain an abandoned heap: frees into the blocks of
     * exited threads must not pile up while no new thread adopts them. */
    if ((++cc->nrefill & 255) == 0)
        heap_reclaim(1, 0);
    heap_drain(h);
    for (;;) {
        if (cc->free)
            return NULL;
        hak_slab_t *s = cc->cur;
        if (s && s->carved < s->capacity) {
            hak_superslab_t *ss = ss_of((uintptr_t)s->start);
            if (hak_g.batch_refill) {
                cc->free = slab_carve_batch(ss, s, HAK_REFILL_BATCH);
                return NULL;
            }
            return slab_carve_one(ss, s);
        }
        if (s)
            cache_retire(h, c);
        s = cc->partial;
        if (s) {
            partial_remove(cc, s);
            cc->free = s->local_free;
            s->local_free = NULL;
        } else {
            s = superslab_take_slab(h, c);
            if (!s)
                return NULL;
        }
        s->state = HAK_SLAB_CURRENT;
        cc->cur = s;
        cc->key = s->key;
    }
}

static void *heap_alloc(hak_heap_t *h, unsigned c, size_t req)
{
    hak_class_cache_t *cc = &h->cls[c];
    unsigned shift = hak_tier_shift(hak_class_tier(c));
    for (;;) {
        if (cc->free)
            return hand_out(cc, cache_pop(cc, shift), req);
        hak_block_t *b = heap_refill(h, c);
        if (b)
            return hand_out(cc, b, req);
        if (!cc->free) {
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

void *hak_malloc(size_t n)
{
    if (HAK_LIKELY(n <= HAK_TINY_MAX - HAK_SLACK_MIN)) {
        hak_heap_t *h = hak_tls_heap;
        unsigned c = hak_class_of_16[(n + HAK_SLACK_MIN + 15) >> 4];
        if (HAK_LIKELY(h != NULL)) {
            hak_class_cache_t *cc = &h->cls[c];
            if (HAK_LIKELY(cc->free != NULL))
                return hand_out(cc, cache_pop(cc, HAK_TINY_SHIFT), n);
        }
    }
    return alloc_slow(n);
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

HAK_NOINLINE static void free_not_small(void *p)
{
    if (!p)
        return;
    large_free(p);
}

void hak_free(void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (HAK_UNLIKELY(!registry_tier(a))) {
        free_not_small(p);
        return;
    }
    hak_superslab_t *ss = ss_of(a);
    hak_slab_t *s = slab_of(ss, a);
    hak_heap_t *h = hak_tls_heap;
    hak_block_t *b = p;
    if (HAK_UNLIKELY(ss->owner != h)) {
        free_remote(ss, s, b);
        return;
    }
    if (HAK_HARDEN) {
        if (HAK_UNLIKELY(slab_index(s, a, s->carved) == UINT32_MAX))
            report_bad_small(p, s, HAK_CHECK_INVALID_FREE);
        HAK_VG_DEFINED(b, sizeof *b);
        if (HAK_UNLIKELY(tag_is_free(b)))
            report_double_free(p, s);
    }
    hak_dbg_on_free(ss, s, b, 1);
    HAK_VG_FREE(b, s->stride);
    HAK_VG_DEFINED(b, sizeof *b);
    b->tag = tag_free(b);
    hak_class_cache_t *cc = &h->cls[s->cls];
    cc->nfree++;
    if (HAK_LIKELY(s == cc->cur)) {
        cache_push(cc, b);
        return;
    }
    free_to_slab(h, ss, s, b);
}
