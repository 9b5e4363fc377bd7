/* memory — (i) footprint: allocate N small live blocks (16–128 B), report
 * the resident set, free them all in random order, call malloc_trim(0) if
 * the process has one (looked up with dlsym, so whichever library provides
 * it: the preloaded allocator's or glibc's), and report the resident set
 * again, next to the one at start.
 *
 *   memory -i N [-m MIN] [-M MAX] [-S SEED]
 *
 * The pointer array is mmap'ed (not the allocator's) and unmapped before
 * the after-free measurement. Figures in KiB: rss_start, rss_peak (after
 * the allocations), rss_free (after free + trim), hwm (VmHWM), req (bytes
 * requested). */
#include <dlfcn.h>
#include <sys/mman.h>

#include "common.h"

static const char help[] =
    "  -i N      live blocks (2M)\n"
    "  -m MIN    smallest size (16)\n"
    "  -M MAX    largest size (128)\n"
    "  -S SEED   seed (1)\n";

int main(int argc, char **argv)
{
    opts_t o = {.iters = 2000000, .min = 16, .max = 128, .threads = 1,
                .seed = 1};
    parse_opts(argc, argv, &o, help);
    if (o.iters == 0 || o.min < 8)
        usage(argv[0], help);
    long rss0 = rss_kb();
    size_t n = o.iters;
    size_t asz = n * sizeof(void *) + n * sizeof(uint32_t);
    void **ptrs = mmap(NULL, asz, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptrs == MAP_FAILED)
        die("mmap failed");
    uint32_t *sizes = (uint32_t *)(ptrs + n);
    rng_t r;
    rng_seed(&r, o.seed, 0);
    uint64_t req = 0, sum = 0;

    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        sizes[i] = (uint32_t)rng_range(&r, o.min, o.max);
        req += sizes[i];
        if (!(ptrs[i] = malloc(sizes[i])))
            die("malloc(%u) returned NULL", sizes[i]);
        pat_fill(ptrs[i], sizes[i], mix64(i ^ o.seed), CACHE_LINE);
    }
    double t_alloc = now_s() - t0;
    long rss_peak = rss_kb();
    /* Free in random order (Fisher-Yates over the array). */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_range(&r, 0, i);
        void *tp = ptrs[i];
        ptrs[i] = ptrs[j];
        ptrs[j] = tp;
        uint32_t ts = sizes[i];
        sizes[i] = sizes[j];
        sizes[j] = ts;
    }
    /* After the shuffle the index no longer gives the stamp: take it from
     * the block's first word (stamp ^ 0*GOLDEN), check the rest of the
     * pattern against it, and compare the sum of stamps with the seed's. */
    double t1 = now_s();
    for (size_t i = 0; i < n; i++) {
        uint64_t stamp;
        memcpy(&stamp, ptrs[i], 8);
        verify(ptrs[i], sizes[i], stamp, CACHE_LINE, "memory");
        sum += stamp;
        free(ptrs[i]);
    }
    munmap(ptrs, asz);
    int (*trim)(size_t) = (int (*)(size_t))dlsym(RTLD_DEFAULT, "malloc_trim");
    const char *trimlib = "none";
    int trimmed = -1;
    if (trim) {
        Dl_info info;
        trimmed = trim(0);
        if (dladdr((void *)trim, &info) && info.dli_fname) {
            const char *s = strrchr(info.dli_fname, '/');
            trimlib = s ? s + 1 : info.dli_fname;
        }
    }
    double t = t_alloc + (now_s() - t1);
    long rss_free = rss_kb();
    /* The sum of stamps is order-independent: compare with the seed's. */
    uint64_t expect = 0;
    for (size_t i = 0; i < n; i++)
        expect += mix64(i ^ o.seed);
    if (expect != sum)
        die("memory: stamp sum %016llx, expected %016llx",
            (unsigned long long)sum, (unsigned long long)expect);
    result("memory", 2 * (uint64_t)n, t, sum,
           "rss_start_kb=%ld rss_peak_kb=%ld rss_free_kb=%ld hwm_kb=%ld "
           "req_kb=%llu trim=%s trim_ret=%d",
           rss0, rss_peak, rss_free, hwm_kb(), (unsigned long long)(req / 1024),
           trimlib, trimmed);
    return 0;
}
