/* test_zoo_gaps.c — properties that zoo variants broke while every stage
 * passed (ci/zoo.sh, the patches in zoo/); each test names its variant:
 *   - the large cache's byte count is the sum of its mappings' sizes on
 *     every path that moves bytes in or out of it (cut, grow over a cached
 *     neighbour, free); an overstated count evicts mappings that fit, and
 *     once it exceeds HAKMEM_LARGE_CACHE_MB with the cache empty, the
 *     eviction loop runs past it (zoo/18);
 *   - a free from another thread of a slot never handed out (above the
 *     highest bitmap word the slab's cursor reached) is an invalid free
 *     naming it, as it is for the owner (test_attack.c route 5), not a
 *     double free (zoo/22);
 *   - the drain rejects a queued slab that is not in use (a descriptor no
 *     freer can queue; only damaged metadata could) with its report: the
 *     check had no test at all (zoo/23);
 *   - debug: a block realloc keeps in place still has its canary byte, so
 *     a one-byte overflow after a realloc to the class size is reported
 *     at free (zoo/29);
 *   - a free from another thread of the address one stride past a slab's
 *     last block (inside the slab, inside its bitmap's range) is an
 *     invalid free: the slot index is bounded by the capacity (zoo/30).
 * White-box (part of the slab suite, see test_slab.c): reads the large
 * tier's counters (hak_large_stats) and finds a slab's last slot (slab.h). */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#include "heap.h"
#include "large.h"
#include "remote.h"
#include "slab.h"
#include "superslab.h"
#include "types.h"

#define GUARD ((size_t)HAK_PAGE)

static size_t map_of(size_t n)
{
    return (n + HAK_PAGE - 1) & ~(size_t)(HAK_PAGE - 1);
}

static uint64_t cached_bytes(void)
{
    uint64_t allocs, frees, live, cached;
    hak_large_stats(&allocs, &frees, &live, &cached);
    return cached;
}

/* One 8 MiB mapping is cut (a head handed out, the tail cached), the head
 * grows over part of the tail, then is freed: the cache then holds the
 * two pieces, which cover the mapping but for the two guard pages that
 * now separate them. At each step the count is what the pieces hold. */
START_TEST(large_cache_bytes_follow_cut_grow_free)
{
    hak_free(hak_malloc(HAK_SMALL_LIMIT + 1));
    hak_malloc_trim(0);
    ck_assert_uint_eq(cached_bytes(), 0);
    const size_t bign = 8 * MiB, n = 128 * KiB, grown = 256 * KiB;
    const size_t bigmap = map_of(bign);
    void *big = hak_malloc(bign);
    ck_assert_ptr_nonnull(big);
    hak_free(big);
    ck_assert_uint_eq(cached_bytes(), bigmap);
    void *a = hak_malloc(n); /* the head; the tail after two guards */
    ck_assert_ptr_eq(a, big);
    ck_assert_uint_eq(cached_bytes(), bigmap - map_of(n) - 2 * GUARD);
    void *r = hak_realloc(a, grown); /* in place, over the tail */
    ck_assert_ptr_eq(r, a);
    /* What the block holds now (release may keep more than asked). */
    size_t held = rw_extent(r);
    ck_assert_uint_eq(cached_bytes(), bigmap - held - 2 * GUARD);
    hak_free(r);
    ck_assert_uint_eq(cached_bytes(), bigmap - 2 * GUARD);
    hak_malloc_trim(0);
    ck_assert_uint_eq(cached_bytes(), 0);
}
END_TEST

/* ---- A slot never handed out, freed by another thread ------------------ */

static void *free_in_thread(void *p)
{
    hak_free(p);
    return NULL;
}

/* Sizes whose slabs hold more than one bitmap word of blocks, so that the
 * last slot of a fresh slab lies above its cursor's highest word. */
static const size_t remote_sizes[] = { 16, 200, 300, 1500 };

static void remote_never_handed_out(void *arg)
{
    size_t n = *(const size_t *)arg;
    hak_malloc_trim(0);
    uint8_t *p = hak_malloc(n);
    hak_slab_t *s = slab_of(ss_of((uintptr_t)p), (uintptr_t)p);
    uint32_t last = s->capacity - 1u;
    if (slot_word(last) <= s->top)
        _exit(3); /* not a fresh slab: no such slot to try */
    pthread_t t;
    if (pthread_create(&t, NULL, free_in_thread, slab_slot(s, last)) != 0)
        _exit(4);
    pthread_join(t, NULL);
    _exit(0);
}

START_TEST(remote_free_of_never_handed_out_slot)
{
    size_t n = remote_sizes[_i];
    char buf[2048];
    int st = run_child(remote_never_handed_out, &n, buf, sizeof buf);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                  "size %zu: child %s %d, stderr: %s", n,
                  WIFSIGNALED(st) ? "got signal" : "exited with",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), buf);
    ck_assert_msg(strstr(buf, "hakmem: invalid free: ") &&
                      strstr(buf, "never handed out"),
                  "size %zu: expected \"hakmem: invalid free: ... never "
                  "handed out\", got: %s", n, buf);
}
END_TEST

/* ---- Past the last block, freed by another thread ----------------------- */

/* Sizes whose class's stride does not divide the slab: one stride past
 * the last block still lies inside the slab. */
static const size_t past_sizes[] = { 80, 5000 };

static void remote_free_past_last_block(void *arg)
{
    size_t n = *(const size_t *)arg;
    uint8_t *p = hak_malloc(n);
    hak_superslab_t *ss = ss_of((uintptr_t)p);
    hak_slab_t *s = slab_of(ss, (uintptr_t)p);
    size_t off = (size_t)s->capacity * s->stride;
    if (off >= slab_bytes(ss))
        _exit(3); /* the stride divides the slab: no such address */
    pthread_t t;
    if (pthread_create(&t, NULL, free_in_thread, s->start + off) != 0)
        _exit(4);
    pthread_join(t, NULL);
    _exit(0);
}

START_TEST(remote_free_past_last_block_is_invalid)
{
    size_t n = past_sizes[_i];
    expect_abort(remote_free_past_last_block, &n,
                 "hakmem: " HAK_CHECK_INVALID_FREE ": ");
}
END_TEST

/* ---- A queued slab that is not in use ----------------------------------- */

static void queue_unused_slab(void *arg)
{
    (void)arg;
    uint8_t *p = hak_malloc(64);
    hak_superslab_t *ss = ss_of((uintptr_t)p);
    hak_slab_t *s = NULL;
    for (unsigned i = 1; i < ss->nslabs && !s; i++)
        if (ss->slabs[i].capacity == 0) /* unused (or never written) */
            s = &ss->slabs[i];
    if (!s)
        _exit(3);
    remote_push(&hak_tls_heap->remote, s);
    hak_malloc_trim(0); /* drains this thread's queue */
    _exit(0);
}

START_TEST(drain_rejects_queued_slab_not_in_use)
{
    expect_abort(queue_unused_slab, NULL, "hakmem: " HAK_CHECK_REMOTE ": ");
}
END_TEST

/* ---- Canaries: realloc in place to the whole class ------------------------ */

/* A block of n bytes reallocated to its whole class size stays in place
 * (the policy of every build), then is written one byte past the new
 * size: the byte must be a canary (the stride's canary room), not the
 * next block's first byte. */
static void realloc_to_class_size_then_overflow(void *arg)
{
    size_t n = *(const size_t *)arg;
    uint8_t *p = hak_malloc(n);
    size_t size = hak_class_size[hak_class_of(n)];
    uint8_t *q = hak_realloc(p, size);
    if (q != p)
        _exit(3);
    memset(q, 1, size + 1); /* one byte too many */
    hak_free(q);
    _exit(0);
}

static const size_t realloc_sizes[] = { 40, 500, 3000 };

START_TEST(realloc_to_class_size_keeps_canary)
{
    size_t n = realloc_sizes[_i];
    expect_abort(realloc_to_class_size_then_overflow, &n,
                 "hakmem: " HAK_CHECK_CANARY ": ");
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

void zoo_gaps_cases(Suite *s)
{
    const test_row_t rows[] = {
        { "zoo gaps", large_cache_bytes_follow_cut_grow_free, 0, 0 },
        { "zoo gaps",
          remote_free_of_never_handed_out_slot, 0, COUNT(remote_sizes) },
        { "zoo gaps", drain_rejects_queued_slab_not_in_use, 0, 0 },
        { "zoo gaps",
          remote_free_past_last_block_is_invalid, 0, COUNT(past_sizes) },
    };
    SUITE_ROWS(s, rows);
    /* Where the build has canaries. */
    const test_row_t canary_rows[] = {
        { "zoo gaps canary",
          realloc_to_class_size_keeps_canary, 0, COUNT(realloc_sizes) },
    };
    if (HAK_CANARY)
        SUITE_ROWS(s, canary_rows);
}
