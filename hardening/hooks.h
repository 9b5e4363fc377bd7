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

/* Release mitigations chosen with HAKMEM_SECURITY (types.h); 0 in debug,
 * which runs every check anyway. Read on slow paths only. */
HAK_INLINE unsigned hak_sec(void) { return HAK_DEBUG ? 0u : hak_g.sec; }
/* The per-slot state is kept: in debug, or with any mitigation. */
HAK_INLINE int hak_slots_kept(void) { return HAK_DEBUG || hak_g.sec; }
/* Bytes a small block keeps after the request: one for the canary. */
HAK_INLINE size_t hak_slack(void)
{
    return HAK_SLACK_MIN | ((hak_sec() & HAK_SEC_CANARY) ? 1u : 0u);
}
/* What a freed block is filled with: a pattern in debug, zeros in release
 * (HAK_SEC_ZERO: what was in it cannot be read after the free). */
#define HAK_FREE_BYTE (HAK_DEBUG ? HAK_POISON_BYTE : 0u)

/* The debug flavour's hooks: the checks, or nothing in release. */
HAK_INLINE void hak_dbg_on_slab_init(hak_superslab_t *ss, hak_slab_t *s)
{
    if (HAK_DEBUG)
        hak_chk_on_slab_init(ss, s);
}
HAK_INLINE void hak_dbg_on_alloc(hak_superslab_t *ss, hak_slab_t *s,
                                 uint8_t *b)
{
    if (HAK_DEBUG)
        hak_chk_on_alloc(ss, s, b);
}
HAK_INLINE void hak_dbg_arm(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b,
                            size_t req)
{
    if (HAK_DEBUG)
        hak_chk_arm(ss, s, b, req);
}
HAK_INLINE void hak_dbg_on_free(hak_superslab_t *ss, hak_slab_t *s,
                                uint8_t *b, int local)
{
    if (HAK_DEBUG)
        hak_chk_on_free(ss, s, b, local);
}
HAK_INLINE size_t hak_dbg_first_not(const uint8_t *b, size_t from, size_t to,
                                    uint8_t byte)
{
    return HAK_DEBUG ? hak_chk_first_not(b, from, to, byte) : to;
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
