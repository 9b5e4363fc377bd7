/* test_remote.c — the MPSC remote-free queue on its own (blocks we own,
 * not the allocator's), under contention, and end to end: blocks one
 * thread allocates and others free come back through the owner's drain. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#include "heap.h"
#include "remote.h"
#include "size_class.h"
#include "slab.h"

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond))                                                          \
            ck_abort_msg(__VA_ARGS__);                                        \
    } while (0)

/* A queue node: a block header and a payload the producer writes before
 * the push, so the consumer can see that the release/acquire pair carried
 * it along. 64 bytes, like a small block. */
typedef struct node {
    hak_block_t b;
    uint64_t payload;
    uint64_t producer;
    uint8_t pad[32];
} __attribute__((aligned(64))) node_t;

_Static_assert(sizeof(node_t) == 64, "64-byte nodes");

#define KEY 0x5eed1234abcd8765ull

/* remote_push writes tags with hak_g.tag_key: initialise the allocator. */
static void init_allocator(void)
{
    hak_free(hak_malloc(1));
    ck_assert_msg(hak_g.tag_key != 0, "tag key not initialised");
}

static node_t *nodes_new(size_t n)
{
    node_t *v = aligned_alloc(64, n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    memset(v, 0, n * sizeof *v);
    return v;
}

/* ---- Single producer ---------------------------------------------------- */

START_TEST(empty_queue)
{
    init_allocator();
    static hak_remote_queue_t q;
    remote_init(&q, KEY);
    ck_assert_int_eq(remote_pending(&q), 0);
    ck_assert_ptr_null(remote_take(&q));
    ck_assert_ptr_null(remote_take(&q));
    ck_assert_int_eq(remote_pending(&q), 0);
    ck_assert_uint_eq(q.key, KEY);
}
END_TEST

START_TEST(single_producer_lifo)
{
    init_allocator();
    const size_t n = 1000;
    node_t *v = nodes_new(n);
    static hak_remote_queue_t q;
    remote_init(&q, KEY);
    for (size_t i = 0; i < n; i++) {
        remote_push(&q, &v[i].b);
        CHECK(remote_pending(&q), "not pending after push %zu", i);
    }
    hak_block_t *chain = remote_take(&q);
    ck_assert_ptr_eq(chain, &v[n - 1].b);
    ck_assert_int_eq(remote_pending(&q), 0);
    ck_assert_ptr_null(remote_take(&q));
    /* Newest first: n-1, n-2, ..., 0, then the end. */
    size_t seen = 0;
    for (hak_block_t *b = chain; b; b = remote_next(&q, b)) {
        CHECK(seen < n, "chain longer than %zu nodes", n);
        CHECK(b == &v[n - 1 - seen].b, "node %zu of the chain is %p, want %p",
              seen, (void *)b, (void *)&v[n - 1 - seen].b);
        seen++;
    }
    ck_assert_uint_eq(seen, n);
    free(v);
}
END_TEST

START_TEST(push_tags_and_links)
{
    init_allocator();
    const size_t n = 64;
    node_t *v = nodes_new(n);
    static hak_remote_queue_t q;
    remote_init(&q, KEY);
    for (size_t i = 0; i < n; i++) {
        v[i].b.tag = 0; /* as a live block's */
        remote_push(&q, &v[i].b);
        hak_block_t *b = &v[i].b;
        CHECK(b->tag == tag_remote(b), "node %zu: tag %#jx, want %#jx", i,
              (uintmax_t)b->tag, (uintmax_t)tag_remote(b));
        CHECK(b->tag != tag_free(b), "remote tag equals the free tag");
        CHECK(tag_is_free(b), "a queued node must read as free");
        /* The link is encoded with the queue key and the node address:
         * never the plain pointer of the next node. */
        hak_block_t *next = i ? &v[i - 1].b : NULL;
        CHECK(b->link == block_encode(b, next, KEY),
              "node %zu: link %#jx, want %#jx", i, (uintmax_t)b->link,
              (uintmax_t)block_encode(b, next, KEY));
        CHECK(b->link != (uintptr_t)next, "node %zu: link not encoded", i);
        CHECK(remote_next(&q, b) == next, "node %zu: next decodes wrong", i);
    }
    /* A chain decodes with its own queue's key only. */
    static hak_remote_queue_t other;
    remote_init(&other, KEY ^ 0x10000);
    ck_assert_ptr_ne(remote_next(&other, &v[n - 1].b), &v[n - 2].b);
    hak_block_t *chain = remote_take(&q);
    ck_assert_ptr_eq(chain, &v[n - 1].b);
    /* Taking does not touch the nodes: the tags are still remote. */
    for (size_t i = 0; i < n; i++)
        CHECK(v[i].b.tag == tag_remote(&v[i].b), "node %zu retagged by take",
              i);
    free(v);
}
END_TEST

START_TEST(queue_reusable_after_take)
{
    init_allocator();
    node_t *v = nodes_new(8);
    static hak_remote_queue_t q;
    remote_init(&q, KEY);
    remote_push(&q, &v[0].b);
    remote_push(&q, &v[1].b);
    remote_push(&q, &v[2].b);
    hak_block_t *c1 = remote_take(&q);
    ck_assert_ptr_eq(c1, &v[2].b);
    ck_assert_int_eq(remote_pending(&q), 0);
    /* Push again, including a node that was in the first chain. */
    remote_push(&q, &v[5].b);
    remote_push(&q, &v[1].b);
    ck_assert_int_eq(remote_pending(&q), 1);
    hak_block_t *c2 = remote_take(&q);
    ck_assert_ptr_eq(c2, &v[1].b);
    ck_assert_ptr_eq(remote_next(&q, c2), &v[5].b);
    ck_assert_ptr_null(remote_next(&q, &v[5].b));
    ck_assert_ptr_null(remote_take(&q));
    /* One node alone. */
    remote_push(&q, &v[7].b);
    hak_block_t *c3 = remote_take(&q);
    ck_assert_ptr_eq(c3, &v[7].b);
    ck_assert_ptr_null(remote_next(&q, c3));
    free(v);
}
END_TEST

/* ---- Many producers, one consumer --------------------------------------- */

#define PRODUCERS 4
#define ROUND 250

typedef struct mp {
    hak_remote_queue_t q;
    node_t *nodes;
    size_t per_producer;
    pthread_barrier_t start;
    _Atomic unsigned arrived; /* producers at the current round */
    _Atomic int producers_done;
    /* consumer results */
    size_t taken, takes, duplicates, strangers, bad_tags, bad_payloads;
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
        node_t *n = &mp->nodes[first + i];
        /* Plain writes before the push: the release must publish them. */
        n->payload = payload_of(first + i);
        n->producer = pa->id;
        remote_push(&mp->q, &n->b);
    }
    return NULL;
}

static void consume_chain(mp_t *mp, hak_block_t *chain, uint8_t *seen,
                          size_t total)
{
    size_t len = 0;
    for (hak_block_t *b = chain; b; b = remote_next(&mp->q, b)) {
        uintptr_t a = (uintptr_t)b, base = (uintptr_t)mp->nodes;
        if (a < base || a >= base + total * sizeof(node_t) ||
            (a - base) % sizeof(node_t)) {
            mp->strangers++;
            return; /* cannot follow a link out of a stranger */
        }
        size_t idx = (a - base) / sizeof(node_t);
        if (seen[idx]++) {
            mp->duplicates++;
            return; /* a cycle would never end */
        }
        node_t *n = &mp->nodes[idx];
        if (b->tag != tag_remote(b))
            mp->bad_tags++;
        if (n->payload != payload_of(idx) ||
            n->producer != idx / mp->per_producer)
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
        hak_block_t *chain = remote_take(&mp->q);
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
    init_allocator();
    static mp_t mp;
    memset(&mp, 0, sizeof mp);
    mp.per_producer = (size_t)100000 * test_scale();
    size_t total = mp.per_producer * PRODUCERS;
    mp.nodes = nodes_new(total);
    remote_init(&mp.q, KEY);
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
    ck_assert_msg(mp.bad_tags == 0, "%zu nodes without the remote tag",
                  mp.bad_tags);
    ck_assert_msg(mp.bad_payloads == 0,
                  "%zu nodes taken before their payload was visible",
                  mp.bad_payloads);
    ck_assert_int_eq(remote_pending(&mp.q), 0);
    ck_assert_ptr_null(remote_take(&mp.q));
    free(mp.nodes);
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
        CHECK(e.blk[i] != NULL, "allocation %zu (%zu bytes) failed", i, len);
        memset(e.blk[i], fill_byte(i), len);
        if (len + HAK_SLACK_MIN <= HAK_TINY_MAX)
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
        CHECK(e.blk[i] != NULL, "reallocation %zu (%zu bytes) failed", i,
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
        CHECK(e.blk[i][0] == fill_byte(i) &&
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

Suite *remote_suite(void)
{
    Suite *s = suite_create("remote");
    TCase *q = tcase_create("queue");
    tcase_add_test(q, empty_queue);
    tcase_add_test(q, single_producer_lifo);
    tcase_add_test(q, push_tags_and_links);
    tcase_add_test(q, queue_reusable_after_take);
    suite_add_tcase(s, q);
    TCase *mp = tcase_create("mpsc");
    tcase_set_timeout(mp, 120);
    tcase_add_test(mp, multi_producer);
    suite_add_tcase(s, mp);
    TCase *e2e = tcase_create("e2e");
    tcase_set_timeout(e2e, 120);
    tcase_add_test(e2e, e2e_freeing_threads_with_heaps);
    tcase_add_test(e2e, e2e_freeing_threads_without_heaps);
    suite_add_tcase(s, e2e);
    return s;
}
