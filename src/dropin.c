/* dropin.c — the standard allocation names, for the drop-in libraries only.
 *
 * Every glibc entry point a program may reach is defined here, so no
 * pointer from glibc's allocator ever meets ours: the ISO C and POSIX
 * names, the obsolete ones (memalign, valloc, pvalloc, cfree), glibc's
 * __libc_* aliases (used by some programs and by glibc's own hooks) and
 * the introspection calls, answered harmlessly. Sanitizer and fuzz builds
 * link the core without this file, so their runtimes keep malloc.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

#define EXPORT __attribute__((visibility("default")))

/* The shared library is linked with malloc and free defined as hak_malloc
 * and hak_free themselves (ld --defsym, see the Makefile): a program's
 * call lands on the fast path with no jump in between. The static
 * archive, which cannot do that, gets these wrappers. */
#ifndef HAK_DROPIN_DEFSYM
#define HAK_DROPIN_DEFSYM 0
#endif
#if !HAK_DROPIN_DEFSYM
EXPORT void *malloc(size_t n) { return hak_malloc(n); }
EXPORT void free(void *p) { hak_free(p); }
#endif
EXPORT void *calloc(size_t c, size_t n) { return hak_calloc(c, n); }
EXPORT void *realloc(void *p, size_t n) { return hak_realloc(p, n); }
EXPORT void *reallocarray(void *p, size_t c, size_t n)
{
    return hak_reallocarray(p, c, n);
}
EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
    return hak_posix_memalign(out, a, n);
}
EXPORT void *aligned_alloc(size_t a, size_t n) { return hak_aligned_alloc(a, n); }
EXPORT void *memalign(size_t a, size_t n) { return hak_memalign(a, n); }
EXPORT void *valloc(size_t n) { return hak_valloc(n); }
EXPORT void *pvalloc(size_t n) { return hak_pvalloc(n); }
EXPORT size_t malloc_usable_size(void *p) { return hak_malloc_usable_size(p); }
EXPORT int malloc_trim(size_t pad) { return hak_malloc_trim(pad); }
EXPORT void cfree(void *p) { hak_free(p); }

/* C23 sized frees: a size the block was not allocated with aborts. */
EXPORT void free_sized(void *p, size_t n) { hak_free_sized(p, n); }
EXPORT void free_aligned_sized(void *p, size_t a, size_t n)
{
    hak_free_aligned_sized(p, a, n);
}

EXPORT void *__libc_malloc(size_t n) { return hak_malloc(n); }
EXPORT void __libc_free(void *p) { hak_free(p); }
EXPORT void *__libc_calloc(size_t c, size_t n) { return hak_calloc(c, n); }
EXPORT void *__libc_realloc(void *p, size_t n) { return hak_realloc(p, n); }
EXPORT void *__libc_memalign(size_t a, size_t n) { return hak_memalign(a, n); }
EXPORT void *__libc_valloc(size_t n) { return hak_valloc(n); }
EXPORT void *__libc_pvalloc(size_t n) { return hak_pvalloc(n); }
EXPORT int __posix_memalign(void **out, size_t a, size_t n)
{
    return hak_posix_memalign(out, a, n);
}

/* Introspection: glibc's arena tunables mean nothing here. */
EXPORT int mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 1;
}

EXPORT struct mallinfo2 mallinfo2(void)
{
    hak_stats_t s;
    hak_stats_get(&s);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = s.mapped_bytes;
    mi.usmblks = s.peak_mapped_bytes;
    return mi;
}

EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = (int)(m2.arena > 0x7fffffff ? 0x7fffffff : m2.arena);
    mi.usmblks = (int)(m2.usmblks > 0x7fffffff ? 0x7fffffff : m2.usmblks);
    return mi;
}

EXPORT int malloc_info(int options, FILE *fp)
{
    (void)options;
    fputs("<malloc version=\"hakmem\"></malloc>\n", fp);
    return 0;
}

EXPORT void malloc_stats(void)
{
    hak_stats_print(2);
}
