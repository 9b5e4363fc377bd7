/* api.c — the C semantics of the hak_* entry points that are not the fast
 * paths: calloc, realloc, the memalign family, usable size, trim. */
#include <errno.h>
#include <string.h>

#include "hakmem.h"

#include "alloc.h"
#include "hooks.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "superslab.h"
#include "vg.h"
#include "zero.h"

int hak_is_debug(void)
{
    return HAK_DEBUG;
}

void *hak_calloc(size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    /* A fresh large mapping reads as zero already: touching every page
     * of it would cost its whole size in memory at once. */
    hak_init();
    if (total > HAK_SMALL_LIMIT) {
        int fresh = 0;
        void *p = hak_large_alloc(total, HAK_ALIGN, &fresh);
        if (p && !fresh)
            memset(p, 0, total);
        else if (p) /* zero, but memcheck was told "undefined" */
            HAK_VG_DEFINED(p, total);
        return p;
    }
    void *p = hak_malloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}

/* Bytes the caller may use in a live block p (validated). */
static size_t usable(const void *p, const char *check)
{
    unsigned tier = registry_tier((uintptr_t)p);
    if (tier == HAK_TIER_ZERO)
        return hak_zero_usable(p, check);
    if (tier) {
        hak_small_ref_t r = hak_small_validate(p, check);
        return hak_requested(r.ss, r.slab, p);
    }
    return hak_large_usable(p, check);
}

void *hak_realloc(void *p, size_t size)
{
    if (!p)
        return hak_malloc(size);
    if (size == 0) {
        hak_free(p);
        return NULL;
    }
    size_t old;
    unsigned tier = registry_tier((uintptr_t)p);
    if (tier == HAK_TIER_ZERO) {
        old = hak_zero_usable(p, HAK_CHECK_INVALID_REALLOC); /* 0 */
    } else if (tier) {
        hak_small_ref_t r = hak_small_validate(p, HAK_CHECK_INVALID_REALLOC);
        old = hak_requested(r.ss, r.slab, p);
        if (hak_realloc_keeps(size, r.slab->cls) &&
            r.ss->owner == hak_tls_heap) {
            if (hak_slots_kept())
                hak_chk_resize(r.ss, r.slab, (uint8_t *)p, size);
            HAK_VG_RESIZE(p, old, size);
            return p;
        }
    } else {
        /* hak_large_realloc validates p too: one lock when it succeeds. */
        if (size > HAK_SMALL_LIMIT) {
            void *q = hak_large_realloc(p, size);
            if (q)
                return q;
        }
        old = hak_large_usable(p, HAK_CHECK_INVALID_REALLOC);
    }
    void *q = hak_malloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, old < size ? old : size);
    hak_free(p);
    return q;
}

void *hak_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return hak_realloc(p, total);
}

/* align: a power of two. */
static void *alloc_aligned(size_t align, size_t size)
{
    if (align <= HAK_ALIGN)
        return hak_malloc(size);
    hak_init();
    if (size == 0)
        return hak_zero_alloc(align);
    unsigned c = hak_class_aligned(size, align);
    if (c < HAK_NUM_CLASSES)
        return hak_alloc_class(c, size);
    return hak_large_alloc(size, align, NULL);
}

void *hak_aligned_alloc(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(align, size);
}

int hak_posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(align, size);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *hak_memalign(size_t align, size_t size)
{
    /* glibc: a non-power-of-two alignment is rounded up to one; above
     * 2^63 there is none (EINVAL), 2^63 itself fails with ENOMEM. */
    if (align > ((size_t)1 << 63)) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = HAK_ALIGN;
    while (a < align)
        a <<= 1;
    return alloc_aligned(a, size);
}

void *hak_valloc(size_t size)
{
    return alloc_aligned(HAK_PAGE, size);
}

void *hak_pvalloc(size_t size)
{
    size_t rounded = hak_round_up(size, HAK_PAGE);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(HAK_PAGE, rounded);
}

size_t hak_malloc_usable_size(const void *p)
{
    if (!p)
        return 0;
    return usable(p, HAK_CHECK_INVALID_PTR);
}

int hak_malloc_trim(size_t pad)
{
    (void)pad;
    hak_init();
    size_t bytes = 0;
    hak_heap_t *h = hak_tls_heap;
    if (h) {
        hak_heap_quarantine_flush(h);
        hak_heap_flush(h);
        hak_heap_collect(h);
        bytes += hak_superslab_trim(h);
    }
    hak_heap_reclaim(~0u, 1);
    bytes += hak_large_trim();
    return bytes != 0;
}
