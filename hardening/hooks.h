/* hooks.h — the debug flavour's checks, as real-or-empty twins.
 *
 * The hot paths call these unconditionally; in release they are empty
 * inline functions and compile to nothing, so the allocation path reads
 * the same in both flavours. The real ones live in hardening/debug.c.
 *
 * Tiers of checks (who can break the invariant):
 *   always on (src/alloc.c, both flavours): what a caller or attacker can
 *     reach — invalid/misaligned free, double free (the slot bitmap).
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
#define HAK_SLOT_FRESH 0u   /* never handed out since slab_init */
#define HAK_SLOT_FREE  1u   /* freed: poisoned, verified at reuse */
#define HAK_SLOT_LIVE  2u   /* live: HAK_SLOT_LIVE + requested size */

#if HAK_DEBUG
/* The slab is (re)initialised: every slot is fresh (never handed out, not
 * poisoned). */
HAK_INTERNAL void hak_dbg_on_slab_init(hak_superslab_t *ss, hak_slab_t *s);
/* A free slot is handed out: it lies within the slab (the one stride), is
 * not live, and if it was freed before its poison is intact. */
HAK_INTERNAL void hak_dbg_on_alloc(hak_superslab_t *ss, hak_slab_t *s,
                                   uint8_t *b);
/* ...and becomes live for a request of `req` bytes: per-slot state and
 * canary. */
HAK_INTERNAL void hak_dbg_arm(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b,
                              size_t req);
/* A block comes back. `local`: the owner frees it (may write metadata and
 * poison); otherwise another thread frees it (may only read). */
HAK_INTERNAL void hak_dbg_on_free(hak_superslab_t *ss, hak_slab_t *s,
                                  uint8_t *b, int local);
/* The owner merges a block another thread freed. */
HAK_INTERNAL void hak_dbg_on_drain(hak_superslab_t *ss, hak_slab_t *s,
                                   uint8_t *b);
/* Requested size of a live block (malloc_usable_size in debug). */
HAK_INTERNAL size_t hak_dbg_requested(hak_superslab_t *ss, hak_slab_t *s,
                                      const void *b);
/* First byte in [from, to) of b that is not `byte`, or `to`. */
HAK_INTERNAL size_t hak_dbg_first_not(const uint8_t *b, size_t from, size_t to,
                                      uint8_t byte);
/* Raw slot state: HAK_SLOT_FRESH, HAK_SLOT_FREE or HAK_SLOT_LIVE + req. */
HAK_INTERNAL uint32_t hak_dbg_slot_value(hak_superslab_t *ss, hak_slab_t *s,
                                         const void *b);
/* A realloc in place changes the requested size. */
HAK_INTERNAL void hak_dbg_resize(hak_superslab_t *ss, hak_slab_t *s,
                                 uint8_t *b, size_t req);
HAK_INTERNAL uint32_t *hak_dbg_slot_map(void);
HAK_INTERNAL void hak_dbg_slot_unmap(uint32_t *map);
#else
HAK_INLINE void hak_dbg_on_slab_init(hak_superslab_t *ss, hak_slab_t *s)
{ (void)ss; (void)s; }
HAK_INLINE void hak_dbg_on_alloc(hak_superslab_t *ss, hak_slab_t *s,
                                 uint8_t *b)
{ (void)ss; (void)s; (void)b; }
HAK_INLINE void hak_dbg_arm(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b,
                            size_t req)
{ (void)ss; (void)s; (void)b; (void)req; }
HAK_INLINE void hak_dbg_on_free(hak_superslab_t *ss, hak_slab_t *s,
                                uint8_t *b, int local)
{ (void)ss; (void)s; (void)b; (void)local; }
HAK_INLINE void hak_dbg_on_drain(hak_superslab_t *ss, hak_slab_t *s,
                                 uint8_t *b)
{ (void)ss; (void)s; (void)b; }
HAK_INLINE size_t hak_dbg_first_not(const uint8_t *b, size_t from, size_t to,
                                    uint8_t byte)
{ (void)b; (void)from; (void)byte; return to; }
HAK_INLINE size_t hak_dbg_requested(hak_superslab_t *ss, hak_slab_t *s,
                                    const void *b)
{ (void)ss; (void)b; return s->stride; }
HAK_INLINE uint32_t hak_dbg_slot_value(hak_superslab_t *ss, hak_slab_t *s,
                                       const void *b)
{ (void)ss; (void)s; (void)b; return 0; }
HAK_INLINE void hak_dbg_resize(hak_superslab_t *ss, hak_slab_t *s,
                               uint8_t *b, size_t req)
{ (void)ss; (void)s; (void)b; (void)req; }
HAK_INLINE uint32_t *hak_dbg_slot_map(void) { return NULL; }
HAK_INLINE void hak_dbg_slot_unmap(uint32_t *map) { (void)map; }
#endif

#endif
