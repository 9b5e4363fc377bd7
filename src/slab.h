/* slab.h — one function per block computation.
 *
 * The slot address of index i, the index of a pointer, the slab of a
 * pointer and a slot's place in the bitmap each exist once, here. Every
 * allocation, validation and free site calls these.
 */
#ifndef HAK_SLAB_H
#define HAK_SLAB_H

#include "registry.h"
#include "size_class.h"
#include "report.h"

/* Slab holding address a, given its superslab. Slab 0 is the metadata and
 * never has carved blocks, so pointers into it fail validation. */
HAK_INLINE hak_slab_t *slab_of(hak_superslab_t *ss, uintptr_t a)
{
    /* Spelled as an address so that the compiler addresses every field
     * from the descriptor (one register), not from the superslab. */
    uintptr_t i = (a & HAK_SS_MASK) >> ss->slab_shift;
    return (hak_slab_t *)((uintptr_t)ss->slabs + i * sizeof(hak_slab_t));
}

HAK_INLINE uint8_t *slab_slot(const hak_slab_t *s, uint32_t i)
{
    return s->start + (size_t)i * s->stride;
}

/* Index of the block starting at a, or UINT32_MAX if a is not the start of
 * one of the slab's `limit` first blocks (callers pass the capacity). Uses only fields that are
 * immutable while the slab is in use (safe from any thread). a is inside
 * s's superslab, so |a - start| < 2^21; below start, the offset wraps to
 * nearly 2^64 and its quotient is far above any limit. */
HAK_INLINE uint32_t slab_index(const hak_slab_t *s, uintptr_t a,
                               uint32_t limit)
{
    uint64_t off = a - (uintptr_t)s->start, lo, i;
#if defined(__x86_64__)
    /* One mul gives both halves; gcc's __int128 lowering of the same
     * product reserves extra registers and spills on the free fast path. */
    __asm__("mulq %3" : "=a"(lo), "=d"(i) : "a"(off), "rm"(s->div_magic));
#else
    unsigned __int128 p = (unsigned __int128)off * s->div_magic;
    lo = (uint64_t)p;
    i = (uint64_t)(p >> 64);
#endif
    if (HAK_UNLIKELY(lo >= s->div_magic || i >= limit))
        return UINT32_MAX;
    return (uint32_t)i;
}

/* Blocks of s handed out and not yet freed back to it (exact). */
HAK_INLINE uint32_t slab_used(const hak_slab_t *s)
{
    return s->used_base + (uint32_t)s->credit;
}

/* Moves s to another state, keeping `used` (see types.h). */
HAK_INLINE void slab_set_state(hak_slab_t *s, unsigned state, uint32_t base)
{
    uint32_t used = slab_used(s);
    s->state = (uint8_t)state;
    s->used_base = base;
    s->credit = (int32_t)(used - base);
}

/* ---- The slot bitmap ----------------------------------------------------
 * bits is written by the owner alone, so a load and a store (no atomic
 * read-modify-write) update it; they are relaxed atomics because freers on
 * other threads read it for their double-free check. On x86-64 both are
 * plain moves. */
HAK_INLINE uint64_t slab_bits(const hak_slab_t *s, size_t k)
{
    return atomic_load_explicit(&s->bits[k], memory_order_relaxed);
}

HAK_INLINE void slab_bits_store(hak_slab_t *s, size_t k, uint64_t w)
{
    atomic_store_explicit(&s->bits[k], w, memory_order_relaxed);
}

/* Slot i's word and bit in bits and rbits. */
HAK_INLINE size_t slot_word(uint32_t i) { return i >> 6; }
HAK_INLINE uint64_t slot_bit(uint32_t i) { return (uint64_t)1 << (i & 63); }

/* w with bit (i mod 64) set. One `bts` on x86-64: gcc spells 1 << i as a
 * shift through %cl, which cost the free fast path two register moves
 * and a spill per bit. */
HAK_INLINE uint64_t word_with_bit(uint64_t w, uint64_t i)
{
#if defined(__x86_64__)
    __asm__("btsq %1, %0" : "+r"(w) : "r"(i) : "cc");
    return w;
#else
    return w | ((uint64_t)1 << (i & 63));
#endif
}

/* Index of the lowest set bit of w (w != 0), as a full-width register:
 * __builtin_ctzll's int result costs a sign extension on the malloc fast
 * path. `rep; bsf` is tzcnt where BMI1 exists and bsf elsewhere; both give
 * the same answer for w != 0. */
HAK_INLINE uint64_t word_lowest(uint64_t w)
{
#if defined(__x86_64__)
    uint64_t r;
    __asm__("rep; bsfq %1, %0" : "=r"(r) : "rm"(w) : "cc");
    return r;
#else
    return (uint64_t)__builtin_ctzll(w);
#endif
}

/* w with bit (i mod 64) clear. */
HAK_INLINE uint64_t word_without_bit(uint64_t w, uint64_t i)
{
#if defined(__x86_64__)
    __asm__("btrq %1, %0" : "+r"(w) : "r"(i) : "cc");
    return w;
#else
    return w & ~((uint64_t)1 << (i & 63));
#endif
}

/* Slot i is free in the owner's bitmap (any thread). */
HAK_INLINE int slab_slot_free(const hak_slab_t *s, uint32_t i)
{
    return (slab_bits(s, slot_word(i)) & slot_bit(i)) != 0;
}

/* The rbits of s (in its superslab's header; s is never hak_slab_none). */
HAK_INLINE _Atomic uint64_t *slab_rbits(const hak_slab_t *s)
{
    return ss_of((uintptr_t)s)->rbits[s->index];
}

/* Slot i was freed by another thread and not merged yet (any thread). */
HAK_INLINE int slab_slot_queued(const hak_slab_t *s, uint32_t i)
{
    return (atomic_load_explicit(&slab_rbits(s)[slot_word(i)],
                                 memory_order_relaxed) & slot_bit(i)) != 0;
}

/* Points take at the lowest free slot of the cursor word (NULL if none):
 * after the cursor moved, or frees merged into its word. Owner-only. */
HAK_INLINE void slab_take_from_bits(hak_slab_t *s)
{
    uint64_t w = slab_bits(s, s->cursor);
    if (!w) {
        s->take = NULL;
        return;
    }
    size_t i = (size_t)s->cursor * 64 + word_lowest(w);
    s->take_slot = (uint16_t)i;
    s->take = s->start + i * s->stride;
}

/* ---- Slab lifecycle (src/superslab.c) ----------------------------------- */
/* Every slot free, cursor at word 0. The slab holds no live block. */
HAK_INTERNAL void slab_init(hak_superslab_t *ss, hak_slab_t *s, unsigned cls);

HAK_INLINE hak_where_t slab_where(const hak_slab_t *s)
{
    /* An unused slab (capacity 0) may be a never-written descriptor
     * (superslab ninit), whose cls reads 0: it has no class. */
    return (hak_where_t){ s->capacity ? s->cls : HAK_WHERE_NONE, s->stride,
                          s->start };
}

#endif
