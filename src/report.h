/* report.h — named, non-returning reporters with stable messages.
 *
 * Every detection prints exactly one line on stderr and aborts:
 *   hakmem: <check>: ptr=0x... class=<n|large|zero|none> size=<bytes> slab=0x...[ detail]
 * <check> is one of the names below; tests and the misuse suite assert on
 * them, so they do not change. The reporters never allocate: they format
 * into a stack buffer and write(2).
 */
#ifndef HAK_REPORT_H
#define HAK_REPORT_H

#include <stddef.h>
#include <stdint.h>

#define HAK_CHECK_INVALID_FREE   "invalid free"      /* not a hakmem pointer */
#define HAK_CHECK_MISALIGNED     "misaligned free"   /* inside a block */
#define HAK_CHECK_DOUBLE_FREE    "double free"
#define HAK_CHECK_REMOTE         "remote queue"      /* queued slab not ours */
#define HAK_CHECK_CANARY         "canary overwritten"
#define HAK_CHECK_POISON         "write after free"
#define HAK_CHECK_CARVE          "carve out of bounds"
#define HAK_CHECK_HEAP           "heap check"
#define HAK_CHECK_INVALID_REALLOC "invalid realloc"
#define HAK_CHECK_INVALID_PTR    "invalid pointer"   /* usable-size query */
#define HAK_CHECK_OOM            "out of memory"     /* metadata exhausted */
#define HAK_CHECK_SIZE           "sized free mismatch" /* free_sized, sized delete */

/* What a report says about where the pointer lives. */
typedef struct hak_where {
    unsigned cls;         /* class, or HAK_WHERE_LARGE / HAK_WHERE_NONE */
    size_t size;          /* class size or large block size, 0 unknown */
    const void *slab;     /* slab start, NULL unknown */
} hak_where_t;
#define HAK_WHERE_LARGE 0xfffeu
#define HAK_WHERE_ZERO  0xfffdu  /* a zero-size block (src/zero.h) */
#define HAK_WHERE_NONE  0xffffu

/* Prints "hakmem: <check>: ptr=.. class=.. size=.. slab=..<detail>" and
 * aborts. detail may be NULL; it starts with a space when given. */
__attribute__((noreturn, cold, visibility("hidden")))
void hak_report(const char *check, const void *ptr, hak_where_t where,
                const char *detail);

/* Small formatting helpers for details, all into caller buffers. */
typedef struct hak_fmt {
    char *buf;
    size_t len, cap;
} hak_fmt_t;
__attribute__((visibility("hidden"))) void hak_fmt_str(hak_fmt_t *f, const char *s);
__attribute__((visibility("hidden"))) void hak_fmt_dec(hak_fmt_t *f, uint64_t v);
__attribute__((visibility("hidden"))) void hak_fmt_hex(hak_fmt_t *f, uint64_t v);

#endif
