/* hakmem — a hardened malloc replacement for Linux x86-64.
 *
 * The prefixed API below is what the core library (libhakmem_core) exports.
 * The drop-in library (libhakmem) additionally defines the standard names
 * (malloc, free, ...) in terms of these; sanitizer and fuzz builds link the
 * core only, so the sanitizer runtimes keep their own malloc.
 *
 * Semantics follow C17/POSIX/glibc exactly, with these documented choices:
 *   - hak_malloc(0) returns a unique, freeable 16-byte block.
 *   - hak_realloc(p, 0) with p != NULL frees p and returns NULL (glibc's
 *     behaviour); hak_realloc(NULL, 0) returns a unique minimal block.
 *   - Every returned pointer is 16-byte aligned.
 *   - Failure returns NULL with errno = ENOMEM.
 *   - hak_posix_memalign returns EINVAL/ENOMEM and never touches errno.
 *   - Misuse (invalid free, double free, corrupted metadata) aborts after
 *     one line on stderr: "hakmem: <check>: ptr=... class=... slab=...".
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, written here and nowhere else: the Makefile
 * reads these three lines for the shared libraries' names
 * (libhakmem.so.MAJOR.MINOR.PATCH, SONAME libhakmem.so.MAJOR), the
 * pkg-config file and the launcher. MAJOR changes when the ABI breaks. */
#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1
#define HAKMEM_VERSION_PATCH 0
#define HAKMEM_VERSION_NUMBER_(a, b, c) ((a) * 10000 + (b) * 100 + (c))
#define HAKMEM_VERSION_STR_(x) #x
#define HAKMEM_VERSION_XSTR_(a, b, c) \
    HAKMEM_VERSION_STR_(a) "." HAKMEM_VERSION_STR_(b) "." HAKMEM_VERSION_STR_(c)
/* 10000 * MAJOR + 100 * MINOR + PATCH, for #if comparisons. */
#define HAKMEM_VERSION                                                   \
    HAKMEM_VERSION_NUMBER_(HAKMEM_VERSION_MAJOR, HAKMEM_VERSION_MINOR,   \
                           HAKMEM_VERSION_PATCH)
/* "MAJOR.MINOR.PATCH" */
#define HAKMEM_VERSION_STRING                                            \
    HAKMEM_VERSION_XSTR_(HAKMEM_VERSION_MAJOR, HAKMEM_VERSION_MINOR,     \
                         HAKMEM_VERSION_PATCH)

#define HAK_API __attribute__((visibility("default")))

HAK_API void *hak_malloc(size_t size);
HAK_API void  hak_free(void *ptr);
/* Sized frees (C23 free_sized/free_aligned_sized, C++ sized delete): n
 * (and align) must be what the block was allocated with — hak_malloc(n),
 * hak_calloc with count * size == n, or hak_realloc(.., n); for the
 * aligned one hak_aligned_alloc(align, n). A size the block cannot have
 * been allocated with aborts ("sized free mismatch"): in the debug
 * flavour any n but the requested size; in release a small block's class
 * must fit n (sizes of one class are not told apart). NULL does nothing. */
HAK_API void  hak_free_sized(void *ptr, size_t n);
HAK_API void  hak_free_aligned_sized(void *ptr, size_t align, size_t n);
HAK_API void *hak_calloc(size_t count, size_t size);
HAK_API void *hak_realloc(void *ptr, size_t size);
HAK_API void *hak_reallocarray(void *ptr, size_t count, size_t size);
HAK_API int   hak_posix_memalign(void **out, size_t alignment, size_t size);
HAK_API void *hak_aligned_alloc(size_t alignment, size_t size);
HAK_API void *hak_memalign(size_t alignment, size_t size);
HAK_API void *hak_valloc(size_t size);
HAK_API void *hak_pvalloc(size_t size);
HAK_API size_t hak_malloc_usable_size(const void *ptr);
/* Returns memory to the OS: empty slabs, empty superslabs, cached large
 * spans and what abandoned heaps no longer use. Returns 1 if anything was
 * released (glibc's convention). */
HAK_API int   hak_malloc_trim(size_t pad);

/* Walks every slab of the calling thread's heap and of abandoned heaps and
 * verifies every invariant (freelists, counts, tags; in debug also canaries,
 * poison and per-slot state). Aborts with a one-line report on the first
 * violation; returns the number of blocks it verified. */
HAK_API size_t hak_check_heap(void);

/* Process-wide counters, summed over every heap. */
typedef struct hak_stats {
    uint64_t allocs;           /* successful allocations, all tiers */
    uint64_t frees;            /* frees, all tiers (remote ones when drained) */
    uint64_t remote_frees;     /* frees by a thread other than the owner
                                * (counted when the owner drains them) */
    uint64_t refills;          /* slab tiers' slow-path refills */
    uint64_t drains;           /* remote-queue drains that found blocks */
    uint64_t slabs_mapped;     /* slabs taken into use */
    uint64_t slabs_returned;   /* slabs released when empty */
    uint64_t superslabs_mapped;
    uint64_t superslabs_returned;
    uint64_t large_allocs;
    uint64_t large_frees;
    uint64_t mapped_bytes;     /* currently mapped from the OS */
    uint64_t peak_mapped_bytes;
} hak_stats_t;

HAK_API void hak_stats_get(hak_stats_t *out);
/* Prints the per-tier and per-class table (the HAKMEM_STATS=1 report). */
HAK_API void hak_stats_print(int fd);

/* 1 in the debug flavour, 0 in release. */
HAK_API int hak_is_debug(void);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_H */
