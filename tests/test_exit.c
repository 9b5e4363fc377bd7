/* test_exit.c — a thread that exits gives its heap back, whatever its key
 * destructors do.
 *
 * glibc runs key destructors in up to PTHREAD_DESTRUCTOR_ITERATIONS (4)
 * rounds; hakmem's own key destructor abandons the heap in the first
 * round. A destructor of the test's key (created after hakmem's, so it
 * runs after it in every round) re-arms itself until round 4 and only then
 * allocates: the heap that allocation binds has no later round to be
 * abandoned in. 1000 such thread exits must leave the process mapping
 * (hakmem's mapped bytes after malloc_trim(0), and the number of lines of
 * /proc/self/maps) within 2x of the same 1000 threads allocating the same
 * blocks in their bodies, with no destructor at all, and the peak during
 * the run within a small factor. Each run happens in a forked child of its
 * own, from the same starting state. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#define EX_THREADS 1000
#define EX_BATCH 8

static pthread_key_t ex_key;
static __thread unsigned ex_round;
static atomic_uint ex_late_allocs, ex_errors;

/* A small and a mid block: allocated, written, freed. */
static void ex_touch(void)
{
    static const size_t sizes[] = { 48, 3000 };
    for (unsigned i = 0; i < 2; i++) {
        unsigned char *p = hak_malloc(sizes[i]);
        if (!p) {
            atomic_fetch_add(&ex_errors, 1);
            continue;
        }
        memset(p, 0x5a, sizes[i]);
        hak_free(p);
    }
}

static void ex_destructor(void *v)
{
    (void)v;
    if (++ex_round < 4) {
        pthread_setspecific(ex_key, (void *)1);
        return;
    }
    /* Round 4, after hakmem's own destructor of this round (if any). */
    ex_touch();
    atomic_fetch_add(&ex_late_allocs, 1);
}

/* Each thread's kernel id, to wait until the kernel has let it go. */
static _Atomic int ex_tid[EX_BATCH];

static void *ex_thread(void *arg)
{
    atomic_store(&ex_tid[(uintptr_t)arg % EX_BATCH],
                 (int)syscall(SYS_gettid));
    /* arg / EX_BATCH: 0 allocates in the body only, 1 in round 4 only,
     * 2 in both (hakmem's destructor abandons the heap in round 1 and
     * round 4 binds one again). */
    unsigned mode = (unsigned)((uintptr_t)arg / EX_BATCH);
    if (mode != 1)
        ex_touch();
    if (mode != 0)
        pthread_setspecific(ex_key, (void *)1);
    return NULL;
}

static unsigned maps_lines(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    unsigned n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* In a child: 1000 thread exits, then malloc_trim(0); prints
 * "late=<n> errors=<n> mapped=<bytes> maps=<lines>" on stderr. */
static void ex_run(void *arg)
{
    unsigned mode = (unsigned)(uintptr_t)arg;
    if (pthread_key_create(&ex_key, ex_destructor) != 0)
        _exit(4);
    /* The forking thread's heap exists in both runs alike. */
    ex_touch();
    hak_stats_t s0;
    hak_stats_get(&s0);
    unsigned long long peak0 = s0.peak_mapped_bytes;
    for (unsigned i = 0; i < EX_THREADS; i += EX_BATCH) {
        pthread_t t[EX_BATCH];
        for (uintptr_t k = 0; k < EX_BATCH; k++)
            if (pthread_create(&t[k], NULL, ex_thread,
                               (void *)(k + mode * EX_BATCH)))
                _exit(5);
        for (unsigned k = 0; k < EX_BATCH; k++)
            pthread_join(t[k], NULL);
    }
    /* pthread_join returns when the kernel has cleared the thread's id
     * word, a moment before it drops the id itself: wait for the last
     * batch to be gone from the kernel too (an event, not a time), so
     * that what trim finds does not depend on scheduling. */
    for (unsigned k = 0; k < EX_BATCH; k++)
        while (syscall(SYS_tgkill, (long)getpid(),
                       (long)atomic_load(&ex_tid[k]), 0) == 0)
            sched_yield();
    hak_malloc_trim(0);
    hak_check_heap();
    hak_stats_t s;
    hak_stats_get(&s);
    fprintf(stderr, "late=%u errors=%u mapped=%llu maps=%u peak=%llu\n",
            atomic_load(&ex_late_allocs), atomic_load(&ex_errors),
            (unsigned long long)s.mapped_bytes, maps_lines(),
            (unsigned long long)(s.peak_mapped_bytes - peak0));
}

typedef struct ex_result {
    unsigned late, errors, maps;
    unsigned long long mapped, peak;
} ex_result_t;

static ex_result_t ex_measure(unsigned mode)
{
    char buf[1024];
    int status = run_child(ex_run, (void *)(uintptr_t)mode, buf, sizeof buf);
    ex_result_t r = { 0, 0, 0, 0, 0 };
    ck_assert_msg(status == 0, "child (mode %u) ended with status 0x%x: %s",
                  mode, status, buf);
    ck_assert_msg(sscanf(buf, "late=%u errors=%u mapped=%llu maps=%u peak=%llu",
                         &r.late, &r.errors, &r.mapped, &r.maps,
                         &r.peak) == 5,
                  "child said: %s", buf);
    return r;
}

START_TEST(thread_exit_allocating_in_last_destructor_round)
{
    ex_result_t plain = ex_measure(0), late = ex_measure(1);
    ck_assert_uint_eq(plain.errors, 0);
    ck_assert_uint_eq(late.errors, 0);
    ck_assert_uint_eq(plain.late, 0);
    /* Every thread really allocated in the last round. */
    ck_assert_uint_eq(late.late, EX_THREADS);
    ck_assert_msg(late.mapped <= 2 * plain.mapped,
                  "%u thread exits allocating in destructor round 4 left "
                  "%llu KiB mapped after malloc_trim(0); the same threads "
                  "allocating in their bodies %llu KiB",
                  EX_THREADS, late.mapped >> 10, plain.mapped >> 10);
    ck_assert_msg(late.maps <= 2 * plain.maps,
                  "%u thread exits allocating in destructor round 4 left "
                  "%u mappings; the same threads allocating in their "
                  "bodies %u",
                  EX_THREADS, late.maps, plain.maps);
    /* While they run, heaps whose threads are gone are taken back as new
     * threads need heaps (not only at trim), two looked at per heap made:
     * the dead ones waiting stay about as many as the live ones, so the
     * peak stays within the plain run's plus two batches' heaps (4 MiB
     * each here: a small and a mid superslab). A leak of 1000 is 4 GiB. */
    ck_assert_msg(late.peak <= 2 * plain.peak + 2 * EX_BATCH * 4 * MiB,
                  "%u thread exits allocating in destructor round 4 peaked "
                  "at %llu KiB more mapped; the same threads allocating in "
                  "their bodies %llu KiB",
                  EX_THREADS, late.peak >> 10, plain.peak >> 10);
}
END_TEST

/* ---- Among many live heaps --------------------------------------------
 * EX_LIVE threads stay alive (so there are many heaps to look through);
 * meanwhile EX_SERIAL threads run one after another, each allocating in
 * its body and again in destructor round 4 (after hakmem's destructor
 * gave its heap back in round 1). Each such heap is a suspect, looked at
 * when the next thread needs a heap: the heaps in use, and the mapped
 * bytes, stay level. Looking at two heaps in turn per heap made finds the
 * dead one about EX_LIVE / 2 times too rarely: each thread would make a
 * new heap and leave its dead one mapped. */
#define EX_LIVE 64
#define EX_SERIAL 200

static pthread_barrier_t ex_hold;

static void *ex_holder(void *arg)
{
    (void)arg;
    ex_touch();
    pthread_barrier_wait(&ex_hold); /* all bound */
    pthread_barrier_wait(&ex_hold); /* released */
    return NULL;
}

static void ex_serial(void *arg)
{
    (void)arg;
    if (pthread_key_create(&ex_key, ex_destructor) != 0)
        _exit(4);
    pthread_barrier_init(&ex_hold, NULL, EX_LIVE + 1);
    pthread_t live[EX_LIVE];
    for (unsigned i = 0; i < EX_LIVE; i++)
        if (pthread_create(&live[i], NULL, ex_holder, NULL))
            _exit(5);
    pthread_barrier_wait(&ex_hold);
    hak_stats_t s0, s1;
    hak_stats_get(&s0);
    for (unsigned i = 0; i < EX_SERIAL; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, ex_thread, (void *)(uintptr_t)(2 * EX_BATCH)))
            _exit(5);
        pthread_join(t, NULL);
        while (syscall(SYS_tgkill, (long)getpid(),
                       (long)atomic_load(&ex_tid[0]), 0) == 0)
            sched_yield();
    }
    hak_stats_get(&s1);
    pthread_barrier_wait(&ex_hold);
    for (unsigned i = 0; i < EX_LIVE; i++)
        pthread_join(live[i], NULL);
    fprintf(stderr, "late=%u errors=%u grew=%llu\n", atomic_load(&ex_late_allocs),
            atomic_load(&ex_errors),
            (unsigned long long)(s1.mapped_bytes - s0.mapped_bytes));
}

START_TEST(thread_exit_among_many_live_heaps)
{
    char buf[1024];
    int status = run_child(ex_serial, NULL, buf, sizeof buf);
    ck_assert_msg(status == 0, "child ended with status 0x%x: %s", status, buf);
    unsigned late, errors;
    unsigned long long grew;
    ck_assert_msg(sscanf(buf, "late=%u errors=%u grew=%llu", &late, &errors,
                         &grew) == 3, "child said: %s", buf);
    ck_assert_uint_eq(errors, 0);
    ck_assert_uint_eq(late, EX_SERIAL);
    /* Level: a few heaps' worth (4 MiB each: a small and a mid superslab). */
    ck_assert_msg(grew <= 4 * 4 * MiB,
                  "%u threads that allocated in destructor round 4, one "
                  "after another among %u live ones, left %llu KiB more "
                  "mapped", EX_SERIAL, EX_LIVE, grew >> 10);
}
END_TEST

Suite *exit_suite(void)
{
    const test_row_t rows[] = {
        { "thread_exit",
          thread_exit_allocating_in_last_destructor_round, 120, 0 },
        { "thread_exit", thread_exit_among_many_live_heaps, 0, 0 },
    };
    Suite *s = suite_create("exit");
    SUITE_ROWS(s, rows);
    return s;
}
