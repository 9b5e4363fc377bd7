/* test_zero.c — zero-size blocks (src/zero.c, src/zero.h):
 *   - malloc(0) and every other way to ask for zero bytes (calloc,
 *     realloc(NULL, 0), the memalign family) return unique pointers,
 *     aligned as asked, in a zero region (a PROT_NONE mapping, as
 *     /proc/self/maps shows it), with usable size 0;
 *   - no byte at or around such a pointer is accessible: a read or a
 *     write faults at the program's own access;
 *   - free, realloc and malloc_usable_size work; a double free, a free of
 *     an address inside a slot or of a slot never handed out abort with
 *     the usual one-line reports;
 *   - a freed slot is not handed out again soon (next fit), and a full
 *     region gets another.
 * The mechanism each test needs is named with it; without it, it fails. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#include "types.h"

#define SLOTS (HAK_SS_SIZE / HAK_ALIGN) /* zero-size blocks per region */

static int is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* Whether a lies in a mapping with no access rights (a zero region). The
 * last such mapping is remembered: a run of blocks from one region reads
 * /proc/self/maps once. */
static int in_prot_none(const void *a)
{
    static uintptr_t lo, hi;
    char prot[5];
    if ((uintptr_t)a >= lo && (uintptr_t)a < hi)
        return 1;
    proc_mapping((uintptr_t)a, &lo, &hi, prot);
    if (strcmp(prot, "---p") == 0)
        return 1;
    lo = hi = 0;
    return 0;
}

/* p is a live zero-size block, aligned to align. */
static void check_zero_block(const void *p, size_t align, const char *how)
{
    REQ_MSG(p != NULL, "%s returned NULL", how);
    REQ_MSG(is_aligned(p, align), "%s = %p, not aligned to %zu", how, p,
            align);
    REQ_MSG(in_prot_none(p), "%s = %p: not in a PROT_NONE mapping", how, p);
    REQ_MSG(hak_malloc_usable_size(p) == 0, "%s = %p: usable size %zu", how,
            p, hak_malloc_usable_size(p));
}

static int by_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

static void check_unique(void **v, size_t n)
{
    qsort(v, n, sizeof v[0], by_addr);
    for (size_t i = 0; i + 1 < n; i++)
        REQ_MSG(v[i] != v[i + 1], "%p handed out twice", v[i]);
}

/* ---- Unique, aligned, usable size 0 ------------------------------------ */

START_TEST(zero_size_unique_and_aligned)
{
    enum { N = 4096 };
    static void *v[N];
    for (int i = 0; i < N; i++) {
        v[i] = hak_malloc(0);
        check_zero_block(v[i], HAK_ALIGN, "malloc(0)");
    }
    check_unique(v, N);
    for (int i = 0; i < N; i++)
        hak_free(v[i]);
}
END_TEST

/* Every entry point that can be asked for zero bytes, every alignment up
 * to twice a region (a region of its own, aligned that far), all live at
 * once and distinct. */
START_TEST(zero_size_every_entry_point)
{
    enum { MAXV = 512 };
    static void *v[MAXV];
    size_t n = 0;
    v[n++] = hak_calloc(0, 100);
    v[n++] = hak_calloc(100, 0);
    v[n++] = hak_calloc(0, 0);
    v[n++] = hak_realloc(NULL, 0);
    v[n++] = hak_reallocarray(NULL, 0, 8);
    for (size_t i = 0; i < n; i++)
        check_zero_block(v[i], HAK_ALIGN, "calloc/realloc of 0 bytes");
    for (size_t a = 16; a <= 2 * HAK_SS_SIZE; a <<= 1) {
        for (int k = 0; k < 3; k++) {
            void *p = NULL;
            ck_assert_int_eq(hak_posix_memalign(&p, a, 0), 0);
            check_zero_block(p, a, "posix_memalign(a, 0)");
            v[n++] = p;
            v[n++] = hak_aligned_alloc(a, 0);
            check_zero_block(v[n - 1], a, "aligned_alloc(a, 0)");
            v[n++] = hak_memalign(a, 0);
            check_zero_block(v[n - 1], a, "memalign(a, 0)");
        }
    }
    v[n++] = hak_valloc(0);
    check_zero_block(v[n - 1], HAK_PAGE, "valloc(0)");
    v[n++] = hak_pvalloc(0);
    check_zero_block(v[n - 1], HAK_PAGE, "pvalloc(0)");
    REQ_UINT_LE(n, MAXV);
    check_unique(v, n);
    for (size_t i = 0; i < n; i++)
        hak_free(v[i]);
}
END_TEST

/* ---- Inaccessible ------------------------------------------------------- */

typedef struct probe {
    size_t align;
    ptrdiff_t off;
    int write;
} probe_t;

static void probe(void *arg)
{
    const probe_t *t = arg;
    volatile uint8_t *p = hak_memalign(t->align, 0);
    if (!p)
        _exit(3);
    if (t->write) {
        p[t->off] = 1;
    } else {
        uint8_t v = p[t->off];
        __asm__ volatile("" : : "r"(v));
    }
    _exit(0);
}

/* Mechanism: the zero region is PROT_NONE, so the byte at the pointer,
 * the rest of its 16 bytes and its neighbours all fault. */
START_TEST(zero_size_block_inaccessible)
{
    static const ptrdiff_t offs[] = { 0, 1, 15, 16, -1, 4096 };
    for (size_t a = 16; a <= HAK_PAGE; a *= 256) {
        for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
            for (int w = 0; w < 2; w++) {
                probe_t t = { a, offs[i], w };
                char buf[1024];
                ck_assert_msg(child_faults(probe, &t, buf, sizeof buf),
                              "a %s at offset %td of a zero-size block "
                              "(alignment %zu) did not fault: %s",
                              w ? "write" : "read", offs[i], a, buf);
            }
        }
    }
}
END_TEST

/* ---- Misuse ------------------------------------------------------------- */

static void double_free(void *arg)
{
    int others = *(const int *)arg;
    void *p = hak_malloc(0);
    hak_free(p);
    for (int i = 0; i < others; i++)
        hak_malloc(0); /* never p again: next fit moves on */
    hak_free(p);
}

/* Mechanism: the live bit (and the bit of slots ever handed out). */
START_TEST(zero_size_double_free_aborts)
{
    int others = 0;
    expect_abort(double_free, &others, "hakmem: double free: ");
    others = 1000;
    expect_abort(double_free, &others, "hakmem: double free: ");
}
END_TEST

static void free_at(void *arg)
{
    ptrdiff_t off = *(const ptrdiff_t *)arg;
    uint8_t *p = hak_malloc(0);
    hak_free(p + off);
}

static void usable_freed(void *arg)
{
    (void)arg;
    void *p = hak_malloc(0);
    hak_free(p);
    hak_malloc_usable_size(p);
}

static void realloc_freed(void *arg)
{
    (void)arg;
    void *p = hak_malloc(0);
    hak_free(p);
    hak_realloc(p, 10);
}

START_TEST(zero_size_invalid_pointers_abort)
{
    ptrdiff_t off = 1; /* inside a slot */
    expect_abort(free_at, &off, "hakmem: invalid free: ");
    off = 8;
    expect_abort(free_at, &off, "(not a zero-size block)");
    off = 64 * HAK_ALIGN; /* a slot never handed out */
    expect_abort(free_at, &off, "hakmem: invalid free: ");
    expect_abort(free_at, &off, "(never handed out)");
    expect_abort(usable_freed, NULL, "hakmem: invalid pointer: ");
    expect_abort(realloc_freed, NULL, "hakmem: invalid realloc: ");
}
END_TEST

/* ---- realloc ------------------------------------------------------------ */

static void realloc_to_zero_then_free(void *arg)
{
    (void)arg;
    void *p = hak_malloc(0);
    if (hak_realloc(p, 0) != NULL)
        _exit(3);
    hak_free(p); /* realloc(p, 0) freed it */
}

START_TEST(zero_size_realloc)
{
    /* To n > 0: a normal block, and the zero-size one is freed. */
    static const size_t sizes[] = { 1, 100, 3000, 100000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = hak_malloc(0);
        uint8_t *q = hak_realloc(p, sizes[i]);
        ck_assert_ptr_nonnull(q);
        ck_assert(!in_prot_none(q));
        ck_assert_uint_ge(hak_malloc_usable_size(q), sizes[i]);
        memset(q, 0x5a, sizes[i]);
        /* And back to zero bytes: freed, NULL (as for any block). */
        ck_assert_ptr_null(hak_realloc(q, 0));
    }
    expect_abort(realloc_to_zero_then_free, NULL, "hakmem: double free: ");
}
END_TEST

/* ---- Reuse order and regions -------------------------------------------- */

/* Mechanism: next fit. A freed slot comes back only after the rest of its
 * region was handed out in turn. */
START_TEST(freed_zero_slot_not_reused_soon)
{
    enum { N = 1000 };
    static void *v[N];
    void *p = hak_malloc(0);
    hak_free(p);
    for (int i = 0; i < N; i++) {
        v[i] = hak_malloc(0);
        REQ_MSG(v[i] != p, "the freed %p came back after %d others", p, i);
    }
    for (int i = 0; i < N; i++)
        hak_free(v[i]);
}
END_TEST

/* More live zero-size blocks than a region has slots: a second region;
 * all of them distinct, all of them freed. */
START_TEST(full_region_gets_another)
{
    const size_t n = SLOTS + 100;
    void **v = malloc(n * sizeof *v); /* the test's own, from libc */
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = hak_malloc(0);
        REQ_MSG(v[i] && in_prot_none(v[i]),
                "block %zu of %zu: %p", i, n, v[i]);
    }
    check_unique(v, n);
    REQ_MSG(((uintptr_t)v[0] >> HAK_SS_SHIFT) !=
                ((uintptr_t)v[n - 1] >> HAK_SS_SHIFT),
            "%zu live zero-size blocks in one region", n);
    for (size_t i = 0; i < n; i++)
        hak_free(v[i]);
    free(v);
}
END_TEST

START_TEST(zero_size_counted)
{
    hak_stats_t s0, s1;
    hak_stats_get(&s0);
    void *p = hak_malloc(0), *q = hak_calloc(0, 8);
    hak_free(p);
    hak_free(q);
    hak_stats_get(&s1);
    ck_assert_uint_eq(s1.allocs - s0.allocs, 2);
    ck_assert_uint_eq(s1.frees - s0.frees, 2);
}
END_TEST

Suite *zero_suite(void)
{
    const test_row_t rows[] = {
        { "zero", zero_size_unique_and_aligned, 120, 0 },
        { "zero", zero_size_every_entry_point, 0, 0 },
        { "zero", zero_size_block_inaccessible, 0, 0 },
        { "zero", zero_size_double_free_aborts, 0, 0 },
        { "zero", zero_size_invalid_pointers_abort, 0, 0 },
        { "zero", zero_size_realloc, 0, 0 },
        { "zero", freed_zero_slot_not_reused_soon, 0, 0 },
        { "zero", full_region_gets_another, 0, 0 },
        { "zero", zero_size_counted, 0, 0 },
    };
    Suite *s = suite_create("zero");
    SUITE_ROWS(s, rows);
    return s;
}
