/* harness.h — what the fuzz harnesses share: reading the input,
 * collecting a forked child's report, and keeping a helper thread on the
 * fuzzing thread's CPU. */
#ifndef HAK_FUZZ_HARNESS_H
#define HAK_FUZZ_HARNESS_H

/* (a harness defines _GNU_SOURCE before its first include: sched_getcpu,
 * the CPU_ macros) */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
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

/* For a harness whose helper thread takes turns with the fuzzing thread
 * (one runs while the other waits for it): both are kept on one CPU, so a
 * handoff is a switch on that CPU instead of a wakeup of the other one.
 * Waking an idle CPU and back twice per handoff was a fifth of fuzz_alloc's
 * wall time (debug libFuzzer: ~770 executions/s unpinned, ~1,100 with the
 * process pinned). Called before each handoff, with the helper alive:
 * both are pinned to the CPU the caller is on; for UNPINNED handoffs of
 * every PINNED + UNPINNED they may run anywhere they could before, so the
 * scheduler can move them off a CPU that other work has taken. A helper
 * created while the caller is pinned inherits its CPU. */
#define PINNED 4096
#define UNPINNED 256

static inline void colocate(pthread_t *helper)
{
    static cpu_set_t all;
    static int saved, cpu_pinned = -1;
    static unsigned long turns;
    if (!saved)
        saved = sched_getaffinity(0, sizeof all, &all) == 0 ? 1 : -1;
    if (saved < 0)
        return;
    cpu_set_t one = all;
    int cpu = -1;
    if (turns++ % (PINNED + UNPINNED) < PINNED) {
        cpu = sched_getcpu();
        if (cpu < 0)
            return;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
    }
    if (cpu == cpu_pinned)
        return;
    sched_setaffinity(0, sizeof one, &one);
    pthread_setaffinity_np(*helper, sizeof one, &one);
    cpu_pinned = cpu;
}

#endif
