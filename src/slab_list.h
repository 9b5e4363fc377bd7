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

/* ---- The partial lists ------------------------------------------------
 * A class's partial list is a queue: slabs join at the tail (slab.c) and
 * the refill takes the head, so a slab waits behind every other before it
 * is allocated from again and meanwhile gathers the frees the program
 * makes into it (a slab that just got its first free back has one free
 * block; a stack would hand it out again at once, and the next refill
 * would come one malloc later). next runs from the head to the tail and
 * ends in NULL; the head's prev is the tail (itself when alone), every
 * other slab's prev its predecessor. */

/* s leaves its class's partial list (the refill makes it current, or it
 * became empty). Inline: the refill's slab switch keeps no call. */
HAK_INLINE void partial_remove(hak_class_state_t *cs, hak_slab_t *s)
{
    hak_slab_t *head = cs->partial;
    if (s == head) {
        cs->partial = s->next;
        if (s->next) /* the tail stays the tail */
            s->next->prev = s->prev;
    } else {
        s->prev->next = s->next;
        if (s->next)
            s->next->prev = s->prev;
        else /* s was the tail */
            head->prev = s->prev;
    }
    s->next = s->prev = NULL;
}

/* The word of s's bitmap the refill moves the cursor to when the cursor
 * word is empty (owner): the next one after the cursor with free slots,
 * round from word 0 up to top, else the lowest with free slots above top
 * (never handed out), else the number of words (none). Every word up to
 * top has been handed out from, so its pages are in: which goes first
 * costs no memory. Round from the cursor, not lowest first: malloc takes
 * each slot a free gives back, so lowest first keeps the low words empty
 * and every refill walks over them (alloc-test's 16 B class: about 40
 * empty words a refill). */
HAK_INLINE uint32_t slab_next_word(const hak_slab_t *s)
{
    uint32_t words = (s->capacity + 63u) / 64u, top = s->top, k;
    for (k = s->cursor + 1u; k <= top; k++)
        if (slab_bits(s, k))
            return k;
    for (k = 0; k <= s->cursor && k <= top; k++)
        if (slab_bits(s, k))
            return k;
    for (k = top + 1u; k < words; k++)
        if (slab_bits(s, k))
            return k;
    return words;
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

/* The owner h frees b, an address in slab s of its superslab ss (not yet
 * validated). One exact division says which slot b starts; setting its
 * bit must change the word (it was live). While another thread's frees
 * into s wait (rsum), b might be one of them: the slow path looks. */
HAK_INLINE void free_local_in(hak_heap_t *h, hak_superslab_t *ss,
                              hak_slab_t *s, uint8_t *b)
{
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

/* free_local_in, b's slab found through ss's header. */
HAK_INLINE void free_local(hak_heap_t *h, hak_superslab_t *ss, uint8_t *b)
{
    free_local_in(h, ss, slab_of(ss, (uintptr_t)b), b);
}

#endif
