/* needed.c — linked with -lhakmem (the libhakmem.so link-time name):
 * runs against libhakmem.so.MAJOR and its malloc is hakmem's. Prints the
 * flavour the library reports. */
#include <stdio.h>
#include <stdlib.h>

#include "hakmem.h"

int main(void)
{
    hak_stats_t before, after;
    hak_stats_get(&before);
    void *p = malloc(48);
    hak_stats_get(&after);
    if (!p || after.allocs <= before.allocs) {
        fprintf(stderr, "needed: malloc is not hakmem's\n");
        return 1;
    }
    free(p);
    puts(hak_is_debug() ? "debug" : "release");
    return 0;
}
