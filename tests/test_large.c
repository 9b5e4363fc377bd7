/* test_large.c — the large tier's cache of freed mappings (src/large.c):
 *   - a freed mapping is reused whole by a request it fits, the smallest
 *     that fits first and the most recently freed of equal ones;
 *   - a mapping more than 16x the (page-rounded) request is split and its
 *     tail stays cached; one of 16x or less is handed out whole;
 *   - realloc grows a block in place over the cached tail right after it;
 *   - when nothing fits, the largest cached mapping is grown (mremap), not
 *     mapped anew beside it;
 *   - the cache holds at most HAKMEM_LARGE_CACHE_MB, oldest out first, and
 *     trim empties it;
 *   - contents survive every reuse path, and the statistics count each
 *     malloc and free once.
 *
 * Addresses are asserted only where the allocator itself decides them
 * (reuse of a cached mapping, a split piece, growth in place); where the
 * kernel picks, mapped_bytes (hak_stats_get) shows what happened. Every
 * test starts with hak_malloc_trim(0), so the cache is empty: only cached
 * mappings are ever reused, so live blocks of earlier tests (when tests
 * share a process) change nothing. */
#include <stdlib.h>
#include <string.h>

#include "util.h"

#include "size_class.h"
#include "types.h"

/* ---- Geometry (large_alloc): a request of n bytes maps
 * page_round(n + slack) bytes, slack being the debug canary's byte. */

static size_t page_round(size_t n)
{
    return (n + HAK_PAGE - 1) & ~(size_t)(HAK_PAGE - 1);
}

static size_t map_of(size_t n)
{
    return page_round(n + HAK_SLACK_MIN);
}

/* The request whose mapping is exactly `map` bytes (a page multiple). */
static size_t req_for_map(size_t map)
{
    return map - HAK_SLACK_MIN;
}

/* malloc_usable_size of a large block: the requested size in debug, the
 * mapping from the block's start in release (large_usable). A block's
 * mapping is not observable otherwise, so this is how a test tells a
 * mapping handed out whole from a split one. */
static void check_usable(const void *p, size_t req, size_t map)
{
    size_t want = hak_is_debug() ? req : map;
    size_t got = hak_malloc_usable_size(p);
    ck_assert_msg(got == want,
                  "usable size of %p (request %zu, mapping %zu): %zu, want "
                  "%zu", p, req, map, got, want);
}

static uint64_t mapped_now(void)
{
    hak_stats_t st;
    hak_stats_get(&st);
    return st.mapped_bytes;
}

/* Empties the cache; also maps the large table once (its first insert),
 * so mapped_bytes measured after this moves only with block mappings. */
static void start_empty(void)
{
    hak_free(hak_malloc(HAK_MID_MAX + 1));
    hak_malloc_trim(0);
}

/* Patterns by the word: blocks here are megabytes. Word i of block `id`
 * differs between blocks and along a block, so a block handed out twice,
 * shifted or truncated shows. */
static uint64_t pat(size_t id, size_t i)
{
    return ((uint64_t)id << 44) ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull);
}

static void fill(void *p, size_t n, size_t id)
{
    uint64_t *w = p;
    for (size_t i = 0; i < n / 8; i++)
        w[i] = pat(id, i);
    uint64_t last = pat(id, n / 8);
    memcpy((uint8_t *)p + n / 8 * 8, &last, n % 8);
}

static void verify(const void *p, size_t n, size_t id)
{
    const uint64_t *w = p;
    for (size_t i = 0; i < n / 8; i++)
        REQ_MSG(w[i] == pat(id, i),
                "block %zu at %p: word at byte %zu of %zu is %#jx, want %#jx",
                id, p, i * 8, n, (uintmax_t)w[i], (uintmax_t)pat(id, i));
    uint64_t last = pat(id, n / 8);
    REQ_MSG(memcmp((const uint8_t *)p + n / 8 * 8, &last, n % 8) == 0,
            "block %zu at %p: last %zu bytes of %zu differ", id, p, n % 8, n);
}

/* ---- Reuse -------------------------------------------------------------- */

START_TEST(freed_mapping_reused_for_same_size)
{
    start_empty();
    const size_t n = MiB;
    uint8_t *p = hak_malloc(n);
    ck_assert_ptr_nonnull(p);
    fill(p, n, 1);
    hak_free(p);
    uint8_t *q = hak_malloc(n);
    ck_assert_ptr_eq(q, p);
    check_usable(q, n, map_of(n));
    fill(q, n, 2);
    verify(q, n, 2);

    /* Two of equal size: the most recently freed is taken first. */
    uint8_t *r = hak_malloc(n);
    ck_assert_ptr_nonnull(r);
    hak_free(q);
    hak_free(r);
    ck_assert_ptr_eq(hak_malloc(n), r);
    ck_assert_ptr_eq(hak_malloc(n), q);
    hak_free(q);
    hak_free(r);
}
END_TEST

START_TEST(smallest_fitting_mapping_taken)
{
    start_empty();
    uint8_t *small = hak_malloc(MiB), *big = hak_malloc(2 * MiB);
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_nonnull(big);
    /* big freed last: recency must not beat size. */
    hak_free(small);
    hak_free(big);
    const size_t n = 600 * KiB;
    uint8_t *a = hak_malloc(n);
    ck_assert_ptr_eq(a, small);
    check_usable(a, n, map_of(MiB)); /* 1 MiB is < 16x: whole */
    /* The 2 MiB one is all that is left; 600 KiB still take it whole. */
    uint8_t *b = hak_malloc(n);
    ck_assert_ptr_eq(b, big);
    check_usable(b, n, map_of(2 * MiB));
    fill(a, n, 1);
    fill(b, n, 2);
    verify(a, n, 1);
    hak_free(a);
    hak_free(b);
}
END_TEST

/* ---- Split -------------------------------------------------------------- */

START_TEST(far_too_big_mapping_split_tail_cached)
{
    start_empty();
    const size_t bign = 8 * MiB, n = 128 * KiB;
    const size_t bigmap = map_of(bign), need = map_of(n);
    uint8_t *big = hak_malloc(bign);
    ck_assert_ptr_nonnull(big);
    hak_free(big);
    /* 8 MiB is far more than 16x 128 KiB: the head is cut off... */
    uint8_t *a = hak_malloc(n);
    ck_assert_ptr_eq(a, big);
    check_usable(a, n, need);
    /* ...and the tail stays cached: the next piece starts right after. */
    uint8_t *b = hak_malloc(n);
    ck_assert_ptr_eq(b, big + need);
    check_usable(b, n, need);
    /* 1 MiB is less than 16x in what is left: the whole rest. */
    uint8_t *c = hak_malloc(MiB);
    ck_assert_ptr_eq(c, big + 2 * need);
    check_usable(c, MiB, bigmap - 2 * need);
    fill(a, n, 1);
    fill(b, n, 2);
    fill(c, MiB, 3);
    verify(a, n, 1);
    verify(b, n, 2);
    hak_free(a);
    hak_free(b);
    hak_free(c);
}
END_TEST

START_TEST(split_only_above_16x)
{
    start_empty();
    const size_t n = 64 * KiB, need = map_of(n);
    /* Exactly 16x: excess 15x, not more; handed out whole. */
    uint8_t *m16 = hak_malloc(req_for_map(16 * need));
    ck_assert_ptr_nonnull(m16);
    hak_free(m16);
    uint8_t *a = hak_malloc(n);
    ck_assert_ptr_eq(a, m16);
    check_usable(a, n, 16 * need);
    uint8_t *b = hak_malloc(n); /* no tail was cached */
    ck_assert_msg(b < m16 || b >= m16 + 16 * need,
                  "%p is inside the 16x mapping %p handed out whole",
                  (void *)b, (void *)m16);
    hak_free(a);
    hak_free(b);
    hak_malloc_trim(0);

    /* One page more: split. */
    uint8_t *m17 = hak_malloc(req_for_map(16 * need + HAK_PAGE));
    ck_assert_ptr_nonnull(m17);
    hak_free(m17);
    a = hak_malloc(n);
    ck_assert_ptr_eq(a, m17);
    check_usable(a, n, need);
    b = hak_malloc(n);
    ck_assert_ptr_eq(b, m17 + need);
    hak_free(a);
    hak_free(b);
}
END_TEST

START_TEST(no_split_when_not_far_too_big)
{
    start_empty();
    uint8_t *p = hak_malloc(MiB);
    ck_assert_ptr_nonnull(p);
    hak_free(p);
    const size_t n = 512 * KiB;
    uint8_t *q = hak_malloc(n);
    ck_assert_ptr_eq(q, p);
    check_usable(q, n, map_of(MiB));
    /* Nothing of the 1 MiB mapping stayed cached. */
    uint8_t *r = hak_malloc(n);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r < p || r >= p + map_of(MiB),
                  "%p is inside the 1 MiB mapping %p handed out whole",
                  (void *)r, (void *)p);
    fill(q, n, 1);
    fill(r, n, 2);
    verify(q, n, 1);
    hak_free(q);
    hak_free(r);
}
END_TEST

/* ---- realloc over the cached tail --------------------------------------- */

START_TEST(realloc_grows_in_place_over_split_tail)
{
    start_empty();
    uint8_t *big = hak_malloc(8 * MiB);
    ck_assert_ptr_nonnull(big);
    hak_free(big);
    const size_t n = 64 * KiB, grown = 256 * KiB;
    uint8_t *a = hak_malloc(n);
    ck_assert_ptr_eq(a, big);
    check_usable(a, n, map_of(n));
    fill(a, n, 1);
    uint64_t m0 = mapped_now();
    uint8_t *r = hak_realloc(a, grown);
    ck_assert_ptr_eq(r, a);
    verify(r, n, 1);
    check_usable(r, grown, map_of(grown));
    ck_assert_uint_eq(mapped_now(), m0); /* no mapping, no mremap */
    fill(r, grown, 2);
    /* It took what it needed of the tail; the rest is still cached. */
    uint8_t *b = hak_malloc(128 * KiB);
    ck_assert_ptr_eq(b, big + map_of(grown));
    fill(b, 128 * KiB, 3);
    verify(r, grown, 2);
    verify(b, 128 * KiB, 3);
    /* Grown again, now against a live neighbour: it moves, data kept. */
    uint8_t *r2 = hak_realloc(r, 2 * grown);
    ck_assert_ptr_nonnull(r2);
    verify(r2, grown, 2);
    verify(b, 128 * KiB, 3);
    hak_free(r2);
    hak_free(b);
}
END_TEST

/* ---- Growing the largest cached mapping --------------------------------- */

START_TEST(largest_cached_mapping_grown_when_none_fits)
{
    start_empty();
    uint64_t m0 = mapped_now();
    uint8_t *p = hak_malloc(MiB);
    ck_assert_ptr_nonnull(p);
    fill(p, MiB, 1);
    hak_free(p);
    ck_assert_uint_eq(mapped_now(), m0 + map_of(MiB)); /* cached */
    const size_t n = 4 * MiB;
    uint8_t *q = hak_malloc(n);
    ck_assert_ptr_nonnull(q);
    /* Grown to the new size: the 1 MiB mapping is not kept beside a fresh
     * 4 MiB one. */
    ck_assert_uint_eq(mapped_now(), m0 + map_of(n));
    check_usable(q, n, map_of(n));
    fill(q, n, 2);
    verify(q, n, 2);
    hak_free(q);
    ck_assert_ptr_eq(hak_malloc(n), q);
    hak_free(q);
}
END_TEST

/* ---- Cache bounds ------------------------------------------------------- */

START_TEST(trim_empties_cache)
{
    start_empty();
    uint8_t *p = hak_malloc(MiB);
    ck_assert_ptr_nonnull(p);
    hak_free(p);
    uint64_t m1 = mapped_now();
    ck_assert_int_eq(hak_malloc_trim(0), 1);
    ck_assert_uint_eq(mapped_now(), m1 - map_of(MiB));
    /* Nothing left to reuse: the next block is a new mapping. */
    uint8_t *q = hak_malloc(MiB);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(mapped_now(), m1);
    hak_free(q);
}
END_TEST

START_TEST(cache_bounded_oldest_evicted)
{
    start_empty();
    const size_t limit = hak_g.large_cache_bytes;
    ck_assert_msg(limit >= 8 * MiB, "needs HAKMEM_LARGE_CACHE_MB >= 8");
    /* Two fit in the cache, three do not. */
    const size_t map = (limit * 2 / 5) & ~(size_t)(HAK_PAGE - 1);
    const size_t n = req_for_map(map);
    uint64_t m0 = mapped_now();
    uint8_t *a = hak_malloc(n), *b = hak_malloc(n), *c = hak_malloc(n);
    ck_assert(a && b && c);
    ck_assert_uint_eq(mapped_now(), m0 + 3 * map);
    hak_free(a);
    hak_free(b);
    ck_assert_uint_eq(mapped_now(), m0 + 3 * map);
    hak_free(c); /* a, the oldest, goes */
    ck_assert_uint_eq(mapped_now(), m0 + 2 * map);
    ck_assert_ptr_eq(hak_malloc(n), c);
    ck_assert_ptr_eq(hak_malloc(n), b);
    ck_assert_uint_eq(mapped_now(), m0 + 2 * map);
    hak_free(b);
    hak_free(c);

    /* A mapping larger than the whole cache is unmapped when freed, and
     * what the cache holds stays. */
    hak_malloc_trim(0);
    uint64_t m1 = mapped_now();
    const size_t hugemap = page_round(limit + 1);
    uint8_t *h = hak_malloc(req_for_map(hugemap));
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(mapped_now(), m1 + hugemap);
    uint8_t *x = hak_malloc(n);
    ck_assert_ptr_nonnull(x);
    hak_free(x);
    hak_free(h);
    ck_assert_uint_eq(mapped_now(), m1 + map);
    ck_assert_ptr_eq(hak_malloc(n), x);
    hak_free(x);
}
END_TEST

/* ---- Contents ----------------------------------------------------------- */

START_TEST(contents_survive_reuse_paths)
{
    start_empty();
    uint8_t *big = hak_malloc(8 * MiB);
    ck_assert_ptr_nonnull(big);
    hak_free(big);
    const size_t n = 100 * KiB, need = map_of(n);
    uint8_t *a = hak_malloc(n), *b = hak_malloc(n), *c = hak_malloc(n);
    ck_assert_ptr_eq(a, big);
    ck_assert_ptr_eq(b, a + need);
    ck_assert_ptr_eq(c, b + need);
    fill(a, n, 1);
    fill(b, n, 2);
    fill(c, n, 3);
    /* b back to the cache and out again: the smallest fit is b itself. */
    hak_free(b);
    uint8_t *b2 = hak_malloc(n);
    ck_assert_ptr_eq(b2, b);
    verify(a, n, 1);
    verify(c, n, 3);
    fill(b2, n, 4);
    /* a grows against its live neighbour: moved (mremap) or copied. */
    uint8_t *a2 = hak_realloc(a, 3 * n);
    ck_assert_ptr_nonnull(a2);
    verify(a2, n, 1);
    fill(a2, 3 * n, 5);
    verify(b2, n, 4);
    verify(c, n, 3);
    /* c shrinks, still large, then leaves the tier. */
    uint8_t *c2 = hak_realloc(c, 40 * KiB);
    ck_assert_ptr_nonnull(c2);
    verify(c2, 40 * KiB, 3);
    uint8_t *c3 = hak_realloc(c2, 20 * KiB);
    ck_assert_ptr_nonnull(c3);
    verify(c3, 20 * KiB, 3);
    verify(a2, 3 * n, 5);
    verify(b2, n, 4);
    hak_free(a2);
    hak_free(b2);
    hak_free(c3);
    hak_check_heap();
}
END_TEST

/* ---- Statistics --------------------------------------------------------- */

static void check_counts(const hak_stats_t *s0, uint64_t allocs,
                         uint64_t frees, uint64_t large_allocs,
                         uint64_t large_frees, const char *after)
{
    hak_stats_t s;
    hak_stats_get(&s);
    ck_assert_msg(s.large_allocs - s0->large_allocs == large_allocs &&
                      s.large_frees - s0->large_frees == large_frees &&
                      s.allocs - s0->allocs == allocs &&
                      s.frees - s0->frees == frees,
                  "after %s: large allocs %ju frees %ju, all allocs %ju frees "
                  "%ju; want %ju %ju %ju %ju", after,
                  (uintmax_t)(s.large_allocs - s0->large_allocs),
                  (uintmax_t)(s.large_frees - s0->large_frees),
                  (uintmax_t)(s.allocs - s0->allocs),
                  (uintmax_t)(s.frees - s0->frees), (uintmax_t)large_allocs,
                  (uintmax_t)large_frees, (uintmax_t)allocs,
                  (uintmax_t)frees);
}

START_TEST(stats_count_each_operation_once)
{
    start_empty();
    hak_stats_t s0;
    hak_stats_get(&s0);
    void *p = hak_malloc(MiB);                    /* new mapping */
    check_counts(&s0, 1, 0, 1, 0, "malloc");
    hak_free(p);                                  /* cached */
    check_counts(&s0, 1, 1, 1, 1, "free");
    void *q = hak_malloc(MiB);                    /* reused */
    ck_assert_ptr_eq(q, p);
    check_counts(&s0, 2, 1, 2, 1, "reuse");
    (void)hak_malloc_usable_size(q);
    check_counts(&s0, 2, 1, 2, 1, "usable size");
    void *big = hak_malloc(8 * MiB);
    hak_free(big);
    void *a = hak_malloc(64 * KiB);               /* split: one block */
    ck_assert_ptr_eq(a, big);
    check_counts(&s0, 4, 2, 4, 2, "split");
    void *r = hak_realloc(a, 256 * KiB);          /* in place: nothing */
    ck_assert_ptr_eq(r, a);
    check_counts(&s0, 4, 2, 4, 2, "realloc in place");
    void *m = hak_realloc(r, 16 * MiB);           /* beyond the tail */
    ck_assert_ptr_nonnull(m);
    hak_stats_t sm;
    hak_stats_get(&sm);
    /* mremap is no malloc or free; a fallback copy would be one of each. */
    ck_assert_uint_eq(sm.large_allocs - s0.large_allocs,
                      sm.large_frees - s0.large_frees + 2);
    uint64_t la = sm.large_allocs - s0.large_allocs;
    uint64_t lf = sm.large_frees - s0.large_frees;
    /* Across tiers: small -> large is a large malloc and a small free... */
    void *s = hak_malloc(1000);
    check_counts(&s0, la + 1, lf, la, lf, "small malloc");
    void *l = hak_realloc(s, 100 * KiB);
    check_counts(&s0, la + 2, lf + 1, la + 1, lf, "realloc small to large");
    /* ...and large -> small a small malloc and a large free. */
    void *s2 = hak_realloc(l, 1000);
    check_counts(&s0, la + 3, lf + 2, la + 1, lf + 1,
                 "realloc large to small");
    hak_free(s2);
    hak_free(m);
    hak_free(q);
    check_counts(&s0, la + 3, lf + 5, la + 1, lf + 3, "the last frees");
}
END_TEST

/* ---- Seeded churn ------------------------------------------------------- */

#define LARGE_SLOTS 16

START_TEST(seeded_large_churn)
{
    start_empty();
    uint64_t m0 = mapped_now();
    hak_stats_t s0, s1;
    hak_stats_get(&s0);
    unsigned long long seed = 0x1a26eull + (unsigned long long)_i;
    uint8_t *p[LARGE_SLOTS] = { 0 };
    size_t len[LARGE_SLOTS] = { 0 }, id[LARGE_SLOTS] = { 0 }, next_id = 1;
    /* The large table grows only with more than 256 live blocks (a
     * rebuild at its size maps as much as it unmaps), and at most 16 are
     * live here: mapped_bytes must come back exactly to where it was. */
    const unsigned ops = 400 * test_scale();
    for (unsigned op = 0; op < ops; op++) {
        unsigned long long r = test_rand(&seed);
        size_t i = r % LARGE_SLOTS;
        size_t n = HAK_MID_MAX + 1 + (r >> 8) % (r & 0x10000 ? 4 * MiB : MiB);
        if (!p[i]) {
            p[i] = hak_malloc(n);
            REQ_NONNULL(p[i]);
            REQ_UINT_GE(hak_malloc_usable_size(p[i]), n);
            len[i] = n;
            id[i] = next_id++;
            fill(p[i], n, id[i]);
        } else if ((r >> 40) & 1) {
            uint8_t *q = hak_realloc(p[i], n);
            REQ_NONNULL(q);
            size_t keep = n < len[i] ? n : len[i];
            verify(q, keep, id[i]);
            REQ_UINT_GE(hak_malloc_usable_size(q), n);
            p[i] = q;
            len[i] = n;
            id[i] = next_id++;
            fill(q, n, id[i]);
        } else {
            verify(p[i], len[i], id[i]);
            hak_free(p[i]);
            p[i] = NULL;
        }
    }
    for (size_t i = 0; i < LARGE_SLOTS; i++) {
        if (p[i]) {
            verify(p[i], len[i], id[i]);
            hak_free(p[i]);
        }
    }
    hak_stats_get(&s1);
    ck_assert_uint_eq(s1.large_allocs - s0.large_allocs,
                      s1.large_frees - s0.large_frees);
    /* Every mapping split, absorbed, grown or shrunk is accounted for:
     * with the cache trimmed, nothing is left mapped. */
    hak_malloc_trim(0);
    ck_assert_uint_eq(mapped_now(), m0);
}
END_TEST

Suite *large_suite(void)
{
    Suite *s = suite_create("large");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, freed_mapping_reused_for_same_size);
    tcase_add_test(tc, smallest_fitting_mapping_taken);
    tcase_add_test(tc, far_too_big_mapping_split_tail_cached);
    tcase_add_test(tc, split_only_above_16x);
    tcase_add_test(tc, no_split_when_not_far_too_big);
    tcase_add_test(tc, realloc_grows_in_place_over_split_tail);
    tcase_add_test(tc, largest_cached_mapping_grown_when_none_fits);
    tcase_add_test(tc, trim_empties_cache);
    tcase_add_test(tc, cache_bounded_oldest_evicted);
    suite_add_tcase(s, tc);
    TCase *use = tcase_create("use");
    tcase_add_test(use, contents_survive_reuse_paths);
    tcase_add_test(use, stats_count_each_operation_once);
    tcase_add_loop_test(use, seeded_large_churn, 0, 3);
    suite_add_tcase(s, use);
    return s;
}
