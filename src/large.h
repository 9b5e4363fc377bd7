/* large.h — blocks above the mid limit: one mapping each.
 *
 * Metadata is out of line: a table maps each user pointer to its mapping,
 * so nothing a block overflows can reach it, and an interior or foreign
 * pointer is simply not found. Freed mappings stay in a small cache
 * (HAKMEM_LARGE_CACHE_MB, default 64) and are reused before anything is
 * mapped anew — page faults are most of what a large block costs: a
 * request takes the smallest cached mapping that fits (split if more than
 * 16x too big), else grows the largest by mremap; realloc grows in place
 * over a cached neighbour. What falls out of the cache is unmapped. One
 * mutex covers the table and the cache: a large operation is rare next to
 * the work of filling >32 KiB.
 */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "types.h"

/* A block of `size` bytes aligned to `align` (a power of two); NULL with
 * errno = ENOMEM. */
HAK_INTERNAL void *large_alloc(size_t size, size_t align);
/* Frees p, or reports: p is no hakmem block (or was freed already). */
HAK_INTERNAL void large_free(void *p);
/* Usable bytes of p (requested bytes in debug), or reports naming check. */
HAK_INTERNAL size_t large_usable(const void *p, const char *check);
/* Requested bytes of p (both flavours), or reports naming check. */
HAK_INTERNAL size_t large_requested(const void *p, const char *check);
/* Resize p in place or by moving its pages (mremap); NULL if the caller
 * must allocate and copy. Reports if p is not a live large block. */
HAK_INTERNAL void *large_realloc(void *p, size_t size);
/* Unmap every cached span; returns the bytes released. */
HAK_INTERNAL size_t large_trim(void);
HAK_INTERNAL void large_lock(void);
HAK_INTERNAL void large_unlock(void);
HAK_INTERNAL void large_reinit_lock(void);
HAK_INTERNAL void large_stats(uint64_t *allocs, uint64_t *frees,
                              uint64_t *live_bytes, uint64_t *cached_bytes);

#endif
