/* os.h — every system call hakmem makes, behind one small contract.
 * All functions are async-signal-safe and never allocate. The mapped-byte
 * counters live here because every mapping passes through here. */
#ifndef HAK_OS_H
#define HAK_OS_H

#include "types.h"

/* Fresh zeroed read-write memory, page aligned; NULL on failure. */
HAK_INTERNAL void *hak_os_map(size_t size);
/* As hak_os_map, aligned to `align` (a power of two above the page size).
 * The place's colour is (address / align) mod HAK_OS_COLOURS; one whose
 * bit is set in `avoid` is taken only when every colour's is. */
#define HAK_OS_COLOURS 8u
HAK_INTERNAL void *hak_os_map_aligned(size_t size, size_t align,
                                      uint32_t avoid);
/* 0, or -1 if the kernel refused (splitting a mapping near
 * vm.max_map_count); the bytes stay mapped and counted then. */
HAK_INTERNAL int hak_os_unmap(void *p, size_t size);
/* Give the pages back, keep the mapping: they read as zero afterwards. */
HAK_INTERNAL void hak_os_decommit(void *p, size_t size);
/* The same, lazily (MADV_FREE): the kernel takes the pages only when it
 * needs memory; until then they stay, and writing one keeps it. */
HAK_INTERNAL void hak_os_decommit_lazy(void *p, size_t size);
/* Address space only: [p - HAK_PAGE, p + size + HAK_PAGE) mapped
 * inaccessible, p aligned to `align` (a power of two, at least the page
 * size). Returns p (page-rounded size), NULL on failure. The caller makes
 * what it uses of [p, p + size) read-write (hak_os_unguard); the page on each
 * side stays a guard. */
HAK_INTERNAL void *hak_os_reserve(size_t size, size_t align);
/* Make [p, p+size) read-write again; 0, or -1 if the kernel refused. */
HAK_INTERNAL int hak_os_unguard(void *p, size_t size);
/* Move the pages of [p, p+old_size) to `to` (inside a reservation of at
 * least new_size bytes, which they replace) and extend them to new_size
 * bytes, read-write; [p, p+old_size) is unmapped. 0, or -1 (nothing
 * moved). */
HAK_INTERNAL int hak_os_move(void *p, size_t old_size, void *to, size_t new_size);
/* Make [p, p+size) inaccessible; 0 on success, -1 if the kernel refused
 * (e.g. near vm.max_map_count). A guard that could not be placed is an
 * error for the caller, never a silent downgrade. */
HAK_INTERNAL int hak_os_guard(void *p, size_t size);
/* Asks for transparent huge pages under [p, p + size) (MADV_HUGEPAGE):
 * advice only; a kernel without them refuses, and nothing changes. */
HAK_INTERNAL void hak_os_huge(void *p, size_t size);
/* Metadata: fresh zeroed read-write memory with an inaccessible page on
 * each side, so no user mapping is ever adjacent to it and a linear
 * overflow out of a neighbouring mapping faults before it arrives. NULL
 * when the mapping or either guard cannot be made. */
HAK_INTERNAL void *hak_os_map_meta(size_t size);
HAK_INTERNAL void hak_os_unmap_meta(void *p, size_t size);
/* Grow or shrink a mapping, moving it if needed; NULL on failure. */
HAK_INTERNAL void *hak_os_remap(void *p, size_t old_size, size_t new_size);
HAK_INTERNAL uint64_t hak_os_random(void);
/* RAM plus swap: the kernel's default overcommit heuristic refuses a
 * single private writable mapping larger than this. hak_os_reserve's
 * MAP_NORESERVE (and mremap growth of such a mapping) escapes that
 * accounting, so hakmem applies the same bound itself: an impossible
 * request fails with ENOMEM instead of succeeding and being killed later,
 * when its pages are touched. */
HAK_INTERNAL size_t hak_os_commit_bound(void);

HAK_INTERNAL uint64_t hak_os_mapped_bytes(void);
HAK_INTERNAL uint64_t hak_os_peak_mapped_bytes(void);

#endif
