/* test_registry.c — part of the white-box suite (slab, see test_slab.c):
 * which memory is ours: registry_tier for foreign and
 * own addresses, superslab headers found by address, superslabs mapped and
 * returned, the map agreeing with the list, lock-free lookups while
 * another thread maps and unmaps superslabs, and a list with no limit
 * (more than 65,536 superslabs, the old fixed array's size). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"

#include "heap.h"
#include "registry.h"
#include "size_class.h"
#include "slab.h"
#include "superslab.h"

static int a_global = 42;
static char a_bss[4096];

static void init_allocator(void)
{
    hak_free(hak_malloc(1));
    ck_assert_ptr_nonnull(hak_tls_heap);
}

/* The superslab holding live small block p is sane and ours. */
static void check_header(const void *p, unsigned tier, hak_heap_t *owner)
{
    uintptr_t a = (uintptr_t)p;
    hak_superslab_t *ss = ss_of(a);
    REQ_MSG(ss_base(ss) == (a & ~(uintptr_t)HAK_SS_MASK),
            "%p: superslab base %#jx", p, (uintmax_t)ss_base(ss));
    REQ_MSG(ss_base(ss) % HAK_SS_SIZE == 0, "superslab base not aligned");
    REQ_MSG(ss->magic == (HAK_SS_MAGIC ^ ss_base(ss)),
            "%p: superslab magic %#jx, want %#jx", p, (uintmax_t)ss->magic,
            (uintmax_t)(HAK_SS_MAGIC ^ ss_base(ss)));
    REQ_MSG(ss->owner == owner, "%p: owner %p, want %p", p, (void *)ss->owner,
            (void *)owner);
    REQ_MSG(ss->tier == tier, "%p: superslab tier %u, want %u", p, ss->tier,
            tier);
    REQ_MSG(ss->slab_shift == hak_tier_shift(tier), "%p: slab shift %u", p,
            ss->slab_shift);
    REQ_MSG(ss->nslabs == HAK_SS_SIZE >> ss->slab_shift, "%p: %u slabs", p,
            ss->nslabs);
    hak_slab_t *s = slab_of(ss, a);
    REQ_MSG(s->cls != HAK_CLASS_NONE && hak_class_tier(s->cls) == tier,
            "%p: slab class %u", p, s->cls);
    REQ_MSG(slab_index(s, a, s->capacity) != UINT32_MAX,
            "%p: not a block start of its slab", p);
}

/* ---- Foreign addresses -------------------------------------------------- */

/* A mapping of len bytes of our own: no byte of it is a superslab. */
static void check_foreign_mapping(size_t len)
{
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    for (size_t off = 0; off < len; off += HAK_PAGE)
        REQ_MSG(registry_tier((uintptr_t)m + off) == 0,
                "foreign mapping %p+%zu has tier %u", (void *)m, off,
                registry_tier((uintptr_t)m + off));
    REQ_UINT_EQ(registry_tier((uintptr_t)m + len - 1), 0);
    munmap(m, len);
}

static void f(void) {}

START_TEST(tier_zero_for_foreign)
{
    init_allocator();
    int on_stack = 1;
    ck_assert_uint_eq(registry_tier(0), 0);
    ck_assert_uint_eq(registry_tier((uintptr_t)NULL + 16), 0);
    ck_assert_uint_eq(registry_tier((uintptr_t)&on_stack), 0);
    ck_assert_uint_eq(registry_tier((uintptr_t)&a_global), 0);
    ck_assert_uint_eq(registry_tier((uintptr_t)a_bss), 0);
    ck_assert_uint_eq(registry_tier((uintptr_t)&hak_g), 0);
    ck_assert_uint_eq(registry_tier((uintptr_t)hak_registry_map), 0);
    ck_assert_uint_eq(registry_tier((uintptr_t)&f), 0);
    ck_assert_uint_eq(registry_tier((uintptr_t)hak_tls_heap), 0);
    void *libc = malloc(100);
    ck_assert_ptr_nonnull(libc);
    ck_assert_uint_eq(registry_tier((uintptr_t)libc), 0);
    free(libc);

    check_foreign_mapping(3 * HAK_SS_SIZE);

    /* Beyond the 47-bit user address space, including addresses that
     * differ from a live superslab's only in the high bits. */
    uint8_t *p = hak_malloc(32);
    ck_assert_uint_eq(registry_tier((uintptr_t)p), HAK_TIER_TINY);
    const uintptr_t high[] = {
        (uintptr_t)1 << HAK_VA_BITS,
        ((uintptr_t)1 << HAK_VA_BITS) + HAK_SS_SIZE,
        (uintptr_t)p | (uintptr_t)1 << HAK_VA_BITS,
        (uintptr_t)p | (uintptr_t)1 << 48,
        (uintptr_t)p | (uintptr_t)1 << 63,
        (uintptr_t)p | ~(((uintptr_t)1 << HAK_VA_BITS) - 1),
        (uintptr_t)0xffff800000000000ull,
        (uintptr_t)0xffffffffff600000ull,
        UINTPTR_MAX,
        UINTPTR_MAX - HAK_SS_SIZE,
    };
    for (size_t i = 0; i < sizeof high / sizeof high[0]; i++)
        ck_assert_msg(registry_tier(high[i]) == 0,
                      "address %#jx has tier %u", (uintmax_t)high[i],
                      registry_tier(high[i]));
    hak_free(p);
}
END_TEST

/* ---- Own blocks --------------------------------------------------------- */

START_TEST(tier_of_small_and_large)
{
    init_allocator();
    hak_heap_t *me = hak_tls_heap;
    struct {
        size_t size;
        unsigned tier;
    } cases[] = {
        { 0, HAK_TIER_ZERO }, /* a zero region: src/zero.h */
        { 1, HAK_TIER_TINY },
        { 32, HAK_TIER_TINY },
        /* the same boundaries in every build */
        { 1024, HAK_TIER_TINY },
        { 1025, HAK_TIER_MID },
        { 4000, HAK_TIER_MID },
        { 32768, HAK_TIER_MID },
        { 57344, HAK_TIER_MID },
        { 57345, HAK_TIER_BIG },
        { 114688, HAK_TIER_BIG },
        { 114689, 0 },
        { (size_t)1 << 20, 0 },
    };
    void *ptrs[sizeof cases / sizeof cases[0]];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *p = hak_malloc(cases[i].size);
        ptrs[i] = p;
        ck_assert_ptr_nonnull(p);
        unsigned t = registry_tier((uintptr_t)p);
        ck_assert_msg(t == cases[i].tier,
                      "hak_malloc(%zu) = %p: tier %u, want %u", cases[i].size,
                      (void *)p, t, cases[i].tier);
        size_t len = cases[i].size ? cases[i].size : 1;
        /* Every byte of the block answers the same. */
        for (size_t off = 0; off < len; off++)
            REQ_MSG(registry_tier((uintptr_t)p + off) == t,
                    "byte %zu of hak_malloc(%zu) has tier %u, want %u", off,
                    cases[i].size, registry_tier((uintptr_t)p + off), t);
        if (HAK_TIER_IS_SLAB(t))
            check_header(p, t, me);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        hak_free(ptrs[i]);
}
END_TEST

typedef struct thread_block {
    void *p;
    hak_heap_t *heap;
} thread_block_t;

static void *alloc_in_thread(void *arg)
{
    thread_block_t *tb = arg;
    tb->p = hak_malloc(4000);
    tb->heap = hak_tls_heap;
    return NULL;
}

START_TEST(owner_is_allocating_heap)
{
    init_allocator();
    hak_heap_t *me = hak_tls_heap;
    void *mine = hak_malloc(32);
    void *mine_mid = hak_malloc(4000);
    check_header(mine, HAK_TIER_TINY, me);
    check_header(mine_mid, HAK_TIER_MID, me);
    ck_assert_ptr_ne(ss_of((uintptr_t)mine), ss_of((uintptr_t)mine_mid));

    thread_block_t tb = { NULL, NULL };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, alloc_in_thread, &tb), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_ptr_nonnull(tb.p);
    ck_assert_ptr_nonnull(tb.heap);
    ck_assert_ptr_ne(tb.heap, me);
    ck_assert_uint_eq(registry_tier((uintptr_t)tb.p), HAK_TIER_MID);
    /* Still the exited thread's (now abandoned) heap: never main's. */
    check_header(tb.p, HAK_TIER_MID, tb.heap);
    ck_assert_ptr_ne(ss_of((uintptr_t)tb.p), ss_of((uintptr_t)mine_mid));
    hak_free(tb.p);
    hak_free(mine);
    hak_free(mine_mid);
    hak_check_heap();
}
END_TEST

/* ---- The map agrees with the list --------------------------------------- */

typedef struct listed {
    size_t n, bad;
    uintptr_t *bases;
    size_t cap;
} listed_t;

static void collect_ss(hak_superslab_t *ss, void *arg)
{
    listed_t *l = arg;
    if (l->n < l->cap)
        l->bases[l->n] = ss_base(ss);
    l->n++;
    if (ss->magic != (HAK_SS_MAGIC ^ ss_base(ss)) ||
        registry_tier(ss_base(ss)) != ss->tier ||
        registry_tier(ss_base(ss) + HAK_SS_SIZE - 1) != ss->tier ||
        !HAK_TIER_IS_SLAB(ss->tier))
        l->bad++;
}

static listed_t list_superslabs(void)
{
    listed_t l = { 0, 0, NULL, 4096 };
    l.bases = calloc(l.cap, sizeof *l.bases);
    ck_assert_ptr_nonnull(l.bases);
    hak_registry_each(collect_ss, &l);
    ck_assert_uint_le(l.n, l.cap);
    return l;
}

static int listed_has(const listed_t *l, uintptr_t base)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->bases[i] == base)
            return 1;
    return 0;
}

/* Every byte of the map with a slab tier is a listed superslab, and back.
 * A zero region (HAK_TIER_ZERO: src/zero.h, tested in test_zero.c) is
 * marked in the map and is no superslab; an earlier test's malloc(0)
 * leaves one when tests share a process (CK_FORK=no). */
static void check_map_matches_list(void)
{
    listed_t l = list_superslabs();
    ck_assert_msg(l.bad == 0, "%zu listed superslabs disagree with the map",
                  l.bad);
    ck_assert_uint_eq(l.n, hak_registry_count());
    size_t chunks = (size_t)1 << (HAK_VA_BITS - HAK_SS_SHIFT), marked = 0;
    for (size_t i = 0; i < chunks; i++) {
        unsigned t = atomic_load_explicit(&hak_registry_map[i],
                                          memory_order_relaxed);
        if (!t || t == HAK_TIER_ZERO)
            continue;
        marked++;
        uintptr_t base = (uintptr_t)i << HAK_SS_SHIFT;
        REQ_MSG(HAK_TIER_IS_SLAB(t), "chunk %#jx has tier %u",
                (uintmax_t)base, t);
        REQ_MSG(listed_has(&l, base),
                "chunk %#jx marked tier %u but not a listed superslab",
                (uintmax_t)base, t);
    }
    ck_assert_uint_eq(marked, l.n);
    free(l.bases);
}

START_TEST(map_matches_list)
{
    init_allocator();
    check_map_matches_list();
    void *a = hak_malloc(100), *b = hak_malloc(10000);
    check_map_matches_list();
    hak_free(a);
    hak_free(b);
    hak_malloc_trim(0);
    check_map_matches_list();
}
END_TEST

/* ---- Superslabs come and go --------------------------------------------- */

START_TEST(count_grows_and_returns)
{
    init_allocator();
    hak_malloc_trim(0);
    uint64_t count0 = hak_registry_count();
    listed_t before = list_superslabs();
    hak_stats_t s0, s1, s2;
    hak_stats_get(&s0);

    /* ~10 MiB of 512-byte blocks: several tiny superslabs. */
    const size_t req = 512;
    unsigned c = hak_class_of(req);
    size_t n = ((size_t)10 << 20) / req;
    size_t per_ss = (size_t)hak_capacity(c) * (HAK_MAX_SLABS - 1);
    size_t need = (n + per_ss - 1) / per_ss; /* at least this many */
    void **blk = test_calloc(n, sizeof *blk);
    uintptr_t *bases = test_calloc(n, sizeof *bases);
    void **first = test_calloc(n, sizeof *first); /* a block in each */
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        blk[i] = hak_malloc(req);
        REQ_MSG(blk[i] != NULL, "allocation %zu failed", i);
        REQ_MSG(registry_tier((uintptr_t)blk[i]) == HAK_TIER_TINY,
                "block %zu: tier %u", i, registry_tier((uintptr_t)blk[i]));
        uintptr_t base = (uintptr_t)blk[i] & ~(uintptr_t)HAK_SS_MASK;
        size_t k = 0;
        while (k < nb && bases[k] != base)
            k++;
        if (k == nb) {
            first[nb] = blk[i];
            bases[nb++] = base;
        }
    }
    uint64_t count1 = hak_registry_count();
    hak_stats_get(&s1);
    ck_assert_msg(nb >= need, "%zu blocks in %zu superslabs, want >= %zu", n,
                  nb, need);
    /* Superslabs that held blocks before (a partly used one has room) may
     * take some; every other superslab holding the blocks is new. */
    size_t fresh = 0, in_old = 0;
    for (size_t k = 0; k < nb; k++)
        fresh += !listed_has(&before, bases[k]);
    for (size_t i = 0; i < n; i++)
        in_old += listed_has(&before, (uintptr_t)blk[i] &
                                          ~(uintptr_t)HAK_SS_MASK);
    ck_assert_msg(fresh >= (n - in_old + per_ss - 1) / per_ss,
                  "%zu blocks in %zu new superslabs of %zu blocks each",
                  n - in_old, fresh, per_ss);
    ck_assert_uint_gt(count1, count0);
    ck_assert_msg(count1 == count0 + fresh,
                  "hak_registry_count %ju -> %ju, but %zu new superslabs hold "
                  "the blocks", (uintmax_t)count0, (uintmax_t)count1, fresh);
    ck_assert_uint_eq(s1.superslabs_mapped - s0.superslabs_mapped, fresh);
    ck_assert_uint_ge(s1.mapped_bytes, s0.mapped_bytes + fresh * HAK_SS_SIZE);
    check_map_matches_list();
    for (size_t k = 0; k < nb; k++)
        check_header(first[k], HAK_TIER_TINY, hak_tls_heap);

    for (size_t i = 0; i < n; i++)
        hak_free(blk[i]);
    hak_malloc_trim(0);
    uint64_t count2 = hak_registry_count();
    hak_stats_get(&s2);
    ck_assert_msg(count2 <= count0,
                  "hak_registry_count %ju at the start, %ju after freeing all "
                  "and trimming (peak %ju)", (uintmax_t)count0,
                  (uintmax_t)count2, (uintmax_t)count1);
    ck_assert_uint_ge(s2.superslabs_returned - s0.superslabs_returned,
                      fresh);
    ck_assert_msg(s2.superslabs_returned - s0.superslabs_returned >=
                      s2.superslabs_mapped - s0.superslabs_mapped,
                  "mapped %ju superslabs, returned %ju",
                  (uintmax_t)(s2.superslabs_mapped - s0.superslabs_mapped),
                  (uintmax_t)(s2.superslabs_returned -
                              s0.superslabs_returned));
    ck_assert_msg(s2.mapped_bytes + fresh * HAK_SS_SIZE <= s1.mapped_bytes,
                  "mapped bytes %ju at the peak, %ju after trim",
                  (uintmax_t)s1.mapped_bytes, (uintmax_t)s2.mapped_bytes);
    /* Every superslab the test brought in is gone from the map. */
    for (size_t k = 0; k < nb; k++)
        if (!listed_has(&before, bases[k]))
            ck_assert_msg(registry_tier(bases[k]) == 0,
                          "returned superslab %#jx still has tier %u",
                          (uintmax_t)bases[k], registry_tier(bases[k]));
    check_map_matches_list();
    /* A fresh foreign mapping, likely where they were, is not ours. */
    check_foreign_mapping((nb + 1) * HAK_SS_SIZE);
    hak_check_heap();
    free(before.bases);
    free(blk);
    free(bases);
    free(first);
}
END_TEST

/* ---- Lookups while superslabs are mapped and unmapped ------------------- */

#define LIVE 2000

typedef struct conc {
    void *live[LIVE];
    unsigned tier[LIVE];
    uintptr_t base[LIVE];
    uintptr_t magic[LIVE];
    _Atomic int stop;
    unsigned rounds;
    pthread_barrier_t start;
} conc_t;

typedef struct reader_res {
    conc_t *c;
    uint64_t lookups, wrong_tier, wrong_header, foreign;
} reader_res_t;

static void *reader(void *arg)
{
    reader_res_t *r = arg;
    conc_t *c = r->c;
    int local = 0;
    pthread_barrier_wait(&c->start);
    /* At least one full pass even if the mapper is quick. */
    for (unsigned pass = 0;
         pass < 2 || !atomic_load_explicit(&c->stop, memory_order_relaxed);
         pass++) {
        for (size_t i = 0; i < LIVE; i++) {
            uintptr_t a = (uintptr_t)c->live[i];
            if (registry_tier(a) != c->tier[i])
                r->wrong_tier++;
            hak_superslab_t *ss = ss_of(a);
            if (ss->magic != c->magic[i] || ss_base(ss) != c->base[i])
                r->wrong_header++;
            r->lookups++;
        }
        if (registry_tier((uintptr_t)&local) ||
            registry_tier((uintptr_t)r) ||
            registry_tier((uintptr_t)1 << HAK_VA_BITS))
            r->foreign++;
    }
    return NULL;
}

static void *mapper(void *arg)
{
    conc_t *c = arg;
    /* Each round maps several tiny and mid superslabs and returns them. */
    const size_t nt = 3 * (HAK_SS_SIZE / 512), nm = 2 * (HAK_SS_SIZE / 16384);
    void **v = calloc(nt + nm, sizeof *v);
    pthread_barrier_wait(&c->start);
    if (v) {
        for (unsigned round = 0; round < c->rounds; round++) {
            for (size_t i = 0; i < nt; i++)
                v[i] = hak_malloc(500);
            for (size_t i = 0; i < nm; i++)
                v[nt + i] = hak_malloc(16000);
            for (size_t i = 0; i < nt + nm; i++)
                hak_free(v[i]);
            hak_malloc_trim(0);
        }
        free(v);
    }
    atomic_store_explicit(&c->stop, 1, memory_order_relaxed);
    return v ? NULL : (void *)1;
}

START_TEST(concurrent_lookups)
{
    init_allocator();
    static conc_t c;
    memset(&c, 0, sizeof c);
    c.rounds = 30 * test_scale();
    for (size_t i = 0; i < LIVE; i++) {
        size_t size = i % 2 ? 24 + i % 1000 : 2000 + (i * 7) % 20000;
        c.live[i] = hak_malloc(size);
        ck_assert_ptr_nonnull(c.live[i]);
        c.tier[i] = i % 2 ? HAK_TIER_TINY : HAK_TIER_MID;
        ck_assert_uint_eq(registry_tier((uintptr_t)c.live[i]), c.tier[i]);
        c.base[i] = (uintptr_t)c.live[i] & ~(uintptr_t)HAK_SS_MASK;
        c.magic[i] = HAK_SS_MAGIC ^ c.base[i];
        check_header(c.live[i], c.tier[i], hak_tls_heap);
    }
    hak_stats_t s0, s1;
    hak_stats_get(&s0);
    ck_assert_int_eq(pthread_barrier_init(&c.start, NULL, 3), 0);
    pthread_t rt[2], mt;
    reader_res_t rr[2];
    for (int i = 0; i < 2; i++) {
        rr[i] = (reader_res_t){ &c, 0, 0, 0, 0 };
        ck_assert_int_eq(pthread_create(&rt[i], NULL, reader, &rr[i]), 0);
    }
    ck_assert_int_eq(pthread_create(&mt, NULL, mapper, &c), 0);
    void *ret = NULL;
    ck_assert_int_eq(pthread_join(mt, &ret), 0);
    ck_assert_ptr_null(ret);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(rt[i], NULL), 0);
    pthread_barrier_destroy(&c.start);
    hak_stats_get(&s1);

    for (int i = 0; i < 2; i++) {
        ck_assert_uint_ge(rr[i].lookups, 2 * LIVE);
        ck_assert_msg(rr[i].wrong_tier == 0,
                      "reader %d: %ju of %ju lookups of live blocks gave a "
                      "wrong tier", i, (uintmax_t)rr[i].wrong_tier,
                      (uintmax_t)rr[i].lookups);
        ck_assert_msg(rr[i].wrong_header == 0,
                      "reader %d: %ju wrong superslab headers", i,
                      (uintmax_t)rr[i].wrong_header);
        ck_assert_msg(rr[i].foreign == 0,
                      "reader %d: %ju foreign addresses looked ours", i,
                      (uintmax_t)rr[i].foreign);
    }
    /* The mapper really mapped and returned superslabs meanwhile. */
    ck_assert_uint_ge(s1.superslabs_mapped - s0.superslabs_mapped,
                      c.rounds);
    ck_assert_uint_ge(s1.superslabs_returned - s0.superslabs_returned,
                      c.rounds);
    for (size_t i = 0; i < LIVE; i++) {
        ck_assert_uint_eq(registry_tier((uintptr_t)c.live[i]), c.tier[i]);
        hak_free(c.live[i]);
    }
    hak_check_heap();
    check_map_matches_list();
}
END_TEST

/* ---- No limit on the list ------------------------------------------------ */

/* Headers of 65,536 + 64 superslabs, each at the start of its own 2 MiB
 * of one reserved range (only the header's page is written: 256 MiB of
 * pages, none of the rest), registered, listed and removed in an order
 * that takes them out of the middle of the list. The registry must
 * neither abort nor lose one. */
#define MANY_SS (65536u + 64u)

typedef struct many {
    uintptr_t lo, hi;
    size_t seen;
} many_t;

static void count_many(hak_superslab_t *ss, void *arg)
{
    many_t *m = arg;
    m->seen += ss_base(ss) >= m->lo && ss_base(ss) < m->hi;
}

START_TEST(list_beyond_65536_superslabs)
{
    init_allocator();
    size_t len = ((size_t)MANY_SS + 1) << HAK_SS_SHIFT;
    uint8_t *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ck_assert_msg(raw != MAP_FAILED, "no %zu GiB of address space", len >> 30);
    uintptr_t lo = ((uintptr_t)raw + HAK_SS_MASK) & ~(uintptr_t)HAK_SS_MASK;
    many_t m = { lo, lo + ((uintptr_t)MANY_SS << HAK_SS_SHIFT), 0 };
    uint64_t count0 = hak_registry_count();
    for (size_t i = 0; i < MANY_SS; i++) {
        uintptr_t base = lo + (i << HAK_SS_SHIFT);
        hak_superslab_t *ss = ss_of(base);
        ss->magic = HAK_SS_MAGIC ^ base;
        ss->tier = HAK_TIER_TINY;
        hak_registry_add(ss, HAK_TIER_TINY);
    }
    REQ_UINT_EQ(hak_registry_count(), count0 + MANY_SS);
    hak_registry_each(count_many, &m);
    REQ_UINT_EQ(m.seen, MANY_SS);
    REQ_UINT_EQ(registry_tier(lo), HAK_TIER_TINY);
    REQ_UINT_EQ(registry_tier(m.hi - 1), HAK_TIER_TINY);
    /* Out of the middle first (every third), then the rest. */
    for (unsigned pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < MANY_SS; i++)
            if ((i % 3 == 1) == (pass == 0))
                hak_registry_remove(ss_of(lo + (i << HAK_SS_SHIFT)));
    REQ_UINT_EQ(hak_registry_count(), count0);
    m.seen = 0;
    hak_registry_each(count_many, &m);
    REQ_UINT_EQ(m.seen, 0);
    for (size_t i = 0; i < MANY_SS; i++)
        REQ_UINT_EQ(registry_tier(lo + (i << HAK_SS_SHIFT)), 0);
    munmap(raw, len);
    check_map_matches_list();
}
END_TEST

void registry_cases(Suite *s)
{
    const test_row_t rows[] = {
        { "lookup", tier_zero_for_foreign, 0, 0 },
        { "lookup", tier_of_small_and_large, 0, 0 },
        { "lookup", owner_is_allocating_heap, 0, 0 },
        { "lookup", map_matches_list, 0, 0 },
        { "lifecycle", count_grows_and_returns, 120, 0 },
        { "lifecycle", concurrent_lookups, 0, 0 },
        { "many superslabs" NATIVE, list_beyond_65536_superslabs, 0, 0 },
    };
    SUITE_ROWS(s, rows);
}
