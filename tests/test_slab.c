/* test_slab.c — builds the one white-box suite, "slab": the only tests
 * that read or write what the program cannot see (slab descriptors,
 * superslab headers, heap records, the registry's map and list, remote
 * queues, private counters) or drive internal functions directly. A
 * change to those structures touches this suite alone; every other suite
 * tests through the API and what a program can observe (addresses,
 * usable sizes, faults, reports, /proc, hak_check_heap, hak_stats_get)
 * and the design's constants and pure functions (types.h, size_class.h,
 * options.h). Its cases: the slab's lists here, the layout of blocks and
 * metadata (test_slab_layout.c), the registry (test_registry.c), the
 * remote queue (test_remote.c), and the zoo's gaps (test_zoo_gaps.c).
 *
 * Here: the per-slab free lists and the credit counter
 * (src/types.h, "Slab descriptor"), seen from the owner heap's side:
 *   - slab_used() (used_base + credit) is the exact number of live blocks
 *     of a slab after every malloc and free, in every state;
 *   - a block freed into the current slab is the next one handed out, and
 *     a block freed into another slab stays on that slab's list;
 *   - a FULL slab's slab_full_wait-th free moves it to the partial list
 *     (a double free of a block freed before that is reported), the partial
 *     slab becomes current when the current one fills, and a partial slab
 *     that becomes empty goes back to its superslab;
 *   - the partial list is a queue (oldest first), and a refill moves the
 *     cursor to the next word after it with free slots;
 *   - the same transitions through the remote path (a thread without a
 *     heap frees, the owner drains);
 *   - a thread's exit retires its heap's current slabs: the empty ones
 *     are released, the others become partial;
 *   - the heap's hot superslab follows the frees and never names a
 *     superslab that was unmapped (released with a spare present, or
 *     trimmed);
 *   - a seeded churn over several classes with hak_check_heap() and an
 *     independent per-slab count of the live blocks.
 *
 * The exact counts need slabs that hold only the test's own blocks. A
 * forked test (Check's default) starts with an empty heap; when tests
 * share a process (CK_FORK=no), each starts by trimming and looks for a
 * slab or superslab with nothing else live in it (settle, stash). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"

#include "heap.h"
#include "registry.h"
#include "size_class.h"
#include "slab.h"
#include "slab_list.h"
#include "superslab.h"

/* ---- Helpers ------------------------------------------------------------ */

static hak_slab_t *slab_at(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return slab_of(ss_of(a), a);
}

static uintptr_t base_of(const void *p)
{
    return (uintptr_t)p & ~(uintptr_t)HAK_SS_MASK;
}

static hak_heap_t *my_heap(void)
{
    hak_heap_t *h = hak_tls_heap;
    ck_assert_ptr_nonnull(h);
    return h;
}

static int on_partial_list(const hak_heap_t *h, unsigned c,
                           const hak_slab_t *s)
{
    for (const hak_slab_t *t = h->cls[c].partial; t; t = t->next)
        if (t == s)
            return 1;
    return 0;
}

/* Block `id` of n bytes at p still holds its pattern (util.h). */
static void verify(const void *p, size_t n, size_t id)
{
    size_t i = pattern_bad(p, n, id);
    REQ_MSG(i == n, "block %zu at %p: byte %zu of %zu is %#x, want %#x", id,
            p, i, n, i < n ? ((const uint8_t *)p)[i] : 0,
            pattern_byte(id, i));
}

/* Trim retires every current slab (releasing the empty ones) and unmaps
 * the spare superslabs: a test starts with no current slab and no spare. */
static void settle(void)
{
    hak_malloc_trim(0);
    hak_check_heap();
}

/* When tests share a process, an earlier test's blocks may sit in the
 * slabs a test is about to use: the blocks it allocates on its way to a
 * slab of its own wait here and are freed at its end. Empty when forked. */
static void *stash[8192];
static size_t nstash;

static void stash_put(void *p)
{
    REQ_MSG(nstash < sizeof stash / sizeof stash[0],
            "no slab of its own after %zu blocks", nstash);
    stash[nstash++] = p;
}

static void stash_free(void)
{
    while (nstash)
        hak_free(stash[--nstash]);
}

/* A block of n bytes that is the only live block of its slab. */
static void *block_in_own_slab(size_t n)
{
    for (;;) {
        void *p = hak_malloc(n);
        REQ_NONNULL(p);
        if (slab_used(slab_at(p)) == 1)
            return p;
        stash_put(p);
    }
}

/* Whether p is the only live block of its superslab. */
static int alone_in_superslab(const void *p)
{
    return ss_of((uintptr_t)p)->used_slabs == 1 && slab_used(slab_at(p)) == 1;
}

/* A block of n bytes that is the only live block of its superslab. */
static void *block_in_own_superslab(size_t n)
{
    for (;;) {
        void *p = hak_malloc(n);
        REQ_NONNULL(p);
        if (alone_in_superslab(p))
            return p;
        stash_put(p);
    }
}

/* Fills a slab of the class of n that holds only these blocks: allocates
 * into v[] until a block lands outside the first one's slab. Returns how
 * many blocks it allocated; the last one is in the next slab. */
static size_t fill_own_slab(size_t n, void **v, size_t cap)
{
    size_t k = 0;
    v[k++] = block_in_own_slab(n);
    hak_slab_t *s1 = slab_at(v[0]);
    while (k < cap) {
        v[k] = hak_malloc(n);
        REQ_NONNULL(v[k]);
        if (slab_at(v[k++]) != s1)
            return k;
    }
    ck_abort_msg("%zu blocks of %zu bytes never left the first slab", cap, n);
    return 0;
}

/* The first slab of n-byte blocks filled (FULL) and one block carved from
 * the next: what the state-transition tests start from. v holds the k
 * blocks (room for 4 slabs' worth), s1 and s2 are the two slabs. */
typedef struct two_slabs {
    void **v;
    size_t k, cap, max;
    unsigned c;
    hak_heap_t *h;
    hak_slab_t *s1, *s2;
} two_slabs_t;

static two_slabs_t fill_past_one_slab(size_t n)
{
    two_slabs_t t = { .c = hak_class_of(n) };
    t.cap = hak_capacity(t.c);
    t.max = 4 * t.cap;
    t.v = calloc(t.max, sizeof *t.v);
    ck_assert_ptr_nonnull(t.v);
    settle();
    t.k = fill_own_slab(n, t.v, t.max);
    t.h = my_heap();
    t.s1 = slab_at(t.v[0]);
    t.s2 = slab_at(t.v[t.k - 1]);
    ck_assert_uint_eq(t.s1->state, HAK_SLAB_FULL);
    return t;
}

/* ---- used is exact ------------------------------------------------------ */

START_TEST(used_exact_after_every_malloc_and_free)
{
    const size_t n = 200;
    const size_t k = 40; /* more than one batch refill, within one slab */
    unsigned c = hak_class_of(n);
    ck_assert_uint_gt(hak_capacity(c), k);
    settle();
    void *v[40];
    v[0] = block_in_own_slab(n);
    hak_slab_t *s = slab_at(v[0]);
    hak_heap_t *h = my_heap();
    ck_assert_uint_eq(s->cls, c);
    ck_assert_uint_eq(slab_used(s), 1);
    for (size_t i = 1; i < k; i++) {
        v[i] = hak_malloc(n);
        REQ_NONNULL(v[i]);
        REQ_MSG(slab_at(v[i]) == s, "block %zu left the slab", i);
        REQ_UINT_EQ(slab_used(s), i + 1);
    }
    ck_assert_ptr_eq(h->hot.cur[c], s);
    ck_assert_uint_eq(s->state, HAK_SLAB_CURRENT);
    hak_check_heap();
    /* Odd ones first, then the even ones backwards: the count follows
     * every free whatever the order. */
    size_t live = k;
    for (size_t i = 1; i < k; i += 2) {
        hak_free(v[i]);
        REQ_UINT_EQ(slab_used(s), --live);
    }
    hak_check_heap();
    for (size_t i = k; i-- > 0;) {
        if (i % 2)
            continue;
        hak_free(v[i]);
        REQ_UINT_EQ(slab_used(s), --live);
    }
    ck_assert_uint_eq(live, 0);
    /* An empty current slab stays current (used_base 0: no free of it is
     * ever "attention"), so its descriptor still describes it. */
    ck_assert_uint_eq(s->state, HAK_SLAB_CURRENT);
    ck_assert_ptr_eq(h->hot.cur[c], s);
    ck_assert_uint_eq(s->cls, c);
    hak_check_heap();
    /* And it counts again from zero. */
    void *p = hak_malloc(n);
    ck_assert_ptr_eq(slab_at(p), s);
    ck_assert_uint_eq(slab_used(s), 1);
    hak_free(p);
    ck_assert_uint_eq(slab_used(s), 0);
    stash_free();
}
END_TEST

/* ---- LIFO reuse --------------------------------------------------------- */

START_TEST(lifo_reuse_in_current_slab)
{
    settle();
    const size_t sizes[] = { 1, 24, 100, 500, 1000, 3000, 20000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *keep = hak_malloc(n); /* the slab is not empty meanwhile */
        void *p = hak_malloc(n);
        ck_assert_ptr_nonnull(p);
        hak_free(p);
        void *q = hak_malloc(n);
        ck_assert_msg(q == p, "malloc(%zu) after free(%p) gave %p", n, p, q);
        hak_free(q);
        /* Any size of the same class reuses it too. */
        unsigned c = hak_class_of(n);
        size_t top = hak_class_size[c];
        q = hak_malloc(top);
        ck_assert_msg(q == p, "malloc(%zu), class of %zu, after free(%p) gave "
                      "%p", top, n, p, q);
        hak_free(q);
        hak_free(keep);
    }
    /* Several: the last one freed comes back first (it is warm), then the
     * lowest free slots of the cursor word (each was the lowest free slot
     * when it was taken, so they are in address order). */
    void *a = hak_malloc(64), *b = hak_malloc(64), *c = hak_malloc(64);
    void *other = hak_malloc(4000); /* another class in between */
    ck_assert_ptr_eq(slab_at(a), slab_at(c));
    ck_assert((uintptr_t)a < (uintptr_t)b && (uintptr_t)b < (uintptr_t)c);
    hak_free(a);
    hak_free(c);
    hak_free(other);
    hak_free(b);
    ck_assert_ptr_eq(hak_malloc(64), b);
    ck_assert_ptr_eq(hak_malloc(64), a);
    ck_assert_ptr_eq(hak_malloc(64), c);
    hak_free(a);
    hak_free(b);
    hak_free(c);
    hak_check_heap();
}
END_TEST

/* ---- FULL -> PARTIAL -> released ---------------------------------------- */

static void free_again(void *p)
{
    hak_free(p);
}

static void *free_in_thread(void *p)
{
    hak_free(p);
    return NULL;
}

/* p freed again by a thread that does not own it: free_remote's view. */
static void free_again_remote(void *p)
{
    pthread_t t;
    if (pthread_create(&t, NULL, free_in_thread, p) == 0)
        pthread_join(t, NULL);
}

START_TEST(full_slab_goes_partial_then_released)
{
    const size_t n = 1000;
    two_slabs_t t = fill_past_one_slab(n);
    uint32_t used2 = slab_used(t.s2);
    ck_assert_uint_eq(t.k, t.cap + 1);
    ck_assert_ptr_ne(t.s1, t.s2);
    ck_assert_uint_eq(t.s1->capacity, t.cap);
    /* Every block of s1 is out and none came back: FULL, off every list,
     * and its count is exact in that state too. */
    ck_assert_uint_eq(t.s1->state, HAK_SLAB_FULL);
    ck_assert_uint_eq(slab_used(t.s1), t.cap);
    ck_assert_uint_eq(t.s1->used_base, slab_full_base(t.s1));
    ck_assert(!on_partial_list(t.h, t.c, t.s1));
    ck_assert_ptr_eq(t.h->hot.cur[t.c], t.s2);
    hak_check_heap();

    /* Its first slab_full_wait - 1 frees leave it FULL and off the list,
     * the blocks free in its bitmap (a double free of one is reported);
     * the next puts it on the partial list. */
    const uint32_t wait = slab_full_wait(t.s1);
    ck_assert_uint_eq(wait, t.cap / 8);
    for (uint32_t i = 0; i < wait; i++) {
        hak_free(t.v[i]);
        REQ_UINT_EQ(slab_used(t.s1), t.cap - 1 - i);
        if (i + 1 == wait)
            break;
        REQ(t.s1->state == HAK_SLAB_FULL);
        REQ(!on_partial_list(t.h, t.c, t.s1));
        if (i == 0) {
            hak_check_heap();
            expect_abort(free_again, t.v[0], "hakmem: double free: ");
        }
    }
    ck_assert_uint_eq(t.s1->state, HAK_SLAB_PARTIAL);
    ck_assert_uint_eq(t.s1->used_base, 1);
    ck_assert_uint_eq(slab_used(t.s1), t.cap - wait);
    ck_assert(on_partial_list(t.h, t.c, t.s1));
    hak_check_heap();

    /* malloc takes from the current slab only: the block just freed into
     * s1 stays on s1's list. */
    void *q = hak_malloc(n);
    ck_assert_ptr_eq(slab_at(q), t.s2);
    ck_assert_uint_eq(slab_used(t.s1), t.cap - wait);
    ck_assert_uint_eq(slab_used(t.s2), used2 + 1);
    hak_free(q);

    /* Free the rest of s1 but one: PARTIAL all the way, count exact. */
    hak_stats_t st0, st1;
    hak_stats_get(&st0);
    size_t live = t.cap - wait;
    for (size_t i = wait; i + 1 < t.cap; i++) {
        hak_free(t.v[i]);
        REQ_UINT_EQ(slab_used(t.s1), --live);
        REQ(t.s1->state == HAK_SLAB_PARTIAL);
    }
    ck_assert_uint_eq(live, 1);
    hak_check_heap();
    ck_assert(on_partial_list(t.h, t.c, t.s1));

    /* The last one: s1 goes back to its superslab. */
    uintptr_t base = base_of(t.v[0]);
    hak_free(t.v[t.cap - 1]);
    hak_stats_get(&st1);
    ck_assert_uint_eq(st1.slabs_returned - st0.slabs_returned, 1);
    ck_assert(!on_partial_list(t.h, t.c, t.s1));
    ck_assert_ptr_eq(t.h->hot.cur[t.c], t.s2);
    /* s1's superslab is usually still mapped (s2 is in use and mostly in
     * the same one); if not, its release is all there is to see. */
    if (registry_tier(base)) {
        hak_superslab_t *ss = ss_of(base);
        ck_assert_uint_eq(t.s1->cls, HAK_CLASS_NONE);
        ck_assert_uint_eq(t.s1->state, HAK_SLAB_UNUSED);
        ck_assert_uint_eq(t.s1->capacity, 0);
        /* Other threads see it unused too (their copy of the geometry,
         * types.h): a pointer into it is no block, not a freed slot. */
        ck_assert_uint_eq(slab_geom_shared(t.s1).capacity, 0);
        expect_abort(free_again_remote, t.v[0],
                     "hakmem: invalid free: ");
        ck_assert_msg(ss->free_mask & (1u << t.s1->index),
                      "released slab %u not in the free mask %#x", t.s1->index,
                      ss->free_mask);
    }
    hak_check_heap();
    hak_free(t.v[t.k - 1]);
    ck_assert_uint_eq(slab_used(t.s2), used2 - 1);
    hak_check_heap();
    stash_free();
    free(t.v);
}
END_TEST

/* Free slots left in the current slab's cursor word (malloc takes them
 * without a refill). */
static size_t cursor_free(const hak_slab_t *s)
{
    return (size_t)__builtin_popcountll(slab_bits(s, s->cursor));
}

START_TEST(partial_slab_is_used_before_fresh_carving)
{
    const size_t n = 300; /* a slab of more than one bitmap word */
    two_slabs_t t = fill_past_one_slab(n);

    /* slab_full_wait blocks back into s1 (enough to make it PARTIAL): five
     * in this order, then from 20 on. */
    const size_t nback = slab_full_wait(t.s1);
    size_t *back = calloc(nback, sizeof *back);
    int *got = calloc(nback, sizeof *got);
    ck_assert(back && got && nback >= 5 && 20 + nback < t.cap);
    const size_t first[] = { 3, 17, 0, t.cap - 1, 9 };
    for (size_t i = 0; i < nback; i++)
        back[i] = i < 5 ? first[i] : 20 + i;
    for (size_t i = 0; i < nback; i++)
        hak_free(t.v[back[i]]);
    ck_assert_uint_eq(t.s1->state, HAK_SLAB_PARTIAL);
    ck_assert_uint_eq(slab_used(t.s1), t.cap - nback);
    hak_check_heap();

    /* s2 first hands out the rest of its cursor word ... */
    ck_assert_uint_lt(slab_used(t.s2), t.s2->capacity);
    size_t listed = cursor_free(t.s2);
    for (size_t i = 0; i < listed; i++) {
        t.v[t.k] = hak_malloc(n);
        REQ_MSG(slab_at(t.v[t.k]) == t.s2, "block %zu of the %zu in s2's "
                "cursor word came from elsewhere", i, listed);
        t.k++;
    }
    ck_assert_ptr_eq(t.h->hot.cur[t.c], t.s2);

    /* ... then, before s2 hands out fresh words, the partial s1 becomes
     * current and hands back the freed ones (cursor word first, then by
     * address); s2 waits on the partial list with its room. */
    for (size_t i = 0; i < nback; i++) {
        void *p = hak_malloc(n); /* one of v[back[..]] again: already in v */
        size_t j = 0;
        while (j < nback && p != t.v[back[j]])
            j++;
        REQ_MSG(j < nback && !got[j], "malloc %zu after s2's cursor word "
                "gave %p, not one of the freed blocks", i, p);
        got[j] = 1;
        if (i == 0) {
            ck_assert_ptr_eq(t.h->hot.cur[t.c], t.s1);
            ck_assert_uint_eq(t.s1->state, HAK_SLAB_CURRENT);
            ck_assert_uint_eq(t.s2->state, HAK_SLAB_PARTIAL);
            ck_assert(on_partial_list(t.h, t.c, t.s2));
            ck_assert(!on_partial_list(t.h, t.c, t.s1));
        }
    }
    ck_assert_uint_eq(slab_used(t.s1), t.cap);
    hak_check_heap();
    /* s1 is full again: s2 comes back with its fresh words. */
    t.v[t.k] = hak_malloc(n);
    ck_assert_ptr_eq(slab_at(t.v[t.k++]), t.s2);
    ck_assert_uint_eq(t.s1->state, HAK_SLAB_FULL);
    ck_assert_uint_eq(t.s2->state, HAK_SLAB_CURRENT);
    hak_check_heap();
    for (size_t i = 0; i < t.k; i++)
        hak_free(t.v[i]);
    hak_check_heap();
    stash_free();
    free(t.v);
    free(back);
    free(got);
}
END_TEST

/* The partial list is a queue (src/slab_list.h): of two slabs that got a
 * block back, the one that got it first is allocated from first. */
START_TEST(partial_list_is_a_queue)
{
    const size_t n = 1000;
    two_slabs_t t = fill_past_one_slab(n);
    void **v = t.v;
    size_t k = t.k;
    unsigned c = t.c;
    hak_heap_t *h = t.h;
    hak_slab_t *s1 = t.s1, *s2 = t.s2;
    /* Fill s2 too, up to one block in a third slab. */
    size_t first2 = k - 1;
    for (;;) {
        REQ_MSG(k < t.max, "no third slab after %zu blocks", k);
        v[k] = hak_malloc(n);
        REQ_NONNULL(v[k]);
        if (slab_at(v[k++]) != s2)
            break;
    }
    hak_slab_t *s3 = slab_at(v[k - 1]);
    ck_assert_ptr_ne(s3, s1);
    ck_assert_uint_eq(s2->state, HAK_SLAB_FULL);
    ck_assert_ptr_eq(h->hot.cur[c], s3);
    /* Enough blocks back into s1 to make it PARTIAL, then into s2: both
     * join the list, s1 first. (A freed block's entry is cleared: it is
     * handed out again below.) */
    const uint32_t w1 = slab_full_wait(s1), w2 = slab_full_wait(s2);
    for (uint32_t i = 0; i < w1; i++) {
        REQ(slab_at(v[3 + i]) == s1);
        hak_free(v[3 + i]);
        v[3 + i] = NULL;
    }
    for (uint32_t i = 0; i < w2; i++) {
        REQ(slab_at(v[first2 + 5 + i]) == s2);
        hak_free(v[first2 + 5 + i]);
        v[first2 + 5 + i] = NULL;
    }
    ck_assert(on_partial_list(h, c, s1) && on_partial_list(h, c, s2));
    ck_assert_ptr_eq(h->cls[c].partial, s1);
    hak_check_heap();
    /* Use up s3; the next w1 blocks are s1's (the older on the list), the
     * one after them s2's. */
    for (;;) {
        REQ_MSG(k < t.max, "s3 never filled after %zu blocks", k);
        v[k] = hak_malloc(n);
        REQ_NONNULL(v[k]);
        if (slab_at(v[k]) != s3)
            break;
        k++;
    }
    for (uint32_t i = 0; i < w1; i++) {
        if (i)
            v[k] = hak_malloc(n);
        REQ(slab_at(v[k]) == s1);
        REQ(h->hot.cur[c] == s1);
        k++;
    }
    ck_assert(on_partial_list(h, c, s2));
    v[k] = hak_malloc(n);
    ck_assert_ptr_eq(slab_at(v[k]), s2);
    ck_assert_ptr_eq(h->hot.cur[c], s2);
    k++;
    hak_check_heap();
    for (size_t i = 0; i < k; i++)
        if (v[i])
            hak_free(v[i]);
    hak_check_heap();
    stash_free();
    free(v);
}
END_TEST

/* When the cursor word runs empty, the refill moves the cursor to the
 * next word after it with free slots, round from word 0 (slab_next_word),
 * not to the lowest such word. */
START_TEST(refill_takes_next_word_after_cursor)
{
    const size_t n = 16;
    unsigned c = hak_class_of(n);
    ck_assert_uint_ge(hak_capacity(c), 4 * 64);
    settle();
    void *v[3 * 64];
    v[0] = block_in_own_slab(n);
    hak_slab_t *s = slab_at(v[0]);
    ck_assert_ptr_eq(v[0], s->start);
    /* Words 0..2 handed out, in slot order (a fresh slab). */
    for (size_t i = 1; i < 3 * 64; i++) {
        v[i] = hak_malloc(n);
        REQ_MSG(v[i] == s->start + i * s->stride, "block %zu is not slot %zu",
                i, i);
    }
    ck_assert_uint_eq(s->cursor, 2);
    ck_assert_uint_eq(s->top, 2);
    /* Two slots of word 1 back: malloc takes the last freed, then the
     * refill finds the other (word 1: the cursor moves down to it). */
    hak_free(v[70]);
    hak_free(v[71]);
    ck_assert_ptr_eq(hak_malloc(n), v[71]);
    ck_assert_ptr_eq(hak_malloc(n), v[70]);
    ck_assert_uint_eq(s->cursor, 1);
    ck_assert_ptr_null(s->take);
    /* Slots in word 2 and word 0 free, the cursor between them: word 2
     * comes first, then word 0. (11 is freed last, so malloc takes it at
     * once and the refill sees 150 and 10.) */
    hak_free(v[150]);
    hak_free(v[10]);
    hak_free(v[11]);
    ck_assert_ptr_eq(hak_malloc(n), v[11]);
    ck_assert_ptr_null(s->take);
    ck_assert_ptr_eq(hak_malloc(n), v[150]);
    ck_assert_uint_eq(s->cursor, 2);
    ck_assert_ptr_eq(hak_malloc(n), v[10]);
    ck_assert_uint_eq(s->cursor, 0);
    hak_check_heap();
    for (size_t i = 0; i < 3 * 64; i++)
        hak_free(v[i]);
    hak_check_heap();
    stash_free();
}
END_TEST

/* A current slab with free slots left in the words it has touched, and a
 * partial slab s1 with slab_full_wait free: s1 FULL then given back
 * slab_full_wait blocks, s2 filled to the last slot and then given back
 * its slots 0..f-1 (its cursor word is the last one, empty): f = 3, or
 * with `rich` the fewest that leave s2, once malloc has taken the slot
 * freed last, at least half of s1's free slots. */
static two_slabs_t poor_and_partial(size_t n, int rich, size_t *fp)
{
    two_slabs_t t = fill_past_one_slab(n);
    const size_t f = rich ? 1 + (slab_full_wait(t.s1) + 1) / 2 : 3;
    *fp = f;
    ck_assert_uint_ge(t.s2->capacity, 2 * 64); /* slot 0 not in the last word */
    while (slab_used(t.s2) < t.s2->capacity) {
        REQ(t.k < t.max);
        t.v[t.k] = hak_malloc(n);
        REQ_MSG(slab_at(t.v[t.k]) == t.s2, "block %zu left s2", t.k);
        t.k++;
    }
    ck_assert_ptr_null(t.s2->take);
    const uint32_t w1 = slab_full_wait(t.s1);
    for (uint32_t i = 0; i < w1; i++) {
        hak_free(t.v[i]);
        t.v[i] = NULL;
    }
    ck_assert_uint_eq(t.s1->state, HAK_SLAB_PARTIAL);
    ck_assert_uint_eq(t.s1->capacity - slab_used(t.s1), w1);
    ck_assert_ptr_eq(t.h->cls[t.c].partial, t.s1);
    for (size_t i = 0; i < f; i++) {
        void *p = t.s2->start + i * t.s2->stride;
        size_t j = t.cap;
        while (j < t.k && t.v[j] != p)
            j++;
        REQ(j < t.k);
        hak_free(p);
        t.v[j] = NULL;
    }
    ck_assert_ptr_eq(t.h->hot.cur[t.c], t.s2);
    hak_check_heap();
    return t;
}

/* The two mallocs after poor_and_partial: the first takes s2's slot freed
 * last (f - 1), the second is the refill's; both land in got[0..1]. */
static void refill_after_lifo(two_slabs_t *t, size_t n, size_t f, void **got)
{
    got[0] = hak_malloc(n);
    ck_assert_ptr_eq(got[0], t->s2->start + (f - 1) * t->s2->stride);
    got[1] = hak_malloc(n);
}

static void poor_and_partial_free(two_slabs_t *t, void **extra, size_t nextra)
{
    for (size_t i = 0; i < nextra; i++)
        hak_free(extra[i]);
    for (size_t i = 0; i < t->k; i++)
        if (t->v[i])
            hak_free(t->v[i]);
    hak_check_heap();
    stash_free();
    free(t->v);
}

/* The refill leaves a current slab whose freed slots are fewer than half
 * the partial list head's (src/alloc.c, richer): the head becomes current
 * and the slab left waits at the tail of the list, although its touched
 * words still hold free slots; and keeps it (`rich`) while the head has
 * at most twice its freed slots, moving the cursor to the touched word
 * with free slots. */
static void refill_choice(int rich)
{
    const size_t n = 300;
    size_t f;
    two_slabs_t t = poor_and_partial(n, rich, &f);
    /* at the refill s2 has f - 1 free slots (in word 0), s1 slab_full_wait */
    ck_assert_int_eq(2 * (f - 1) >= slab_full_wait(t.s1), rich);
    void *got[2];
    refill_after_lifo(&t, n, f, got);
    hak_slab_t *cur = rich ? t.s2 : t.s1, *waits = rich ? t.s1 : t.s2;
    ck_assert_ptr_eq(slab_at(got[1]), cur);
    if (rich)
        ck_assert_ptr_eq(got[1], t.s2->start);
    ck_assert_ptr_eq(t.h->hot.cur[t.c], cur);
    ck_assert_uint_eq(waits->state, HAK_SLAB_PARTIAL);
    ck_assert_ptr_eq(t.h->cls[t.c].partial, waits);
    hak_check_heap();
    poor_and_partial_free(&t, got, 2);
}

START_TEST(poor_current_slab_left_for_richer_partial)
{
    refill_choice(0);
}
END_TEST

START_TEST(current_slab_kept_while_partial_not_twice_as_rich)
{
    refill_choice(1);
}
END_TEST

/* ... nor for a partial slab with fewer than an eighth of its slots free,
 * however poor the current one: here s2, left poor as above, is given
 * back a few more blocks while s1, current, runs down to one free slot. */
START_TEST(current_slab_kept_while_partial_below_an_eighth)
{
    const size_t n = 300;
    size_t f;
    two_slabs_t t = poor_and_partial(n, 0, &f);
    const uint32_t w1 = slab_full_wait(t.s1);
    ck_assert_uint_gt(t.cap, 130); /* slots 70 and 130: words 1 and 2 */
    void **got = calloc(w1 + 4, sizeof *got);
    ck_assert_ptr_nonnull(got);
    size_t ng = 2;
    refill_after_lifo(&t, n, f, got); /* the second from s1: richer */
    ck_assert_ptr_eq(t.h->hot.cur[t.c], t.s1);
    /* the rest of s1's free slots (word 0) */
    while (slab_used(t.s1) < t.s1->capacity) {
        REQ(ng < w1 + 2);
        got[ng] = hak_malloc(n);
        REQ(slab_at(got[ng]) == t.s1);
        ng++;
    }
    /* s1: two free slots, in words 1 and 2 (130 is malloc's next) */
    uint8_t *b70 = t.v[70], *b130 = t.v[130];
    hak_free(b70);
    hak_free(b130);
    t.v[70] = t.v[130] = NULL;
    /* s2, at the head of the list: its f - 1 free slots and ten more */
    ck_assert_ptr_eq(t.h->cls[t.c].partial, t.s2);
    for (size_t i = t.cap; i < t.k; i++)
        if (t.v[i] && (uint8_t *)t.v[i] >= t.s2->start + 10 * t.s2->stride &&
            (uint8_t *)t.v[i] < t.s2->start + 20 * t.s2->stride) {
            hak_free(t.v[i]);
            t.v[i] = NULL;
        }
    uint32_t free2 = t.s2->capacity - slab_used(t.s2);
    ck_assert_uint_eq(free2, f - 1 + 10);
    ck_assert_uint_lt(free2, slab_full_wait(t.s2));
    got[ng] = hak_malloc(n);
    ck_assert_ptr_eq(got[ng++], b130);
    /* s1 has one free slot, s2 more than twice that but under an eighth */
    ck_assert_uint_gt(free2, 2 * (t.s1->capacity - slab_used(t.s1)));
    got[ng] = hak_malloc(n);
    ck_assert_ptr_eq(got[ng++], b70);
    ck_assert_ptr_eq(t.h->hot.cur[t.c], t.s1);
    hak_check_heap();
    poor_and_partial_free(&t, got, ng);
    free(got);
}
END_TEST

START_TEST(trim_retires_current_slab_with_blocks_to_partial)
{
    settle();
    const size_t n = 300;
    unsigned c = hak_class_of(n);
    void *a = block_in_own_slab(n), *b = hak_malloc(n), *x = hak_malloc(n);
    hak_slab_t *s = slab_at(a);
    ck_assert_ptr_eq(slab_at(b), s);
    ck_assert_ptr_eq(slab_at(x), s);
    hak_free(x); /* on s's list */
    hak_heap_t *h = my_heap();
    ck_assert_ptr_eq(h->hot.cur[c], s);
    hak_malloc_trim(0);
    /* Not current any more; live blocks and room: PARTIAL, not FULL. */
    ck_assert_ptr_ne(h->hot.cur[c], s);
    ck_assert_uint_eq(s->state, HAK_SLAB_PARTIAL);
    ck_assert(on_partial_list(h, c, s));
    ck_assert_uint_eq(slab_used(s), 2);
    hak_check_heap();
    /* The class's next malloc takes it back, its list first. */
    void *y = hak_malloc(n);
    ck_assert_ptr_eq(y, x);
    ck_assert_ptr_eq(h->hot.cur[c], s);
    ck_assert_uint_eq(s->state, HAK_SLAB_CURRENT);
    ck_assert(!on_partial_list(h, c, s));
    ck_assert_uint_eq(slab_used(s), 3);
    hak_free(a);
    hak_free(b);
    hak_free(y);
    ck_assert_uint_eq(slab_used(s), 0);
    hak_check_heap();
    stash_free();
}
END_TEST

/* ---- Remote frees by a thread without a heap ---------------------------- */

typedef struct remote_job {
    void **v;
    size_t n;
    int had_heap_before, had_heap_after;
} remote_job_t;

/* Frees blocks main allocated; allocates nothing, so it never gets a heap
 * and every free goes through the remote path. */
static void *free_without_heap(void *arg)
{
    remote_job_t *j = arg;
    j->had_heap_before = hak_tls_heap != NULL;
    for (size_t i = 0; i < j->n; i++)
        hak_free(j->v[i]);
    j->had_heap_after = hak_tls_heap != NULL;
    return NULL;
}

static void run_heapless(void **v, size_t n)
{
    remote_job_t j = { v, n, -1, -1 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, free_without_heap, &j), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(j.had_heap_before, 0);
    ck_assert_msg(j.had_heap_after == 0, "free made the thread a heap");
}

START_TEST(heapless_thread_frees_through_remote_queue)
{
    const size_t n = 100;
    settle();
    void *keep = block_in_own_slab(n);
    void *p = hak_malloc(n);
    ck_assert_ptr_nonnull(p);
    hak_slab_t *s = slab_at(p);
    ck_assert_ptr_eq(slab_at(keep), s);
    ck_assert_uint_eq(slab_used(s), 2);
    hak_stats_t st0, st1, st2;
    hak_stats_get(&st0);

    run_heapless(&p, 1);
    /* Queued, not yet the owner's: the slab still counts it. */
    hak_stats_get(&st1);
    ck_assert_uint_eq(slab_used(s), 2);
    ck_assert_uint_eq(st1.remote_frees, st0.remote_frees);
    ck_assert_ptr_nonnull(atomic_load(&my_heap()->remote.head));

    /* hak_check_heap drains the owner's queue first. */
    hak_check_heap();
    hak_stats_get(&st2);
    ck_assert_uint_eq(slab_used(s), 1);
    ck_assert_uint_eq(st2.remote_frees - st0.remote_frees, 1);
    ck_assert_uint_eq(st2.drains - st0.drains, 1);
    ck_assert_uint_eq(st2.frees - st0.frees, 1);
    ck_assert_ptr_null(atomic_load(&my_heap()->remote.head));
    /* Its slot is free in its own (current) slab's bitmap again. */
    uint32_t slot = slab_index(s, (uintptr_t)p, s->capacity);
    ck_assert(slab_slot_free(s, slot));
    void *v[64];
    size_t got = 0;
    while (got < 64) {
        v[got] = hak_malloc(n);
        ck_assert_ptr_eq(slab_at(v[got]), s);
        if (v[got++] == p)
            break;
    }
    ck_assert_ptr_eq(v[got - 1], p);
    ck_assert_uint_eq(slab_used(s), 1 + got);
    while (got)
        hak_free(v[--got]);
    hak_free(keep);
    ck_assert_uint_eq(slab_used(s), 0);
    hak_check_heap();
    stash_free();
}
END_TEST

/* The owner merges other threads' frees when its current slab is used
 * up, not at every refill: a refill within the slab leaves them queued,
 * and the refill that would leave the slab merges them first, so that the
 * slab is taken up again instead of another. (Each merge moves cache
 * lines between the threads' cores: xmalloc-test, every free of which is
 * remote, merged a fifth as often.) */
START_TEST(remote_frees_merged_when_the_current_slab_is_used_up)
{
    enum { N = 64, K = 100, F = 64, FRESH = 128 };
    settle();
    void *v[K];
    v[0] = block_in_own_slab(N);
    hak_heap_t *h = my_heap();
    hak_slab_t *s = slab_at(v[0]);
    unsigned c = s->cls;
    ck_assert_ptr_eq(h->hot.cur[c], s);
    for (size_t i = 1; i < K; i++) {
        v[i] = hak_malloc(N);
        REQ_PTR_EQ(slab_at(v[i]), s);
    }
    run_heapless(v + 1, F);
    ck_assert_ptr_nonnull(atomic_load(&h->remote.head));
    hak_stats_t st0, st1, st2;
    hak_stats_get(&st0);
    /* Fresh words of s, past at least one refill: the frees wait. */
    for (size_t i = 0; i < FRESH; i++) {
        void *p = hak_malloc(N);
        REQ_PTR_EQ(slab_at(p), s);
        stash_put(p);
    }
    hak_stats_get(&st1);
    ck_assert_uint_gt(st1.refills, st0.refills);
    ck_assert_msg(st1.drains == st0.drains &&
                      atomic_load(&h->remote.head) != NULL,
                  "a refill within the current slab merged the frees");
    /* s used up: the refill merges the frees and stays in s. */
    for (;;) {
        void *p = hak_malloc(N);
        REQ_NONNULL(p);
        REQ_MSG(slab_at(p) == s, "left the current slab with %u of its "
                "blocks freed and queued", (unsigned)F);
        size_t j = 1;
        while (j <= F && v[j] != p)
            j++;
        if (j <= F) {
            v[j] = NULL;
            hak_free(p);
            break;
        }
        stash_put(p);
    }
    hak_stats_get(&st2);
    ck_assert_uint_eq(st2.drains - st1.drains, 1);
    ck_assert_ptr_null(atomic_load(&h->remote.head));
    hak_free(v[0]);
    for (size_t i = F + 1; i < K; i++)
        hak_free(v[i]);
    stash_free();
    hak_check_heap();
}
END_TEST

START_TEST(remote_frees_drive_full_slab_to_release)
{
    const size_t n = 1000;
    two_slabs_t t = fill_past_one_slab(n);
    hak_stats_t st0, st1;
    hak_stats_get(&st0);

    /* slab_full_wait blocks first: after the drain, the FULL slab is
     * PARTIAL. */
    const uint32_t wait = slab_full_wait(t.s1);
    run_heapless(&t.v[5], wait);
    ck_assert_uint_eq(t.s1->state, HAK_SLAB_FULL); /* not the owner's yet */
    ck_assert_uint_eq(slab_used(t.s1), t.cap);
    hak_check_heap();
    ck_assert_uint_eq(t.s1->state, HAK_SLAB_PARTIAL);
    ck_assert_uint_eq(slab_used(t.s1), t.cap - wait);
    ck_assert(on_partial_list(t.h, t.c, t.s1));

    /* All the others at once: the drain empties and releases it. */
    void **rest = calloc(t.cap, sizeof *rest);
    ck_assert_ptr_nonnull(rest);
    size_t nr = 0;
    for (size_t i = 0; i < t.cap; i++)
        if (i < 5 || i >= 5 + wait)
            rest[nr++] = t.v[i];
    run_heapless(rest, nr);
    ck_assert_uint_eq(slab_used(t.s1), t.cap - wait);
    uintptr_t base = base_of(t.v[0]);
    hak_check_heap();
    hak_stats_get(&st1);
    ck_assert_uint_eq(st1.remote_frees - st0.remote_frees, t.cap);
    ck_assert_uint_eq(st1.slabs_returned - st0.slabs_returned, 1);
    ck_assert(!on_partial_list(t.h, t.c, t.s1));
    if (registry_tier(base)) {
        ck_assert_uint_eq(t.s1->cls, HAK_CLASS_NONE);
        ck_assert(ss_of(base)->free_mask & (1u << t.s1->index));
    }
    ck_assert_ptr_eq(t.h->hot.cur[t.c], t.s2);
    hak_free(t.v[t.k - 1]);
    hak_check_heap();
    stash_free();
    free(rest);
    free(t.v);
}
END_TEST

/* ---- The hot superslabs ------------------------------------------------- */

/* The hot superslab of base's way (types.h: hot_ss), HAK_HOT_NONE when
 * there is none, and the slab shift stored with it. */
static uintptr_t hot_base_at(const hak_heap_t *h, uintptr_t base)
{
    uintptr_t e = h->hot.hot_ss[HAK_HOT_WAY(base)];
    return e == HAK_HOT_NONE ? e : e & ~(uintptr_t)HAK_SS_MASK;
}

static unsigned hot_shift_at(const hak_heap_t *h, uintptr_t base)
{
    return (unsigned)(h->hot.hot_ss[HAK_HOT_WAY(base)] & HAK_SS_MASK);
}

/* base is the hot superslab of its way. */
static int hot_names(const hak_heap_t *h, uintptr_t base)
{
    return hot_base_at(h, base) == base;
}

START_TEST(hot_base_follows_own_frees)
{
    void *tiny = hak_malloc(40), *tiny2 = hak_malloc(40);
    void *mid = hak_malloc(5000), *mid2 = hak_malloc(5000);
    void *big = hak_malloc(100 * KiB);
    void *large = hak_malloc(200 * KiB);
    ck_assert_uint_ne(base_of(tiny), base_of(mid));
    hak_heap_t *h = my_heap();
    /* The shift, with which free finds the slab, is the superslab's
     * tier's. */
    hak_free(tiny);
    ck_assert_uint_eq(hot_base_at(h, base_of(tiny)), base_of(tiny));
    ck_assert_uint_eq(hot_shift_at(h, base_of(tiny)), HAK_TINY_SHIFT);
    hak_free(mid);
    ck_assert_uint_eq(hot_base_at(h, base_of(mid)), base_of(mid));
    ck_assert_uint_eq(hot_shift_at(h, base_of(mid)), HAK_MID_SHIFT);
    hak_free(big);
    ck_assert_uint_eq(hot_base_at(h, base_of(big)), base_of(big));
    ck_assert_uint_eq(hot_shift_at(h, base_of(big)), HAK_BIG_SHIFT);
    /* A large block is no superslab's: it leaves the hot ones alone. */
    uintptr_t before[HAK_HOT_WAYS];
    memcpy(before, h->hot.hot_ss, sizeof before);
    hak_free(large);
    ck_assert_mem_eq(before, h->hot.hot_ss, sizeof before);
    hak_free(tiny2);
    ck_assert_uint_eq(hot_base_at(h, base_of(tiny2)), base_of(tiny2));
    ck_assert_uint_eq(hot_shift_at(h, base_of(tiny2)), HAK_TINY_SHIFT);
    hak_free(mid2);
    ck_assert_uint_eq(hot_base_at(h, base_of(mid2)), base_of(mid2));
    ck_assert_uint_eq(hot_shift_at(h, base_of(mid2)), HAK_MID_SHIFT);
    hak_check_heap();
}
END_TEST

/* Superslabs in different ways are hot together: a free into one does
 * not push out another's (the point of the ways: larson's frees alternate
 * between two or three superslabs of each thread). */
START_TEST(hot_superslabs_of_other_ways_stay_hot)
{
    enum { N = 64 };
    void *p[N], *q[N];
    size_t n = 0;
    unsigned ways = 0;
    settle();
    /* Superslabs of their own, each with two blocks in one slab, until
     * two ways are covered (mappings sit side by side: the second
     * superslab usually is in another way). */
    while (n < N && __builtin_popcount(ways) < 2) {
        p[n] = block_in_own_superslab(30000);
        q[n] = hak_malloc(30000);
        REQ_NONNULL(q[n]);
        ck_assert_uint_eq(base_of(q[n]), base_of(p[n]));
        ways |= 1u << HAK_HOT_WAY(base_of(p[n]));
        n++;
    }
    ck_assert_msg(__builtin_popcount(ways) >= 2, "%d superslabs in one way",
                  N);
    uintptr_t a = base_of(p[0]), b = base_of(p[n - 1]);
    hak_heap_t *h = my_heap();
    hak_free(q[0]);
    ck_assert(hot_names(h, a));
    hak_free(q[n - 1]);
    ck_assert(hot_names(h, b));
    ck_assert_msg(hot_names(h, a), "a free in another way pushed out %#jx",
                  (uintmax_t)a);
    hak_check_heap();
    for (size_t i = 0; i < n; i++) {
        hak_free(p[i]);
        if (i && i + 1 < n)
            hak_free(q[i]);
    }
    stash_free();
}
END_TEST

/* The ways of every superslab h has (spares too). Returns how many it
 * has; *collide: two of them share a way. */
static unsigned heap_ways(const hak_heap_t *h, int *collide)
{
    unsigned n = 0, ways = 0;
    *collide = 0;
    for (unsigned t = HAK_TIER_TINY; t < HAK_SLAB_TIERS; t++) {
        for (int spare = 0; spare < 2; spare++) {
            const hak_superslab_t *ss = spare ? h->spare[t] : h->ss[t];
            for (; ss; ss = ss->next, n++) {
                unsigned w = 1u << HAK_HOT_WAY((uintptr_t)ss);
                *collide |= (ways & w) != 0;
                ways |= w;
            }
        }
    }
    return n;
}

/* A heap's superslabs land in distinct ways while it has at most
 * HAK_HOT_WAYS of them, wherever the kernel puts its mappings: two in one
 * way would take turns in the hot slot, and every free into the other
 * would ask the registry (larson ran at 0.6-0.8 of its speed in a third
 * of its runs, with up to a fifth of its frees sent that way). Fillers of
 * 12 MiB between the superslabs (the place of each, aligned, takes 4 MiB)
 * move the kernel's next free place by 16 MiB, a whole turn of the ways,
 * so that taking the first aligned place would put each new superslab in
 * the way of the one before. */
START_TEST(heap_superslabs_in_distinct_ways)
{
    enum { FILL = 12 << 20 };
    void *p[HAK_HOT_WAYS], *fill[HAK_HOT_WAYS];
    settle();
    unsigned n = 0;
    int collide;
    for (; n < HAK_HOT_WAYS; n++) {
        fill[n] = mmap(NULL, FILL, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        ck_assert_ptr_ne(fill[n], MAP_FAILED);
        p[n] = block_in_own_superslab(30000);
        unsigned have = heap_ways(my_heap(), &collide);
        if (have <= HAK_HOT_WAYS)
            ck_assert_msg(!collide, "superslab %u shares a way with another "
                          "of its heap's (%u superslabs)", n, have);
        if (have >= HAK_HOT_WAYS)
            break;
    }
    for (unsigned i = 0; i < n + (n < HAK_HOT_WAYS); i++) {
        hak_free(p[i]);
        munmap(fill[i], FILL);
    }
    stash_free();
}
END_TEST

/* The room for HAK_OS_COLOURS aligned places that a superslab's mapping
 * asks for is address space only, but strict overcommit charges it and
 * an address-space limit counts it. Where the kernel refuses it, the
 * superslab takes the first aligned place of a mapping with room for one:
 * the second and third superslabs below (the heap has ways to avoid by
 * then) are mapped that way. Runs in a child (run_child), as it cannot
 * undo the filter; its blocks die with it. */
static void superslabs_when_the_room_is_refused(void *arg)
{
    (void)arg;
    settle();
    deny_mmap_above((uint32_t)(3 * HAK_SS_SIZE));
    unsigned got = 0;
    for (unsigned k = 0; k < 4096 && got < 3; k++) {
        void *p = hak_malloc(30000);
        if (!p) {
            fprintf(stderr, "no block after %u new superslabs: %s\n", got,
                    strerror(errno));
            _exit(4);
        }
        got += alone_in_superslab(p);
    }
    if (got < 3) {
        fprintf(stderr, "%u new superslabs in 4096 blocks\n", got);
        _exit(5);
    }
    hak_check_heap();
}

START_TEST(superslab_mapped_when_the_room_is_refused)
{
    expect_no_abort(superslabs_when_the_room_is_refused, NULL);
}
END_TEST

/* The heap walk checks what free's fast path trusts: a hot superslab
 * stored with a slab size not its own is reported. */
static void hot_shift_damaged(void *arg)
{
    (void)arg;
    void *p = hak_malloc(40);
    hak_free(p);
    uintptr_t *e = &my_heap()->hot.hot_ss[HAK_HOT_WAY(p)];
    *e = (*e & ~(uintptr_t)HAK_SS_MASK) | HAK_MID_SHIFT;
    hak_check_heap();
    _exit(0);
}

START_TEST(heap_check_reports_wrong_hot_shift)
{
    expect_abort(hot_shift_damaged, NULL, "hakmem: heap check: ");
}
END_TEST

/* The hot superslabs are the free fast path's only check that a pointer
 * is ours: each must be HAK_HOT_NONE or a superslab still registered. */
static void check_hot_base_valid(const hak_heap_t *h)
{
    for (unsigned w = 0; w < HAK_HOT_WAYS; w++) {
        uintptr_t e = h->hot.hot_ss[w], hb = e & ~(uintptr_t)HAK_SS_MASK;
        ck_assert_msg(e == HAK_HOT_NONE || registry_tier(hb) != 0,
                      "hot superslab %#jx is not registered", (uintmax_t)hb);
    }
}

/* Blocks of n bytes into v, the first opening a superslab of its own,
 * until one lands outside the first `want` superslabs; bases[] gets those
 * in the order they appeared. A superslab is filled before the next is
 * taken, so they hold only these blocks. Returns k: v[0..k) are in
 * bases[], v[k] opened the next superslab. */
static size_t fill_superslabs(size_t n, unsigned want, void **v, size_t cap,
                              uintptr_t *bases)
{
    unsigned nb = 0;
    for (size_t k = 0; k < cap; k++) {
        v[k] = k ? hak_malloc(n) : block_in_own_superslab(n);
        REQ_NONNULL(v[k]);
        uintptr_t b = base_of(v[k]);
        unsigned i = 0;
        while (i < nb && bases[i] != b)
            i++;
        if (i == nb) {
            if (nb == want)
                return k;
            bases[nb++] = b;
        }
    }
    ck_abort_msg("%zu blocks of %zu bytes span fewer than %u superslabs", cap,
                 n, want + 1);
    return 0;
}

static void free_in(void **v, size_t k, uintptr_t base)
{
    for (size_t i = 0; i < k; i++)
        if (v[i] && base_of(v[i]) == base) {
            hak_free(v[i]);
            v[i] = NULL;
        }
}

START_TEST(hot_base_reset_when_released_superslab_is_unmapped)
{
    /* 30000 bytes: the largest mid class, 8 blocks a slab, 56 a
     * superslab. Superslabs fill one after another, so the first
     * HAK_SPARES + 1 hold only FULL slabs once a block lands in the next
     * one (current). */
    const size_t n = 30000, cap = 56 * (HAK_SPARES + 3);
    const unsigned want = HAK_SPARES + 1;
    void **v = calloc(cap, sizeof *v);
    ck_assert_ptr_nonnull(v);
    settle(); /* no spare yet */
    uintptr_t bases[HAK_SPARES + 1];
    size_t k = fill_superslabs(n, want, v, cap, bases);
    void *in_c = v[k];
    hak_heap_t *h = my_heap();
    hak_stats_t st0, st1;
    hak_stats_get(&st0);

    /* The first HAK_SPARES to empty become spares (mapped, registered). */
    for (unsigned i = 0; i < HAK_SPARES; i++) {
        free_in(v, k, bases[i]);
        ck_assert_msg(registry_tier(bases[i]) == HAK_TIER_MID,
                      "empty superslab %u of %u is kept as a spare", i + 1,
                      HAK_SPARES);
        ck_assert(hot_names(h, bases[i]));
    }
    ck_assert_uint_eq(h->nspare[HAK_TIER_MID], HAK_SPARES);
    check_hot_base_valid(h);
    hak_check_heap();

    /* The next one, past the spares: unmapped while it is the hot one. */
    free_in(v, k, bases[HAK_SPARES]);
    hak_stats_get(&st1);
    ck_assert_msg(registry_tier(bases[HAK_SPARES]) == 0,
                  "an empty superslab past %u spares is unmapped", HAK_SPARES);
    ck_assert_uint_eq(st1.superslabs_returned - st0.superslabs_returned, 1);
    ck_assert_msg(!hot_names(h, bases[HAK_SPARES]),
                  "unmapped superslab %#jx is still hot",
                  (uintmax_t)bases[HAK_SPARES]);
    check_hot_base_valid(h);
    hak_check_heap();

    /* Frees go on normally, into the current one. */
    hak_free(in_c);
    ck_assert(hot_names(h, base_of(in_c)));
    hak_check_heap();
    stash_free();
    free(v);
}
END_TEST

/* Ten blocks of 10000 bytes (one slab) in a superslab of their own, all
 * freed again, their superslab now the hot one; returns its base. */
static uintptr_t own_superslab_freed(void **v)
{
    settle();
    v[0] = block_in_own_superslab(10000);
    for (size_t i = 1; i < 10; i++)
        v[i] = hak_malloc(10000);
    uintptr_t base = base_of(v[0]);
    for (size_t i = 0; i < 10; i++) {
        ck_assert_uint_eq(base_of(v[i]), base);
        hak_free(v[i]);
    }
    stash_free();
    /* Its slab is still current: one more free makes it the hot one again
     * after the stash's frees into other superslabs. */
    hak_free(hak_malloc(10000));
    ck_assert(hot_names(my_heap(), base));
    return base;
}

START_TEST(hot_base_reset_when_trim_unmaps_superslab)
{
    void *v[10];
    uintptr_t base = own_superslab_freed(v);
    hak_heap_t *h = my_heap();
    /* Trim retires the (empty) current slab: the superslab empties,
     * becomes the spare, and the spare is unmapped. */
    hak_malloc_trim(0);
    ck_assert_msg(registry_tier(base) == 0,
                  "trim left empty superslab %#jx mapped", (uintmax_t)base);
    ck_assert_msg(!hot_names(h, base),
                  "trimmed superslab %#jx is still hot",
                  (uintmax_t)base);
    check_hot_base_valid(h);
    hak_check_heap();
    /* The heap still works, and the hot superslab follows again. */
    void *p = hak_malloc(10000);
    hak_free(p);
    ck_assert(hot_names(h, base_of(p)));
    hak_check_heap();
}
END_TEST

/* A stale hot superslab would make free trust an address that is no longer
 * ours. Put a foreign mapping where a trimmed superslab was: freeing into
 * it must be reported as an invalid free (not read as slab metadata). */
static void free_foreign(void *arg)
{
    hak_free(arg);
}

START_TEST(foreign_memory_where_superslab_was_is_invalid_free)
{
    void *v[10];
    uintptr_t base = own_superslab_freed(v);
    hak_malloc_trim(0);
    ck_assert_uint_eq(registry_tier(base), 0);
    void *m = mmap((void *)base, HAK_SS_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == MAP_FAILED || m != (void *)base) {
        /* Something else took the address (or the kernel predates
         * MAP_FIXED_NOREPLACE): nothing to see here; the tests above check
         * the field itself. */
        if (m != MAP_FAILED)
            munmap(m, HAK_SS_SIZE);
        return;
    }
    /* Where a block of the old superslab was. */
    expect_abort(free_foreign, v[3], "not a hakmem block");
    munmap(m, HAK_SS_SIZE);
}
END_TEST

/* ---- Seeded churn ------------------------------------------------------- */

#define CHURN_SLOTS 1024

typedef struct churn {
    void *p[CHURN_SLOTS];
    size_t n[CHURN_SLOTS];
    size_t id[CHURN_SLOTS];
} churn_t;

static size_t churn_size(unsigned long long *seed)
{
    unsigned long long r = test_rand(seed);
    switch (r & 3) {
    case 0: return 1 + (r >> 8) % 128;
    case 1: return 129 + (r >> 8) % (HAK_TINY_MAX - 128);
    case 2: return HAK_TINY_MAX + 1 + (r >> 8) % (8192 - HAK_TINY_MAX);
    default: return 8193 + (r >> 8) % (HAK_SMALL_LIMIT - 8192);
    }
}

static int cmp_uptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Counts the live blocks of every slab from the test's own table and
 * compares with slab_used(): independent of hak_check_heap's count. Exact
 * when the test's blocks are the only ones; otherwise (an earlier test's
 * blocks left in the same process) a lower bound. */
static void check_used_counts(const churn_t *t, int exact)
{
    static uintptr_t sl[CHURN_SLOTS];
    size_t m = 0;
    for (size_t i = 0; i < CHURN_SLOTS; i++)
        if (t->p[i])
            sl[m++] = (uintptr_t)slab_at(t->p[i]);
    qsort(sl, m, sizeof sl[0], cmp_uptr);
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j < m && sl[j] == sl[i])
            j++;
        const hak_slab_t *s = (const hak_slab_t *)sl[i];
        REQ_MSG(exact ? slab_used(s) == j - i : slab_used(s) >= j - i,
                "slab %p (class %u, state %u): slab_used %u, %zu live blocks",
                (const void *)s->start, s->cls, s->state, slab_used(s), j - i);
        i = j;
    }
}

START_TEST(seeded_churn_over_classes)
{
    static churn_t t;
    memset(&t, 0, sizeof t);
    unsigned long long seed = 0x5eedf00dull + (unsigned long long)_i;
    const size_t ops = 6000 * test_scale();
    settle();
    /* Nothing in use in any heap: every live block is the test's. */
    const int exact = hak_check_heap() == 0;
    const uint64_t ss0 = hak_registry_count();
    hak_stats_t st0, st1;
    hak_stats_get(&st0);
    size_t nalloc = 0, nfree = 0, next_id = 1;
    for (size_t op = 1; op <= ops; op++) {
        size_t i = test_rand(&seed) % CHURN_SLOTS;
        if (t.p[i]) {
            verify(t.p[i], t.n[i], t.id[i]);
            hak_free(t.p[i]);
            t.p[i] = NULL;
            nfree++;
        } else {
            size_t n = churn_size(&seed);
            uint8_t *p = hak_malloc(n);
            REQ_NONNULL(p);
            REQ_MSG(registry_tier((uintptr_t)p) ==
                        hak_class_tier(hak_class_of(n)),
                    "malloc(%zu) = %p in tier %u", n, (void *)p,
                    registry_tier((uintptr_t)p));
            REQ_UINT_GE(hak_malloc_usable_size(p), n);
            t.p[i] = p;
            t.n[i] = n;
            t.id[i] = next_id++;
            pattern_fill(p, n, t.id[i]);
            nalloc++;
        }
        if (op % 300 == 0) {
            hak_check_heap();
            check_used_counts(&t, exact);
        }
    }
    hak_check_heap();
    check_used_counts(&t, exact);
    for (size_t i = 0; i < CHURN_SLOTS; i++) {
        if (t.p[i]) {
            verify(t.p[i], t.n[i], t.id[i]);
            hak_free(t.p[i]);
            t.p[i] = NULL;
            nfree++;
        }
    }
    ck_assert_uint_eq(nalloc, nfree);
    hak_stats_get(&st1);
    ck_assert_uint_eq(st1.allocs - st0.allocs, nalloc);
    ck_assert_uint_eq(st1.frees - st0.frees, nfree);
    /* Every slab counted empty goes back: after a trim, every slab and
     * superslab the churn took is returned, so no count was off by a block
     * (a slab whose count never reached zero would stay taken). */
    hak_malloc_trim(0);
    hak_stats_get(&st1);
    ck_assert_uint_eq(st1.slabs_returned - st0.slabs_returned,
                      st1.slabs_mapped - st0.slabs_mapped);
    ck_assert_uint_eq(st1.superslabs_returned - st0.superslabs_returned,
                      st1.superslabs_mapped - st0.superslabs_mapped);
    ck_assert_uint_eq(hak_registry_count(), ss0);
    if (exact)
        ck_assert_uint_eq(hak_check_heap(), 0);
}
END_TEST

/* ---- Initialisation order ----------------------------------------------- */

/* The fork suite registers fork handlers from a constructor of priority
 * 101 as "registered before hakmem's" (test_fork.c): true only while
 * hakmem's constructor, which initialises it and registers its handlers,
 * has not run by then. Recorded by a constructor of the same priority. */
static int ready_at_priority_101 = -1;

__attribute__((constructor(101))) static void record_ready_at_101(void)
{
    ready_at_priority_101 =
        atomic_load_explicit(&hak_g.ready, memory_order_acquire);
}

START_TEST(init_after_priority_constructors)
{
    ck_assert_int_eq(ready_at_priority_101, 0);
    hak_free(hak_malloc(1));
    ck_assert_int_ne(atomic_load(&hak_g.ready), 0);
}
END_TEST

/* LazyFree of the mapping (/proc/self/smaps) holding slab 1 of the mid
 * superslab at base, in KiB: its pages given back with MADV_FREE and
 * not yet taken by the kernel. The mapping must lie inside the
 * superslab (a guard page ends slab 0, and the next superslab starts
 * with one), or the figure would be another mapping's too. */
static long mid_spare_lazy_kib(uintptr_t base)
{
    const uintptr_t at = base + ((uintptr_t)1 << HAK_MID_SHIFT);
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    long kib = -1;
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') <
                                                         strchr(line, ' ')) {
            in = lo <= at && at < hi;
            if (in)
                ck_assert_msg(lo >= base && hi <= base + HAK_SS_SIZE,
                              "mapping %#lx-%#lx spans more than the "
                              "superslab at %#lx", lo, hi,
                              (unsigned long)base);
        } else if (in && sscanf(line, "LazyFree: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    ck_assert_msg(kib >= 0, "no LazyFree for %#lx", (unsigned long)at);
    return kib;
}

/* A thread that emptied several superslabs exits: its heap keeps one
 * spare a tier for the thread that adopts it (superslab.h), not
 * HAK_SPARES. */
static hak_heap_t *spares_heap;
static unsigned spares_before;

static void *empty_four_superslabs(void *arg)
{
    (void)arg;
    enum { N = 56 * 4 + 8 }; /* 30000 B: 56 blocks a superslab */
    void *v[N];
    for (size_t i = 0; i < N; i++)
        REQ_NONNULL(v[i] = hak_malloc(30000));
    for (size_t i = 0; i < N; i++)
        hak_free(v[i]);
    spares_heap = my_heap();
    spares_before = spares_heap->nspare[HAK_TIER_MID];
    return NULL;
}

START_TEST(exited_heap_keeps_one_spare)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, empty_four_superslabs, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_msg(spares_before >= 3,
                  "the thread kept %u spares while it lived", spares_before);
    ck_assert_uint_le(spares_heap->nspare[HAK_TIER_MID], 1);
    hak_check_heap();
}
END_TEST

/* A thread whose one mid superslab (written) empties exits: its heap's
 * spare, the newest, had kept its pages as they were; now they are the
 * kernel's to take (MADV_FREE), as the thread that adopts the heap may
 * never come. The first block of the thread's next superslab stays live
 * until the checks, so that the first is its one spare. */
static uintptr_t one_superslab_base;
static void *next_superslab_block;

static void *empty_one_superslab(void *arg)
{
    (void)arg;
    enum { CAP = 2 * 56 }; /* 30000 B: 56 blocks a superslab, 28 in debug */
    void *v[CAP];
    size_t k = fill_superslabs(30000, 1, v, CAP, &one_superslab_base);
    for (size_t i = 0; i < k; i++)
        memset(v[i], 0x5a, 30000);
    free_in(v, k, one_superslab_base);
    next_superslab_block = v[k];
    spares_heap = my_heap();
    return NULL;
}

START_TEST(exited_heap_spare_given_back_lazily)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, empty_one_superslab, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_uint_eq(spares_heap->nspare[HAK_TIER_MID], 1);
    const hak_superslab_t *spare = spares_heap->spare[HAK_TIER_MID];
    ck_assert_uint_eq(ss_base(spare), one_superslab_base);
    ck_assert_msg(mid_spare_lazy_kib(ss_base(spare)) > 0,
                  "an exited heap's spare gave nothing back lazily");
    hak_free(next_superslab_block);
    hak_check_heap();
}
END_TEST

/* A thread's exit retires its heap's current slabs (heap.c,
 * heap_abandon): the empty ones are released, the others join their
 * classes' partial lists, so the heap waits in the pool holding no slab
 * that holds no block (kept current instead, the empty slabs of every
 * heap in the pool held their superslabs: `churn` in test_threads.c,
 * with the heaps of earlier cases in the pool, mapped 21 MiB more). The
 * thread below uses twelve mid classes: in the even ones it keeps one
 * block, in the odd ones it frees every block. */
enum { EXIT_CLASSES = 12 };
static hak_heap_t *exit_heap;
static hak_slab_t *exit_cur[EXIT_CLASSES];
static unsigned exit_cls[EXIT_CLASSES];
static void *exit_kept[EXIT_CLASSES];
/* Live blocks in each slab after the thread's frees: 1 or 0 of its own,
 * more if the thread adopted an earlier test's heap (when tests share a
 * process). */
static uint32_t exit_used[EXIT_CLASSES];

static void *mid_slabs_kept_and_emptied(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < EXIT_CLASSES; i++) {
        unsigned c = HAK_TINY_CLASSES + 2 * i;
        size_t n = hak_class_size[c];
        void *p = hak_malloc(n), *q = hak_malloc(n);
        if (!p || !q)
            return NULL;
        memset(p, 0x5a, n);
        memset(q, 0x5a, n);
        hak_free(p);
        if (i % 2) {
            hak_free(q);
            q = NULL;
        }
        exit_cls[i] = c;
        exit_kept[i] = q;
        exit_cur[i] = my_heap()->hot.cur[c];
        exit_used[i] = slab_used(exit_cur[i]);
    }
    exit_heap = my_heap();
    return NULL;
}

START_TEST(exit_retires_current_slabs)
{
    hak_stats_t s0, s1;
    hak_stats_get(&s0);
    pthread_t t;
    ck_assert_int_eq(
        pthread_create(&t, NULL, mid_slabs_kept_and_emptied, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_ptr_nonnull(exit_heap);
    hak_stats_get(&s1);
    ck_assert_int_eq(atomic_load(&exit_heap->state), HAK_HEAP_ABANDONED);
    unsigned empty = 0;
    for (unsigned i = 0; i < EXIT_CLASSES; i++) {
        hak_slab_t *cur = exit_heap->hot.cur[exit_cls[i]], *s = exit_cur[i];
        ck_assert_msg(cur == &hak_slab_none,
                      "class %u: slab %p (%u blocks) is still current after "
                      "the thread's exit", exit_cls[i], (void *)cur,
                      slab_used(cur));
        if (exit_used[i] == 0) {
            empty++;
            ck_assert_uint_eq(s->state, HAK_SLAB_UNUSED);
        } else {
            ck_assert_uint_eq(s->state, HAK_SLAB_PARTIAL);
            ck_assert_uint_eq(slab_used(s), exit_used[i]);
        }
    }
    ck_assert_uint_ge(empty, 1);
    ck_assert_uint_eq(s1.slabs_returned - s0.slabs_returned, empty);
    hak_check_heap();
    for (unsigned i = 0; i < EXIT_CLASSES; i++)
        hak_free(exit_kept[i]);
    hak_malloc_trim(0);
    hak_check_heap();
}
END_TEST

/* Whether the first page of slab i of the superslab at base is resident. */
static int slab_page_resident(uintptr_t base, unsigned i)
{
    unsigned char r = 0;
    ck_assert_int_eq(mincore((void *)(base + ((uintptr_t)i << HAK_MID_SHIFT)),
                             HAK_PAGE, &r), 0);
    return r & 1;
}

START_TEST(mid_slabs_past_the_dirty_budget_give_pages_back)
{
    /* 30000 bytes: 8 blocks a mid slab, 56 a superslab. Three superslabs
     * of the test's own, each keeping one block (so each stays live) and
     * releasing its six other slabs: 18 slabs, written, then released. */
    const size_t n = 30000, cap = 56 * 4;
    enum { WANT = 3 };
    const unsigned budget = (unsigned)(HAK_DIRTY_MID_BYTES >> HAK_MID_SHIFT);
    void **v = calloc(cap, sizeof *v);
    ck_assert_ptr_nonnull(v);
    settle();
    uintptr_t bases[WANT];
    size_t k = fill_superslabs(n, WANT, v, cap, bases);
    ck_assert_uint_lt(budget, WANT * 6);
    for (size_t i = 0; i < k; i++)
        memset(v[i], 0xa5, n);
    void *keep[WANT] = { NULL };
    for (size_t i = 0; i < k; i++) {
        unsigned b = 0;
        while (bases[b] != base_of(v[i]))
            b++;
        if (!keep[b])
            keep[b] = v[i];
        else
            hak_free(v[i]);
    }
    hak_check_heap();

    /* The first `budget` released keep their pages; the rest gave theirs
     * back. */
    unsigned released = 0, resident = 0;
    for (unsigned b = 0; b < WANT; b++) {
        hak_superslab_t *ss = ss_of(bases[b]);
        for (unsigned i = 1; i < ss->nslabs; i++)
            if (ss->slabs[i].state == HAK_SLAB_UNUSED) {
                released++;
                resident += (unsigned)slab_page_resident(bases[b], i);
            }
    }
    ck_assert_uint_eq(released, WANT * 6);
    ck_assert_msg(resident == budget,
                  "%u of %u released mid slabs resident, want %u", resident,
                  released, budget);

    /* The next slab the class takes is one whose pages are there. */
    hak_slab_t *fresh = NULL;
    for (size_t i = 0; i < 64 && !fresh; i++) {
        void *p = hak_malloc(n);
        REQ_NONNULL(p);
        stash_put(p);
        for (unsigned b = 0; b < WANT; b++)
            if (base_of(p) == bases[b] && slab_used(slab_at(p)) == 1 &&
                slab_at(p) != slab_at(keep[b])) {
                fresh = slab_at(p);
                ck_assert_msg(slab_page_resident(bases[b], fresh->index),
                              "a new slab was taken without its pages while "
                              "%u dirty ones waited", budget);
            }
    }
    ck_assert_ptr_nonnull(fresh);
    for (unsigned b = 0; b < WANT; b++)
        hak_free(keep[b]);
    hak_free(v[k]);
    stash_free();
    hak_check_heap();
    free(v);
}
END_TEST

START_TEST(old_spares_give_their_pages_back)
{
    /* 30000 bytes: 56 blocks a mid superslab. Superslabs of the test's
     * own, written, then emptied one after another: each becomes a spare,
     * and only the HAK_SPARES_KEPT newest keep their pages. */
    enum { WANT = HAK_SPARES_KEPT + 2 };
    const size_t n = 30000, cap = 56 * (WANT + 2);
    void **v = calloc(cap, sizeof *v);
    ck_assert_ptr_nonnull(v);
    settle(); /* no spare yet */
    uintptr_t bases[WANT];
    size_t k = fill_superslabs(n, WANT, v, cap, bases);
    for (size_t i = 0; i < k; i++)
        memset(v[i], 0xa5, n);
    hak_heap_t *h = my_heap();
    for (unsigned b = 0; b < WANT; b++) {
        ck_assert_msg(slab_page_resident(bases[b], 1),
                      "superslab %u not written", b);
        free_in(v, k, bases[b]);
    }
    ck_assert_uint_eq(h->nspare[HAK_TIER_MID], WANT);
    /* The newest first: the last emptied keeps its pages as they are, the
     * next ones keep them too, but given back lazily (MADV_FREE: in core
     * until the kernel needs memory), the oldest gave them back. */
    for (unsigned b = 0; b < WANT; b++) {
        int newest = b >= WANT - HAK_SPARES_KEPT;
        ck_assert_msg(slab_page_resident(bases[b], 1) == newest,
                      "spare %u of %u (%s) %s its pages", b + 1, WANT,
                      newest ? "one of the newest" : "an old one",
                      newest ? "gave back" : "kept");
        if (!newest)
            continue;
        long lazy = mid_spare_lazy_kib(bases[b]);
        if (b == WANT - 1)
            ck_assert_msg(lazy == 0,
                          "the newest spare gave back %ld KiB lazily: "
                          "taken again, they would be written again",
                          lazy);
        else
            ck_assert_msg(lazy > 0,
                          "spare %u of %u, no longer the newest, gave "
                          "nothing back lazily", b + 1, WANT);
    }
    hak_check_heap();
    hak_free(v[k]);
    stash_free();
    hak_check_heap();
    free(v);
}
END_TEST

Suite *slab_suite(void)
{
    const test_row_t rows[] = {
        { "lists", used_exact_after_every_malloc_and_free, 0, 0 },
        { "lists", lifo_reuse_in_current_slab, 0, 0 },
        { "lists", full_slab_goes_partial_then_released, 0, 0 },
        { "lists", partial_slab_is_used_before_fresh_carving, 0, 0 },
        { "lists", trim_retires_current_slab_with_blocks_to_partial, 0, 0 },
        { "lists", partial_list_is_a_queue, 0, 0 },
        { "lists", refill_takes_next_word_after_cursor, 0, 0 },
        { "lists", poor_current_slab_left_for_richer_partial, 0, 0 },
        { "lists", current_slab_kept_while_partial_not_twice_as_rich, 0, 0 },
        { "lists", current_slab_kept_while_partial_below_an_eighth, 0, 0 },
        { "remote", heapless_thread_frees_through_remote_queue, 0, 0 },
        { "remote", remote_frees_merged_when_the_current_slab_is_used_up, 0, 0 },
        { "remote", remote_frees_drive_full_slab_to_release, 0, 0 },
        { "hot superslab", hot_base_follows_own_frees, 0, 0 },
        { "hot superslab", heap_check_reports_wrong_hot_shift, 0, 0 },
        { "hot superslab", hot_superslabs_of_other_ways_stay_hot, 0, 0 },
        { "hot superslab", heap_superslabs_in_distinct_ways, 0, 0 },
        { "placement" NATIVE, superslab_mapped_when_the_room_is_refused, 0, 0 },
        { "hot superslab",
          hot_base_reset_when_released_superslab_is_unmapped, 0, 0 },
        { "hot superslab", hot_base_reset_when_trim_unmaps_superslab, 0, 0 },
        { "hot superslab", exited_heap_keeps_one_spare, 0, 0 },
        { "hot superslab", exited_heap_spare_given_back_lazily, 0, 0 },
        { "lists", exit_retires_current_slabs, 0, 0 },
        { "lists", mid_slabs_past_the_dirty_budget_give_pages_back, 0, 0 },
        { "lists", old_spares_give_their_pages_back, 0, 0 },
        { "hot superslab",
          foreign_memory_where_superslab_was_is_invalid_free, 0, 0 },
        { "churn", seeded_churn_over_classes, 0, 3 },
        { "init", init_after_priority_constructors, 0, 0 },
    };
    Suite *s = suite_create("slab");
    slab_layout_cases(s);
    remote_cases(s);
    registry_cases(s);
    SUITE_ROWS(s, rows);
    zoo_gaps_cases(s);
    return s;
}
