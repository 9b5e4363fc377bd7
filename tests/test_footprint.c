/* test_footprint.c — what a thread costs in resident memory: 1000 live
 * threads that each hold a few small blocks (three tiny classes and one
 * mid class) add less than 64 MiB resident, thread stacks included (VmRSS
 * of /proc/self/status, before and while they hold their blocks). Which
 * metadata pages one block makes resident is white-box: the slab suite's
 * "layout" case (test_slab_layout.c).
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

Suite *footprint_suite(void)
{
    const test_row_t rows[] = {
        { "footprint", test_thousand_threads, 120, 0 },
    };
    Suite *s = suite_create("footprint");
    SUITE_ROWS(s, rows);
    return s;
}
