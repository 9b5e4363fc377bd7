/* vg.h — telling memory checkers about hakmem's blocks.
 *
 * Two checkers, the same annotations:
 *   valgrind (HAK_VALGRIND, the debug flavour's default): every block
 *     handed out is announced as a heap block (MALLOCLIKE) of its requested
 *     size and its slack is no-access; a freed block (FREELIKE) is
 *     no-access whole (the allocator keeps nothing in it).
 *     memcheck then reports use-after-free, overflow into the slack and
 *     leaks in a program that uses hakmem, and stays silent about hakmem's
 *     own bookkeeping. Outside valgrind a request costs a few instructions.
 *   AddressSanitizer (HAK_ASAN: the core is built with -fsanitize=address,
 *     as in the fuzz builds): the same points poison and unpoison shadow
 *     memory through ASan's manual interface, so ASan reports an access to
 *     a freed hakmem block or past a request ("use-after-poison") with its
 *     own stack traces. ASan tracks 8-byte granules; a poisoned region that
 *     starts inside a granule keeps the granule's first bytes addressable,
 *     so the byte right after a request is caught too.
 * Without either every macro is nothing. Poisoning is done only on memory
 * the calling thread owns (ASan's shadow writes are not atomic).
 */
#ifndef HAK_VG_H
#define HAK_VG_H

#include "types.h"

#if HAK_VALGRIND
#include <valgrind/memcheck.h>
/* Client requests cost a dozen instructions and stack stores each, several
 * per malloc and free; outside valgrind they are skipped on one test of a
 * flag hak_init sets from RUNNING_ON_VALGRIND (no block exists before). */
#define HAK_VG_REQ(req)                                                      \
    do {                                                                     \
        if (HAK_UNLIKELY(hak_g.on_valgrind))                                 \
            req;                                                             \
    } while (0)
#else
#define HAK_VG_REQ(req) ((void)0)
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MALLOCLIKE_BLOCK(p, n, rz, z) ((void)(p), (void)(n))
#define VALGRIND_FREELIKE_BLOCK(p, rz)         ((void)(p))
#define VALGRIND_RESIZEINPLACE_BLOCK(p, o, n, rz) ((void)(p), (void)(o), (void)(n))
#define VALGRIND_MAKE_MEM_NOACCESS(p, n)       ((void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n)      ((void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_DEFINED(p, n)        ((void)(p), (void)(n))
#endif

#if HAK_ASAN
#include <sanitizer/asan_interface.h>
/* Poison [p, p+n); a granule p starts inside keeps its bytes before p. */
static inline void hak_asan_poison(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p;
    __asan_poison_memory_region(p, n);
    if (a & 7)
        __asan_unpoison_memory_region((const void *)(a & ~(uintptr_t)7),
                                      a & 7);
}
#define HAK_ASAN_POISON(p, n)   hak_asan_poison((p), (n))
#define HAK_ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define HAK_ASAN_POISON(p, n)   ((void)(p), (void)(n))
#define HAK_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A block of n bytes at p becomes the program's. */
#define HAK_VG_ALLOC(p, n)                                                   \
    do {                                                                     \
        HAK_VG_REQ(VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, 0));               \
        HAK_ASAN_UNPOISON((p), (n));                                         \
    } while (0)
/* The program's block at p (n bytes of memory behind it) is freed. */
#define HAK_VG_FREE(p, n)                                                    \
    do {                                                                     \
        HAK_VG_REQ(VALGRIND_FREELIKE_BLOCK((p), 0));                         \
        HAK_ASAN_POISON((p), (n));                                           \
    } while (0)
/* A live block changes from o to n requested bytes in place. */
#define HAK_VG_RESIZE(p, o, n)                                               \
    do {                                                                     \
        HAK_VG_REQ(VALGRIND_RESIZEINPLACE_BLOCK((p), (o), (n), 0));          \
        if ((n) > (o))                                                       \
            HAK_ASAN_UNPOISON((const uint8_t *)(p) + (o), (n) - (o));        \
        else                                                                 \
            HAK_ASAN_POISON((const uint8_t *)(p) + (n), (o) - (n));          \
    } while (0)
#define HAK_VG_NOACCESS(p, n)                                                \
    do {                                                                     \
        HAK_VG_REQ(VALGRIND_MAKE_MEM_NOACCESS((p), (n)));                    \
        HAK_ASAN_POISON((p), (n));                                           \
    } while (0)
#define HAK_VG_UNDEFINED(p, n)                                               \
    do {                                                                     \
        HAK_VG_REQ(VALGRIND_MAKE_MEM_UNDEFINED((p), (n)));                   \
        HAK_ASAN_UNPOISON((p), (n));                                         \
    } while (0)
#define HAK_VG_DEFINED(p, n)                                                 \
    do {                                                                     \
        HAK_VG_REQ(VALGRIND_MAKE_MEM_DEFINED((p), (n)));                     \
        HAK_ASAN_UNPOISON((p), (n));                                         \
    } while (0)

#endif
