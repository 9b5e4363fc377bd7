/* superslab.h — mapping superslabs and handing their slabs to classes.
 *
 * A heap keeps its superslabs of each tier on a list ordered so that every
 * superslab with an unused slab comes before every full one. A slab is
 * taken dirty (unused, its pages still there: HAK_DIRTY_MID_BYTES) from
 * the first superslab that has one, else as the head's lowest unused one.
 * An empty superslab becomes one of the heap's spares for its tier
 * (mapping and registration kept), up to eight a tier; past that it is
 * unmapped. The newest spare of a tier keeps its pages as they are, the
 * next two give them back lazily (MADV_FREE), the others at once
 * (MADV_DONTNEED); a heap whose thread has exited keeps one spare a
 * tier, its pages given back lazily.
 */
#ifndef HAK_SUPERSLAB_H
#define HAK_SUPERSLAB_H

#include "slab.h"

/* Empty superslabs a heap keeps per tier while its thread lives (one when
 * it has exited: hak_superslab_keep_spares). A heap whose superslabs
 * empty in bursts (a producer whose blocks another thread frees:
 * xmalloc-test) kept one, unmapped the next and mapped a new one moments
 * later, 40 times a second, each faulting its pages in again: 120k page
 * faults in 5 s, 10k with eight spares. Peak mapped memory is unchanged
 * (a superslab is mapped only when there is no spare); the spares' pages
 * are the kernel's to take back whenever it needs them (MADV_FREE), all
 * but the newest one's while the thread lives, and malloc_trim unmaps
 * them. */
#define HAK_SPARES 8

/* Spares a tier keeps the pages of (the newest as they are, the others
 * MADV_FREE: the kernel's to take when it needs memory, still there for
 * the next use until then); an older spare gives them back at once
 * (MADV_DONTNEED). Lazily freed pages count
 * in the process's resident memory until the kernel takes them: with all
 * eight spares kept, xmalloc-test (at most about 28 MiB of blocks live at
 * once) peaked at 41-43 MiB, tcmalloc at 37.9. With three kept, 35.8 MiB
 * (34.0-37.2 over 8 runs) for 300k page faults in 5 s instead of 10k,
 * and 1.02 times the time per free (15 pairs); with two, 35-36 MiB, 430k
 * faults, 1.06 (11 pairs); with none, 28.9 MiB and 820k faults, and
 * mstress, whose exiting threads leave a spare or two for the next,
 * took 1.20 times as long (1.09 with one kept, 0.98 with two, 1.01 with
 * three; 7 pairs each). */
#define HAK_SPARES_KEPT 3

/* Bytes of unused mid slabs whose pages a heap keeps resident in its live
 * superslabs (the dirty ones, types.h), and as many of big slabs; a mid or
 * big slab released beyond them gives its pages back at once
 * (MADV_DONTNEED). A slab is taken dirty first, in every tier. Without a
 * bound every slab a thread ever emptied stayed resident: in rptest, where
 * the threads' bursts come in turns, peak RSS was 2.5 times the peak of
 * the bytes live (2.3 with it). The bound is close to what bench/mid
 * needs, which empties and retakes mid slabs 26k times in a run: at 1 MiB
 * it ran 1.05 times as long (8k page faults instead of 1k), at 512 KiB
 * 2.2 times, with none kept 9.7 times.
 * On the tiny tier a bound took xmalloc-test's page faults from 10k to
 * 400k-590k in 5 s (its producer empties and refills whole superslabs). */
#define HAK_DIRTY_MID_BYTES ((size_t)2 << 20)

/* Sets s up for class cls (hak_superslab_take_slab): every slot free, cursor
 * at word 0. The slab holds no live block. */
HAK_INTERNAL void hak_slab_init(hak_superslab_t *ss, hak_slab_t *s, unsigned cls);
/* An unused slab of the tier of `cls`, initialised for `cls`; NULL when
 * the OS has no memory. Owner-only. */
HAK_INTERNAL hak_slab_t *hak_superslab_take_slab(hak_heap_t *h, unsigned cls);
/* The slab holds no block any more: back to its superslab. Owner-only. */
HAK_INTERNAL void hak_superslab_release_slab(hak_heap_t *h, hak_superslab_t *ss,
                                         hak_slab_t *s);
/* Unmap spares of each tier beyond `keep`; returns the bytes unmapped.
 * Owner-only. */
HAK_INTERNAL size_t hak_superslab_keep_spares(hak_heap_t *h, unsigned keep);
/* Give back the pages of every unused slab (dirty ones included) and unmap
 * the spares. Returns the bytes given back. Owner-only. */
HAK_INTERNAL size_t hak_superslab_trim(hak_heap_t *h);

HAK_INLINE size_t slab_bytes(const hak_superslab_t *ss)
{
    return (size_t)1 << ss->slab_shift;
}

/* ---- The hot superslabs (types.h, hak_heap_hot_t.hot_ss) -------------- */

/* Where a's superslab is the hot one of its way in the hot part hot, its
 * slab shift; otherwise 64 or more (hot_hit). One subtraction: the entry
 * minus a's base is the shift it stores exactly when the bases match (and
 * HAK_HOT_NONE minus any base is huge), and the fast path then shifts by
 * it, with no test of the entry's own bits. */
HAK_INLINE uintptr_t hot_shift(const hak_heap_hot_t *hot, uintptr_t a)
{
    uintptr_t base = a & ~(uintptr_t)HAK_SS_MASK;
    return hot->hot_ss[HAK_HOT_WAY(base)] - base;
}

HAK_INLINE int hot_hit(uintptr_t shift)
{
    return shift < 64;
}

/* The slab of a, an address in a hot superslab whose shift hot_shift
 * gave. */
HAK_INLINE hak_slab_t *hot_slab(uintptr_t shift, uintptr_t a)
{
    return slab_at_shift(ss_of(a), a, (unsigned)shift);
}

/* The hot part's entry naming ss. */
HAK_INLINE uintptr_t hot_entry_of(const hak_superslab_t *ss)
{
    return ss_base(ss) | ss->slab_shift;
}

/* ss, the heap's own, becomes the hot superslab of its way. */
HAK_INLINE void hot_set(hak_heap_hot_t *hot, const hak_superslab_t *ss)
{
    hot->hot_ss[HAK_HOT_WAY(ss_base(ss))] = hot_entry_of(ss);
}

#endif
