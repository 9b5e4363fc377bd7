/* slab.c — a heap's slabs of each class (interface and call tree in
 * slab_list.h): the partial lists and the state moves a free, a drain or
 * a retire causes; the owner's free the fast path could not finish; the
 * merge of other threads' frees (hak_heap_drain); HAKMEM_SECURITY's delay
 * FIFO; and the reports of the checks these make.
 *
 * Layer: above superslab.c (an empty slab goes back to its superslab)
 * and remote.c (the queue it drains), below heap.c and alloc.c, which
 * call it and which it never calls. */
#include "slab_list.h"

#include "remote.h"
#include "superslab.h"

/* ---- Reports (cold) ----------------------------------------------------- */

/* p is in one of our superslabs but is not a block's start (the
 * reporters below read s as slab.h's shared view: any thread). Inside
 * the slab's blocks, which run to capacity strides (a stride is more
 * than the class size when canaries are on), it is misaligned. */
HAK_COLD void hak_report_bad_small(const void *p, hak_slab_t *s,
                               const char *check)
{
    uintptr_t a = (uintptr_t)p;
    hak_where_t w = slab_where_shared(s);
    hak_geom_t g = slab_geom_shared(s);
    if (g.capacity && w.cls < HAK_NUM_CLASSES && a >= (uintptr_t)g.start &&
        a < (uintptr_t)g.start + (size_t)g.capacity * hak_stride(w.cls))
        hak_report(HAK_CHECK_MISALIGNED, p, w, NULL);
    hak_report(check, p, w, " (not a block in use)");
}

/* p looked like a slot of s, but s was released or set up again while it
 * was checked: p was no live block (a live block's slab stays). */
HAK_COLD void hak_report_reused(const void *p, hak_slab_t *s,
                            const char *check)
{
    hak_report(check, p, slab_where_shared(s),
               " (not a block in use: its slab was set up again)");
}

/* p is slot i of s, and the bitmap says it is free: freed already, or
 * never handed out since the slab was set up. Above the highest word the
 * cursor reached (top) it is the latter for sure; the per-slot state
 * knows per slot, which only the owner may read (another thread's read
 * would race with the owner handing the slot out). `freeing`: the caller
 * is free(), for which a freed slot is a double free. */
HAK_COLD void hak_report_free_slot(const void *p, hak_slab_t *s,
                               uint32_t i, const char *check,
                               int freeing)
{
    hak_superslab_t *ss = ss_of((uintptr_t)p);
    int kept = hak_slots_kept() && ss->owner == hak_tls_heap;
    hak_where_t w = slab_where_shared(s);
    if (slot_word(i) > HAK_SHARED_LOAD(s->top) ||
        (kept && hak_chk_slot_value(ss, s, p) == HAK_SLOT_FRESH))
        hak_report(check, p, w, " (never handed out)");
    hak_report(freeing ? HAK_CHECK_DOUBLE_FREE : check, p, w,
               kept ? " (block is free)"
                    : " (block is free: freed, or never handed out)");
}

/* The slot b starts in s, which the bitmap must show in use; else the
 * report naming `check` (`freeing`: for free(), a freed slot is a double
 * free). Whether another thread's free of it waits is the caller's to ask.
 * Any thread: it reads s as slab.h's shared view. */
uint32_t hak_slot_in_use(const void *b, hak_slab_t *s, const char *check,
                     int freeing)
{
    hak_geom_t g = slab_geom_shared(s);
    uint32_t i = geom_index(&g, (uintptr_t)b);
    if (i == UINT32_MAX)
        hak_report_bad_small(b, s, check);
    int is_free = slab_slot_free(s, i);
    if (!slab_geom_still(s, &g))
        hak_report_reused(b, s, check);
    if (is_free)
        hak_report_free_slot(b, s, i, check, freeing);
    return i;
}

/* A double free that involves a thread other than the owner: name the
 * owner's thread (its heap number) and the freeing one. */
HAK_COLD void hak_report_remote_double_free(const void *p, hak_slab_t *s,
                                        const hak_heap_t *owner)
{
    char d[96];
    hak_fmt_t f = { d, 0, sizeof d };
    hak_fmt_str(&f, " (owner thread #");
    hak_fmt_dec(&f, owner->id);
    hak_fmt_str(&f, ", freed again by ");
    if (hak_tls_heap) {
        hak_fmt_str(&f, "thread #");
        hak_fmt_dec(&f, hak_tls_heap->id);
    } else {
        hak_fmt_str(&f, "a thread that never allocated");
    }
    hak_fmt_str(&f, ")");
    hak_report(HAK_CHECK_DOUBLE_FREE, p, slab_where_shared(s), d);
}

/* ---- Slab lists -------------------------------------------------------- */

/* The current slab of a class that has none: an empty bitmap, never
 * written (the refill never moves its cursor). */
hak_slab_t hak_slab_none = { .cls = HAK_CLASS_NONE };

/* s joins its class's partial list at the tail (slab_list.h says why). */
static void partial_push(hak_class_state_t *cs, hak_slab_t *s)
{
    hak_slab_t *head = cs->partial;
    s->next = NULL;
    if (!head) {
        s->prev = s;
        cs->partial = s;
        return;
    }
    s->prev = head->prev;
    head->prev->next = s;
    head->prev = s;
}

/* A free made s's credit negative (types.h): a FULL slab got enough
 * blocks back (slab_full_wait), or a PARTIAL one became empty. */
HAK_NOINLINE void hak_slab_attention(hak_heap_t *h, hak_slab_t *s)
{
    hak_class_state_t *cs = &h->cls[s->cls];
    if (s->state == HAK_SLAB_FULL) {
        slab_set_state(s, HAK_SLAB_PARTIAL, 1);
        partial_push(cs, s);
    }
    if (slab_used(s) == 0) {
        partial_remove(cs, s);
        hak_superslab_release_slab(h, ss_of((uintptr_t)s->start), s);
    }
}

void hak_slab_retire(hak_heap_t *h, unsigned c)
{
    hak_class_state_t *cs = &h->cls[c];
    hak_slab_t *s = h->hot.cur[c];
    if (s == &hak_slab_none)
        return;
    h->hot.cur[c] = &hak_slab_none;
    if (slab_used(s) == 0) {
        hak_superslab_release_slab(h, ss_of((uintptr_t)s->start), s);
    } else if (slab_used(s) < s->capacity) {
        slab_set_state(s, HAK_SLAB_PARTIAL, 1);
        partial_push(cs, s);
    } else {
        slab_set_state(s, HAK_SLAB_FULL, slab_full_base(s));
    }
}

/* ---- The owner's free (slow) ------------------------------------------- */

/* The owner's free that the fast path could not finish: p is not a block
 * of s, or its slot is free, or some block of s waits in rbits (is it
 * this one?). Reports, or frees p. HAK_TAIL: the compiler must not learn
 * that it may not return, so the fast path reaches it with a tail jump
 * and needs no stack frame of its own. */
HAK_TAIL void hak_free_local_slow(hak_heap_t *h, hak_superslab_t *ss,
                              uint8_t *b)
{
    hak_slab_t *s = slab_of(ss, (uintptr_t)b);
    uint32_t i = hak_slot_in_use(b, s, HAK_CHECK_INVALID_FREE, 1);
    if (slab_slot_queued(s, i))
        hak_report_remote_double_free(b, s, ss->owner);
    free_commit(h, ss, s, b, i, word_with_bit(slab_bits(s, slot_word(i)), i));
}

/* ---- Frees from other threads ------------------------------------------ */

/* Merges the blocks other threads freed into s (owner only). s may be
 * released (and its superslab unmapped) before this returns. */
static void slab_merge_remote(hak_heap_t *h, hak_slab_t *s)
{
    hak_superslab_t *ss = ss_of((uintptr_t)s->start);
    uint64_t sum = atomic_exchange_explicit(&s->rsum, 0, HAK_BITS_ORDER);
    uint32_t n = 0;
    while (sum) {
        size_t k = (size_t)__builtin_ctzll(sum);
        sum &= sum - 1;
        uint64_t x = atomic_exchange_explicit(&slab_rbits(s)[k], 0,
                                              HAK_BITS_ORDER);
        uint64_t w = slab_bits(s, k);
        if (HAK_UNLIKELY(x & w)) {
            /* Freed by the owner and by another thread. */
            uint32_t i = (uint32_t)(k * 64 + (size_t)__builtin_ctzll(x & w));
            hak_report_remote_double_free(slab_slot(s, i), s, h);
        }
        if (hak_slots_kept())
            for (uint64_t y = x; y; y &= y - 1)
                hak_chk_on_drain(ss, s, slab_slot(s, (uint32_t)(k * 64 +
                                     (size_t)__builtin_ctzll(y))));
        slab_bits_store(s, k, w | x);
        if (x && k == s->cursor && !s->take)
            slab_take_from_bits(s);
        n += (uint32_t)__builtin_popcountll(x);
    }
    hak_count(&h->cls[s->cls].nremote, n);
    s->credit -= (int32_t)n;
    if (s->credit < 0)
        hak_slab_attention(h, s);
}

void hak_heap_drain(hak_heap_t *h)
{
    hak_slab_t *s = hak_remote_take(&h->remote);
    if (!s)
        return;
    hak_count(&h->ndrain, 1);
    while (s) {
        /* A queued slab is a descriptor of one of h's superslabs in use:
         * metadata, which no program write reaches. */
        if (HAK_UNLIKELY(ss_of((uintptr_t)s)->owner != h ||
                         !s->capacity))
            hak_report(HAK_CHECK_REMOTE, s, slab_where(s),
                       " (queued slab not in use by this heap)");
        /* Read before the merge resets rsum: from then on a freer may
         * queue s again and rewrite rnext. */
        hak_slab_t *next = s->rnext;
        slab_merge_remote(h, s);
        s = next;
    }
}

/* ---- HAKMEM_SECURITY's delay ------------------------------------------- */

/* HAKMEM_SECURITY_DELAY: b waits in h's FIFO; returns the block it
 * pushes out (to be freed for real now), or NULL. */
uint8_t *hak_quarantine_swap(hak_heap_t *h, uint8_t *b)
{
    uint8_t *old = h->quarantine[h->qpos];
    h->quarantine[h->qpos] = b;
    h->qpos = (h->qpos + 1) % HAK_QUARANTINE;
    return old;
}

void hak_heap_quarantine_flush(hak_heap_t *h)
{
    for (unsigned n = 0; n < HAK_QUARANTINE; n++) {
        uint8_t *b = hak_quarantine_swap(h, NULL);
        if (b)
            free_local(h, ss_of((uintptr_t)b), b);
    }
}
