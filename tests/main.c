/* main.c — runs every suite against the flavour this binary was linked
 * with (the Makefile builds one binary per flavour). */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

unsigned test_scale(void)
{
    const char *s = getenv("HAK_TEST_SCALE");
    unsigned v = s ? (unsigned)atoi(s) : 1;
    return v ? v : 1;
}

/* Coverage builds: the profile runtime writes its counts at exit, which
 * a child's _exit skips, so what the children of run_child reach would
 * count as never reached. Weak: absent outside coverage builds. */
extern int __llvm_profile_write_file(void) __attribute__((weak));

int run_child(void (*fn)(void *), void *arg, char *buf, size_t cap)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(arg);
        if (__llvm_profile_write_file)
            __llvm_profile_write_file();
        _exit(0); /* not reached when the misuse is caught */
    }
    close(fds[1]);
    read_all_close(fds[0], buf, cap);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

void expect_no_abort(void (*fn)(void *), void *arg)
{
    char buf[2048];
    int status = run_child(fn, arg, buf, sizeof buf);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "expected a normal exit, child %s %d, stderr: %s",
                  WIFSIGNALED(status) ? "got signal" : "exited with",
                  WIFSIGNALED(status) ? WTERMSIG(status)
                                      : WEXITSTATUS(status), buf);
    ck_assert_msg(strstr(buf, "hakmem:") == NULL, "unexpected report: %s",
                  buf);
}

void expect_abort(void (*fn)(void *), void *arg, const char *expect)
{
    char buf[4096];
    int status = run_child(fn, arg, buf, sizeof buf);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "expected SIGABRT with \"%s\", child %s %d, stderr: %s",
                  expect, WIFSIGNALED(status) ? "got signal" : "exited with",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                  buf);
    ck_assert_msg(strstr(buf, expect) != NULL,
                  "expected \"%s\" on stderr, got: %s", expect, buf);
}

/* Installs filter f in this (forked) child; _exit(3) if it cannot. */
static void install_filter(struct sock_filter *f, unsigned short n)
{
    struct sock_fprog prog = { n, f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        _exit(3);
}

#define DENY_ENOMEM BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | \
                                           (ENOMEM & SECCOMP_RET_DATA))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define LOAD_AT(offset) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (offset))
#define LOAD(field) LOAD_AT(offsetof(struct seccomp_data, field))

void deny_mprotect(void)
{
    struct sock_filter f[] = {
        LOAD(arch),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        ALLOW,
        LOAD(nr),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 0, 1),
        DENY_ENOMEM,
        ALLOW,
    };
    install_filter(f, (unsigned short)(sizeof f / sizeof f[0]));
}

void deny_mmap_above(uint32_t bytes)
{
    /* The length is mmap's second argument, 64 bits, which the filter
     * reads as two words (x86-64 is little-endian: the low one first). */
    struct sock_filter f[] = {
        LOAD(arch),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 7),
        LOAD(nr),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 5),
        LOAD_AT(offsetof(struct seccomp_data, args[1]) + 4),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
        LOAD(args[1]),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, bytes, 0, 1),
        DENY_ENOMEM,
        ALLOW,
    };
    install_filter(f, (unsigned short)(sizeof f / sizeof f[0]));
}

void proc_mapping(uintptr_t a, uintptr_t *lo, uintptr_t *hi, char prot[5])
{
    *lo = *hi = 0;
    prot[0] = '\0';
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long l, h;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &l, &h, p) == 3 && a >= l && a < h) {
            *lo = l;
            *hi = h;
            memcpy(prot, p, 5);
            break;
        }
    }
    fclose(f);
}

size_t rw_extent(const void *p)
{
    uintptr_t lo, hi;
    char prot[5];
    proc_mapping((uintptr_t)p, &lo, &hi, prot);
    return lo == (uintptr_t)p && prot[0] == 'r' && prot[1] == 'w' ? hi - lo
                                                                    : 0;
}

size_t resident_pages(const void *p, size_t len)
{
    size_t n = len / (size_t)sysconf(_SC_PAGESIZE), r = 0;
    unsigned char *v = malloc(n);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(mincore((void *)p, len, v), 0);
    for (size_t i = 0; i < n; i++)
        r += v[i] & 1;
    free(v);
    return r;
}

int child_faults(void (*fn)(void *), void *arg, char *buf, size_t cap)
{
    int status = run_child(fn, arg, buf, cap);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

void suite_add_rows(Suite *s, const test_row_t *rows, size_t n)
{
    TCase *tc = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!tc || strcmp(rows[i].tcase, rows[i - 1].tcase) != 0) {
            tc = tcase_create(rows[i].tcase);
            size_t len = strlen(rows[i].tcase), nat = strlen(NATIVE);
            if (len >= nat && !strcmp(rows[i].tcase + len - nat, NATIVE))
                tcase_set_tags(tc, "native");
            if (rows[i].timeout)
                tcase_set_timeout(tc, rows[i].timeout);
            suite_add_tcase(s, tc);
        }
        if (rows[i].loops)
            tcase_add_loop_test(tc, rows[i].test, 0, rows[i].loops);
        else
            tcase_add_test(tc, rows[i].test);
    }
}

int main(void)
{
    Suite *(*suites[])(void) = {
        size_class_suite, api_suite,   align_suite,     death_suite,
        threads_suite,    fork_suite,  slab_suite,      large_suite,
        attack_suite,     zero_suite,  sizes_suite,     footprint_suite,
        exit_suite,       options_suite,
    };
    SRunner *sr = srunner_create(NULL);
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        srunner_add_suite(sr, suites[i]());
    printf("hakmem %s flavour\n", hak_is_debug() ? "debug" : "release");
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
