/* slab_list.h — a heap's slabs of each class (src/slab.c).
 *
 * Per class, a heap allocates from its current slab (hot.cur) and keeps
 * the others that have room on a partial list; a slab whose every block
 * is out is on no list (FULL, types.h). The state moves:
 *   free_commit ─ credit < 0 ─ hak_slab_attention: a FULL slab's first free
 *                              joins the partial list; an empty one goes
 *                              back to its superslab
 *   hak_slab_retire   the current slab stops being current (refill, flush)
 *   hak_heap_drain ─ slab_merge_remote: other threads' frees (rbits) merge
 *                              into the bitmap, then the same attention
 * and the owner's free itself (free_local, inline for hak_free's fast
 * path; hak_free_local_slow when the fast checks fail).
 *
 * Layer: above superslab.h and remote.h, below heap.h and alloc.h (the
 * per-block computations under all of them are slab.h's).
 */
#ifndef HAK_SLAB_LIST_H
#define HAK_SLAB_LIST_H

#include "hooks.h"
#include "vg.h"

/* The current slab of every class that has none (types.h). */
HAK_INTERNAL extern hak_slab_t hak_slab_none;
/* Stop allocating from class c's current slab; releases it if nothing in
 * it is live. */
HAK_INTERNAL void hak_slab_retire(hak_heap_t *h, unsigned c);
/* A free made s's credit negative (see slab.c). */
HAK_INTERNAL HAK_NOINLINE void hak_slab_attention(hak_heap_t *h, hak_slab_t *s);
/* Merge the frees other threads made into the heap's queued slabs. */
HAK_INTERNAL void hak_heap_drain(hak_heap_t *h);
/* Free every block HAKMEM_SECURITY's delay holds for h (owner). */
HAK_INTERNAL void hak_heap_quarantine_flush(hak_heap_t *h);
/* HAKMEM_SECURITY_DELAY: b waits in h's FIFO; returns the block it
 * pushes out (to be freed for real now), or NULL. */
HAK_INTERNAL uint8_t *hak_quarantine_swap(hak_heap_t *h, uint8_t *b);

/* Validation of a pointer into s, from any thread (s read as slab.h's
 * shared view): the slot b starts, which the bitmap must show in use,
 * else the report naming `check` (`freeing`: for free(), a freed slot is
 * a double free). */
HAK_INTERNAL uint32_t hak_slot_in_use(const void *b, hak_slab_t *s,
                                  const char *check, int freeing);
/* The reports of the checks (cold; each aborts). */
HAK_INTERNAL HAK_COLD void hak_report_bad_small(const void *p, hak_slab_t *s,
                                            const char *check);
HAK_INTERNAL HAK_COLD void hak_report_reused(const void *p, hak_slab_t *s,
                                         const char *check);
HAK_INTERNAL HAK_COLD void hak_report_free_slot(const void *p, hak_slab_t *s,
                                            uint32_t i, const char *check,
                                            int freeing);
HAK_INTERNAL HAK_COLD void hak_report_remote_double_free(const void *p,
                                                     hak_slab_t *s,
                                                     const hak_heap_t *owner);

/* s leaves its class's partial list (the refill makes it current, or it
 * became empty). Inline: the refill's slab switch keeps no call. */
HAK_INLINE void partial_remove(hak_class_state_t *cs, hak_slab_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        cs->partial = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* ---- The owner's free -------------------------------------------------- */

/* The owner's free when free_local's checks fail: reports, or frees b
 * (slab.c says why it is HAK_TAIL). */
HAK_INTERNAL HAK_TAIL void hak_free_local_slow(hak_heap_t *h, hak_superslab_t *ss,
                                           uint8_t *b);

/* The owner h frees slot i of s: w is its word of bits with i's bit set
 * (validated: it was clear, and the block is not queued). */
HAK_INLINE void free_commit(hak_heap_t *h, hak_superslab_t *ss, hak_slab_t *s,
                            uint8_t *b, uint32_t i, uint64_t w)
{
    size_t k = slot_word(i);
    hak_dbg_on_free(ss, s, b, 1);
    HAK_VG_FREE(b, s->stride);
    slab_bits_store(s, k, w);
    /* Last freed, first reused: its line is warm. */
    s->take = b;
    s->take_slot = (uint16_t)i;
    hak_count(&h->nfree, 1);
    if (HAK_UNLIKELY(--s->credit < 0))
        hak_slab_attention(h, s);
}

/* The owner h frees b, an address in its superslab ss (not yet validated).
 * One exact division says which slot b starts; setting its bit must change
 * the word (it was live). While another thread's frees into s wait (rsum),
 * b might be one of them: the slow path looks. */
HAK_INLINE void free_local(hak_heap_t *h, hak_superslab_t *ss, uint8_t *b)
{
    hak_slab_t *s = slab_of(ss, (uintptr_t)b);
    uint32_t i = slab_index(s, (uintptr_t)b, s->capacity);
    if (HAK_HARDEN && HAK_UNLIKELY(i == UINT32_MAX)) {
        hak_free_local_slow(h, ss, b);
        return;
    }
    uint64_t w = slab_bits(s, slot_word(i));
    uint64_t freed = word_with_bit(w, i);
    if (HAK_HARDEN &&
        HAK_UNLIKELY(freed == w ||
                     atomic_load_explicit(&s->rsum, memory_order_relaxed))) {
        hak_free_local_slow(h, ss, b);
        return;
    }
    free_commit(h, ss, s, b, i, freed);
}

#endif
