/* test_fork.c — placeholder until the suite is written. */
#include "util.h"

Suite *fork_suite(void)
{
    return suite_create("fork");
}
