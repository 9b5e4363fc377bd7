/* slab.h — one function per block computation.
 *
 * The slot address of index i, the index of a pointer, the slab of a
 * pointer and a slot's place in the bitmap each exist once, here. Every
 * allocation, validation and free site calls these. Inline only: the
 * bottom of the slab concept. A slab is set up by its superslab
 * (hak_slab_init, src/superslab.h); a heap's lists of slabs and the state
 * moves live one layer up (src/slab_list.h).
 */
#ifndef HAK_SLAB_H
#define HAK_SLAB_H

#include "registry.h"
#include "size_class.h"
#include "report.h"

/* Slab holding address a, given its superslab. Slab 0 is the metadata and
 * never has carved blocks, so pointers into it fail validation. */
HAK_INLINE hak_slab_t *slab_at_shift(hak_superslab_t *ss, uintptr_t a,
                                      unsigned shift)
{
    /* Spelled as an address so that the compiler addresses every field
     * from the descriptor (one register), not from the superslab. */
    uintptr_t i = (a & HAK_SS_MASK) >> shift;
    return (hak_slab_t *)((uintptr_t)ss->slabs + i * sizeof(hak_slab_t));
}

HAK_INLINE hak_slab_t *slab_of(hak_superslab_t *ss, uintptr_t a)
{
    return slab_at_shift(ss, a, ss->slab_shift);
}

HAK_INLINE uint8_t *slab_slot(const hak_slab_t *s, uint32_t i)
{
    return s->start + (size_t)i * s->stride;
}

/* Index of the block starting at a, or UINT32_MAX if a is not the start of
 * one of the `limit` first blocks from `start`, `magic` apart (callers
 * pass the capacity). slab_index reads the owner's view (fields that are
 * immutable while the slab is in use); geom_index another thread's. a is
 * inside the slab's superslab, so |a - start| < 2^21; below start, the
 * offset wraps to nearly 2^64 and its quotient is far above any limit. */
HAK_INLINE uint32_t index_by_magic(uintptr_t a, const uint8_t *start,
                                   uint64_t magic, uint32_t limit)
{
    uint64_t off = a - (uintptr_t)start, lo, i;
#if defined(__x86_64__)
    /* One mul gives both halves; gcc's __int128 lowering of the same
     * product reserves extra registers and spills on the free fast path. */
    __asm__("mulq %3" : "=a"(lo), "=d"(i) : "a"(off), "rm"(magic));
#else
    unsigned __int128 p = (unsigned __int128)off * magic;
    lo = (uint64_t)p;
    i = (uint64_t)(p >> 64);
#endif
    if (HAK_UNLIKELY(lo >= magic || i >= limit))
        return UINT32_MAX;
    return (uint32_t)i;
}

HAK_INLINE uint32_t slab_index(const hak_slab_t *s, uintptr_t a,
                               uint32_t limit)
{
    return index_by_magic(a, s->start, s->div_magic, limit);
}

/* Blocks of s handed out and not yet freed back to it (exact). */
HAK_INLINE uint32_t slab_used(const hak_slab_t *s)
{
    return s->used_base + (uint32_t)s->credit;
}

/* Free slots of s in the words its cursor has reached since
 * hak_slab_init: blocks that went out and came back, not fresh memory
 * (words above `top` were never handed out: types.h). */
HAK_INLINE uint32_t slab_free_touched(const hak_slab_t *s)
{
    uint32_t touched = ((uint32_t)s->top + 1u) * 64u;
    return (touched < s->capacity ? touched : s->capacity) - slab_used(s);
}

/* The frees a FULL slab waits for before it rejoins its class's partial
 * list (types.h): an eighth of its blocks, one for a slab of fewer than
 * 16. A slab taken back with a block or two free costs a refill for each
 * of them: alloc-test frees in random order with its slabs near full, and
 * its 16 B class refilled on half of its allocations; with this its CPU
 * time fell by a sixth. The blocks freed meanwhile are free in the bitmap
 * (a double free of one is still seen) and wait, as the blocks of a
 * partial slab do, to be handed out again. */
HAK_INLINE uint32_t slab_full_wait(const hak_slab_t *s)
{
    return s->capacity >= 16 ? s->capacity / 8u : 1u;
}

/* used_base of a FULL slab: its slab_full_wait-th free makes its credit
 * negative. (Set when every block is out: used == capacity.) */
HAK_INLINE uint32_t slab_full_base(const hak_slab_t *s)
{
    return s->capacity + 1u - slab_full_wait(s);
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

/* ---- A slab seen from another thread ------------------------------------
 * The owner rewrites a descriptor when it releases the slab and when it
 * sets it up again (hak_slab_init), at any moment, while another thread may be
 * validating a pointer into it that is no live block (a bad free, a
 * usable-size or realloc of a stale pointer). Such a thread reads the
 * descriptor only as below: rstart, rmagic and rcapacity (the owner's
 * start, div_magic and capacity, copied to the line remote frees use:
 * types.h), cls and top with relaxed atomic loads (the owner stores them
 * with relaxed atomic stores and reads its own plainly, so its fast paths
 * are unchanged), the bitmaps
 * (atomics), and gen around them all, as a sequence lock: a view taken
 * while gen was odd or that gen changed under is not the set-up of any
 * moment, and then the pointer was no live block either (a live block's
 * slab is not set up again before the block is freed). */
#define HAK_SHARED_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define HAK_SHARED_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* The owner is about to rewrite s's class and geometry: gen turns odd. */
HAK_INLINE void slab_gen_begin(hak_slab_t *s)
{
    atomic_store_explicit(&s->gen,
                          atomic_load_explicit(&s->gen, memory_order_relaxed)
                              + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

/* ... and has: gen turns even again. */
HAK_INLINE void slab_gen_end(hak_slab_t *s)
{
    atomic_store_explicit(&s->gen,
                          atomic_load_explicit(&s->gen, memory_order_relaxed)
                              + 1, memory_order_release);
}

/* What another thread needs of a slab to find a slot: capacity 0 (every
 * index fails) when the slab is unused or being rewritten. */
typedef struct hak_geom {
    uint8_t *start;
    uint64_t magic;
    uint32_t capacity, gen;
} hak_geom_t;

HAK_INLINE hak_geom_t slab_geom_shared(const hak_slab_t *s)
{
    hak_geom_t g;
    g.gen = atomic_load_explicit(&s->gen, memory_order_acquire);
    g.start = HAK_SHARED_LOAD(s->rstart);
    g.magic = HAK_SHARED_LOAD(s->rmagic);
    g.capacity = HAK_SHARED_LOAD(s->rcapacity);
    if (HAK_UNLIKELY(g.gen & 1))
        g.capacity = 0;
    return g;
}

/* Index of the block starting at a in view g, or UINT32_MAX. */
HAK_INLINE uint32_t geom_index(const hak_geom_t *g, uintptr_t a)
{
    return index_by_magic(a, g->start, g->magic, g->capacity);
}

/* s is still set up as g saw it, so what was read of it since (its
 * bitmaps) belongs to that set-up. */
HAK_INLINE int slab_geom_still(const hak_slab_t *s, const hak_geom_t *g)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&s->gen, memory_order_relaxed) == g->gen;
}

/* s's class as another thread may read it (HAK_CLASS_NONE: unused). */
HAK_INLINE unsigned slab_cls_shared(const hak_slab_t *s)
{
    return HAK_SHARED_LOAD(s->cls);
}

/* Where s is, for a report from any thread (best effort: the class of
 * one moment). A report's size is the class size, whatever canary room
 * the stride has. */
HAK_INLINE hak_where_t slab_where_shared(const hak_slab_t *s)
{
    unsigned c = slab_cls_shared(s);
    return (hak_where_t){ c, c < HAK_NUM_CLASSES ? hak_class_size[c] : 0,
                          HAK_SHARED_LOAD(s->start) };
}

/* Where s is, for a report by its owner. */
HAK_INLINE hak_where_t slab_where(const hak_slab_t *s)
{
    /* An unused slab (capacity 0) may be a never-written descriptor
     * (superslab ninit), whose cls reads 0: it has no class. */
    unsigned c = s->capacity ? s->cls : HAK_WHERE_NONE;
    return (hak_where_t){ c, c < HAK_NUM_CLASSES ? hak_class_size[c] : 0,
                          s->start };
}

#endif
