/* large.c — the large tier (see large.h). */
#include "large.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "os.h"
#include "vg.h"
#include "hooks.h"

typedef struct span {
    uintptr_t user;   /* what malloc returned; 0 empty, 1 deleted */
    uintptr_t base;   /* start of the mapping */
    size_t map;       /* bytes mapped */
    size_t req;       /* bytes requested */
} span_t;

#define TOMB ((uintptr_t)1)
/* A cached mapping serves a smaller request whole unless it exceeds the
 * request by more than this factor; then it is split. Splitting more
 * eagerly (at 1.5x) fragmented the cache into pieces no request fit, and
 * every miss cost fresh pages: bench/large made 20x the page faults and
 * 2x the peak RSS of this setting (measured: split at 1.5x, 2x, 4x, 8x,
 * 16x, 32x, never; 16x was the fastest within 10% of the lowest RSS). */
#define LARGE_SPLIT 15
#define CACHE_SLOTS 64
#define RECENT 256

static pthread_mutex_t large_mutex = PTHREAD_MUTEX_INITIALIZER;
static span_t *table;         /* open addressing, power-of-two size */
static size_t table_cap, table_used, table_live;
static span_t cache[CACHE_SLOTS];   /* freed mappings, oldest first */
static unsigned cache_n;
static size_t cache_bytes;
/* Recently freed user pointers: tells a double free from a wild one. */
static uintptr_t recent[RECENT];
static unsigned recent_pos;
static uint64_t n_allocs, n_frees, live_bytes;

void large_lock(void) { pthread_mutex_lock(&large_mutex); }
void large_unlock(void) { pthread_mutex_unlock(&large_mutex); }
void large_reinit_lock(void) { pthread_mutex_init(&large_mutex, NULL); }

static size_t hash(uintptr_t p, size_t cap)
{
    return (size_t)((p >> 12) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

static span_t *table_find(uintptr_t user)
{
    if (!table)
        return NULL;
    for (size_t i = hash(user, table_cap);; i = (i + 1) & (table_cap - 1)) {
        if (table[i].user == user)
            return &table[i];
        if (table[i].user == 0)
            return NULL;
    }
}

static int table_grow(void)
{
    /* Rehash in place when mostly tombstones, else double. */
    size_t cap = !table_cap ? 1024
               : table_live * 4 > table_cap ? table_cap * 2 : table_cap;
    span_t *t = os_map_meta(cap * sizeof *t);
    if (!t)
        return 0;
    for (size_t j = 0; j < table_cap; j++) {
        if (table[j].user > TOMB) {
            size_t i = hash(table[j].user, cap);
            while (t[i].user)
                i = (i + 1) & (cap - 1);
            t[i] = table[j];
        }
    }
    if (table)
        os_unmap_meta(table, table_cap * sizeof *table);
    table = t;
    table_cap = cap;
    table_used = table_live;
    return 1;
}

static int table_insert(span_t sp)
{
    if ((table_used + 1) * 2 > table_cap && !table_grow())
        return 0;
    size_t i = hash(sp.user, table_cap);
    while (table[i].user > TOMB)
        i = (i + 1) & (table_cap - 1);
    if (table[i].user == 0)
        table_used++;
    table[i] = sp;
    table_live++;
    return 1;
}

static void recent_forget(uintptr_t user)
{
    for (unsigned i = 0; i < RECENT; i++)
        if (recent[i] == user)
            recent[i] = 0;
}

/* Takes cache[i] out of the cache. */
static span_t cache_remove(unsigned i)
{
    span_t sp = cache[i];
    cache_bytes -= sp.map;
    memmove(&cache[i], &cache[i + 1], (cache_n - i - 1) * sizeof cache[0]);
    cache_n--;
    return sp;
}

/* The smallest cached mapping of at least `need` bytes (returns 1), else
 * the largest one, smaller than need (returns -1), else nothing (0); the
 * most recently freed of equals (warmest, and the one least likely to be
 * a pointer the program still holds twice). A larger mapping than need is
 * still taken — its pages are already there — and large_alloc splits it
 * if it is far too big (LARGE_SPLIT) or grows a smaller one. Mappings are
 * not coalesced when freed: a block cut from a cached one meets its tail
 * again through realloc (absorb_next). */
static int cache_take(size_t need, span_t *out)
{
    if (cache_n == 0)
        return 0;
    unsigned fit = CACHE_SLOTS, largest = 0;
    for (unsigned i = 0; i < cache_n; i++) {
        size_t m = cache[i].map;
        if (m >= need && (fit == CACHE_SLOTS || m <= cache[fit].map))
            fit = i;
        if (m >= cache[largest].map)
            largest = i;
    }
    *out = cache_remove(fit != CACHE_SLOTS ? fit : largest);
    return fit != CACHE_SLOTS ? 1 : -1;
}

/* Adds a freed mapping; fills `evict` with what no longer fits (oldest
 * first), to be unmapped outside the lock. Returns their number. */
static unsigned cache_put(span_t sp, span_t *evict)
{
    unsigned n = 0;
    if (sp.map > hak_g.large_cache_bytes) {
        evict[n++] = sp;
        return n;
    }
    while (cache_n == CACHE_SLOTS ||
           cache_bytes + sp.map > hak_g.large_cache_bytes)
        evict[n++] = cache_remove(0);
    cache[cache_n++] = sp;
    cache_bytes += sp.map;
    return n;
}

static size_t page_round(size_t n)
{
    return (n + HAK_PAGE - 1) & ~(size_t)(HAK_PAGE - 1);
}

/* Bytes after the requested size up to the end of the mapping. */
static size_t span_slack(const span_t *sp)
{
    return sp->base + sp->map - sp->user - sp->req;
}

/* Debug: the canary covers the slack's first LARGE_CANARY bytes (an
 * overflow starts at the end of the request); a reused mapping may be many
 * times the request, and filling all of it cost more than the block's use. */
#define LARGE_CANARY ((size_t)4096)

static size_t canary_len(const span_t *sp)
{
    size_t slack = span_slack(sp);
    return slack < LARGE_CANARY ? slack : LARGE_CANARY;
}

static void canary_set(span_t *sp)
{
    if (HAK_CANARY)
        memset((uint8_t *)sp->user + sp->req, HAK_CANARY_BYTE, canary_len(sp));
}

/* The block becomes the program's: memcheck sees a heap block of the
 * requested size and no-access slack. */
static void announce(span_t *sp)
{
    HAK_VG_UNDEFINED((void *)sp->base, sp->map);
    canary_set(sp);
    HAK_VG_ALLOC((void *)sp->user, sp->req);
    HAK_VG_NOACCESS((uint8_t *)sp->user + sp->req, span_slack(sp));
}

static void canary_check(const span_t *sp)
{
    if (!HAK_CANARY)
        return;
    const uint8_t *p = (const uint8_t *)sp->user;
    size_t end = sp->req + canary_len(sp);
    size_t bad = hak_dbg_first_not(p, sp->req, end, HAK_CANARY_BYTE);
    if (bad != end) {
        char d[80];
        hak_fmt_t f = { d, 0, sizeof d };
        hak_fmt_str(&f, " requested=");
        hak_fmt_dec(&f, sp->req);
        hak_fmt_str(&f, " offset=");
        hak_fmt_dec(&f, bad);
        hak_report(HAK_CHECK_CANARY, p,
                   (hak_where_t){ HAK_WHERE_LARGE, sp->map, NULL }, d);
    }
}

/* Debug: a freed large block is poisoned (its first LARGE_POISON bytes:
 * a bound on the cost per free) while its mapping waits in the cache, and
 * the poison is verified when the mapping is reused, so a write after free
 * is reported like one into a tiny or mid block. */
#define LARGE_POISON ((size_t)1 << 20)

static size_t poison_len(const span_t *sp)
{
    return sp->req < LARGE_POISON ? sp->req : LARGE_POISON;
}

static void poison_check(const span_t *sp)
{
    if (!HAK_POISON)
        return;
    const uint8_t *p = (const uint8_t *)sp->user;
    size_t bad = hak_dbg_first_not(p, 0, poison_len(sp), HAK_POISON_BYTE);
    if (bad != poison_len(sp)) {
        char d[48];
        hak_fmt_t f = { d, 0, sizeof d };
        hak_fmt_str(&f, " offset=");
        hak_fmt_dec(&f, bad);
        hak_report(HAK_CHECK_POISON, p,
                   (hak_where_t){ HAK_WHERE_LARGE, sp->map, NULL }, d);
    }
}

void *large_alloc(size_t size, size_t align)
{
    size_t slack = HAK_CANARY ? 1 : 0;
    size_t extra = align > HAK_PAGE ? align : 0;
    /* extra < 2^47 first: then the bound below cannot wrap. */
    if (extra >= ((size_t)1 << HAK_VA_BITS) ||
        size > ((size_t)1 << HAK_VA_BITS) - extra - slack - HAK_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = page_round(size + slack) + extra;
    span_t sp, rest = { 0 }, evict[CACHE_SLOTS + 1];
    unsigned nevict = 0;
    /* Reuse before mapping anew: a cached mapping's pages are already
     * there, so reusing them saves the page faults of touching new ones,
     * which is most of what a large allocation costs. */
    pthread_mutex_lock(&large_mutex);
    int cached = cache_take(need, &sp);
    pthread_mutex_unlock(&large_mutex);
    if (cached)
        poison_check(&sp); /* sp still describes the block freed last */
    if (cached > 0 && sp.map - need > need * LARGE_SPLIT) {
        /* Far too big: the tail stays cached as a mapping of its own
         * (pages and all; nothing of it is verified at reuse). */
        rest = (span_t){ sp.base + need, sp.base + need, sp.map - need, 0 };
        sp.map = need;
    } else if (cached < 0) {
        /* Too small: grow it; mremap carries its pages along. */
        void *q = os_remap((void *)sp.base, sp.map, need);
        if (q) {
            sp.base = (uintptr_t)q;
            sp.map = need;
        } else {
            os_unmap((void *)sp.base, sp.map);
            cached = 0;
        }
    }
    if (!cached) {
        sp.base = (uintptr_t)os_map(need);
        sp.map = need;
        if (!sp.base) {
            errno = ENOMEM;
            return NULL;
        }
    }
    sp.user = align > HAK_PAGE ? (sp.base + align - 1) & ~(uintptr_t)(align - 1)
                               : sp.base;
    sp.req = size;
    announce(&sp);
    pthread_mutex_lock(&large_mutex);
    int ok = table_insert(sp);
    if (ok) {
        recent_forget(sp.user);
        n_allocs++;
        live_bytes += sp.map;
    }
    if (rest.map)
        nevict = cache_put(rest, evict);
    pthread_mutex_unlock(&large_mutex);
    for (unsigned i = 0; i < nevict; i++)
        os_unmap((void *)evict[i].base, evict[i].map);
    if (!ok) {
        os_unmap((void *)sp.base, sp.map);
        errno = ENOMEM;
        return NULL;
    }
    return (void *)sp.user;
}

/* p is no live large block. `freeing`: the caller is free(), for which a
 * recently freed p is a double free. */
HAK_COLD static void report_not_large(const void *p, const char *check,
                                      int freeing)
{
    const char *why = " (not a hakmem block)";
    for (unsigned i = 0; i < RECENT; i++)
        if (recent[i] == (uintptr_t)p && p)
            why = " (large block already freed)";
    if (freeing && why[2] == 'l')
        check = HAK_CHECK_DOUBLE_FREE;
    pthread_mutex_unlock(&large_mutex);
    hak_report(check, p, (hak_where_t){ HAK_WHERE_NONE, 0, NULL }, why);
}

void large_free(void *p)
{
    span_t evict[CACHE_SLOTS + 1];
    pthread_mutex_lock(&large_mutex);
    span_t *e = table_find((uintptr_t)p);
    if (!e)
        report_not_large(p, HAK_CHECK_INVALID_FREE, 1);
    span_t sp = *e;
    canary_check(&sp);
    if (HAK_POISON)
        memset((void *)sp.user, HAK_POISON_BYTE, poison_len(&sp));
    HAK_VG_FREE((void *)sp.user, sp.req);
    e->user = TOMB;
    table_live--;
    n_frees++;
    live_bytes -= sp.map;
    recent[recent_pos++ % RECENT] = sp.user;
    unsigned n = cache_put(sp, evict);
    pthread_mutex_unlock(&large_mutex);
    for (unsigned i = 0; i < n; i++)
        os_unmap((void *)evict[i].base, evict[i].map);
}

size_t large_usable(const void *p, const char *check)
{
    pthread_mutex_lock(&large_mutex);
    span_t *e = table_find((uintptr_t)p);
    if (!e)
        report_not_large(p, check, 0);
    size_t n = HAK_DEBUG ? e->req : e->base + e->map - e->user;
    pthread_mutex_unlock(&large_mutex);
    return n;
}

/* Grows live block e in place over the cached mapping right after it:
 * by `want` bytes in all if that mapping has them, by all of it if that
 * reaches `least`. Returns 0 when there is no such neighbour. */
static int absorb_next(span_t *e, size_t least, size_t want)
{
    for (unsigned i = 0; i < cache_n; i++) {
        span_t *c = &cache[i];
        if (c->base != e->base + e->map)
            continue;
        size_t d = want - e->map < c->map ? want - e->map : c->map;
        if (e->map + d < least)
            return 0;
        poison_check(c);
        e->map += d;
        live_bytes += d;
        if (d == c->map) {
            cache_remove(i);
        } else {
            cache_bytes -= d;
            *c = (span_t){ c->base + d, c->base + d, c->map - d, 0 };
        }
        return 1;
    }
    return 0;
}

void *large_realloc(void *p, size_t size)
{
    size_t slack = HAK_CANARY ? 1 : 0;
    size_t least = page_round(size + slack), need = least;
    pthread_mutex_lock(&large_mutex);
    span_t *e = table_find((uintptr_t)p);
    if (!e)
        report_not_large(p, HAK_CHECK_INVALID_REALLOC, 0);
    canary_check(e);
    /* need < size: the rounding wrapped; beyond 2^47 nothing fits (and
     * mremap is not asked: valgrind asserts on such a size). */
    if (e->user != e->base || need < size ||
        need > ((size_t)1 << HAK_VA_BITS)) {
        pthread_mutex_unlock(&large_mutex);
        return NULL;
    }
    span_t sp = *e;
    size_t old_req = sp.req;
    /* Growing: by half again at least, so a block grown in small steps
     * moves its pages O(log n) times, not once per page. Address space
     * only: pages appear as they are touched. (Not in debug, which keeps
     * every mapping at its exact page-rounded size.) */
    if (!HAK_CANARY && need > sp.map && need < sp.map + sp.map / 2)
        need = page_round(sp.map + sp.map / 2);
    /* Shrinking: in place down to half the mapping; only below that are
     * pages given back (and never by each small step of a growing block). */
    if (!HAK_CANARY && need < sp.map && need >= sp.map / 2)
        need = sp.map;
    if (need > sp.map && absorb_next(e, least, need)) {
        /* Grown in place over a cached neighbour: no call, no fault. */
        sp = *e;
        HAK_VG_RESIZE(p, old_req, size);
    } else if (need != sp.map) {
        /* memcheck: the old block ends here; mremap may move the pages. */
        HAK_VG_FREE(p, old_req);
        void *q = os_remap((void *)sp.base, sp.map, need);
        if (!q) {
            HAK_VG_ALLOC(p, old_req);
            HAK_VG_DEFINED(p, old_req);
            pthread_mutex_unlock(&large_mutex);
            return NULL;
        }
        live_bytes += need - sp.map;
        e->user = TOMB;
        table_live--;
        sp.base = sp.user = (uintptr_t)q;
        sp.map = need;
        if (!table_insert(sp))
            hak_report(HAK_CHECK_OOM, p,
                       (hak_where_t){ HAK_WHERE_LARGE, need, NULL },
                       " (large table)");
        e = table_find(sp.user);
        HAK_VG_ALLOC(q, size);
        HAK_VG_DEFINED(q, old_req < size ? old_req : size);
    } else {
        HAK_VG_RESIZE(p, old_req, size);
    }
    e->req = size;
    HAK_VG_UNDEFINED((uint8_t *)e->user + size, span_slack(e));
    canary_set(e);
    HAK_VG_NOACCESS((uint8_t *)e->user + size, span_slack(e));
    pthread_mutex_unlock(&large_mutex);
    return (void *)sp.user;
}

size_t large_trim(void)
{
    span_t all[CACHE_SLOTS];
    pthread_mutex_lock(&large_mutex);
    unsigned n = cache_n;
    memcpy(all, cache, n * sizeof cache[0]);
    cache_n = 0;
    cache_bytes = 0;
    pthread_mutex_unlock(&large_mutex);
    size_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        os_unmap((void *)all[i].base, all[i].map);
        bytes += all[i].map;
    }
    return bytes;
}

void large_stats(uint64_t *allocs, uint64_t *frees, uint64_t *live,
                 uint64_t *cached)
{
    pthread_mutex_lock(&large_mutex);
    *allocs = n_allocs;
    *frees = n_frees;
    *live = live_bytes;
    *cached = cache_bytes;
    pthread_mutex_unlock(&large_mutex);
}

size_t large_requested(const void *p, const char *check)
{
    pthread_mutex_lock(&large_mutex);
    span_t *e = table_find((uintptr_t)p);
    if (!e)
        report_not_large(p, check, 0);
    size_t n = e->req;
    pthread_mutex_unlock(&large_mutex);
    return n;
}
