/* util.h — helpers shared by the Check suites. */
#ifndef HAK_TEST_UTIL_H
#define HAK_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "hakmem.h"

/* Reads fd to its end (or until cap - 1 bytes) into buf, NUL-terminated;
 * closes fd. Returns the length. (Inline: the C++ suites share it.) */
static inline size_t read_all_close(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return len;
}

/* Runs fn(arg) in a forked child with stderr captured. Passes if the child
 * dies of SIGABRT and its stderr contains `expect` (e.g. "hakmem: double
 * free: "); fails the calling test otherwise, quoting what the child said. */
void expect_abort(void (*fn)(void *), void *arg, const char *expect);
/* Runs fn(arg) in a forked child that must exit with status 0 and print
 * no hakmem report (an attack child exits 42 when it was exploited). */
void expect_no_abort(void (*fn)(void *), void *arg);
/* Runs fn(arg) in a forked child (which _exit(0)s if fn returns), its
 * stderr captured into buf (NUL-terminated, cap bytes at most); returns
 * the wait status. */
int run_child(void (*fn)(void *), void *arg, char *buf, size_t cap);
/* run_child, then 1 if the child died of SIGSEGV (a guard page, or a
 * PROT_NONE mapping, stopped its access), else 0. */
int child_faults(void (*fn)(void *), void *arg, char *buf, size_t cap);
/* The mapping holding address a, as /proc/self/maps has it: its range
 * [lo, hi) (neighbouring mappings of equal rights merged into one line)
 * and rights ("rw-p", "---p"); 0, 0 and "" where nothing is mapped. */
void proc_mapping(uintptr_t a, uintptr_t *lo, uintptr_t *hi, char prot[5]);
/* In a (forked) child: from now on every mprotect fails with ENOMEM, as
 * near vm.max_map_count (a seccomp filter); _exit(3) if it cannot be set. */
void deny_mprotect(void);
/* In a (forked) child: from now on every mmap of more than `bytes` fails
 * with ENOMEM, as under strict overcommit or an address-space limit (a
 * seccomp filter); _exit(3) if it cannot be set. */
void deny_mmap_above(uint32_t bytes);
/* Read-write bytes from p (a page boundary) to the end of the read-write
 * mapping it starts, as /proc/self/maps tells it: a large block's
 * accessible pages, which end at a PROT_NONE page. 0 if p starts none. */
size_t rw_extent(const void *p);
/* Resident pages of [p, p + len), both page aligned (mincore, which
 * answers for PROT_NONE pages too). */
size_t resident_pages(const void *p, size_t len);

/* Check's ck_assert* records the location of every passing assertion
 * through a pipe (a system call each), which makes loops over many blocks
 * crawl; these fail exactly like them but cost nothing when they pass. */
#define REQ(c)                                                               \
    do {                                                                     \
        if (!(c))                                                            \
            ck_abort_msg("Assertion '%s' failed", #c);                       \
    } while (0)
#define REQ_MSG(c, ...)                                                      \
    do {                                                                     \
        if (!(c))                                                            \
            ck_abort_msg(__VA_ARGS__);                                       \
    } while (0)
#define REQ_CMP_(T, fmt, a, op, b)                                           \
    do {                                                                     \
        T a_ = (T)(a);                                                       \
        T b_ = (T)(b);                                                       \
        if (!(a_ op b_))                                                     \
            ck_abort_msg("Assertion '%s %s %s' failed: " fmt " vs " fmt,     \
                         #a, #op, #b, a_, b_);                               \
    } while (0)
#define REQ_UINT_EQ(a, b) REQ_CMP_(uintmax_t, "%ju", a, ==, b)
#define REQ_UINT_GE(a, b) REQ_CMP_(uintmax_t, "%ju", a, >=, b)
#define REQ_UINT_GT(a, b) REQ_CMP_(uintmax_t, "%ju", a, >, b)
#define REQ_UINT_LE(a, b) REQ_CMP_(uintmax_t, "%ju", a, <=, b)
#define REQ_INT_EQ(a, b) REQ_CMP_(intmax_t, "%jd", a, ==, b)
#define REQ_INT_GT(a, b) REQ_CMP_(intmax_t, "%jd", a, >, b)
#define REQ_PTR_EQ(a, b) REQ_CMP_(const void *, "%p", a, ==, b)
#define REQ_PTR_NE(a, b) REQ_CMP_(const void *, "%p", a, !=, b)
#define REQ_NONNULL(x) REQ_CMP_(const void *, "%p", x, !=, NULL)
#define REQ_NULL(x) REQ_CMP_(const void *, "%p", x, ==, NULL)

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Deterministic xorshift64* generator for seeded tests. */
static inline unsigned long long test_rand(unsigned long long *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* A suite as a table, a row a test: the name of its case (a run of rows
 * with one name is one TCase), the test, the case's timeout in seconds
 * (set by its first row; 0 keeps Check's default) and, for a loop test,
 * how many times it runs (_i from 0; 0 for a plain test). */
typedef struct test_row {
    const char *tcase;
    const TTest *test;
    unsigned timeout;
    int loops;
} test_row_t;

/* A case whose name ends in NATIVE cannot run under memcheck (seccomp
 * filters, which memcheck does not run; a 128 GiB reservation; forked
 * probes of the kernel's faults, a memcheck each): suite_add_rows tags it
 * "native", ci/valgrind.sh leaves the tag out (CK_EXCLUDE_TAGS), and
 * every plain run runs it. */
#define NATIVE " [native]"

/* Adds the rows' cases to s, in order. (Each suite is made by a literal
 * suite_create("name"): ci/valgrind.sh finds the suites' names so.) */
void suite_add_rows(Suite *s, const test_row_t *rows, size_t n);
#define SUITE_ROWS(s, rows)                                                   \
    suite_add_rows(s, rows, sizeof rows / sizeof rows[0])

/* calloc (libc's: the test's own bookkeeping), failing the test on NULL. */
static inline void *test_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* A byte pattern that differs between blocks (ids) and along a block, so
 * a block handed out twice, shifted, truncated or partly copied shows. */
static inline uint8_t pattern_byte(size_t id, size_t i)
{
    return (uint8_t)(id * 131u + i * 7u + (i >> 8) + 1u);
}

static inline void pattern_fill(void *p, size_t n, size_t id)
{
    uint8_t *b = (uint8_t *)p; /* (a cast: C++ includes this too) */
    for (size_t i = 0; i < n; i++)
        b[i] = pattern_byte(id, i);
}

/* The offset of the first of the n bytes at p off the pattern, or n. */
static inline size_t pattern_bad(const void *p, size_t n, size_t id)
{
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(id, i))
            return i;
    return n;
}

/* Scale for loop counts: HAK_TEST_SCALE (default 1). */
unsigned test_scale(void);

/* The suites, one per module (tests/test_<module>.c). */
Suite *size_class_suite(void);
Suite *exit_suite(void);
Suite *api_suite(void);
Suite *align_suite(void);
Suite *death_suite(void);
Suite *threads_suite(void);
Suite *fork_suite(void);
/* The one white-box suite (test_slab.c), with the cases of
 * test_slab_layout.c, test_registry.c, test_remote.c, test_zoo_gaps.c. */
Suite *slab_suite(void);
void slab_layout_cases(Suite *s);
void registry_cases(Suite *s);
void remote_cases(Suite *s);
void zoo_gaps_cases(Suite *s);
Suite *large_suite(void);
Suite *attack_suite(void);
Suite *sizes_suite(void);
Suite *zero_suite(void);
Suite *footprint_suite(void);
Suite *options_suite(void);

#endif
