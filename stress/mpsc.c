/* mpsc.c — many producers freeing into one owner that keeps allocating.
 *
 * The owner (main thread) allocates every block and hands it to one of
 * STRESS_THREADS-1 producers over a single-producer single-consumer ring;
 * the producers verify and free it, so every free is a remote push into
 * the owner's queue while the owner's refills keep draining it. */
#include <pthread.h>
#include <sched.h>

#include "common.h"

#define RING 1024

typedef struct ring {
    _Atomic(void *) slot[RING];
    _Atomic unsigned long head; /* written by the owner */
    _Atomic unsigned long tail; /* written by the producer */
    _Atomic int done;
} __attribute__((aligned(64))) ring_t;

static void *producer(void *arg)
{
    ring_t *r = arg;
    for (;;) {
        unsigned long t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (t == atomic_load_explicit(&r->head, memory_order_acquire)) {
            if (atomic_load_explicit(&r->done, memory_order_acquire) &&
                t == atomic_load_explicit(&r->head, memory_order_acquire))
                return NULL;
            sched_yield();
            continue;
        }
        void *p = atomic_load_explicit(&r->slot[t % RING], memory_order_relaxed);
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
        pay_free(p);
    }
}

int main(void)
{
    stress_init();
    params_t pa = params_get();
    unsigned np = pa.threads > 1 ? pa.threads - 1 : 1;
    ring_t *rings = aligned_alloc(64, sizeof(ring_t) * np);
    memset(rings, 0, sizeof(ring_t) * np);
    pthread_t *t = calloc(np, sizeof *t);
    for (unsigned i = 0; i < np; i++)
        pthread_create(&t[i], NULL, producer, &rings[i]);
    unsigned long long s = pa.seed;
    unsigned long done = 0;
    for (unsigned long op = 0; op < pa.ops; op++) {
        count_op(&done);
        ring_t *r = &rings[op % np];
        void *p = pay_alloc(pick_size(&s, pa.maxsize), op);
        unsigned long h = atomic_load_explicit(&r->head, memory_order_relaxed);
        while (h - atomic_load_explicit(&r->tail, memory_order_acquire) >= RING)
            sched_yield();
        atomic_store_explicit(&r->slot[h % RING], p, memory_order_relaxed);
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
    }
    for (unsigned i = 0; i < np; i++)
        atomic_store_explicit(&rings[i].done, 1, memory_order_release);
    for (unsigned i = 0; i < np; i++)
        pthread_join(t[i], NULL);
    /* The owner's next refill drains what the producers pushed last. */
    hak_free(hak_malloc(16));
    hak_check_heap();
    report_done("mpsc", pa.ops);
    free(t);
    free(rings);
    return 0;
}
