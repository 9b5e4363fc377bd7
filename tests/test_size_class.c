/* test_size_class.c — placeholder until the suite is written. */
#include "util.h"

Suite *size_class_suite(void)
{
    return suite_create("size_class");
}
