/* test_align.c — placeholder until the suite is written. */
#include "util.h"

Suite *align_suite(void)
{
    return suite_create("align");
}
