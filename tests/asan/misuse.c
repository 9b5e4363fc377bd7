/* misuse.c MODE — a heap bug on a hakmem block, for a debug core built
 * with -fsanitize=address: ASan must report it with its own stack trace
 * (hakmem poisons free blocks and slack through ASan's manual interface).
 *   uaf       read a tiny block after free
 *   overflow  write one byte past a 24-byte request (slack, not the next
 *             block: only the poisoning can see it at the access)
 *   large     read a large block after free (it stays cached, mapped)
 * ci/asan-check.sh runs each mode and requires ASan's report naming this
 * file's line. */
#include <stdio.h>
#include <string.h>

#include "hakmem.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "uaf";
    if (!strcmp(mode, "uaf")) {
        char *p = hak_malloc(40);
        memset(p, 1, 40);
        hak_free(p);
        volatile char c = p[20]; /* ASAN-LINE uaf */
        (void)c;
    } else if (!strcmp(mode, "overflow")) {
        char *q = hak_malloc(24);
        q[24] = 1; /* ASAN-LINE overflow */
        hak_free(q);
    } else {
        char *l = hak_malloc(100000);
        memset(l, 1, 100000);
        hak_free(l);
        volatile char c = l[5000]; /* ASAN-LINE large */
        (void)c;
    }
    printf("no report\n");
    return 0;
}
