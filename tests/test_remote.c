/* test_remote.c — part of the white-box suite (slab, see test_slab.c):
 * the MPSC queue of slabs on its own (descriptors we own,
 * not the allocator's), under contention; a remote free marks rbits and
 * writes nothing into the block; and end to end: blocks one thread
 * allocates and others free come back through the owner's drain. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "util.h"

#include "heap.h"
#include "remote.h"
#include "size_class.h"
#include "slab.h"

/* Queue nodes are slab descriptors; the queue reads only their rnext.
 * A payload per node, written by the producer before the push, shows
 * that the release/acquire pair carried it along. */
static hak_slab_t *nodes_new(size_t n)
{
    hak_slab_t *v = aligned_alloc(64, n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    memset(v, 0, n * sizeof *v);
    return v;
}

/* ---- Single producer ---------------------------------------------------- */

START_TEST(empty_queue)
{
    static hak_remote_queue_t q;
    hak_remote_init(&q);
    ck_assert_int_eq(remote_pending(&q), 0);
    ck_assert_ptr_null(hak_remote_take(&q));
    ck_assert_ptr_null(hak_remote_take(&q));
    ck_assert_int_eq(remote_pending(&q), 0);
}
END_TEST

START_TEST(single_producer_lifo)
{
    const size_t n = 1000;
    hak_slab_t *v = nodes_new(n);
    static hak_remote_queue_t q;
    hak_remote_init(&q);
    for (size_t i = 0; i < n; i++) {
        remote_push(&q, &v[i]);
        REQ_MSG(remote_pending(&q), "not pending after push %zu", i);
    }
    hak_slab_t *chain = hak_remote_take(&q);
    ck_assert_ptr_eq(chain, &v[n - 1]);
    ck_assert_int_eq(remote_pending(&q), 0);
    ck_assert_ptr_null(hak_remote_take(&q));
    /* Newest first: n-1, n-2, ..., 0, then the end. */
    size_t seen = 0;
    for (hak_slab_t *s = chain; s; s = s->rnext) {
        REQ_MSG(seen < n, "chain longer than %zu nodes", n);
        REQ_MSG(s == &v[n - 1 - seen], "node %zu of the chain is %p, want %p",
                seen, (void *)s, (void *)&v[n - 1 - seen]);
        seen++;
    }
    ck_assert_uint_eq(seen, n);
    free(v);
}
END_TEST

START_TEST(queue_reusable_after_take)
{
    hak_slab_t *v = nodes_new(8);
    static hak_remote_queue_t q;
    hak_remote_init(&q);
    remote_push(&q, &v[0]);
    remote_push(&q, &v[1]);
    remote_push(&q, &v[2]);
    hak_slab_t *c1 = hak_remote_take(&q);
    ck_assert_ptr_eq(c1, &v[2]);
    ck_assert_int_eq(remote_pending(&q), 0);
    /* Push again, including a node that was in the first chain. */
    remote_push(&q, &v[5]);
    remote_push(&q, &v[1]);
    ck_assert_int_eq(remote_pending(&q), 1);
    hak_slab_t *c2 = hak_remote_take(&q);
    ck_assert_ptr_eq(c2, &v[1]);
    ck_assert_ptr_eq(c2->rnext, &v[5]);
    ck_assert_ptr_null(v[5].rnext);
    ck_assert_ptr_null(hak_remote_take(&q));
    free(v);
}
END_TEST

/* A thread's free of another heap's block writes nothing into the block
 * (there is no link or tag to write): the bytes read after the free are
 * the program's, the block's bit waits in rbits, and its slab is queued
 * once however many of its blocks are freed. */
static void *free_all(void *arg)
{
    void **v = arg;
    for (size_t i = 0; v[i]; i++)
        hak_free(v[i]);
    return NULL;
}

START_TEST(remote_free_leaves_block_untouched)
{
    enum { N = 40 };
    void *v[N + 1] = { 0 };
    for (size_t i = 0; i < N; i++) {
        v[i] = hak_malloc(64);
        ck_assert_ptr_nonnull(v[i]);
        memset(v[i], 0xa5, 64);
    }
    hak_heap_t *me = hak_tls_heap;
    hak_check_heap(); /* drains whatever earlier tests left */
    ck_assert_int_eq(remote_pending(&me->remote), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, free_all, v), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    /* Reading freed blocks is the point here: memcheck is told so. */
    VALGRIND_DISABLE_ERROR_REPORTING;
    for (size_t i = 0; i < N; i++) {
        const unsigned char *p = v[i];
        for (size_t j = 0; j < 64; j++)
            REQ_MSG(p[j] == 0xa5, "block %zu byte %zu written by the remote "
                    "free (%#x)", i, j, p[j]);
        hak_superslab_t *ss = ss_of((uintptr_t)p);
        hak_slab_t *s = slab_of(ss, (uintptr_t)p);
        uint32_t slot = slab_index(s, (uintptr_t)p, s->capacity);
        REQ_MSG(slab_slot_queued(s, slot), "block %zu not marked in rbits", i);
        REQ_MSG(!slab_slot_free(s, slot), "block %zu free before the drain",
                i);
    }
    VALGRIND_ENABLE_ERROR_REPORTING;
    /* Same slab for all 40 (64-byte class, fresh slots): one queue node. */
    hak_slab_t *chain = atomic_load(&me->remote.head);
    ck_assert_ptr_nonnull(chain);
    size_t queued = 0;
    for (hak_slab_t *s = chain; s; s = s->rnext)
        queued++;
    ck_assert_uint_le(queued, 2);
    hak_check_heap();
    ck_assert_int_eq(remote_pending(&me->remote), 0);
    for (size_t i = 0; i < N; i++) {
        hak_superslab_t *ss = ss_of((uintptr_t)v[i]);
        hak_slab_t *s = slab_of(ss, (uintptr_t)v[i]);
        if (s->cls == HAK_CLASS_NONE)
            continue; /* released: every block of it was free */
        uint32_t slot = slab_index(s, (uintptr_t)v[i], s->capacity);
        REQ_MSG(slab_slot_free(s, slot), "block %zu not free after the drain",
                i);
    }
}
END_TEST

/* ---- Many producers, one consumer --------------------------------------- */

#define PRODUCERS 4
#define ROUND 250

typedef struct mp {
    hak_remote_queue_t q;
    hak_slab_t *nodes;
    uint64_t *payload;
    size_t per_producer;
    pthread_barrier_t start;
    _Atomic unsigned arrived; /* producers at the current round */
    _Atomic int producers_done;
    /* consumer results */
    size_t taken, takes, duplicates, strangers, bad_payloads;
    size_t max_chain;
} mp_t;

typedef struct producer_arg {
    mp_t *mp;
    unsigned id;
} producer_arg_t;

static uint64_t payload_of(size_t idx)
{
    return (uint64_t)idx * 0x9e3779b97f4a7c15ull ^ 0x0123456789abcdefull;
}

/* Producers meet before each round. Spinning (with yields for machines
 * with fewer CPUs than threads) lets them leave together: a sleeping
 * barrier wakes them one by one, and the first may finish its round alone. */
static void spin_barrier(mp_t *mp, unsigned round)
{
    unsigned target = (round + 1) * PRODUCERS;
    atomic_fetch_add_explicit(&mp->arrived, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&mp->arrived, memory_order_acquire) < target)
        sched_yield();
}

static void *producer(void *arg)
{
    producer_arg_t *pa = arg;
    mp_t *mp = pa->mp;
    size_t first = (size_t)pa->id * mp->per_producer;
    pthread_barrier_wait(&mp->start);
    for (size_t i = 0; i < mp->per_producer; i++) {
        /* Short rounds in lockstep: the producers overlap even on few CPUs
         * (a whole run fits in one time slice otherwise). */
        if (i % ROUND == 0)
            spin_barrier(mp, (unsigned)(i / ROUND));
        /* A plain write before the push: the release must publish it. */
        mp->payload[first + i] = payload_of(first + i);
        remote_push(&mp->q, &mp->nodes[first + i]);
    }
    return NULL;
}

static void consume_chain(mp_t *mp, hak_slab_t *chain, uint8_t *seen,
                          size_t total)
{
    size_t len = 0;
    for (hak_slab_t *s = chain; s; s = s->rnext) {
        uintptr_t a = (uintptr_t)s, base = (uintptr_t)mp->nodes;
        if (a < base || a >= base + total * sizeof(hak_slab_t) ||
            (a - base) % sizeof(hak_slab_t)) {
            mp->strangers++;
            return; /* cannot follow a link out of a stranger */
        }
        size_t idx = (a - base) / sizeof(hak_slab_t);
        if (seen[idx]++) {
            mp->duplicates++;
            return; /* a cycle would never end */
        }
        if (mp->payload[idx] != payload_of(idx))
            mp->bad_payloads++;
        mp->taken++;
        if (++len > total) {
            mp->duplicates++;
            return;
        }
    }
    if (len > mp->max_chain)
        mp->max_chain = len;
}

static void *consumer(void *arg)
{
    mp_t *mp = arg;
    size_t total = mp->per_producer * PRODUCERS;
    uint8_t *seen = calloc(total, 1);
    if (!seen)
        return (void *)1;
    pthread_barrier_wait(&mp->start);
    for (;;) {
        /* Read `done` before taking: after the last take that follows a
         * done observation, nothing more can arrive. */
        int done = atomic_load_explicit(&mp->producers_done,
                                        memory_order_acquire);
        hak_slab_t *chain = hak_remote_take(&mp->q);
        if (chain) {
            mp->takes++;
            consume_chain(mp, chain, seen, total);
        } else if (done) {
            break;
        }
    }
    free(seen);
    return NULL;
}

START_TEST(multi_producer)
{
    static mp_t mp;
    memset(&mp, 0, sizeof mp);
    mp.per_producer = (size_t)20000 * test_scale();
    size_t total = mp.per_producer * PRODUCERS;
    mp.nodes = nodes_new(total);
    mp.payload = calloc(total, sizeof *mp.payload);
    ck_assert_ptr_nonnull(mp.payload);
    hak_remote_init(&mp.q);
    ck_assert_int_eq(pthread_barrier_init(&mp.start, NULL, PRODUCERS + 1), 0);

    pthread_t cons, prod[PRODUCERS];
    producer_arg_t pa[PRODUCERS];
    ck_assert_int_eq(pthread_create(&cons, NULL, consumer, &mp), 0);
    for (unsigned i = 0; i < PRODUCERS; i++) {
        pa[i] = (producer_arg_t){ &mp, i };
        ck_assert_int_eq(pthread_create(&prod[i], NULL, producer, &pa[i]), 0);
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(pthread_join(prod[i], NULL), 0);
    atomic_store_explicit(&mp.producers_done, 1, memory_order_release);
    void *ret = NULL;
    ck_assert_int_eq(pthread_join(cons, &ret), 0);
    ck_assert_ptr_null(ret);
    pthread_barrier_destroy(&mp.start);

    ck_assert_msg(mp.strangers == 0, "%zu chain nodes were never pushed",
                  mp.strangers);
    ck_assert_msg(mp.duplicates == 0, "%zu nodes taken twice",
                  mp.duplicates);
    ck_assert_msg(mp.taken == total, "took %zu of %zu nodes (%zu lost)",
                  mp.taken, total, total - mp.taken);
    ck_assert_msg(mp.bad_payloads == 0,
                  "%zu nodes taken before their payload was visible",
                  mp.bad_payloads);
    ck_assert_int_eq(remote_pending(&mp.q), 0);
    ck_assert_ptr_null(hak_remote_take(&mp.q));
    free(mp.nodes);
    free(mp.payload);
}
END_TEST

/* ---- End to end through the public API ---------------------------------- */

#define FREERS 3

typedef struct e2e {
    unsigned char **blk;
    size_t *len;
    size_t n;
    int alloc_first; /* the freeing threads make a heap of their own */
    pthread_barrier_t start;
} e2e_t;

typedef struct e2e_arg {
    e2e_t *e;
    unsigned id;
    size_t bad;       /* blocks whose contents changed */
    size_t freed;
    void *heap;       /* the thread's heap while it freed */
} e2e_arg_t;

static unsigned char fill_byte(size_t i)
{
    return (unsigned char)(i * 131 + 17) | 1;
}

static void *freer(void *arg)
{
    e2e_arg_t *fa = arg;
    e2e_t *e = fa->e;
    if (e->alloc_first) {
        void *mine = hak_malloc(48);
        hak_free(mine);
    }
    fa->heap = hak_tls_heap;
    pthread_barrier_wait(&e->start);
    for (size_t i = fa->id; i < e->n; i += FREERS) {
        unsigned char *p = e->blk[i];
        unsigned char want = fill_byte(i);
        if (p[0] != want || p[e->len[i] - 1] != want ||
            p[e->len[i] / 2] != want)
            fa->bad++;
        hak_free(p);
        fa->freed++;
    }
    return NULL;
}

static void cross_thread_frees(int alloc_first)
{
    hak_free(hak_malloc(1));
    hak_heap_t *me = hak_tls_heap;
    ck_assert_ptr_nonnull(me);
    /* Start from an empty queue: nothing pending from earlier tests. */
    hak_check_heap();
    ck_assert_int_eq(remote_pending(&me->remote), 0);

    static e2e_t e;
    memset(&e, 0, sizeof e);
    e.n = (size_t)100000 * test_scale();
    e.alloc_first = alloc_first;
    e.blk = calloc(e.n, sizeof *e.blk);
    e.len = calloc(e.n, sizeof *e.len);
    ck_assert_ptr_nonnull(e.blk);
    ck_assert_ptr_nonnull(e.len);
    unsigned long long seed = 0x1234567ull + (unsigned)alloc_first;
    size_t tiny = 0, mid = 0;
    for (size_t i = 0; i < e.n; i++) {
        unsigned long long r = test_rand(&seed);
        /* 7 in 8 tiny (1..1024 bytes), the rest mid (up to 4 KiB). */
        size_t len = (r & 7) ? 1 + (r >> 8) % HAK_TINY_MAX
                             : HAK_TINY_MAX + 1 + (r >> 8) % 3072;
        e.len[i] = len;
        e.blk[i] = hak_malloc(len);
        REQ_MSG(e.blk[i] != NULL, "allocation %zu (%zu bytes) failed", i, len);
        memset(e.blk[i], fill_byte(i), len);
        if (len <= HAK_TINY_MAX)
            tiny++;
        else
            mid++;
    }
    ck_assert_uint_gt(tiny, 0);
    ck_assert_uint_gt(mid, 0);

    hak_stats_t before, after;
    hak_stats_get(&before);
    ck_assert_int_eq(pthread_barrier_init(&e.start, NULL, FREERS), 0);
    pthread_t th[FREERS];
    e2e_arg_t fa[FREERS];
    for (unsigned t = 0; t < FREERS; t++) {
        fa[t] = (e2e_arg_t){ &e, t, 0, 0, NULL };
        ck_assert_int_eq(pthread_create(&th[t], NULL, freer, &fa[t]), 0);
    }
    size_t freed = 0;
    for (unsigned t = 0; t < FREERS; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        ck_assert_msg(fa[t].bad == 0, "thread %u saw %zu damaged blocks", t,
                      fa[t].bad);
        ck_assert_ptr_ne(fa[t].heap, me);
        if (alloc_first)
            ck_assert_ptr_nonnull(fa[t].heap);
        freed += fa[t].freed;
    }
    pthread_barrier_destroy(&e.start);
    ck_assert_uint_eq(freed, e.n);
    /* Everything went to main's queue and nothing drained it yet. */
    ck_assert_int_eq(remote_pending(&me->remote), 1);
    hak_stats_t mid_stats;
    hak_stats_get(&mid_stats);
    ck_assert_uint_eq(mid_stats.drains, before.drains);

    /* Allocating again: the slow path drains the queue. */
    for (size_t i = 0; i < e.n; i++) {
        size_t len = e.len[i];
        e.blk[i] = hak_malloc(len);
        REQ_MSG(e.blk[i] != NULL, "reallocation %zu (%zu bytes) failed", i,
                len);
        memset(e.blk[i], fill_byte(i), len);
    }
    ck_assert_int_eq(remote_pending(&me->remote), 0);
    hak_stats_get(&after);
    ck_assert_msg(after.drains > before.drains, "no drain found blocks");
    ck_assert_msg(after.frees - before.frees >= e.n,
                  "frees grew by %ju < %zu: drained frees not counted",
                  (uintmax_t)(after.frees - before.frees), e.n);
    ck_assert_uint_ge(hak_check_heap(), e.n);
    for (size_t i = 0; i < e.n; i++) {
        REQ_MSG(e.blk[i][0] == fill_byte(i) &&
                  e.blk[i][e.len[i] - 1] == fill_byte(i),
                "block %zu changed while live", i);
        hak_free(e.blk[i]);
    }
    hak_check_heap();
    free(e.blk);
    free(e.len);
    /* Last, so every other check has run: each of the n frees was made by
     * a thread other than the owner and has been drained (hakmem.h), so
     * each counts once, whether or not the freeing thread ever allocated. */
    ck_assert_msg(after.remote_frees - before.remote_frees == e.n,
                  "remote_frees grew by %ju, want %zu (%s)",
                  (uintmax_t)(after.remote_frees - before.remote_frees), e.n,
                  alloc_first ? "freeing threads had heaps"
                              : "freeing threads never allocated");
}

START_TEST(e2e_freeing_threads_with_heaps)
{
    cross_thread_frees(1);
}
END_TEST

START_TEST(e2e_freeing_threads_without_heaps)
{
    cross_thread_frees(0);
}
END_TEST

void remote_cases(Suite *s)
{
    const test_row_t rows[] = {
        { "queue", empty_queue, 0, 0 },
        { "queue", single_producer_lifo, 0, 0 },
        { "queue", queue_reusable_after_take, 0, 0 },
        { "queue", remote_free_leaves_block_untouched, 0, 0 },
        { "mpsc", multi_producer, 120, 0 },
        { "e2e", e2e_freeing_threads_with_heaps, 120, 0 },
        { "e2e", e2e_freeing_threads_without_heaps, 0, 0 },
    };
    SUITE_ROWS(s, rows);
}
