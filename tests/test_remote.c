/* test_remote.c — placeholder until the suite is written. */
#include "util.h"

Suite *remote_suite(void)
{
    return suite_create("remote");
}
