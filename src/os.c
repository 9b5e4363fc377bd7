/* os.c — mmap, munmap, madvise, mprotect, mremap, getrandom. */
#include "os.h"
#include "vg.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

static _Atomic uint64_t mapped_bytes;
static _Atomic uint64_t peak_mapped_bytes;

static void account_map(size_t size)
{
    uint64_t now = atomic_fetch_add_explicit(&mapped_bytes, size,
                                             memory_order_relaxed) + size;
    uint64_t peak = atomic_load_explicit(&peak_mapped_bytes,
                                         memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(&peak_mapped_bytes, &peak,
                                                  now, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static void *map_raw(size_t size, int flags)
{
    /* mmap sets errno on failure; callers report ENOMEM themselves and the
     * caller's errno must otherwise survive, so save and restore it. */
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

void *hak_os_map(size_t size)
{
    void *p = map_raw(size, 0);
    if (p) {
        account_map(size);
        HAK_ASAN_UNPOISON(p, size); /* no stale shadow from a past mapping */
    }
    return p;
}

void *hak_os_map_aligned(size_t size, size_t align, uint32_t avoid)
{
    uint32_t every = (1u << HAK_OS_COLOURS) - 1u;
    avoid &= every;
    if (avoid == every)
        avoid = 0;
    /* Room for HAK_OS_COLOURS aligned places, one of each colour. Address
     * space: what is not kept is unmapped before any page is touched; if
     * the kernel refuses that much (strict overcommit charges it until
     * then), the first aligned place will do. */
    size_t over = size + align * (avoid ? HAK_OS_COLOURS : 1u);
    if (over < size)
        return NULL;
    uint8_t *raw = map_raw(over, 0);
    if (!raw && avoid) {
        avoid = 0;
        over = size + align;
        raw = map_raw(over, 0);
    }
    if (!raw)
        return NULL;
    uintptr_t a = hak_round_up((uintptr_t)raw, align);
    for (uintptr_t c = a; c + size <= (uintptr_t)raw + over; c += align)
        if (!(avoid & (1u << ((c / align) % HAK_OS_COLOURS)))) {
            a = c;
            break;
        }
    size_t head = a - (uintptr_t)raw;
    size_t tail = over - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((uint8_t *)a + size, tail);
    account_map(size);
    HAK_ASAN_UNPOISON((void *)a, size);
    return (void *)a;
}

int hak_os_unmap(void *p, size_t size)
{
    int saved = errno;
    int r = munmap(p, size);
    errno = saved;
    if (r != 0)
        return -1;
    atomic_fetch_sub_explicit(&mapped_bytes, size, memory_order_relaxed);
    return 0;
}

void hak_os_decommit(void *p, size_t size)
{
    int saved = errno;
    madvise(p, size, MADV_DONTNEED);
    errno = saved;
}

void hak_os_decommit_lazy(void *p, size_t size)
{
    int saved = errno;
    if (madvise(p, size, MADV_FREE) != 0)
        madvise(p, size, MADV_DONTNEED); /* kernels before 4.5 */
    errno = saved;
}

int hak_os_guard(void *p, size_t size)
{
    int saved = errno;
    int r = mprotect(p, size, PROT_NONE);
    errno = saved;
    return r == 0 ? 0 : -1;
}

void hak_os_huge(void *p, size_t size)
{
    int saved = errno;
    (void)madvise(p, size, MADV_HUGEPAGE);
    errno = saved;
}

int hak_os_unguard(void *p, size_t size)
{
    int saved = errno;
    int r = mprotect(p, size, PROT_READ | PROT_WRITE);
    errno = saved;
    return r == 0 ? 0 : -1;
}

/* RAM plus swap (see os.h). */
size_t hak_os_commit_bound(void)
{
    static _Atomic size_t bound;
    size_t b = atomic_load_explicit(&bound, memory_order_relaxed);
    if (!b) {
        struct sysinfo si;
        int saved = errno;
        b = sysinfo(&si) == 0
                ? ((size_t)si.totalram + si.totalswap) * si.mem_unit
                : SIZE_MAX;
        errno = saved;
        atomic_store_explicit(&bound, b, memory_order_relaxed);
    }
    return b;
}

void *hak_os_reserve(size_t size, size_t align)
{
    size = hak_round_up(size, HAK_PAGE);
    if (size > hak_os_commit_bound())
        return NULL;
    size_t extra = align > HAK_PAGE ? align - HAK_PAGE : 0;
    size_t total = size + 2 * (size_t)HAK_PAGE;
    size_t over = total + extra;
    if (size == 0 || total < size || over < total)
        return NULL;
    int saved = errno;
    /* MAP_NORESERVE (ignored under strict overcommit): no part is ever
     * charged for commit, so the parts differ in their protection alone,
     * and a mapping made PROT_NONE end to end is one kernel mapping again
     * (which mremap needs: it moves one at a time). */
    void *m = mmap(NULL, over, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    errno = saved;
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t raw = (uintptr_t)m;
    uintptr_t body = raw + HAK_PAGE;
    if (extra)
        body = hak_round_up(body, align);
    uintptr_t lo = body - HAK_PAGE, hi = body + size + HAK_PAGE;
    if (lo > raw)
        munmap(m, lo - raw);
    if (raw + over > hi)
        munmap((void *)hi, raw + over - hi);
    account_map(total);
    HAK_ASAN_UNPOISON((void *)body, size); /* no stale shadow */
    return (void *)body;
}

int hak_os_move(void *p, size_t old_size, void *to, size_t new_size)
{
    int saved = errno;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    errno = saved;
    if (q == MAP_FAILED)
        return -1;
    /* The reservation at `to` was counted when it was made. */
    atomic_fetch_sub_explicit(&mapped_bytes, old_size, memory_order_relaxed);
    HAK_ASAN_UNPOISON(q, new_size);
    return 0;
}

void *hak_os_map_meta(size_t size)
{
    size = hak_round_up(size, HAK_PAGE);
    size_t total = size + 2 * (size_t)HAK_PAGE;
    if (size == 0 || total < size)
        return NULL;
    uint8_t *raw = hak_os_map(total);
    if (!raw)
        return NULL;
    if (hak_os_guard(raw, HAK_PAGE) != 0 ||
        hak_os_guard(raw + HAK_PAGE + size, HAK_PAGE) != 0) {
        hak_os_unmap(raw, total);
        return NULL;
    }
    return raw + HAK_PAGE;
}

void hak_os_unmap_meta(void *p, size_t size)
{
    hak_os_unmap((uint8_t *)p - HAK_PAGE,
                 hak_round_up(size, HAK_PAGE) + 2 * (size_t)HAK_PAGE);
}

void *hak_os_remap(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    if (q == MAP_FAILED)
        return NULL;
    HAK_ASAN_UNPOISON(q, new_size);
    if (new_size > old_size)
        account_map(new_size - old_size);
    else
        atomic_fetch_sub_explicit(&mapped_bytes, old_size - new_size,
                                  memory_order_relaxed);
    return q;
}

uint64_t hak_os_random(void)
{
    uint64_t v = 0;
    int saved = errno;
    long n = syscall(SYS_getrandom, &v, sizeof v, 0);
    errno = saved;
    if (n != (long)sizeof v) {
        /* No getrandom (old kernel, seccomp): mix what differs per run. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uintptr_t)&v ^
            ((uint64_t)getpid() << 32);
    }
    return v | 1;
}

uint64_t hak_os_mapped_bytes(void)
{
    return atomic_load_explicit(&mapped_bytes, memory_order_relaxed);
}

uint64_t hak_os_peak_mapped_bytes(void)
{
    return atomic_load_explicit(&peak_mapped_bytes, memory_order_relaxed);
}
