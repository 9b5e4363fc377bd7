/* exits.c — threads that end continuously, most of them allocating in
 * pthread key destructors, up to the last round of destructors.
 *
 * STRESS_THREADS threads are alive at any time, until STRESS_SECONDS are
 * up; each does a short run of exchanges on a shared table (so its blocks
 * outlive it and are freed by others), sets its keys and exits, and main
 * replaces it at once. Two keys whose destructors allocate: one created
 * before hakmem's own key (a constructor that runs before hakmem's), one
 * after. A destructor allocates and frees in every tier, leaves a block in
 * the table, and sets its key again until PTHREAD_DESTRUCTOR_ITERATIONS
 * rounds have run, so it also allocates in the last round, after hakmem's
 * own destructor gave the thread's heap back. One thread in four sets no
 * key. Every thread exit must still give its heap back: mapped memory and
 * the number of mappings must level off (ci/soak.sh watches them).
 */
#include <limits.h>
#include <pthread.h>

#include "common.h"

#define SLOTS 4096
#define RUN 512 /* table operations per thread life */

static _Atomic(void *) table[SLOTS];
static params_t pa;
static _Atomic unsigned long total_ops;
static _Atomic unsigned long last_round_allocs;
static pthread_key_t key_early, key_late;

static void table_op(unsigned long long *s)
{
    size_t n = pick_tier_size(s);
    table_put(table, SLOTS, pay_alloc(n < 16 ? 16 + n : n, rng(s)), s);
}

/* The key's value: a block whose stamp holds the round it was set for. */
static void destructor(pthread_key_t key, void *v)
{
    const payload_t *pv = v;
    uint64_t round = pv->stamp & 0xff;
    unsigned long long s = pv->stamp | 1;
    pay_free(v);
    for (unsigned i = 0; i < 8; i++) {
        void *p = hak_malloc(i);
        if (!p)
            abort();
        hak_free(p);
        table_op(&s);
    }
    atomic_fetch_add_explicit(&total_ops, 8, memory_order_relaxed);
    if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {
        pthread_setspecific(key, pay_alloc(24 + 1000 * round, (rng(&s) << 8) | (round + 1)));
    } else {
        /* The last round: no later one would see a value set now. */
        atomic_fetch_add_explicit(&last_round_allocs, 1, memory_order_relaxed);
        table_op(&s);
    }
}

static void destroy_early(void *v) { destructor(key_early, v); }
static void destroy_late(void *v) { destructor(key_late, v); }

/* Priority 101 runs before constructors without one, hakmem's included:
 * this key comes before hakmem's in every destructor round. */
__attribute__((constructor(101))) static void create_early(void)
{
    if (pthread_key_create(&key_early, destroy_early) != 0)
        abort();
}

static void *life(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    unsigned long long s = pa.seed * 0x9e3779b97f4a7c15ull + n;
    unsigned long done = 0;
    for (unsigned i = 0; i < RUN; i++) {
        count_op(&done);
        table_op(&s);
    }
    atomic_fetch_add_explicit(&total_ops, done, memory_order_relaxed);
    if (n % 4 != 3) {
        pthread_setspecific(key_early, pay_alloc(40, (rng(&s) << 8) | 1));
        pthread_setspecific(key_late, pay_alloc(5000, (rng(&s) << 8) | 1));
    }
    return NULL;
}

int main(void)
{
    soak_init();
    pa = params_get();
    double deadline = run_deadline();
    /* hakmem's constructor has created its key: this one comes after. */
    if (pthread_key_create(&key_late, destroy_late) != 0)
        abort();
    pthread_t *t = calloc(pa.threads, sizeof *t);
    unsigned long lives = 0;
    for (; lives < pa.threads; lives++)
        pthread_create(&t[lives], NULL, life, (void *)lives);
    for (unsigned k = 0; now_seconds() < deadline; k = (k + 1) % pa.threads) {
        pthread_join(t[k], NULL);
        pthread_create(&t[k], NULL, life, (void *)lives++);
    }
    for (unsigned k = 0; k < pa.threads; k++)
        pthread_join(t[k], NULL);
    table_free_every(table, SLOTS, 1);
    hak_check_heap();
    hak_malloc_trim(0);
    printf("exits: %lu thread exits, %lu allocating in the last destructor round\n",
           lives, atomic_load(&last_round_allocs));
    report_done("exits", atomic_load(&total_ops));
    free(t);
    return 0;
}
