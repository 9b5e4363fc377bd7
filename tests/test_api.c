/* test_api.c — the C/POSIX/glibc semantics of every hak_* entry point,
 * errno included, and a seeded random workload verified byte for byte. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "util.h"
/* The check knobs the library was built with (the suites are compiled
 * with the same -D flags): a test expects what a knob makes observable,
 * by the knob (HAK_SLOTSTATE: exact usable sizes), never by the flavour's
 * name, so a release build with one knob set passes it too. */
#include "types.h"

#define PAGE ((size_t)4096)

/* ---- Helpers ------------------------------------------------------------ */

/* The n bytes at p hold the pattern of `seed` (util.h). */
#define REQ_PATTERN(p, n, seed)                                               \
    do {                                                                      \
        size_t bad_ = pattern_bad((p), (n), (seed));                          \
        REQ_MSG(bad_ == (size_t)(n), "pattern broken at byte %zu of %zu",     \
                bad_, (size_t)(n));                                           \
    } while (0)

/* Two blocks of nothing (zero bytes asked): both there, distinct, and
 * freeable. */
static void free_two_distinct(void *a, void *b)
{
    REQ_NONNULL(a);
    REQ_NONNULL(b);
    REQ_PTR_NE(a, b);
    hak_free(a);
    hak_free(b);
}

static int is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* ---- malloc / free ------------------------------------------------------ */

START_TEST(test_malloc_zero_unique)
{
    void *a = hak_malloc(0);
    void *b = hak_malloc(0);
    REQ_NONNULL(a);
    REQ_NONNULL(b);
    REQ_PTR_NE(a, b);
    REQ(is_aligned(a, 16));
    REQ(is_aligned(b, 16));
    /* The documented choice: a unique pointer to no memory at all (a
     * slot of a zero region, tests/test_zero.c), in both flavours. */
    REQ_UINT_EQ(hak_malloc_usable_size(a), 0);
    hak_free(a);
    hak_free(b);
    /* Many of them stay distinct while live. */
    void *v[256];
    for (int i = 0; i < 256; i++) {
        v[i] = hak_malloc(0);
        REQ_NONNULL(v[i]);
        for (int j = 0; j < i; j++)
            REQ_PTR_NE(v[i], v[j]);
    }
    for (int i = 0; i < 256; i++)
        hak_free(v[i]);
}
END_TEST

START_TEST(test_free_null)
{
    errno = 77;
    hak_free(NULL);
    REQ_INT_EQ(errno, 77);
    /* The allocator still works afterwards. */
    void *p = hak_malloc(10);
    REQ_NONNULL(p);
    hak_free(p);
    hak_free(NULL);
}
END_TEST

START_TEST(test_free_preserves_errno)
{
    static const size_t sizes[] = { 1, 64, 1000, 3000, 32000, 40000,
                                    100000, 4 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = hak_malloc(sizes[i]);
        REQ_NONNULL(p);
        errno = 1234;
        hak_free(p);
        REQ_MSG(errno == 1234, "free of %zu bytes changed errno to %d",
                      sizes[i], errno);
    }
    /* Also when the free empties a slab or drops a cached large span. */
    void *v[512];
    for (int i = 0; i < 512; i++)
        REQ_NONNULL(v[i] = hak_malloc(200));
    errno = 1234;
    for (int i = 0; i < 512; i++)
        hak_free(v[i]);
    REQ_INT_EQ(errno, 1234);
    for (int i = 0; i < 100; i++)
        REQ_NONNULL(v[i] = hak_malloc(MiB + (size_t)i * PAGE));
    errno = 1234;
    for (int i = 0; i < 100; i++)
        hak_free(v[i]);
    REQ_INT_EQ(errno, 1234);
}
END_TEST

START_TEST(test_malloc_huge_enomem)
{
    static const size_t sizes[] = { SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2,
                                    (size_t)1 << 60, (size_t)1 << 48 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        void *p = hak_malloc(sizes[i]);
        REQ_MSG(p == NULL, "malloc(%zu) returned %p", sizes[i], p);
        REQ_INT_EQ(errno, ENOMEM);
    }
    /* Still works afterwards. */
    void *p = hak_malloc(100);
    REQ_NONNULL(p);
    hak_free(p);
}
END_TEST

START_TEST(test_usable_size)
{
    /* Every size up to a little past the mid limit, then a few large. */
    for (size_t n = 0; n <= 33 * KiB; n += n < 2048 ? 1 : 61) {
        uint8_t *p = hak_malloc(n);
        REQ_NONNULL(p);
        size_t u = hak_malloc_usable_size(p);
        if (HAK_SLOTSTATE)
            REQ_MSG(u == n, "exact usable(%zu) = %zu", n, u);
        else
            REQ_MSG(u >= n, "usable(%zu) = %zu", n, u);
        memset(p, 0xa5, u); /* every usable byte is writable */
        hak_free(p);
    }
    static const size_t large[] = { 40000, 65536, 100000, MiB, 3 * MiB + 7 };
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        uint8_t *p = hak_malloc(large[i]);
        REQ_NONNULL(p);
        size_t u = hak_malloc_usable_size(p);
        if (HAK_SLOTSTATE)
            REQ_UINT_EQ(u, large[i]);
        else
            REQ_UINT_GE(u, large[i]);
        memset(p, 0x5a, u);
        REQ_UINT_EQ(p[u - 1], 0x5a);
        hak_free(p);
    }
    REQ_UINT_EQ(hak_malloc_usable_size(NULL), 0);
}
END_TEST

/* Usable bytes of neighbouring live blocks are theirs alone: fill each
 * block's whole usable size, then verify all of them. */
START_TEST(test_usable_bytes_private)
{
    enum { N = 600 };
    static uint8_t *v[N];
    static size_t u[N];
    unsigned long long s = 99;
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(test_rand(&s) % (i % 3 == 0 ? 40000 : 2000));
        v[i] = hak_malloc(n);
        REQ_NONNULL(v[i]);
        u[i] = hak_malloc_usable_size(v[i]);
        REQ_UINT_GE(u[i], n);
        pattern_fill(v[i], u[i], (unsigned)i);
    }
    for (int i = 0; i < N; i++)
        REQ_PATTERN(v[i], u[i], (unsigned)i);
    for (int i = 0; i < N; i++)
        hak_free(v[i]);
}
END_TEST

/* ---- calloc ------------------------------------------------------------- */

static void check_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        REQ_MSG(p[i] == 0, "calloc byte %zu of %zu is 0x%02x", i, n,
                      p[i]);
}

START_TEST(test_calloc_zeroes)
{
    static const size_t sizes[] = { 0, 1, 16, 24, 100, 1000, 1024, 1025,
                                    3000, 20000, 32768, 40000, 100000,
                                    2 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = hak_calloc(1, n);
        REQ_NONNULL(p);
        check_zero(p, n);
        hak_free(p);
        p = hak_calloc(n ? n : 1, 1);
        REQ_NONNULL(p);
        check_zero(p, n);
        hak_free(p);
    }
}
END_TEST

/* calloc of a block that was dirty when freed (same size, so the same
 * class and very likely the same block or cached span). */
START_TEST(test_calloc_dirty_reuse)
{
    static const size_t sizes[] = { 1, 16, 24, 64, 200, 1000, 1024, 2000,
                                    3000, 16000, 32768, 40000, 100000,
                                    MiB };
    int reused = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int round = 0; round < 4; round++) {
            uint8_t *p = hak_malloc(n);
            REQ_NONNULL(p);
            memset(p, 0xff, hak_malloc_usable_size(p));
            hak_free(p);
            uint8_t *q = hak_calloc(1, n);
            REQ_NONNULL(q);
            reused += q == p;
            check_zero(q, n);
            hak_free(q);
            q = hak_calloc(n, 1);
            REQ_NONNULL(q);
            check_zero(q, n);
            hak_free(q);
        }
    }
    /* The point is dirty memory: most of these must have been reuses. */
    REQ_INT_GT(reused, 0);
}
END_TEST

START_TEST(test_calloc_overflow)
{
    static const size_t c[][2] = {
        { SIZE_MAX / 2, 3 }, { 3, SIZE_MAX / 2 }, { SIZE_MAX, 2 },
        { (size_t)1 << 32, (size_t)1 << 32 }, { SIZE_MAX, SIZE_MAX },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        errno = 0;
        void *p = hak_calloc(c[i][0], c[i][1]);
        REQ_MSG(p == NULL, "calloc(%zu, %zu) returned %p", c[i][0],
                      c[i][1], p);
        REQ_INT_EQ(errno, ENOMEM);
    }
    /* No overflow, but more than the address space. */
    errno = 0;
    REQ_NULL(hak_calloc((size_t)1 << 30, (size_t)1 << 28));
    REQ_INT_EQ(errno, ENOMEM);
    /* calloc(0, n) and calloc(n, 0) return a freeable block. */
    free_two_distinct(hak_calloc(0, 100), hak_calloc(100, 0));
}
END_TEST

/* ---- realloc ------------------------------------------------------------ */

START_TEST(test_realloc_null_is_malloc)
{
    static const size_t sizes[] = { 0, 1, 100, 1024, 5000, 32768, 50000,
                                    MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *p = hak_realloc(NULL, sizes[i]);
        REQ_NONNULL(p);
        REQ(is_aligned(p, 16));
        REQ_UINT_GE(hak_malloc_usable_size(p), sizes[i]);
        pattern_fill(p, sizes[i], 3);
        REQ_PATTERN(p, sizes[i], 3);
        hak_free(p);
    }
    /* realloc(NULL, 0): unique minimal blocks. */
    free_two_distinct(hak_realloc(NULL, 0), hak_realloc(NULL, 0));
}
END_TEST

static void realloc_zero_then_free(void *arg)
{
    size_t n = *(size_t *)arg;
    void *p = hak_malloc(n);
    if (hak_realloc(p, 0) != NULL)
        _exit(3);
    hak_free(p); /* p was freed by realloc: a double free */
}

START_TEST(test_realloc_zero_frees)
{
    static const size_t sizes[] = { 24, 3000, 100000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        hak_stats_t before, after;
        void *p = hak_malloc(sizes[i]);
        REQ_NONNULL(p);
        hak_stats_get(&before);
        REQ_NULL(hak_realloc(p, 0));
        hak_stats_get(&after);
        REQ_UINT_EQ(after.frees, before.frees + 1);
        REQ_UINT_EQ(after.allocs, before.allocs);
        /* The block really is gone: freeing it again is a double free. */
        size_t n = sizes[i];
        expect_abort(realloc_zero_then_free, &n, "hakmem: double free: ");
    }
}
END_TEST

/* Grow and shrink across tiny, mid and large; contents survive. */
START_TEST(test_realloc_across_tiers)
{
    static const size_t sizes[] = { 1, 15, 16, 24, 100, 512, 1023, 1024,
                                    1025, 3000, 8192, 32767, 32768, 32769,
                                    40000, 100000, MiB, 3 * MiB + 5 };
    const size_t ns = sizeof sizes / sizeof sizes[0];
    for (size_t i = 0; i < ns; i++) {
        for (size_t j = 0; j < ns; j++) {
            size_t a = sizes[i], b = sizes[j];
            unsigned seed = (unsigned)(i * ns + j);
            uint8_t *p = hak_malloc(a);
            REQ_NONNULL(p);
            pattern_fill(p, a, seed);
            uint8_t *q = hak_realloc(p, b);
            REQ_MSG(q != NULL, "realloc %zu -> %zu failed", a, b);
            REQ(is_aligned(q, 16));
            size_t u = hak_malloc_usable_size(q);
            REQ_MSG(HAK_SLOTSTATE ? u == b : u >= b,
                    "realloc %zu -> %zu: usable %zu", a, b, u);
            size_t keep = a < b ? a : b;
            size_t bad = pattern_bad(q, keep, seed);
            REQ_MSG(bad == keep,
                          "realloc %zu -> %zu: byte %zu of %zu lost", a, b,
                          bad, keep);
            /* The whole new size is usable. */
            pattern_fill(q, b, seed + 1);
            REQ_PATTERN(q, b, seed + 1);
            hak_free(q);
        }
    }
}
END_TEST

/* A chain of reallocs on one block, one byte or one step at a time. */
START_TEST(test_realloc_chain)
{
    uint8_t *p = NULL;
    size_t n = 0;
    for (size_t m = 1; m <= 40000; m += m < 2100 ? 1 : 997) {
        p = hak_realloc(p, m);
        REQ_NONNULL(p);
        REQ_PATTERN(p, n, 11);
        for (size_t i = n; i < m; i++)
            p[i] = pattern_byte(11, i);
        n = m;
    }
    for (; n > 0; n = n > 2100 ? n - 1013 : n - 1) {
        p = hak_realloc(p, n);
        REQ_NONNULL(p);
        REQ_PATTERN(p, n, 11);
    }
    hak_free(p);
}
END_TEST

/* realloc by a thread that does not own the block. */
typedef struct xrealloc {
    uint8_t *p;
    size_t from, to;
} xrealloc_t;

static void *realloc_in_thread(void *arg)
{
    xrealloc_t *x = arg;
    x->p = hak_realloc(x->p, x->to);
    return NULL;
}

START_TEST(test_realloc_other_thread)
{
    static const size_t sizes[][2] = {
        { 24, 30 }, { 24, 2000 }, { 1000, 600 }, { 3000, 3500 },
        { 3000, 100 }, { 20000, 70000 }, { 70000, 50 }, { 70000, 200000 },
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        xrealloc_t x = { hak_malloc(sizes[i][0]), sizes[i][0], sizes[i][1] };
        REQ_NONNULL(x.p);
        pattern_fill(x.p, x.from, (unsigned)i);
        pthread_t t;
        REQ_INT_EQ(pthread_create(&t, NULL, realloc_in_thread, &x), 0);
        REQ_INT_EQ(pthread_join(t, NULL), 0);
        REQ_NONNULL(x.p);
        REQ_PATTERN(x.p, x.from < x.to ? x.from : x.to, (unsigned)i);
        REQ_UINT_GE(hak_malloc_usable_size(x.p), x.to);
        hak_free(x.p);
    }
    REQ_UINT_GT(hak_check_heap(), 0);
}
END_TEST

START_TEST(test_realloc_same_size)
{
    /* (Not 0: realloc(p, 0) frees, test_realloc_zero_frees.) */
    static const size_t sizes[] = { 1, 16, 64, 1000, 1024, 5000, 32768,
                                    70000, 2 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = hak_malloc(n);
        REQ_NONNULL(p);
        pattern_fill(p, n, 5);
        for (int k = 0; k < 3; k++) {
            uint8_t *q = hak_realloc(p, n);
            REQ_NONNULL(q);
            REQ_PATTERN(q, n, 5);
            REQ_UINT_GE(hak_malloc_usable_size(q), n);
            p = q;
        }
        hak_free(p);
    }
}
END_TEST

START_TEST(test_realloc_huge_keeps_block)
{
    static const size_t sizes[] = { 100, 3000, 100000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *p = hak_malloc(sizes[i]);
        REQ_NONNULL(p);
        pattern_fill(p, sizes[i], 9);
        errno = 0;
        REQ_NULL(hak_realloc(p, SIZE_MAX - 100));
        REQ_INT_EQ(errno, ENOMEM);
        REQ_PATTERN(p, sizes[i], 9);
        REQ_UINT_GE(hak_malloc_usable_size(p), sizes[i]);
        hak_free(p);
    }
}
END_TEST

START_TEST(test_reallocarray)
{
    static const size_t sizes[] = { 100, 3000, 100000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = hak_malloc(n);
        REQ_NONNULL(p);
        pattern_fill(p, n, 21);
        errno = 0;
        REQ_NULL(hak_reallocarray(p, SIZE_MAX / 2, 3));
        REQ_INT_EQ(errno, ENOMEM);
        errno = 0;
        REQ_NULL(hak_reallocarray(p, (size_t)1 << 33,
                                            (size_t)1 << 33));
        REQ_INT_EQ(errno, ENOMEM);
        /* The original block is untouched and still live. */
        REQ_PATTERN(p, n, 21);
        REQ_UINT_GE(hak_malloc_usable_size(p), n);
        /* A good reallocarray grows it keeping the contents. */
        uint8_t *q = hak_reallocarray(p, 3, n);
        REQ_NONNULL(q);
        REQ_UINT_GE(hak_malloc_usable_size(q), 3 * n);
        REQ_PATTERN(q, n, 21);
        memset(q + n, 0, 2 * n);
        hak_free(q);
    }
    /* reallocarray(NULL, ...) allocates. */
    void *p = hak_reallocarray(NULL, 10, 10);
    REQ_NONNULL(p);
    REQ_UINT_GE(hak_malloc_usable_size(p), 100);
    hak_free(p);
}
END_TEST

/* ---- The memalign family ------------------------------------------------ */

START_TEST(test_posix_memalign_bad_alignment)
{
    const size_t bad[] = { 0, 1, 2, 3, sizeof(void *) / 2, 24, 48, 96,
                           4095, 4097, SIZE_MAX, ((size_t)1 << 63) + 8 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *out = (void *)0x1234;
        errno = 4321;
        int r = hak_posix_memalign(&out, bad[i], 100);
        REQ_MSG(r == EINVAL, "posix_memalign(align=%zu) returned %d",
                      bad[i], r);
        REQ_MSG(errno == 4321,
                      "posix_memalign(align=%zu) changed errno to %d",
                      bad[i], errno);
        REQ_PTR_EQ(out, (void *)0x1234);
    }
}
END_TEST

START_TEST(test_posix_memalign_good)
{
    static const size_t sizes[] = { 0, 1, 100, 5000, 40000 };
    for (size_t a = sizeof(void *); a <= 2 * MiB; a <<= 1) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *out = NULL;
            errno = 4321;
            int r = hak_posix_memalign(&out, a, sizes[i]);
            REQ_MSG(r == 0, "posix_memalign(%zu, %zu) = %d", a,
                          sizes[i], r);
            REQ_INT_EQ(errno, 4321);
            REQ_NONNULL(out);
            REQ_MSG(is_aligned(out, a), "%p not aligned to %zu", out,
                          a);
            REQ_UINT_GE(hak_malloc_usable_size(out), sizes[i]);
            memset(out, 0x3c, sizes[i]);
            hak_free(out);
        }
    }
    /* Out of memory: ENOMEM returned, errno untouched, *out untouched. */
    void *out = (void *)0x5678;
    errno = 4321;
    REQ_INT_EQ(hak_posix_memalign(&out, 64, SIZE_MAX - 4096), ENOMEM);
    REQ_INT_EQ(errno, 4321);
    REQ_PTR_EQ(out, (void *)0x5678);
    errno = 4321;
    REQ_INT_EQ(hak_posix_memalign(&out, 4096, (size_t)1 << 60), ENOMEM);
    REQ_INT_EQ(errno, 4321);
}
END_TEST

START_TEST(test_aligned_alloc_bad_alignment)
{
    static const size_t bad[] = { 0, 3, 48, 24, 100, 4097, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = hak_aligned_alloc(bad[i], 64);
        REQ_MSG(p == NULL, "aligned_alloc(%zu) returned %p", bad[i], p);
        REQ_INT_EQ(errno, EINVAL);
    }
    /* Valid ones, the small powers of two included. */
    for (size_t a = 1; a <= 64 * KiB; a <<= 1) {
        void *p = hak_aligned_alloc(a, 3 * a);
        REQ_NONNULL(p);
        REQ(is_aligned(p, a < 16 ? 16 : a));
        REQ_UINT_GE(hak_malloc_usable_size(p), 3 * a);
        memset(p, 1, 3 * a);
        hak_free(p);
    }
    errno = 0;
    REQ_NULL(hak_aligned_alloc(64, SIZE_MAX - 8192));
    REQ_INT_EQ(errno, ENOMEM);
}
END_TEST

START_TEST(test_memalign_rounds_up)
{
    static const size_t c[][2] = {
        /* alignment asked, alignment guaranteed (glibc semantics) */
        { 48, 64 },   { 24, 32 },   { 3, 16 },      { 0, 16 },
        { 100, 128 }, { 1000, 1024 }, { 3000, 4096 }, { 5000, 8192 },
        { 40000, 65536 }, { 96, 128 }, { 65, 128 }, { 17, 32 },
    };
    static const size_t sizes[] = { 0, 1, 10, 100, 5000, 50000 };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            /* Several live ones, so the first is not aligned by luck. */
            void *v[8];
            for (int j = 0; j < 8; j++) {
                v[j] = hak_memalign(c[i][0], sizes[k]);
                REQ_NONNULL(v[j]);
                REQ_MSG(is_aligned(v[j], c[i][1]),
                              "memalign(%zu, %zu) = %p, not %zu-aligned",
                              c[i][0], sizes[k], v[j], c[i][1]);
                REQ_UINT_GE(hak_malloc_usable_size(v[j]), sizes[k]);
                memset(v[j], 0x77, sizes[k]);
            }
            for (int j = 0; j < 8; j++)
                hak_free(v[j]);
        }
    }
    void *p = hak_memalign(48, 10);
    REQ(is_aligned(p, 64));
    hak_free(p);
    errno = 0;
    REQ_NULL(hak_memalign(SIZE_MAX, 10));
    REQ_INT_EQ(errno, EINVAL);
}
END_TEST

/* Four blocks at a time of each size from fn: page aligned, with room for
 * the size (whole pages of it for pvalloc), all of it writable. */
static void page_blocks(const char *name, void *(*fn)(size_t),
                        const size_t *sizes, size_t nsizes, int whole)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t need = whole ? (sizes[i] + PAGE - 1) & ~(PAGE - 1) : sizes[i];
        void *v[4];
        for (int j = 0; j < 4; j++) {
            v[j] = fn(sizes[i]);
            REQ_NONNULL(v[j]);
            REQ_MSG(is_aligned(v[j], PAGE), "%s(%zu) = %p", name, sizes[i],
                    v[j]);
            size_t u = hak_malloc_usable_size(v[j]);
            REQ_MSG(u >= need, "%s(%zu): usable %zu < %zu", name, sizes[i],
                    u, need);
            memset(v[j], 0x42 + j, need);
        }
        for (int j = 0; j < 4; j++)
            hak_free(v[j]);
    }
}

START_TEST(test_valloc)
{
    static const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 10000,
                                    32768, 100000, MiB };
    page_blocks("valloc", hak_valloc, sizes, sizeof sizes / sizeof sizes[0],
                0);
}
END_TEST

START_TEST(test_pvalloc)
{
    static const size_t sizes[] = { 1, 100, 4095, 4096, 4097, 10000, 32768,
                                    40000, 100000, MiB + 1 };
    page_blocks("pvalloc", hak_pvalloc, sizes,
                sizeof sizes / sizeof sizes[0], 1);
    errno = 0;
    REQ_NULL(hak_pvalloc(SIZE_MAX - 10));
    REQ_INT_EQ(errno, ENOMEM);
}
END_TEST

/* ---- trim, stats, heap check -------------------------------------------- */

START_TEST(test_malloc_trim)
{
    void *v[2000];
    for (int i = 0; i < 2000; i++)
        REQ_NONNULL(v[i] = hak_malloc((size_t)(i % 50) * 97 + 1));
    for (int i = 0; i < 2000; i++)
        hak_free(v[i]);
    void *big = hak_malloc(4 * MiB);
    REQ_NONNULL(big);
    hak_free(big); /* a cached large span: something to release */
    int r = hak_malloc_trim(0);
    REQ_INT_EQ(r, 1);
    r = hak_malloc_trim(0);
    REQ(r == 0 || r == 1);
    r = hak_malloc_trim(1 * MiB);
    REQ(r == 0 || r == 1);
    /* Memory still works, in every tier, and its contents hold. */
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(i % 50) * 97 + 1 + (i % 7 == 0 ? 40000 : 0);
        v[i] = hak_malloc(n);
        REQ_NONNULL(v[i]);
        pattern_fill(v[i], n, (unsigned)i);
    }
    r = hak_malloc_trim(0);
    REQ(r == 0 || r == 1);
    REQ_UINT_GT(hak_check_heap(), 0);
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(i % 50) * 97 + 1 + (i % 7 == 0 ? 40000 : 0);
        REQ_PATTERN(v[i], n, (unsigned)i);
        hak_free(v[i]);
    }
    r = hak_malloc_trim(0);
    REQ(r == 0 || r == 1);
    hak_check_heap();
    void *p = hak_malloc(123);
    REQ_NONNULL(p);
    memset(p, 1, 123);
    hak_free(p);
}
END_TEST

START_TEST(test_stats_counters)
{
    hak_stats_t s0, s1, s2;
    void *v[30];
    hak_stats_get(&s0);
    for (int i = 0; i < 10; i++) {
        v[i] = hak_malloc(32);
        v[10 + i] = hak_malloc(5000);
        v[20 + i] = hak_malloc(200000 + (size_t)i);
    }
    hak_stats_get(&s1);
    REQ_UINT_EQ(s1.allocs - s0.allocs, 30);
    REQ_UINT_EQ(s1.large_allocs - s0.large_allocs, 10);
    REQ_UINT_EQ(s1.frees, s0.frees);
    REQ_UINT_GE(s1.slabs_mapped, 2);
    REQ_UINT_GE(s1.superslabs_mapped, 2);
    REQ_UINT_GE(s1.mapped_bytes, 10 * 200000);
    REQ_UINT_GE(s1.peak_mapped_bytes, s1.mapped_bytes);
    for (int i = 0; i < 30; i++)
        hak_free(v[i]);
    hak_stats_get(&s2);
    REQ_UINT_EQ(s2.frees - s1.frees, 30);
    REQ_UINT_EQ(s2.large_frees - s1.large_frees, 10);
    REQ_UINT_EQ(s2.allocs, s1.allocs);
    REQ_UINT_GE(s2.peak_mapped_bytes, s1.peak_mapped_bytes);
    /* The other entry points count too. */
    void *p = hak_calloc(3, 7);
    void *q = hak_memalign(256, 10);
    void *r = hak_realloc(NULL, 10);
    hak_stats_t s3;
    hak_stats_get(&s3);
    REQ_UINT_EQ(s3.allocs - s2.allocs, 3);
    hak_free(p);
    hak_free(q);
    hak_free(r);
}
END_TEST

START_TEST(test_check_heap_healthy)
{
    enum { N = 3000 };
    static void *v[N];
    unsigned long long s = 7;
    size_t before = hak_check_heap();
    for (int i = 0; i < N; i++) {
        /* every tiny and mid class, a few large ones, some aligned */
        size_t n = i < 1100 ? (size_t)i : (size_t)(test_rand(&s) % 34000);
        if (i % 97 == 0)
            v[i] = hak_memalign((size_t)16 << (i % 9), n);
        else
            v[i] = hak_malloc(n);
        REQ_NONNULL(v[i]);
        memset(v[i], i & 0xff, n);
    }
    size_t full = hak_check_heap();
    REQ_UINT_GT(full, 0);
    REQ_UINT_GE(full, before);
    /* Free every third block, then a random half of the rest. */
    for (int i = 0; i < N; i += 3) {
        hak_free(v[i]);
        v[i] = NULL;
    }
    REQ_UINT_GT(hak_check_heap(), 0);
    for (int i = 0; i < N; i++) {
        if (v[i] && test_rand(&s) % 2) {
            hak_free(v[i]);
            v[i] = NULL;
        }
    }
    REQ_UINT_GT(hak_check_heap(), 0);
    /* Reuse the holes. */
    for (int i = 0; i < N; i++)
        if (!v[i])
            REQ_NONNULL(v[i] = hak_malloc((size_t)(i * 13) % 3000));
    REQ_UINT_GT(hak_check_heap(), 0);
    for (int i = 0; i < N; i++)
        hak_free(v[i]);
    hak_check_heap();
}
END_TEST

/* ---- Seeded random workload --------------------------------------------- */

enum { SLOTS = 1000 };

typedef struct slot {
    uint8_t *p;
    size_t n;
    uint32_t id;
} slot_t;

static uint8_t id_byte(uint32_t id, size_t i)
{
    return (uint8_t)(id * 0x9du + (uint32_t)i * 0x3bu + (id >> 8));
}

static void slot_fill(slot_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->p[i] = id_byte(s->id, i);
}

static void slot_verify(const slot_t *s, size_t n, const char *when)
{
    for (size_t i = 0; i < n; i++)
        if (s->p[i] != id_byte(s->id, i))
            ck_abort_msg("block id %u (%zu bytes at %p): byte %zu is 0x%02x, "
                         "expected 0x%02x (%s)", s->id, s->n, (void *)s->p,
                         i, s->p[i], id_byte(s->id, i), when);
}

/* Sizes 0..70000: half tiny, a quarter mid, a quarter up to 70000. */
static size_t random_size(unsigned long long *rs)
{
    unsigned long long r = test_rand(rs);
    switch (r & 3) {
    case 0:
    case 1:
        return (size_t)((r >> 2) % 1025);
    case 2:
        return (size_t)((r >> 2) % 32769);
    default:
        return (size_t)((r >> 2) % 70001);
    }
}

START_TEST(test_random_ops)
{
    static slot_t t[SLOTS];
    unsigned long long rs = 0x5eed0000ull + 42;
    uint32_t next_id = 1;
    /* Under memcheck a tenth: this loop was 200 s of make valgrind's
     * 4 min, its paths all met within the first thousands of operations;
     * the plain runs do every one. */
    const unsigned ops = (RUNNING_ON_VALGRIND ? 20000 : 200000) * test_scale();
    unsigned checks = 0;
    memset(t, 0, sizeof t);
    for (unsigned op = 0; op < ops; op++) {
        slot_t *s = &t[test_rand(&rs) % SLOTS];
        unsigned kind = (unsigned)(test_rand(&rs) % 10);
        if (!s->p) {
            s->n = random_size(&rs);
            s->id = next_id++;
            if (kind < 2) {
                size_t c = s->n ? 1 + test_rand(&rs) % 8 : 1;
                size_t each = (s->n + c - 1) / c;
                s->n = each * c;
                s->p = hak_calloc(c, each);
                REQ_NONNULL(s->p);
                for (size_t i = 0; i < s->n; i++)
                    REQ_MSG(s->p[i] == 0, "calloc byte %zu dirty", i);
            } else if (kind < 3) {
                s->p = hak_memalign((size_t)16 << (test_rand(&rs) % 10),
                                    s->n);
                REQ_NONNULL(s->p);
            } else {
                s->p = hak_malloc(s->n);
                REQ_NONNULL(s->p);
            }
            REQ(is_aligned(s->p, 16));
            REQ_UINT_GE(hak_malloc_usable_size(s->p), s->n);
            slot_fill(s);
        } else if (kind < 6) {
            slot_verify(s, s->n, "before free");
            hak_free(s->p);
            s->p = NULL;
        } else {
            size_t m = kind < 8 ? random_size(&rs)
                                : s->n + test_rand(&rs) % 64; /* small step */
            slot_verify(s, s->n, "before realloc");
            uint8_t *q = hak_realloc(s->p, m);
            if (m == 0) {
                REQ_NULL(q); /* realloc(p, 0) frees p */
                s->p = NULL;
            } else {
                REQ_NONNULL(q);
                s->p = q;
                size_t keep = s->n < m ? s->n : m;
                slot_verify(s, keep, "after realloc");
                s->n = m;
                REQ_UINT_GE(hak_malloc_usable_size(s->p), m);
                slot_fill(s);
            }
        }
        if (op % 10000 == 9999) {
            REQ_UINT_GT(hak_check_heap(), 0);
            checks++;
        }
    }
    REQ_UINT_GE(checks, ops / 10000);
    for (int i = 0; i < SLOTS; i++) {
        if (t[i].p) {
            slot_verify(&t[i], t[i].n, "at the end");
            hak_free(t[i].p);
        }
    }
    REQ_UINT_GT(hak_check_heap(), 0);
}
END_TEST

Suite *api_suite(void)
{
    const test_row_t rows[] = {
        { "semantics", test_malloc_zero_unique, 0, 0 },
        { "semantics", test_free_null, 0, 0 },
        { "semantics", test_free_preserves_errno, 0, 0 },
        { "semantics", test_malloc_huge_enomem, 0, 0 },
        { "semantics", test_usable_size, 0, 0 },
        { "semantics", test_usable_bytes_private, 0, 0 },
        { "semantics", test_calloc_zeroes, 0, 0 },
        { "semantics", test_calloc_dirty_reuse, 0, 0 },
        { "semantics", test_calloc_overflow, 0, 0 },
        { "semantics", test_realloc_null_is_malloc, 0, 0 },
        { "semantics", test_realloc_zero_frees, 0, 0 },
        { "semantics", test_realloc_across_tiers, 0, 0 },
        { "semantics", test_realloc_chain, 0, 0 },
        { "semantics", test_realloc_other_thread, 0, 0 },
        { "semantics", test_realloc_same_size, 0, 0 },
        { "semantics", test_realloc_huge_keeps_block, 0, 0 },
        { "semantics", test_reallocarray, 0, 0 },
        { "semantics", test_posix_memalign_bad_alignment, 0, 0 },
        { "semantics", test_posix_memalign_good, 0, 0 },
        { "semantics", test_aligned_alloc_bad_alignment, 0, 0 },
        { "semantics", test_memalign_rounds_up, 0, 0 },
        { "semantics", test_valloc, 0, 0 },
        { "semantics", test_pvalloc, 0, 0 },
        { "semantics", test_malloc_trim, 0, 0 },
        { "semantics", test_stats_counters, 0, 0 },
        { "semantics", test_check_heap_healthy, 0, 0 },
        { "random", test_random_ops, 300, 0 },
    };
    Suite *s = suite_create("api");
    SUITE_ROWS(s, rows);
    return s;
}
