/* remote.c — the owner's end of the remote-free queue (see remote.h). */
#include "remote.h"

void hak_remote_init(hak_remote_queue_t *q)
{
    atomic_init(&q->head, NULL);
}

hak_slab_t *hak_remote_take(hak_remote_queue_t *q)
{
    if (!remote_pending(q))
        return NULL;
    return atomic_exchange_explicit(&q->head, NULL, HAK_TAKE_ORDER);
}
