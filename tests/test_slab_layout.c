/* test_slab_layout.c — part of the white-box suite (slab, see
 * test_slab.c): where blocks and metadata lie.
 *   - slab_index and slab_slot agree with plain division for every offset
 *     of a descriptor of every class (and below and past the slab);
 *   - carving whole slabs of every class through the public API: each
 *     block in a superslab of its tier owned by this thread's heap, at a
 *     block boundary of a slab whose descriptor has the class's stride,
 *     capacity and magic, live in the bitmap; no two blocks overlap; a
 *     full slab's bytes after its last block never written;
 *   - a thread's first tiny block leaves the superslab's metadata slab
 *     with the header page and the descriptor pages up to the last slab
 *     taken (ninit) resident, not all nine descriptor pages (mincore);
 *   - the debug flavour's per-slot map of that superslab has one resident
 *     page for a slab that handed out one block, not the slab's whole span;
 *   - the heap record (with its remote queue) lies in a mapping with a
 *     guard page on each side, so a linear write from a user mapping below
 *     faults before it reaches the record (test_attack.c's route 1).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <valgrind/memcheck.h>

#include "util.h"

#include "heap.h"
#include "hooks.h"
#include "registry.h"
#include "size_class.h"
#include "slab.h"
#include "superslab.h"

static int is_pow2(uint32_t x)
{
    return x && !(x & (x - 1));
}

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
        REQ_MSG(got == want,
                "class %u stride %u limit %u: slab_index(start+%ju) = %u, "
                "want %u", s->cls, s->stride, limit, (uintmax_t)off, got,
                want);
        if (want != UINT32_MAX)
            REQ_MSG(slab_slot(s, want) == s->start + off,
                    "slab_slot(%u) is not start + %ju", want, (uintmax_t)off);
    }
    /* Below the start: the offset wraps and must never look valid. */
    const uint64_t below[] = { 1, 8, 16, s->stride, 2 * (uint64_t)s->stride,
                               usable, (uint64_t)1 << 40 };
    for (size_t i = 0; i < sizeof below / sizeof below[0]; i++) {
        uint32_t got = slab_index(s, start - below[i], limit);
        REQ_MSG(got == UINT32_MAX,
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
    REQ_MSG(registry_tier(a) == tier,
            "class %u block %zu %p: tier %u, want %u", c, i, (void *)b,
            registry_tier(a), tier);
    hak_superslab_t *ss = ss_of(a);
    REQ_MSG(ss->magic == (HAK_SS_MAGIC ^ ss_base(ss)),
            "class %u block %p: superslab magic", c, (void *)b);
    REQ_MSG(ss->owner == hak_tls_heap, "class %u block %p: owner", c,
            (void *)b);
    REQ_MSG(ss->tier == tier && ss->slab_shift == hak_tier_shift(tier),
            "class %u block %p: superslab tier %u shift %u", c, (void *)b,
            ss->tier, ss->slab_shift);
    hak_slab_t *s = slab_of(ss, a);
    size_t bytes = (size_t)1 << ss->slab_shift;
    REQ_MSG(s->index >= 1 && s->index < ss->nslabs,
            "class %u block %p in slab %u", c, (void *)b, s->index);
    REQ_MSG(s->start == (uint8_t *)ss_base(ss) + (size_t)s->index * bytes,
            "class %u block %p: slab start %p", c, (void *)b,
            (void *)s->start);
    REQ_MSG(s->cls == c && s->stride == stride &&
              s->capacity == hak_capacity(c) &&
              s->div_magic == hak_div_magic(stride),
            "class %u block %p: slab says class %u stride %u capacity %u", c,
            (void *)b, s->cls, s->stride, s->capacity);
    REQ_MSG(b >= s->start && b + stride <= s->start + bytes,
            "class %u block %p (stride %u) outside its slab [%p, %p)", c,
            (void *)b, stride, (void *)s->start, (void *)(s->start + bytes));
    uint32_t idx = slab_index(s, a, s->capacity);
    REQ_MSG(idx != UINT32_MAX, "class %u block %p is not at a block boundary "
            "(offset %zu, stride %u)", c, (void *)b, (size_t)(b - s->start),
            stride);
    REQ_MSG(!slab_slot_free(s, idx), "class %u block %p: slot %u live but "
            "free in the bitmap", c, (void *)b, idx);
    REQ_MSG(slab_slot(s, idx) == b, "slab_slot disagrees for %p", (void *)b);
    REQ_MSG(a % HAK_ALIGN == 0, "block %p misaligned", (void *)b);
    if (is_pow2(stride))
        REQ_MSG(a % stride == 0, "class %u block %p not aligned to its "
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
    uint8_t **blk = test_calloc(n, sizeof *blk);
    uintptr_t *sorted = test_calloc(n, sizeof *sorted);
    slab_count_t *slabs = test_calloc(n, sizeof *slabs);
    size_t nslabs = 0;

    for (size_t i = 0; i < n; i++) {
        blk[i] = hak_malloc(req);
        REQ_MSG(blk[i] != NULL, "class %u: allocation %zu failed", c, i);
        check_block(c, blk[i], i);
        sorted[i] = (uintptr_t)blk[i];
    }
    /* No two blocks overlap (nor are the same). */
    qsort(sorted, n, sizeof *sorted, cmp_ptr);
    for (size_t i = 1; i < n; i++)
        REQ_MSG(sorted[i] >= sorted[i - 1] + stride,
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
        REQ_MSG(slabs[k].n <= cap, "class %u: %u blocks in one slab of %u", c,
                slabs[k].n, cap);
        if (slabs[k].n != cap)
            continue;
        full++;
        for (uint32_t i = 0; i < cap; i++)
            REQ_MSG(!slab_slot_free(s, i), "class %u: full slab has slot %u "
                    "free", c, i);
        /* The bytes after the last block were never written. */
        size_t bytes = hak_slab_usable(c);
        /* Under memcheck these bytes are no-access to a program; this
         * test looks at the allocator's side of them on purpose. */
        VALGRIND_MAKE_MEM_DEFINED(s->start + (size_t)cap * stride,
                                  bytes - (size_t)cap * stride);
        for (size_t off = (size_t)cap * stride; off < bytes; off++)
            REQ_MSG(s->start[off] == 0,
                    "class %u: byte %zu of slab %p after its last block "
                    "written (0x%02x)", c, off, (void *)s->start,
                    s->start[off]);
    }
    REQ_MSG(full >= 1, "class %u: %zu blocks filled no slab (%zu slabs)", c, n,
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
            REQ_MSG(memcmp(blk[i] + j, &w, 4) == 0,
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
    REQ_MSG(verified >= n, "class %u: heap check verified %zu blocks < %zu", c,
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

/* ---- One block's metadata pages ----------------------------------------- */

typedef struct {
    void *block;
    pthread_barrier_t done, freed;
} one_block_t;

/* A new thread's first block: its heap is new (or adopted) and the block
 * comes from that heap's superslab. The thread keeps the block live while
 * the test thread looks, so nothing is released meanwhile. */
static void *one_block(void *arg)
{
    one_block_t *o = arg;
    o->block = hak_malloc(24);
    if (o->block)
        memset(o->block, 0x5a, 24);
    pthread_barrier_wait(&o->done);
    pthread_barrier_wait(&o->freed);
    hak_free(o->block);
    return NULL;
}

START_TEST(test_first_block_metadata)
{
    /* Heaps in the pool (CK_FORK=no: earlier tests' threads) give their
     * empty superslabs back, so the thread's block comes from a freshly
     * mapped superslab unless another test left blocks live. */
    hak_malloc_trim(0);
    one_block_t o = { 0 };
    ck_assert_int_eq(pthread_barrier_init(&o.done, NULL, 2), 0);
    ck_assert_int_eq(pthread_barrier_init(&o.freed, NULL, 2), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, one_block, &o), 0);
    pthread_barrier_wait(&o.done);
    ck_assert_ptr_nonnull(o.block);
    hak_superslab_t *ss = ss_of((uintptr_t)o.block);
    ck_assert_uint_eq(ss->tier, HAK_TIER_TINY);
    ck_assert_uint_ge(ss->ninit, 2);
    ck_assert_uint_le(ss->ninit, ss->nslabs);

    /* Metadata slab: the guard page, then the header and the descriptors
     * written so far; the rbits (4 pages) may be resident when other
     * threads freed into this superslab before (an adopted heap). No
     * other page of slab 0 was ever written. */
    uintptr_t base = ss_base(ss);
    size_t meta = (uintptr_t)&ss->slabs[ss->ninit] - base;
    size_t written = (meta + HAK_PAGE - 1) / HAK_PAGE - 1; /* no guard */
    size_t rbits = sizeof ss->rbits / HAK_PAGE;
    size_t got = resident_pages((void *)(base + HAK_PAGE),
                                slab_bytes(ss) - 2 * HAK_PAGE);
    ck_assert_msg(got <= written + rbits,
                  "metadata slab: %zu pages resident, at most %zu expected "
                  "(%u descriptors written, %zu rbits pages)", got,
                  written + rbits, ss->ninit, rbits);
    /* Per-slot states: a slab that handed out few blocks dirties the
     * first page of its span only (a fresh slab, or one whose last use
     * reached no further). */
    if (ss->slot_req) {
        hak_slab_t *s = slab_of(ss, (uintptr_t)o.block);
        size_t span = (size_t)1 << (ss->slab_shift - 4);
        uint32_t *map = &ss->slot_req[s->index * span];
        size_t first = ((size_t)s->top + 1) * 64 * sizeof(uint32_t);
        first = (first + HAK_PAGE - 1) / HAK_PAGE;
        size_t span_pages = span * sizeof(uint32_t) / HAK_PAGE;
        size_t slot_pages = resident_pages(map, span * sizeof(uint32_t));
        ck_assert_msg(slot_pages <= first,
                      "slot map of slab %u: %zu of %zu pages resident, "
                      "cursor reached word %u", s->index, slot_pages,
                      span_pages, s->top);
    }
    pthread_barrier_wait(&o.freed);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    hak_check_heap();
    pthread_barrier_destroy(&o.done);
    pthread_barrier_destroy(&o.freed);
}
END_TEST

/* ---- Metadata beside a user mapping (test_attack.c's route 1) ----------- */

/* The rights of the page holding a ("rw-p", "---p"; "" if unmapped). */
static void page_prot(uintptr_t a, char out[5])
{
    uintptr_t lo, hi;
    proc_mapping(a, &lo, &hi, out);
}

/* The heap record (and the remote queue in it) sits in a metadata mapping
 * with an inaccessible page on each side (hak_os_map_meta): a linear overflow
 * out of whatever user mapping lies below or above it faults there. */
START_TEST(route1_heap_record_between_guard_pages)
{
    hak_free(hak_malloc(16));
    hak_heap_t *h = hak_tls_heap;
    ck_assert_ptr_nonnull(h);
    uintptr_t lo, hi;
    char prot[5];
    proc_mapping((uintptr_t)h, &lo, &hi, prot);
    ck_assert_uint_ne(lo, 0);
    char below[5], above[5];
    page_prot(lo - 1, below);
    page_prot(hi, above);
    ck_assert_msg(strcmp(below, "---p") == 0,
                  "the page below the heap record's mapping [%#lx, %#lx) is "
                  "\"%s\", not a guard", (unsigned long)lo, (unsigned long)hi,
                  below);
    ck_assert_msg(strcmp(above, "---p") == 0,
                  "the page above the heap record's mapping [%#lx, %#lx) is "
                  "\"%s\", not a guard", (unsigned long)lo, (unsigned long)hi,
                  above);
}
END_TEST

/* The attack itself: a user's linear write runs off the end of the
 * mapping just below the heap record (as a large block's overflow would)
 * towards the record; the guard page stops it with SIGSEGV before one
 * byte of the record changes. */
/* Makes the page holding a writable for the program: a "user block" is
 * mapped there if nothing is (as a large block could be). Another
 * mapping's guard page there is fine too: a write faults in it, as any
 * linear overflow from further below would. 0 if something else is (not
 * a place a program's overflow starts from). */
static int user_page_at(uintptr_t a)
{
    char prot[5];
    page_prot(a, prot);
    if (strncmp(prot, "rw", 2) == 0 || strcmp(prot, "---p") == 0)
        return 1;
    if (prot[0] != '\0')
        return 0;
    void *want = (void *)(a & ~(uintptr_t)(HAK_PAGE - 1));
    return mmap(want, HAK_PAGE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
                0) == want;
}

static void overflow_into_heap_record(void *arg)
{
    (void)arg;
    hak_free(hak_malloc(16));
    uintptr_t lo, hi;
    char prot[5];
    proc_mapping((uintptr_t)hak_tls_heap, &lo, &hi, prot);
    /* The page right below the record's mapping: a guard, if the
     * mechanism is there; then the user's block ends below it. Without
     * it, the user's block may end right at the record. */
    uintptr_t g = lo - HAK_PAGE;
    page_prot(g, prot);
    uintptr_t from = strcmp(prot, "---p") == 0 ? g - 64 : lo - 64;
    if (!user_page_at(from))
        _exit(3);
    volatile uint8_t *p = (volatile uint8_t *)from;
    for (size_t i = 0; i < 128; i++)
        p[i] = 0x41; /* 64 bytes past the user's page */
    _exit(42); /* reached the record */
}

START_TEST(route1_overflow_towards_heap_record_faults)
{
    char buf[2048];
    ck_assert_msg(child_faults(overflow_into_heap_record, NULL, buf,
                               sizeof buf),
                  "a linear write from below the heap record's mapping did "
                  "not fault (42: it reached the record), stderr: %s", buf);
}
END_TEST

void slab_layout_cases(Suite *s)
{
    const test_row_t rows[] = {
        { "layout", slab_index_every_offset, 120, 0 },
        { "layout", carve_whole_slabs, 0, 0 },
        { "layout", test_first_block_metadata, 0, 0 },
        { "layout", route1_heap_record_between_guard_pages, 0, 0 },
        { "layout", route1_overflow_towards_heap_record_faults, 0, 0 },
    };
    SUITE_ROWS(s, rows);
}
