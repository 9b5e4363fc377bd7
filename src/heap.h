/* heap.h — per-thread heaps: creation, adoption, abandonment, fork.
 *
 * Life of a heap:
 *   LIVE       bound to one thread through hak_tls_heap; tid is that
 *              thread's kernel id.
 *   ABANDONED  its thread exited: the pthread key destructor gave it back,
 *              or (a heap bound after the last destructor round, or no
 *              key) heap_sweep found its thread gone from the kernel. It
 *              sits in the pool with all its superslabs. Other
 *              threads may still push remote frees into its queue; they are
 *              never lost, because the queue lives in the heap and heaps are
 *              never unmapped.
 *   ORPHANED   its thread vanished in a fork (the child keeps only the
 *              forking thread): it may be half-way through an update, so
 *              it is never reused; frees into it are still accepted.
 *   A new thread adopts a whole heap from the pool before it makes one, so
 *   abandoned memory is reused. hak_heap_reclaim drains pooled heaps and
 *   returns their empty slabs, so frees into a dead thread's blocks do not
 *   pile up while no thread adopts it.
 * Locks: one mutex for the list of all heaps, the pool, and every heap's
 *   state and tid. The owner of a heap needs no lock for anything else in
 *   it.
 */
#ifndef HAK_HEAP_H
#define HAK_HEAP_H

#include "types.h"

/* hak_tls_heap, the calling thread's heap, is declared in types.h: every
 * layer reads it; this one binds it (hak_heap_get_slow). Why both are
 * initial-exec TLS is said there. */

/* &hak_tls_heap->hot (the heap's first member), or a static hak_heap_hot_t
 * that sends both fast paths slow while hak_tls_heap is NULL: the fast
 * paths' only load of thread state, with no NULL test. */
extern __thread const hak_heap_hot_t *hak_tls_hot
    __attribute__((tls_model("initial-exec")));

/* The heap whose hot part hot is (never the static one). */
HAK_INLINE hak_heap_t *heap_of_hot(const hak_heap_hot_t *hot)
{
    return (hak_heap_t *)(uintptr_t)hot;
}

HAK_INTERNAL void hak_heap_global_init(void);
/* The calling thread's heap, adopting or creating one; NULL if the OS has
 * no memory for one. */
HAK_INTERNAL hak_heap_t *hak_heap_get_slow(void);
/* Drain the queue, hand back what is empty. Owner (or exclusive holder). */
HAK_INTERNAL void hak_heap_collect(hak_heap_t *h);
/* Retire every class's current slab so empty slabs can be released. */
HAK_INTERNAL void hak_heap_flush(hak_heap_t *h);
/* Collect up to `max` abandoned heaps (and with `trim`, give back their
 * unused pages); returns how many it visited. */
HAK_INTERNAL unsigned hak_heap_reclaim(unsigned max, int trim);
/* Calls fn on up to `max` abandoned heaps, each held exclusively (out of
 * the pool) during the call; returns how many it visited. */
HAK_INTERNAL unsigned hak_heap_visit_pool(unsigned max,
                                      void (*fn)(hak_heap_t *, void *),
                                      void *arg);
/* Calls fn on every heap ever made, under the heap lock. */
HAK_INTERNAL void hak_heap_each(void (*fn)(hak_heap_t *, void *), void *arg);
HAK_INTERNAL void hak_heap_lock(void);
HAK_INTERNAL void hak_heap_unlock(void);
/* In a fork child: every live heap but the caller's is orphaned. */
HAK_INTERNAL void hak_heap_fork_child(void);

#endif
