/* version.c — include/hakmem.h's version macros are consistent: prints
 * HAKMEM_VERSION_STRING (run.sh compares it with the version the
 * Makefile read from the same header, which names the libraries). */
#include <stdio.h>

#include "hakmem.h"

#if !defined(HAKMEM_VERSION_MAJOR) || !defined(HAKMEM_VERSION_MINOR) || \
    !defined(HAKMEM_VERSION_PATCH) || !defined(HAKMEM_VERSION)
#error "hakmem.h lacks a version macro"
#endif
#if HAKMEM_VERSION != HAKMEM_VERSION_MAJOR * 10000 + HAKMEM_VERSION_MINOR * 100 + HAKMEM_VERSION_PATCH
#error "HAKMEM_VERSION disagrees with MAJOR/MINOR/PATCH"
#endif

int main(void)
{
    char parts[32];
    snprintf(parts, sizeof parts, "%d.%d.%d", HAKMEM_VERSION_MAJOR, HAKMEM_VERSION_MINOR,
             HAKMEM_VERSION_PATCH);
    printf("%s %s\n", HAKMEM_VERSION_STRING, parts);
    return 0;
}
