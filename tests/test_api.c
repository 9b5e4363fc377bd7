/* test_api.c — placeholder until the suite is written. */
#include "util.h"

Suite *api_suite(void)
{
    return suite_create("api");
}
