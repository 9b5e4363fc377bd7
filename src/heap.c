/* heap.c — heap lifecycle (see heap.h). */
#include "heap.h"

#include <pthread.h>

#include "alloc.h"
#include "os.h"
#include "remote.h"
#include "superslab.h"

__thread hak_heap_t *hak_tls_heap __attribute__((tls_model("initial-exec")));

/* What hak_tls_hot points at in a thread without a heap: every class's
 * current slab is the empty one and no superslab is hot, so both fast
 * paths fall through to their slow paths. */
static const hak_heap_hot_t hak_no_heap = {
    .cur = { [0 ... HAK_CLASS_ZERO] = &hak_slab_none },
    .hot_base = UINTPTR_MAX,
};
__thread const hak_heap_hot_t *hak_tls_hot
    __attribute__((tls_model("initial-exec"))) = &hak_no_heap;

static pthread_mutex_t heap_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t heap_key;
static hak_heap_t *all_heaps;              /* every heap, newest first */
static hak_heap_t *pool_head, *pool_tail;  /* abandoned, FIFO */
static uint32_t heap_count;
/* Heaps in the pool; read without the lock as a hint. */
static _Atomic unsigned pool_size;
/* Heaps are carved from metadata chunks (guard pages on both sides, so a
 * user block's overflow never reaches a heap) that are never unmapped. */
static uint8_t *chunk_cur, *chunk_end;
#define HEAP_CHUNK ((size_t)256 << 10)

void heap_lock(void) { pthread_mutex_lock(&heap_mutex); }
void heap_unlock(void) { pthread_mutex_unlock(&heap_mutex); }

static void pool_push(hak_heap_t *h)
{
    h->pool_next = NULL;
    atomic_fetch_add_explicit(&pool_size, 1, memory_order_relaxed);
    if (pool_tail)
        pool_tail->pool_next = h;
    else
        pool_head = h;
    pool_tail = h;
}

static hak_heap_t *pool_pop(void)
{
    hak_heap_t *h = pool_head;
    if (h) {
        atomic_fetch_sub_explicit(&pool_size, 1, memory_order_relaxed);
        pool_head = h->pool_next;
        if (!pool_head)
            pool_tail = NULL;
        h->pool_next = NULL;
    }
    return h;
}

static hak_heap_t *heap_new_locked(void)
{
    size_t size = (sizeof(hak_heap_t) + 63) & ~(size_t)63;
    if (HAK_ZOO == 6) /* zoo 6: each heap its own mapping, see below */
        chunk_cur = NULL;
    if (chunk_cur == NULL || (size_t)(chunk_end - chunk_cur) < size) {
        chunk_cur = os_map_meta(HEAP_CHUNK);
        if (!chunk_cur)
            return NULL;
        chunk_end = chunk_cur + HEAP_CHUNK;
    }
    hak_heap_t *h = (hak_heap_t *)chunk_cur;
    chunk_cur += HAK_ZOO == 6 ? HEAP_CHUNK : size;
    h->hot = hak_no_heap; /* no current slabs, no hot superslab yet */
    h->id = ++heap_count;
    remote_init(&h->remote);
    h->all_next = all_heaps;
    all_heaps = h;
    return h;
}

/* pthread key destructor: the thread is exiting. It may run again if a
 * later destructor allocates (the heap is re-adopted and re-registered). */
static void heap_thread_exit(void *arg)
{
    hak_heap_t *h = arg;
    if (hak_tls_heap != h)
        return;
    heap_quarantine_flush(h);
    heap_flush(h);
    heap_collect(h);
    hak_tls_heap = NULL;
    hak_tls_hot = &hak_no_heap;
    atomic_store_explicit(&h->state, HAK_HEAP_ABANDONED, memory_order_relaxed);
    pthread_mutex_lock(&heap_mutex);
    if (HAK_ZOO == 6) {
        /* zoo 6: the queue record dies with its thread while producers
         * can still push into it. */
        for (hak_heap_t **pp = &all_heaps; *pp; pp = &(*pp)->all_next)
            if (*pp == h) {
                *pp = h->all_next;
                break;
            }
        pthread_mutex_unlock(&heap_mutex);
        os_unmap_meta(h, HEAP_CHUNK);
        return;
    }
    pool_push(h);
    pthread_mutex_unlock(&heap_mutex);
}

void heap_global_init(void)
{
    pthread_key_create(&heap_key, heap_thread_exit);
}

hak_heap_t *heap_get_slow(void)
{
    hak_init();
    pthread_mutex_lock(&heap_mutex);
    hak_heap_t *h = pool_pop();
    if (!h)
        h = heap_new_locked();
    pthread_mutex_unlock(&heap_mutex);
    if (!h)
        return NULL;
    atomic_store_explicit(&h->state, HAK_HEAP_LIVE, memory_order_relaxed);
    /* Set before pthread_setspecific: if it allocates (keys past the first
     * 32 do), the nested malloc finds this heap. */
    hak_tls_heap = h;
    /* HAKMEM_SECURITY: both fast paths stay closed (the static part). */
    hak_tls_hot = hak_g.sec ? &hak_no_heap : &h->hot;
    pthread_setspecific(heap_key, h);
    return h;
}

void heap_flush(hak_heap_t *h)
{
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        slab_retire(h, c);
}

void heap_collect(hak_heap_t *h)
{
    heap_drain(h);
}

unsigned heap_visit_pool(unsigned max, void (*fn)(hak_heap_t *, void *),
                         void *arg)
{
    /* Each heap once at most: the pool rotates (pop the head, push to the
     * tail), and heaps other threads adopt meanwhile simply drop out, so
     * the walk is bounded by the pool's size when it starts. */
    unsigned n = atomic_load_explicit(&pool_size, memory_order_relaxed);
    if (max > n)
        max = n;
    for (n = 0; n < max; n++) {
        pthread_mutex_lock(&heap_mutex);
        hak_heap_t *h = pool_pop();
        pthread_mutex_unlock(&heap_mutex);
        if (!h)
            break;
        /* Exclusive: popped from the pool, bound to no thread. */
        fn(h, arg);
        pthread_mutex_lock(&heap_mutex);
        pool_push(h);
        pthread_mutex_unlock(&heap_mutex);
    }
    return n;
}

static void reclaim_one(hak_heap_t *h, void *trim)
{
    heap_collect(h);
    if (trim)
        superslab_trim(h);
}

unsigned heap_reclaim(unsigned max, int trim)
{
    if (!atomic_load_explicit(&pool_size, memory_order_relaxed))
        return 0;
    return heap_visit_pool(max, reclaim_one, trim ? &max : NULL);
}

void heap_each(void (*fn)(hak_heap_t *, void *), void *arg)
{
    pthread_mutex_lock(&heap_mutex);
    for (hak_heap_t *h = all_heaps; h; h = h->all_next)
        fn(h, arg);
    pthread_mutex_unlock(&heap_mutex);
}

void heap_fork_child(void)
{
    pthread_mutex_init(&heap_mutex, NULL);
    hak_heap_t *me = hak_tls_heap;
    /* The other threads vanished wherever they were, possibly half-way
     * through a malloc or free of their own heap, which takes no lock. Such
     * a heap cannot be trusted, so it is orphaned: never adopted, walked or
     * reclaimed in this process. Frees into it are still accepted (its
     * queue works), and its memory stays with it: a child leaks the caches
     * of the threads it lost, as glibc's does. Abandoned heaps in the pool
     * were consistent when abandoned and stay usable. */
    for (hak_heap_t *h = all_heaps; h; h = h->all_next)
        if (h != me && atomic_load_explicit(&h->state, memory_order_relaxed)
                           == HAK_HEAP_LIVE)
            atomic_store_explicit(&h->state, HAK_HEAP_ORPHANED,
                                  memory_order_relaxed);
    unsigned n = 0;
    for (hak_heap_t *h = pool_head; h; h = h->pool_next)
        n++;
    atomic_store_explicit(&pool_size, n, memory_order_relaxed);
}
