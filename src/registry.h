/* registry.h — which memory is ours.
 *
 * One byte per 2 MiB chunk of the 47-bit user address space (a 64 MiB
 * array in .bss, touched only where superslabs live; an
 * untouched page reads as zero). The byte is the superslab's tier,
 * HAK_TIER_ZERO for a zero region (malloc(0), src/zero.h), or 0.
 *
 * Readers: any thread, lock-free, one acquire load. The acquire pairs with
 * the release store in hak_registry_add, so a reader that sees the tier also
 * sees the superslab header that was written before it was published.
 * Writers: hak_registry_add/registry_remove, under the registry mutex (they are
 * rare: a superslab is mapped or returned).
 *
 * The free fast path asks the registry "is this a superslab of ours" with
 * that single load — no lookup structure is walked — and then finds the
 * slab by address arithmetic. Large blocks live in src/large.c's table.
 */
#ifndef HAK_REGISTRY_H
#define HAK_REGISTRY_H

#include "types.h"

extern _Atomic(uint8_t) hak_registry_map[];
HAK_INTERNAL void hak_registry_add(hak_superslab_t *ss, unsigned tier);
HAK_INTERNAL void hak_registry_remove(hak_superslab_t *ss);
/* The 2 MiB chunk at base is a zero region (src/zero.h): its byte says
 * HAK_TIER_ZERO, and it is no superslab (hak_registry_each skips it). Zero
 * regions are never unmapped, so the byte is never cleared. */
HAK_INTERNAL void hak_registry_mark_zero(uintptr_t base);
/* Calls fn on every registered superslab, under the registry mutex. */
HAK_INTERNAL void hak_registry_each(void (*fn)(hak_superslab_t *, void *),
                                void *arg);
HAK_INTERNAL uint64_t hak_registry_count(void);
HAK_INTERNAL void hak_registry_lock(void);
HAK_INTERNAL void hak_registry_unlock(void);

/* Tier of the superslab holding address a, HAK_TIER_ZERO in a zero
 * region, or 0 if a is in neither. */
HAK_INLINE unsigned registry_tier(uintptr_t a)
{
    if (HAK_UNLIKELY(a >> HAK_VA_BITS))
        return 0;
    return atomic_load_explicit(&hak_registry_map[a >> HAK_SS_SHIFT],
                                memory_order_acquire);
}

HAK_INLINE hak_superslab_t *ss_of(uintptr_t a)
{
    return (hak_superslab_t *)((a & ~(uintptr_t)HAK_SS_MASK) + HAK_PAGE);
}

HAK_INLINE uintptr_t ss_base(const hak_superslab_t *ss)
{
    return (uintptr_t)ss - HAK_PAGE;
}

#endif
