/* remote.h — frees from other threads: a bit per slot, a queue of slabs.
 *
 * A thread that frees a block of another heap's slab never writes into
 * the block. It sets the slot's bit in the slab's rbits with an atomic OR;
 * the first bit of a word also sets the word's bit in rsum, and the first
 * bit of rsum queues the slab on its owner heap's MPSC queue:
 *   remote_free_bits  fetch_or rbits[k] (acq_rel), then rsum on 0 -> 1
 *   remote_push       CAS the slab onto the heap's head (release)
 * The owner takes the whole queue at once (hak_remote_take: exchange with
 * acquire, so there is no CAS-pop and no ABA), then for each slab reads
 * rnext, swaps rsum for 0 and each flagged rbits word for 0 (acq_rel) and
 * merges the words into bits (src/slab.c hak_heap_drain).
 * Why acq_rel on the words: a freer that finds its word empty after the
 * owner's swap must also see the owner's reset of rsum, so that it queues
 * the slab again; RMWs of one word are totally ordered, so the freer's
 * fetch_or either precedes the owner's swap (which then takes its bit) or
 * reads from it (and synchronises with the reset sequenced before it).
 * A slab is queued at most once: only rsum's 0 -> nonzero step pushes it,
 * and rsum returns to 0 only after the owner popped it and read rnext.
 * Nothing here is read from user memory; queue nodes are descriptors in
 * the guarded slab 0 of their superslab.
 */
#ifndef HAK_REMOTE_H
#define HAK_REMOTE_H

#include "slab.h"

/* The orders that make remote frees correct (see above). */
#define HAK_PUSH_ORDER memory_order_release
#define HAK_TAKE_ORDER memory_order_acquire
#define HAK_BITS_ORDER memory_order_acq_rel

HAK_INTERNAL void hak_remote_init(hak_remote_queue_t *q);
/* The whole queue, newest first, linked by rnext; NULL when empty. */
HAK_INTERNAL hak_slab_t *hak_remote_take(hak_remote_queue_t *q);

HAK_INLINE void remote_push(hak_remote_queue_t *q, hak_slab_t *s)
{
    hak_slab_t *head = atomic_load_explicit(&q->head, memory_order_relaxed);
    do {
        s->rnext = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &q->head, &head, s, HAK_PUSH_ORDER, memory_order_relaxed));
}

/* Marks slot i of s freed by this (non-owner) thread, queueing s on q
 * when it was not queued. Returns the word's bits before: if slot i's
 * bit was already set, the block was freed twice (the caller reports). */
HAK_INLINE uint64_t remote_free_bits(hak_remote_queue_t *q, hak_slab_t *s,
                                     uint32_t i)
{
    size_t k = slot_word(i);
    uint64_t old = atomic_fetch_or_explicit(&slab_rbits(s)[k], slot_bit(i),
                                            HAK_BITS_ORDER);
    if (old == 0 &&
        atomic_fetch_or_explicit(&s->rsum, (uint64_t)1 << k,
                                 HAK_BITS_ORDER) == 0)
        remote_push(q, s);
    return old;
}

/* A cheap peek: the owner drains only when this says there is work. */
HAK_INLINE int remote_pending(hak_remote_queue_t *q)
{
    /* relaxed: a stale NULL only delays the drain to the next refill
     * that leaves a slab. */
    return atomic_load_explicit(&q->head, memory_order_relaxed) != NULL;
}

#endif
