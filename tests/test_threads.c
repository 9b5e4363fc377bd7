/* test_threads.c — multi-threaded behaviour of the heaps (src/heap.c) and
 * of the free paths (src/alloc.c, src/remote.c):
 *   - a thread exits while its blocks are still in flight; the blocks are
 *     freed later and new threads adopt the abandoned heaps;
 *   - owners exit while other threads are still freeing their blocks;
 *   - continuous thread create/destroy (heaps adopted, not leaked), also
 *     while another thread keeps trimming and checking the heap pool;
 *   - MPSC pressure on one heap's remote queue;
 *   - pending remote frees of an idle thread are processed when it
 *     allocates again;
 *   - realloc/free as the very first call of a new thread;
 *   - malloc/free from a pthread key destructor.
 *
 * Every block carries a pattern derived from an id and is checked before it
 * is freed. Worker threads never call ck_assert (Check's failure path is not
 * meant for other threads): they record errors, and the test thread asserts
 * after joining them. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blocks.h"
#include "util.h"

/* ---- Sizes and the allocator's state ----------------------------------- */

static int is_small(size_t n)
{
    return n <= HAK_BIG_MAX;
}

/* The number of heaps ever made, parsed from the hak_stats_print report
 * ("heaps N (live M)"); -1 if it cannot be read. */
static long heap_count(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    hak_stats_print(fds[1]);
    close(fds[1]);
    char buf[8192];
    read_all_close(fds[0], buf, sizeof buf);
    const char *h = strstr(buf, "\nheaps ");
    return h ? strtol(h + 7, NULL, 10) : -1;
}

/* Gives the calling thread a heap (so its remote frees are counted). */
static void ensure_heap(void)
{
    void *p = hak_malloc(16);
    if (!p)
        t_fail("ensure_heap: hak_malloc(16) returned NULL");
    hak_free(p);
}

/* ==== (1) Thread exit with frees in flight ============================== */

#define T1_THREADS 4
#define T1_BLOCKS 600

typedef struct t1_batch {
    blk_t b[T1_BLOCKS];
    uint64_t base_id;
    unsigned long long seed;
} t1_batch_t;

/* Tiny, mid (up to 8 KiB) and large blocks, in a fixed proportion so every
 * batch has all three tiers. */
static size_t t1_size(unsigned j, unsigned long long *r)
{
    if (j % 50 == 7)
        return size_large(r);
    if (j % 4 == 1)
        return size_mid(r, 8192);
    return size_tiny(r);
}

static pthread_barrier_t t1_barrier;

static void *t1_worker(void *arg)
{
    t1_batch_t *bt = arg;
    unsigned long long r = bt->seed;
    /* Some churn first, so the heap has cached and partial slabs too. */
    for (unsigned k = 0; k < 300; k++) {
        blk_t x = blk_new(t1_size(k, &r), bt->base_id + 1000000 + k, "t1 churn");
        blk_free(&x, "t1 churn");
    }
    for (unsigned j = 0; j < T1_BLOCKS; j++)
        bt->b[j] = blk_new(t1_size(j, &r), bt->base_id + j, "t1 alloc");
    /* A few freed by the owner itself: its slabs get local free lists. */
    for (unsigned j = 3; j < T1_BLOCKS; j += 7)
        blk_free(&bt->b[j], "t1 owner free");
    /* All workers of a phase are alive at once, so each has its own heap.
     * The rest of the blocks are handed to the main thread; exit now. */
    pthread_barrier_wait(&t1_barrier);
    return NULL;
}

START_TEST(test_exit_with_frees_in_flight)
{
    errors_reset();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    static t1_batch_t a[T1_THREADS], b[T1_THREADS];
    pthread_t t[T1_THREADS];

    ck_assert_int_eq(pthread_barrier_init(&t1_barrier, NULL, T1_THREADS), 0);
    /* Phase A: the workers allocate, hand their blocks over, exit. */
    hak_stats_t sa0 = stats_now();
    for (unsigned i = 0; i < T1_THREADS; i++) {
        a[i].base_id = (uint64_t)(i + 1) << 32;
        a[i].seed = 0x1234567ull + i;
        spawn(&t[i], t1_worker, &a[i]);
    }
    for (unsigned i = 0; i < T1_THREADS; i++)
        join(t[i]);
    ASSERT_NO_THREAD_ERRORS();
    uint64_t ss_a = stats_now().superslabs_mapped - sa0.superslabs_mapped;
    long heaps_a = heap_count();
    hak_check_heap(); /* the abandoned heaps, with their live blocks */

    /* Blocks of exited threads, freed by main (interleaved over owners). */
    for (unsigned j = 0; j < T1_BLOCKS; j++)
        for (unsigned i = 0; i < T1_THREADS; i++)
            blk_free(&a[i].b[j], "main frees blocks of exited threads");
    ASSERT_NO_THREAD_ERRORS();

    /* Phase B: new threads adopt the abandoned heaps (whose remote queues
     * hold everything main just freed) and allocate from them. */
    hak_stats_t sb0 = stats_now();
    for (unsigned i = 0; i < T1_THREADS; i++) {
        b[i].base_id = (uint64_t)(i + 101) << 32;
        b[i].seed = 0x7654321ull + i;
        spawn(&t[i], t1_worker, &b[i]);
    }
    for (unsigned i = 0; i < T1_THREADS; i++)
        join(t[i]);
    ASSERT_NO_THREAD_ERRORS();
    hak_stats_t sb1 = stats_now();
    long heaps_b = heap_count();
    ck_assert_msg(heaps_a >= T1_THREADS && heaps_b == heaps_a,
                  "new threads made new heaps instead of adopting the %ld "
                  "abandoned ones: %ld heaps after phase B",
                  heaps_a, heaps_b);
    ck_assert_msg(sb1.drains > sb0.drains,
                  "the adopting threads never drained the remote frees "
                  "queued in the abandoned heaps (drains %llu -> %llu)",
                  (unsigned long long)sb0.drains,
                  (unsigned long long)sb1.drains);
    /* The same allocations again, from heaps that already hold their
     * superslabs: at most the ones given back beyond the one spare per tier
     * are mapped again. */
    uint64_t ss_b = sb1.superslabs_mapped - sb0.superslabs_mapped;
    ck_assert_msg(ss_b <= ss_a / 2,
                  "phase B mapped %llu new superslabs, phase A %llu: the "
                  "adopted heaps' superslabs were not reused",
                  (unsigned long long)ss_b, (unsigned long long)ss_a);
    hak_check_heap();

    for (unsigned j = 0; j < T1_BLOCKS; j++)
        for (unsigned i = 0; i < T1_THREADS; i++)
            blk_free(&b[i].b[j], "main frees blocks of the adopters");
    ASSERT_NO_THREAD_ERRORS();
    pthread_barrier_destroy(&t1_barrier);
    assert_settled(start, live0, "thread exit with frees in flight");
}
END_TEST

/* ==== (2) Owners exit while other threads free their blocks ============= */

#define T2_PRODUCERS 3
#define T2_BLOCKS 2000

typedef struct t2_round {
    blk_t b[T2_BLOCKS];
    atomic_int ready;
} t2_round_t;

static t2_round_t *t2_rounds;
static unsigned t2_nrounds;
static atomic_ulong t2_small_freed;
static atomic_uint t2_freers_ready;

static void *t2_owner(void *arg)
{
    t2_round_t *rd = arg;
    unsigned long long r = 0x9abcdefull + (uintptr_t)(rd - t2_rounds);
    uint64_t base = (uint64_t)(rd - t2_rounds) << 32;
    for (unsigned j = 0; j < T2_BLOCKS; j++)
        rd->b[j] = blk_new(size_mix(&r, 150, 16384, 5), base + j, "t2 owner");
    blk_t mine[64];
    for (unsigned j = 0; j < 64; j++)
        mine[j] = blk_new(size_mix(&r, 100, 4096, 0), base + 100000 + j,
                          "t2 owner private");
    /* Publish: the freeing threads start at once... */
    atomic_store_explicit(&rd->ready, 1, memory_order_release);
    /* ...while the owner frees a few of its own and returns. */
    for (unsigned j = 0; j < 64; j++)
        blk_free(&mine[j], "t2 owner private");
    return NULL;
}

static void *t2_freer(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    unsigned long small = 0;
    /* Its own heap, made before the first owner exits: it must not adopt
     * an owner's heap, or its frees of that owner's blocks are local. */
    ensure_heap();
    atomic_fetch_add(&t2_freers_ready, 1);
    for (unsigned r = 0; r < t2_nrounds; r++) {
        t2_round_t *rd = &t2_rounds[r];
        while (!atomic_load_explicit(&rd->ready, memory_order_acquire))
            sched_yield();
        for (unsigned j = k; j < T2_BLOCKS; j += T2_PRODUCERS) {
            small += is_small(rd->b[j].n);
            blk_free(&rd->b[j], "t2 remote free");
        }
    }
    atomic_fetch_add(&t2_small_freed, small);
    return NULL;
}

START_TEST(test_owner_exits_during_remote_frees)
{
    errors_reset();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    t2_nrounds = 40 * test_scale();
    t2_rounds = calloc(t2_nrounds, sizeof *t2_rounds);
    ck_assert_ptr_nonnull(t2_rounds);
    atomic_store(&t2_small_freed, 0);
    hak_stats_t s0 = stats_now();

    pthread_t fr[T2_PRODUCERS], owner;
    atomic_store(&t2_freers_ready, 0);
    for (unsigned k = 0; k < T2_PRODUCERS; k++)
        spawn(&fr[k], t2_freer, (void *)(uintptr_t)k);
    while (atomic_load(&t2_freers_ready) < T2_PRODUCERS)
        sched_yield();
    /* No barrier: owner r+1 starts as soon as owner r has returned, while
     * the freers may still be pushing into owner r's (abandoned, then
     * adopted) heap. */
    for (unsigned r = 0; r < t2_nrounds; r++) {
        spawn(&owner, t2_owner, &t2_rounds[r]);
        join(owner);
    }
    for (unsigned k = 0; k < T2_PRODUCERS; k++)
        join(fr[k]);
    ASSERT_NO_THREAD_ERRORS();

    unsigned long small = atomic_load(&t2_small_freed);
    free(t2_rounds);
    t2_rounds = NULL;
    assert_settled(start, live0, "owners exiting during remote frees");
    /* Every cross-thread free has been drained by now (counted then). */
    hak_stats_t s1 = stats_now();
    ck_assert_msg(s1.remote_frees - s0.remote_frees == small,
                  "remote_frees grew by %llu, the freeing threads freed %lu "
                  "small blocks of other threads",
                  (unsigned long long)(s1.remote_frees - s0.remote_frees),
                  small);
}
END_TEST

/* ==== (3) Continuous thread create/destroy ============================== */

#define T3_LEAVE 40
#define T3_WINDOW 48

typedef struct t3_slot {
    blk_t b[T3_LEAVE];
} t3_slot_t;

static t3_slot_t *t3_slots;
static unsigned t3_lag; /* thread i frees what thread i - t3_lag left */

/* Allocate/free in a window, then leave T3_LEAVE blocks for a later thread. */
static void t3_body(unsigned i, unsigned ops)
{
    unsigned long long r = 0x5151ull + i * 7919ull;
    if (i >= t3_lag) {
        t3_slot_t *prev = &t3_slots[i - t3_lag];
        for (unsigned j = 0; j < T3_LEAVE; j++)
            blk_free(&prev->b[j], "t3 frees the blocks of an earlier thread");
    }
    blk_t w[T3_WINDOW] = { { 0 } };
    for (unsigned k = 0; k < ops; k++) {
        blk_t *x = &w[test_rand(&r) % T3_WINDOW];
        blk_free(x, "t3 window");
        *x = blk_new(size_mix(&r, 120, 32768, 3),
                     ((uint64_t)i << 32) + 100000 + k, "t3 window");
    }
    for (unsigned j = 0; j < T3_WINDOW; j++)
        blk_free(&w[j], "t3 window");
    t3_slot_t *mine = &t3_slots[i];
    for (unsigned j = 0; j < T3_LEAVE; j++)
        mine->b[j] = blk_new(j == 0 ? size_large(&r) : size_mix(&r, 150, 32768, 0),
                             ((uint64_t)i << 32) + j, "t3 leave");
}

static void *t3_thread(void *arg)
{
    t3_body((unsigned)(uintptr_t)arg, 1000);
    return NULL;
}

/* n threads' slots, thread i freeing what thread i - lag left; returns
 * room for the n threads' ids. */
static pthread_t *t3_begin(unsigned n, unsigned lag)
{
    errors_reset();
    t3_lag = lag;
    t3_slots = calloc(n, sizeof *t3_slots);
    pthread_t *t = calloc(n, sizeof *t);
    ck_assert_ptr_nonnull(t3_slots);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Main frees what the last `lag` threads left; then everything is back
 * as it was at start (mapped bytes) and live0 (live blocks). */
static void t3_end(pthread_t *t, unsigned n, uint64_t start, int64_t live0,
                   const char *what)
{
    for (unsigned i = n > t3_lag ? n - t3_lag : 0; i < n; i++)
        for (unsigned j = 0; j < T3_LEAVE; j++)
            blk_free(&t3_slots[i].b[j], "main frees the last leftovers");
    ASSERT_NO_THREAD_ERRORS();
    free(t);
    free(t3_slots);
    t3_slots = NULL;
    assert_settled(start, live0, what);
}

START_TEST(test_thread_churn)
{
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    const unsigned n = 200 * test_scale(), warm = 20;
    pthread_t *t = t3_begin(n, 2);

    /* Two threads in flight: thread i starts when thread i-2 has exited and
     * frees what that one left (into its abandoned or re-adopted heap). */
    uint64_t warm_mapped = 0, max_mapped = 0;
    long warm_heaps = 0, max_heaps = 0;
    spawn(&t[0], t3_thread, (void *)0);
    spawn(&t[1], t3_thread, (void *)1);
    for (unsigned i = 2; i < n + 2; i++) {
        join(t[i - 2]);
        if (i < n)
            spawn(&t[i], t3_thread, (void *)(uintptr_t)i);
        uint64_t m = stats_now().mapped_bytes;
        if (i - 2 == warm) {
            warm_mapped = m;
            warm_heaps = heap_count();
        } else if (i - 2 > warm) {
            if (m > max_mapped)
                max_mapped = m;
            if (i % 16 == 0) {
                long h = heap_count();
                if (h > max_heaps)
                    max_heaps = h;
            }
        }
    }
    ASSERT_NO_THREAD_ERRORS();
    ck_assert_msg(max_mapped <= warm_mapped + 16 * MiB,
                  "mapped_bytes keeps growing with thread churn: %llu KiB "
                  "after %u threads, up to %llu KiB later (abandoned heaps "
                  "leaked instead of adopted?)",
                  (unsigned long long)(warm_mapped >> 10), warm,
                  (unsigned long long)(max_mapped >> 10));
    ck_assert_msg(max_heaps <= warm_heaps + 4,
                  "heap count grows with thread churn: %ld after %u threads, "
                  "%ld later", warm_heaps, warm, max_heaps);
    hak_check_heap();
    t3_end(t, n, start, live0, "thread churn");
}
END_TEST

/* ==== (3b) Thread churn while another thread trims and checks ========== */

#define T3B_INFLIGHT 4

static atomic_int t3b_stop;
static atomic_ulong t3b_passes;
static atomic_int t3b_where; /* 1 in trim, 2 in check, 0 between */

static void *t3b_reclaimer(void *arg)
{
    (void)arg;
    while (!atomic_load(&t3b_stop)) {
        atomic_store(&t3b_where, 1);
        hak_malloc_trim(0);
        atomic_store(&t3b_where, 2);
        hak_check_heap();
        atomic_store(&t3b_where, 0);
        atomic_fetch_add(&t3b_passes, 1);
    }
    return NULL;
}

static void *t3b_thread(void *arg)
{
    t3_body((unsigned)(uintptr_t)arg, 400);
    return NULL;
}

START_TEST(test_churn_with_concurrent_trim_and_check)
{
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    const unsigned n = 120 * test_scale();
    pthread_t *t = t3_begin(n, T3B_INFLIGHT), rec;
    atomic_store(&t3b_stop, 0);
    atomic_store(&t3b_passes, 0);

    spawn(&rec, t3b_reclaimer, NULL);
    for (unsigned i = 0; i < T3B_INFLIGHT && i < n; i++)
        spawn(&t[i], t3b_thread, (void *)(uintptr_t)i);
    for (unsigned i = T3B_INFLIGHT; i < n + T3B_INFLIGHT; i++) {
        join(t[i - T3B_INFLIGHT]);
        if (i < n)
            spawn(&t[i], t3b_thread, (void *)(uintptr_t)i);
    }
    atomic_store(&t3b_stop, 1);
    /* hak_malloc_trim and hak_check_heap visit the pool of abandoned heaps
     * while threads adopt and abandon heaps; each call must return. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 20;
    int rc = pthread_timedjoin_np(rec, NULL, &dl);
    ck_assert_msg(rc == 0,
                  "%s did not return within 20 s after the thread churn "
                  "stopped (%lu passes done): the walk over the pool of "
                  "abandoned heaps does not terminate",
                  atomic_load(&t3b_where) == 1 ? "hak_malloc_trim(0)"
                                               : "hak_check_heap()",
                  atomic_load(&t3b_passes));
    ASSERT_NO_THREAD_ERRORS();
    ck_assert_uint_gt(atomic_load(&t3b_passes), 0);
    t3_end(t, n, start, live0, "churn with concurrent trim and check");
}
END_TEST

/* ==== (3c) Pool walks while threads adopt heaps and keep them ========== */

/* hak_malloc_trim and hak_check_heap walk the pool of abandoned heaps one
 * heap at a time (each taken out, visited, put back at the tail) until the
 * first heap they visited comes round again. A thread that adopts a heap
 * meanwhile and keeps it may take exactly that heap. */

#define T3C_ABANDONED 3
#define T3C_TRIES 24

static atomic_int t3c_stop;
static atomic_ulong t3c_passes;
static atomic_int t3c_mode; /* 0: hak_malloc_trim, 1: hak_check_heap */
static pthread_barrier_t t3c_barrier;

static void *t3c_walker(void *arg)
{
    (void)arg;
    while (!atomic_load(&t3c_stop)) {
        if (atomic_load(&t3c_mode) == 0)
            hak_malloc_trim(0);
        else
            hak_check_heap();
        atomic_fetch_add(&t3c_passes, 1);
    }
    return NULL;
}

static void *t3c_abandon(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    unsigned long long r = 0x3c3cull + i;
    blk_t w[64];
    for (unsigned k = 0; k < 64; k++)
        w[k] = blk_new(size_mix(&r, 200, 32768, 0), k, "t3c abandon");
    for (unsigned k = 0; k < 64; k += 2)
        blk_free(&w[k], "t3c abandon");
    pthread_barrier_wait(&t3c_barrier);
    /* Leave half to main so the heap keeps some slabs. */
    blk_t *out = malloc(sizeof w);
    if (out)
        memcpy(out, w, sizeof w);
    return out;
}

typedef struct t3c_keeper {
    sem_t ready, release;
    blk_t b;
} t3c_keeper_t;

static void *t3c_keep(void *arg)
{
    t3c_keeper_t *k = arg;
    k->b = blk_new(200, 31337, "t3c keeper"); /* adopts a pooled heap */
    sem_post(&k->ready);
    while (sem_wait(&k->release) != 0)
        ;
    blk_free(&k->b, "t3c keeper");
    return NULL;
}

static void pool_walk_vs_adoption(int mode)
{
    errors_reset();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    blk_t *left[T3C_ABANDONED];
    pthread_t t, walker;
    pthread_t ab[T3C_ABANDONED];
    /* All alive at once (barrier), so each makes its own heap. */
    ck_assert_int_eq(pthread_barrier_init(&t3c_barrier, NULL, T3C_ABANDONED),
                     0);
    for (unsigned i = 0; i < T3C_ABANDONED; i++)
        spawn(&ab[i], t3c_abandon, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < T3C_ABANDONED; i++) {
        left[i] = NULL;
        ck_assert_int_eq(pthread_join(ab[i], (void **)&left[i]), 0);
        ck_assert_ptr_nonnull(left[i]);
    }
    pthread_barrier_destroy(&t3c_barrier);
    ck_assert_int_ge(heap_count(), T3C_ABANDONED);
    ASSERT_NO_THREAD_ERRORS();
    atomic_store(&t3c_stop, 0);
    atomic_store(&t3c_passes, 0);
    atomic_store(&t3c_mode, mode);
    spawn(&walker, t3c_walker, NULL);

    const char *fn = mode ? "hak_check_heap()" : "hak_malloc_trim(0)";
    unsigned tries = T3C_TRIES * test_scale();
    for (unsigned i = 0; i < tries; i++) {
        static t3c_keeper_t k;
        ck_assert_int_eq(sem_init(&k.ready, 0, 0), 0);
        ck_assert_int_eq(sem_init(&k.release, 0, 0), 0);
        /* Let a walk be under way, then adopt a heap and keep it. */
        unsigned long p0 = atomic_load(&t3c_passes);
        while (atomic_load(&t3c_passes) == p0)
            sched_yield();
        usleep((useconds_t)(i % 4) * 50);
        spawn(&t, t3c_keep, &k);
        while (sem_wait(&k.ready) != 0)
            ;
        /* While the keeper holds its heap, the walker must keep finishing
         * its walks. */
        unsigned long p1 = atomic_load(&t3c_passes);
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            if (atomic_load(&t3c_passes) >= p1 + 2)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec >= 3)
                ck_abort_msg("try %u: %s did not return within 3 s while "
                             "another thread had adopted a heap and kept "
                             "it (%lu walks done): the pool walk waits for "
                             "the first heap it visited to come round "
                             "again, and that heap was adopted",
                             i, fn, atomic_load(&t3c_passes));
            usleep(1000);
        }
        sem_post(&k.release);
        join(t);
        sem_destroy(&k.ready);
        sem_destroy(&k.release);
    }
    atomic_store(&t3c_stop, 1);
    join(walker);
    ASSERT_NO_THREAD_ERRORS();
    for (unsigned i = 0; i < T3C_ABANDONED; i++) {
        for (unsigned k = 1; k < 64; k += 2)
            blk_free(&left[i][k], "t3c main frees the leftovers");
        free(left[i]);
    }
    ASSERT_NO_THREAD_ERRORS();
    assert_settled(start, live0, "pool walk vs adoption");
}

START_TEST(test_trim_vs_adoption)
{
    pool_walk_vs_adoption(0);
}
END_TEST

START_TEST(test_check_heap_vs_adoption)
{
    pool_walk_vs_adoption(1);
}
END_TEST

/* ==== (4) MPSC pressure ================================================= */

#define T4_FREERS 3
#define T4_RING 1024

/* Single-producer single-consumer ring: main -> one freeing thread. */
typedef struct t4_ring {
    _Atomic size_t head; /* written by main */
    _Atomic size_t tail; /* written by the freer */
    atomic_int done;
    unsigned long small;
    blk_t slot[T4_RING];
} __attribute__((aligned(64))) t4_ring_t;

static t4_ring_t t4_rings[T4_FREERS];

static void *t4_freer(void *arg)
{
    t4_ring_t *q = arg;
    ensure_heap();
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
        if (tail == head) {
            if (atomic_load_explicit(&q->done, memory_order_acquire) &&
                tail == atomic_load_explicit(&q->head, memory_order_acquire))
                break;
            sched_yield();
            continue;
        }
        blk_t *b = &q->slot[tail % T4_RING];
        q->small += is_small(b->n);
        blk_free(b, "t4 remote free");
        atomic_store_explicit(&q->tail, ++tail, memory_order_release);
    }
    return NULL;
}

START_TEST(test_mpsc_pressure)
{
    errors_reset();
    ensure_heap();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    hak_stats_t s0 = stats_now();
    const unsigned long n = 200000ul * test_scale();
    pthread_t fr[T4_FREERS];
    memset(t4_rings, 0, sizeof t4_rings);
    for (unsigned k = 0; k < T4_FREERS; k++)
        spawn(&fr[k], t4_freer, &t4_rings[k]);

    unsigned long long r = 0xfeedull;
    uint64_t max_mapped = 0;
    for (unsigned long i = 0; i < n; i++) {
        t4_ring_t *q = &t4_rings[i % T4_FREERS];
        size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
        while (head - atomic_load_explicit(&q->tail, memory_order_acquire) >=
               T4_RING)
            sched_yield();
        q->slot[head % T4_RING] =
            blk_new(size_mix(&r, 100, 16384, 0), i, "t4 main alloc");
        atomic_store_explicit(&q->head, head + 1, memory_order_release);
        if (i % 4096 == 0) {
            uint64_t m = stats_now().mapped_bytes;
            if (m > max_mapped)
                max_mapped = m;
        }
    }
    for (unsigned k = 0; k < T4_FREERS; k++)
        atomic_store_explicit(&t4_rings[k].done, 1, memory_order_release);
    for (unsigned k = 0; k < T4_FREERS; k++)
        join(fr[k]);
    ASSERT_NO_THREAD_ERRORS();

    hak_stats_t s1 = stats_now();
    unsigned long small = 0;
    for (unsigned k = 0; k < T4_FREERS; k++)
        small += t4_rings[k].small;
    /* Drained by main's own refills while it kept allocating. */
    ck_assert_msg(s1.drains > s0.drains,
                  "main's refills never drained its remote queue");
    ck_assert_msg(s1.remote_frees > s0.remote_frees,
                  "no remote frees counted while main kept allocating");
    ck_assert_msg(max_mapped <= start + 48 * MiB,
                  "memory grows under remote frees: %llu KiB mapped at the "
                  "peak of the run, %llu KiB at the start (live blocks never "
                  "exceed %u)",
                  (unsigned long long)(max_mapped >> 10),
                  (unsigned long long)(start >> 10), T4_FREERS * T4_RING);
    assert_settled(start, live0, "MPSC pressure");
    hak_stats_t s2 = stats_now();
    ck_assert_msg(s2.remote_frees - s0.remote_frees == small,
                  "remote_frees grew by %llu after the final drain, the "
                  "freeing threads freed %lu small blocks",
                  (unsigned long long)(s2.remote_frees - s0.remote_frees),
                  small);
}
END_TEST

/* ==== (5) Pending remote frees of an idle thread are processed ========== */

#define T5_BLOCKS 50000

typedef struct t5 {
    blk_t *b;
    unsigned rounds;
    sem_t ready, go;
} t5_t;

static void *t5_thread(void *arg)
{
    t5_t *s = arg;
    unsigned long long r = 0x55aa55ull;
    for (unsigned round = 0; round < s->rounds; round++) {
        if (round)
            sem_wait(&s->go); /* main has freed the previous round */
        for (unsigned j = 0; j < T5_BLOCKS; j++)
            s->b[j] = blk_new(16 + (size_t)(test_rand(&r) % 241),
                              ((uint64_t)round << 32) + j, "t5 alloc");
        sem_post(&s->ready);
        /* ...and idles until main has freed them all. */
    }
    sem_wait(&s->go);
    return NULL;
}

START_TEST(test_pending_remote_frees_processed)
{
    errors_reset();
    ensure_heap();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    static t5_t s;
    s.rounds = 6 * test_scale();
    s.b = calloc(T5_BLOCKS, sizeof *s.b);
    ck_assert_ptr_nonnull(s.b);
    ck_assert_int_eq(sem_init(&s.ready, 0, 0), 0);
    ck_assert_int_eq(sem_init(&s.go, 0, 0), 0);
    pthread_t a;
    spawn(&a, t5_thread, &s);

    uint64_t first_mapped = 0;
    hak_stats_t after_free = { 0 };
    for (unsigned round = 0; round < s.rounds; round++) {
        while (sem_wait(&s.ready) != 0)
            ;
        ASSERT_NO_THREAD_ERRORS();
        hak_stats_t st = stats_now();
        if (round == 0) {
            first_mapped = st.mapped_bytes;
        } else {
            /* A's allocations drained what main freed last round. */
            ck_assert_msg(st.drains > after_free.drains,
                          "round %u: the idle thread allocated again but did "
                          "not drain its remote queue",
                          round);
            ck_assert_msg(st.remote_frees - after_free.remote_frees >=
                              T5_BLOCKS,
                          "round %u: remote_frees grew by %llu when the idle "
                          "thread allocated again, %u were pending",
                          round,
                          (unsigned long long)(st.remote_frees -
                                               after_free.remote_frees),
                          T5_BLOCKS);
            ck_assert_msg(st.frees - after_free.frees >= T5_BLOCKS,
                          "round %u: only %llu of the %u pending remote frees "
                          "were processed when their owner allocated again",
                          round,
                          (unsigned long long)(st.frees - after_free.frees),
                          T5_BLOCKS);
            ck_assert_msg(st.mapped_bytes <= first_mapped + 3 * MiB,
                          "round %u: mapped_bytes %llu KiB, %llu KiB after "
                          "the first round: the freed blocks were not reused",
                          round, (unsigned long long)(st.mapped_bytes >> 10),
                          (unsigned long long)(first_mapped >> 10));
        }
        for (unsigned j = 0; j < T5_BLOCKS; j++)
            blk_free(&s.b[j], "t5 main frees remotely");
        ASSERT_NO_THREAD_ERRORS();
        after_free = stats_now();
        /* The owner idles: the frees are pending in its queue, not yet
         * counted (frees and remote_frees count them at the drain). */
        ck_assert_msg(after_free.frees == st.frees,
                      "round %u: frees grew by %llu while the owner of the "
                      "blocks idled (remote frees count when drained)",
                      round,
                      (unsigned long long)(after_free.frees - st.frees));
        sem_post(&s.go);
    }
    join(a);
    ASSERT_NO_THREAD_ERRORS();
    free(s.b);
    sem_destroy(&s.ready);
    sem_destroy(&s.go);
    assert_settled(start, live0, "pending remote frees");
}
END_TEST

/* ==== (6) realloc / free as the very first call of a new thread ========= */

enum first_kind {
    FIRST_REALLOC,  /* q = hak_realloc(p, newn) */
    FIRST_FREE,     /* hak_free(p) */
};

typedef struct first_case {
    const char *name;
    int kind;
    size_t n, newn;     /* sizes of p (0: p is NULL) and of the realloc */
    int from;           /* 0: main thread, 1: an exited thread, 2: a live one */
    blk_t in;           /* the block handed to the new thread */
    blk_t out;          /* what realloc returned, refilled */
} first_case_t;

static void *first_thread(void *arg)
{
    first_case_t *c = arg;
    if (c->kind == FIRST_REALLOC) {
        void *q = hak_realloc(c->in.p, c->newn);
        if (c->newn == 0) {
            if (q)
                t_fail("%s: realloc(p, 0) returned %p, expected NULL",
                       c->name, q);
            c->in.p = NULL;
        } else if (!q) {
            t_fail("%s: first-call realloc returned NULL", c->name);
        } else {
            size_t keep = c->in.n < c->newn ? c->in.n : c->newn;
            if (c->in.p) {
                /* The prefix moved with the block: its pattern is the one
                 * of the old size, so check it against a refilled copy. */
                uint8_t *ref = malloc(c->in.n ? c->in.n : 1);
                if (!ref) {
                    t_fail("%s: out of memory in the test", c->name);
                } else {
                    pat_fill(ref, c->in.n, c->in.id);
                    if (memcmp(ref, q, keep) != 0)
                        t_fail("%s: realloc lost the payload (%zu -> %zu)",
                               c->name, c->in.n, c->newn);
                    free(ref);
                }
            }
            c->in.p = NULL;
            c->out = (blk_t){ q, c->newn, c->in.id + 1 };
            pat_fill(q, c->newn, c->out.id);
        }
    } else {
        if (c->in.p) {
            blk_ok(&c->in, c->name);
        }
        hak_free(c->in.p);
        c->in.p = NULL;
    }
    /* The thread keeps working after its first call. */
    unsigned long long r = 0x6666ull + c->n;
    blk_t w[32];
    for (unsigned k = 0; k < 32; k++)
        w[k] = blk_new(size_mix(&r, 200, 32768, 30), 9000 + k, c->name);
    for (unsigned k = 0; k < 32; k++)
        blk_free(&w[k], c->name);
    if (c->out.p && !blk_ok(&c->out, c->name))
        c->out.p = NULL;
    return NULL;
}

typedef struct holder {
    blk_t b[8];
    sem_t ready, release;
} holder_t;

/* Allocates b[] (the sizes are preset), then exits or waits. */
static void *holder_thread(void *arg)
{
    holder_t *h = arg;
    for (unsigned i = 0; i < 8; i++)
        if (h->b[i].n)
            h->b[i] = blk_new(h->b[i].n, h->b[i].id, "holder");
    return NULL;
}

static void *holder_thread_wait(void *arg)
{
    holder_thread(arg);
    sem_post(&((holder_t *)arg)->ready);
    sem_wait(&((holder_t *)arg)->release);
    return NULL;
}

static void run_first_cases(first_case_t *cases, unsigned n)
{
    /* Sources: an exited thread's and a live thread's blocks, sized and
     * numbered per case. */
    static holder_t dead, live;
    memset(&dead, 0, sizeof dead);
    memset(&live, 0, sizeof live);
    ck_assert_int_eq(sem_init(&live.ready, 0, 0), 0);
    ck_assert_int_eq(sem_init(&live.release, 0, 0), 0);
    unsigned nd = 0, nl = 0;
    for (unsigned i = 0; i < n; i++) {
        first_case_t *c = &cases[i];
        c->in = (blk_t){ NULL, c->n, 7000 + i };
        if (c->n && c->from == 1)
            dead.b[nd++] = c->in;
        if (c->n && c->from == 2)
            live.b[nl++] = c->in;
    }
    ck_assert(nd <= 8 && nl <= 8);
    pthread_t td, tl;
    spawn(&td, holder_thread, &dead);
    join(td);
    spawn(&tl, holder_thread_wait, &live);
    /* Wait for the live holder's allocations. */
    while (sem_wait(&live.ready) != 0)
        ;
    ASSERT_NO_THREAD_ERRORS();
    nd = nl = 0;
    for (unsigned i = 0; i < n; i++) {
        first_case_t *c = &cases[i];
        if (!c->n)
            continue;
        if (c->from == 0)
            c->in = blk_new(c->n, c->in.id, "main");
        else if (c->from == 1)
            c->in = dead.b[nd++];
        else
            c->in = live.b[nl++];
        ck_assert_ptr_nonnull(c->in.p);
    }
    for (unsigned i = 0; i < n; i++) {
        pthread_t t;
        spawn(&t, first_thread, &cases[i]);
        join(t);
        ck_assert_msg(atomic_load(&g_errors) == 0, "case %s: %s",
                      cases[i].name, errors_text());
        hak_check_heap();
    }
    sem_post(&live.release);
    join(tl);
    for (unsigned i = 0; i < n; i++) {
        ck_assert_msg(cases[i].in.p == NULL, "case %s kept its input",
                      cases[i].name);
        blk_free(&cases[i].out, cases[i].name);
    }
    ASSERT_NO_THREAD_ERRORS();
    sem_destroy(&live.ready);
    sem_destroy(&live.release);
}

START_TEST(test_first_call_realloc)
{
    errors_reset();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    first_case_t cases[] = {
        { "realloc small->bigger small", FIRST_REALLOC, 100, 700, 0, { 0 }, { 0 } },
        { "realloc small same size", FIRST_REALLOC, 100, 100, 0, { 0 }, { 0 } },
        { "realloc small shrink", FIRST_REALLOC, 500, 300, 0, { 0 }, { 0 } },
        { "realloc small->mid", FIRST_REALLOC, 200, 9000, 0, { 0 }, { 0 } },
        { "realloc small->large", FIRST_REALLOC, 300, 100000, 0, { 0 }, { 0 } },
        { "realloc mid->mid", FIRST_REALLOC, 5000, 20000, 0, { 0 }, { 0 } },
        { "realloc large->small", FIRST_REALLOC, 100000, 500, 0, { 0 }, { 0 } },
        { "realloc large->larger", FIRST_REALLOC, 100000, 400000, 0, { 0 }, { 0 } },
        { "realloc(NULL, n)", FIRST_REALLOC, 0, 300, 0, { 0 }, { 0 } },
        { "realloc(p, 0)", FIRST_REALLOC, 64, 0, 0, { 0 }, { 0 } },
        { "realloc of an exited thread's small block", FIRST_REALLOC, 48, 2000, 1, { 0 }, { 0 } },
        { "realloc of an exited thread's same-class block", FIRST_REALLOC, 48, 40, 1, { 0 }, { 0 } },
        { "realloc of an exited thread's large block", FIRST_REALLOC, 70000, 90, 1, { 0 }, { 0 } },
        { "realloc of a live thread's small block", FIRST_REALLOC, 1000, 1010, 2, { 0 }, { 0 } },
        { "realloc of a live thread's mid block", FIRST_REALLOC, 3000, 100, 2, { 0 }, { 0 } },
    };
    run_first_cases(cases, sizeof cases / sizeof cases[0]);
    assert_settled(start, live0, "first-call realloc");
}
END_TEST

START_TEST(test_first_call_free)
{
    errors_reset();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    first_case_t cases[] = {
        { "free of main's tiny block", FIRST_FREE, 24, 0, 0, { 0 }, { 0 } },
        { "free of main's mid block", FIRST_FREE, 6000, 0, 0, { 0 }, { 0 } },
        { "free of main's large block", FIRST_FREE, 150000, 0, 0, { 0 }, { 0 } },
        { "free(NULL)", FIRST_FREE, 0, 0, 0, { 0 }, { 0 } },
        { "free of an exited thread's tiny block", FIRST_FREE, 16, 0, 1, { 0 }, { 0 } },
        { "free of an exited thread's mid block", FIRST_FREE, 2048, 0, 1, { 0 }, { 0 } },
        { "free of an exited thread's large block", FIRST_FREE, 40000, 0, 1, { 0 }, { 0 } },
        { "free of a live thread's tiny block", FIRST_FREE, 1, 0, 2, { 0 }, { 0 } },
        { "free of a live thread's mid block", FIRST_FREE, 32768, 0, 2, { 0 }, { 0 } },
    };
    run_first_cases(cases, sizeof cases / sizeof cases[0]);
    assert_settled(start, live0, "first-call free");
}
END_TEST

/* A thread that never allocated (it has no heap) frees blocks of another
 * thread: they are drained and counted like any remote free
 * (remote_frees: "frees by a thread other than the owner"). */
static blk_t t6s_blocks[100];

static void *t6s_thread(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < 100; i++)
        blk_free(&t6s_blocks[i], "t6s free without a heap");
    return NULL;
}

START_TEST(test_remote_free_counted_without_heap)
{
    errors_reset();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    unsigned long long r = 0x77ull;
    for (unsigned i = 0; i < 100; i++)
        t6s_blocks[i] = blk_new(size_mix(&r, 300, 32768, 0), i, "t6s main");
    ASSERT_NO_THREAD_ERRORS();
    hak_stats_t s0 = stats_now();
    pthread_t t;
    spawn(&t, t6s_thread, NULL);
    join(t);
    ASSERT_NO_THREAD_ERRORS();
    assert_settled(start, live0, "remote frees without a heap");
    hak_stats_t s1 = stats_now();
    ck_assert_msg(s1.frees - s0.frees == 100,
                  "frees grew by %llu after main drained 100 remote frees",
                  (unsigned long long)(s1.frees - s0.frees));
    ck_assert_msg(s1.remote_frees - s0.remote_frees == 100,
                  "a thread without a heap freed 100 of main's blocks, "
                  "remote_frees grew by %llu after the drain",
                  (unsigned long long)(s1.remote_frees - s0.remote_frees));
}
END_TEST

/* ==== (7) malloc/free from a pthread key destructor ===================== */

#define T7_HELD 24
#define T7_OUT 6

typedef struct t7_state {
    blk_t held[T7_HELD];    /* allocated while the thread ran */
    blk_t out[2][T7_OUT];   /* allocated in destructor runs 1 and 2 */
    int rearm;              /* destructor runs left after the first */
    int runs;
    unsigned idx;
} t7_state_t;

static pthread_key_t t7_key;

static void t7_dtor(void *v)
{
    t7_state_t *st = v;
    int run = st->runs++;
    unsigned long long r = 0x7777ull + st->idx * 31ull + (unsigned)run;
    /* The thread's heap was abandoned by hakmem's own destructor (its key
     * is older): free what the thread allocated while it ran. */
    if (run == 0)
        for (unsigned i = 0; i < T7_HELD; i++)
            blk_free(&st->held[i], "t7 destructor frees the thread's blocks");
    /* Allocate, resize and free in the destructor. */
    for (unsigned k = 0; k < 200; k++) {
        blk_t b = blk_new(size_mix(&r, 150, 32768, 10),
                          ((uint64_t)st->idx << 32) + 50000 + k, "t7 dtor");
        if (!b.p)
            continue;
        if (k % 5 == 0) {
            size_t nn = size_mix(&r, 150, 32768, 10);
            void *q = hak_realloc(b.p, nn);
            if (!q) {
                t_fail("t7 dtor: realloc returned NULL");
                continue;
            }
            size_t keep = b.n < nn ? b.n : nn;
            blk_t moved = { q, nn, b.id + 1 };
            /* Only the kept prefix is defined; check it byte by byte. */
            uint8_t *ref = malloc(b.n);
            if (ref) {
                pat_fill(ref, b.n, b.id);
                if (memcmp(ref, q, keep) != 0)
                    t_fail("t7 dtor: realloc lost the payload");
                free(ref);
            }
            pat_fill(q, nn, moved.id);
            b = moved;
        }
        blk_free(&b, "t7 dtor");
    }
    if (run < 2)
        for (unsigned i = 0; i < T7_OUT; i++)
            st->out[run][i] = blk_new(i == 0 ? size_large(&r)
                                             : size_mix(&r, 300, 32768, 0),
                                      ((uint64_t)st->idx << 32) + 90000 +
                                          (uint64_t)run * 100 + i,
                                      "t7 dtor out");
    if (st->rearm > 0) {
        st->rearm--;
        pthread_setspecific(t7_key, st); /* run once more */
    }
}

static void *t7_thread(void *arg)
{
    t7_state_t *st = arg;
    unsigned long long r = 0x7070ull + st->idx;
    for (unsigned i = 0; i < T7_HELD; i++)
        st->held[i] = blk_new(size_mix(&r, 200, 32768, 40),
                              ((uint64_t)st->idx << 32) + i, "t7 thread");
    pthread_setspecific(t7_key, st);
    return NULL;
}

START_TEST(test_alloc_in_key_destructor)
{
    errors_reset();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    /* Created before the threads start, so after hakmem's own key. */
    ck_assert_int_eq(pthread_key_create(&t7_key, t7_dtor), 0);
    const unsigned n = 40 * test_scale();
    t7_state_t *st = calloc(n, sizeof *st);
    ck_assert_ptr_nonnull(st);
    long heaps0 = -1;
    for (unsigned i = 0; i < n; i++) {
        st[i].idx = i;
        /* The destructor runs once, twice or three times (it re-arms its
         * key); hakmem's own destructor then runs again in the next round
         * (glibc runs up to PTHREAD_DESTRUCTOR_ITERATIONS = 4 rounds). */
        st[i].rearm = (int)(i % 3);
        pthread_t t;
        spawn(&t, t7_thread, &st[i]);
        join(t);
        ck_assert_msg(atomic_load(&g_errors) == 0, "thread %u: %s", i,
                      errors_text());
        ck_assert_msg(st[i].runs == 1 + (int)(i % 3),
                      "thread %u: destructor ran %d times, expected %d", i,
                      st[i].runs, 1 + (int)(i % 3));
        if (i == 4)
            heaps0 = heap_count();
    }
    long heaps1 = heap_count();
    ck_assert_msg(heaps1 <= heaps0 + 2,
                  "heaps allocated from in key destructors are not given "
                  "back: %ld heaps after 5 threads, %ld after %u",
                  heaps0, heaps1, n);
    hak_check_heap();
    for (unsigned i = 0; i < n; i++)
        for (unsigned run = 0; run < 2; run++)
            for (unsigned k = 0; k < T7_OUT; k++)
                blk_free(&st[i].out[run][k],
                         "main frees blocks allocated in a destructor");
    ASSERT_NO_THREAD_ERRORS();
    free(st);
    pthread_key_delete(t7_key);
    assert_settled(start, live0, "allocation in key destructors");
}
END_TEST

Suite *threads_suite(void)
{
    /* A case each: a hung test names itself. */
    const test_row_t rows[] = {
        { "exit_frees_in_flight", test_exit_with_frees_in_flight, 60, 0 },
        { "owner_exit_race", test_owner_exits_during_remote_frees, 60, 0 },
        { "churn", test_thread_churn, 60, 0 },
        { "churn_trim_check", test_churn_with_concurrent_trim_and_check, 60,
          0 },
        { "trim_vs_adoption", test_trim_vs_adoption, 60, 0 },
        { "check_heap_vs_adoption", test_check_heap_vs_adoption, 60, 0 },
        { "mpsc", test_mpsc_pressure, 60, 0 },
        { "pending_remote", test_pending_remote_frees_processed, 60, 0 },
        { "first_call_realloc", test_first_call_realloc, 60, 0 },
        { "first_call_free", test_first_call_free, 60, 0 },
        { "remote_stats_no_heap", test_remote_free_counted_without_heap, 60,
          0 },
        { "key_destructor", test_alloc_in_key_destructor, 60, 0 },
    };
    Suite *s = suite_create("threads");
    SUITE_ROWS(s, rows);
    return s;
}
