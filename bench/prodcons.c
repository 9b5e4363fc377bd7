/* prodcons — (d) producer/consumer: every free is remote. P pairs of
 * threads; each producer allocates blocks and passes them through a
 * lock-free single-producer single-consumer ring to its consumer, which
 * verifies and frees them.
 *
 *   prodcons -i BLOCKS_TOTAL [-t PAIRS] [-w RING] [-m MIN] [-M MAX]
 *
 * Waiting (ring full or empty) spins with pause and yields after a while,
 * never sleeps on a futex: the futex calls counted under strace in the
 * runner's futex mode are the allocator's (plus thread start and join).
 * ops = blocks passed; the tag sums of each pair must agree. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common.h"

static const char help[] =
    "  -i N      blocks in total, split over the pairs (8M)\n"
    "  -t P      producer/consumer pairs (nproc/2, at least 1)\n"
    "  -w RING   ring capacity, a power of two (1024)\n"
    "  -m MIN    smallest size (16)\n"
    "  -M MAX    largest size (256)\n"
    "  -S SEED   seed (1)\n";

typedef struct {
    _Alignas(CACHE_LINE) _Atomic uint64_t head; /* written by the producer */
    _Alignas(CACHE_LINE) _Atomic uint64_t tail; /* written by the consumer */
    _Alignas(CACHE_LINE) void **ring;
    uint64_t n;
    int id;
    pthread_t prod, cons;
    uint64_t produced_sum, consumed_sum;
} pair_t;

static opts_t o;
static size_t mask;

static inline void wait_a_bit(unsigned *spins)
{
    if (++*spins < 128)
        __builtin_ia32_pause();
    else {
        sched_yield();
        *spins = 0;
    }
}

static void *producer(void *arg)
{
    pair_t *p = arg;
    rng_t r;
    rng_seed(&r, o.seed, (uint64_t)p->id);
    uint64_t head = 0, sum = 0;
    for (uint64_t i = 0; i < p->n; i++) {
        uint64_t x = rng_next(&r);
        void *b = tagged_new(o.min + (size_t)(((unsigned __int128)x *
                                               (o.max - o.min + 1)) >> 64),
                             x >> 16);
        sum += ((uint64_t *)b)[0];
        unsigned spins = 0;
        while (head - atomic_load_explicit(&p->tail, memory_order_acquire) > mask)
            wait_a_bit(&spins);
        p->ring[head & mask] = b;
        atomic_store_explicit(&p->head, ++head, memory_order_release);
    }
    p->produced_sum = sum;
    return NULL;
}

static void *consumer(void *arg)
{
    pair_t *p = arg;
    uint64_t tail = 0, sum = 0;
    while (tail < p->n) {
        unsigned spins = 0;
        uint64_t head;
        while ((head = atomic_load_explicit(&p->head, memory_order_acquire)) == tail)
            wait_a_bit(&spins);
        while (tail < head) {
            sum += tagged_free(p->ring[tail & mask], "prodcons");
            tail++;
            if ((tail & 31) == 0)
                atomic_store_explicit(&p->tail, tail, memory_order_release);
        }
        atomic_store_explicit(&p->tail, tail, memory_order_release);
    }
    p->consumed_sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    int pairs = ncpus() / 2;
    o = (opts_t){.iters = 8000000, .min = 16, .max = 256,
                 .threads = pairs > 0 ? pairs : 1, .seed = 1, .window = 1024};
    parse_opts(argc, argv, &o, help);
    if (o.window < 2 || (o.window & (o.window - 1)) || o.min < 16 ||
        o.max > 65535)
        usage(argv[0], help);
    mask = o.window - 1;

    pair_t *ps = aligned_alloc(CACHE_LINE, (size_t)o.threads * sizeof *ps);
    if (!ps)
        die("aligned_alloc failed");
    memset(ps, 0, (size_t)o.threads * sizeof *ps);
    for (int i = 0; i < o.threads; i++) {
        ps[i].id = i;
        ps[i].n = o.iters / (uint64_t)o.threads +
                  ((uint64_t)i < o.iters % (uint64_t)o.threads);
        ps[i].ring = aligned_alloc(CACHE_LINE, o.window * sizeof(void *));
        if (!ps[i].ring)
            die("aligned_alloc failed");
    }
    double t0 = now_s();
    for (int i = 0; i < o.threads; i++)
        if (pthread_create(&ps[i].cons, NULL, consumer, &ps[i]) ||
            pthread_create(&ps[i].prod, NULL, producer, &ps[i]))
            die("pthread_create failed");
    for (int i = 0; i < o.threads; i++) {
        pthread_join(ps[i].prod, NULL);
        pthread_join(ps[i].cons, NULL);
    }
    double t = now_s() - t0;

    uint64_t sum = 0;
    for (int i = 0; i < o.threads; i++) {
        if (ps[i].produced_sum != ps[i].consumed_sum)
            die("prodcons: pair %d: produced tag sum %016llx, consumed %016llx",
                i, (unsigned long long)ps[i].produced_sum,
                (unsigned long long)ps[i].consumed_sum);
        sum += ps[i].produced_sum;
        free(ps[i].ring);
    }
    free(ps);
    result("prodcons", o.iters, t, sum, "pairs=%d ring=%zu", o.threads, o.window);
    return 0;
}
