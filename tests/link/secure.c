/* secure.c — allocates once; run with HAKMEM_STATS_FILE set, plainly (the
 * file must appear) and as a setuid program (it must not). */
#include <stdlib.h>

int main(void)
{
    void *volatile p = malloc(100);
    free(p);
    return 0;
}
