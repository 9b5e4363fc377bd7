/* init.c — the composition root (init.h): initialisation of the
 * process-wide state (defined in src/global.c), fork and exit handlers.
 *
 * hak_init runs on the first allocation or from the constructor, whichever
 * comes first; it calls nothing that allocates. The constructor registers
 * the fork handlers early, before the program can start threads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "hakmem.h"

#include "heap.h"
#include "init.h"
#include "large.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "registry.h"
#include "vg.h"
#include "zero.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_once_body(void)
{
    /* Warnings go to stderr now; the report goes where hak_stats_exit
     * finds it at exit (stderr as it is then, or HAKMEM_STATS_FILE). */
    /* A setuid or setgid program (AT_SECURE) takes no HAKMEM_ variable:
     * its caller chooses them, and HAKMEM_STATS_FILE would let it append
     * to any file as the program's owner. */
    (void)hak_options_parse(getauxval(AT_SECURE) ? NULL : environ, &hak_opt, 2);
    hak_g.large_cache_bytes = (size_t)hak_opt.large_cache_bytes;
    hak_g.large_huge_bytes = (size_t)hak_opt.large_huge_bytes;
    hak_g.sec = HAK_DEBUG ? 0 : hak_opt.security;
    hak_g.on_valgrind = (int)RUNNING_ON_VALGRIND;
    hak_heap_global_init();
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
 * never inside one. The parent and child handlers clear the mark and
 * unlock (the child's one thread is the one that locked). So handlers
 * registered before or after hakmem's may allocate and free in every tier,
 * in the parent and in the child, in either flavour. (The mark,
 * hak_tls_fork_holder, is defined in src/global.c.) */

/* Lock order, outermost first: heap pool, large table, zero regions,
 * registry (hak_zero_alloc registers its region under the zero lock; a
 * superslab is registered or removed under none or the heap lock). prepare
 * takes them in that order, or a thread inside hak_zero_alloc and the forking
 * thread could each wait for the other's lock. */
static void fork_prepare(void)
{
    hak_heap_lock();
    hak_large_lock();
    hak_zero_lock();
    hak_registry_lock();
    hak_tls_fork_holder = 1;
}

static void fork_parent(void)
{
    hak_tls_fork_holder = 0;
    hak_registry_unlock();
    hak_zero_unlock();
    hak_large_unlock();
    hak_heap_unlock();
}

/* The child orphans the heaps of the threads that did not survive
 * (src/heap.h). Child handlers registered before this
 * one ran already, as the fork holder, with those heaps still live: their
 * frees into them went through the heaps' queues, as any remote free. */
static void fork_child(void)
{
    hak_heap_fork_child();
    /* The child's one thread is the one that took the locks in prepare
     * (default mutexes, so its unlock releases them): unlocked, not
     * re-initialised, which would be undefined on a locked mutex. */
    fork_parent();
}

__attribute__((constructor)) static void hak_constructor(void)
{
    hak_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((destructor)) static void hak_destructor(void)
{
    hak_stats_exit();
}
