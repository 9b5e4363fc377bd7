/* os.h — every system call hakmem makes, behind one small contract.
 * All functions are async-signal-safe and never allocate. The mapped-byte
 * counters live here because every mapping passes through here. */
#ifndef HAK_OS_H
#define HAK_OS_H

#include "types.h"

/* Fresh zeroed read-write memory, page aligned; NULL on failure. */
HAK_INTERNAL void *os_map(size_t size);
/* As os_map, aligned to `align` (a power of two above the page size). */
HAK_INTERNAL void *os_map_aligned(size_t size, size_t align);
HAK_INTERNAL void os_unmap(void *p, size_t size);
/* Give the pages back, keep the mapping: they read as zero afterwards. */
HAK_INTERNAL void os_decommit(void *p, size_t size);
/* Make [p, p+size) inaccessible; 0 on success, -1 if the kernel refused
 * (e.g. near vm.max_map_count). A guard that could not be placed is an
 * error for the caller, never a silent downgrade. */
HAK_INTERNAL int os_guard(void *p, size_t size);
/* Metadata: fresh zeroed read-write memory with an inaccessible page on
 * each side, so no user mapping is ever adjacent to it and a linear
 * overflow out of a neighbouring mapping faults before it arrives. NULL
 * when the mapping or either guard cannot be made. */
HAK_INTERNAL void *os_map_meta(size_t size);
HAK_INTERNAL void os_unmap_meta(void *p, size_t size);
/* Grow or shrink a mapping, moving it if needed; NULL on failure. */
HAK_INTERNAL void *os_remap(void *p, size_t old_size, size_t new_size);
HAK_INTERNAL uint64_t os_random(void);

HAK_INTERNAL uint64_t os_mapped_bytes(void);
HAK_INTERNAL uint64_t os_peak_mapped_bytes(void);

#endif
