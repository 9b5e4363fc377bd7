/* test_large.c — the large tier (src/large.c, src/large.h):
 *   - a freed mapping is reused by a request it fits, out of quarantine
 *     the smallest that fits first and the oldest of equal ones; the
 *     mapping freed last (and the few before it) come back only when
 *     nothing else fits;
 *   - a mapping more than 16x the (page-rounded) request is split, with a
 *     guard page after the head and one before the tail, which stays
 *     cached; one of 16x or less is handed out whole, only the request's
 *     pages accessible; for a request of at most 256 KiB the bound is 2x;
 *   - realloc grows a block in place over the cached tail right after it
 *     or into its own mapping, and moves it (guards and all) otherwise;
 *   - when nothing fits, the largest cached mapping is grown (mremap), not
 *     mapped anew beside it;
 *   - the cache holds at most HAKMEM_LARGE_CACHE_MB, or a quarter of the
 *     live large bytes when that is more, oldest out first, and trim
 *     empties it; and never more than the live bytes are below their
 *     peak (plus an eighth of the option), so live and cached never take
 *     much more than the program's blocks once did;
 *   - a mapping taken whole for a smaller block gives back its pages past
 *     the block (but for the rest of a 2 MiB page);
 *   - guards: on every path the page after a block's last accessible page
 *     and the page before its first fault; a freed block faults while its
 *     mapping is cached; a guard the kernel refuses to place makes the
 *     allocation fail with ENOMEM;
 *   - contents survive every reuse path, and the statistics count each
 *     malloc and free once.
 *
 * Addresses are asserted only where the allocator itself decides them
 * (reuse of a cached mapping, a split piece, growth in place); where the
 * kernel picks, mapped_bytes (hak_stats_get) shows what happened. Every
 * test starts with hak_malloc_trim(0), so the cache is empty: only cached
 * mappings are ever reused, so live blocks of earlier tests (when tests
 * share a process) change nothing. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#include "large.h"
#include "options.h"
#include "size_class.h"
#include "types.h"
#include "vg.h"

/* The options as the program's environment sets them, read by the
 * library's own parser with its own defaults (HAKMEM_LARGE_CACHE_MB 64,
 * HAKMEM_LARGE_HUGE_MB 4). */
static hak_options_t env_options(void)
{
    extern char **environ;
    hak_options_t o;
    hak_options_parse(environ, &o, -1);
    return o;
}

/* The size from which large blocks ask for huge pages (0: never). */
static size_t large_huge_limit(void)
{
    return (size_t)env_options().large_huge_bytes;
}

/* ---- Geometry (hak_large_alloc): a request of n bytes needs
 * page_round(n) accessible bytes in every build (a canary, when on, is in
 * the slack of the last page; with none, the PROT_NONE page after the
 * block is what an overflow meets); its mapping has a guard page on each
 * side. A fresh block of HAKMEM_LARGE_HUGE_MB or more maps whole 2 MiB
 * pages and sits at their end (large.c, place_huge). */

#define GUARD ((size_t)HAK_PAGE)
#define HUGE_PAGE ((size_t)2 << 20)

static size_t page_round(size_t n)
{
    return (n + HAK_PAGE - 1) & ~(size_t)(HAK_PAGE - 1);
}

static int is_huge(size_t n)
{
    const size_t limit = large_huge_limit();
    return limit && page_round(n) >= limit;
}

/* The bytes a fresh block of n bytes maps (its guards not counted). */
static size_t map_of(size_t n)
{
    return is_huge(n) ? (page_round(n) + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1)
                      : page_round(n);
}

/* The first byte of the fresh mapping of block p of n bytes: a huge one
 * ends where its mapping does. */
static uint8_t *start_of(uint8_t *p, size_t n)
{
    return p - (map_of(n) - page_round(n));
}

/* The request whose fresh mapping is exactly `map` bytes (a page
 * multiple; for a huge block, a multiple of 2 MiB). */
static size_t req_for_map(size_t map)
{
    ck_assert_msg(map_of(map) == map, "no request maps exactly %zu bytes",
                  map);
    return map;
}

/* What mapped_bytes counts for a mapping of `map` bytes: its guards too. */
static size_t total_of(size_t map)
{
    return map + 2 * GUARD;
}

/* malloc_usable_size of a large block: the requested size in debug, its
 * accessible bytes in release (hak_large_usable): the request's pages, or
 * more where realloc grew or kept them. A mapping handed out whole for a
 * smaller request keeps its rest inaccessible, so the usable size does
 * not tell a whole mapping from a split one: where the rest of a mapping
 * went is shown by the address of the next block cut from it, or by
 * realloc growing in place. */
static void check_usable(const void *p, size_t req, size_t rw)
{
    size_t want = HAK_SLOTSTATE ? req : rw;
    size_t got = hak_malloc_usable_size(p);
    ck_assert_msg(got == want,
                  "usable size of %p (request %zu, accessible %zu): %zu, "
                  "want %zu", p, req, rw, got, want);
}

/* The accessible bytes of live block p of `req` bytes: what the kernel
 * says (in release, also its usable size). */
static size_t rw_of(const void *p, size_t req)
{
    size_t rw = rw_extent(p);
    ck_assert_msg(rw >= page_round(req), "%p: %zu read-write bytes for a "
                  "request of %zu", p, rw, req);
    return rw;
}

static uint64_t mapped_now(void)
{
    hak_stats_t st;
    hak_stats_get(&st);
    return st.mapped_bytes;
}

/* Empties the cache; also maps the large table once (its first insert),
 * so mapped_bytes measured after this moves only with block mappings.
 * And a block of 64 MiB (never touched) comes and goes first: the cache
 * holds only what the live large bytes are below their peak (and a
 * slack), and this leaves at least that much room, so that the tests of
 * the other rules are not bound by this one (cache_stays_under_live_peak
 * tests it). */
static void start_empty(void)
{
    hak_free(hak_malloc(64 * MiB));
    hak_free(hak_malloc(HAK_SMALL_LIMIT + 1));
    hak_malloc_trim(0);
}

/* A block of n bytes mapped and freed again: its mapping is cached. */
static uint8_t *cached_mapping(size_t n)
{
    uint8_t *p = hak_malloc(n);
    ck_assert_ptr_nonnull(p);
    hak_free(p);
    return p;
}

/* A block of n bytes that must be at `want` with rw accessible bytes (a
 * cached mapping, or the piece of one, reused). */
static uint8_t *take_at(size_t n, const uint8_t *want, size_t rw)
{
    uint8_t *p = hak_malloc(n);
    ck_assert_ptr_eq(p, want);
    check_usable(p, n, rw);
    return p;
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
    /* The one cached mapping that fits: reused, though freed last. */
    uint8_t *q = take_at(n, p, map_of(n));
    fill(q, n, 2);
    verify(q, n, 2);

    /* Two of equal size: the one freed first comes back first. */
    uint8_t *r = hak_malloc(n);
    ck_assert_ptr_nonnull(r);
    hak_free(q);
    hak_free(r);
    ck_assert_ptr_eq(hak_malloc(n), q);
    ck_assert_ptr_eq(hak_malloc(n), r);
    hak_free(q);
    hak_free(r);
}
END_TEST

/* The quarantine: the mapping freed last is not handed out while another
 * cached mapping fits, even a worse fit. */
START_TEST(just_freed_mapping_not_next)
{
    start_empty();
    uint8_t *big = hak_malloc(2 * MiB), *small = hak_malloc(MiB);
    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(small);
    hak_free(big);
    hak_free(small); /* the better fit, freed last */
    const size_t n = 600 * KiB;
    uint8_t *a = take_at(n, big, map_of(n));
    /* Nothing else fits now: the one freed last after all. */
    uint8_t *b = hak_malloc(n);
    ck_assert_ptr_eq(b, small);
    fill(a, n, 1);
    fill(b, n, 2);
    verify(a, n, 1);
    hak_free(a);
    hak_free(b);
}
END_TEST

/* HAK_LARGE_QUARANTINE blocks of 128 KiB (large: above HAK_SMALL_LIMIT),
 * allocated up front and freed last, so the mappings freed before them
 * leave the quarantine (the requests of these tests do not fit 128 KiB
 * mappings). */
#define NQ HAK_LARGE_QUARANTINE
#define FILLER_SIZE (128 * KiB)
_Static_assert(FILLER_SIZE > HAK_SMALL_LIMIT, "a filler is a large block");

static void alloc_fillers(uint8_t **v)
{
    for (int i = 0; i < NQ; i++) {
        v[i] = hak_malloc(FILLER_SIZE);
        ck_assert_ptr_nonnull(v[i]);
    }
}

static void free_fillers(uint8_t **v)
{
    for (int i = 0; i < NQ; i++)
        hak_free(v[i]);
}

/* Out of quarantine, size decides: the smallest mapping that fits, though
 * freed after a larger one. The larger one, taken whole for a smaller
 * request, keeps its rest for the block to grow into. */
START_TEST(smallest_fitting_mapping_taken)
{
    start_empty();
    uint8_t *fillers[NQ];
    uint8_t *big = hak_malloc(2 * MiB), *small = hak_malloc(MiB);
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_nonnull(big);
    alloc_fillers(fillers);
    hak_free(big);
    hak_free(small);
    free_fillers(fillers);
    const size_t n = 600 * KiB;
    uint8_t *a = take_at(n, small, map_of(n));
    /* The 2 MiB one is all that is left; 600 KiB still take it whole... */
    uint8_t *b = take_at(n, big, map_of(n));
    fill(a, n, 1);
    fill(b, n, 2);
    /* ...and grow into it in place, with no new mapping. */
    uint64_t m0 = mapped_now();
    const size_t grown = req_for_map(2 * MiB);
    uint8_t *b2 = hak_realloc(b, grown);
    ck_assert_ptr_eq(b2, big);
    ck_assert_uint_eq(mapped_now(), m0);
    check_usable(b2, grown, 2 * MiB);
    verify(b2, n, 2);
    fill(b2, grown, 3);
    verify(a, n, 1);
    hak_free(a);
    hak_free(b2);
}
END_TEST

/* ---- Split -------------------------------------------------------------- */

START_TEST(far_too_big_mapping_split_tail_cached)
{
    start_empty();
    const size_t bign = 8 * MiB, n = 128 * KiB;
    const size_t bigmap = map_of(bign), need = map_of(n);
    uint8_t *big = cached_mapping(bign);
    /* 8 MiB is far more than 16x 128 KiB: the head is cut off... */
    uint8_t *a = take_at(n, big, need);
    /* ...and the tail stays cached, after a guard page for each: the
     * next piece starts two pages after the first ends. */
    uint8_t *b = take_at(n, big + need + 2 * GUARD, need);
    /* 1 MiB is less than 16x in what is left: the whole rest, of which
     * the request's pages are accessible, the rest to grow into. */
    uint8_t *c = hak_malloc(MiB);
    const size_t rest = bigmap - 2 * (need + 2 * GUARD);
    ck_assert_ptr_eq(c, big + 2 * (need + 2 * GUARD));
    check_usable(c, MiB, map_of(MiB));
    fill(a, n, 1);
    fill(b, n, 2);
    fill(c, MiB, 3);
    uint8_t *c2 = hak_realloc(c, rest);
    ck_assert_ptr_eq(c2, c);
    check_usable(c2, rest, rest);
    verify(c2, MiB, 3);
    fill(c2, rest, 4);
    verify(a, n, 1);
    verify(b, n, 2);
    hak_free(a);
    hak_free(b);
    hak_free(c2);
}
END_TEST

/* A cached mapping of exactly `times` x the request's pages is handed
 * out whole for n bytes; one a page bigger (2 MiB for a huge one) is
 * split, and its tail, after the two guard pages, serves the next request
 * (of `next` bytes, a large one: the tail is a page short of the head
 * when times is 2). */
static void split_bound(size_t n, size_t times, size_t next)
{
    start_empty();
    const size_t need = map_of(n);
    uint8_t *whole = cached_mapping(req_for_map(times * need));
    uint8_t *a = take_at(n, whole, need);
    uint8_t *b = hak_malloc(n); /* no tail was cached */
    ck_assert_msg(b < whole || b >= whole + times * need,
                  "%p is inside the %zux mapping %p handed out whole",
                  (void *)b, times, (void *)whole);
    hak_free(a);
    hak_free(b);
    hak_malloc_trim(0);

    uint8_t *cut = start_of(cached_mapping(times * need + HAK_PAGE),
                            times * need + HAK_PAGE);
    a = take_at(n, cut, need);
    b = hak_malloc(next);
    ck_assert_ptr_eq(b, cut + need + 2 * GUARD);
    fill(a, n, 1);
    fill(b, next, 2);
    verify(a, n, 1);
    hak_free(a);
    hak_free(b);
}

/* Above 256 KiB the bound is 16x (excess 15x, not more); 16 x 384 KiB
 * is a whole number of 2 MiB pages. */
START_TEST(split_only_above_16x)
{
    split_bound(384 * KiB, 16, 384 * KiB);
}
END_TEST

/* At most 256 KiB: a mapping more than twice the request is split, so a
 * block does not keep pages it never uses. */
START_TEST(small_request_splits_above_2x)
{
    split_bound(256 * KiB, 2, 128 * KiB);
}
END_TEST

START_TEST(no_split_when_not_far_too_big)
{
    start_empty();
    uint8_t *p = cached_mapping(MiB);
    const size_t n = 512 * KiB;
    uint8_t *q = take_at(n, p, map_of(n));
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
    uint8_t *big = cached_mapping(8 * MiB);
    const size_t n = 128 * KiB, grown = 256 * KiB;
    uint8_t *a = take_at(n, big, map_of(n));
    fill(a, n, 1);
    uint64_t m0 = mapped_now();
    uint8_t *r = hak_realloc(a, grown);
    ck_assert_ptr_eq(r, a);
    verify(r, n, 1);
    check_usable(r, grown, map_of(grown));
    ck_assert_uint_eq(mapped_now(), m0); /* no mapping, no mremap */
    fill(r, grown, 2);
    /* It took what it needed of the tail (and the two guard pages between
     * them); the rest is still cached, after two new guard pages. */
    uint8_t *b = hak_malloc(128 * KiB);
    ck_assert_ptr_eq(b, big + map_of(grown) + 2 * GUARD);
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

/* realloc's steps for a large block are one policy in every build: it
 * grows by half again at least, keeps its pages down to half, and gives
 * them back below that. The read-write extents are numbers, not computed
 * from the flavour. */
START_TEST(realloc_steps_same_in_every_build)
{
    hak_malloc_trim(0); /* no cached neighbour to grow over */
    static const struct { size_t size, rw; } steps[] = {
        { 180 * KiB, 180 * KiB },  /* a fresh block: the request's pages */
        { 200000, 272 * KiB },     /* grown: by half again, in pages */
        { 270 * KiB, 272 * KiB },  /* within its pages */
        { 140 * KiB, 272 * KiB },  /* shrunk to more than half: kept */
        { 120000, 120 * KiB },     /* below half: the pages go back */
    };
    uint8_t *p = hak_malloc(steps[0].size);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (i)
            p = hak_realloc(p, steps[i].size);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(rw_extent(p) == steps[i].rw,
                      "step %zu (%zu bytes): %zu read-write bytes, want %zu",
                      i, steps[i].size, rw_extent(p), steps[i].rw);
    }
    hak_free(p);
}
END_TEST

START_TEST(largest_cached_mapping_grown_when_none_fits)
{
    start_empty();
    uint8_t *fillers[NQ];
    uint64_t m0 = mapped_now();
    uint8_t *p = hak_malloc(MiB);
    ck_assert_ptr_nonnull(p);
    alloc_fillers(fillers);
    const uint64_t fill_bytes = NQ * total_of(map_of(FILLER_SIZE));
    fill(p, MiB, 1);
    hak_free(p);
    free_fillers(fillers); /* p leaves the quarantine: it may be grown */
    ck_assert_uint_eq(mapped_now(), m0 + total_of(map_of(MiB)) + fill_bytes);
    const size_t n = 4 * MiB;
    uint8_t *q = hak_malloc(n);
    ck_assert_ptr_nonnull(q);
    /* Grown to the new size (guards and all): the 1 MiB mapping is not
     * kept beside a fresh 4 MiB one. */
    ck_assert_uint_eq(mapped_now(), m0 + total_of(map_of(n)) + fill_bytes);
    check_usable(q, n, map_of(n));
    fill(q, n, 2);
    verify(q, n, 2);
    hak_free(q);
    ck_assert_ptr_eq(hak_malloc(n), q);
    hak_free(q);
}
END_TEST

/* A mapping in quarantine is never grown: the 1 MiB one just freed stays
 * cached beside the fresh 4 MiB one. */
START_TEST(quarantined_mapping_not_grown)
{
    start_empty();
    uint64_t m0 = mapped_now();
    uint8_t *p = cached_mapping(MiB);
    uint8_t *q = hak_malloc(4 * MiB);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(mapped_now(),
                      m0 + total_of(map_of(MiB)) + total_of(map_of(4 * MiB)));
    ck_assert_ptr_eq(hak_malloc(MiB), p);
    hak_free(p);
    hak_free(q);
}
END_TEST

/* ---- Cache bounds ------------------------------------------------------- */

START_TEST(trim_empties_cache)
{
    start_empty();
    cached_mapping(MiB);
    uint64_t m1 = mapped_now();
    ck_assert_int_eq(hak_malloc_trim(0), 1);
    ck_assert_uint_eq(mapped_now(), m1 - total_of(map_of(MiB)));
    /* Nothing left to reuse: the next block is a new mapping. */
    uint8_t *q = hak_malloc(MiB);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(mapped_now(), m1);
    hak_free(q);
}
END_TEST

/* The large cache's bound. */
static size_t large_cache_limit(void)
{
    return (size_t)env_options().large_cache_bytes;
}

/* Whether the kernel mapping holding p was advised MADV_HUGEPAGE: its
 * VmFlags in /proc/self/smaps name "hg" (whether the kernel then uses
 * huge pages is its own policy; the advice is what hakmem decides). */
static int advised_huge(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int in = 0, found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') <
                                                           strchr(line, ' '))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && strncmp(line, "VmFlags:", 8) == 0)
            found = strstr(line, " hg") != NULL;
    }
    fclose(f);
    ck_assert_msg(found >= 0, "no mapping holds %p in /proc/self/smaps", p);
    return found;
}

/* A block of HAKMEM_LARGE_HUGE_MB or more is placed on a 2 MiB boundary
 * and advised huge, also when it comes from the cache; a smaller one is
 * not advised, until realloc grows it to that size. */
START_TEST(big_blocks_ask_for_huge_pages)
{
    start_empty();
    const size_t limit = large_huge_limit();
    const size_t big = limit ? limit : 8 * MiB;
    uint8_t *b = hak_malloc(big);
    ck_assert_ptr_nonnull(b);
    b[0] = b[big - 1] = 1;
    ck_assert_int_eq(advised_huge(b), limit != 0);
    if (limit)
        ck_assert_msg((uintptr_t)b % (2 * MiB) == 0,
                      "a fresh %zu-byte block at %p is not on a 2 MiB "
                      "boundary", big, (void *)b);
    if (limit > 2 * MiB) {
        uint8_t *s = hak_malloc(limit - 2 * MiB);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(advised_huge(s), 0);
        hak_free(s);
    }
    hak_free(b);
    uint8_t *c = cached_mapping(big); /* b's mapping comes back */
    uint8_t *d = hak_malloc(big);
    ck_assert_ptr_eq(d, c);
    ck_assert_int_eq(advised_huge(d), limit != 0);
    hak_free(d);

    /* A block realloc grows to that size asks too (an empty cache: the
     * smaller block gets a fresh mapping, unadvised). */
    if (limit > 2 * MiB) {
        start_empty();
        uint8_t *s = hak_malloc(limit - 2 * MiB);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(advised_huge(s), 0);
        s = hak_realloc(s, big);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(advised_huge(s), 1);
        ck_assert_msg((uintptr_t)s % (2 * MiB) == 0, /* moved: fresh */
                      "a block grown to %zu bytes at %p is not on a 2 MiB "
                      "boundary", big, (void *)s);
        hak_free(s);
    }
}
END_TEST

START_TEST(cache_bounded_oldest_evicted)
{
    start_empty();
    const size_t limit = large_cache_limit();
    ck_assert_msg(limit >= 8 * MiB, "needs HAKMEM_LARGE_CACHE_MB >= 8");
    /* Two fit in the cache, three do not. */
    const size_t map = map_of(limit * 2 / 5);
    const size_t n = req_for_map(map);
    uint64_t m0 = mapped_now();
    uint8_t *a = hak_malloc(n), *b = hak_malloc(n), *c = hak_malloc(n);
    ck_assert(a && b && c);
    ck_assert_uint_eq(mapped_now(), m0 + 3 * total_of(map));
    hak_free(a);
    hak_free(b);
    ck_assert_uint_eq(mapped_now(), m0 + 3 * total_of(map));
    hak_free(c); /* a, the oldest, goes */
    ck_assert_uint_eq(mapped_now(), m0 + 2 * total_of(map));
    ck_assert_ptr_eq(hak_malloc(n), b); /* freed before c */
    ck_assert_ptr_eq(hak_malloc(n), c);
    ck_assert_uint_eq(mapped_now(), m0 + 2 * total_of(map));
    hak_free(b);
    hak_free(c);

    /* A mapping larger than the whole cache is unmapped when freed, and
     * what the cache holds stays. */
    hak_malloc_trim(0);
    uint64_t m1 = mapped_now();
    const size_t hugemap = map_of(limit + 1);
    uint8_t *h = hak_malloc(req_for_map(hugemap));
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(mapped_now(), m1 + total_of(hugemap));
    uint8_t *x = cached_mapping(n);
    hak_free(h);
    ck_assert_uint_eq(mapped_now(), m1 + total_of(map));
    ck_assert_ptr_eq(hak_malloc(n), x);
    hak_free(x);
}
END_TEST

/* What the large tier counts now: live mapped bytes, cached bytes. */
static void large_bytes(uint64_t *live, uint64_t *cached)
{
    uint64_t allocs, frees;
    hak_large_stats(&allocs, &frees, live, cached);
}

/* The bound is a quarter of the live large bytes when that is more than
 * HAKMEM_LARGE_CACHE_MB (large.c, cache_limit): a program churning many
 * large blocks keeps a few of its own mappings cached. With 6x the
 * option's bytes live, three freed mappings of 0.45x it (1.35x in all)
 * all stay cached, where the option alone would unmap the oldest. At 0
 * the option turns the cache off whatever is live. When the live blocks
 * go, each free brings the bound down with them. */
START_TEST(cache_bound_follows_live_bytes)
{
    start_empty();
    const size_t limit = large_cache_limit();
    ck_assert_msg(limit >= 8 * MiB, "needs HAKMEM_LARGE_CACHE_MB >= 8");
    enum { HELD = 12, FREED = 3 };
    const size_t held_map = map_of(limit / 2);
    const size_t map = map_of(limit * 9 / 20);
    uint8_t *held[HELD], *freed[FREED];
    for (int i = 0; i < HELD; i++) {
        held[i] = hak_malloc(req_for_map(held_map));
        ck_assert_ptr_nonnull(held[i]);
    }
    for (int i = 0; i < FREED; i++) {
        freed[i] = hak_malloc(req_for_map(map));
        ck_assert_ptr_nonnull(freed[i]);
    }
    uint64_t live, cached, m0 = mapped_now();
    for (int i = 0; i < FREED; i++)
        hak_free(freed[i]);
    large_bytes(&live, &cached);
    ck_assert_uint_ge(live, (uint64_t)HELD * held_map);
    ck_assert_msg(mapped_now() == m0 && cached == FREED * (uint64_t)map,
                  "with %ju live bytes, %d freed mappings of %zu (bound "
                  "%zu alone): %ju bytes cached, %ju unmapped",
                  (uintmax_t)live, FREED, map, limit, (uintmax_t)cached,
                  (uintmax_t)(m0 - mapped_now()));
    /* Each is reused: none went. */
    for (int i = 0; i < FREED; i++)
        freed[i] = hak_malloc(req_for_map(map));
    ck_assert_uint_eq(mapped_now(), m0);
    for (int i = 0; i < FREED; i++)
        hak_free(freed[i]);
    /* The option at 0 turns the cache off whatever is live: the mapping
     * freed is unmapped, and so is everything cached. */
    hak_malloc_trim(0);
    const size_t saved = hak_g.large_cache_bytes;
    hak_g.large_cache_bytes = 0;
    uint64_t m1 = mapped_now();
    hak_free(hak_malloc(req_for_map(map)));
    large_bytes(&live, &cached);
    hak_g.large_cache_bytes = saved;
    ck_assert_msg(cached == 0 && mapped_now() == m1,
                  "cache off, %ju live bytes: %ju cached, mapped %ju -> %ju",
                  (uintmax_t)live, (uintmax_t)cached, (uintmax_t)m1,
                  (uintmax_t)mapped_now());
    cached_mapping(req_for_map(map));
    cached_mapping(req_for_map(map));
    for (int i = 0; i < HELD; i++) {
        hak_free(held[i]);
        uint64_t l, c;
        large_bytes(&l, &c);
        ck_assert_msg(c <= limit || c <= l / 4,
                      "%ju bytes cached with %ju live, bound %zu",
                      (uintmax_t)c, (uintmax_t)l, limit);
    }
}
END_TEST

/* The cache holds only what the live large bytes have fallen below their
 * peak, plus an eighth of HAKMEM_LARGE_CACHE_MB (large.c, cache_limit):
 * live and cached mappings together never take much more than the
 * program's blocks once took at the same time. */
static size_t peak_slack(void)
{
    return hak_g.large_cache_bytes / 8;
}

/* Takes the live large bytes to their peak, whatever earlier tests left,
 * with a block never touched (address space only). */
static uint8_t *at_live_peak(void)
{
    uint64_t live, cached;
    large_bytes(&live, &cached);
    uint8_t *lift = hak_malloc(hak_large_live_peak() - live + MiB);
    ck_assert_ptr_nonnull(lift);
    return lift;
}

/* At the peak, a (larger than the slack) is cached; c, which a cannot
 * serve (too small, and in quarantine: not grown), is mapped fresh and
 * takes the live bytes past the peak, so a goes. Then d is cached the
 * same way and realloc moves e to fresh pages past the peak: d goes.
 * Without the bound a and d stay cached beside c and e: the program's
 * footprint grows by mappings it never needed at once with them. */
START_TEST(cache_stays_under_live_peak)
{
    start_empty();
    const size_t slack = peak_slack();
    ck_assert_msg(slack >= MiB, "needs HAKMEM_LARGE_CACHE_MB >= 8");
    uint64_t live, cached;
    uint8_t *lift = at_live_peak();
    const size_t a_n = slack + MiB;
    uint8_t *a = hak_malloc(a_n), *b = hak_malloc(MiB);
    ck_assert(a && b);
    hak_free(a);
    uint64_t m1 = mapped_now();
    large_bytes(&live, &cached);
    ck_assert_uint_eq(cached, map_of(a_n));
    const size_t c_n = map_of(a_n) + MiB;
    uint8_t *c = hak_malloc(c_n);
    ck_assert_ptr_nonnull(c);
    large_bytes(&live, &cached);
    ck_assert_msg(cached == 0 && mapped_now() == m1 - total_of(map_of(a_n)) +
                                                     total_of(map_of(c_n)),
                  "a fresh %zu-byte block past the live peak: %ju bytes "
                  "still cached, mapped %ju -> %ju", c_n, (uintmax_t)cached,
                  (uintmax_t)m1, (uintmax_t)mapped_now());
    /* Below the peak again: b's mapping is cached and comes back. */
    hak_free(b);
    large_bytes(&live, &cached);
    ck_assert_uint_eq(cached, map_of(MiB));
    ck_assert_ptr_eq(hak_malloc(MiB), b);
    hak_free(b);
    hak_malloc_trim(0);

    uint8_t *lift2 = at_live_peak();
    uint8_t *d = hak_malloc(a_n), *e = hak_malloc(MiB);
    ck_assert(d && e);
    hak_free(d);
    large_bytes(&live, &cached);
    ck_assert_uint_eq(cached, map_of(a_n));
    uint8_t *e2 = hak_realloc(e, map_of(a_n) + slack + MiB);
    ck_assert_ptr_nonnull(e2);
    large_bytes(&live, &cached);
    ck_assert_msg(cached == 0, "a block moved by realloc past the live "
                  "peak: %ju bytes still cached", (uintmax_t)cached);
    hak_free(e2);
    hak_free(c);
    hak_free(lift2);
    hak_free(lift);
}
END_TEST

/* A cached mapping taken whole for a smaller block gives back the pages a
 * bigger block touched past the new one (large.c, release_rest): all but
 * what lies before the first 2 MiB boundary after the block's pages.
 * Without it the 12 MiB block's pages stay resident under a 1 MiB one.
 * The rest is still the block's to grow into: realloc grows it in place,
 * contents kept. */
START_TEST(whole_mapping_gives_back_its_rest)
{
    start_empty();
    ck_assert_msg(large_cache_limit() >= 16 * MiB,
                  "needs HAKMEM_LARGE_CACHE_MB >= 16");
    const size_t big_n = 12 * MiB, n = MiB;
    uint8_t *big = hak_malloc(big_n);
    ck_assert_ptr_nonnull(big);
    memset(big, 0x77, big_n);
    uint8_t *start = start_of(big, big_n), *end = start + map_of(big_n);
    hak_free(big);
    uint8_t *p = hak_malloc(n);
    ck_assert_msg(p >= start && p < end, "%p: not in the cached mapping "
                  "[%p, %p)", (void *)p, (void *)start, (void *)end);
    const uint8_t *past = p + page_round(n);
    const size_t kept = resident_pages(past, (size_t)(end - past));
    ck_assert_msg(kept * HAK_PAGE < HUGE_PAGE,
                  "%zu of the %zu pages past a %zu-byte block in a %zu-byte "
                  "mapping taken whole are resident", kept,
                  (size_t)(end - past) / HAK_PAGE, n, map_of(big_n));
    fill(p, n, 1);
    uint8_t *q = hak_realloc(p, 8 * MiB);
    ck_assert_ptr_eq(q, p);
    verify(q, n, 1);
    fill(q, 8 * MiB, 2);
    verify(q, 8 * MiB, 2);
    hak_free(q);
}
END_TEST

/* ---- Contents ----------------------------------------------------------- */

START_TEST(contents_survive_reuse_paths)
{
    start_empty();
    uint8_t *big = cached_mapping(8 * MiB);
    const size_t n = 240 * KiB, need = map_of(n);
    uint8_t *a = hak_malloc(n), *b = hak_malloc(n), *c = hak_malloc(n);
    ck_assert_ptr_eq(a, big);
    ck_assert_ptr_eq(b, a + need + 2 * GUARD);
    ck_assert_ptr_eq(c, b + need + 2 * GUARD);
    fill(a, n, 1);
    fill(b, n, 2);
    fill(c, n, 3);
    /* b back to the cache and a block of its size out again: the rest
     * of the 8 MiB mapping, freed longer ago, not b. */
    hak_free(b);
    uint8_t *b2 = hak_malloc(n);
    ck_assert_ptr_eq(b2, c + need + 2 * GUARD);
    verify(a, n, 1);
    verify(c, n, 3);
    fill(b2, n, 4);
    /* a grows over b's cached mapping, or moves (mremap) or is copied. */
    uint8_t *a2 = hak_realloc(a, 3 * n);
    ck_assert_ptr_nonnull(a2);
    verify(a2, n, 1);
    fill(a2, 3 * n, 5);
    verify(b2, n, 4);
    verify(c, n, 3);
    /* c shrinks below half, still large (above HAK_SMALL_LIMIT), then
     * leaves the tier. */
    uint8_t *c2 = hak_realloc(c, 116 * KiB);
    ck_assert_ptr_nonnull(c2);
    verify(c2, 116 * KiB, 3);
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
    void *a = hak_malloc(128 * KiB);              /* split: one block */
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
    void *l = hak_realloc(s, 200 * KiB);
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
    /* A block at the live peak first, so that the cache has no room but
     * what the churn frees and the slack (cache_stays_under_live_peak). */
    uint8_t *lift = at_live_peak();
    uint64_t live, cached, m0 = mapped_now();
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
        size_t n = HAK_SMALL_LIMIT + 1 +
                   (r >> 8) % (r & 0x10000 ? 4 * MiB : MiB);
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
        large_bytes(&live, &cached);
        REQ_UINT_LE(live + cached, hak_large_live_peak() + peak_slack());
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
    hak_free(lift);
}
END_TEST

/* ---- Guards ---------------------------------------------------------------
 * Each access runs in a forked child, which must die of SIGSEGV: a guard
 * page or a PROT_NONE mapping stopped it, at the program's own access. */

typedef struct probe {
    uint8_t *p;
    ptrdiff_t off;
    int write;
} probe_t;

static void probe(void *arg)
{
    const probe_t *t = arg;
    volatile uint8_t *b = t->p + t->off;
    if (t->write) {
        *b = 0x41;
    } else {
        uint8_t v = *b;
        __asm__ volatile("" : : "r"(v));
    }
    _exit(0);
}

static void expect_segv(uint8_t *p, ptrdiff_t off, int write,
                        const char *what)
{
    char buf[1024];
    probe_t t = { p, off, write };
    ck_assert_msg(child_faults(probe, &t, buf, sizeof buf),
                  "%s: the %s of byte %td of %p did not fault (stderr: %s)",
                  what, write ? "write" : "read", off, (void *)p, buf);
}

/* Live block p of `req` bytes: its first and last accessible bytes are
 * the program's, the byte after its last page and the byte before its
 * first fault, written or read. */
static void check_guarded(uint8_t *p, size_t req, const char *what)
{
    ck_assert_ptr_nonnull(p);
    size_t rw = rw_of(p, req);
    ck_assert_uint_ge(rw, req);
    ck_assert_uint_eq(rw % HAK_PAGE, 0);
    p[0] ^= 1;
    p[req - 1] ^= 1;
    if (!HAK_CANARY) /* else the slack holds the canary */
        p[rw - 1] ^= 1;
    expect_segv(p, (ptrdiff_t)rw, 1, what);
    expect_segv(p, (ptrdiff_t)rw, 0, what);
    expect_segv(p, -1, 1, what);
    expect_segv(p, -1, 0, what);
}

/* Every way a large block comes to be: fresh, aligned, a cached mapping
 * taken whole for a smaller request, both pieces of a split, grown in
 * place over the cached tail and into its own mapping, moved, shrunk,
 * and a cached mapping grown by mremap. */
START_TEST(every_block_between_guards)
{
    start_empty();
    uint8_t *fresh = hak_malloc(150000);
    check_guarded(fresh, 150000, "fresh");
    uint8_t *pages = hak_malloc(128 * KiB); /* a page multiple */
    check_guarded(pages, 128 * KiB, "page multiple");
    uint8_t *aligned = hak_memalign(64 * KiB, 200000);
    ck_assert_uint_eq((uintptr_t)aligned % (64 * KiB), 0);
    check_guarded(aligned, 200000, "aligned");

    /* Taken whole: the rest of its mapping is not the block's. */
    uint8_t *m = hak_malloc(MiB);
    hak_free(m);
    uint8_t *whole = hak_malloc(600 * KiB);
    ck_assert_ptr_eq(whole, m);
    check_guarded(whole, 600 * KiB, "taken whole");
    /* Grown into its own mapping, in place. */
    uint8_t *own = hak_realloc(whole, 700 * KiB);
    ck_assert_ptr_eq(own, m);
    check_guarded(own, 700 * KiB, "grown into its mapping");

    /* Split: head and tail, each between guards. */
    uint8_t *big = hak_malloc(8 * MiB);
    hak_free(big);
    uint8_t *head = hak_malloc(128 * KiB);
    ck_assert_ptr_eq(head, big);
    check_guarded(head, 128 * KiB, "split head");
    uint8_t *tail = hak_malloc(128 * KiB);
    ck_assert_ptr_eq(tail, big + map_of(128 * KiB) + 2 * GUARD);
    check_guarded(tail, 128 * KiB, "split tail");
    /* The tail grows over what is cached after it. */
    uint8_t *absorbed = hak_realloc(tail, 256 * KiB);
    ck_assert_ptr_eq(absorbed, tail);
    check_guarded(absorbed, 256 * KiB, "grown over the cached tail");
    /* The head has a live neighbour: it moves, guards and all. */
    uint8_t *moved = hak_realloc(head, 512 * KiB);
    ck_assert_ptr_ne(moved, head);
    check_guarded(moved, 512 * KiB, "moved");
    /* Shrunk below half: a guard after the new end. */
    uint8_t *shrunk = hak_realloc(moved, 200 * KiB);
    ck_assert_ptr_eq(shrunk, moved);
    check_guarded(shrunk, 200 * KiB, "shrunk");

    /* A cached mapping out of quarantine grown to fit (mremap). */
    uint8_t *fillers[NQ];
    uint8_t *small = hak_malloc(MiB);
    alloc_fillers(fillers);
    hak_free(small);
    free_fillers(fillers);
    hak_malloc_trim(0);
    small = hak_malloc(MiB);
    alloc_fillers(fillers);
    hak_free(small);
    free_fillers(fillers);
    uint8_t *grown = hak_malloc(3 * MiB);
    check_guarded(grown, 3 * MiB, "cached mapping grown");

    hak_free(fresh);
    hak_free(pages);
    hak_free(aligned);
    hak_free(own);
    hak_free(absorbed);
    hak_free(shrunk);
    hak_free(grown);
}
END_TEST

/* A huge block (HAKMEM_LARGE_HUGE_MB or more) takes whole 2 MiB pages
 * and sits at their end (large.c, place_huge): the read-write kernel
 * mapping holding it starts and ends on 2 MiB boundaries, so making it
 * PROT_NONE at free and read-write at reuse never splits a huge page, and
 * the block still ends at a page that faults; the front before it is
 * less than a huge page, after a guard. */
static void check_on_huge_pages(uint8_t *p, size_t n, const char *what)
{
    ck_assert_ptr_nonnull(p);
    uintptr_t lo, hi;
    char prot[5];
    proc_mapping((uintptr_t)p, &lo, &hi, prot);
    const uintptr_t end = (uintptr_t)p + page_round(n);
    ck_assert_msg(prot[0] == 'r' && prot[1] == 'w',
                  "%s: block %p is not read-write (%s)", what, (void *)p,
                  prot);
    ck_assert_msg(lo % HUGE_PAGE == 0 && hi % HUGE_PAGE == 0,
                  "%s: the read-write mapping %#lx-%#lx of block %p (%zu "
                  "bytes) is not on 2 MiB boundaries", what,
                  (unsigned long)lo, (unsigned long)hi, (void *)p, n);
    ck_assert_msg(end == hi && (uintptr_t)p - lo < HUGE_PAGE,
                  "%s: block %p of %zu bytes is not at the end of its "
                  "read-write mapping %#lx-%#lx", what, (void *)p, n,
                  (unsigned long)lo, (unsigned long)hi);
    p[0] ^= 1;
    p[n - 1] ^= 1;
    expect_segv(p, (ptrdiff_t)page_round(n), 1, what);
    expect_segv(p, (ptrdiff_t)page_round(n), 0, what);
    expect_segv(p, -((ptrdiff_t)((uintptr_t)p - lo) + 1), 1, what);
}

/* Fresh, taken whole from a bigger cached mapping, and the head of a
 * split one; then moved by realloc, front and all. With huge pages off
 * (HAKMEM_LARGE_HUGE_MB 0) no block has a front: the byte before it
 * faults. */
START_TEST(huge_blocks_on_whole_huge_pages)
{
    start_empty();
    const size_t limit = large_huge_limit();
    if (!limit) {
        uint8_t *p = hak_malloc(5 * MiB + 123);
        check_guarded(p, 5 * MiB + 123, "huge pages off");
        hak_free(p);
        return;
    }
    const size_t sizes[] = { limit + 1, limit + 3 * MiB / 2 + 123,
                             2 * limit - HAK_PAGE, 2 * limit };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *p = hak_malloc(sizes[i]);
        check_on_huge_pages(p, sizes[i], "fresh");
        hak_free(p);
    }
    /* Taken whole: a mapping of 3x the request, the one cached. */
    hak_malloc_trim(0);
    const size_t n = limit + 12345;
    uint8_t *big = start_of(cached_mapping(3 * limit), 3 * limit);
    uint8_t *whole = hak_malloc(n);
    ck_assert_ptr_eq(start_of(whole, n), big);
    check_on_huge_pages(whole, n, "taken whole");
    hak_free(whole);
    hak_malloc_trim(0);

    /* The head of a split: a mapping over 16x the request, cached while
     * enough is live (a reservation: never touched). */
    const size_t far = 17 * map_of(n);
    uint8_t *held = hak_malloc(5 * far);
    ck_assert_ptr_nonnull(held);
    uint8_t *cut = start_of(cached_mapping(far), far);
    uint8_t *head = hak_malloc(n);
    ck_assert_ptr_eq(start_of(head, n), cut);
    check_on_huge_pages(head, n, "split head");
    /* The tail was cut after the head's whole huge pages; it starts two
     * guard pages on, off a 2 MiB boundary, so a block cut from it has no
     * front (and is guarded at page granularity, as before). */
    uint8_t *tail = hak_malloc(n);
    ck_assert_ptr_eq(tail, cut + map_of(n) + 2 * GUARD);
    check_guarded(tail, n, "split tail");

    /* Moved by realloc (its neighbour is live): the front moves with the
     * block, which keeps its contents and still ends at a guard. */
    fill(head, n, 7);
    uint8_t *moved = hak_realloc(head, 3 * n);
    ck_assert_ptr_nonnull(moved);
    ck_assert_ptr_ne(moved, head);
    verify(moved, n, 7);
    uintptr_t lo, hi;
    char prot[5];
    proc_mapping((uintptr_t)moved, &lo, &hi, prot);
    ck_assert_msg(hi >= (uintptr_t)moved + page_round(3 * n) &&
                      (uintptr_t)moved - lo == (uintptr_t)head - (uintptr_t)cut,
                  "moved block %p: read-write %#lx-%#lx, front %zu before",
                  (void *)moved, (unsigned long)lo, (unsigned long)hi,
                  (size_t)(head - cut));
    expect_segv(moved, (ptrdiff_t)(hi - (uintptr_t)moved), 1, "moved");
    hak_free(moved);
    hak_free(tail);
    hak_free(held);
}
END_TEST

/* A freed block is PROT_NONE while its mapping waits in the cache: a read
 * or a write through the stale pointer faults, at the block's first,
 * middle and last byte, also after other blocks were freed and allocated
 * (none of the size fits it: the cache still holds it). */
static void check_freed(uint8_t *p, size_t n, const char *what)
{
    expect_segv(p, 0, 0, what);
    expect_segv(p, (ptrdiff_t)(n / 2), 0, what);
    expect_segv(p, (ptrdiff_t)(n - 1), 0, what);
    expect_segv(p, 0, 1, what);
    expect_segv(p, (ptrdiff_t)(n / 2), 1, what);
    expect_segv(p, (ptrdiff_t)(n - 1), 1, what);
}

START_TEST(freed_block_faults_while_cached)
{
    start_empty();
    uint64_t m0 = mapped_now();
    const size_t n = 128 * KiB;
    uint8_t *p = hak_malloc(n);
    memset(p, 0x5a, n);
    hak_free(p);
    ck_assert_uint_gt(mapped_now(), m0); /* cached, not unmapped */
    check_freed(p, n, "freed");
    /* Others come and go; p stays cached and inaccessible. */
    for (int i = 0; i < 4; i++)
        hak_free(hak_malloc(2 * n));
    check_freed(p, n, "freed, after other blocks");

    /* A split head, and a mapping taken whole for a smaller block. */
    hak_malloc_trim(0);
    uint8_t *big = hak_malloc(8 * MiB);
    hak_free(big);
    uint8_t *head = hak_malloc(128 * KiB);
    ck_assert_ptr_eq(head, big);
    memset(head, 1, 128 * KiB);
    hak_free(head);
    check_freed(head, 128 * KiB, "split head freed");
    uint8_t *m = hak_malloc(MiB);
    hak_free(m);
    uint8_t *whole = hak_malloc(600 * KiB);
    ck_assert_ptr_eq(whole, m);
    hak_free(whole);
    check_freed(whole, 600 * KiB, "whole mapping freed");

    /* Where realloc moved a block from. */
    uint8_t *a = hak_malloc(n), *wall = hak_malloc(n);
    uint8_t *a2 = hak_realloc(a, 8 * n);
    ck_assert_ptr_ne(a2, a);
    check_freed(a, n, "moved away by realloc");
    hak_free(a2);
    hak_free(wall);
}
END_TEST

/* write_after_free_large_reuse: free, write through the stale pointer,
 * malloc the same size. The write faults; had it not been made, the next
 * block of the size is another mapping while one fits. */
static void write_then_malloc(void *arg)
{
    (void)arg;
    uint8_t *other = hak_malloc(200000);
    uint8_t *p = hak_malloc(200000);
    hak_free(other);
    hak_free(p);
    memset(p + 100000, 0x41, 8);
    _exit(hak_malloc(200000) == p ? 42 : 0);
}

START_TEST(write_after_free_then_reuse_faults)
{
    char buf[1024];
    ck_assert_msg(child_faults(write_then_malloc, NULL, buf, sizeof buf),
                  "the write after free did not fault: %s", buf);
}
END_TEST

/* The kernel refuses every mprotect (a seccomp filter, as near
 * vm.max_map_count): neither a cached mapping nor a fresh one may be used
 * without its guards, so the allocation fails with ENOMEM; a free that
 * cannot make the mapping inaccessible unmaps it. */
static void large_guards_refused(void *arg)
{
    (void)arg;
    hak_malloc_trim(0);
    uint8_t *live = hak_malloc(MiB);
    hak_free(hak_malloc(2 * MiB)); /* cached */
    if (!live)
        _exit(3);
    deny_mprotect();
    errno = 0;
    if (hak_malloc(200000) != NULL) /* would reuse the cached mapping */
        _exit(42);
    if (errno != ENOMEM)
        _exit(4);
    errno = 0;
    if (hak_malloc(8 * MiB) != NULL) /* a fresh mapping */
        _exit(43);
    if (errno != ENOMEM)
        _exit(5);
    memset(live, 1, MiB); /* the live block is unharmed */
    hak_free(live);
    _exit(0);
}

static void free_unprotectable(void *arg)
{
    (void)arg;
    uint8_t *p = hak_malloc(MiB);
    if (!p)
        _exit(3);
    memset(p, 0x5a, MiB);
    deny_mprotect();
    hak_free(p);
    volatile uint8_t v = p[MiB / 2]; /* unmapped: faults */
    (void)v;
    _exit(42);
}

START_TEST(guard_refused_is_enomem)
{
    char buf[1024];
    int st = run_child(large_guards_refused, NULL, buf, sizeof buf);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "child %s %d (42, 43: a block without guards), stderr: %s",
                  WIFSIGNALED(st) ? "got signal" : "exited with",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), buf);
    ck_assert_msg(child_faults(free_unprotectable, NULL, buf, sizeof buf),
                  "a freed mapping that could not be protected stayed "
                  "readable: %s", buf);
}
END_TEST

/* The table of large blocks cannot grow (its new mapping's guard pages
 * are refused) just when realloc moves a block: realloc returns NULL with
 * ENOMEM and the block is untouched and still live, instead of the block
 * being moved with no entry for it. Blocks moved by realloc leave
 * tombstones, so moving enough of them makes the table grow; with every
 * mprotect refused, moves still work (mmap and mremap) until then. */
#define RT_BLOCKS 1500
#define RT_SIZE (128 * KiB)
_Static_assert(RT_SIZE > HAK_SMALL_LIMIT, "RT_SIZE is a large block");

static int rt_intact(const uint8_t *p, unsigned i)
{
    uint8_t v = (uint8_t)(i * 7 + 1), w = (uint8_t)(v ^ 0xff);
    for (size_t k = 0; k < 4 * KiB; k++)
        if (p[k] != v || p[RT_SIZE - 4 * KiB + k] != w)
            return 0;
    return 1;
}

static void realloc_table_refused(void *arg)
{
    (void)arg;
    static uint8_t *b[RT_BLOCKS];
    for (unsigned i = 0; i < RT_BLOCKS; i++) {
        if (!(b[i] = hak_malloc(RT_SIZE)))
            _exit(3);
        memset(b[i], (uint8_t)(i * 7 + 1), 4 * KiB);
        memset(b[i] + RT_SIZE - 4 * KiB, (uint8_t)((i * 7 + 1) ^ 0xff),
               4 * KiB);
    }
    deny_mprotect();
    unsigned moved = 0;
    int refused = 0;
    for (unsigned i = 0; i < RT_BLOCKS && !refused; i++) {
        errno = 0;
        uint8_t *q = hak_realloc(b[i], 4 * RT_SIZE);
        if (!q) {
            if (errno != ENOMEM)
                _exit(4);
            refused = 1;
            q = b[i];
        }
        if (!rt_intact(q, i))
            _exit(5);
        b[i] = q;
        moved += !refused;
    }
    if (!refused || !moved)
        _exit(6);
    for (unsigned i = 0; i < RT_BLOCKS; i++) {
        if (!rt_intact(b[i], i))
            _exit(7);
        if (hak_malloc_usable_size(b[i]) < RT_SIZE)
            _exit(8);
        hak_free(b[i]);
    }
    hak_check_heap();
    _exit(0);
}

START_TEST(realloc_table_full_is_enomem)
{
    char buf[1024];
    int st = run_child(realloc_table_refused, NULL, buf, sizeof buf);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "child %s %d (4: errno not ENOMEM, 5, 7: block damaged, "
                  "6: no realloc refused, 8: block not live), stderr: %s",
                  WIFSIGNALED(st) ? "got signal" : "exited with",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), buf);
}
END_TEST

Suite *large_suite(void)
{
    const test_row_t rows[] = {
        { "cache", freed_mapping_reused_for_same_size, 0, 0 },
        { "cache", just_freed_mapping_not_next, 0, 0 },
        { "cache", smallest_fitting_mapping_taken, 0, 0 },
        { "cache", far_too_big_mapping_split_tail_cached, 0, 0 },
        { "cache", split_only_above_16x, 0, 0 },
        { "cache", small_request_splits_above_2x, 0, 0 },
        { "cache", no_split_when_not_far_too_big, 0, 0 },
        { "cache", realloc_grows_in_place_over_split_tail, 0, 0 },
        { "cache", realloc_steps_same_in_every_build, 0, 0 },
        { "cache", largest_cached_mapping_grown_when_none_fits, 0, 0 },
        { "cache", quarantined_mapping_not_grown, 0, 0 },
        { "cache", trim_empties_cache, 0, 0 },
        { "cache", cache_bounded_oldest_evicted, 0, 0 },
        { "cache", cache_bound_follows_live_bytes, 0, 0 },
        { "cache", cache_stays_under_live_peak, 0, 0 },
        { "cache" NATIVE, whole_mapping_gives_back_its_rest, 0, 0 },
        { "cache" NATIVE, big_blocks_ask_for_huge_pages, 0, 0 },
        { "guards" NATIVE, every_block_between_guards, 120, 0 },
        { "guards" NATIVE, huge_blocks_on_whole_huge_pages, 0, 0 },
        { "guards" NATIVE, freed_block_faults_while_cached, 0, 0 },
        { "guards" NATIVE, write_after_free_then_reuse_faults, 0, 0 },
        { "guards" NATIVE, guard_refused_is_enomem, 0, 0 },
        { "guards" NATIVE, realloc_table_full_is_enomem, 0, 0 },
        { "use", contents_survive_reuse_paths, 0, 0 },
        { "use", stats_count_each_operation_once, 0, 0 },
        { "use", seeded_large_churn, 0, 3 },
    };
    Suite *s = suite_create("large");
    SUITE_ROWS(s, rows);
    return s;
}
