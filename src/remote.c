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

hak_slab_t *remote_node_check(const hak_heap_t *h, hak_block_t *b)
{
    uintptr_t a = (uintptr_t)b;
    if (HAK_UNLIKELY(!registry_tier(a) || ss_of(a)->owner != h))
        hak_report(HAK_CHECK_FREELIST, b,
                   (hak_where_t){ HAK_WHERE_NONE, 0, NULL },
                   " (remote node outside the heap)");
    hak_slab_t *s = slab_of(ss_of(a), a);
    if (HAK_UNLIKELY(s->cls == HAK_CLASS_NONE ||
                     slab_index(s, a, s->carved) == UINT32_MAX))
        hak_report(HAK_CHECK_FREELIST, b, slab_where(s),
                   " (remote node not a carved block)");
    if (HAK_UNLIKELY(b->tag != tag_remote(b)))
        hak_report(HAK_CHECK_REMOTE, b, slab_where(s), NULL);
    return s;
}
