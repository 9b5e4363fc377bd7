/* zero.h — zero-size blocks: malloc(0) and its relatives.
 *
 * malloc(0), calloc(0, n), realloc(NULL, 0) and the memalign family with
 * size 0 return a unique pointer, aligned as asked (16 bytes at least), to
 * no accessible memory: a 16-byte slot of a zero region — 2 MiB of address
 * space aligned to 2 MiB, PROT_NONE from end to end and never backed by a
 * page. A read or write through the pointer faults at the access. The
 * region's registry byte is HAK_TIER_ZERO, so free() tells it from a
 * superslab with the one registry load it makes for every pointer outside
 * its hot superslabs.
 *
 * Which slots are live is a bitmap out of line (a guarded metadata
 * mapping), next to a bitmap of the slots ever handed out, so a double
 * free is told from a pointer never handed out and from an address inside
 * a slot; each aborts with its one-line report. free, realloc (to n > 0: a
 * normal block; to 0: freed, NULL) and malloc_usable_size (0) work as for
 * any block.
 *
 * Slots are handed out next-fit: a cursor per region moves on past the
 * last slot taken, so a freed slot comes back only after every other slot
 * of its region (131072 of them) was taken in turn, and a stale zero-size
 * pointer does not soon name a live block again. A full region (or an
 * alignment no free slot has) gets another region; regions are never
 * unmapped (address space only). One mutex: zero-size requests are rare.
 */
#ifndef HAK_ZERO_H
#define HAK_ZERO_H

#include "types.h"

/* A zero-size block at a multiple of align (a power of two); NULL with
 * errno = ENOMEM. */
HAK_INTERNAL void *hak_zero_alloc(size_t align);
/* p is in a zero region (registry_tier: HAK_TIER_ZERO): frees it, or
 * reports a double free or an invalid free. */
HAK_INTERNAL void hak_zero_free(void *p);
/* 0 for a live zero-size block p in a zero region; reports naming check
 * otherwise. */
HAK_INTERNAL size_t hak_zero_usable(const void *p, const char *check);
HAK_INTERNAL void hak_zero_lock(void);
HAK_INTERNAL void hak_zero_unlock(void);
HAK_INTERNAL void hak_zero_stats(uint64_t *allocs, uint64_t *frees);

#endif
