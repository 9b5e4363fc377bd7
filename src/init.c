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
#include "lock.h"
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

/* ---- fork -----------------------------------------------------------------
 * The problem: fork must not copy a lock some other thread holds, so
 * prepare takes every allocator lock; but other libraries' handlers run
 * around hakmem's in an order set by registration. Prepare handlers run in
 * reverse order of registration, parent and child handlers in order: a
 * library initialised before hakmem (its handlers registered first) runs
 * its prepare handler after hakmem's and its parent and child handlers
 * before hakmem's, all while hakmem's locks are held. If those handlers
 * allocate, the thread waits for a lock it holds itself.
 *
 * How others solve it:
 *   glibc    fork() itself locks malloc after running every prepare
 *            handler and unlocks it before running any parent or child
 *            handler (its malloc fork functions are called directly, not
 *            registered), so no handler ever runs with malloc locked. An
 *            interposed allocator cannot get that slot.
 *   jemalloc registers pthread_atfork handlers at its initialisation (on
 *            FreeBSD libc calls its prefork/postfork hooks directly, as
 *            glibc does for its own malloc). Under glibc, handlers
 *            registered before jemalloc's that allocate find its
 *            (non-recursive) mutexes held and deadlock: it relies on being
 *            initialised, and registered, before anyone else.
 *   mimalloc registers no fork handlers: its heaps are per-thread and
 *            what they share is updated with atomics, so there is no lock
 *            to hold across fork (and a structure another thread was
 *            half-way through updating is the child's to live with).
 * hakmem keeps its locks (the large table, the registry's list and the
 * heap pool are mutex-protected by design) and cannot register first, so
 * it makes them re-entrant for the forking thread during fork: prepare
 * takes every lock, then marks the calling thread as the fork holder
 * (src/lock.h); while marked, that thread's lock calls are no-ops. That is
 * sound because it holds every lock: no other thread is inside any locked
 * section, and the forking thread runs handlers between allocator calls,
 * never inside one. The parent handler clears the mark and unlocks; the
 * child handler clears it and re-initialises the locks. So handlers
 * registered before or after hakmem's may allocate and free in every tier,
 * in the parent and in the child, in either flavour. */
__thread int hak_tls_fork_holder __attribute__((tls_model("initial-exec")));

static void fork_prepare(void)
{
    heap_lock();
    registry_lock();
    large_lock();
    zero_lock();
    hak_tls_fork_holder = 1;
}

static void fork_parent(void)
{
    hak_tls_fork_holder = 0;
    zero_unlock();
    large_unlock();
    registry_unlock();
    heap_unlock();
}

/* The child re-initialises the locks and orphans the heaps of the threads
 * that did not survive (src/heap.h). Child handlers registered before this
 * one ran already, as the fork holder, with those heaps still live: their
 * frees into them went through the heaps' queues, as any remote free. */
static void fork_child(void)
{
    hak_tls_fork_holder = 0;
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
