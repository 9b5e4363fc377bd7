/* test_align.c — alignment of every block, disjointness of live blocks,
 * and the memalign family for every power-of-two alignment up to 1 MiB. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
/* The check knobs the library was built with (the suites are compiled
 * with the same -D flags): a test expects what a knob makes observable,
 * by the knob (HAK_SLOTSTATE: exact usable sizes), never by the flavour's
 * name, so a release build with one knob set passes it too. */
#include "types.h"


typedef struct blk {
    uint8_t *p;
    size_t n;      /* requested */
    size_t usable; /* hak_malloc_usable_size */
    unsigned id;
} blk_t;

static int is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

static int by_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const blk_t *)a)->p;
    uintptr_t y = (uintptr_t)((const blk_t *)b)->p;
    return x < y ? -1 : x > y;
}

/* Sorts v by address; every block's usable bytes (at least one byte, so a
 * zero-size block still owns its address) end before the next block. */
static void check_disjoint(blk_t *v, size_t n)
{
    qsort(v, n, sizeof *v, by_addr);
    for (size_t i = 0; i + 1 < n; i++) {
        size_t len = v[i].usable ? v[i].usable : 1;
        if (len < v[i].n)
            len = v[i].n;
        REQ_MSG((uintptr_t)v[i].p + len <= (uintptr_t)v[i + 1].p,
                      "block %p (%zu bytes asked, %zu usable) overlaps "
                      "block %p (%zu bytes asked)", (void *)v[i].p, v[i].n,
                      v[i].usable, (void *)v[i + 1].p, v[i + 1].n);
    }
}

static uint8_t id_byte(unsigned id, size_t i)
{
    return (uint8_t)(id * 7u + i * 13u + 5u);
}

static void blk_fill(const blk_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        b->p[i] = id_byte(b->id, i);
}

static void blk_verify(const blk_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        REQ_MSG(b->p[i] == id_byte(b->id, i),
                      "block %u at %p (%zu bytes): byte %zu overwritten",
                      b->id, (void *)b->p, b->n, i);
}

/* Every size 0..4096 is 16-byte aligned; all 4097 blocks live at once
 * do not overlap, and each one's usable bytes are its own. */
START_TEST(test_every_small_size_aligned_disjoint)
{
    enum { N = 4097 };
    static blk_t v[N];
    for (unsigned i = 0; i < N; i++) {
        v[i].n = i;
        v[i].id = i;
        v[i].p = hak_malloc(i);
        REQ_NONNULL(v[i].p);
        REQ_MSG(is_aligned(v[i].p, 16), "malloc(%u) = %p", i,
                      (void *)v[i].p);
        v[i].usable = hak_malloc_usable_size(v[i].p);
        REQ_UINT_GE(v[i].usable, i);
        blk_fill(&v[i], v[i].usable);
    }
    check_disjoint(v, N);
    for (unsigned i = 0; i < N; i++)
        blk_verify(&v[i], v[i].usable);
    for (unsigned i = 0; i < N; i++)
        hak_free(v[i].p);
    REQ_UINT_GT(hak_check_heap(), 0);
}
END_TEST

/* Random sizes up to 64 MiB (log-uniform, so every tier is hit). */
START_TEST(test_random_sizes_aligned)
{
    enum { BATCH = 24, ROUNDS = 12 };
    unsigned long long rs = 0xa11a11ull;
    blk_t v[BATCH];
    unsigned id = 0;
    for (unsigned r = 0; r < ROUNDS * test_scale(); r++) {
        for (unsigned i = 0; i < BATCH; i++) {
            unsigned bits = (unsigned)(test_rand(&rs) % 27); /* < 64 MiB */
            size_t n = (size_t)(test_rand(&rs) & ((2ull << bits) - 1));
            if (n > 64 * MiB)
                n = 64 * MiB;
            v[i].n = n;
            v[i].id = id++;
            v[i].p = hak_malloc(n);
            REQ_MSG(v[i].p != NULL, "malloc(%zu) failed", n);
            REQ_MSG(is_aligned(v[i].p, 16), "malloc(%zu) = %p", n,
                          (void *)v[i].p);
            v[i].usable = hak_malloc_usable_size(v[i].p);
            REQ_UINT_GE(v[i].usable, n);
            /* Touch both ends and a stretch at the start. */
            blk_fill(&v[i], n < 4096 ? n : 4096);
            if (n) {
                v[i].p[n - 1] = 0x5c;
                v[i].p[v[i].usable - 1] = 0x5c;
            }
        }
        for (unsigned i = 0; i < BATCH; i++) {
            size_t n = v[i].n;
            if (n > 4096) /* the end bytes must not have been clobbered */
                REQ_UINT_EQ(v[i].p[n - 1], 0x5c);
            blk_verify(&v[i], n < 4096 ? (n ? n - 1 : 0) : 4096);
        }
        check_disjoint(v, BATCH);
        for (unsigned i = 0; i < BATCH; i++)
            hak_free(v[i].p);
    }
}
END_TEST

enum { F_POSIX, F_ALIGNED, F_MEMALIGN, F_COUNT };
static const char *const fname[F_COUNT] = { "posix_memalign",
                                            "aligned_alloc", "memalign" };

static void *aligned_by(int f, size_t align, size_t size)
{
    switch (f) {
    case F_POSIX: {
        void *p = NULL;
        int r = hak_posix_memalign(&p, align, size);
        REQ_MSG(r == 0, "posix_memalign(%zu, %zu) = %d", align, size,
                      r);
        return p;
    }
    case F_ALIGNED:
        return hak_aligned_alloc(align, size);
    default:
        return hak_memalign(align, size);
    }
}

/* Every power-of-two alignment 16..1 MiB, several sizes, each function:
 * aligned, usable >= size, writable for the size, freeable; all of one
 * alignment live at once and disjoint. */
START_TEST(test_memalign_family_every_alignment)
{
    for (size_t a = 16; a <= MiB; a <<= 1) {
        const size_t sizes[] = { 0, 1, a - 1, a, a + 1, 3 * a, 100000 };
        enum { NS = sizeof sizes / sizeof sizes[0] };
        blk_t v[F_COUNT * NS + 8];
        size_t nv = 0;
        for (int f = 0; f < F_COUNT; f++) {
            for (size_t k = 0; k < NS; k++) {
                size_t n = sizes[k];
                errno = 0;
                uint8_t *p = aligned_by(f, a, n);
                REQ_MSG(p != NULL, "%s(%zu, %zu) = NULL, errno %d",
                              fname[f], a, n, errno);
                REQ_MSG(is_aligned(p, a), "%s(%zu, %zu) = %p",
                              fname[f], a, n, (void *)p);
                size_t u = hak_malloc_usable_size(p);
                REQ_MSG(u >= n, "%s(%zu, %zu): usable %zu", fname[f],
                              a, n, u);
                if (HAK_SLOTSTATE)
                    REQ_MSG(u == n, "%s(%zu, %zu): exact usable %zu",
                                  fname[f], a, n, u);
                v[nv] = (blk_t){ p, n, u, (unsigned)(nv + a) };
                blk_fill(&v[nv], n);
                nv++;
            }
        }
        /* Plain blocks in between, to catch aligned ones landing on them. */
        for (int i = 0; i < 8; i++) {
            size_t n = (size_t)(i * 700);
            uint8_t *p = hak_malloc(n);
            REQ_NONNULL(p);
            v[nv] = (blk_t){ p, n, hak_malloc_usable_size(p),
                             (unsigned)(nv + a) };
            blk_fill(&v[nv], n);
            nv++;
        }
        for (size_t i = 0; i < nv; i++)
            blk_verify(&v[i], v[i].n);
        check_disjoint(v, nv);
        for (size_t i = 0; i < nv; i++)
            hak_free(v[i].p);
    }
    REQ_UINT_GT(hak_check_heap(), 0);
}
END_TEST

/* Zero-size aligned allocations of different alignments (and functions)
 * all live at once: each aligned, none overlapping another, each freeable.
 * A zero-size request must still get a block of a class whose blocks sit
 * on multiples of the alignment, not the 16-byte class. */
START_TEST(test_zero_size_aligned_disjoint)
{
    enum { PER = 5, MAXN = 17 * F_COUNT * PER + 64 };
    static blk_t v[MAXN];
    size_t nv = 0;
    unsigned id = 0;
    for (int round = 0; round < PER; round++) {
        for (size_t a = 16; a <= MiB; a <<= 1) {
            for (int f = 0; f < F_COUNT; f++) {
                uint8_t *p = aligned_by(f, a, 0);
                REQ_MSG(p != NULL, "%s(%zu, 0) = NULL", fname[f], a);
                REQ_MSG(is_aligned(p, a), "%s(%zu, 0) = %p", fname[f],
                              a, (void *)p);
                size_t u = hak_malloc_usable_size(p);
                if (HAK_SLOTSTATE)
                    REQ_UINT_EQ(u, 0);
                v[nv] = (blk_t){ p, 0, u, id++ };
                blk_fill(&v[nv], u);
                nv++;
            }
        }
        /* And plain zero-size ones. */
        for (int i = 0; i < 12; i++) {
            uint8_t *p = hak_malloc(0);
            REQ_NONNULL(p);
            size_t u = hak_malloc_usable_size(p);
            v[nv] = (blk_t){ p, 0, u, id++ };
            blk_fill(&v[nv], u);
            nv++;
        }
    }
    REQ_UINT_LE(nv, MAXN);
    for (size_t i = 0; i < nv; i++)
        blk_verify(&v[i], v[i].usable);
    check_disjoint(v, nv);
    /* Zero-size blocks live in zero regions, not in the heap's slabs:
     * the walk finds none of them, and nothing wrong. */
    hak_check_heap();
    for (size_t i = 0; i < nv; i++)
        hak_free(v[i].p);
    hak_check_heap();
}
END_TEST

/* Usable size of aligned blocks, over a sweep of sizes. */
START_TEST(test_aligned_usable_size)
{
    static const size_t aligns[] = { 32, 64, 128, 512, 4096, 8192, 65536 };
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        size_t a = aligns[k];
        for (size_t n = 0; n <= 40000; n += n < 300 ? 1 : 257) {
            uint8_t *p = hak_memalign(a, n);
            REQ_NONNULL(p);
            REQ_MSG(is_aligned(p, a), "memalign(%zu, %zu) = %p", a, n,
                          (void *)p);
            size_t u = hak_malloc_usable_size(p);
            REQ_MSG(u >= n, "memalign(%zu, %zu): usable %zu", a, n, u);
            if (HAK_SLOTSTATE)
                REQ_UINT_EQ(u, n);
            memset(p, 0xee, u);
            hak_free(p);
        }
    }
}
END_TEST

/* valloc and pvalloc blocks, interleaved, stay page aligned and disjoint. */
START_TEST(test_page_aligned_disjoint)
{
    enum { N = 64 };
    blk_t v[N];
    for (unsigned i = 0; i < N; i++) {
        size_t n = (size_t)i * 1531;
        uint8_t *p = i % 2 ? hak_valloc(n) : hak_pvalloc(n);
        REQ_NONNULL(p);
        REQ_MSG(is_aligned(p, 4096), "%s(%zu) = %p",
                      i % 2 ? "valloc" : "pvalloc", n, (void *)p);
        v[i] = (blk_t){ p, n, hak_malloc_usable_size(p), i };
        REQ_UINT_GE(v[i].usable, n);
        blk_fill(&v[i], n);
    }
    for (unsigned i = 0; i < N; i++)
        blk_verify(&v[i], v[i].n);
    check_disjoint(v, N);
    for (unsigned i = 0; i < N; i++)
        hak_free(v[i].p);
}
END_TEST

Suite *align_suite(void)
{
    const test_row_t rows[] = {
        { "alignment", test_every_small_size_aligned_disjoint, 300, 0 },
        { "alignment", test_random_sizes_aligned, 0, 0 },
        { "alignment", test_memalign_family_every_alignment, 0, 0 },
        { "alignment", test_zero_size_aligned_disjoint, 0, 0 },
        { "alignment", test_aligned_usable_size, 0, 0 },
        { "alignment", test_page_aligned_disjoint, 0, 0 },
    };
    Suite *s = suite_create("align");
    SUITE_ROWS(s, rows);
    return s;
}
