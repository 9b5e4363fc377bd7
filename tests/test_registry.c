/* test_registry.c — placeholder until the suite is written. */
#include "util.h"

Suite *registry_suite(void)
{
    return suite_create("registry");
}
