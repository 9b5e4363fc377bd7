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

#include "slab.h"

/* Known bug class 2 (ci/zoo): the orders that make the queue correct. */
#if HAK_ZOO == 2
#define HAK_PUSH_ORDER memory_order_relaxed
#define HAK_TAKE_ORDER memory_order_relaxed
#else
#define HAK_PUSH_ORDER memory_order_release
#define HAK_TAKE_ORDER memory_order_acquire
#endif

HAK_INTERNAL void remote_init(hak_remote_queue_t *q, uintptr_t key);
/* The whole chain, newest first; NULL when empty. */
HAK_INTERNAL hak_block_t *remote_take(hak_remote_queue_t *q);
HAK_COLD HAK_INTERNAL void remote_report_outside(const hak_block_t *b);
HAK_COLD HAK_INTERNAL void remote_report_node(const hak_block_t *b,
                                              const hak_slab_t *s, int carved);

/* Push and walk are inline: every cross-thread free pushes, and a drain
 * walks a chain whose every node is a cache miss — call overhead on top
 * of that showed as a third of the drain. */
HAK_INLINE void remote_push(hak_remote_queue_t *q, hak_block_t *b)
{
    b->tag = tag_remote(b);
    hak_block_t *head = atomic_load_explicit(&q->head, memory_order_relaxed);
    do {
        b->link = block_encode(b, head, q->key);
    } while (!atomic_compare_exchange_weak_explicit(
        &q->head, &head, b, HAK_PUSH_ORDER, memory_order_relaxed));
}

HAK_INLINE hak_block_t *remote_next(const hak_remote_queue_t *q,
                                    const hak_block_t *b)
{
    return block_decode(b, q->key);
}

/* The consumer's check of one untrusted node before it reads its link:
 * a carved block of a slab owned by h, tagged as queued. Reports and
 * aborts otherwise; returns the node's slab. Owner-side only (reads slab
 * fields only the owner writes). */
HAK_INLINE hak_slab_t *remote_node_check(const hak_heap_t *h, hak_block_t *b)
{
    uintptr_t a = (uintptr_t)b;
    if (HAK_UNLIKELY(!registry_tier(a) || ss_of(a)->owner != h))
        remote_report_outside(b);
    hak_slab_t *s = slab_of(ss_of(a), a);
    int carved = s->cls != HAK_CLASS_NONE &&
                 slab_index(s, a, s->carved) != UINT32_MAX;
    if (HAK_UNLIKELY(!carved || b->tag != tag_remote(b)))
        remote_report_node(b, s, carved);
    return s;
}

/* A cheap peek: the owner drains only when this says there is work. */
HAK_INLINE int remote_pending(hak_remote_queue_t *q)
{
    /* relaxed: a stale NULL only delays the drain to the next refill. */
    return atomic_load_explicit(&q->head, memory_order_relaxed) != NULL;
}

#endif
