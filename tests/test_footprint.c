/* test_footprint.c — what a thread costs in resident memory:
 *   - 1000 live threads that each hold a few small blocks (three tiny
 *     classes and one mid class) add less than 64 MiB resident, thread
 *     stacks included (VmRSS of /proc/self/status, before and while they
 *     hold their blocks);
 *   - a thread's first tiny block leaves the superslab's metadata slab
 *     with the header page and the descriptor pages up to the last slab
 *     taken (ninit) resident, not all nine descriptor pages (mincore);
 *   - the debug flavour's per-slot map of that superslab has one resident
 *     page for a slab that handed out one block, not the slab's whole span.
 *
 * Worker threads never call ck_assert: they record what they saw, and the
 * test thread asserts after the barrier or the join. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

#include "hakmem.h"
#include "slab.h"
#include "superslab.h"

#define THREADS 1000
#define FOOT_LIMIT (64 * MiB)

/* A few small blocks per thread: three tiny classes and one mid. */
static const size_t foot_sizes[] = { 16, 100, 500, 3000 };
#define NSIZES (sizeof foot_sizes / sizeof foot_sizes[0])

/* Resident kB of this process, from /proc/self/status. */
static long vm_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    fclose(f);
    ck_assert_int_gt(kib, 0);
    return kib;
}

/* ---- 1000 live threads -------------------------------------------------- */

static pthread_barrier_t hold, release;
static atomic_int foot_errors;

static void *holder(void *arg)
{
    (void)arg;
    void *b[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        b[i] = hak_malloc(foot_sizes[i]);
        if (!b[i])
            atomic_fetch_add(&foot_errors, 1);
        else
            memset(b[i], (int)i + 1, foot_sizes[i]); /* really used */
    }
    pthread_barrier_wait(&hold);
    pthread_barrier_wait(&release);
    for (size_t i = 0; i < NSIZES; i++) {
        for (size_t k = 0; b[i] && k < foot_sizes[i]; k++)
            if (((unsigned char *)b[i])[k] != (unsigned char)(i + 1)) {
                atomic_fetch_add(&foot_errors, 1);
                break;
            }
        hak_free(b[i]);
    }
    return NULL;
}

START_TEST(test_thousand_threads)
{
    pthread_t *t = calloc(THREADS, sizeof *t);
    ck_assert_ptr_nonnull(t);
    pthread_attr_t attr;
    ck_assert_int_eq(pthread_attr_init(&attr), 0);
    /* Small stacks: 1000 of the default 8 MiB is much address space; the
     * resident part (the pages a thread touches) is the same. */
    ck_assert_int_eq(pthread_attr_setstacksize(&attr, 128 * KiB), 0);
    ck_assert_int_eq(pthread_barrier_init(&hold, NULL, THREADS + 1), 0);
    ck_assert_int_eq(pthread_barrier_init(&release, NULL, THREADS + 1), 0);
    atomic_store(&foot_errors, 0);
    long before = vm_rss_kib();
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], &attr, holder, NULL), 0);
    pthread_barrier_wait(&hold);
    long during = vm_rss_kib();
    pthread_barrier_wait(&release);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    ck_assert_int_eq(atomic_load(&foot_errors), 0);
    long added = during - before;
    ck_assert_msg((size_t)added * KiB < FOOT_LIMIT,
                  "%d threads holding %zu small blocks each added %ld KiB "
                  "resident (%ld KiB each), limit %zu KiB", THREADS, NSIZES,
                  added, added / THREADS, FOOT_LIMIT / KiB);
    pthread_barrier_destroy(&hold);
    pthread_barrier_destroy(&release);
    pthread_attr_destroy(&attr);
    free(t);
}
END_TEST

/* ---- One block's metadata pages ----------------------------------------- */

/* Resident pages of [p, p + len), both page aligned. */
static size_t resident_pages(const void *p, size_t len)
{
    size_t n = len / HAK_PAGE, r = 0;
    unsigned char *v = malloc(n);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(mincore((void *)p, len, v), 0);
    for (size_t i = 0; i < n; i++)
        r += v[i] & 1;
    free(v);
    return r;
}

typedef struct {
    void *block;
    pthread_barrier_t done, freed;
} one_block_t;

/* A new thread's first block: its heap is new (or adopted) and the block
 * comes from that heap's superslab. The thread keeps the block live while
 * the test thread looks, so nothing is released meanwhile. */
static void *one_block(void *arg)
{
    one_block_t *o = arg;
    o->block = hak_malloc(24);
    if (o->block)
        memset(o->block, 0x5a, 24);
    pthread_barrier_wait(&o->done);
    pthread_barrier_wait(&o->freed);
    hak_free(o->block);
    return NULL;
}

START_TEST(test_first_block_metadata)
{
    /* Heaps in the pool (CK_FORK=no: earlier tests' threads) give their
     * empty superslabs back, so the thread's block comes from a freshly
     * mapped superslab unless another test left blocks live. */
    hak_malloc_trim(0);
    one_block_t o = { 0 };
    ck_assert_int_eq(pthread_barrier_init(&o.done, NULL, 2), 0);
    ck_assert_int_eq(pthread_barrier_init(&o.freed, NULL, 2), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, one_block, &o), 0);
    pthread_barrier_wait(&o.done);
    ck_assert_ptr_nonnull(o.block);
    hak_superslab_t *ss = ss_of((uintptr_t)o.block);
    ck_assert_uint_eq(ss->tier, HAK_TIER_TINY);
    ck_assert_uint_ge(ss->ninit, 2);
    ck_assert_uint_le(ss->ninit, ss->nslabs);

    /* Metadata slab: the guard page, then the header and the descriptors
     * written so far; the rbits (4 pages) may be resident when other
     * threads freed into this superslab before (an adopted heap). No
     * other page of slab 0 was ever written. */
    uintptr_t base = ss_base(ss);
    size_t meta = (uintptr_t)&ss->slabs[ss->ninit] - base;
    size_t written = (meta + HAK_PAGE - 1) / HAK_PAGE - 1; /* no guard */
    size_t rbits = sizeof ss->rbits / HAK_PAGE;
    size_t got = resident_pages((void *)(base + HAK_PAGE),
                                slab_bytes(ss) - 2 * HAK_PAGE);
    ck_assert_msg(got <= written + rbits,
                  "metadata slab: %zu pages resident, at most %zu expected "
                  "(%u descriptors written, %zu rbits pages)", got,
                  written + rbits, ss->ninit, rbits);
    /* Per-slot states: a slab that handed out few blocks dirties the
     * first page of its span only (a fresh slab, or one whose last use
     * reached no further). */
    if (ss->slot_req) {
        hak_slab_t *s = slab_of(ss, (uintptr_t)o.block);
        size_t span = (size_t)1 << (ss->slab_shift - 4);
        uint32_t *map = &ss->slot_req[s->index * span];
        size_t first = ((size_t)s->top + 1) * 64 * sizeof(uint32_t);
        first = (first + HAK_PAGE - 1) / HAK_PAGE;
        size_t span_pages = span * sizeof(uint32_t) / HAK_PAGE;
        size_t slot_pages = resident_pages(map, span * sizeof(uint32_t));
        ck_assert_msg(slot_pages <= first,
                      "slot map of slab %u: %zu of %zu pages resident, "
                      "cursor reached word %u", s->index, slot_pages,
                      span_pages, s->top);
    }
    pthread_barrier_wait(&o.freed);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    hak_check_heap();
    pthread_barrier_destroy(&o.done);
    pthread_barrier_destroy(&o.freed);
}
END_TEST

Suite *footprint_suite(void)
{
    Suite *s = suite_create("footprint");
    TCase *tc = tcase_create("footprint");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_thousand_threads);
    tcase_add_test(tc, test_first_block_metadata);
    suite_add_tcase(s, tc);
    return s;
}
