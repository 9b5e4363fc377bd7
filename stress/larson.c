/* larson.c — all-to-all cross-thread frees, server style.
 *
 * Threads replace random blocks in one shared table with atomic exchanges:
 * the block a thread frees was most often allocated by another thread, so
 * frees are remote in every direction at once, racing with refills and
 * drains everywhere. */
#include <pthread.h>

#include "common.h"

#define SLOTS 8192

static _Atomic(void *) table[SLOTS];
static params_t pa;

static void *worker(void *arg)
{
    unsigned long long s = pa.seed * 1000003u + (uintptr_t)arg;
    unsigned long ops = pa.ops / pa.threads, done = 0;
    for (unsigned long i = 0; i < ops; i++) {
        count_op(&done);
        void *p = pay_alloc(pick_size(&s, pa.maxsize), rng(&s));
        table_put(table, SLOTS, p, &s);
    }
    return NULL;
}

int main(void)
{
    stress_init();
    pa = params_get();
    pthread_t *t = calloc(pa.threads, sizeof *t);
    for (unsigned i = 0; i < pa.threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < pa.threads; i++)
        pthread_join(t[i], NULL);
    table_free_every(table, SLOTS, 1);
    hak_check_heap();
    report_done("larson", pa.ops / pa.threads * pa.threads);
    free(t);
    return 0;
}
