/* vg.h — telling valgrind's memcheck about hakmem's blocks.
 *
 * With HAK_VALGRIND (the debug flavour's default) every block handed out is
 * announced as a heap block (MALLOCLIKE) of its requested size and its
 * slack is no-access; a freed block (FREELIKE) is no-access except its
 * first 16 bytes, which hold the allocator's link and tag and are always
 * defined. So memcheck reports use-after-free, overflow into the slack and
 * leaks in a program that uses hakmem, and stays silent about hakmem's own
 * bookkeeping. Without HAK_VALGRIND every macro is nothing.
 * Outside valgrind a client request costs a few instructions and no call.
 */
#ifndef HAK_VG_H
#define HAK_VG_H

#include "types.h"

#if HAK_VALGRIND
#include <valgrind/memcheck.h>
#define HAK_VG_ALLOC(p, n)     VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, 0)
#define HAK_VG_FREE(p)         VALGRIND_FREELIKE_BLOCK((p), 0)
#define HAK_VG_RESIZE(p, o, n) VALGRIND_RESIZEINPLACE_BLOCK((p), (o), (n), 0)
#define HAK_VG_NOACCESS(p, n)  VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define HAK_VG_UNDEFINED(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define HAK_VG_DEFINED(p, n)   VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define HAK_VG_ALLOC(p, n)     ((void)(p), (void)(n))
#define HAK_VG_FREE(p)         ((void)(p))
#define HAK_VG_RESIZE(p, o, n) ((void)(p), (void)(o), (void)(n))
#define HAK_VG_NOACCESS(p, n)  ((void)(p), (void)(n))
#define HAK_VG_UNDEFINED(p, n) ((void)(p), (void)(n))
#define HAK_VG_DEFINED(p, n)   ((void)(p), (void)(n))
#endif

#endif
