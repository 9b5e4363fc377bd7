/* reprotect.c — what this host charges for the large tier's guard.
 *
 * hakmem makes a freed large block PROT_NONE and a reused one read-write
 * again (src/large.c), so that a write after free faults. The cost of
 * that is not the two mprotect calls alone: on some virtual machines the
 * first touch of each page after a protection change takes a trip
 * through the hypervisor (its copy of the page tables is rebuilt), and
 * that time is charged to the program's own instructions as user time.
 * This program measures, on one mapping of PAGES pages that stay
 * resident throughout, per page:
 *
 *   touch     one write per page, nothing changed before it (baseline)
 *   reprotect mprotect(PROT_NONE) then mprotect(PROT_READ|PROT_WRITE):
 *             the calls, then the touch after them
 *   refault   madvise(MADV_DONTNEED): the call, then the touch, which
 *             faults a zeroed page in (what giving pages back costs)
 *   lazyfree  madvise(MADV_FREE): the call, then the touch, which finds
 *             the page still there (no memory pressure) and dirties it
 *             again: no page fault, but a changed page-table entry
 *
 * Modes alternate within each round, so a drift of a shared machine hits
 * all four; each figure is the median over ROUNDS rounds. Beside it, the
 * touches' user and system time (getrusage), which tells whether the
 * host charges the touch to the program or to the kernel.
 *
 *   reprotect [PAGES=256] [ROUNDS=101]
 *
 * Output: one line per mode, and a RESULT line with the ratio of a touch
 * after a protection change to a plain one.
 */
#include <sys/mman.h>
#include <sys/resource.h>

#include "common.h"

enum { TOUCH, REPROTECT, REFAULT, LAZYFREE, MODES };
static const char *const mode_name[MODES] = { "touch", "reprotect", "refault",
                                              "lazyfree" };

static double tv_ns(struct timeval t)
{
    return (double)t.tv_sec * 1e9 + (double)t.tv_usec * 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
    size_t rounds = argc > 2 ? strtoul(argv[2], NULL, 0) : 101;
    if (pages == 0 || rounds == 0)
        usage(argv[0], "  reprotect [PAGES>0] [ROUNDS>0]\n");
    const size_t page = 4096, len = pages * page;
    volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap of %zu bytes", len);
    memset((char *)p, 1, len);
    double *calls[MODES], *touch[MODES], user[MODES] = { 0 }, sys[MODES] = { 0 };
    for (int m = 0; m < MODES; m++) {
        calls[m] = calloc(rounds, sizeof(double));
        touch[m] = calloc(rounds, sizeof(double));
        if (!calls[m] || !touch[m])
            die("calloc of %zu rounds", rounds);
    }
    for (size_t r = 0; r < rounds; r++) {
        for (int m = 0; m < MODES; m++) {
            double t0 = now_s();
            int rc = 0;
            if (m == REPROTECT)
                rc = mprotect((void *)p, len, PROT_NONE) ||
                     mprotect((void *)p, len, PROT_READ | PROT_WRITE);
            else if (m == REFAULT)
                rc = madvise((void *)p, len, MADV_DONTNEED);
            else if (m == LAZYFREE)
                rc = madvise((void *)p, len, MADV_FREE);
            double tc = now_s();
            if (rc)
                die("%s: %s", mode_name[m], strerror(errno));
            /* The CPU times are read outside the timed calls and touches. */
            struct rusage u0, u1;
            getrusage(RUSAGE_SELF, &u0);
            double t1 = now_s();
            for (size_t k = 0; k < len; k += page)
                p[k]++;
            double t2 = now_s();
            getrusage(RUSAGE_SELF, &u1);
            user[m] += tv_ns(u1.ru_utime) - tv_ns(u0.ru_utime);
            sys[m] += tv_ns(u1.ru_stime) - tv_ns(u0.ru_stime);
            calls[m][r] = (tc - t0) * 1e9 / (double)pages;
            touch[m][r] = (t2 - t1) * 1e9 / (double)pages;
        }
    }
    double c[MODES], t[MODES];
    printf("%-10s %12s %12s %8s %8s   (ns per page; %zu pages, median of "
           "%zu rounds; the touches' user and system time, per page, mean)\n",
           "mode", "calls", "touch", "user", "system", pages, rounds);
    for (int m = 0; m < MODES; m++) {
        c[m] = median(calls[m], rounds);
        t[m] = median(touch[m], rounds);
        double n = (double)pages * (double)rounds;
        printf("%-10s %12.0f %12.0f %8.0f %8.0f\n", mode_name[m], c[m], t[m],
               user[m] / n, sys[m] / n);
    }
    printf("RESULT touch_ns=%.0f reprotect_call_ns=%.0f reprotect_touch_ns=%.0f "
           "refault_call_ns=%.0f refault_touch_ns=%.0f lazyfree_call_ns=%.0f "
           "lazyfree_touch_ns=%.0f touch_ratio=%.0f\n",
           t[TOUCH], c[REPROTECT], t[REPROTECT], c[REFAULT], t[REFAULT],
           c[LAZYFREE], t[LAZYFREE],
           t[REPROTECT] / (t[TOUCH] > 0 ? t[TOUCH] : 1));
    return 0;
}
