/* common.h — what every stress program shares: parameters from the
 * environment, a seeded generator, and payloads verified on every free.
 *
 *   STRESS_THREADS  worker threads (default 4)
 *   STRESS_OPS      operations in total (default 1000000)
 *   STRESS_SEED     seed (default 1)
 *   STRESS_MAXSIZE  largest block (default 4096; up to mid and large sizes)
 *
 * The same program is the smoke run, the CI gate (1M operations) and the
 * soak (more). It links the prefixed core: under TSan the sanitizer keeps
 * its own malloc and sees hakmem's atomics and plain accesses as they are.
 */
#ifndef HAK_STRESS_COMMON_H
#define HAK_STRESS_COMMON_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hakmem.h"

#include "types.h" /* HAK_MID_MAX: the largest request slabs serve */

typedef struct params {
    unsigned threads;
    unsigned long ops;
    unsigned long long seed;
    size_t maxsize;
} params_t;

static inline unsigned long env_num(const char *name, unsigned long def)
{
    const char *v = getenv(name);
    return v && *v ? strtoul(v, NULL, 0) : def;
}

static inline params_t params_get(void)
{
    params_t p;
    p.threads = (unsigned)env_num("STRESS_THREADS", 4);
    p.ops = env_num("STRESS_OPS", 1000000);
    p.seed = env_num("STRESS_SEED", 1);
    p.maxsize = env_num("STRESS_MAXSIZE", 4096);
    if (p.threads < 1)
        p.threads = 1;
    if (p.maxsize < 16)
        p.maxsize = 16;
    return p;
}

static inline unsigned long long rng(unsigned long long *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Mostly small sizes, sometimes up to maxsize. */
static inline size_t pick_size(unsigned long long *s, size_t maxsize)
{
    unsigned long long r = rng(s);
    size_t cap = (r & 7) ? (maxsize < 256 ? maxsize : 256) : maxsize;
    size_t n = (size_t)(r >> 8) % cap;
    return n < 16 ? 16 : n;
}

/* A payload: its size and a stamp in the first 16 bytes, the rest derived
 * from the stamp (only the first and last 64 bytes, to keep the check
 * cheaper than the allocator it checks). */
typedef struct payload {
    uint64_t size;
    uint64_t stamp;
} payload_t;

static inline uint8_t pay_byte(uint64_t stamp, size_t i)
{
    return (uint8_t)(stamp >> (i % 7 * 8)) ^ (uint8_t)i;
}

static inline void *pay_alloc(size_t n, uint64_t stamp)
{
    payload_t *p = hak_malloc(n);
    if (!p) {
        fprintf(stderr, "stress: malloc(%zu) failed\n", n);
        abort();
    }
    p->size = n;
    p->stamp = stamp;
    uint8_t *b = (uint8_t *)p;
    for (size_t i = sizeof *p; i < n && i < 64; i++)
        b[i] = pay_byte(stamp, i);
    for (size_t i = n > 64 ? n - 64 : n; i < n; i++)
        if (i >= sizeof *p)
            b[i] = pay_byte(stamp, i);
    return p;
}

static inline void pay_check(const void *q)
{
    const payload_t *p = q;
    const uint8_t *b = q;
    size_t n = p->size;
    int bad = n < 16 || n > (1u << 30);
    for (size_t i = sizeof *p; !bad && i < n && i < 64; i++)
        bad = b[i] != pay_byte(p->stamp, i);
    for (size_t i = n > 64 ? n - 64 : n; !bad && i < n; i++)
        bad = i >= sizeof *p && b[i] != pay_byte(p->stamp, i);
    if (bad) {
        fprintf(stderr, "stress: payload of %p (size %zu) damaged\n", q, n);
        abort();
    }
}

static inline void pay_free(void *q)
{
    pay_check(q);
    hak_free(q);
}

/* ---- The shared table: blocks any thread may free --------------------- */
/* Each program has its own table of n slots; a block put in a slot is
 * freed by whichever thread next hits that slot (often another thread:
 * the cross-thread frees), its payload checked first. */
static inline void table_put(_Atomic(void *) *t, unsigned n, void *p,
                             unsigned long long *s)
{
    void *old = atomic_exchange_explicit(&t[rng(s) % n], p, memory_order_acq_rel);
    if (old)
        pay_free(old);
}

/* Frees the block of every step-th slot from 0, checking each. */
static inline void table_free_every(_Atomic(void *) *t, unsigned n, unsigned step)
{
    for (unsigned i = 0; i < n; i += step) {
        void *p = atomic_exchange(&t[i], NULL);
        if (p)
            pay_free(p);
    }
}

/* Operations done so far, for the report of a run that dies: each thread
 * adds its count every 64 operations (one shared cache line, touched
 * rarely next to the allocator's own work). */
static _Atomic unsigned long stress_done;

static inline void count_op(unsigned long *local)
{
    if (++*local % 64 == 0)
        atomic_fetch_add_explicit(&stress_done, 64, memory_order_relaxed);
}

static void on_fatal(int sig)
{
    char line[96];
    unsigned long n = atomic_load_explicit(&stress_done, memory_order_relaxed);
    char num[24];
    int k = 0;
    do {
        num[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    const char *head = "stress: stopped by signal ";
    size_t len = 0;
    while (*head)
        line[len++] = *head++;
    line[len++] = (char)('0' + sig / 10);
    line[len++] = (char)('0' + sig % 10);
    const char *mid = " after about ";
    while (*mid)
        line[len++] = *mid++;
    while (k)
        line[len++] = num[--k];
    const char *tail = " operations\n";
    while (*tail)
        line[len++] = *tail++;
    ssize_t unused = write(2, line, len);
    (void)unused;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Says how far a dying run got (ci/zoo.sh reads it). */
static inline void stress_init(void)
{
    signal(SIGABRT, on_fatal);
    signal(SIGSEGV, on_fatal);
    signal(SIGBUS, on_fatal);
}

/* The closing line every stress program prints, parsed by ci/. */
static inline void report_done(const char *name, unsigned long ops)
{
    hak_stats_t st;
    hak_stats_get(&st);
    printf("%s: %lu operations, %llu remote frees, %llu drains, "
           "peak mapped %llu KiB, now %llu KiB\n",
           name, ops, (unsigned long long)st.remote_frees,
           (unsigned long long)st.drains,
           (unsigned long long)st.peak_mapped_bytes >> 10,
           (unsigned long long)st.mapped_bytes >> 10);
}

/* ---- Time-bounded programs (stress/soak.c, forker.c, exits.c) -----------
 *
 * soak_init: stress_init, and SIGTERM too says how far the run got
 * (ci/soak.sh stops a hung or runaway run with it before SIGKILL).
 *
 *   STRESS_SECONDS  how long they run (default 10); ci/soak.sh sets it
 *
 * The time only bounds the run; nothing is asserted about speed. */
static inline void soak_init(void)
{
    stress_init();
    signal(SIGTERM, on_fatal);
}

static inline double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double run_deadline(void)
{
    return now_seconds() + (double)env_num("STRESS_SECONDS", 10);
}

/* A size in one of the tiers, zero included: mostly tiny, a quarter mid,
 * one in 32 large (to 256 KiB, so a live table stays tens of MiB). */
static inline size_t pick_tier_size(unsigned long long *s)
{
    unsigned long long r = rng(s);
    unsigned k = (unsigned)(r & 31);
    r >>= 8;
    if (k == 0)
        return 0;
    if (k == 1)
        return HAK_MID_MAX + 1 + (size_t)(r % (256u << 10));
    if (k < 10)
        return 1025 + (size_t)(r % (HAK_MID_MAX - 1024));
    return 1 + (size_t)(r % 1024);
}

/* Stamps a block of n >= 16 bytes from any entry point (calloc, realloc,
 * the memalign family) the way pay_alloc does, so pay_check and pay_free
 * verify it. */
static inline void pay_fill(void *q, size_t n, uint64_t stamp)
{
    payload_t *p = q;
    p->size = n;
    p->stamp = stamp;
    uint8_t *b = q;
    for (size_t i = sizeof *p; i < n && i < 64; i++)
        b[i] = pay_byte(stamp, i);
    for (size_t i = n > 64 ? n - 64 : n; i < n; i++)
        if (i >= sizeof *p)
            b[i] = pay_byte(stamp, i);
}

/* After a realloc from the block's recorded size to m bytes: the bytes
 * both sizes cover must have moved with the block. */
static inline void pay_check_moved(const void *q, size_t m)
{
    const payload_t *p = q;
    const uint8_t *b = q;
    size_t n = p->size < m ? p->size : m;
    int bad = n < 16;
    for (size_t i = sizeof *p; !bad && i < n; i++)
        if (i < 64 || i + 64 >= p->size)
            bad = b[i] != pay_byte(p->stamp, i);
    if (bad) {
        fprintf(stderr, "stress: payload of %p lost in realloc (%zu -> %zu)\n",
                q, (size_t)p->size, m);
        abort();
    }
}

/* Blocks under 16 bytes (and malloc(0)) hold no payload header: their n
 * bytes are a pattern of the block's slot, checked before the free. */
static inline void small_fill(uint8_t *b, size_t n, uint64_t stamp)
{
    for (size_t i = 0; i < n; i++)
        b[i] = pay_byte(stamp, i);
}

static inline void small_check_free(uint8_t *b, size_t n, uint64_t stamp)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pay_byte(stamp, i)) {
            fprintf(stderr, "stress: %zu-byte block %p damaged\n", n, (void *)b);
            abort();
        }
    hak_free(b);
}

#endif
