/* test_threads.c — placeholder until the suite is written. */
#include "util.h"

Suite *threads_suite(void)
{
    return suite_create("threads");
}
