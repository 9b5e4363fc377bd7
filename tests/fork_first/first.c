/* first.c — a library with fork handlers that allocate, initialised
 * before the preloaded libhakmem.so.
 *
 * The dynamic loader runs the constructors of a program's own libraries
 * before those of LD_PRELOADed ones (initialisation goes in reverse load
 * order, and preloaded libraries load first), so this constructor's
 * pthread_atfork comes before hakmem's: its prepare handler runs after
 * hakmem's, its parent and child handlers before hakmem's, all while
 * hakmem's prepare handler holds its locks (src/init.c). Each handler,
 * when armed, allocates, reallocates and frees small, mid, large and
 * zero-size blocks through the drop-in malloc. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "first.h"

static int armed;
static int errors;
static void *kept[4];
static void **foreign;

static const size_t sizes[4] = { 100, 5000, 300 << 10, 0 };

static void work(void)
{
    for (unsigned i = 0; i < 4; i++) {
        unsigned char *p = malloc(sizes[i]);
        if (!p) {
            errors++;
            continue;
        }
        memset(p, 0x33, sizes[i]);
        unsigned char *q = realloc(p, 2 * sizes[i] + 1);
        if (!q) {
            errors++;
            free(p);
            continue;
        }
        if (sizes[i] && q[sizes[i] - 1] != 0x33)
            errors++;
        free(q);
    }
}

static void prepare(void)
{
    if (armed != FIRST_PREPARE)
        return;
    work();
    for (unsigned i = 0; i < 4; i++)
        if (!(kept[i] = malloc(sizes[i])))
            errors++;
}

static void parent(void)
{
    if (armed == FIRST_PARENT)
        work();
}

static void child(void)
{
    if (armed != FIRST_CHILD)
        return;
    work();
    /* A block of a thread that did not survive the fork. */
    if (foreign && *foreign) {
        free(*foreign);
        *foreign = NULL;
    }
}

__attribute__((constructor)) static void first_init(void)
{
    if (pthread_atfork(prepare, parent, child) != 0)
        errors++;
}

void first_arm(int kind, void **other_threads_block)
{
    armed = kind;
    foreign = other_threads_block;
}

int first_errors(void)
{
    return errors;
}

void first_free_kept(void)
{
    for (unsigned i = 0; i < 4; i++) {
        free(kept[i]);
        kept[i] = NULL;
    }
}
