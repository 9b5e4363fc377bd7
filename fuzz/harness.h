/* harness.h — what the fuzz harnesses share: reading the input,
 * forking beside other threads and collecting a forked child's report,
 * handing jobs to helper threads and keeping them on the fuzzing thread's
 * CPU. */
#ifndef HAK_FUZZ_HARNESS_H
#define HAK_FUZZ_HARNESS_H

/* (a harness defines _GNU_SOURCE before its first include: sched_getcpu,
 * the CPU_ macros) */
#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct input {
    const uint8_t *data;
    size_t len, pos;
} input_t;

/* The next `bytes` bytes of the input, big-endian; zeros past its end. */
static inline uint32_t take(input_t *in, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | (in->pos < in->len ? in->data[in->pos++] : 0);
    return v;
}

/* ---- Forking beside other threads ----------------------------------------
 * clang 14's ASan takes no lock around fork: a thread that is inside ASan's
 * allocator when another forks leaves the allocator's lock held in the
 * child for good, and the child's first malloc (pthread_create's, for the
 * thread a harness's child frees on) waits until the child's alarm kills
 * it. libFuzzer's RSS thread is in the allocator for a moment as it starts
 * (ASan's thread start frees through it), just before a fresh fuzzing
 * process runs its first inputs, the smallest seeds: fuzz_attack's 16-byte
 * seed b33e3155 forks at once, and 8 of 200 fresh debug processes hung so
 * in its child (each -fork job is a fresh process). The helper threads of
 * a harness are in it the same way until their start routine runs.
 *
 * So fork_settle, before each fork, waits until every other thread is
 * settled: a helper of the harness once its start routine has called
 * thread_settled (after that it allocates only from hakmem, whose fork
 * handlers hold its locks across the fork); any other thread once it has
 * been seen asleep in nanosleep, where the RSS thread spends its life
 * between polls. A thread settled stays settled. Needed under ASan only;
 * the same wait elsewhere costs a few directory reads per fork. */
#define SETTLED_MAX 16
static _Atomic pid_t settled[SETTLED_MAX] __attribute__((unused));
static _Atomic unsigned nsettled __attribute__((unused));

static inline void settle_tid(pid_t tid)
{
    unsigned i = atomic_fetch_add(&nsettled, 1);
    if (i < SETTLED_MAX)
        atomic_store(&settled[i], tid);
}

/* Called first by each helper thread's start routine. */
static inline void thread_settled(void)
{
    settle_tid((pid_t)syscall(SYS_gettid));
}

static inline int tid_settled(pid_t tid)
{
    unsigned n = atomic_load(&nsettled);
    for (unsigned i = 0; i < n && i < SETTLED_MAX; i++)
        if (atomic_load(&settled[i]) == tid)
            return 1;
    return 0;
}

/* Whether thread tid is now blocked in nanosleep or clock_nanosleep (its
 * /proc syscall file: the number of the call it is blocked in); -1 when
 * that file cannot be read (then nothing can be told). */
static inline int tid_asleep(pid_t tid)
{
    char path[64], line[32];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int nr = fgets(line, sizeof line, f) ? atoi(line) : -1;
    fclose(f);
    return nr == SYS_nanosleep || nr == SYS_clock_nanosleep;
}

/* The threads of this process other than the caller not yet settled.
 * Those seen asleep become settled, and so does every thread when /proc
 * cannot tell, or when `all` is set (the wait gave up). */
static inline unsigned unsettled_threads(int all)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    pid_t self = (pid_t)syscall(SYS_gettid);
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || tid == self || tid_settled(tid))
            continue;
        if (all || tid_asleep(tid) != 0)
            settle_tid(tid);
        else
            n++;
    }
    closedir(d);
    return n;
}

/* Waits until every other thread is settled; call it just before fork.
 * After FORK_SETTLE_MS it says so, once, and settles the rest as they
 * are: a wait per fork that long would stop the fuzzer. */
#define FORK_SETTLE_MS 2000
static inline void fork_settle(void)
{
    const struct timespec tick = { 0, 200 * 1000 }; /* 0.2 ms */
    for (unsigned ticks = 0; unsettled_threads(0); ticks++) {
        if (ticks >= FORK_SETTLE_MS * 5) {
            fprintf(stderr, "harness: a thread was not seen settled in "
                    "%d ms: forking beside it (a child may hang)\n",
                    FORK_SETTLE_MS);
            unsettled_threads(1);
            return;
        }
        nanosleep(&tick, NULL);
    }
}

/* Forks a child to judge: in the child, 0, with its stderr on a pipe whose
 * read end *rfd is the parent's (the answer there: the child's pid; -1
 * when no pipe or no fork could be had). Flushes stdio first (or the child
 * would write out the parent's buffers), and waits for the other threads
 * to settle (fork_settle). The child takes the default action of the
 * signals the fuzzer catches: they are the parent's, and the verdict reads
 * the signal the child died of. That includes SIGALRM, libFuzzer's -timeout
 * timer: its handler would take the child's alarm, find the input within
 * its time and return, and a child that hung would hang on, outliving a
 * parent that libFuzzer kills at its timeout. The alarm ends a child the
 * allocator was steered into a loop in. */
#define CHILD_SECONDS 20
static inline pid_t fork_child(int *rfd)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    fork_settle();
    pid_t pid = fork();
    if (pid != 0) {
        close(fds[1]);
        if (pid < 0)
            close(fds[0]);
        *rfd = fds[0];
        return pid;
    }
    close(fds[0]);
    dup2(fds[1], 2);
    close(fds[1]);
    static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE,
                                SIGALRM };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    alarm(CHILD_SECONDS);
    return 0;
}

/* Reads what child `pid` writes to fd until it closes it (the start of it
 * into buf, NUL-terminated; the rest is read and dropped), then reaps the
 * child; returns its wait status. A signal (libFuzzer's -timeout timer)
 * may interrupt a read or the wait: only end of file ends the one, only
 * the child's end the other, or a report would be cut short. */
static inline int child_collect(int fd, pid_t pid, char *buf, size_t cap)
{
    char rest[512];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, len < cap - 1 ? buf + len : rest,
                     len < cap - 1 ? cap - 1 - len : sizeof rest)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (len < cap - 1)
            len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* The shadow models' loops over a block's words (fill and verify): no
 * coverage (no signal worth paying for) and no ASan check per word (it
 * doubled their cost); model_range checks the block's whole range once
 * against ASan's shadow instead, so a block that the debug core has
 * poisoned (freed, slack, a guard) is still reported when the model
 * touches it. */
#if defined(__clang__)
#define MODEL __attribute__((no_sanitize("address", "coverage")))
#else
#define MODEL
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MODEL_ASAN 1
#endif
#endif
#ifdef MODEL_ASAN
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#endif

static inline void model_range(const void *p, size_t n)
{
#ifdef MODEL_ASAN
    void *bad = __asan_region_is_poisoned((void *)(uintptr_t)p, n);
    if (bad) {
        fprintf(stderr, "fuzz: byte %zu of the block %p (size %zu) is "
                "poisoned\n", (size_t)((uint8_t *)bad - (const uint8_t *)p),
                p, n);
        __asan_describe_address(bad);
        abort();
    }
#else
    (void)p, (void)n;
#endif
}

/* A helper thread's turn: its job word is 0 while it waits for work and
 * the job (non-zero) while it has one. The owner posts a job (the helper
 * must be idle) and may wait for it to end; the helper takes one job at a
 * time and says when it is done. Everything written before a post is seen
 * by the job, everything the job wrote is seen after the wait. At most one
 * thread sleeps on the word at a time (the owner while it is non-zero, the
 * helper while it is 0), so a wake of one is enough. A raw futex rather
 * than a mutex and a condition variable: a handoff is four system calls
 * and two switches, where the pair made seven futex calls a handoff and
 * the two threads met on the mutex. */
typedef struct turn {
    _Atomic uint32_t job;
} turn_t;

static inline void turn_futex(turn_t *t, int op, uint32_t v)
{
    syscall(SYS_futex, &t->job, op, v, NULL, NULL, 0);
}

static inline void turn_post(turn_t *t, uint32_t job)
{
    atomic_store_explicit(&t->job, job, memory_order_release);
    turn_futex(t, FUTEX_WAKE_PRIVATE, 1);
}

static inline void turn_wait(turn_t *t)
{
    uint32_t v;
    while ((v = atomic_load_explicit(&t->job, memory_order_acquire)) != 0)
        turn_futex(t, FUTEX_WAIT_PRIVATE, v);
}

static inline uint32_t turn_take(turn_t *t)
{
    uint32_t v;
    while ((v = atomic_load_explicit(&t->job, memory_order_acquire)) == 0)
        turn_futex(t, FUTEX_WAIT_PRIVATE, 0);
    return v;
}

static inline void turn_done(turn_t *t)
{
    atomic_store_explicit(&t->job, 0, memory_order_release);
    turn_futex(t, FUTEX_WAKE_PRIVATE, 1);
}

/* For a harness whose helper threads take turns with the fuzzing thread
 * (one runs while the other waits for it): they are kept on one CPU, so a
 * handoff is a switch on that CPU instead of a wakeup of another one.
 * Waking an idle CPU and back twice per handoff was a fifth of fuzz_alloc's
 * wall time (debug libFuzzer: ~770 executions/s unpinned, ~1,100 with the
 * process pinned). colocate, called before each handoff with the helpers
 * alive, pins them and the caller to the CPU the caller is on; for
 * UNPINNED handoffs of every PINNED + UNPINNED they may run anywhere they
 * could before, so the scheduler can move them off a CPU that other work
 * has taken. A helper created while the caller is pinned inherits its
 * CPU. colocate_release frees them at once, for a job meant to run beside
 * the caller (the next colocate pins them again). */
#define PINNED 4096
#define UNPINNED 256

static struct {
    cpu_set_t all; /* the caller's CPUs before any pinning */
    int saved;     /* 1: all is read; -1: it could not be */
    int cpu;       /* where they are pinned, or -1 */
    unsigned long turns;
} colocation __attribute__((unused)) = { .cpu = -1 };

static inline void colocation_set(pthread_t *helpers, unsigned n,
                                  const cpu_set_t *set, int cpu)
{
    sched_setaffinity(0, sizeof *set, set);
    for (unsigned i = 0; i < n; i++)
        pthread_setaffinity_np(helpers[i], sizeof *set, set);
    colocation.cpu = cpu;
}

static inline void colocate(pthread_t *helpers, unsigned n)
{
    if (!colocation.saved)
        colocation.saved = sched_getaffinity(0, sizeof colocation.all,
                                             &colocation.all) == 0 ? 1 : -1;
    if (colocation.saved < 0)
        return;
    if (colocation.turns++ % (PINNED + UNPINNED) >= PINNED) {
        if (colocation.cpu >= 0)
            colocation_set(helpers, n, &colocation.all, -1);
        return;
    }
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu == colocation.cpu)
        return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    colocation_set(helpers, n, &one, cpu);
}

static inline void colocate_release(pthread_t *helpers, unsigned n)
{
    if (colocation.cpu >= 0)
        colocation_set(helpers, n, &colocation.all, -1);
}

#endif
