/* report.c — the one fatal reporter. Never allocates, never returns. */
#include "report.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* clang's profile runtime, present only in coverage builds
 * (-fprofile-instr-generate): a process that dies here writes no profile
 * at exit, so the reports and every check that ends in one would count as
 * never reached. Weak: absent, its address is null and the call is skipped
 * (one test on this path, which is about to abort anyway; nothing on any
 * other). Coverage builds link the prefixed core (hak_*), so the runtime
 * allocating here does not re-enter the allocator that is reporting. */
extern int __llvm_profile_write_file(void) __attribute__((weak));

void hak_fmt_str(hak_fmt_t *f, const char *s)
{
    while (*s && f->len + 1 < f->cap)
        f->buf[f->len++] = *s++;
    f->buf[f->len] = '\0';
}

void hak_fmt_dec(hak_fmt_t *f, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && f->len + 1 < f->cap)
        f->buf[f->len++] = tmp[--n];
    f->buf[f->len] = '\0';
}

void hak_fmt_hex(hak_fmt_t *f, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    hak_fmt_str(f, "0x");
    while (n > 0 && f->len + 1 < f->cap)
        f->buf[f->len++] = tmp[--n];
    f->buf[f->len] = '\0';
}

void hak_report(const char *check, const void *ptr, hak_where_t where,
                const char *detail)
{
    char line[512];
    hak_fmt_t f = { line, 0, sizeof line };
    hak_fmt_str(&f, "hakmem: ");
    hak_fmt_str(&f, check);
    hak_fmt_str(&f, ": ptr=");
    hak_fmt_hex(&f, (uintptr_t)ptr);
    hak_fmt_str(&f, " class=");
    if (where.cls == HAK_WHERE_LARGE)
        hak_fmt_str(&f, "large");
    else if (where.cls == HAK_WHERE_ZERO)
        hak_fmt_str(&f, "zero");
    else if (where.cls == HAK_WHERE_NONE)
        hak_fmt_str(&f, "none");
    else
        hak_fmt_dec(&f, where.cls);
    hak_fmt_str(&f, " size=");
    hak_fmt_dec(&f, where.size);
    hak_fmt_str(&f, " slab=");
    if (where.slab)
        hak_fmt_hex(&f, (uintptr_t)where.slab);
    else
        hak_fmt_str(&f, "none");
    if (detail)
        hak_fmt_str(&f, detail);
    hak_fmt_str(&f, "\n");
    ssize_t unused = write(2, line, f.len);
    (void)unused;
    if (__llvm_profile_write_file)
        __llvm_profile_write_file();
    /* abort() may run atexit-free paths only; make sure we die even if
     * SIGABRT is caught and returns. */
    abort();
}
