/* registry.c — the chunk map and the list of every superslab. */
#include "registry.h"

#include <pthread.h>

#include "report.h"

#define CHUNKS ((size_t)1 << (HAK_VA_BITS - HAK_SS_SHIFT))

/* In .bss: address space only, pages appear as the map is written. Being
 * static, it is valid before any initialisation, so free() of a foreign
 * pointer before the first malloc is answered correctly too. */
_Atomic(uint8_t) hak_registry_map[CHUNKS];

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Every registered superslab, for registry_each and registry_count (tests
 * and tools that walk the whole process).
 * A fixed array: 2^16 superslabs is 128 GiB of small blocks. */
#define MAX_SS 65536
static hak_superslab_t *all_ss[MAX_SS];
static uint32_t n_ss;

void registry_lock(void) { pthread_mutex_lock(&registry_mutex); }
void registry_unlock(void) { pthread_mutex_unlock(&registry_mutex); }
void registry_reinit_lock(void)
{
    pthread_mutex_init(&registry_mutex, NULL);
}

void registry_add(hak_superslab_t *ss, unsigned tier)
{
    pthread_mutex_lock(&registry_mutex);
    if (n_ss == MAX_SS)
        hak_report(HAK_CHECK_OOM, ss,
                   (hak_where_t){ HAK_WHERE_NONE, 0, NULL },
                   " (registry full)");
    all_ss[n_ss++] = ss;
    /* release: the header written before this store is visible to any
     * thread whose acquire load in registry_tier sees the tier. */
    atomic_store_explicit(&hak_registry_map[ss_base(ss) >> HAK_SS_SHIFT],
                          (uint8_t)tier, memory_order_release);
    pthread_mutex_unlock(&registry_mutex);
}

void registry_mark_zero(uintptr_t base)
{
    pthread_mutex_lock(&registry_mutex);
    atomic_store_explicit(&hak_registry_map[base >> HAK_SS_SHIFT],
                          (uint8_t)HAK_TIER_ZERO, memory_order_release);
    pthread_mutex_unlock(&registry_mutex);
}

void registry_remove(hak_superslab_t *ss)
{
    pthread_mutex_lock(&registry_mutex);
    atomic_store_explicit(&hak_registry_map[ss_base(ss) >> HAK_SS_SHIFT], 0,
                          memory_order_release);
    for (uint32_t i = 0; i < n_ss; i++) {
        if (all_ss[i] == ss) {
            all_ss[i] = all_ss[--n_ss];
            break;
        }
    }
    pthread_mutex_unlock(&registry_mutex);
}

void registry_each(void (*fn)(hak_superslab_t *, void *), void *arg)
{
    pthread_mutex_lock(&registry_mutex);
    for (uint32_t i = 0; i < n_ss; i++)
        fn(all_ss[i], arg);
    pthread_mutex_unlock(&registry_mutex);
}

uint64_t registry_count(void)
{
    pthread_mutex_lock(&registry_mutex);
    uint64_t n = n_ss;
    pthread_mutex_unlock(&registry_mutex);
    return n;
}
