/* remote.c — push and take of the MPSC remote-free queue (see remote.h). */
#include "remote.h"

#include "slab.h"

void remote_init(hak_remote_queue_t *q, uintptr_t key)
{
    atomic_init(&q->head, NULL);
    q->key = key;
}

hak_block_t *remote_take(hak_remote_queue_t *q)
{
    if (!remote_pending(q))
        return NULL;
    return atomic_exchange_explicit(&q->head, NULL, HAK_TAKE_ORDER);
}

/* The reports of remote_node_check (remote.h), out of line. */
void remote_report_outside(const hak_block_t *b)
{
    hak_report(HAK_CHECK_FREELIST, b, (hak_where_t){ HAK_WHERE_NONE, 0, NULL },
               " (remote node outside the heap)");
}

void remote_report_node(const hak_block_t *b, const hak_slab_t *s,
                        int carved)
{
    if (!carved)
        hak_report(HAK_CHECK_FREELIST, b, slab_where(s),
                   " (remote node not a carved block)");
    hak_report(HAK_CHECK_REMOTE, b, slab_where(s), NULL);
}
