/* test_size_class.c — the size-class table, the one stride, capacity, the
 * exact division and slab_index, and carving whole slabs of every class
 * through the public API (batch refill on and off). */
#include <stdlib.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "util.h"

#include "heap.h"
#include "hooks.h"
#include "registry.h"
#include "size_class.h"
#include "slab.h"
#include "superslab.h"

/* ck_assert marks a point on every success (a write in fork mode); loops of
 * millions of checks use this instead, which costs nothing until it fails. */
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond))                                                          \
            ck_abort_msg(__VA_ARGS__);                                        \
    } while (0)

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
        CHECK(want < HAK_NUM_CLASSES, "no class holds %zu bytes", n);
        unsigned got = hak_class_of(n);
        CHECK(got == want, "hak_class_of(%zu) = %u, want %u (size %u)", n,
              got, want, hak_class_size[want]);
        /* The malloc fast path indexes the tiny table itself. */
        if (n <= HAK_TINY_MAX) {
            unsigned fast = hak_class_of_16[(n + 15) >> 4];
            CHECK(fast == want, "fast-path class of %zu = %u, want %u", n,
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
        } else {
            ck_assert_msg(sz > HAK_TINY_MAX && sz <= HAK_MID_MAX,
                          "mid class %u size %u", c, sz);
            ck_assert_uint_eq(hak_class_tier(c), HAK_TIER_MID);
        }
    }
    ck_assert_uint_eq(hak_class_size[HAK_TINY_CLASSES - 1], HAK_TINY_MAX);
    ck_assert_uint_eq(hak_class_size[HAK_NUM_CLASSES - 1], HAK_MID_MAX);
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
};

START_TEST(aligned_class_same_in_every_build)
{
    for (size_t i = 0; i < sizeof aligned_cases / sizeof aligned_cases[0];
         i++) {
        size_t n = aligned_cases[i].n, align = aligned_cases[i].align;
        unsigned c = hak_class_aligned(n > align ? n : align, align);
        ck_assert_msg(c < HAK_NUM_CLASSES && hak_class_size[c] ==
                                                 aligned_cases[i].size,
                      "(%zu, align %zu): class size %u, want %zu", n, align,
                      c < HAK_NUM_CLASSES ? hak_class_size[c] : 0,
                      aligned_cases[i].size);
        /* and the block the API hands out is that class's, aligned */
        void *p = NULL;
        ck_assert_int_eq(hak_posix_memalign(&p, align, n), 0);
        hak_slab_t *s = slab_of(ss_of((uintptr_t)p), (uintptr_t)p);
        ck_assert_uint_eq(hak_class_size[s->cls], aligned_cases[i].size);
        ck_assert_uint_eq((uintptr_t)p % align, 0);
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
    /* 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768 */
    ck_assert_uint_eq(seen, 12);
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
            CHECK(q == off / stride && divides == (off % stride == 0),
                  "class %u stride %u: off %ju gives quotient %ju, "
                  "divides %d; want %ju, %d", c, stride, (uintmax_t)off,
                  (uintmax_t)q, divides, (uintmax_t)(off / stride),
                  off % stride == 0);
        }
    }
}
END_TEST

/* A slab descriptor as hak_slab_init makes it, at an address never touched
 * (slab_index only does arithmetic on it). */
static hak_slab_t fake_slab(unsigned c)
{
    hak_slab_t s;
    memset(&s, 0, sizeof s);
    unsigned shift = hak_tier_shift(hak_class_tier(c));
    s.start = (uint8_t *)(((uintptr_t)0x3a5 << HAK_SS_SHIFT) +
                          ((uintptr_t)3 << shift));
    s.stride = hak_stride(c);
    s.div_magic = hak_div_magic(s.stride);
    s.capacity = hak_capacity(c);
    s.cls = (uint16_t)c;
    s.index = 3;
    return s;
}

static void check_slab_index(const hak_slab_t *s, uint32_t limit)
{
    uintptr_t start = (uintptr_t)s->start;
    uint64_t usable = hak_slab_usable(s->cls);
    /* Every offset of the slab and two strides past it. */
    for (uint64_t off = 0; off < usable + 2 * (uint64_t)s->stride; off++) {
        uint32_t want = UINT32_MAX;
        if (off % s->stride == 0 && off / s->stride < limit)
            want = (uint32_t)(off / s->stride);
        uint32_t got = slab_index(s, start + off, limit);
        CHECK(got == want,
              "class %u stride %u limit %u: slab_index(start+%ju) = %u, "
              "want %u", s->cls, s->stride, limit, (uintmax_t)off, got, want);
        if (want != UINT32_MAX)
            CHECK(slab_slot(s, want) == s->start + off,
                  "slab_slot(%u) is not start + %ju", want, (uintmax_t)off);
    }
    /* Below the start: the offset wraps and must never look valid. */
    const uint64_t below[] = { 1, 8, 16, s->stride, 2 * (uint64_t)s->stride,
                               usable, (uint64_t)1 << 40 };
    for (size_t i = 0; i < sizeof below / sizeof below[0]; i++) {
        uint32_t got = slab_index(s, start - below[i], limit);
        CHECK(got == UINT32_MAX,
              "class %u: slab_index(start-%ju) = %u, want none", s->cls,
              (uintmax_t)below[i], got);
    }
}

START_TEST(slab_index_every_offset)
{
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        hak_slab_t s = fake_slab(c);
        check_slab_index(&s, s.capacity);
        check_slab_index(&s, s.capacity / 2 + 1);
        check_slab_index(&s, 1);
        check_slab_index(&s, 0);
    }
}
END_TEST

/* ---- Carving whole slabs through the public API ------------------------- */

typedef struct slab_count {
    hak_slab_t *s;
    uint32_t n;
} slab_count_t;

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t block_word(size_t i)
{
    return (uint32_t)(i * 2654435761u) ^ 0xa5a5a5a5u;
}

/* One block of class c, just allocated: where it lives. */
static void check_block(unsigned c, const uint8_t *b, size_t i)
{
    uintptr_t a = (uintptr_t)b;
    unsigned tier = hak_class_tier(c);
    uint32_t stride = hak_stride(c);
    CHECK(registry_tier(a) == tier, "class %u block %zu %p: tier %u, want %u",
          c, i, (void *)b, registry_tier(a), tier);
    hak_superslab_t *ss = ss_of(a);
    CHECK(ss->magic == (HAK_SS_MAGIC ^ ss_base(ss)),
          "class %u block %p: superslab magic", c, (void *)b);
    CHECK(ss->owner == hak_tls_heap, "class %u block %p: owner", c, (void *)b);
    CHECK(ss->tier == tier && ss->slab_shift == hak_tier_shift(tier),
          "class %u block %p: superslab tier %u shift %u", c, (void *)b,
          ss->tier, ss->slab_shift);
    hak_slab_t *s = slab_of(ss, a);
    size_t bytes = (size_t)1 << ss->slab_shift;
    CHECK(s->index >= 1 && s->index < ss->nslabs,
          "class %u block %p in slab %u", c, (void *)b, s->index);
    CHECK(s->start == (uint8_t *)ss_base(ss) + (size_t)s->index * bytes,
          "class %u block %p: slab start %p", c, (void *)b, (void *)s->start);
    CHECK(s->cls == c && s->stride == stride &&
              s->capacity == hak_capacity(c) &&
              s->div_magic == hak_div_magic(stride),
          "class %u block %p: slab says class %u stride %u capacity %u", c,
          (void *)b, s->cls, s->stride, s->capacity);
    CHECK(b >= s->start && b + stride <= s->start + bytes,
          "class %u block %p (stride %u) outside its slab [%p, %p)", c,
          (void *)b, stride, (void *)s->start, (void *)(s->start + bytes));
    uint32_t idx = slab_index(s, a, s->capacity);
    CHECK(idx != UINT32_MAX, "class %u block %p is not at a block boundary "
          "(offset %zu, stride %u)", c, (void *)b, (size_t)(b - s->start),
          stride);
    CHECK(!slab_slot_free(s, idx), "class %u block %p: slot %u live but "
          "free in the bitmap", c, (void *)b, idx);
    CHECK(slab_slot(s, idx) == b, "slab_slot disagrees for %p", (void *)b);
    CHECK(a % HAK_ALIGN == 0, "block %p misaligned", (void *)b);
    if (is_pow2(stride))
        CHECK(a % stride == 0, "class %u block %p not aligned to its "
              "power-of-two size", c, (void *)b);
}

static void carve_class(unsigned c)
{
    /* Empty slabs go back to the OS, so a slab taken now reads zero where
     * no block was carved. */
    hak_malloc_trim(0);
    uint32_t stride = hak_stride(c), cap = hak_capacity(c);
    size_t req = hak_class_size[c];
    ck_assert_uint_eq(hak_class_of(req), c);
    size_t n = (size_t)cap * 2;
    uint8_t **blk = calloc(n, sizeof *blk);
    uintptr_t *sorted = calloc(n, sizeof *sorted);
    slab_count_t *slabs = calloc(n, sizeof *slabs);
    ck_assert_ptr_nonnull(blk);
    ck_assert_ptr_nonnull(sorted);
    ck_assert_ptr_nonnull(slabs);
    size_t nslabs = 0;

    for (size_t i = 0; i < n; i++) {
        blk[i] = hak_malloc(req);
        CHECK(blk[i] != NULL, "class %u: allocation %zu failed", c, i);
        check_block(c, blk[i], i);
        sorted[i] = (uintptr_t)blk[i];
    }
    /* No two blocks overlap (nor are the same). */
    qsort(sorted, n, sizeof *sorted, cmp_ptr);
    for (size_t i = 1; i < n; i++)
        CHECK(sorted[i] >= sorted[i - 1] + stride,
              "class %u: blocks %p and %p overlap (stride %u)", c,
              (void *)sorted[i - 1], (void *)sorted[i], stride);
    /* Recheck every block now that all slabs are carved as far as they go
     * (a later carve must not have changed an earlier slab's geometry). */
    for (size_t i = 0; i < n; i++) {
        check_block(c, blk[i], i);
        hak_slab_t *s = slab_of(ss_of((uintptr_t)blk[i]), (uintptr_t)blk[i]);
        size_t k = 0;
        while (k < nslabs && slabs[k].s != s)
            k++;
        if (k == nslabs)
            slabs[nslabs++] = (slab_count_t){ s, 0 };
        slabs[k].n++;
    }
    /* 2 * capacity blocks fill at least one slab completely. */
    size_t full = 0;
    for (size_t k = 0; k < nslabs; k++) {
        hak_slab_t *s = slabs[k].s;
        CHECK(slabs[k].n <= cap, "class %u: %u blocks in one slab of %u", c,
              slabs[k].n, cap);
        if (slabs[k].n != cap)
            continue;
        full++;
        for (uint32_t i = 0; i < cap; i++)
            CHECK(!slab_slot_free(s, i), "class %u: full slab has slot %u "
                  "free", c, i);
        /* The bytes after the last block were never written. */
        size_t bytes = hak_slab_usable(c);
        /* Under memcheck these bytes are no-access to a program; this
         * test looks at the allocator's side of them on purpose. */
        VALGRIND_MAKE_MEM_DEFINED(s->start + (size_t)cap * stride,
                                  bytes - (size_t)cap * stride);
        for (size_t off = (size_t)cap * stride; off < bytes; off++)
            CHECK(s->start[off] == 0,
                  "class %u: byte %zu of slab %p after its last block "
                  "written (0x%02x)", c, off, (void *)s->start,
                  s->start[off]);
    }
    CHECK(full >= 1, "class %u: %zu blocks filled no slab (%zu slabs)", c, n,
          nslabs);

    /* Each block's whole stride is writable and its own (the slack past
     * the request too: memcheck is told this test means it). */
    for (size_t i = 0; i < n; i++) {
        uint32_t w = block_word(i);
        VALGRIND_MAKE_MEM_UNDEFINED(blk[i] + req, stride - req);
        for (size_t j = 0; j < stride; j += 4)
            memcpy(blk[i] + j, &w, 4);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t w = block_word(i);
        for (size_t j = 0; j < stride; j += 4)
            CHECK(memcmp(blk[i] + j, &w, 4) == 0,
                  "class %u: block %zu %p byte %zu overwritten by a "
                  "neighbour", c, i, (void *)blk[i], j);
    }
    /* Debug: the slack after the request is a canary; put it back. */
    for (size_t i = 0; i < n; i++) {
        if (HAK_CANARY)
            memset(blk[i] + req, HAK_CANARY_BYTE, stride - req);
        VALGRIND_MAKE_MEM_NOACCESS(blk[i] + req, stride - req);
    }
    size_t verified = hak_check_heap();
    CHECK(verified >= n, "class %u: heap check verified %zu blocks < %zu", c,
          verified, n);
    for (size_t i = 0; i < n; i++)
        hak_free(blk[i]);
    hak_check_heap();
    free(blk);
    free(sorted);
    free(slabs);
}

START_TEST(carve_whole_slabs)
{
    hak_free(hak_malloc(1)); /* initialise: hak_g and this thread's heap */
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        carve_class(c);
    hak_malloc_trim(0);
}
END_TEST

Suite *size_class_suite(void)
{
    Suite *s = suite_create("size_class");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, class_of_exhaustive);
    tcase_add_test(tc, class_sizes_ordered);
    tcase_add_test(tc, capacity_maximal);
    tcase_add_test(tc, aligned_class_same_in_every_build);
    tcase_add_test(tc, small_realloc_steps_same_in_every_build);
    tcase_add_test(tc, pow2_strides_divide_slab);
    tcase_add_test(tc, div_magic_exact);
    tcase_add_test(tc, slab_index_every_offset);
    suite_add_tcase(s, tc);
    TCase *carve = tcase_create("carve");
    tcase_set_timeout(carve, 120);
    tcase_add_test(carve, carve_whole_slabs);
    suite_add_tcase(s, carve);
    return s;
}
