/* test_death.c — placeholder until the suite is written. */
#include "util.h"

Suite *death_suite(void)
{
    return suite_create("death");
}
