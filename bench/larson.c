/* larson — (c) server churn after Larson & Krishnan: T threads each keep an
 * array of live blocks and replace random ones; one step in R hands the
 * block to another thread instead of freeing it. Receivers put handed
 * blocks into their own arrays (freeing what was there), so blocks are
 * routinely freed by a thread other than the one that allocated them.
 *
 *   larson -t T -i STEPS_PER_THREAD [-w SLOTS] [-m MIN] [-M MAX] [-R R]
 *
 * Handed blocks travel through a per-thread lock-free stack (push by CAS,
 * the owner takes the whole stack by exchange). Every block carries a tag
 * (size and a random stamp) and a pattern checked before each free; the sum
 * of the tags freed must equal the sum allocated (nothing lost, nothing
 * freed twice). ops = blocks allocated, ops_per_sec over the wall time. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static const char help[] =
    "  -t T      threads (4)\n"
    "  -i N      steps per thread (2M)\n"
    "  -w W      live blocks per thread (1000)\n"
    "  -m MIN    smallest size (16)\n"
    "  -M MAX    largest size (512)\n"
    "  -R R      one step in R hands a block to another thread (8)\n"
    "  -S SEED   seed (1)\n";

typedef struct {
    _Alignas(CACHE_LINE) _Atomic(void *) inbox;
    _Alignas(CACHE_LINE) int id;
    pthread_t tid;
    uint64_t allocated, freed; /* tag sums */
    uint64_t nalloc, handed, received;
} worker_t;

static opts_t o;
static worker_t *workers;
static pthread_barrier_t start_bar, end_bar;

#define LINK(p) (((void **)(p))[1])

static void hand(worker_t *to, void *blk)
{
    void *old = atomic_load_explicit(&to->inbox, memory_order_relaxed);
    do
        LINK(blk) = old;
    while (!atomic_compare_exchange_weak_explicit(
        &to->inbox, &old, blk, memory_order_release, memory_order_relaxed));
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    rng_t r, rd; /* rd: slots for received blocks (timing-dependent) */
    rng_seed(&r, o.seed, (uint64_t)w->id);
    rng_seed(&rd, o.seed, 1000000 + (uint64_t)w->id);
    void **slots = malloc(o.window * sizeof *slots);
    if (!slots)
        die("malloc failed");
    for (size_t j = 0; j < o.window; j++) {
        uint64_t x = rng_next(&r);
        slots[j] = tagged_new(rng_range(&r, o.min, o.max), x);
        w->allocated += ((uint64_t *)slots[j])[0];
        w->nalloc++;
    }
    pthread_barrier_wait(&start_bar);

    for (uint64_t i = 0; i < o.iters; i++) {
        uint64_t x = rng_next(&r);
        size_t j = (size_t)(((unsigned __int128)x * o.window) >> 64);
        if (o.threads > 1 && (x & 0xffff) % o.every == 0) {
            int to = (int)rng_range(&r, 0, (uint64_t)o.threads - 2);
            if (to >= w->id)
                to++;
            hand(&workers[to], slots[j]);
            w->handed++;
        } else {
            w->freed += tagged_free(slots[j], "larson");
        }
        slots[j] = tagged_new(rng_range(&r, o.min, o.max), x >> 16);
        w->allocated += ((uint64_t *)slots[j])[0];
        w->nalloc++;

        if ((i & 63) == 63) {
            void *b = atomic_exchange_explicit(&w->inbox, NULL,
                                               memory_order_acquire);
            while (b) {
                void *next = LINK(b);
                size_t k = (size_t)rng_range(&rd, 0, o.window - 1);
                w->freed += tagged_free(slots[k], "larson");
                slots[k] = b;
                w->received++;
                b = next;
            }
        }
    }

    pthread_barrier_wait(&end_bar); /* nobody hands blocks any more */
    void *b = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
    while (b) {
        void *next = LINK(b);
        w->freed += tagged_free(b, "larson");
        w->received++;
        b = next;
    }
    for (size_t j = 0; j < o.window; j++)
        w->freed += tagged_free(slots[j], "larson");
    free(slots);
    return NULL;
}

int main(int argc, char **argv)
{
    o = (opts_t){.iters = 2000000, .min = 16, .max = 512, .threads = 4,
                 .seed = 1, .window = 1000, .every = 8};
    parse_opts(argc, argv, &o, help);
    if (o.window == 0 || o.min < 16 || o.max > 65535 || o.every == 0)
        usage(argv[0], help);

    workers = aligned_alloc(CACHE_LINE, (size_t)o.threads * sizeof *workers);
    if (!workers)
        die("aligned_alloc failed");
    memset(workers, 0, (size_t)o.threads * sizeof *workers);
    pthread_barrier_init(&start_bar, NULL, (unsigned)o.threads + 1);
    pthread_barrier_init(&end_bar, NULL, (unsigned)o.threads);
    for (int i = 0; i < o.threads; i++) {
        workers[i].id = i;
        if (pthread_create(&workers[i].tid, NULL, worker, &workers[i]))
            die("pthread_create failed");
    }
    pthread_barrier_wait(&start_bar);
    double t0 = now_s();
    for (int i = 0; i < o.threads; i++)
        pthread_join(workers[i].tid, NULL);
    double t = now_s() - t0;

    uint64_t alloc = 0, freed = 0, nalloc = 0, handed = 0, received = 0;
    for (int i = 0; i < o.threads; i++) {
        alloc += workers[i].allocated;
        freed += workers[i].freed;
        nalloc += workers[i].nalloc;
        handed += workers[i].handed;
        received += workers[i].received;
    }
    if (alloc != freed || handed != received)
        die("larson: tag sums differ (allocated %016llx, freed %016llx; "
            "handed %llu, received %llu)",
            (unsigned long long)alloc, (unsigned long long)freed,
            (unsigned long long)handed, (unsigned long long)received);
    free(workers);
    result("larson", nalloc, t, alloc, "threads=%d handed=%llu", o.threads,
           (unsigned long long)handed);
    return 0;
}
