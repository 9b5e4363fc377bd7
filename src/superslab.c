/* superslab.c — superslab mapping and slab init. */
#include "superslab.h"

#include "hooks.h"
#include "os.h"
#include "vg.h"

/* ---- Slabs -------------------------------------------------------------- */

void hak_slab_init(hak_superslab_t *ss, hak_slab_t *s, unsigned cls)
{
    /* First, while top still bounds the slots the last use handed out. */
    if (hak_slots_kept())
        hak_chk_on_slab_init(ss, s);
    /* Other threads may read start, cls, top, their copy of the geometry
     * (rstart, rmagic, rcapacity) and the bits meanwhile (slab.h, "A
     * slab seen from another thread"); div_magic and capacity are the
     * owner's alone. */
    slab_gen_begin(s);
    HAK_SHARED_STORE(s->start, (uint8_t *)ss_base(ss) +
                                   ((size_t)s->index << ss->slab_shift));
    s->stride = hak_stride(cls);
    s->div_magic = hak_div_magic(s->stride);
    s->capacity = (uint16_t)hak_capacity(cls);
    HAK_SHARED_STORE(s->cls, (uint16_t)cls);
    HAK_SHARED_STORE(s->rstart, s->start);
    HAK_SHARED_STORE(s->rmagic, s->div_magic);
    HAK_SHARED_STORE(s->rcapacity, (uint32_t)s->capacity);
    s->credit = 0;
    s->used_base = 0;
    s->cursor = 0;
    HAK_SHARED_STORE(s->top, (uint16_t)0);
    s->next = s->prev = NULL;
    /* Every slot free; no bit at or past the capacity is ever set. The
     * blocks themselves are not touched: their pages appear when the
     * program writes them. */
    uint32_t words = (s->capacity + 63u) / 64u;
    for (uint32_t k = 0; k < HAK_SLAB_WORDS; k++) {
        uint64_t w = 0;
        if (k + 1 < words)
            w = ~(uint64_t)0;
        else if (k + 1 == words)
            w = s->capacity % 64 ? ((uint64_t)1 << (s->capacity % 64)) - 1
                                 : ~(uint64_t)0;
        slab_bits_store(s, k, w);
    }
    slab_gen_end(s);
    slab_take_from_bits(s);
    HAK_VG_NOACCESS(s->start, slab_bytes(ss));
}

/* ---- Superslab lists ---------------------------------------------------- */

static void list_unlink(hak_heap_t *h, hak_superslab_t *ss)
{
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        h->ss[ss->tier] = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    ss->next = ss->prev = NULL;
}

static void list_push_head(hak_heap_t *h, hak_superslab_t *ss)
{
    ss->prev = NULL;
    ss->next = h->ss[ss->tier];
    if (ss->next)
        ss->next->prev = ss;
    h->ss[ss->tier] = ss;
}

static void list_push_tail(hak_heap_t *h, hak_superslab_t *ss)
{
    hak_superslab_t **pp = &h->ss[ss->tier], *prev = NULL;
    while (*pp) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    ss->prev = prev;
    ss->next = NULL;
    *pp = ss;
}

/* ---- Superslabs --------------------------------------------------------- */

/* Descriptor i as an unused slab's. Written when slab i is first taken,
 * not when the superslab is mapped: the descriptors fill nine pages. */
static void slab_desc_init(hak_superslab_t *ss, unsigned i)
{
    hak_slab_t *s = &ss->slabs[i];
    /* Another thread validating a pointer may read cls and start
     * (slab.h, "A slab seen from another thread"). */
    s->index = (uint8_t)i;
    HAK_SHARED_STORE(s->cls, (uint16_t)HAK_CLASS_NONE);
    HAK_SHARED_STORE(s->start, (uint8_t *)ss_base(ss) + ((size_t)i << ss->slab_shift));
}

_Static_assert(HAK_OS_COLOURS == HAK_HOT_WAYS,
               "a superslab's colour is its hot way");

/* The hot ways (types.h) of h's superslabs, spares included: a new
 * superslab is mapped in another while there is one (hak_os_map_aligned).
 * Two of a heap's superslabs in one way take turns in free's hot slot,
 * and every free into the one out of it asks the registry: larson ran at
 * 0.6-0.8 of its speed in a third of its runs, with up to a fifth of its
 * frees sent that way. */
static uint32_t heap_ways(const hak_heap_t *h)
{
    uint32_t ways = 0;
    for (unsigned t = HAK_TIER_TINY; t < HAK_SLAB_TIERS; t++) {
        const hak_superslab_t *lists[] = { h->ss[t], h->spare[t] };
        for (unsigned l = 0; l < 2; l++)
            for (const hak_superslab_t *ss = lists[l]; ss; ss = ss->next)
                ways |= 1u << HAK_HOT_WAY(ss_base(ss));
    }
    return ways;
}

static hak_superslab_t *superslab_map(hak_heap_t *h, unsigned tier)
{
    uint8_t *base = hak_os_map_aligned(HAK_SS_SIZE, HAK_SS_SIZE,
                                       heap_ways(h));
    if (!base)
        return NULL;
    unsigned shift = hak_tier_shift(tier);
    /* Guard pages around the metadata: a linear overflow out of the
     * previous mapping, or an underflow out of slab 1, faults instead of
     * reaching slab descriptors. Without them the superslab is not used. */
    if (hak_os_guard(base, HAK_PAGE) != 0 ||
        hak_os_guard(base + ((size_t)1 << shift) - HAK_PAGE, HAK_PAGE) != 0) {
        hak_os_unmap(base, HAK_SS_SIZE);
        return NULL;
    }
    hak_superslab_t *ss = (hak_superslab_t *)(base + HAK_PAGE);
    ss->magic = HAK_SS_MAGIC ^ (uintptr_t)base;
    ss->owner = h;
    ss->tier = (uint8_t)tier;
    ss->slab_shift = (uint8_t)shift;
    ss->nslabs = (uint16_t)(HAK_SS_SIZE >> shift);
    ss->free_mask = (uint32_t)(((uint64_t)1 << ss->nslabs) - 2); /* not 0 */
    ss->dirty_mask = 0;
    ss->used_slabs = 0;
    ss->slot_req = hak_slots_kept() ? hak_chk_slot_map() : NULL;
    if (hak_slots_kept() && !ss->slot_req) {
        hak_os_unmap(base, HAK_SS_SIZE);
        return NULL;
    }
    slab_desc_init(ss, 0); /* on the header's page */
    ss->ninit = 1;
    hak_count(&h->nss_new, 1);
    hak_registry_add(ss, tier);
    return ss;
}

static void superslab_unmap(hak_heap_t *h, hak_superslab_t *ss)
{
    if (hot_hit(hot_shift(&h->hot, ss_base(ss)))) /* free's fast path trusts it */
        h->hot.hot_ss[HAK_HOT_WAY(ss_base(ss))] = HAK_HOT_NONE;
    hak_registry_remove(ss);
    if (ss->slot_req)
        hak_chk_slot_unmap(ss->slot_req);
    hak_count(&h->nss_free, 1);
    hak_os_unmap((void *)ss_base(ss), HAK_SS_SIZE);
}

/* The pages an empty superslab's slabs have had (slabs from ninit on
 * never had any). */
static uint8_t *spare_pages(const hak_superslab_t *ss)
{
    return (uint8_t *)ss_base(ss) + slab_bytes(ss);
}

static size_t spare_bytes(const hak_superslab_t *ss)
{
    return (size_t)(ss->ninit - 1) << ss->slab_shift;
}

/* The newest spare of tier t, if it still has its pages as they were,
 * gives them back lazily (MADV_FREE). */
static void spare_newest_lazy(hak_heap_t *h, unsigned t)
{
    hak_superslab_t *ss = h->spare[t];
    if (ss && ss->spare_kept == HAK_SPARE_AS_IS) {
        hak_os_decommit_lazy(spare_pages(ss), spare_bytes(ss));
        ss->spare_kept = HAK_SPARE_LAZY;
    }
}

/* The superslab has no slab in use. */
static void superslab_release(hak_heap_t *h, hak_superslab_t *ss)
{
    unsigned t = ss->tier;
    /* Its pages go whole, below: none stays one of the heap's dirty. */
    h->ndirty[t] -= (uint32_t)__builtin_popcount(ss->dirty_mask);
    ss->dirty_mask = 0;
    list_unlink(h, ss);
    if (h->nspare[t] >= HAK_SPARES) {
        superslab_unmap(h, ss);
        return;
    }
    /* Keep the mapping and registration, and the pages as they are: the
     * newest spare of a tier is the one a heap at the edge of a superslab
     * takes back moments later. The one it displaces gives its pages back
     * lazily: the kernel takes them only when it needs memory, and until
     * then the next use writes into them without a page fault. A
     * producer thread whose blocks another thread frees (xmalloc-test)
     * empties and refills a superslab over and over: with MADV_DONTNEED
     * here it faulted 140k pages in 5 s. Lazily freed pages are not free
     * to take back either: the first write to each sets its dirty bit
     * again (the dirty-bit assist, large.c). bench/mid, with eight mid
     * classes per doubling from 8 to 16 KiB, emptied and took back one
     * superslab 2,000 times a run: with its pages given back lazily at
     * each release, 2.5 times the CPU time, all of it in writes to them.
     * The newest spare of a heap whose thread has exited gives them back
     * lazily too (hak_superslab_keep_spares). */
    spare_newest_lazy(h, t);
    ss->spare_kept = HAK_SPARE_AS_IS;
    ss->next = h->spare[t];
    h->spare[t] = ss;
    h->nspare[t]++;
    /* Only the newest few keep their pages (superslab.h). None past
     * place HAK_SPARES_KEPT kept them before this push, which moved one
     * spare to that place: it is the only one to look at. */
    hak_superslab_t *o = ss;
    for (unsigned n = 0; o && n < HAK_SPARES_KEPT; n++)
        o = o->next;
    if (o && o->spare_kept) {
        hak_os_decommit(spare_pages(o), spare_bytes(o));
        o->spare_kept = HAK_SPARE_GONE;
    }
}

/* A spare of tier t (taken off the list), or NULL. */
static hak_superslab_t *spare_take(hak_heap_t *h, unsigned t)
{
    hak_superslab_t *ss = h->spare[t];
    if (ss) {
        h->spare[t] = ss->next;
        h->nspare[t]--;
        ss->next = NULL;
        ss->spare_kept = HAK_SPARE_GONE;
    }
    return ss;
}

/* A superslab of h's tier holding a dirty slab, or NULL (none has one). */
static hak_superslab_t *dirty_superslab(hak_heap_t *h, unsigned tier)
{
    if (!h->ndirty[tier])
        return NULL;
    hak_superslab_t *ss = h->ss[tier];
    while (ss && !ss->dirty_mask)
        ss = ss->next;
    return ss;
}

hak_slab_t *hak_superslab_take_slab(hak_heap_t *h, unsigned cls)
{
    unsigned tier = hak_class_tier(cls);
    /* A dirty slab first, wherever it is (its pages are there). */
    hak_superslab_t *ss = dirty_superslab(h, tier);
    if (!ss)
        ss = h->ss[tier];
    if (!ss || !ss->free_mask) {
        ss = spare_take(h, tier);
        if (!ss)
            ss = superslab_map(h, tier);
        if (!ss)
            return NULL;
        list_push_head(h, ss);
    }
    /* Its dirty slab if it has one, else its lowest unused, which is
     * never above ninit. */
    uint32_t warm = ss->dirty_mask;
    unsigned i = (unsigned)__builtin_ctz(warm ? warm : ss->free_mask);
    if (i == ss->ninit)
        slab_desc_init(ss, ss->ninit++);
    if (warm) {
        ss->dirty_mask &= ~(1u << i);
        h->ndirty[tier]--;
    }
    ss->free_mask &= ~(1u << i);
    ss->used_slabs++;
    if (!ss->free_mask) {
        /* Full: behind every superslab that still has room. */
        list_unlink(h, ss);
        list_push_tail(h, ss);
    }
    hak_slab_t *s = &ss->slabs[i];
    hak_slab_init(ss, s, cls);
    hak_count(&h->nslab_new, 1);
    return s;
}

void hak_superslab_release_slab(hak_heap_t *h, hak_superslab_t *ss, hak_slab_t *s)
{
    slab_gen_begin(s);
    HAK_SHARED_STORE(s->cls, (uint16_t)HAK_CLASS_NONE);
    /* every pointer into it now fails validation, the owner's and
     * another thread's */
    s->capacity = 0;
    HAK_SHARED_STORE(s->rcapacity, 0u);
    slab_gen_end(s);
    s->credit = 0;
    s->used_base = 0;
    s->state = HAK_SLAB_UNUSED;
    s->take = NULL;
    ss->free_mask |= 1u << s->index;
    ss->used_slabs--;
    hak_count(&h->nslab_free, 1);
    if (ss->used_slabs == 0) {
        superslab_release(h, ss);
        return;
    }
    unsigned t = ss->tier;
    if (t == HAK_TIER_TINY ||
        (size_t)h->ndirty[t] << ss->slab_shift < HAK_DIRTY_MID_BYTES) {
        ss->dirty_mask |= 1u << s->index;
        h->ndirty[t]++;
    } else {
        hak_os_decommit(s->start, slab_bytes(ss));
    }
    list_unlink(h, ss);
    list_push_head(h, ss);
}

size_t hak_superslab_keep_spares(hak_heap_t *h, unsigned keep)
{
    size_t bytes = 0;
    for (unsigned tier = HAK_TIER_TINY; tier < HAK_SLAB_TIERS; tier++) {
        for (; h->nspare[tier] > keep; bytes += HAK_SS_SIZE)
            superslab_unmap(h, spare_take(h, tier));
        /* A heap whose thread has gone may wait long for another: what
         * it keeps, the kernel may take. */
        spare_newest_lazy(h, tier);
    }
    return bytes;
}

size_t hak_superslab_trim(hak_heap_t *h)
{
    size_t bytes = 0;
    for (unsigned tier = HAK_TIER_TINY; tier < HAK_SLAB_TIERS; tier++) {
        for (hak_superslab_t *ss = h->ss[tier]; ss; ss = ss->next) {
            for (unsigned i = 1; i < ss->ninit; i++) {
                if (ss->free_mask & (1u << i)) {
                    hak_os_decommit(ss->slabs[i].start, slab_bytes(ss));
                    bytes += slab_bytes(ss);
                }
            }
            ss->dirty_mask = 0;
        }
        h->ndirty[tier] = 0;
    }
    return bytes + hak_superslab_keep_spares(h, 0);
}
