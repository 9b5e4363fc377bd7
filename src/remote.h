/* remote.h — the lock-free MPSC queue of cross-thread frees, one per heap.
 *
 * Producers: any thread freeing a block whose superslab another heap owns.
 *   remote_push links the block in front of the head with a CAS loop; the
 *   CAS has release order so the block's link word and tag, written before
 *   it, are visible to whoever acquires the head.
 * Consumer: the owning heap's thread only (or, for an abandoned heap, the
 *   thread holding it exclusively under the pool lock). remote_take swaps
 *   the head for NULL with acquire order and gets the whole chain at once:
 *   there is no CAS-pop, so there is no ABA.
 * Untrusted: everything in a chain was written by other threads, so the
 *   consumer validates each node (src/alloc.c heap_drain) before it touches
 *   slab metadata, and the debug flavour sanitises the whole chain first.
 * Invariant: a block is in at most one chain, and its tag is tag_remote()
 *   from the push until the drain rewrites it.
 */
#ifndef HAK_REMOTE_H
#define HAK_REMOTE_H

#include "types.h"

HAK_INTERNAL void remote_init(hak_remote_queue_t *q, uintptr_t key);
HAK_INTERNAL void remote_push(hak_remote_queue_t *q, hak_block_t *b);
/* The whole chain, newest first; NULL when empty. */
HAK_INTERNAL hak_block_t *remote_take(hak_remote_queue_t *q);
HAK_INTERNAL hak_block_t *remote_next(const hak_remote_queue_t *q,
                                      const hak_block_t *b);

/* The consumer's check of one untrusted node before it reads its link:
 * a carved block of a slab owned by h, tagged as queued. Reports and
 * aborts otherwise; returns the node's slab. Owner-side only (reads slab
 * fields only the owner writes). */
HAK_INTERNAL hak_slab_t *remote_node_check(const hak_heap_t *h,
                                           hak_block_t *b);

/* A cheap peek: the owner drains only when this says there is work. */
HAK_INLINE int remote_pending(hak_remote_queue_t *q)
{
    /* relaxed: a stale NULL only delays the drain to the next refill. */
    return atomic_load_explicit(&q->head, memory_order_relaxed) != NULL;
}

#endif
