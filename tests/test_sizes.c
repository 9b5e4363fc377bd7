/* test_sizes.c — size arithmetic at the edges, and sized frees.
 *
 * Every entry point of src/api.c (and the large tier's bounds behind it)
 * over a table of alignments up to 2^63 and sizes up to SIZE_MAX, against
 * an expected result derived here from first principles, not from how
 * hakmem lays blocks out: a block of `size` bytes at a nonzero multiple of
 * `align` must fit the 47-bit user address space, so
 *   align >= 2^47 or size > 2^47 - align   NULL with ENOMEM, always
 *   both at most 16 MiB                    a block, always
 *   in between                             ENOMEM or a valid block (it
 *                                          depends on the machine's memory
 *                                          and overcommit policy)
 * and EINVAL where the standards say so (posix_memalign: not a power of
 * two or below sizeof(void *); aligned_alloc: not a power of two; glibc's
 * memalign: above 2^63). A block must be aligned, lie inside the address
 * space (a wrapped size computation shows up as a block at a
 * non-canonical address or one shorter than asked), be writable at both
 * ends and report usable >= size.
 *
 * Sized frees: every size a block can be allocated with is accepted
 * (no false positives: every small size, every alignment, realloc'd
 * blocks), and the wrong ones abort with "sized free mismatch". */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
/* The check knobs the library was built with (the suites are compiled
 * with the same -D flags): a test expects what a knob makes observable,
 * by the knob (HAK_SLOTSTATE: exact usable sizes), never by the flavour's
 * name, so a release build with one knob set passes it too. */
#include "types.h"

#define VA ((size_t)1 << 47)
#define P2(k) ((size_t)1 << (k))
#define SIZE_MISMATCH "hakmem: sized free mismatch: "

enum expect { E_OK, E_NOMEM, E_INVAL, E_EITHER };
static const char *const ename[] = { "a block", "ENOMEM", "EINVAL",
                                     "ENOMEM or a block" };

/* What a request for `size` bytes at a multiple of `align` (a power of
 * two; below 16 means 16) must give. */
static enum expect fits(size_t align, size_t size)
{
    if (align < 16)
        align = 16;
    if (align >= VA || size > VA - align)
        return E_NOMEM;
    if (align <= 16 * MiB && size <= 16 * MiB)
        return E_OK;
    return E_EITHER;
}

static int pow2(size_t a)
{
    return a && !(a & (a - 1));
}

/* Alignments: powers of two to 2^63, and some that are not. */
static const size_t aligns[] = {
    0, 1, 2, 4, 8, 16, 32, 64, 4096, 8192, 32768, 65536, MiB, 2 * MiB,
    P2(32), P2(46), P2(47), P2(48), P2(62), P2(63),
    3, 24, 48, 4097, P2(46) + 16, P2(63) + 8, SIZE_MAX / 2, SIZE_MAX,
};
#define NALIGNS (sizeof aligns / sizeof aligns[0])

/* Sizes: small, the tier limits, the address-space limit, and the top of
 * size_t, where a rounding or an added alignment wraps. */
static const size_t base_sizes[] = {
    0, 1, 15, 16, 17, 1024, 4095, 4096, 4097, 32767, 32768, 32769, 100000,
    MiB, 16 * MiB,
    P2(46) - 4096, P2(46), P2(47) - 2 * 4096, P2(47) - 4096, P2(47) - 1,
    P2(47), P2(47) + 1, P2(48), P2(62), P2(63) - 1, P2(63), P2(63) + 4096,
    SIZE_MAX / 2, SIZE_MAX - P2(47) + 1, SIZE_MAX - P2(47) + 1 + MiB,
    SIZE_MAX - P2(46) + 1 + 4096, SIZE_MAX - MiB, SIZE_MAX - 8192,
    SIZE_MAX - 4096, SIZE_MAX - 4095, SIZE_MAX - 4094, SIZE_MAX - 16,
    SIZE_MAX - 1, SIZE_MAX,
};
#define NBASE (sizeof base_sizes / sizeof base_sizes[0])

/* The base sizes, plus, for every alignment a, sizes that wrap to a small
 * mapping when a is added: 2^64 - a + {0, 4096, 1 MiB}. */
static size_t sizes[NBASE + 3 * NALIGNS];
static size_t nsizes;

static void make_sizes(void)
{
    if (nsizes)
        return;
    for (size_t i = 0; i < NBASE; i++)
        sizes[nsizes++] = base_sizes[i];
    for (size_t i = 0; i < NALIGNS; i++) {
        size_t a = aligns[i];
        if (!pow2(a) || a < 4096)
            continue;
        sizes[nsizes++] = (size_t)0 - a;
        sizes[nsizes++] = (size_t)0 - a + 4096;
        sizes[nsizes++] = (size_t)0 - a + MiB;
    }
}

/* Checks one outcome: p (NULL on failure) and err (the errno, or the
 * return value of posix_memalign); `align` what the block must be aligned
 * to, `need` the bytes it must hold. Frees p. */
static void verify(const char *fn, size_t align, size_t size, size_t need,
                   enum expect e, void *p, int err)
{
    uintptr_t a = (uintptr_t)p;
    if (!p) {
        REQ_MSG(e != E_OK, "%s(align=%#zx, size=%#zx): NULL (errno %d), "
                "expected a block", fn, align, size, err);
        int want = e == E_INVAL ? EINVAL : ENOMEM;
        REQ_MSG(err == want, "%s(align=%#zx, size=%#zx): NULL with %d, "
                "expected %s", fn, align, size, err, ename[e]);
        return;
    }
    REQ_MSG(e == E_OK || e == E_EITHER, "%s(align=%#zx, size=%#zx) = %p, "
            "expected %s", fn, align, size, p, ename[e]);
    size_t al = align < 16 ? 16 : align;
    REQ_MSG(a % al == 0, "%s(align=%#zx, size=%#zx) = %p: not aligned", fn,
            align, size, p);
    REQ_MSG(a < VA && need <= VA - a, "%s(align=%#zx, size=%#zx) = %p: "
            "outside the address space", fn, align, size, p);
    size_t u = hak_malloc_usable_size(p);
    REQ_MSG(u >= need, "%s(align=%#zx, size=%#zx): usable %zu < %zu", fn,
            align, size, u, need);
    if (need) {
        ((volatile uint8_t *)p)[0] = 1;
        ((volatile uint8_t *)p)[need - 1] = 2;
    }
    hak_free(p);
}

/* ---- One test per entry point ------------------------------------------ */

START_TEST(test_malloc_sizes)
{
    make_sizes();
    for (size_t i = 0; i < nsizes; i++) {
        errno = 0;
        void *p = hak_malloc(sizes[i]);
        verify("malloc", 16, sizes[i], sizes[i], fits(16, sizes[i]), p,
               errno);
    }
}
END_TEST

static const size_t counts[] = {
    0, 1, 2, 3, 16, 4096, P2(32), P2(32) + 1, P2(35), P2(47), P2(63),
    SIZE_MAX / 2, SIZE_MAX / 2 + 1, SIZE_MAX,
};
#define NCOUNTS (sizeof counts / sizeof counts[0])

/* count * size with the overflow told apart: 0 when it overflows. */
static int product(size_t c, size_t s, size_t *out)
{
    unsigned __int128 t = (unsigned __int128)c * s;
    *out = (size_t)t;
    return t >> 64 == 0;
}

START_TEST(test_calloc_sizes)
{
    make_sizes();
    for (size_t k = 0; k < NCOUNTS; k++) {
        for (size_t i = 0; i < nsizes; i++) {
            size_t c = counts[k], s = sizes[i], n;
            enum expect e = product(c, s, &n) ? fits(16, n) : E_NOMEM;
            errno = 0;
            uint8_t *p = hak_calloc(c, s);
            int err = errno;
            if (p && n && n <= 16 * MiB)
                for (size_t j = 0; j < n; j += 4093)
                    REQ_MSG(p[j] == 0, "calloc(%zu, %zu): byte %zu", c, s,
                            j);
            verify("calloc", 16, s, n, e, p, err);
        }
    }
}
END_TEST

/* The blocks realloc starts from: tiny, mid, large, large and aligned. */
static uint8_t *start_block(int kind, size_t *n)
{
    static const size_t ns[] = { 100, 5000, 100000, 70000 };
    *n = ns[kind];
    uint8_t *p;
    if (kind == 3)
        REQ_INT_EQ(hak_posix_memalign((void **)&p, 65536, *n), 0);
    else
        p = hak_malloc(*n);
    REQ_NONNULL(p);
    for (size_t j = 0; j < *n; j++)
        p[j] = (uint8_t)(j * 7 + 1);
    return p;
}

static void check_kept(const uint8_t *p, size_t n, const char *fn,
                       size_t size)
{
    for (size_t j = 0; j < n; j++)
        REQ_MSG(p[j] == (uint8_t)(j * 7 + 1),
                "%s(%#zx): byte %zu of the block changed", fn, size, j);
}

/* A realloc-like result: on failure the old block is intact and live. */
static void verify_resize(const char *fn, uint8_t *old, size_t oldn,
                          size_t size, size_t n, enum expect e, uint8_t *q,
                          int err)
{
    if (!q) {
        check_kept(old, oldn, fn, size);
        REQ_UINT_GE(hak_malloc_usable_size(old), oldn);
        hak_free(old);
    } else {
        check_kept(q, oldn < n ? oldn : n, fn, size);
    }
    verify(fn, 16, size, n, e, q, err);
}

START_TEST(test_realloc_sizes)
{
    make_sizes();
    for (int kind = 0; kind < 4; kind++) {
        for (size_t i = 0; i < nsizes; i++) {
            size_t s = sizes[i], oldn;
            if (s == 0)
                continue; /* frees: test_api's test_realloc_zero_frees */
            uint8_t *p = start_block(kind, &oldn);
            errno = 0;
            uint8_t *q = hak_realloc(p, s);
            verify_resize("realloc", p, oldn, s, s, fits(16, s), q, errno);
        }
    }
}
END_TEST

START_TEST(test_reallocarray_sizes)
{
    make_sizes();
    for (size_t k = 0; k < NCOUNTS; k++) {
        for (size_t i = 0; i < nsizes; i++) {
            size_t c = counts[k], s = sizes[i], n, oldn;
            int ok = product(c, s, &n);
            if (ok && n == 0)
                continue; /* frees, as realloc(p, 0) */
            enum expect e = ok ? fits(16, n) : E_NOMEM;
            uint8_t *p = start_block((int)((k + i) % 4), &oldn);
            errno = 0;
            uint8_t *q = hak_reallocarray(p, c, s);
            verify_resize("reallocarray", p, oldn, s, n, e, q, errno);
        }
    }
}
END_TEST

START_TEST(test_posix_memalign_sizes)
{
    make_sizes();
    for (size_t k = 0; k < NALIGNS; k++) {
        for (size_t i = 0; i < nsizes; i++) {
            size_t a = aligns[k], s = sizes[i];
            enum expect e = !pow2(a) || a < sizeof(void *) ? E_INVAL
                                                            : fits(a, s);
            void *out = (void *)0x1234;
            errno = 4321;
            int r = hak_posix_memalign(&out, a, s);
            REQ_MSG(errno == 4321, "posix_memalign(%#zx, %#zx) changed "
                    "errno", a, s);
            if (r) {
                REQ_MSG(out == (void *)0x1234, "posix_memalign(%#zx, %#zx) "
                        "wrote *out on failure", a, s);
                out = NULL;
            }
            verify("posix_memalign", a, s, s, e, out, r);
        }
    }
}
END_TEST

/* fn(align, size) for every alignment and size; align_of(a) is the
 * alignment the block gets, or 0 where a is refused (EINVAL). */
static void aligned_sizes(const char *name, void *(*fn)(size_t, size_t),
                          size_t (*align_of)(size_t))
{
    make_sizes();
    for (size_t k = 0; k < NALIGNS; k++) {
        for (size_t i = 0; i < nsizes; i++) {
            size_t a = aligns[k], s = sizes[i], r = align_of(a);
            enum expect e = r ? fits(r, s) : E_INVAL;
            errno = 0;
            void *p = fn(a, s);
            verify(name, r ? r : a, s, s, e, p, errno);
        }
    }
}

static size_t aligned_alloc_align(size_t a)
{
    return pow2(a) ? a : 0;
}

/* glibc: rounded up to a power of two; none above 2^63. */
static size_t memalign_align(size_t a)
{
    size_t r = 1;
    while (r < a && r < P2(63))
        r <<= 1;
    return a > P2(63) ? 0 : r;
}

START_TEST(test_aligned_alloc_sizes)
{
    aligned_sizes("aligned_alloc", hak_aligned_alloc, aligned_alloc_align);
}
END_TEST

START_TEST(test_memalign_sizes)
{
    aligned_sizes("memalign", hak_memalign, memalign_align);
}
END_TEST

/* fn(size) for every size: page aligned, and for pvalloc whole pages
 * (rounded: a size within a page of SIZE_MAX is ENOMEM). */
static void page_sizes(const char *name, void *(*fn)(size_t), int whole)
{
    make_sizes();
    for (size_t i = 0; i < nsizes; i++) {
        size_t s = sizes[i];
        unsigned __int128 r = ((unsigned __int128)s + 4095) / 4096 * 4096;
        if (!whole)
            r = s;
        enum expect e = r >> 64 ? E_NOMEM : fits(4096, (size_t)r);
        errno = 0;
        void *p = fn(s);
        verify(name, 4096, s, (size_t)r, e, p, errno);
    }
}

START_TEST(test_valloc_sizes)
{
    page_sizes("valloc", hak_valloc, 0);
}
END_TEST

START_TEST(test_pvalloc_sizes)
{
    page_sizes("pvalloc", hak_pvalloc, 1);
}
END_TEST

/* The known wrap (hak_large_alloc's bound with an alignment of 2^47 or more):
 * these returned a block at 2^47 or 2^63 in release and crashed debug. */
START_TEST(test_large_alignment_no_wrap)
{
    static const size_t c[][2] = {
        { P2(47), (size_t)0 - P2(47) + MiB },
        { P2(47), (size_t)0 - P2(47) + 4096 },
        { P2(48), (size_t)0 - P2(48) + 8192 },
        { P2(63), P2(63) + 4096 },
        { P2(63), 1 },
        { P2(47), 0 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        void *p = (void *)0x1234;
        REQ_INT_EQ(hak_posix_memalign(&p, c[i][0], c[i][1]), ENOMEM);
        REQ_PTR_EQ(p, (void *)0x1234);
        errno = 0;
        REQ_NULL(hak_aligned_alloc(c[i][0], c[i][1]));
        REQ_INT_EQ(errno, ENOMEM);
        errno = 0;
        REQ_NULL(hak_memalign(c[i][0], c[i][1]));
        REQ_INT_EQ(errno, ENOMEM);
    }
}
END_TEST

/* ---- Sized frees -------------------------------------------------------- */

START_TEST(test_free_sized_null)
{
    errno = 77;
    hak_free_sized(NULL, 0);
    hak_free_sized(NULL, 100);
    hak_free_aligned_sized(NULL, 64, 100);
    hak_free_aligned_sized(NULL, 3, 100);
    REQ_INT_EQ(errno, 77);
}
END_TEST

/* Every size a block can be asked with, through malloc and calloc. */
START_TEST(test_free_sized_every_size)
{
    for (size_t n = 0; n <= 40 * KiB; n += n < 2048 ? 1 : 61) {
        void *p = hak_malloc(n);
        REQ_NONNULL(p);
        errno = 77;
        hak_free_sized(p, n);
        REQ_INT_EQ(errno, 77);
        p = hak_calloc(n ? n : 1, 1);
        REQ_NONNULL(p);
        hak_free_sized(p, n ? n : 1);
        p = hak_calloc(1, n);
        REQ_NONNULL(p);
        hak_free_sized(p, n);
    }
    static const size_t large[] = { 100000, MiB, 3 * MiB + 7 };
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        void *p = hak_malloc(large[i]);
        REQ_NONNULL(p);
        errno = 77;
        hak_free_sized(p, large[i]);
        REQ_INT_EQ(errno, 77);
    }
}
END_TEST

/* realloc's results, in place (a block kept in its class for a size of
 * another class: 128 -> 70) and moved, across the tiers. */
START_TEST(test_free_sized_after_realloc)
{
    static const size_t c[][2] = {
        { 128, 70 },     { 1024, 600 },  { 100, 120 },  { 4096, 2100 },
        { 32768, 17000 }, { 100, 50000 }, { 50000, 100 }, { 100000, 60000 },
        { 100000, 300000 }, { 16, 1 },    { 1, 16 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        void *p = hak_malloc(c[i][0]);
        REQ_NONNULL(p);
        p = hak_realloc(p, c[i][1]);
        REQ_NONNULL(p);
        hak_free_sized(p, c[i][1]);
    }
    unsigned long long s = 0x5eed;
    for (int i = 0; i < 3000; i++) {
        size_t a = 1 + (size_t)(test_rand(&s) % (i % 5 ? 3000 : 40000));
        size_t b = 1 + (size_t)(test_rand(&s) % (i % 7 ? 3000 : 40000));
        void *p = hak_malloc(a);
        REQ_NONNULL(p);
        p = hak_realloc(p, b);
        REQ_NONNULL(p);
        hak_free_sized(p, b);
    }
}
END_TEST

/* Every power-of-two alignment to 4 MiB, sizes around it, through every
 * aligned allocator (memalign and posix_memalign blocks are the same). */
START_TEST(test_free_aligned_sized_every_alignment)
{
    for (size_t a = 1; a <= 4 * MiB; a <<= 1) {
        const size_t ns[] = { 0, 1, a - 1, a, a + 1, 3 * a, 100, 5000,
                              40000, 100000 };
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            size_t n = ns[k];
            void *p = hak_aligned_alloc(a, n);
            REQ_NONNULL(p);
            hak_free_aligned_sized(p, a, n);
            p = hak_memalign(a, n);
            REQ_NONNULL(p);
            hak_free_aligned_sized(p, a, n);
            if (a >= sizeof(void *)) {
                REQ_INT_EQ(hak_posix_memalign(&p, a, n), 0);
                hak_free_aligned_sized(p, a, n);
            }
        }
    }
    /* malloc's blocks are aligned_alloc(16, n)'s. */
    for (size_t n = 0; n < 40000; n += 97) {
        void *p = hak_malloc(n);
        hak_free_aligned_sized(p, 16, n);
    }
}
END_TEST

typedef struct sized_case {
    int kind;          /* 0 malloc, 1 aligned_alloc, 2 memalign (wrong align) */
    size_t align, n;   /* allocated with */
    size_t falign, fn; /* freed with (falign 0: hak_free_sized) */
} sized_case_t;

typedef struct sized_run {
    const sized_case_t *c;
    /* a block of the same kind freed first: the superslab the checked
     * block is in is then the thread's hot one (the sized free's fast
     * path); else the thread's first free */
    int warm;
} sized_run_t;

static void sized_misuse(void *arg)
{
    const sized_run_t *r = arg;
    const sized_case_t *c = r->c;
    if (r->warm)
        hak_free(c->kind ? hak_aligned_alloc(c->align, c->n)
                         : hak_malloc(c->n));
    void *p = c->kind ? hak_aligned_alloc(c->align, c->n) : hak_malloc(c->n);
    if (!p)
        _exit(3);
    if (c->falign)
        hak_free_aligned_sized(p, c->falign, c->fn);
    else
        hak_free_sized(p, c->fn);
}

START_TEST(test_free_sized_mismatch_aborts)
{
    static const sized_case_t c[] = {
        { 0, 0, 100, 0, 24 },            /* tiny, another class */
        { 0, 0, 24, 0, 100 },
        { 0, 0, 3000, 0, 100 },          /* mid */
        { 0, 0, 3000, 0, 200000 },       /* small block, large size */
        { 0, 0, 100000, 0, 50000 },      /* big, a mid size */
        { 0, 0, 200000, 0, 199999 },     /* large */
        { 0, 0, 200000, 0, 100 },
        { 0, 0, 100, 0, SIZE_MAX },
        { 1, 64, 100, 64, 24 },          /* aligned, small */
        { 1, 4096, 100, 64, 100 },       /* right size, wrong alignment */
        { 1, 4096, 200000, 4096, 100000 }, /* aligned, large */
        { 1, 65536, 10, 16, 10 },        /* large only by its alignment */
        { 1, 64, 100, 3, 100 },          /* no power of two */
        { 1, 64, 100, P2(63), 100 },
    };
    char want[96];
    for (size_t i = 0; i < 2 * (sizeof c / sizeof c[0]); i++) {
        sized_run_t r = { &c[i / 2], (int)(i & 1) };
        snprintf(want, sizeof want, "(given size=%zu", r.c->fn);
        char buf[1024];
        int st = run_child(sized_misuse, &r, buf, sizeof buf);
        REQ_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                "case %zu%s: no abort, status %#x: %s", i / 2,
                r.warm ? " (warm)" : "", st, buf);
        REQ_MSG(strncmp(buf, SIZE_MISMATCH, strlen(SIZE_MISMATCH)) == 0 &&
                    strstr(buf, want) != NULL,
                "case %zu%s: expected \"%s...%s\", got: %s", i / 2,
                r.warm ? " (warm)" : "", SIZE_MISMATCH, want, buf);
    }
}
END_TEST

/* Sizes of one class are told apart by the debug flavour only. */
static void same_class(void *arg)
{
    (void)arg;
    hak_free_sized(hak_malloc(100), 110); /* both class 112 */
}

START_TEST(test_free_sized_same_class)
{
    char buf[1024];
    int st = run_child(same_class, NULL, buf, sizeof buf);
    if (HAK_SLOTSTATE)
        REQ_MSG(WIFSIGNALED(st) && strstr(buf, SIZE_MISMATCH) &&
                    strstr(buf, "(given size=110, block requested=100)"),
                "exact sizes: status %#x: %s", st, buf);
    else
        REQ_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0 && !buf[0],
                "release: status %#x: %s", st, buf);
}
END_TEST

static void sized_twice(void *arg)
{
    size_t n = *(size_t *)arg;
    void *p = hak_malloc(n);
    hak_free_sized(p, n);
    hak_free_sized(p, n);
}

/* A second sized free is a double free (release: the size fits the
 * class and the free finds the slot free; debug: validated first, the
 * slot is free). A large block's is found by the table. */
START_TEST(test_free_sized_twice)
{
    size_t n = 100;
    expect_abort(sized_twice, &n,
                 HAK_SLOTSTATE ? "hakmem: invalid free: "
                                : "hakmem: double free: ");
    n = 100000;
    expect_abort(sized_twice, &n,
                 HAK_SLOTSTATE ? "hakmem: invalid free: "
                               : "hakmem: double free: ");
    n = 200000;
    expect_abort(sized_twice, &n, "hakmem: invalid free: ");
}
END_TEST

Suite *sizes_suite(void)
{
    const test_row_t rows[] = {
        { "edges", test_malloc_sizes, 300, 0 },
        { "edges", test_calloc_sizes, 0, 0 },
        { "edges", test_realloc_sizes, 0, 0 },
        { "edges", test_reallocarray_sizes, 0, 0 },
        { "edges", test_posix_memalign_sizes, 0, 0 },
        { "edges", test_aligned_alloc_sizes, 0, 0 },
        { "edges", test_memalign_sizes, 0, 0 },
        { "edges", test_valloc_sizes, 0, 0 },
        { "edges", test_pvalloc_sizes, 0, 0 },
        { "edges", test_large_alignment_no_wrap, 0, 0 },
        { "sized_free", test_free_sized_null, 300, 0 },
        { "sized_free", test_free_sized_every_size, 0, 0 },
        { "sized_free", test_free_sized_after_realloc, 0, 0 },
        { "sized_free", test_free_aligned_sized_every_alignment, 0, 0 },
        { "sized_free", test_free_sized_mismatch_aborts, 0, 0 },
        { "sized_free", test_free_sized_same_class, 0, 0 },
        { "sized_free", test_free_sized_twice, 0, 0 },
    };
    Suite *s = suite_create("sizes");
    SUITE_ROWS(s, rows);
    return s;
}
