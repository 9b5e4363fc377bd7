/* own_names.c — a program whose own functions carry the names of hakmem's
 * internals links against libhakmem.a and libhakmem_core.a, and both its
 * functions and hakmem's allocator work: the archives keep their internal
 * names local (one relocatable object, hidden symbols localised; see the
 * Makefile). Built with -DDROPIN against libhakmem.a (malloc is hakmem's),
 * without against libhakmem_core.a (hak_malloc only). Prints "own names
 * ok" and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

/* Deliberately the names (not the signatures) of hakmem internals. */
int hak_os_map(int x);
int hak_heap_drain(int x);
int hak_large_alloc(int x);
int hak_os_map(int x) { return x + 1; }
int hak_heap_drain(int x) { return x * 2; }
int hak_large_alloc(int x) { return x - 3; }

int main(void)
{
    if (hak_os_map(1) != 2 || hak_heap_drain(21) != 42 || hak_large_alloc(3) != 0) {
        fprintf(stderr, "own_names: the program's own functions were replaced\n");
        return 1;
    }
    hak_stats_t before, after;
    hak_stats_get(&before);
#ifdef DROPIN
    char *small = malloc(100), *big = malloc(1 << 20);
#else
    char *small = hak_malloc(100), *big = hak_malloc(1 << 20);
#endif
    if (!small || !big) {
        fprintf(stderr, "own_names: allocation failed\n");
        return 1;
    }
    memset(small, 1, 100);
    memset(big, 2, 1 << 20);
    hak_stats_get(&after);
    /* Both allocations were hakmem's: its counters saw them. */
    if (after.allocs < before.allocs + 2 || after.large_allocs < before.large_allocs + 1 ||
        hak_malloc_usable_size(small) < 100) {
        fprintf(stderr, "own_names: the blocks are not hakmem's\n");
        return 1;
    }
#ifdef DROPIN
    free(small);
    free(big);
#else
    hak_free(small);
    hak_free(big);
#endif
    hak_check_heap();
    puts("own names ok");
    return 0;
}
