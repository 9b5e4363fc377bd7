/* large.h — blocks above the mid limit: one mapping each.
 *
 * Metadata is out of line: a table maps each user pointer to its mapping,
 * so nothing a block overflows can reach it, and an interior or foreign
 * pointer is simply not found.
 *
 * Guards. Every mapping has an inaccessible page right before its first
 * page and right after its last, and only the block's own pages (the
 * request rounded up to a page) are read-write — and a huge block's front
 * (below): a linear overflow past the block's pages, or an underflow
 * before its start (before its front), faults at the program's own
 * access. Every path keeps them: a fresh mapping is reserved
 * PROT_NONE and its middle made read-write; a split of a cached mapping
 * leaves two guard pages between head and tail (each mapping owns both of
 * its guards, so either can be unmapped or moved alone); growth by mremap
 * moves the whole mapping, guards included, or moves the pages into a new
 * guarded reservation; realloc over the cached tail right after a block
 * takes the two guard pages between them into the block and leaves the
 * next page as the new guard; a shrink makes the pages after the new end
 * inaccessible before giving them back. A guard that cannot be placed
 * (mprotect refused) means the mapping is not used: the allocation fails
 * with ENOMEM (a shrink or an in-place growth just does not happen).
 *
 * Cache. Freed mappings stay in a small cache (HAKMEM_LARGE_CACHE_MB,
 * default 64, or a quarter of the live large bytes when that is more,
 * and never more than the live large bytes are below their peak plus
 * an eighth of the option: large.c, cache_limit) and are reused before
 * anything is mapped anew — page faults are most of what a large block
 * costs. A freed mapping is
 * made PROT_NONE from end to end before it enters the cache (so a read
 * or write through a stale pointer faults); it keeps its pages, so reuse
 * costs one mprotect and no page fault (giving them back at free,
 * MADV_FREE or MADV_DONTNEED, made bench/large 4x and 15x slower: see
 * LARGE_DECOMMIT in large.c), and it keeps its guards, so reuse places
 * none. A request takes the smallest cached mapping that fits (split if
 * more than 16x too big, or 2x for a request of at most 256 KiB:
 * large.c, split_for; one taken whole gives back its pages past the
 * block: release_rest), else grows the largest by mremap; realloc grows
 * in place over a cached neighbour. What falls out of the cache is
 * unmapped.
 *
 * Huge pages. A block of HAKMEM_LARGE_HUGE_MB or more (default 4 MiB)
 * asks the kernel for transparent huge pages (MADV_HUGEPAGE) when it is
 * allocated and when realloc grows it, and a fresh mapping for one (or
 * one realloc moves it into) is placed on a 2 MiB boundary. The block
 * takes whole 2 MiB pages and sits at their end, after a read-write
 * front of less than 2 MiB (large.c, place_huge): what it makes
 * read-write or PROT_NONE then starts and ends on huge-page boundaries,
 * and each change touches one page-table entry per 2 MiB instead of
 * splitting a huge page. An underflow into the front does not fault (the
 * debug flavour's canary covers its last 4 KiB); an overflow past the
 * block does.
 *
 * Reuse order: a short quarantine. The last HAK_LARGE_QUARANTINE mappings
 * freed are not reused while any other cached mapping fits (and are never
 * grown to fit); if only they fit, the one freed longest ago goes first.
 * Out of quarantine the smallest fit goes first, the oldest of equals
 * (FIFO). So the mapping just freed is not the next one handed out unless
 * it is the only one that fits: a dangling pointer keeps faulting on its
 * PROT_NONE pages instead of aliasing the next block of the same size.
 * (Refusing it even then would map fresh pages for a program that frees
 * and reallocates one big buffer, as bench/realloc does every round.)
 *
 * One mutex covers the table and the cache; system calls are made outside
 * it except by realloc. A large operation is rare next to the work of
 * filling more than 56 KiB.
 */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "types.h"

/* How many of the last frees are in quarantine (at least 1). Measured on
 * bench/large (6000 steps): 0 (smallest fit, the most recently freed of
 * equals, as before) 9.5k page faults and 39 MB peak RSS; 1: 11.2k, 46 MB;
 * 2: 12.9k, 53 MB; 4: 13.8k, 56 MB (a mapping skipped for being in
 * quarantine is a better fit left cached while a worse one is taken
 * whole); the time is the cost of mprotect either way. */
#ifndef HAK_LARGE_QUARANTINE
#define HAK_LARGE_QUARANTINE 2
#endif

/* A block of `size` bytes aligned to `align` (a power of two); NULL with
 * errno = ENOMEM. With `fresh`, says whether the block is a new mapping
 * (it reads as zero: calloc need not write it). */
HAK_INTERNAL void *hak_large_alloc(size_t size, size_t align, int *fresh);
/* Frees p, or reports: p is no hakmem block (or was freed already). */
HAK_INTERNAL void hak_large_free(void *p);
/* Usable bytes of p (requested bytes in debug), or reports naming check. */
HAK_INTERNAL size_t hak_large_usable(const void *p, const char *check);
/* Requested bytes of p (both flavours), or reports naming check. */
HAK_INTERNAL size_t hak_large_requested(const void *p, const char *check);
/* Resize p in place or by moving its pages (mremap); NULL if the caller
 * must allocate and copy — also when the kernel or the table (which could
 * not grow) refused the move: p is then untouched and still live. Reports
 * if p is not a live large block. */
HAK_INTERNAL void *hak_large_realloc(void *p, size_t size);
/* Unmap every cached span; returns the bytes released. */
HAK_INTERNAL size_t hak_large_trim(void);
HAK_INTERNAL void hak_large_lock(void);
HAK_INTERNAL void hak_large_unlock(void);
HAK_INTERNAL void hak_large_stats(uint64_t *allocs, uint64_t *frees,
                              uint64_t *live_bytes, uint64_t *cached_bytes);
/* The most live large bytes there have been at once: the cache holds no
 * more than live_bytes is below it, plus a slack (large.c, cache_limit). */
HAK_INTERNAL uint64_t hak_large_live_peak(void);

#endif
