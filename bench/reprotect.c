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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

enum { TOUCH, REPROTECT, REFAULT, LAZYFREE, MODES };
static const char *const mode_name[MODES] = { "touch", "reprotect", "refault",
                                              "lazyfree" };

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* CPU time of this process so far, user or system, in ns. */
static double cpu_ns(int user)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    struct timeval t = user ? u.ru_utime : u.ru_stime;
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
    if (pages == 0 || rounds == 0) {
        fprintf(stderr, "usage: reprotect [PAGES>0] [ROUNDS>0]\n");
        return 2;
    }
    const size_t page = 4096, len = pages * page;
    volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset((char *)p, 1, len);
    double *calls[MODES], *touch[MODES], user[MODES] = { 0 }, sys[MODES] = { 0 };
    for (int m = 0; m < MODES; m++) {
        calls[m] = calloc(rounds, sizeof(double));
        touch[m] = calloc(rounds, sizeof(double));
        if (!calls[m] || !touch[m]) {
            perror("calloc");
            return 1;
        }
    }
    for (size_t r = 0; r < rounds; r++) {
        for (int m = 0; m < MODES; m++) {
            double t0 = now_ns();
            int rc = 0;
            if (m == REPROTECT)
                rc = mprotect((void *)p, len, PROT_NONE) ||
                     mprotect((void *)p, len, PROT_READ | PROT_WRITE);
            else if (m == REFAULT)
                rc = madvise((void *)p, len, MADV_DONTNEED);
            else if (m == LAZYFREE)
                rc = madvise((void *)p, len, MADV_FREE);
            if (rc) {
                perror(mode_name[m]);
                return 1;
            }
            double t1 = now_ns(), u1 = cpu_ns(1), s1 = cpu_ns(0);
            for (size_t k = 0; k < len; k += page)
                p[k]++;
            double t2 = now_ns();
            user[m] += cpu_ns(1) - u1;
            sys[m] += cpu_ns(0) - s1;
            calls[m][r] = (t1 - t0) / (double)pages;
            touch[m][r] = (t2 - t1) / (double)pages;
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
