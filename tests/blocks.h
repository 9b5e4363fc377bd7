/* blocks.h — what the multi-threaded suites (test_threads.c, test_fork.c)
 * share: errors recorded off the test thread, blocks whose payload is a
 * pattern derived from an id and the size, so any damage (a lost realloc
 * prefix, a block handed out twice) shows as a wrong byte, random sizes
 * of every tier, and the check that all is handed back at a test's end. */
#ifndef HAK_TEST_BLOCKS_H
#define HAK_TEST_BLOCKS_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "types.h" /* HAK_MID_MAX: the largest request slabs serve */
#include "util.h"

/* ---- Errors recorded outside the test thread ---------------------------- */

#define MAX_MSGS 4

static atomic_int g_errors;
static char g_errmsg[MAX_MSGS][320];

static void errors_reset(void)
{
    atomic_store(&g_errors, 0);
    for (unsigned i = 0; i < MAX_MSGS; i++)
        g_errmsg[i][0] = '\0';
}

/* Lock-free (usable in a fork child whatever the parent's threads held). */
__attribute__((format(printf, 1, 2))) static void t_fail(const char *fmt, ...)
{
    int i = atomic_fetch_add(&g_errors, 1);
    if (i < MAX_MSGS) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_errmsg[i], sizeof g_errmsg[i], fmt, ap);
        va_end(ap);
    }
}

/* The recorded messages, joined. */
static const char *errors_text(void)
{
    static char all[MAX_MSGS * 330];
    size_t len = 0;
    all[0] = '\0';
    for (int i = 0; i < MAX_MSGS && i < atomic_load(&g_errors); i++)
        len += (size_t)snprintf(all + len, sizeof all - len, "%s[%d] %s",
                                i ? "; " : "", i + 1, g_errmsg[i]);
    return all;
}

#define ASSERT_NO_THREAD_ERRORS()                                          \
    ck_assert_msg(atomic_load(&g_errors) == 0,                             \
                  "%d error(s) in worker threads: %s",                     \
                  atomic_load(&g_errors), errors_text())

/* ---- Payload patterns --------------------------------------------------- */

typedef struct blk {
    void *p;
    size_t n;
    uint64_t id;
} blk_t;

static uint64_t pat_seed(uint64_t id, size_t n)
{
    uint64_t z = id * 0x9e3779b97f4a7c15ull ^ ((uint64_t)n << 17) ^ 0x5bd1e995ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint8_t pat_byte(uint64_t s, size_t i, size_t n)
{
    if ((i & ~(size_t)7) + 8 <= n) {
        uint64_t v = s + (i & ~(size_t)7) * 0xd1b54a32d192ed03ull;
        return (uint8_t)(v >> ((i & 7) * 8));
    }
    return (uint8_t)(s >> ((i & 7) * 8)) ^ (uint8_t)i;
}

static void pat_fill(void *p, size_t n, uint64_t id)
{
    uint64_t s = pat_seed(id, n);
    uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = s + i * 0xd1b54a32d192ed03ull;
        memcpy(b + i, &v, 8);
    }
    for (; i < n; i++)
        b[i] = pat_byte(s, i, n);
}

/* Offset of the first of the first `len` bytes that differs from the
 * pattern of an n-byte block, or SIZE_MAX. */
static size_t pat_bad_prefix(const void *p, size_t n, size_t len, uint64_t id)
{
    uint64_t s = pat_seed(id, n);
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = s + i * 0xd1b54a32d192ed03ull, w;
        memcpy(&w, b + i, 8);
        if (w != v)
            break;
    }
    for (; i < len; i++)
        if (b[i] != pat_byte(s, i, n))
            return i;
    return SIZE_MAX;
}

/* The whole block: offset of the first wrong byte, or SIZE_MAX. */
static size_t pat_bad(const void *p, size_t n, uint64_t id)
{
    return pat_bad_prefix(p, n, n, id);
}

/* Allocates and fills; records an error and returns p == NULL on failure. */
static blk_t blk_new(size_t n, uint64_t id, const char *where)
{
    blk_t b = { hak_malloc(n), n, id };
    if (!b.p)
        t_fail("%s: hak_malloc(%zu) returned NULL (errno %d)", where, n, errno);
    else if ((uintptr_t)b.p % 16)
        t_fail("%s: hak_malloc(%zu) = %p not 16-byte aligned", where, n, b.p);
    else
        pat_fill(b.p, n, id);
    return b;
}

static int blk_ok(const blk_t *b, const char *where)
{
    size_t bad = pat_bad_prefix(b->p, b->n, b->n, b->id);
    if (bad != SIZE_MAX) {
        t_fail("%s: payload of block id=%llu (%p, %zu bytes) damaged at "
               "offset %zu",
               where, (unsigned long long)b->id, b->p, b->n, bad);
        return 0;
    }
    return 1;
}

static void blk_free(blk_t *b, const char *where)
{
    if (!b->p)
        return;
    blk_ok(b, where);
    hak_free(b->p);
    b->p = NULL;
}

/* Resizes b with hak_realloc: the kept prefix must survive; refilled. */
static void blk_realloc(blk_t *b, size_t n, const char *where)
{
    if (!b->p)
        return;
    void *q = hak_realloc(b->p, n);
    if (!q) {
        t_fail("%s: hak_realloc(%zu -> %zu) returned NULL", where, b->n, n);
        return;
    }
    size_t keep = b->n < n ? b->n : n;
    size_t bad = pat_bad_prefix(q, b->n, keep, b->id);
    if (bad != SIZE_MAX)
        t_fail("%s: hak_realloc(%zu -> %zu) lost the payload at offset %zu",
               where, b->n, n, bad);
    b->p = q;
    b->n = n;
    b->id ^= 0x5a5aull << 40;
    pat_fill(q, n, b->id);
}

/* ---- Sizes -------------------------------------------------------------- */

static size_t size_tiny(unsigned long long *r)
{
    return 1 + (size_t)(test_rand(r) % 1024);
}

static size_t size_mid(unsigned long long *r, size_t max)
{
    return 1025 + (size_t)(test_rand(r) % (max - 1024));
}

static size_t size_large(unsigned long long *r)
{
    return HAK_MID_MAX + 1 + (size_t)(test_rand(r) % (224u << 10));
}

/* Per mille of mid and large blocks; the rest tiny. */
static size_t size_mix(unsigned long long *r, unsigned mid_pm, size_t mid_max,
                       unsigned large_pm)
{
    unsigned k = (unsigned)(test_rand(r) % 1000);
    if (k < large_pm)
        return size_large(r);
    if (k < large_pm + mid_pm)
        return size_mid(r, mid_max);
    return size_tiny(r);
}

/* ---- Threads and the allocator's counters ------------------------------- */

static void spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    ck_assert_msg(rc == 0, "pthread_create: %s", strerror(rc));
}

static void join(pthread_t t)
{
    int rc = pthread_join(t, NULL);
    ck_assert_msg(rc == 0, "pthread_join: %s", strerror(rc));
}

static hak_stats_t stats_now(void)
{
    hak_stats_t s;
    hak_stats_get(&s);
    return s;
}

/* Live blocks by the counters: allocations minus (drained) frees. */
static int64_t live_blocks(void)
{
    hak_stats_t s = stats_now();
    return (int64_t)(s.allocs - s.frees);
}

/* How far mapped_bytes may stay above where a test started once all is
 * freed and trimmed (spare superslabs, the large table, heap records). */
#define SETTLE_SLACK (4 * MiB)

/* Everything freed: hand back what can be handed back and require the
 * mapping to be back within SETTLE_SLACK of `start` and the counters to
 * show `live` blocks (usually 0). */
static void assert_settled(uint64_t start, int64_t live0, const char *what)
{
    hak_check_heap();
    hak_malloc_trim(0);
    hak_check_heap();
    hak_stats_t s = stats_now();
    ck_assert_msg((int64_t)(s.allocs - s.frees) == live0,
                  "%s: allocs - frees = %lld after everything was freed and "
                  "trimmed, expected %lld (allocs %llu, frees %llu): frees "
                  "were lost or not drained",
                  what, (long long)(s.allocs - s.frees), (long long)live0,
                  (unsigned long long)s.allocs, (unsigned long long)s.frees);
    ck_assert_msg(s.mapped_bytes <= start + SETTLE_SLACK,
                  "%s: mapped_bytes %llu after free + hak_malloc_trim(0), "
                  "started at %llu (+%llu KiB, allowed %llu KiB)",
                  what, (unsigned long long)s.mapped_bytes,
                  (unsigned long long)start,
                  (unsigned long long)((s.mapped_bytes - start) >> 10),
                  (unsigned long long)(SETTLE_SLACK >> 10));
}

#endif
