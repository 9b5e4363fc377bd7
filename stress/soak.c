/* soak.c — the mixed workload of the soak: every tier and entry point at
 * once, for STRESS_SECONDS, with threads created and destroyed throughout.
 *
 * STRESS_THREADS workers share a table of blocks (atomic exchanges, so
 * most frees are cross-thread) and each lives a random number of
 * operations before main replaces it, leaving its blocks to the others.
 * An operation is one of: malloc, calloc (zeroes checked) or an aligned
 * allocation (posix_memalign, aligned_alloc, memalign; alignment checked)
 * of a tiny, mid or large size into the table; a realloc growing or
 * shrinking a table block across tiers (the moved bytes checked), or to
 * zero; a block under 16 bytes or malloc(0) kept in a per-thread ring; a
 * plain free; and now and then malloc_trim. Every block's pattern is
 * verified before it is freed or reallocated. The live set is bounded by
 * the table, so mapped memory must level off (ci/soak.sh watches it).
 */
#include <pthread.h>

#include "common.h"

#define SLOTS 2048
#define RING 64

static _Atomic(void *) table[SLOTS];
static params_t pa;
static double deadline;
static _Atomic int stop;
static _Atomic unsigned long total_ops;

/* A table block: at least 16 bytes (its payload header), any tier. */
static size_t table_size(unsigned long long *s)
{
    size_t n = pick_tier_size(s);
    return n < 16 ? 16 + n : n;
}

static int all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n && i < 256; i++)
        if (b[i])
            return 0;
    for (size_t i = 256; i < n; i += 4093) /* a byte of every page */
        if (b[i])
            return 0;
    for (size_t i = n > 256 ? n - 256 : 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static _Noreturn void die(const char *what, size_t n, size_t align)
{
    fprintf(stderr, "soak: %s(%zu, align %zu) failed\n", what, n, align);
    abort();
}

/* A new table block from one of the entry points. */
static void *alloc_any(unsigned long long *s)
{
    size_t n = table_size(s);
    unsigned long long r = rng(s);
    size_t align = (size_t)16 << (r >> 8) % 13; /* 16 B .. 64 KiB */
    void *p;
    switch (r % 8) {
    case 0: {
        size_t count = 1 + (size_t)((r >> 20) % 4), size = n / count + 16;
        n = count * size;
        align = 16;
        p = hak_calloc(count, size);
        if (!p)
            die("calloc", n, 0);
        if (!all_zero(p, n)) {
            fprintf(stderr, "soak: calloc(%zu, %zu) = %p not zeroed\n", count, size, p);
            abort();
        }
        break;
    }
    case 1:
        if (hak_posix_memalign(&p, align, n))
            die("posix_memalign", n, align);
        break;
    case 2:
        p = hak_aligned_alloc(align, n);
        break;
    case 3:
        p = hak_memalign(align, n);
        break;
    default:
        align = 16; /* every block is 16-byte aligned (hakmem.h) */
        p = hak_malloc(n);
        break;
    }
    if (!p)
        die("allocation", n, align);
    if ((uintptr_t)p % align) {
        fprintf(stderr, "soak: %p is not aligned to %zu\n", p, align);
        abort();
    }
    pay_fill(p, n, rng(s));
    return p;
}

/* Grows or shrinks a table block to any tier, or frees it with
 * realloc(p, 0) (which returns NULL: see hakmem.h). */
static void resize(unsigned long long *s)
{
    unsigned i = (unsigned)(rng(s) % SLOTS);
    void *p = atomic_exchange_explicit(&table[i], NULL, memory_order_acq_rel);
    if (!p)
        return;
    pay_check(p);
    if (rng(s) % 64 == 0) {
        if (hak_realloc(p, 0) != NULL) {
            fprintf(stderr, "soak: realloc(%p, 0) returned a block\n", p);
            abort();
        }
        return;
    }
    size_t m = table_size(s);
    void *q = hak_realloc(p, m);
    if (!q)
        die("realloc", m, 0);
    pay_check_moved(q, m);
    pay_fill(q, m, rng(s));
    table_put(table, SLOTS, q, s);
}

typedef struct ring {
    uint8_t *p[RING];
    size_t n[RING];
} ring_t;

/* A block under 16 bytes or malloc(0) into the thread's ring; its slot
 * number is its stamp. */
static void small(ring_t *rg, unsigned long long *s)
{
    unsigned k = (unsigned)(rng(s) % RING);
    if (rg->p[k])
        small_check_free(rg->p[k], rg->n[k], k);
    size_t n = (size_t)(rng(s) % 16);
    rg->p[k] = hak_malloc(n);
    if (!rg->p[k])
        die("malloc", n, 0);
    rg->n[k] = n;
    small_fill(rg->p[k], n, k);
}

static void *worker(void *arg)
{
    unsigned long long s = pa.seed * 6364136223846793005ull + (uintptr_t)arg;
    unsigned long life = 20000 + (unsigned long)(rng(&s) % 200000), done = 0;
    ring_t rg;
    memset(&rg, 0, sizeof rg);
    for (unsigned long i = 0;
         i < life && !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        count_op(&done);
        unsigned r = (unsigned)(rng(&s) % 100);
        if (r < 50)
            table_put(table, SLOTS, alloc_any(&s), &s);
        else if (r < 70)
            resize(&s);
        else if (r < 90)
            small(&rg, &s);
        else {
            void *p = atomic_exchange_explicit(&table[rng(&s) % SLOTS], NULL,
                                               memory_order_acq_rel);
            if (p)
                pay_free(p);
        }
        if (rng(&s) % 65536 == 0)
            hak_malloc_trim(0);
    }
    for (unsigned k = 0; k < RING; k++)
        if (rg.p[k])
            small_check_free(rg.p[k], rg.n[k], k);
    atomic_fetch_add_explicit(&total_ops, done, memory_order_relaxed);
    return NULL;
}

int main(void)
{
    soak_init();
    pa = params_get();
    deadline = run_deadline();
    pthread_t *t = calloc(pa.threads, sizeof *t);
    unsigned long lives = 0;
    for (; lives < pa.threads; lives++)
        pthread_create(&t[lives], NULL, worker, (void *)(uintptr_t)lives);
    /* Replace each worker as it ends, until the time is up. */
    for (unsigned k = 0; now_seconds() < deadline; k = (k + 1) % pa.threads) {
        pthread_join(t[k], NULL);
        pthread_create(&t[k], NULL, worker, (void *)(uintptr_t)lives++);
    }
    atomic_store(&stop, 1);
    for (unsigned k = 0; k < pa.threads; k++)
        pthread_join(t[k], NULL);
    table_free_every(table, SLOTS, 1);
    hak_check_heap();
    hak_malloc_trim(0);
    printf("soak: %lu threads\n", lives);
    report_done("soak", atomic_load(&total_ops));
    free(t);
    return 0;
}
