/* hooks.h — the debug flavour's checks, as real-or-empty twins.
 *
 * The hot paths call these unconditionally; in release they are empty
 * inline functions and compile to nothing, so the allocation path reads
 * the same in both flavours. The real ones live in hardening/debug.c.
 *
 * Tiers of checks (who can break the invariant):
 *   always on (src/alloc.c, both flavours): what a caller or attacker can
 *     reach — invalid/misaligned free, double free, bad freelist links.
 *   debug (here): canaries, poison, per-slot state, carve bounds, remote
 *     sentinels, drained-chain sanitising.
 *   debug walk (hardening/heap_check.c): hak_check_heap().
 */
#ifndef HAK_HOOKS_H
#define HAK_HOOKS_H

#include "slab.h"

#define HAK_CANARY_BYTE 0xca
#define HAK_POISON_BYTE 0xdd

#if HAK_DEBUG
/* A free block leaves: it must still be tag_free and poisoned. */
HAK_INTERNAL void hak_dbg_on_alloc(hak_superslab_t *ss, hak_slab_t *s,
                                   hak_block_t *b);
/* ...and, its tag cleared, becomes live for a request of `req` bytes:
 * per-slot state and canary. */
HAK_INTERNAL void hak_dbg_arm(hak_superslab_t *ss, hak_slab_t *s,
                              hak_block_t *b, size_t req);
/* A block comes back. `local`: the owner frees it (may write metadata and
 * poison); otherwise another thread frees it (may only read metadata). */
HAK_INTERNAL void hak_dbg_on_free(hak_superslab_t *ss, hak_slab_t *s,
                                  hak_block_t *b, int local);
/* The owner takes a block out of its remote queue. */
HAK_INTERNAL void hak_dbg_on_drain(hak_superslab_t *ss, hak_slab_t *s,
                                   hak_block_t *b);
/* Every carve: the block's end lies within the slab's usable bytes; the
 * new block is poisoned like any free block. */
HAK_INTERNAL void hak_dbg_on_carve(hak_superslab_t *ss, hak_slab_t *s,
                                   uint8_t *b);
/* Before a drained chain is routed: every node is a free-in-queue block of
 * a slab this heap owns, at a block boundary, and the chain is finite. */
HAK_INTERNAL void hak_dbg_sanitize_chain(hak_heap_t *h, hak_block_t *chain);
/* Requested size of a live block (malloc_usable_size in debug). */
HAK_INTERNAL size_t hak_dbg_requested(hak_superslab_t *ss, hak_slab_t *s,
                                      const void *b);
/* First byte in [from, to) of b that is not `byte`, or `to`. */
HAK_INTERNAL size_t hak_dbg_first_not(const uint8_t *b, size_t from, size_t to,
                                      uint8_t byte);
/* Raw slot state: requested size + 1 while live, 0 while free. */
HAK_INTERNAL uint32_t hak_dbg_slot_value(hak_superslab_t *ss, hak_slab_t *s,
                                         const void *b);
/* A realloc in place changes the requested size. */
HAK_INTERNAL void hak_dbg_resize(hak_superslab_t *ss, hak_slab_t *s,
                                 hak_block_t *b, size_t req);
HAK_INTERNAL uint32_t *hak_dbg_slot_map(void);
HAK_INTERNAL void hak_dbg_slot_unmap(uint32_t *map);
#else
HAK_INLINE void hak_dbg_on_alloc(hak_superslab_t *ss, hak_slab_t *s,
                                 hak_block_t *b)
{ (void)ss; (void)s; (void)b; }
HAK_INLINE void hak_dbg_arm(hak_superslab_t *ss, hak_slab_t *s,
                            hak_block_t *b, size_t req)
{ (void)ss; (void)s; (void)b; (void)req; }
HAK_INLINE void hak_dbg_on_free(hak_superslab_t *ss, hak_slab_t *s,
                                hak_block_t *b, int local)
{ (void)ss; (void)s; (void)b; (void)local; }
HAK_INLINE void hak_dbg_on_drain(hak_superslab_t *ss, hak_slab_t *s,
                                 hak_block_t *b)
{ (void)ss; (void)s; (void)b; }
HAK_INLINE void hak_dbg_on_carve(hak_superslab_t *ss, hak_slab_t *s,
                                 uint8_t *b)
{ (void)ss; (void)s; (void)b; }
HAK_INLINE void hak_dbg_sanitize_chain(hak_heap_t *h, hak_block_t *chain)
{ (void)h; (void)chain; }
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
                               hak_block_t *b, size_t req)
{ (void)ss; (void)s; (void)b; (void)req; }
HAK_INLINE uint32_t *hak_dbg_slot_map(void) { return NULL; }
HAK_INLINE void hak_dbg_slot_unmap(uint32_t *map) { (void)map; }
#endif

#endif
