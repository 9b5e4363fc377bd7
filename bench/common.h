/* bench/common.h — shared pieces of the benchmark workloads.
 *
 * Every workload uses plain malloc/free/realloc (so any allocator can be
 * preloaded), is seeded (-S), takes its sizes and counts from argv (the
 * runner's quick mode passes small counts), verifies the payload of every
 * block before freeing it, and ends with one line on stdout:
 *
 *   RESULT workload=<name> ops=<n> secs=<inner wall> ops_per_sec=<x>
 *          check=<hex> [key=value ...]
 *
 * `check` depends only on the seed and the counts, never on the allocator
 * or on thread timing, so the runner compares it across allocators. A
 * verification failure prints "FAIL: ..." on stderr and exits with 2.
 *
 * Payload pattern: the 8-byte word at offset `off` holds
 * stamp ^ (off * GOLDEN); words are written every `stride` bytes from 0
 * and at n-8 (the tail), never overlapping, so every block gets its first
 * and last bytes and one word per stride written and read back.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__clang__)
#define BENCH_NOINLINE __attribute__((noinline, unused))
#else
#define BENCH_NOINLINE __attribute__((noinline, noipa, unused))
#endif
#define BENCH_UNUSED __attribute__((unused))
#define CACHE_LINE 64
#define GOLDEN 0x9E3779B97F4A7C15ull

/* ---- Options ------------------------------------------------------------ */

typedef struct {
    uint64_t iters;   /* -i: steps / blocks / iterations (per workload) */
    size_t size;      /* -s: fixed size */
    size_t min, max;  /* -m, -M: size range (inclusive) */
    int threads;      /* -t: threads (or pairs) */
    uint64_t seed;    /* -S */
    size_t window;    /* -w: live blocks / slots / ring capacity */
    uint64_t reps;    /* -r: repetitions / rounds */
    uint64_t every;   /* -R: a rate (one in R) */
    int nomalloc;     /* -n: run the loop without malloc/free (callgrind) */
} opts_t;

static BENCH_UNUSED void usage(const char *prog, const char *help)
{
    fprintf(stderr, "usage: %s [options]\n%s", prog, help);
    exit(1);
}

static BENCH_UNUSED uint64_t parse_u64(const char *s)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end); /* accepts 1e6 */
    if (errno || end == s || d < 0)
        return (uint64_t)-1;
    uint64_t v = (uint64_t)d;
    if (*end == 'k' || *end == 'K')
        v <<= 10;
    else if (*end == 'm' || *end == 'M')
        v <<= 20;
    return v;
}

static BENCH_UNUSED void parse_opts(int argc, char **argv, opts_t *o,
                                    const char *help)
{
    int c;
    while ((c = getopt(argc, argv, "i:s:m:M:t:S:w:r:R:nh")) != -1) {
        switch (c) {
        case 'i': o->iters = parse_u64(optarg); break;
        case 's': o->size = parse_u64(optarg); break;
        case 'm': o->min = parse_u64(optarg); break;
        case 'M': o->max = parse_u64(optarg); break;
        case 't': o->threads = atoi(optarg); break;
        case 'S': o->seed = parse_u64(optarg); break;
        case 'w': o->window = parse_u64(optarg); break;
        case 'r': o->reps = parse_u64(optarg); break;
        case 'R': o->every = parse_u64(optarg); break;
        case 'n': o->nomalloc = 1; break;
        default: usage(argv[0], help);
        }
    }
    if (optind != argc || o->threads < 1 || o->min > o->max)
        usage(argv[0], help);
}

static BENCH_UNUSED int ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- Failure ------------------------------------------------------------ */

static BENCH_UNUSED __attribute__((noreturn, format(printf, 1, 2))) void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    _exit(2);
}

/* ---- Random numbers (splitmix64: one state word, good enough here) ---- */

typedef struct { uint64_t s; } rng_t;

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
{
    r->s = mix64(seed * GOLDEN + stream + 1);
}

static inline uint64_t rng_next(rng_t *r)
{
    r->s += GOLDEN;
    return mix64(r->s);
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi)
{
    unsigned __int128 m = (unsigned __int128)rng_next(r) * (hi - lo + 1);
    return lo + (uint64_t)(m >> 64);
}

/* Log-uniform-ish in [lo, hi]: a random power-of-two octave, then uniform
 * within it (clamped). */
static BENCH_UNUSED uint64_t rng_logrange(rng_t *r, uint64_t lo, uint64_t hi)
{
    unsigned elo = 63 - (unsigned)__builtin_clzll(lo);
    unsigned ehi = 63 - (unsigned)__builtin_clzll(hi);
    unsigned e = (unsigned)rng_range(r, elo, ehi);
    uint64_t base = 1ull << e;
    uint64_t v = base + rng_range(r, 0, base - 1);
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- Payload ------------------------------------------------------------ */

static BENCH_NOINLINE void pat_fill(void *p, size_t n, uint64_t stamp,
                                    size_t stride)
{
    unsigned char *b = p;
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)(stamp >> (8 * i));
        return;
    }
    for (size_t off = 0; off + 16 <= n; off += stride) {
        uint64_t v = stamp ^ (off * GOLDEN);
        memcpy(b + off, &v, 8);
    }
    uint64_t v = stamp ^ ((n - 8) * GOLDEN);
    memcpy(b + n - 8, &v, 8);
}

/* 0 if the pattern is intact, else 1 + the offset of the first bad word. */
static BENCH_NOINLINE size_t pat_check(const void *p, size_t n, uint64_t stamp,
                                       size_t stride)
{
    const unsigned char *b = p;
    uint64_t v;
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            if (b[i] != (unsigned char)(stamp >> (8 * i)))
                return i + 1;
        return 0;
    }
    for (size_t off = 0; off + 16 <= n; off += stride) {
        memcpy(&v, b + off, 8);
        if (v != (stamp ^ (off * GOLDEN)))
            return off + 1;
    }
    memcpy(&v, b + n - 8, 8);
    if (v != (stamp ^ ((n - 8) * GOLDEN)))
        return n - 8 + 1;
    return 0;
}

static inline void verify(const void *p, size_t n, uint64_t stamp,
                          size_t stride, const char *what)
{
    size_t bad = pat_check(p, n, stamp, stride);
    if (bad)
        die("%s: payload of block %p (size %zu) damaged at offset %zu", what,
            p, n, bad - 1);
}

/* ---- Tagged blocks (multi-threaded workloads) ----------------------------
 * Word 0: tag = (random << 16) | size; word 1: link while in transit;
 * from offset 16: the pattern keyed by the tag. The receiver needs nothing
 * but the pointer to verify a block. Sizes are 16 .. 65535. */

static inline void *tagged_new(size_t size, uint64_t rnd)
{
    unsigned char *p = malloc(size);
    if (!p)
        die("malloc(%zu) returned NULL", size);
    uint64_t tag = (rnd << 16) | size;
    memcpy(p, &tag, 8);
    memset(p + 8, 0, 8);
    if (size > 16)
        pat_fill(p + 16, size - 16, tag, CACHE_LINE);
    return p;
}

/* Verifies, frees and returns the tag. */
static inline uint64_t tagged_free(void *blk, const char *what)
{
    unsigned char *p = blk;
    uint64_t tag;
    memcpy(&tag, p, 8);
    size_t size = tag & 0xffff;
    if (size < 16)
        die("%s: block %p has a damaged tag %016llx", what, blk,
            (unsigned long long)tag);
    if (size > 16)
        verify(p + 16, size - 16, tag, CACHE_LINE, what);
    free(p);
    return tag;
}

/* ---- Time and memory ---------------------------------------------------- */

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set size now, in KiB (/proc/self/statm, second field). */
static BENCH_UNUSED long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = -1;
        fclose(f);
    }
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak resident set size so far (VmHWM), in KiB. */
static BENCH_UNUSED long hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* ---- Result line -------------------------------------------------------- */

static BENCH_UNUSED __attribute__((format(printf, 5, 6))) void
result(const char *name, uint64_t ops, double secs, uint64_t check,
       const char *extra, ...)
{
    printf("RESULT workload=%s ops=%llu secs=%.6f ops_per_sec=%.1f check=%016llx",
           name, (unsigned long long)ops, secs, secs > 0 ? (double)ops / secs : 0.0,
           (unsigned long long)check);
    if (extra && *extra) {
        va_list ap;
        va_start(ap, extra);
        putchar(' ');
        vprintf(extra, ap);
        va_end(ap);
    }
    putchar('\n');
    fflush(stdout);
}

#endif
