/* size_class.h — size classes and the one stride.
 *
 * The class table is data in one place (size_class.c). Size -> class is a
 * table lookup, never a loop. hak_stride() is the only answer to "how far
 * apart are blocks of class c": capacity, the slot address of a bit,
 * free-pointer validation and the debug bound check all call it. (An
 * ancestor of this allocator wrote a per-block header while its carve and
 * capacity still used the bare class size: blocks overran their slab;
 * zoo/01-header-stride.patch re-creates it.)
 */
#ifndef HAK_SIZE_CLASS_H
#define HAK_SIZE_CLASS_H

#include "types.h"

extern const uint32_t hak_class_size[HAK_NUM_CLASSES];
/* class of n for n <= HAK_TINY_MAX, indexed by (n + 15) >> 4; n == 0
 * (index 0) is HAK_CLASS_ZERO */
extern const uint8_t hak_class_of_16[HAK_TINY_MAX / 16 + 1];
/* class of n for HAK_TINY_MAX < n <= HAK_SMALL_LIMIT, indexed by
 * (n + 255) >> 8 */
extern const uint8_t hak_class_of_256[HAK_BIG_MAX / 256 + 1];

/* Class serving a request of n bytes, 0 < n <= HAK_SMALL_LIMIT: the
 * same in every build (the canaries live in the stride, not in a larger
 * class). */
HAK_INLINE unsigned hak_class_of(size_t n)
{
    if (HAK_LIKELY(n <= HAK_TINY_MAX))
        return hak_class_of_16[(n + 15) >> 4];
    return hak_class_of_256[(n + 255) >> 8];
}

/* Largest request the slab tiers (tiny, mid, big) serve. */
#define HAK_SMALL_LIMIT ((size_t)HAK_BIG_MAX)

HAK_INLINE unsigned hak_class_tier(unsigned c)
{
    if (c < HAK_TINY_CLASSES)
        return HAK_TIER_TINY;
    return c < HAK_TINY_CLASSES + HAK_MID_CLASSES ? HAK_TIER_MID
                                                  : HAK_TIER_BIG;
}

HAK_INLINE unsigned hak_tier_shift(unsigned tier)
{
    if (tier == HAK_TIER_TINY)
        return HAK_TINY_SHIFT;
    return tier == HAK_TIER_MID ? HAK_MID_SHIFT : HAK_BIG_SHIFT;
}

/* Bytes of a slab of this class that may hold blocks. */
HAK_INLINE size_t hak_slab_usable(unsigned c)
{
    return (size_t)1 << hak_tier_shift(hak_class_tier(c));
}

/* Bytes a block of class c keeps after its class size for the canary
 * while canaries are on (hak_canary_on: the HAK_CANARY knob, or
 * HAKMEM_SECURITY's canary), else 0: the class size's lowest set bit,
 * 16 bytes at least. So a request of the class's whole size still has a
 * canary after it, and the stride stays a multiple of every power of two
 * that divides the class size: an aligned request is served by the same
 * class, at an aligned address, with canaries or without. The price is
 * address space: a power-of-two class's stride is twice its size (in
 * memory too below a page; a room of whole pages beyond the checked span
 * below is never touched). Fixed before the first slab is set up
 * (hak_init). */
HAK_INLINE uint32_t hak_canary_room(unsigned c)
{
    uint32_t z = hak_class_size[c];
    return hak_canary_on() ? z & -z : 0;
}

/* Bytes of a block of class c that the checks fill and verify (canary,
 * poison): its class size and the first HAK_CANARY_SPAN bytes of its
 * canary room. An overflow crosses them first; the rest of the room is
 * never written by anyone, so its pages are never touched (a 32 KiB
 * class's room is 32 KiB) and no check pays for scanning it. */
#define HAK_CANARY_SPAN 16u
HAK_INLINE uint32_t hak_checked_span(unsigned c)
{
    uint32_t room = hak_canary_room(c);
    return hak_class_size[c] +
           (room < HAK_CANARY_SPAN ? room : HAK_CANARY_SPAN);
}

/* Bytes a block of class c really occupies: its class size and canary
 * room (blocks carry no header). The debug carve check compares against
 * this, not the stride, so that a stride that forgets part of a block is
 * caught. */
HAK_INLINE uint32_t hak_footprint(unsigned c)
{
    return hak_class_size[c] + hak_canary_room(c);
}

/* The one stride. */
HAK_INLINE uint32_t hak_stride(unsigned c)
{
    return hak_footprint(c);
}

/* The class serving n bytes at a multiple of align (a power of two), or
 * HAK_NUM_CLASSES when none does (the large tier's): the first from the
 * class of max(n, align) whose size align divides. Its stride is a
 * multiple of align too (hak_canary_room), and slabs are aligned to their
 * size, so every block of it sits at a multiple of align. The one answer
 * of the memalign family (api.c) and of the sized frees' check (sized.c). */
HAK_INLINE unsigned hak_class_aligned(size_t n, size_t align)
{
    if (n < align)
        n = align;
    if (n > HAK_SMALL_LIMIT)
        return HAK_NUM_CLASSES;
    unsigned c = hak_class_of(n);
    /* a mask, not %: align is a variable, and a division costs tens of
     * cycles (7% of larson's time when every sized delete came here) */
    while (c < HAK_NUM_CLASSES && (hak_class_size[c] & (align - 1)) != 0)
        c++;
    return c;
}

/* realloc keeps a block of class c in place for n bytes while the class
 * stays right: never shrunk to half its class or less, never grown past
 * it (hak_realloc, and the realloc answer of hak_free_sized's check). */
HAK_INLINE int hak_realloc_keeps(size_t n, unsigned c)
{
    return n <= hak_class_size[c] && n > hak_class_size[c] / 2;
}

/* Blocks of class c in one slab: capacity * stride <= usable. */
HAK_INLINE uint32_t hak_capacity(unsigned c)
{
    return (uint32_t)(hak_slab_usable(c) / hak_stride(c));
}

/* Magic for exact division by a stride (Lemire, Kaser and Kurz, "Faster
 * remainder by direct computation", 2019): with M = ceil(2^64 / s) and any
 * off < 2^32, the 128-bit product off * M has off / s in its high 64 bits,
 * and its low 64 bits are below M exactly when s divides off. One `mul`
 * answers both "which block" and "is it a block's start"
 * (tests/test_size_class.c checks every class and offset). */
HAK_INLINE uint64_t hak_div_magic(uint32_t stride)
{
    return UINT64_MAX / stride + 1;
}

#endif
