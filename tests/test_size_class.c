/* test_size_class.c — the size-class table (size_class.h: pure functions
 * of the design, no allocator state): the one stride, capacity, and the
 * exact division. How slabs of every class are carved, and slab_index on
 * a descriptor, are white-box: the slab suite's "layout" case
 * (test_slab_layout.c). */
#include "util.h"

#include "size_class.h"

/* The smallest class whose size holds n bytes: the same in every build
 * (no check reserves room by moving a size to a larger class). */
static unsigned expected_class(size_t n)
{
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        if (hak_class_size[c] >= n)
            return c;
    return HAK_NUM_CLASSES;
}

static int is_pow2(uint32_t x)
{
    return x && !(x & (x - 1));
}

START_TEST(class_of_exhaustive)
{
    /* n == 0 has no class: index 0 of the fast path's table is
     * malloc(0)'s alone and names HAK_CLASS_ZERO, whose current slab is
     * always the empty one (the slow path serves it). */
    ck_assert_uint_eq(hak_class_of_16[0], HAK_CLASS_ZERO);
    for (size_t n = 1; n <= HAK_SMALL_LIMIT; n++) {
        unsigned want = expected_class(n);
        REQ_MSG(want < HAK_NUM_CLASSES, "no class holds %zu bytes", n);
        unsigned got = hak_class_of(n);
        REQ_MSG(got == want, "hak_class_of(%zu) = %u, want %u (size %u)", n,
                got, want, hak_class_size[want]);
        /* The malloc fast path indexes the tiny table itself. */
        if (n <= HAK_TINY_MAX) {
            unsigned fast = hak_class_of_16[(n + 15) >> 4];
            REQ_MSG(fast == want, "fast-path class of %zu = %u, want %u", n,
                    fast, want);
        }
    }
    /* Every size the tiny/mid tiers accept has a class, and the limit is
     * exactly the largest class. */
    ck_assert_uint_eq(HAK_SMALL_LIMIT, hak_class_size[HAK_NUM_CLASSES - 1]);
    ck_assert_uint_eq(hak_class_of(HAK_SMALL_LIMIT), HAK_NUM_CLASSES - 1);
}
END_TEST

START_TEST(class_sizes_ordered)
{
    ck_assert_uint_ge(hak_class_size[0], HAK_ALIGN);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        uint32_t sz = hak_class_size[c];
        ck_assert_msg(sz % 16 == 0, "class %u size %u not a multiple of 16",
                      c, sz);
        /* The stride: the size, and the canary room while canaries are
         * on (the size's lowest set bit: a multiple of every power of
         * two the size is, so alignment is the same in every build). */
        uint32_t room = hak_canary_on() ? sz & -sz : 0;
        ck_assert_uint_eq(hak_stride(c), sz + room);
        ck_assert_uint_eq(hak_stride(c) % (sz & -sz), 0);
        if (c > 0)
            ck_assert_msg(sz > hak_class_size[c - 1],
                          "class %u size %u <= class %u size %u", c, sz,
                          c - 1, hak_class_size[c - 1]);
        if (c < HAK_TINY_CLASSES) {
            ck_assert_msg(sz <= HAK_TINY_MAX, "tiny class %u size %u", c, sz);
            ck_assert_uint_eq(hak_class_tier(c), HAK_TIER_TINY);
        } else if (c < HAK_TINY_CLASSES + HAK_MID_CLASSES) {
            ck_assert_msg(sz > HAK_TINY_MAX && sz <= HAK_MID_MAX,
                          "mid class %u size %u", c, sz);
            ck_assert_uint_eq(hak_class_tier(c), HAK_TIER_MID);
        } else {
            ck_assert_msg(sz > HAK_MID_MAX && sz <= HAK_BIG_MAX,
                          "big class %u size %u", c, sz);
            ck_assert_uint_eq(hak_class_tier(c), HAK_TIER_BIG);
        }
    }
    ck_assert_uint_eq(hak_class_size[HAK_TINY_CLASSES - 1], HAK_TINY_MAX);
    ck_assert_uint_eq(hak_class_size[HAK_TINY_CLASSES + HAK_MID_CLASSES - 1],
                      HAK_MID_MAX);
    ck_assert_uint_eq(hak_class_size[HAK_NUM_CLASSES - 1], HAK_BIG_MAX);
}
END_TEST

/* Which class serves a size, aligned or not, is one table for every
 * build: the expectations are numbers, not computed from the stride. */
static const struct { size_t n, align, size; } aligned_cases[] = {
    { 1, 16, 16 },        { 16, 16, 16 },      { 17, 16, 32 },
    { 40, 64, 64 },       { 48, 32, 64 },      { 96, 32, 96 },
    { 100, 128, 128 },    { 1000, 1024, 1024 }, { 1024, 16, 1024 },
    { 1025, 16, 1280 },   { 1280, 256, 1280 }, { 1280, 512, 1536 },
    { 3000, 4096, 4096 }, { 32768, 16, 32768 }, { 20000, 8192, 24576 },
    /* a page plus a header (sqlite3's page cache: 4104-4704 bytes) has a
     * class of its own, not 5120's 25% more */
    { 4104, 16, 4608 },   { 4608, 16, 4608 },  { 4609, 16, 5120 },
    { 4104, 512, 4608 },  { 4104, 1024, 5120 },
    /* 256 bytes plus a header likewise (make bench-real's sqlite3 asks
     * for 272): 288, not 320 */
    { 257, 16, 288 },     { 272, 16, 288 },    { 288, 32, 288 },
    { 289, 16, 320 },     { 272, 64, 320 },
    /* eight classes from 8 to 16 KiB, 1 KiB apart (git blame's buffers
     * spread evenly over the doubling) */
    { 8193, 16, 9216 },   { 9216, 16, 9216 },  { 9217, 16, 10240 },
    { 11000, 16, 11264 }, { 13000, 16, 13312 }, { 15000, 16, 15360 },
    { 15361, 16, 16384 }, { 9000, 1024, 9216 }, { 9000, 2048, 10240 },
    { 13000, 4096, 16384 },
};

START_TEST(aligned_class_same_in_every_build)
{
    for (size_t i = 0; i < sizeof aligned_cases / sizeof aligned_cases[0];
         i++) {
        size_t n = aligned_cases[i].n, align = aligned_cases[i].align;
        unsigned c = hak_class_aligned(n, align);
        ck_assert_msg(c < HAK_NUM_CLASSES && hak_class_size[c] ==
                                                 aligned_cases[i].size,
                      "(%zu, align %zu): class size %u, want %zu", n, align,
                      c < HAK_NUM_CLASSES ? hak_class_size[c] : 0,
                      aligned_cases[i].size);
        /* and the block the API hands out is aligned, of that class
         * where usable sizes are the class's */
        void *p = NULL;
        ck_assert_int_eq(hak_posix_memalign(&p, align, n), 0);
        ck_assert_uint_eq((uintptr_t)p % align, 0);
        if (!HAK_SLOTSTATE)
            ck_assert_uint_eq(hak_malloc_usable_size(p),
                              aligned_cases[i].size);
        hak_free(p);
    }
}
END_TEST

/* realloc of a small block stays in place exactly while the new size is
 * more than half its class and at most the class: one policy in every
 * build, whatever canary room the stride has. */
START_TEST(small_realloc_steps_same_in_every_build)
{
    static const struct { size_t size; int moves; } steps[] = {
        { 40, 0 },  /* class 48 */
        { 48, 0 },  /* its whole class: in place */
        { 49, 1 },  /* past it: class 64 */
        { 33, 0 },  /* more than half of 64 */
        { 32, 1 },  /* half: class 32 */
        { 1000, 1 }, { 1024, 0 }, { 1025, 1 }, /* class 1280 */
        { 32768, 1 }, { 16385, 0 }, { 16384, 1 },
    };
    uint8_t *p = hak_malloc(steps[0].size);
    for (size_t i = 1; i < sizeof steps / sizeof steps[0]; i++) {
        uint8_t *q = hak_realloc(p, steps[i].size);
        ck_assert_ptr_nonnull(q);
        ck_assert_msg((q != p) == steps[i].moves, "step %zu: realloc to %zu "
                      "%s", i, steps[i].size,
                      steps[i].moves ? "stayed in place" : "moved");
        p = q;
    }
    hak_free(p);
}
END_TEST

START_TEST(capacity_maximal)
{
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        uint64_t cap = hak_capacity(c), stride = hak_stride(c);
        uint64_t usable = hak_slab_usable(c);
        ck_assert_uint_eq(usable,
                          (uint64_t)1 << hak_tier_shift(hak_class_tier(c)));
        ck_assert_msg(cap >= 4, "class %u holds only %ju blocks", c,
                      (uintmax_t)cap);
        ck_assert_msg(cap * stride <= usable,
                      "class %u: capacity %ju * stride %ju > usable %ju", c,
                      (uintmax_t)cap, (uintmax_t)stride, (uintmax_t)usable);
        ck_assert_msg((cap + 1) * stride > usable,
                      "class %u: capacity %ju is not maximal (stride %ju, "
                      "usable %ju)", c, (uintmax_t)cap, (uintmax_t)stride,
                      (uintmax_t)usable);
    }
}
END_TEST

START_TEST(pow2_strides_divide_slab)
{
    unsigned seen = 0;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        uint32_t stride = hak_stride(c);
        /* a power-of-two class has a power-of-two stride */
        if (is_pow2(hak_class_size[c])) {
            seen++;
            ck_assert_msg(is_pow2(stride), "class %u: size %u, stride %u", c,
                          hak_class_size[c], stride);
        }
        if (!is_pow2(stride))
            continue;
        size_t slab = hak_slab_usable(c);
        ck_assert_msg(slab % stride == 0,
                      "class %u: power-of-two stride %u does not divide the "
                      "slab size %zu", c, stride, slab);
        ck_assert_uint_eq((uint64_t)hak_capacity(c) * stride, slab);
    }
    /* 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
     * 65536 */
    ck_assert_uint_eq(seen, 13);
}
END_TEST

START_TEST(div_magic_exact)
{
    /* size_class.h promises, for every offset below 2^32: the high half of
     * off * magic is off / stride, and the low half is below the magic iff
     * stride divides off. Checked for every offset of a slab and every one
     * up to 2^18, then sampled up to 2^32. */
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        uint32_t stride = hak_stride(c);
        uint64_t magic = hak_div_magic(stride);
        for (uint64_t off = 0; off < ((uint64_t)1 << 32);
             off += off < ((uint64_t)1 << 18) ? 1 : 65521) {
            unsigned __int128 p = (unsigned __int128)off * magic;
            uint64_t q = (uint64_t)(p >> 64);
            int divides = (uint64_t)p < magic;
            REQ_MSG(q == off / stride && divides == (off % stride == 0),
                    "class %u stride %u: off %ju gives quotient %ju, "
                    "divides %d; want %ju, %d", c, stride, (uintmax_t)off,
                    (uintmax_t)q, divides, (uintmax_t)(off / stride),
                    off % stride == 0);
        }
    }
}
END_TEST

Suite *size_class_suite(void)
{
    const test_row_t rows[] = {
        { "table", class_of_exhaustive, 0, 0 },
        { "table", class_sizes_ordered, 0, 0 },
        { "table", capacity_maximal, 0, 0 },
        { "table", aligned_class_same_in_every_build, 0, 0 },
        { "table", small_realloc_steps_same_in_every_build, 0, 0 },
        { "table", pow2_strides_divide_slab, 0, 0 },
        { "table", div_magic_exact, 0, 0 },
    };
    Suite *s = suite_create("size_class");
    SUITE_ROWS(s, rows);
    return s;
}
