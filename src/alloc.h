/* alloc.h — the tiny/mid allocation and free paths (src/alloc.c).
 *
 * Call tree:
 *   hak_malloc ─ fast: class table, take the lowest set bit of the current
 *      │             slab's cursor word ───────────────────────── return
 *      ├ malloc_above_tiny ─ the same for the mid classes
 *      ├ alloc_refill ─ the cursor word is empty: heap_alloc below, with the
 *      │                class already known (no heap yet, or n == 0: alloc_slow)
 *      └ alloc_slow ─ init, zero size, large tier, hak_heap_get_slow
 *           └ heap_alloc ─ take ─┬ heap_refill ─ hak_heap_drain (remote bits)
 *                                │             ├ next word with free slots
 *                                │             ├ hak_slab_retire + partial slab
 *                                │             └ hak_superslab_take_slab
 *                                └ retry the take
 *   hak_free ─ fast: in a hot superslab (own, registered), slab by
 *                    address, slot by exact division, bit clear → set ─ return
 *      ├ free_cold        registry byte: hak_large_free (or report), else
 *      │   └ hak_free_small   another heap's: free_remote (rbits,
 *      │                  remote_push) · own: becomes its way's hot one, then
 *      │                  the same local free (also the sized frees' way in)
 *      ├ hak_slab_attention   (a full slab's first free, or a slab now empty)
 *      └ hak_free_local_slow  (bad pointer, free slot, or remote frees pending)
 * hak_heap_drain, hak_slab_retire, hak_slab_attention and hak_free_local_slow are the
 * slab lists' (src/slab_list.h), one layer down.
 */
#ifndef HAK_ALLOC_H
#define HAK_ALLOC_H

#include "slab_list.h"

/* A block of class c for a request of req bytes (the memalign path). */
HAK_INTERNAL void *hak_alloc_class(unsigned c, size_t req);

/* Frees p, an address the registry puts in tiny or mid superslab ss (not
 * yet validated), while HAKMEM_SECURITY is off: the owner's free (ss
 * becomes the hot superslab of its way) or another thread's. free's path
 * after the registry, and the sized frees' (src/sized.c), which have asked
 * it. */
HAK_INTERNAL HAK_TAIL void hak_free_small(hak_superslab_t *ss, void *p);

/* Validation shared by free, realloc and usable-size: the superslab and
 * slab of a live small block p, or a report naming `check`. */
typedef struct hak_small_ref {
    hak_superslab_t *ss;
    hak_slab_t *slab;
} hak_small_ref_t;
HAK_INTERNAL hak_small_ref_t hak_small_validate(const void *p, const char *check);

#endif
