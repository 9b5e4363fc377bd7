/* hooks.h — the debug flavour's checks, as real-or-empty twins.
 *
 * The hot paths call these unconditionally; in release they are empty
 * inline functions and compile to nothing, so the allocation path reads
 * the same in both flavours. The real ones live in hardening/debug.c.
 *
 * Tiers of checks (who can break the invariant):
 *   always on (src/alloc.c and src/slab.c, both flavours): what a caller
 *     or attacker can reach — invalid/misaligned free, double free (the
 *     slot bitmap).
 *   debug (here): canaries, poison, per-slot state with the requested
 *     size, the bounds of every handed-out block.
 *   debug walk (hardening/heap_check.c): hak_check_heap().
 */
#ifndef HAK_HOOKS_H
#define HAK_HOOKS_H

#include "slab.h"

#define HAK_CANARY_BYTE 0xca
#define HAK_POISON_BYTE 0xdd

/* Debug per-slot state (hak_dbg_slot_value). */
#define HAK_SLOT_FRESH 0u   /* never handed out since hak_slab_init */
#define HAK_SLOT_FREE  1u   /* freed: poisoned, verified at reuse */
#define HAK_SLOT_LIVE  2u   /* live: HAK_SLOT_LIVE + requested size */

/* The checks (hardening/debug.c), compiled in both flavours. */
HAK_INTERNAL void hak_chk_on_slab_init(hak_superslab_t *ss, hak_slab_t *s);
HAK_INTERNAL void hak_chk_on_alloc(hak_superslab_t *ss, hak_slab_t *s,
                                   uint8_t *b);
HAK_INTERNAL void hak_chk_arm(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b,
                              size_t req);
HAK_INTERNAL void hak_chk_on_free(hak_superslab_t *ss, hak_slab_t *s,
                                  uint8_t *b, int local);
/* A freed block's fill is intact (HAKMEM_SECURITY's delay, at the end
 * of the wait). */
HAK_INTERNAL void hak_chk_still_free(hak_superslab_t *ss, hak_slab_t *s,
                                     uint8_t *b);
HAK_INTERNAL void hak_chk_on_drain(hak_superslab_t *ss, hak_slab_t *s,
                                   uint8_t *b);
HAK_INTERNAL size_t hak_chk_requested(hak_superslab_t *ss, hak_slab_t *s,
                                      const void *b);
HAK_INTERNAL size_t hak_chk_first_not(const uint8_t *b, size_t from,
                                      size_t to, uint8_t byte);
HAK_INTERNAL uint32_t hak_chk_slot_value(hak_superslab_t *ss, hak_slab_t *s,
                                         const void *b);
HAK_INTERNAL void hak_chk_resize(hak_superslab_t *ss, hak_slab_t *s,
                                 uint8_t *b, size_t req);
HAK_INTERNAL uint32_t *hak_chk_slot_map(void);
HAK_INTERNAL void hak_chk_slot_unmap(uint32_t *map);

/* What a freed block is filled with: a pattern when HAK_POISON is built
 * in, zeros for HAKMEM_SECURITY's zero (what was in it cannot be read
 * after the free). */
#define HAK_FREE_BYTE (HAK_POISON ? HAK_POISON_BYTE : 0u)

/* The hooks the fast paths call: the checks the knobs (types.h) build
 * in, or nothing. A release build without knobs compiles them away; its
 * HAKMEM_SECURITY mitigations call the checks from the slow paths. */
HAK_INLINE void hak_dbg_on_slab_init(hak_superslab_t *ss, hak_slab_t *s)
{
    if (HAK_SLOTSTATE)
        hak_chk_on_slab_init(ss, s);
}
HAK_INLINE void hak_dbg_on_alloc(hak_superslab_t *ss, hak_slab_t *s,
                                 uint8_t *b)
{
    if (HAK_SLOTSTATE || HAK_BOUNDS)
        hak_chk_on_alloc(ss, s, b);
}
HAK_INLINE void hak_dbg_arm(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b,
                            size_t req)
{
    if (HAK_SLOTSTATE)
        hak_chk_arm(ss, s, b, req);
}
HAK_INLINE void hak_dbg_on_free(hak_superslab_t *ss, hak_slab_t *s,
                                uint8_t *b, int local)
{
    if (HAK_SLOTSTATE)
        hak_chk_on_free(ss, s, b, local);
}

/* Large blocks (src/large.c): the canary after the request, in the
 * block's read-write slack (its first HAK_LARGE_CANARY bytes: an overflow
 * starts at the end of the request), and before it, in the read-write
 * front of a huge block placed at the end of its 2 MiB pages (the front's
 * last HAK_LARGE_CANARY bytes: an underflow starts at the block's first
 * byte). With no slack (a request of whole pages), the PROT_NONE page
 * after the block is what an overflow meets; with no front, the one
 * before it. rw: the read-write bytes from b; lead: the front's. */
#define HAK_LARGE_CANARY ((size_t)4096)
HAK_INTERNAL void hak_chk_large_arm(uint8_t *b, size_t req, size_t rw,
                                    size_t lead);
HAK_INTERNAL void hak_chk_large_check(const uint8_t *b, size_t req,
                                      size_t rw, size_t lead, size_t map);
HAK_INLINE void hak_dbg_large_arm(uint8_t *b, size_t req, size_t rw,
                                  size_t lead)
{
    if (hak_canary_on())
        hak_chk_large_arm(b, req, rw, lead);
}
HAK_INLINE void hak_dbg_large_check(const uint8_t *b, size_t req, size_t rw,
                                    size_t lead, size_t map)
{
    if (hak_canary_on())
        hak_chk_large_check(b, req, rw, lead, map);
}
/* Bytes of a large block the program may use: the request where sizes
 * are exact (the slot state is kept, as for small blocks; canaries need
 * it), else every read-write byte. */
HAK_INLINE size_t hak_large_usable_of(size_t req, size_t rw)
{
    return hak_slots_kept() ? req : rw;
}

/* Requested size of a live small block: exact where the slot state is
 * kept, else the stride (release's malloc_usable_size). */
HAK_INLINE size_t hak_requested(hak_superslab_t *ss, hak_slab_t *s,
                                const void *b)
{
    return hak_slots_kept() ? hak_chk_requested(ss, s, b) : s->stride;
}
HAK_INLINE uint32_t hak_dbg_slot_value(hak_superslab_t *ss, hak_slab_t *s,
                                       const void *b)
{
    return hak_slots_kept() ? hak_chk_slot_value(ss, s, b) : 0;
}

#endif
