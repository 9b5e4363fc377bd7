/* registry.c — the chunk map and the list of every superslab. */
#include "registry.h"

#include <pthread.h>

#include "lock.h"

#define CHUNKS ((size_t)1 << (HAK_VA_BITS - HAK_SS_SHIFT))

/* In .bss: address space only, pages appear as the map is written. Being
 * static, it is valid before any initialisation, so free() of a foreign
 * pointer before the first malloc is answered correctly too. */
_Atomic(uint8_t) hak_registry_map[CHUNKS];

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Every registered superslab, for hak_registry_each and hak_registry_count (tests
 * and tools that walk the whole process): a doubly linked list through the
 * superslabs' own headers (reg_next, reg_prev), so it has no limit, needs
 * no memory of its own, and a superslab leaves it in constant time. */
static hak_superslab_t *all_ss;
static uint64_t n_ss;

void hak_registry_lock(void) { pthread_mutex_lock(&registry_mutex); }
void hak_registry_unlock(void) { pthread_mutex_unlock(&registry_mutex); }

void hak_registry_add(hak_superslab_t *ss, unsigned tier)
{
    hak_mutex_lock(&registry_mutex);
    ss->reg_prev = NULL;
    ss->reg_next = all_ss;
    if (all_ss)
        all_ss->reg_prev = ss;
    all_ss = ss;
    n_ss++;
    /* release: the header written before this store is visible to any
     * thread whose acquire load in registry_tier sees the tier. */
    atomic_store_explicit(&hak_registry_map[ss_base(ss) >> HAK_SS_SHIFT],
                          (uint8_t)tier, memory_order_release);
    hak_mutex_unlock(&registry_mutex);
}

void hak_registry_mark_zero(uintptr_t base)
{
    hak_mutex_lock(&registry_mutex);
    atomic_store_explicit(&hak_registry_map[base >> HAK_SS_SHIFT],
                          (uint8_t)HAK_TIER_ZERO, memory_order_release);
    hak_mutex_unlock(&registry_mutex);
}

void hak_registry_remove(hak_superslab_t *ss)
{
    hak_mutex_lock(&registry_mutex);
    atomic_store_explicit(&hak_registry_map[ss_base(ss) >> HAK_SS_SHIFT], 0,
                          memory_order_release);
    if (ss->reg_prev)
        ss->reg_prev->reg_next = ss->reg_next;
    else
        all_ss = ss->reg_next;
    if (ss->reg_next)
        ss->reg_next->reg_prev = ss->reg_prev;
    ss->reg_next = ss->reg_prev = NULL;
    n_ss--;
    hak_mutex_unlock(&registry_mutex);
}

void hak_registry_each(void (*fn)(hak_superslab_t *, void *), void *arg)
{
    hak_mutex_lock(&registry_mutex);
    for (hak_superslab_t *ss = all_ss; ss; ss = ss->reg_next)
        fn(ss, arg);
    hak_mutex_unlock(&registry_mutex);
}

uint64_t hak_registry_count(void)
{
    hak_mutex_lock(&registry_mutex);
    uint64_t n = n_ss;
    hak_mutex_unlock(&registry_mutex);
    return n;
}
