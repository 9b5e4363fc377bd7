/* remote.c — push and take of the MPSC remote-free queue (see remote.h). */
#include "remote.h"

#include "slab.h"

/* Known bug class 2 (ci/zoo): the orders that make the queue correct. */
#if HAK_ZOO == 2
#define PUSH_ORDER memory_order_relaxed
#define TAKE_ORDER memory_order_relaxed
#else
#define PUSH_ORDER memory_order_release
#define TAKE_ORDER memory_order_acquire
#endif

void remote_init(hak_remote_queue_t *q, uintptr_t key)
{
    atomic_init(&q->head, NULL);
    q->key = key;
}

void remote_push(hak_remote_queue_t *q, hak_block_t *b)
{
    b->tag = tag_remote(b);
    hak_block_t *head = atomic_load_explicit(&q->head, memory_order_relaxed);
    do {
        b->link = block_encode(b, head, q->key);
    } while (!atomic_compare_exchange_weak_explicit(
        &q->head, &head, b, PUSH_ORDER, memory_order_relaxed));
}

hak_block_t *remote_take(hak_remote_queue_t *q)
{
    if (!remote_pending(q))
        return NULL;
    return atomic_exchange_explicit(&q->head, NULL, TAKE_ORDER);
}

hak_block_t *remote_next(const hak_remote_queue_t *q, const hak_block_t *b)
{
    return block_decode(b, q->key);
}
