/* harness.h — what the fuzz harnesses share: reading the input, and
 * collecting a forked child's report. */
#ifndef HAK_FUZZ_HARNESS_H
#define HAK_FUZZ_HARNESS_H

#include <errno.h>
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

#endif
