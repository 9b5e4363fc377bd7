/* large.c — the large tier (see large.h). */
#include "large.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "lock.h"
#include "os.h"
#include "vg.h"
#include "hooks.h"

/* One mapping, guard pages included (large.h); start = base - lead:
 *
 *   start-GUARD  start   base                start+rw        start+map  +GUARD
 *   |  guard  |  front  |  read-write: block |  PROT_NONE ... |  guard  |
 *
 * Live: [base, start+rw) holds the request and its slack (with the
 * canary, when canaries are on); everything else is PROT_NONE, except
 * the front [start, base) of a huge block placed at the end of its 2 MiB
 * pages (place_huge). rw < map when a cached mapping was taken whole for
 * a smaller request (or a shrink could not give the tail back): the rest
 * is address space the block may grow into. Cached: all of it is
 * PROT_NONE (rw = 0, lead = 0, base = start). Each mapping owns both of
 * its guard pages, so it can be unmapped or moved alone. */
typedef struct span {
    uintptr_t base;   /* what malloc returned; 0 empty, 1 deleted */
    size_t map;       /* bytes between the two guard pages */
    size_t rw;        /* live: bytes from start that are read-write */
    size_t req;       /* live: bytes requested */
    size_t lead;      /* live: bytes from start to base (the front) */
    uint64_t seq;     /* cached: n_frees when it was freed (quarantine) */
} span_t;

/* The mapping's first byte after its leading guard page. */
static uintptr_t span_start(const span_t *sp)
{
    return sp->base - sp->lead;
}

#define GUARD ((size_t)HAK_PAGE)
#define TOMB ((uintptr_t)1)
/* A cached mapping serves a smaller request whole unless it exceeds the
 * request by more than this factor; then it is split. Splitting more
 * eagerly (at 1.5x) fragmented the cache into pieces no request fit, and
 * every miss cost fresh pages: bench/large made 20x the page faults and
 * 2x the peak RSS of this setting (measured: split at 1.5x, 2x, 4x, 8x,
 * 16x, 32x, never; 16x was the fastest within 10% of the lowest RSS). */
#define LARGE_SPLIT 15
/* ... except a request of at most LARGE_SMALL bytes, which splits a
 * mapping more than twice its size: the part of a mapping taken whole
 * beyond the request keeps the pages a bigger block touched, resident
 * under a block that never uses them. git log -p makes thousands of
 * 32-128 KiB blocks, which took mappings up to 16x their size whole:
 * peak RSS 223 MiB (glibc's malloc 173), 199 MiB with this rule, at the
 * same CPU time (7 pairs), and bench/large's time and peak unchanged
 * (its blocks run from 64 KiB to 8 MiB). Other bounds, single runs of
 * git log -p (228 MiB under 16x): at most 2x below 128, 256, 512 KiB and
 * 1 MiB: 204 MiB each (the last two raised bench/large's peak from 51 to
 * 55-59 MiB); at most 4x below 256 KiB: 217 MiB; split at any excess
 * below 256 KiB: 197 MiB and a third more CPU time. */
#define LARGE_SMALL ((size_t)256 << 10)
#define LARGE_SPLIT_SMALL 1

/* Whether a cached mapping of `map` bytes is split for `need`. */
static int split_for(size_t map, size_t need)
{
    return map - need > need * (need <= LARGE_SMALL ? LARGE_SPLIT_SMALL
                                                    : LARGE_SPLIT);
}
/* Where a huge page starts: a fresh block that asks for them
 * (HAKMEM_LARGE_HUGE_MB) is placed on this boundary, so that its pages
 * from the start can be huge ones. */
#define HUGE_ALIGN ((size_t)2 << 20)

/* Huge pages for big blocks (HAKMEM_LARGE_HUGE_MB): a 2 MiB page faults
 * in once instead of 512 times, and making it PROT_NONE at free and
 * read-write at reuse changes one entry instead of 512. malloc-large
 * (5-25 MiB blocks): page faults 350k to 18k, system time 1.8 s to
 * 0.8 s. The price is memory a program does not touch: the kernel fills
 * a whole 2 MiB page at the first touch in it. Asked for wherever a block
 * gets its size: hak_large_alloc, and realloc's growth. */
static int wants_huge(size_t bytes)
{
    return hak_g.large_huge_bytes && bytes >= hak_g.large_huge_bytes;
}

/* The read-write bytes a block of `need` bytes (a page multiple) at a
 * multiple of `align` takes from a mapping of `map` bytes at `start`.
 * A huge block whose mapping starts on a 2 MiB boundary takes whole
 * 2 MiB pages (as many as the mapping has) and is placed at their end:
 * the read-write part then starts and ends on a huge page's boundary.
 * Its guard changes (PROT_NONE at free, read-write at reuse) each change
 * one page-table entry per 2 MiB; a boundary inside a huge page makes the
 * kernel split it into 512 entries, which every later change of that
 * range walks. With the end of the block at a page boundary anywhere,
 * reuse at other sizes split the huge pages of a cached mapping one by
 * one: malloc-large (5-25 MiB blocks) split 200 a run, and its mprotect
 * calls spent 0.4-1.0 s of system time walking them; placed here, it
 * splits none (0.1-0.4 s of system time). The block still ends at a
 * guard: an overflow past its last page faults as before. What the
 * placement gives up is the front, up to 2 MiB - 4 KiB before the block
 * that is read-write: an underflow into it does not fault (the debug
 * flavour's canary covers its last HAK_LARGE_CANARY bytes). The price in
 * memory is none beyond what huge pages cost already: the first touch of
 * the block's first huge page faults in all of it, front included. */
static size_t place_huge(uintptr_t start, size_t map, size_t need,
                         size_t align)
{
    if (!wants_huge(need) || align > HAK_PAGE || (start & (HUGE_ALIGN - 1)))
        return need;
    size_t rw = hak_round_up(need, HUGE_ALIGN);
    return rw < map ? rw : map;
}
#define CACHE_SLOTS 64
#define RECENT 256
#define LARGE_QUARANTINE HAK_LARGE_QUARANTINE
/* What free does with a mapping's pages besides making them PROT_NONE:
 * 0 keeps them, 1 gives them back lazily (MADV_FREE), 2 at once
 * (MADV_DONTNEED). Measured on bench/large (6000 steps, 64 KiB - 8 MiB,
 * 2 vCPU VM, kernel 6.18): keeping them 0.55-0.75 s; MADV_FREE the same
 * page faults but 2.3-3.2 s (the first writes to its cleaned pages run
 * the CPU's dirty-bit assist: 1.5 s of user time); MADV_DONTNEED 3.8M
 * page faults instead of 13k, and 9-12 s. So the cache keeps its pages, as
 * it did before it made them PROT_NONE; what it holds is bounded by
 * HAKMEM_LARGE_CACHE_MB all the same. (Override with -DLARGE_DECOMMIT=n
 * to measure again.) */
#ifndef LARGE_DECOMMIT
#define LARGE_DECOMMIT 0
#endif

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
/* The most live large bytes there have been at once (live_grow); the
 * cache holds little more than what live_bytes has fallen below it
 * (cache_limit). */
static uint64_t live_peak;

void hak_large_lock(void) { pthread_mutex_lock(&large_mutex); }
void hak_large_unlock(void) { pthread_mutex_unlock(&large_mutex); }

static size_t hash(uintptr_t p, size_t cap)
{
    return (size_t)((p >> 12) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

static span_t *table_find(uintptr_t base)
{
    if (!table)
        return NULL;
    for (size_t i = hash(base, table_cap);; i = (i + 1) & (table_cap - 1)) {
        if (table[i].base == base)
            return &table[i];
        if (table[i].base == 0)
            return NULL;
    }
}

static int table_grow(void)
{
    /* Rehash in place when mostly tombstones, else double. */
    size_t cap = !table_cap ? 1024
               : table_live * 4 > table_cap ? table_cap * 2 : table_cap;
    span_t *t = hak_os_map_meta(cap * sizeof *t);
    if (!t)
        return 0;
    for (size_t j = 0; j < table_cap; j++) {
        if (table[j].base > TOMB) {
            size_t i = hash(table[j].base, cap);
            while (t[i].base)
                i = (i + 1) & (cap - 1);
            t[i] = table[j];
        }
    }
    if (table)
        hak_os_unmap_meta(table, table_cap * sizeof *table);
    table = t;
    table_cap = cap;
    table_used = table_live;
    return 1;
}

/* Room for one more entry: grows the table first if it must; 0 when it
 * cannot (then nothing changed). After it, table_insert cannot fail. */
static int table_reserve(void)
{
    return (table_used + 1) * 2 <= table_cap || table_grow();
}

static int table_insert(span_t sp)
{
    if (!table_reserve())
        return 0;
    size_t i = hash(sp.base, table_cap);
    while (table[i].base > TOMB)
        i = (i + 1) & (table_cap - 1);
    if (table[i].base == 0)
        table_used++;
    table[i] = sp;
    table_live++;
    return 1;
}

static void recent_forget(uintptr_t base)
{
    for (unsigned i = 0; i < RECENT; i++)
        if (recent[i] == base)
            recent[i] = 0;
}

/* The whole mapping goes back to the kernel, guards included. */
static void span_unmap(const span_t *sp)
{
    hak_os_unmap((void *)(span_start(sp) - GUARD), sp->map + 2 * GUARD);
}

/* ---- The cache of freed mappings ----------------------------------------- */

/* Takes cache[i] out of the cache. */
static span_t cache_remove(unsigned i)
{
    span_t sp = cache[i];
    cache_bytes -= sp.map;
    memmove(&cache[i], &cache[i + 1], (cache_n - i - 1) * sizeof cache[0]);
    cache_n--;
    return sp;
}

/* One of the last LARGE_QUARANTINE mappings freed (large.h). */
static int quarantined(const span_t *c)
{
    return n_frees - c->seq < LARGE_QUARANTINE;
}

/* A cached mapping for a block of `need` bytes at a multiple of `align`:
 * the smallest that fits out of quarantine, the oldest of equals; if only
 * quarantined ones fit, the one freed longest ago (returns 1). Else the
 * largest one out of quarantine, smaller than need, to grow (returns -1;
 * never for an alignment above the page, which mremap does not keep);
 * else nothing (0). So the mapping freed last comes back only when it is
 * the one cached mapping that fits. A larger mapping than need is still
 * taken — its pages are already there — and hak_large_alloc splits it if it
 * is too big (split_for). Mappings are not coalesced when freed: a
 * block cut from a cached one meets its tail again through realloc
 * (absorb_next). */
static int cache_take(size_t need, size_t align, span_t *out)
{
    unsigned fit = CACHE_SLOTS, largest = CACHE_SLOTS;
    int fit_q = 0;
    for (unsigned i = 0; i < cache_n; i++) {
        const span_t *c = &cache[i];
        int q = quarantined(c);
        if (c->map >= need) {
            if (c->base & (align - 1))
                continue;
            if (fit == CACHE_SLOTS || (fit_q && !q) ||
                (!fit_q && !q && c->map < cache[fit].map) ||
                (fit_q && q && c->seq < cache[fit].seq)) {
                fit = i;
                fit_q = q;
            }
        } else if (!q && align <= HAK_PAGE &&
                   (largest == CACHE_SLOTS || c->map > cache[largest].map)) {
            largest = i;
        }
    }
    if (fit != CACHE_SLOTS) {
        *out = cache_remove(fit);
        return 1;
    }
    if (largest != CACHE_SLOTS) {
        *out = cache_remove(largest);
        return -1;
    }
    return 0;
}

/* What the cache may hold: HAKMEM_LARGE_CACHE_MB, or a fraction of the
 * live large bytes when that is more (never while the option is 0, the
 * cache off), and never more than the live bytes have fallen below their
 * peak, plus an eighth of the option (LARGE_PEAK_SLACK). So live and
 * cached mappings together take little more memory than the program's
 * blocks once took at the same time: the cache keeps memory the program
 * had in use and may want again, not memory on top of its own peak.
 * Where a fresh mapping (or realloc's move) takes the live bytes past
 * that, the oldest cached mappings go (cache_shrink). malloc-large (20
 * live blocks of 5-25 MiB, one replaced at a time, at most 397 MiB live
 * at once) held 75-100 MiB cached at its peak; with this bound and
 * release_rest its peak RSS went from 583 to 431 MiB. The slack is for
 * a program whose live large bytes climb in steps: with none, each new
 * peak emptied the cache, and git log -p mapped 83 more mappings a run
 * and took 5.5k more page faults (15%) for 3 MiB off its peak; with 8
 * MiB it makes as many as without the bound, and malloc-large's peak is
 * the same 431 MiB (at 1/16 of its peak instead, 444 MiB).
 *
 * A program that churns many large blocks needs a few of its own
 * mappings cached: when the cache holds only the ones in quarantine,
 * which are never grown, a request none of them fits maps fresh pages,
 * which the kernel zeroes. malloc-large (20 live blocks of 5-25 MiB, one
 * replaced at a time) is the case: with 64 MiB it faulted in 649 huge
 * pages a run, from 75 MiB on 246 (806 MiB less to zero). The fraction
 * bounds what this costs in resident memory to that share of the live
 * large bytes. Called under the lock (live_bytes). */
#ifndef LARGE_CACHE_LIVE_SHARE
#define LARGE_CACHE_LIVE_SHARE 4   /* a quarter */
#endif
#ifndef LARGE_PEAK_SLACK
#define LARGE_PEAK_SLACK 8         /* an eighth of HAKMEM_LARGE_CACHE_MB */
#endif
static size_t cache_limit(void)
{
    size_t opt = hak_g.large_cache_bytes;
    size_t share = (size_t)(live_bytes / LARGE_CACHE_LIVE_SHARE);
    size_t cap = opt && share > opt ? share : opt;
    size_t room = (size_t)(live_peak + opt / LARGE_PEAK_SLACK - live_bytes);
    return cap < room ? cap : room;
}

/* live_bytes grows by n, and with it live_peak if it passes it. Called
 * under the lock. */
static void live_grow(size_t n)
{
    live_bytes += n;
    if (live_bytes > live_peak)
        live_peak = live_bytes;
}

/* Fills `evict` with the oldest cached mappings until the cache holds no
 * more than cache_limit; returns their number. Called under the lock. */
static unsigned cache_shrink(span_t *evict)
{
    unsigned n = 0;
    const size_t limit = cache_limit();
    while (cache_n && cache_bytes > limit)
        evict[n++] = cache_remove(0);
    return n;
}

/* Adds a freed mapping; fills `evict` with what no longer fits (oldest
 * first), to be unmapped outside the lock. Returns their number. */
static unsigned cache_put(span_t sp, span_t *evict)
{
    unsigned n = 0;
    const size_t limit = cache_limit();
    if (sp.map > limit) {
        evict[n++] = sp;
        return n;
    }
    while (cache_n == CACHE_SLOTS || cache_bytes + sp.map > limit)
        evict[n++] = cache_remove(0);
    cache[cache_n++] = sp;
    cache_bytes += sp.map;
    return n;
}

/* A freed block's pages become inaccessible, then (LARGE_DECOMMIT) their
 * memory goes back, before the mapping is cached; -1 if the kernel
 * refused the protection: the mapping must not be cached then. */
static int retire(const span_t *sp)
{
    void *start = (void *)span_start(sp);
    if (hak_os_guard(start, sp->rw) != 0)
        return -1;
    if (LARGE_DECOMMIT == 1)
        hak_os_decommit_lazy(start, sp->rw);
    else if (LARGE_DECOMMIT == 2)
        hak_os_decommit(start, sp->rw);
    return 0;
}

/* ---- The block's slack -------------------------------------------------- */

/* Read-write bytes from base: the request and its slack. */
static size_t span_avail(const span_t *sp)
{
    return sp->rw - sp->lead;
}

/* Bytes after the requested size up to the end of the accessible pages:
 * where the canary is (hardening/hooks.h), and no-access to memcheck. */
static size_t span_slack(const span_t *sp)
{
    return span_avail(sp) - sp->req;
}

/* The block becomes the program's: memcheck sees a heap block of the
 * requested size, and no-access slack and front. */
static void announce(span_t *sp)
{
    uint8_t *b = (uint8_t *)sp->base;
    HAK_VG_UNDEFINED(b, span_avail(sp));
    hak_dbg_large_arm(b, sp->req, span_avail(sp), sp->lead);
    HAK_VG_ALLOC(b, sp->req);
    HAK_VG_NOACCESS(b + sp->req, span_slack(sp));
    HAK_VG_NOACCESS(b - sp->lead, sp->lead);
}

static void canary_check(const span_t *sp)
{
    hak_dbg_large_check((const uint8_t *)sp->base, sp->req, span_avail(sp),
                        sp->lead, sp->map);
}

/* Moves the first e->rw bytes of e's mapping (its pages, read-write or
 * not as they are, the front included) to a new mapping of `need` bytes
 * from its start with guards of its own (mremap into the new
 * reservation), then unmaps what is left of the old one — its guards and
 * the rest — piece by piece (the place the pages left may be another
 * mapping's by then). The pages must be one kernel mapping. 0 if nothing
 * moved. A huge block's front starts on a 2 MiB boundary and so does the
 * new reservation: its huge pages move whole. */
static int span_move(span_t *e, size_t need)
{
    uint8_t *to =
        hak_os_reserve(need, wants_huge(need) ? HUGE_ALIGN : HAK_PAGE);
    if (!to)
        return 0;
    uintptr_t start = span_start(e);
    if (hak_os_move((void *)start, e->rw, to, need) != 0) {
        hak_os_unmap(to - GUARD, need + 2 * GUARD);
        return 0;
    }
    hak_os_unmap((void *)(start - GUARD), GUARD);
    hak_os_unmap((void *)(start + e->rw), e->map - e->rw + GUARD);
    e->base = (uintptr_t)to + e->lead;
    e->map = e->rw = need;
    return 1;
}

/* ---- malloc and free ------------------------------------------------------ */

/* A cached mapping taken whole for a smaller block (split_for) keeps the
 * pages a bigger block touched past the new one's read-write part:
 * resident, PROT_NONE, and of no use to the block unless realloc grows it
 * there. They go back to the kernel, from the first 2 MiB boundary after
 * the block's pages (so no huge page under the block is split) to the
 * mapping's end, when that is at least a huge page: malloc-large (5-25
 * MiB blocks, which take cached mappings up to 16x their size whole) kept
 * about 130 MiB so at its peak. The range stays reserved and PROT_NONE;
 * pages the block grows into later fault in zeroed. Called without the
 * lock: the mapping is no other thread's yet. */
static void release_rest(const span_t *sp, size_t rw)
{
    const uintptr_t from = hak_round_up(sp->base + rw, HUGE_ALIGN);
    const uintptr_t end = sp->base + sp->map;
    if (from < end && end - from >= HUGE_ALIGN)
        hak_os_decommit((void *)from, end - from);
}

void *hak_large_alloc(size_t size, size_t align, int *fresh)
{
    if (align < HAK_PAGE)
        align = HAK_PAGE;
    /* align < 2^47 first: then the bound below cannot wrap. */
    if (align >= ((size_t)1 << HAK_VA_BITS) ||
        size > ((size_t)1 << HAK_VA_BITS) - align - 3 * GUARD) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = hak_round_up(size, HAK_PAGE);
    if (need > hak_os_commit_bound()) {
        errno = ENOMEM;
        return NULL;
    }
    span_t sp = { 0 }, rest = { 0 }, evict[CACHE_SLOTS + 1];
    unsigned nevict = 0;
    /* Reuse before mapping anew: a cached mapping's pages are already
     * there, so reusing them saves the page faults of touching new ones,
     * which is most of what a large allocation costs. */
    hak_mutex_lock(&large_mutex);
    int cached = cache_take(need, align, &sp);
    hak_mutex_unlock(&large_mutex);
    if (cached > 0 && split_for(sp.map, need)) {
        /* Too big (split_for): the block takes the head (whole 2 MiB
         * pages for a huge block: place_huge) and a guard page after it;
         * the tail, after a guard page of its own, stays cached. All of
         * it is PROT_NONE already: the split costs no call. */
        size_t head = place_huge(sp.base, sp.map, need, align);
        rest = (span_t){ sp.base + head + 2 * GUARD,
                         sp.map - head - 2 * GUARD, 0, 0, 0, sp.seq };
        sp.map = head;
    } else if (cached < 0) {
        /* Too small: grow it, guards and all; mremap carries its pages
         * along, and the guard after it ends up after the new end. mremap
         * moves one kernel mapping, and a guard may have merged with a
         * neighbour's instead of with the pages: then the pages alone move
         * into a new guarded mapping. If even that is refused, the mapping
         * goes back to the cache and the block gets a new one. */
        void *q = hak_os_remap((void *)(sp.base - GUARD), sp.map + 2 * GUARD,
                           need + 2 * GUARD);
        if (q) {
            sp.base = (uintptr_t)q + GUARD;
            sp.map = need;
        } else {
            sp.rw = sp.map;
            if (!span_move(&sp, need)) {
                sp.rw = 0;
                rest = sp;
                cached = 0;
            }
        }
    }
    int huge = wants_huge(need);
    if (!cached) {
        /* A huge block's reservation starts on a 2 MiB boundary: it is
         * as long as place_huge makes the block's read-write part. */
        sp.map = place_huge(0, SIZE_MAX, need, align);
        sp.base = (uintptr_t)hak_os_reserve(
            sp.map, huge && align < HUGE_ALIGN ? HUGE_ALIGN : align);
    }
    /* Only the block's pages (and a huge block's front) become
     * accessible; the guards (and the rest of a mapping taken whole) stay
     * PROT_NONE. If the kernel refuses, the mapping is not used: no block
     * goes out unguarded. */
    size_t rw = sp.base ? place_huge(sp.base, sp.map, need, align) : 0;
    int ok = sp.base && hak_os_unguard((void *)sp.base, rw) == 0;
    if (ok && huge)
        hak_os_huge((void *)sp.base, rw);
    if (ok && cached > 0)
        release_rest(&sp, rw);
    if (ok) {
        sp.rw = rw;
        sp.lead = rw - need;
        sp.base += sp.lead;
        sp.req = size;
        announce(&sp);
    }
    hak_mutex_lock(&large_mutex);
    if (ok && (ok = table_insert(sp))) {
        recent_forget(sp.base);
        n_allocs++;
        live_grow(sp.map);
    }
    if (rest.map)
        nevict = cache_put(rest, evict);
    nevict += cache_shrink(evict + nevict);
    hak_mutex_unlock(&large_mutex);
    for (unsigned i = 0; i < nevict; i++)
        span_unmap(&evict[i]);
    if (!ok) {
        if (sp.base)
            span_unmap(&sp);
        errno = ENOMEM;
        return NULL;
    }
    if (fresh)
        *fresh = !cached;
    return (void *)sp.base;
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
    hak_mutex_unlock(&large_mutex);
    hak_report(check, p, (hak_where_t){ HAK_WHERE_NONE, 0, NULL }, why);
}

void hak_large_free(void *p)
{
    span_t evict[CACHE_SLOTS + 1];
    hak_mutex_lock(&large_mutex);
    span_t *e = table_find((uintptr_t)p);
    if (!e)
        report_not_large(p, HAK_CHECK_INVALID_FREE, 1);
    span_t sp = *e;
    canary_check(&sp);
    HAK_VG_FREE((void *)sp.base, sp.req);
    e->base = TOMB;
    table_live--;
    n_frees++;
    live_bytes -= sp.map;
    recent[recent_pos++ % RECENT] = sp.base;
    sp.seq = n_frees;
    const size_t limit = cache_limit();
    hak_mutex_unlock(&large_mutex);
    /* Out of the table and not yet in the cache: no other thread can
     * reach the mapping while it becomes inaccessible. One that cannot be
     * protected, or that the cache cannot hold, is unmapped. */
    if (sp.map > limit || retire(&sp) != 0) {
        span_unmap(&sp);
        return;
    }
    sp.base = span_start(&sp);
    sp.rw = sp.req = sp.lead = 0;
    hak_mutex_lock(&large_mutex);
    unsigned n = cache_put(sp, evict);
    hak_mutex_unlock(&large_mutex);
    for (unsigned i = 0; i < n; i++)
        span_unmap(&evict[i]);
}

size_t hak_large_usable(const void *p, const char *check)
{
    hak_mutex_lock(&large_mutex);
    span_t *e = table_find((uintptr_t)p);
    if (!e)
        report_not_large(p, check, 0);
    size_t n = hak_large_usable_of(e->req, span_avail(e));
    hak_mutex_unlock(&large_mutex);
    return n;
}

/* ---- realloc -------------------------------------------------------------- */

/* Grows live block e in place over the cached mapping right after it (the
 * tail of a split, two guard pages on): to `want` bytes from its start in
 * all if that mapping has them, by all of it if that reaches `least`. The
 * guard pages between them become the block's; the first page after the
 * block's new end, PROT_NONE like all of the cached mapping, is its guard,
 * and the page after that the guard before what stays cached. A remainder
 * too small for both guards and a page is taken too. Returns 0 when there is
 * no such neighbour (or the kernel refused). */
static int absorb_next(span_t *e, size_t least, size_t want)
{
    const uintptr_t start = span_start(e);
    const uintptr_t end = start + e->map + 2 * GUARD;
    for (unsigned i = 0; i < cache_n; i++) {
        span_t *c = &cache[i];
        if (c->base != end)
            continue;
        size_t avail = 2 * GUARD + c->map;
        size_t take = want - e->map < avail ? want - e->map : avail;
        if (avail - take < 3 * GUARD)
            take = avail;
        if (e->map + take < least ||
            hak_os_unguard((void *)(start + e->rw), e->map + take - e->rw) != 0)
            return 0;
        e->map += take;
        e->rw = e->map;
        live_grow(take);
        if (take == avail) {
            cache_remove(i);
        } else {
            cache_bytes -= take;
            c->base += take;
            c->map -= take;
        }
        return 1;
    }
    return 0;
}

/* Shrinks live block e to `need` accessible bytes from its start: the
 * pages after them become the guard (and inaccessible), then all but that
 * guard go back. Best effort: if the kernel refuses, the block stays as it
 * was (or keeps the inaccessible tail reserved). */
static void span_shrink(span_t *e, size_t need)
{
    const uintptr_t start = span_start(e);
    if (hak_os_guard((void *)(start + need), e->rw - need) != 0)
        return;
    e->rw = need;
    if (hak_os_unmap((void *)(start + need + GUARD), e->map - need) == 0) {
        live_bytes -= e->map - need;
        e->map = need;
    }
}

void *hak_large_realloc(void *p, size_t size)
{
    size_t least = hak_round_up(size, HAK_PAGE), need = least;
    hak_mutex_lock(&large_mutex);
    span_t *e = table_find((uintptr_t)p);
    if (!e)
        report_not_large(p, HAK_CHECK_INVALID_REALLOC, 0);
    canary_check(e);
    /* need < size: the rounding wrapped; beyond 2^47 nothing fits (and
     * mremap is not asked: valgrind asserts on such a size). */
    if (need < size || need > ((size_t)1 << HAK_VA_BITS) ||
        need > hak_os_commit_bound()) {
        hak_mutex_unlock(&large_mutex);
        return NULL;
    }
    size_t old_req = e->req, avail = span_avail(e);
    /* Growing: by half again at least, so a block grown in small steps
     * moves its pages O(log n) times, not once per page. Address space
     * only: pages appear as they are touched. */
    if (need > avail && need < avail + avail / 2)
        need = hak_round_up(avail + avail / 2, HAK_PAGE);
    /* Shrinking: in place down to half the block; only below that are
     * pages given back (and never by each small step of a growing block). */
    if (need < avail && need >= avail / 2)
        need = avail;
    /* From here on, bytes from the mapping's start, front included. */
    const size_t rw = e->rw;
    need += e->lead;
    least += e->lead;
    if (need > rw && least <= e->map) {
        /* Into the mapping's own reserved pages: one mprotect. */
        size_t to = need < e->map ? need : e->map;
        if (hak_os_unguard((void *)(span_start(e) + rw), to - rw) != 0)
            goto refused;
        e->rw = to;
        HAK_VG_RESIZE(p, old_req, size);
    } else if (need > rw && absorb_next(e, least, need)) {
        /* Grown in place over a cached neighbour: no fault. */
        HAK_VG_RESIZE(p, old_req, size);
    } else if (need > rw) {
        /* The moved block's entry must fit before the pages move: once
         * they have, the block would have no entry. Growing the table
         * rehashes it, so e is looked up again. A table that cannot grow
         * refuses the move, the block untouched: the caller's fallback
         * (allocate and copy) needs an entry too, so realloc returns NULL
         * with ENOMEM unless memory came back meanwhile. */
        if (!table_reserve())
            goto refused;
        e = table_find((uintptr_t)p);
        /* memcheck: the old block ends here; the pages move. */
        HAK_VG_FREE(p, old_req);
        span_t sp = *e;
        if (!span_move(&sp, need)) {
            HAK_VG_ALLOC(p, old_req);
            HAK_VG_DEFINED(p, old_req);
            goto refused;
        }
        live_grow(need - e->map);
        e->base = TOMB;
        table_live--;
        table_insert(sp); /* reserved: tombstoning e used none of it */
        e = table_find(sp.base);
        HAK_VG_ALLOC((void *)sp.base, size);
        HAK_VG_DEFINED((void *)sp.base, old_req < size ? old_req : size);
    } else {
        if (need < rw)
            span_shrink(e, need);
        HAK_VG_RESIZE(p, old_req, size);
    }
    if (e->rw > rw && wants_huge(e->rw))
        hak_os_huge((void *)span_start(e), e->rw);
    e->req = size;
    HAK_VG_UNDEFINED((uint8_t *)e->base + size, span_slack(e));
    hak_dbg_large_arm((uint8_t *)e->base, size, span_avail(e), e->lead);
    HAK_VG_NOACCESS((uint8_t *)e->base + size, span_slack(e));
    void *q = (void *)e->base;
    /* Grown by fresh pages (a move) or over a cached neighbour with its
     * guards: the cache gives way as at an allocation. */
    span_t evict[CACHE_SLOTS];
    for (unsigned i = 0, n = cache_shrink(evict); i < n; i++)
        span_unmap(&evict[i]);
    hak_mutex_unlock(&large_mutex);
    return q;
refused:
    hak_mutex_unlock(&large_mutex);
    return NULL;
}

size_t hak_large_trim(void)
{
    span_t all[CACHE_SLOTS];
    hak_mutex_lock(&large_mutex);
    unsigned n = cache_n;
    memcpy(all, cache, n * sizeof cache[0]);
    cache_n = 0;
    cache_bytes = 0;
    hak_mutex_unlock(&large_mutex);
    size_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        span_unmap(&all[i]);
        bytes += all[i].map;
    }
    return bytes;
}

uint64_t hak_large_live_peak(void)
{
    hak_mutex_lock(&large_mutex);
    uint64_t peak = live_peak;
    hak_mutex_unlock(&large_mutex);
    return peak;
}

void hak_large_stats(uint64_t *allocs, uint64_t *frees, uint64_t *live,
                 uint64_t *cached)
{
    hak_mutex_lock(&large_mutex);
    *allocs = n_allocs;
    *frees = n_frees;
    *live = live_bytes;
    *cached = cache_bytes;
    hak_mutex_unlock(&large_mutex);
}

size_t hak_large_requested(const void *p, const char *check)
{
    hak_mutex_lock(&large_mutex);
    span_t *e = table_find((uintptr_t)p);
    if (!e)
        report_not_large(p, check, 0);
    size_t n = e->req;
    hak_mutex_unlock(&large_mutex);
    return n;
}
