/* bug.c — a program with three heap bugs that memcheck must report when
 * it runs on the debug core (hakmem announces its blocks with client
 * requests): a use after free, an overflow into the slack behind a block,
 * and a leak. ci/valgrind.sh requires all three reports. The overflowed
 * block is never freed, so hakmem's own canary check stays out of it. */
#include <stdio.h>
#include <string.h>

#include "hakmem.h"

__attribute__((noinline)) static void leak(void)
{
    char *lost = hak_malloc(100);
    memset(lost, 1, 100);
}

int main(void)
{
    char *p = hak_malloc(40);
    memset(p, 1, 40);
    hak_free(p);
    volatile char c = p[20]; /* use after free */
    (void)c;
    char *q = hak_malloc(24);
    q[24] = 1;               /* one byte past the request */
    leak();
    printf("bug program done\n");
    return 0;
}
