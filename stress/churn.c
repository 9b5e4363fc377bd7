/* churn.c — threads created and destroyed continuously; owners exit while
 * other threads still free their blocks.
 *
 * STRESS_THREADS threads are alive at any time; each does a short run of
 * exchanges on a shared table and exits, and main replaces it at once. So
 * blocks outlive their owners all the time, remote frees land in abandoned
 * heaps, and new threads adopt those heaps with frees in flight. At the
 * end every block is freed and trimmed: mapped memory must come back down.
 */
#include <pthread.h>

#include "common.h"

#define SLOTS 4096
#define RUN 2048 /* operations per thread life */

static _Atomic(void *) table[SLOTS];
static params_t pa;

static void *life(void *arg)
{
    unsigned long long s = pa.seed * 7919u + (uintptr_t)arg;
    unsigned long done = 0;
    for (unsigned i = 0; i < RUN; i++) {
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
    unsigned long lives = pa.ops / RUN;
    if (lives < pa.threads)
        lives = pa.threads;
    pthread_t *t = calloc(pa.threads, sizeof *t);
    for (unsigned long i = 0; i < lives; i++) {
        unsigned k = (unsigned)(i % pa.threads);
        if (i >= pa.threads)
            pthread_join(t[k], NULL);
        pthread_create(&t[k], NULL, life, (void *)(uintptr_t)i);
    }
    for (unsigned k = 0; k < pa.threads; k++)
        pthread_join(t[k], NULL);
    table_free_every(table, SLOTS, 1);
    hak_check_heap();
    hak_malloc_trim(0);
    hak_stats_t st;
    hak_stats_get(&st);
    /* Everything is free and trimmed: what stays mapped is heap records
     * and at most a few spare pages, not the peak. */
    if (st.mapped_bytes > (16u << 20) && st.mapped_bytes > st.peak_mapped_bytes / 4) {
        fprintf(stderr, "churn: %llu bytes still mapped after trim (peak %llu)\n",
                (unsigned long long)st.mapped_bytes,
                (unsigned long long)st.peak_mapped_bytes);
        return 1;
    }
    report_done("churn", lives * RUN);
    free(t);
    return 0;
}
