/* init.c — process-wide state, initialisation, fork and exit handlers.
 *
 * hak_init runs on the first allocation or from the constructor, whichever
 * comes first; it calls nothing that allocates. The constructor registers
 * the fork handlers early, before the program can start threads.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"

#include "alloc.h"
#include "heap.h"
#include "large.h"
#include "os.h"
#include "registry.h"
#include "vg.h"
#include "zero.h"

hak_global_t hak_g;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* An environment number, or def; never allocates (getenv does not). */
static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    long n = 0;
    for (; *v >= '0' && *v <= '9'; v++)
        n = n * 10 + (*v - '0');
    return n;
}

/* HAKMEM_SECURITY: a comma-separated list of canary, zero, delay, or
 * strong for all three. A word it does not know is ignored. */
static unsigned env_security(const char *name)
{
    static const struct { const char *word; unsigned bits; } words[] = {
        { "canary", HAK_SEC_CANARY }, { "zero", HAK_SEC_ZERO },
        { "delay", HAK_SEC_DELAY },
        { "strong", HAK_SEC_CANARY | HAK_SEC_ZERO | HAK_SEC_DELAY },
    };
    const char *v = getenv(name);
    unsigned sec = 0;
    while (v && *v) {
        size_t n = strcspn(v, ",");
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            if (strlen(words[i].word) == n && !strncmp(v, words[i].word, n))
                sec |= words[i].bits;
        v += n + (v[n] == ',');
    }
    return sec;
}

static void init_once_body(void)
{
    /* The report goes to a copy of stderr taken now: programs such as
     * coreutils close fd 2 before exit handlers run. */
    if (env_long("HAKMEM_STATS", 0) != 0)
        hak_g.stats_fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
    hak_g.large_cache_bytes = (size_t)env_long("HAKMEM_LARGE_CACHE_MB", 64)
                              << 20;
    hak_g.sec = HAK_DEBUG ? 0 : env_security("HAKMEM_SECURITY");
    hak_g.on_valgrind = (int)RUNNING_ON_VALGRIND;
    heap_global_init();
    atomic_store_explicit(&hak_g.ready, 1, memory_order_release);
}

void hak_init(void)
{
    if (HAK_LIKELY(atomic_load_explicit(&hak_g.ready, memory_order_acquire)))
        return;
    pthread_once(&init_once, init_once_body);
}

/* fork: every lock is taken in prepare so no structure is half-updated
 * in the child; the child re-initialises the locks, abandons the heaps of
 * the threads that did not survive. */
static void fork_prepare(void)
{
    heap_lock();
    registry_lock();
    large_lock();
    zero_lock();
}

static void fork_parent(void)
{
    zero_unlock();
    large_unlock();
    registry_unlock();
    heap_unlock();
}

static void fork_child(void)
{
    zero_reinit_lock();
    large_reinit_lock();
    registry_reinit_lock();
    heap_fork_child();
}

__attribute__((constructor)) static void hak_constructor(void)
{
    hak_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((destructor)) static void hak_destructor(void)
{
    if (hak_g.stats_fd > 0)
        hak_stats_print(hak_g.stats_fd);
}
