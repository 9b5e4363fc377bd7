/* heap.c — heap lifecycle (see heap.h). */
#include "heap.h"

#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "lock.h"
#include "os.h"
#include "remote.h"
#include "slab_list.h"
#include "superslab.h"

/* What hak_tls_hot points at in a thread without a heap: every class's
 * current slab is the empty one and no superslab is hot, so both fast
 * paths fall through to their slow paths. */
static const hak_heap_hot_t hak_no_heap = {
    .cur = { [0 ... HAK_CLASS_ZERO] = &hak_slab_none },
    .hot_ss = { [0 ... HAK_HOT_WAYS - 1] = HAK_HOT_NONE },
};
__thread const hak_heap_hot_t *hak_tls_hot
    __attribute__((tls_model("initial-exec"))) = &hak_no_heap;

static pthread_mutex_t heap_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t heap_key;
/* pthread_key_create succeeded: heaps are abandoned at thread exit. */
static int heap_key_ok;
static hak_heap_t *all_heaps;              /* every heap, newest first */
static hak_heap_t *pool_head, *pool_tail;  /* abandoned, FIFO */
static uint32_t heap_count;
/* Heaps in the pool; read without the lock as a hint. */
static _Atomic unsigned pool_size;
/* Where the sweep for heaps of vanished threads goes on (heap_sweep). */
static hak_heap_t *sweep_cur;
/* Live heaps bound by a thread after its key destructor had run, in a
 * later destructor round: the thread is ending, perhaps with no round left
 * to abandon them. Every sweep looks at all of them first (they are few:
 * threads ending now). Linked through pool_next (a live heap is never in
 * the pool); n_suspects is read without the lock as a hint. */
static hak_heap_t *suspects;
static _Atomic unsigned n_suspects;
/* This thread's key destructor has run: it is in its destructor rounds. */
static __thread int tls_exiting __attribute__((tls_model("initial-exec")));
/* Heaps are carved from metadata chunks (guard pages on both sides, so a
 * user block's overflow never reaches a heap) that are never unmapped. */
static uint8_t *chunk_cur, *chunk_end;
#define HEAP_CHUNK ((size_t)256 << 10)

void hak_heap_lock(void) { pthread_mutex_lock(&heap_mutex); }
void hak_heap_unlock(void) { pthread_mutex_unlock(&heap_mutex); }

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
    if (chunk_cur == NULL || (size_t)(chunk_end - chunk_cur) < size) {
        chunk_cur = hak_os_map_meta(HEAP_CHUNK);
        if (!chunk_cur)
            return NULL;
        chunk_end = chunk_cur + HEAP_CHUNK;
    }
    hak_heap_t *h = (hak_heap_t *)chunk_cur;
    chunk_cur += size;
    h->hot = hak_no_heap; /* no current slabs, no hot superslabs yet */
    h->id = ++heap_count;
    hak_remote_init(&h->remote);
    h->all_next = all_heaps;
    all_heaps = h;
    return h;
}

/* ---- Thread exit -----------------------------------------------------------
 * A thread's heap goes back to the pool when the thread exits, whatever
 * its key destructors do. Usually the key destructor abandons it. But a
 * destructor of another library may allocate after it, binding a heap
 * again; glibc runs key destructors in at most PTHREAD_DESTRUCTOR_ITERATIONS
 * (4) rounds, so a heap bound in the last round (or by a thread whose first
 * allocation is there) has no destructor left to abandon it, and after the
 * rounds nothing of the thread runs that a library can hook (C++
 * thread_local destructors run before the keys'; __libc_thread_freeres is
 * glibc's own). Without a key (pthread_key_create failed) no heap has one.
 *
 * So every live heap records its thread's kernel id (tid, set at binding),
 * and a live heap whose thread is gone is abandoned by whoever notices.
 * A heap bound after its thread's key destructor ran is a suspect: its
 * thread is in its destructor rounds. hak_heap_get_slow looks at every suspect
 * and, when the pool is empty and it would make a new heap, at the next
 * two live heaps in turn (amortised: two system calls per heap made, for
 * the threads whose first allocation is in the last round); trim looks at
 * all of them. Without the suspects, the turn alone left about half the
 * heaps dead and holding memory while new ones were made (stress/exits
 * grew without bound). "Gone" is the kernel's
 * word: tgkill(pid, tid, 0) fails with ESRCH only once the thread has left
 * the kernel too, so it can never touch its heap again, and a heap cannot
 * be left half-way through an update (threads do not end inside malloc).
 * A reused id only delays the return. The kernel drops a thread's id just
 * after the thread's joiner is woken, so a heap may be noticed one call
 * late, never early. */

static int tid_gone(int32_t tid)
{
    int saved = errno;
    int gone = syscall(SYS_tgkill, (long)getpid(), (long)tid, 0) != 0 &&
               errno == ESRCH;
    errno = saved;
    return gone;
}

/* h, held exclusively (its thread exited or is exiting, and h is no
 * longer its hak_tls_heap), gives back what it can and joins the pool. */
/* Takes h off the suspects if it is there. Heap lock held. */
static void suspect_remove(hak_heap_t *h)
{
    for (hak_heap_t **pp = &suspects; *pp; pp = &(*pp)->pool_next)
        if (*pp == h) {
            *pp = h->pool_next;
            h->pool_next = NULL;
            atomic_fetch_sub_explicit(&n_suspects, 1, memory_order_relaxed);
            return;
        }
}

static void heap_abandon(hak_heap_t *h)
{
    hak_heap_quarantine_flush(h);
    hak_heap_flush(h);
    hak_heap_collect(h);
    /* One spare a tier for the thread that adopts h; the others' memory
     * would wait for that thread, which may never come. */
    hak_superslab_keep_spares(h, 1);
    hak_mutex_lock(&heap_mutex);
    suspect_remove(h);
    h->tid = 0;
    atomic_store_explicit(&h->state, HAK_HEAP_ABANDONED, memory_order_relaxed);
    pool_push(h);
    hak_mutex_unlock(&heap_mutex);
}

/* Looks at up to `max` heaps, in turn over every heap; live ones whose
 * thread is gone are abandoned. Returns how many were. */
/* A live heap no thread will touch again: its thread is gone. Heap lock
 * held. */
static int heap_dead(const hak_heap_t *h)
{
    return h != hak_tls_heap && h->tid &&
           atomic_load_explicit(&h->state, memory_order_relaxed) ==
               HAK_HEAP_LIVE &&
           tid_gone(h->tid);
}

/* Ours now (no thread has h, and it is neither in the pool nor among the
 * suspects): onto the caller's list, linked through pool_next. */
static void dead_push(hak_heap_t **dead, hak_heap_t *h)
{
    h->tid = 0;
    h->pool_next = *dead;
    *dead = h;
}

static unsigned heap_sweep(unsigned max)
{
    hak_heap_t *dead = NULL;
    unsigned n = 0;
    hak_mutex_lock(&heap_mutex);
    for (hak_heap_t **pp = &suspects; *pp;) {
        hak_heap_t *h = *pp;
        if (heap_dead(h)) {
            *pp = h->pool_next;
            atomic_fetch_sub_explicit(&n_suspects, 1, memory_order_relaxed);
            dead_push(&dead, h);
            n++;
        } else {
            pp = &h->pool_next;
        }
    }
    if (max > heap_count)
        max = heap_count;
    for (unsigned i = 0; i < max; i++) {
        hak_heap_t *h = sweep_cur ? sweep_cur : all_heaps;
        if (!h)
            break;
        sweep_cur = h->all_next;
        if (heap_dead(h)) {
            /* A suspect whose thread ended since the loop above: off the
             * suspects first, or pool_next would link both lists. */
            suspect_remove(h);
            dead_push(&dead, h);
            n++;
        }
    }
    hak_mutex_unlock(&heap_mutex);
    while (dead) {
        hak_heap_t *h = dead;
        dead = h->pool_next;
        heap_abandon(h);
    }
    return n;
}

/* pthread key destructor: the thread is exiting. It may run again if a
 * later destructor allocates (the heap is bound and the key set again);
 * what escapes the last round, heap_sweep finds. */
static void heap_thread_exit(void *arg)
{
    hak_heap_t *h = arg;
    if (hak_tls_heap != h)
        return;
    tls_exiting = 1;
    hak_tls_heap = NULL;
    hak_tls_hot = &hak_no_heap;
    heap_abandon(h);
}

/* Without a key, heap_sweep is what returns heaps: said once. */
void hak_heap_global_init(void)
{
    heap_key_ok = pthread_key_create(&heap_key, heap_thread_exit) == 0;
    if (!heap_key_ok) {
        static const char msg[] =
            "hakmem: pthread_key_create failed: heaps of exited threads "
            "come back only when a new thread needs one or at trim\n";
        ssize_t r = write(2, msg, sizeof msg - 1);
        (void)r;
    }
}

hak_heap_t *hak_heap_get_slow(void)
{
    hak_init();
    /* Before making a heap, look for one whose thread is gone. */
    if (!atomic_load_explicit(&pool_size, memory_order_relaxed) ||
        atomic_load_explicit(&n_suspects, memory_order_relaxed))
        heap_sweep(2);
    int32_t tid = (int32_t)syscall(SYS_gettid);
    hak_mutex_lock(&heap_mutex);
    hak_heap_t *h = pool_pop();
    if (!h)
        h = heap_new_locked();
    if (h) {
        h->tid = tid;
        atomic_store_explicit(&h->state, HAK_HEAP_LIVE, memory_order_relaxed);
        if (tls_exiting) {
            h->pool_next = suspects;
            suspects = h;
            atomic_fetch_add_explicit(&n_suspects, 1, memory_order_relaxed);
        }
    }
    hak_mutex_unlock(&heap_mutex);
    if (!h)
        return NULL;
    /* Set before pthread_setspecific: if it allocates (keys past the first
     * 32 do), the nested malloc finds this heap. */
    hak_tls_heap = h;
    /* HAKMEM_SECURITY: both fast paths stay closed (the static part). */
    hak_tls_hot = hak_g.sec ? &hak_no_heap : &h->hot;
    if (heap_key_ok)
        pthread_setspecific(heap_key, h);
    return h;
}

void hak_heap_flush(hak_heap_t *h)
{
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        hak_slab_retire(h, c);
}

void hak_heap_collect(hak_heap_t *h)
{
    hak_heap_drain(h);
}

unsigned hak_heap_visit_pool(unsigned max, void (*fn)(hak_heap_t *, void *),
                         void *arg)
{
    /* Each heap once at most: the pool rotates (pop the head, push to the
     * tail), and heaps other threads adopt meanwhile simply drop out, so
     * the walk is bounded by the pool's size when it starts. */
    unsigned n = atomic_load_explicit(&pool_size, memory_order_relaxed);
    if (max > n)
        max = n;
    for (n = 0; n < max; n++) {
        hak_mutex_lock(&heap_mutex);
        hak_heap_t *h = pool_pop();
        hak_mutex_unlock(&heap_mutex);
        if (!h)
            break;
        /* Exclusive: popped from the pool, bound to no thread. */
        fn(h, arg);
        hak_mutex_lock(&heap_mutex);
        pool_push(h);
        hak_mutex_unlock(&heap_mutex);
    }
    return n;
}

static void reclaim_one(hak_heap_t *h, void *trim)
{
    hak_heap_collect(h);
    if (trim)
        hak_superslab_trim(h);
}

unsigned hak_heap_reclaim(unsigned max, int trim)
{
    if (trim)
        heap_sweep(~0u);
    if (!atomic_load_explicit(&pool_size, memory_order_relaxed))
        return 0;
    return hak_heap_visit_pool(max, reclaim_one, trim ? &max : NULL);
}

void hak_heap_each(void (*fn)(hak_heap_t *, void *), void *arg)
{
    hak_mutex_lock(&heap_mutex);
    for (hak_heap_t *h = all_heaps; h; h = h->all_next)
        fn(h, arg);
    hak_mutex_unlock(&heap_mutex);
}

void hak_heap_fork_child(void)
{
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
    /* The suspects were other threads' (orphaned now), or this one's. */
    suspects = NULL;
    atomic_store_explicit(&n_suspects, 0, memory_order_relaxed);
    unsigned n = 0;
    for (hak_heap_t *h = pool_head; h; h = h->pool_next)
        n++;
    atomic_store_explicit(&pool_size, n, memory_order_relaxed);
    /* The caller is a new thread of the kernel's here. */
    if (me)
        me->tid = (int32_t)syscall(SYS_gettid);
}
