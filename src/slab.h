/* slab.h — one function per block computation.
 *
 * The slot address of index i, the index of a pointer, the slab of a
 * pointer, the link encoding and the state tags each exist once, here.
 * Every carve, refill, validation and free site calls these.
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
    return &ss->slabs[(a & HAK_SS_MASK) >> ss->slab_shift];
}

HAK_INLINE uint8_t *slab_slot(const hak_slab_t *s, uint32_t i)
{
    return s->start + (size_t)i * s->stride;
}

/* Index of the block starting at a, or UINT32_MAX if a is not the start of
 * one of the slab's `limit` first blocks. Uses only fields that are
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

/* ---- Freelist links ----------------------------------------------------- */
HAK_INLINE uintptr_t block_encode(const hak_block_t *b, const hak_block_t *next,
                                  uintptr_t key)
{
    return (uintptr_t)next ^ key ^ (uintptr_t)b;
}

HAK_INLINE hak_block_t *block_decode(const hak_block_t *b, uintptr_t key)
{
    return (hak_block_t *)(b->link ^ key ^ (uintptr_t)b);
}

/* ---- State tags --------------------------------------------------------- */
HAK_INLINE uintptr_t tag_free(const void *b)
{
    return (uintptr_t)b ^ hak_g.tag_key;
}

HAK_INLINE uintptr_t tag_remote(const void *b)
{
    return (uintptr_t)b ^ hak_g.tag_key ^ 1;
}

/* The block is free: in a local list or in a remote queue (the two tags
 * differ in bit 0 only, so this is one compare). */
HAK_INLINE int tag_is_free(const hak_block_t *b)
{
    return (b->tag ^ tag_free(b)) < 2;
}

/* ---- Slab lifecycle (src/superslab.c) ----------------------------------- */
HAK_INTERNAL void slab_init(hak_superslab_t *ss, hak_slab_t *s, unsigned cls);
/* Carve one block from the bump window; NULL when the window is empty. */
HAK_INTERNAL hak_block_t *slab_carve_one(hak_superslab_t *ss, hak_slab_t *s);
/* Carve up to n blocks into an encoded list; returns its head. */
HAK_INTERNAL hak_block_t *slab_carve_batch(hak_superslab_t *ss, hak_slab_t *s,
                                           uint32_t n);

HAK_INLINE hak_where_t slab_where(const hak_slab_t *s)
{
    return (hak_where_t){ s->cls, s->stride, s->start };
}

#endif
