/* harness.h — what the fuzz harnesses share: reading the input,
 * collecting a forked child's report, handing jobs to helper threads and
 * keeping them on the fuzzing thread's CPU. */
#ifndef HAK_FUZZ_HARNESS_H
#define HAK_FUZZ_HARNESS_H

/* (a harness defines _GNU_SOURCE before its first include: sched_getcpu,
 * the CPU_ macros) */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
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
