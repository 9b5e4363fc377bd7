/* util.h — helpers shared by the Check suites. */
#ifndef HAK_TEST_UTIL_H
#define HAK_TEST_UTIL_H

#include <check.h>
#include <stddef.h>

#include "hakmem.h"

/* Runs fn(arg) in a forked child with stderr captured. Passes if the child
 * dies of SIGABRT and its stderr contains `expect` (e.g. "hakmem: double
 * free: "); fails the calling test otherwise, quoting what the child said. */
void expect_abort(void (*fn)(void *), void *arg, const char *expect);

/* Deterministic xorshift64* generator for seeded tests. */
static inline unsigned long long test_rand(unsigned long long *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Scale for loop counts: HAK_TEST_SCALE (default 1). */
unsigned test_scale(void);

/* The suites, one per module (tests/test_<module>.c). */
Suite *size_class_suite(void);
Suite *remote_suite(void);
Suite *registry_suite(void);
Suite *api_suite(void);
Suite *align_suite(void);
Suite *death_suite(void);
Suite *threads_suite(void);
Suite *fork_suite(void);

#endif
