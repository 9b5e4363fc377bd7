/* zero.c — zero-size blocks (see zero.h). */
#include "zero.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "lock.h"
#include "os.h"
#include "registry.h"
#include "report.h"
#include "vg.h"

#define ZERO_REGION HAK_SS_SIZE              /* one registry chunk */
#define ZERO_SLOT   ((size_t)HAK_ALIGN)      /* bytes of address per block */
#define ZERO_SLOTS  (ZERO_REGION / ZERO_SLOT)
#define ZERO_WORDS  (ZERO_SLOTS / 64)

typedef struct zregion {
    uintptr_t base;   /* aligned to ZERO_REGION (or to a larger alignment) */
    uint64_t *live;   /* ZERO_WORDS words: bit set, the slot is live */
    uint64_t *ever;   /* ZERO_WORDS words: bit set, handed out at least once */
    size_t cursor;    /* the next-fit search starts here */
    size_t nlive;
} zregion_t;

static pthread_mutex_t zero_mutex = PTHREAD_MUTEX_INITIALIZER;
static zregion_t *regions;   /* sorted by base; a metadata mapping */
static size_t nregions, cap_regions;
static size_t cur;           /* the region the last block came from */
static uint64_t n_allocs, n_frees;

void hak_zero_lock(void) { pthread_mutex_lock(&zero_mutex); }
void hak_zero_unlock(void) { pthread_mutex_unlock(&zero_mutex); }

static int bit(const uint64_t *w, size_t s)
{
    return (int)(w[s / 64] >> (s % 64) & 1);
}

static void *take(zregion_t *r, size_t s)
{
    r->live[s / 64] |= (uint64_t)1 << (s % 64);
    r->ever[s / 64] |= (uint64_t)1 << (s % 64);
    r->nlive++;
    r->cursor = s + 1 < ZERO_SLOTS ? s + 1 : 0;
    return (void *)(r->base + s * ZERO_SLOT);
}

/* The first free slot of r at or after its cursor (wrapping around) whose
 * address is a multiple of align, taken; NULL if r has none. */
static void *region_take(zregion_t *r, size_t align)
{
    if (r->nlive == ZERO_SLOTS)
        return NULL;
    if (align > ZERO_REGION) /* slot 0 of a region aligned that far */
        return (r->base & (align - 1)) || bit(r->live, 0) ? NULL : take(r, 0);
    size_t step = align / ZERO_SLOT; /* the region's base is aligned */
    size_t start = hak_round_up(r->cursor, step);
    if (start >= ZERO_SLOTS)
        start = 0;
    if (step >= 64) {
        for (size_t k = 0, s = start; k < ZERO_SLOTS / step; k++) {
            if (!bit(r->live, s))
                return take(r, s);
            s = s + step < ZERO_SLOTS ? s + step : 0;
        }
        return NULL;
    }
    /* Word by word: the candidates of a word are every step-th bit. */
    const uint64_t cand = ~(uint64_t)0 / (((uint64_t)1 << step) - 1);
    const uint64_t from = ~(uint64_t)0 << (start % 64);
    for (size_t k = 0; k <= ZERO_WORDS; k++) {
        size_t w = (start / 64 + k) % ZERO_WORDS;
        uint64_t free = ~r->live[w] & cand;
        if (k == 0)
            free &= from;
        else if (k == ZERO_WORDS)
            free &= ~from; /* back at the first word: the bits before */
        if (free)
            return take(r, w * 64 + (size_t)__builtin_ctzll(free));
    }
    return NULL;
}

/* The region holding address a (its index), or nregions. */
static size_t region_index(uintptr_t a)
{
    size_t lo = 0, hi = nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a < regions[mid].base)
            hi = mid;
        else if (a >= regions[mid].base + ZERO_REGION)
            lo = mid + 1;
        else
            return mid;
    }
    return nregions;
}

/* A new region aligned to align (at least ZERO_REGION), registered; it
 * becomes the current one. NULL when the OS has no room for it. */
static zregion_t *region_new(size_t align)
{
    if (nregions == cap_regions) {
        size_t cap = cap_regions ? 2 * cap_regions : HAK_PAGE / sizeof(zregion_t);
        zregion_t *t = hak_os_map_meta(cap * sizeof *t);
        if (!t)
            return NULL;
        if (regions) {
            memcpy(t, regions, nregions * sizeof *t);
            hak_os_unmap_meta(regions, cap_regions * sizeof *t);
        }
        regions = t;
        cap_regions = cap;
    }
    uint64_t *bits = hak_os_map_meta(2 * ZERO_WORDS * sizeof(uint64_t));
    if (!bits)
        return NULL;
    void *base = hak_os_reserve(ZERO_REGION,
                            align > ZERO_REGION ? align : ZERO_REGION);
    if (!base) {
        hak_os_unmap_meta(bits, 2 * ZERO_WORDS * sizeof(uint64_t));
        return NULL;
    }
    size_t i = 0, hi = nregions; /* its place in address order */
    while (i < hi) {
        size_t mid = i + (hi - i) / 2;
        if (regions[mid].base < (uintptr_t)base)
            i = mid + 1;
        else
            hi = mid;
    }
    memmove(&regions[i + 1], &regions[i], (nregions - i) * sizeof *regions);
    regions[i] = (zregion_t){ (uintptr_t)base, bits, bits + ZERO_WORDS, 0, 0 };
    nregions++;
    cur = i;
    /* Published last: free() of an address in it finds its descriptor. */
    hak_registry_mark_zero((uintptr_t)base);
    return &regions[i];
}

void *hak_zero_alloc(size_t align)
{
    if (align < ZERO_SLOT)
        align = ZERO_SLOT;
    void *p = NULL;
    hak_mutex_lock(&zero_mutex);
    for (size_t k = 0; k < nregions && !p; k++) {
        size_t i = (cur + k) % nregions;
        if ((p = region_take(&regions[i], align)))
            cur = i;
    }
    if (!p) {
        zregion_t *r = region_new(align);
        if (r)
            p = region_take(r, align);
    }
    if (p)
        n_allocs++;
    hak_mutex_unlock(&zero_mutex);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    HAK_VG_ALLOC(p, 0);
    return p;
}

HAK_COLD static void report_zero(const void *p, const zregion_t *r,
                                 const char *check, const char *why)
{
    hak_mutex_unlock(&zero_mutex);
    hak_report(check, p,
               (hak_where_t){ HAK_WHERE_ZERO, 0,
                              r ? (const void *)r->base : NULL },
               why);
}

/* The slot of live zero-size block p, or a report naming check (a double
 * free when `freeing` and p was freed already). Under the mutex. */
static size_t validate(const void *p, const char *check, int freeing,
                       zregion_t **out)
{
    uintptr_t a = (uintptr_t)p;
    size_t i = region_index(a);
    if (i == nregions)
        report_zero(p, NULL, check, " (not a hakmem block)");
    zregion_t *r = &regions[i];
    size_t off = a - r->base;
    if (off % ZERO_SLOT)
        report_zero(p, r, check, " (not a zero-size block)");
    size_t s = off / ZERO_SLOT;
    if (!bit(r->live, s)) {
        if (!bit(r->ever, s))
            report_zero(p, r, check, " (never handed out)");
        report_zero(p, r, freeing ? HAK_CHECK_DOUBLE_FREE : check,
                    " (zero-size block already freed)");
    }
    *out = r;
    return s;
}

void hak_zero_free(void *p)
{
    zregion_t *r;
    hak_mutex_lock(&zero_mutex);
    size_t s = validate(p, HAK_CHECK_INVALID_FREE, 1, &r);
    r->live[s / 64] &= ~((uint64_t)1 << (s % 64));
    r->nlive--;
    n_frees++;
    hak_mutex_unlock(&zero_mutex);
    HAK_VG_FREE(p, 0);
}

size_t hak_zero_usable(const void *p, const char *check)
{
    zregion_t *r;
    hak_mutex_lock(&zero_mutex);
    (void)validate(p, check, 0, &r);
    hak_mutex_unlock(&zero_mutex);
    return 0;
}

void hak_zero_stats(uint64_t *allocs, uint64_t *frees)
{
    hak_mutex_lock(&zero_mutex);
    *allocs = n_allocs;
    *frees = n_frees;
    hak_mutex_unlock(&zero_mutex);
}
