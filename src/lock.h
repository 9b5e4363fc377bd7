/* lock.h — the allocator's mutexes, and the thread that forks.
 *
 * Every mutex of the allocator (heaps, registry, large table, zero
 * regions) is taken through hak_mutex_lock/unlock. fork's prepare handler
 * (src/init.c) takes all of them and then marks the calling thread as the
 * fork holder: from then until the parent or child handler clears the
 * mark, that thread owns every lock, no other thread can be inside any
 * locked section, and its own lock calls are no-ops. So other libraries'
 * fork handlers that run while hakmem's locks are held (prepare handlers
 * registered before hakmem's run after it; parent and child handlers
 * registered before hakmem's run before it) can allocate and free in every
 * tier without deadlocking on a lock their own thread holds.
 *
 * Invariant: the mark changes only inside hakmem's fork handlers, which
 * run outside any allocator call of their thread, so a lock skipped
 * because of the mark is never unlocked for real, and the reverse.
 */
#ifndef HAK_LOCK_H
#define HAK_LOCK_H

#include <pthread.h>

#include "types.h"

/* Nonzero in the thread that forks, between hakmem's prepare handler and
 * its parent or child handler (src/global.c). initial-exec: see
 * hak_tls_heap in src/types.h. */
extern __thread int hak_tls_fork_holder
    __attribute__((tls_model("initial-exec")));

HAK_INLINE void hak_mutex_lock(pthread_mutex_t *m)
{
    if (HAK_LIKELY(!hak_tls_fork_holder))
        pthread_mutex_lock(m);
}

HAK_INLINE void hak_mutex_unlock(pthread_mutex_t *m)
{
    if (HAK_LIKELY(!hak_tls_fork_holder))
        pthread_mutex_unlock(m);
}

#endif
