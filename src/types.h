/* types.h — the design of hakmem, as built.
 *
 * Glossary (largest to smallest)
 *   superslab  2 MiB of address space aligned to 2 MiB, so ptr & ~(2 MiB-1)
 *              finds it. Slab 0 holds the header and slab descriptors between
 *              two guard pages; slabs 1..n-1 hold blocks. Every slab of a
 *              superslab belongs to the superslab's owner heap.
 *   slab       2^slab_shift bytes (64 KiB tiny, 256 KiB mid, 512 KiB big)
 *              aligned to its size; blocks of one size class. Which
 *              slots are free is a bitmap in the slab's descriptor, never
 *              in the blocks.
 *   block      one allocation; `stride` bytes apart (hak_stride()).
 *   heap       per-thread state: each class's current slab, the superslabs
 *              it owns, its hot superslabs and its remote-free queue (of
 *              slabs other threads freed into). Heaps are never unmapped:
 *              a thread that exits abandons its heap to a pool, and a new
 *              thread adopts a whole heap from there, so a queue record
 *              outlives its thread. Heaps live in guarded metadata
 *              mappings (hak_os_map_meta), never next to a user block.
 *   registry   which 2 MiB chunks are our superslabs: one byte per chunk,
 *              read lock-free; written under a mutex.
 *   large      blocks above the mid limit: their own mmap with a guard page
 *              on each side, tracked in a mutex-protected table (a guarded
 *              metadata mapping); freed mappings cached for reuse,
 *              PROT_NONE while cached (src/large.h).
 *   zero       malloc(0): a 16-byte slot of a zero region, 2 MiB of
 *              PROT_NONE address space registered with its own tier; live
 *              slots in an out-of-line bitmap (src/zero.h).
 *
 * Layers (lowest first). A file calls into its own layer and the ones
 * below, never up; ci/deps.sh checks it on the objects' symbols (release
 * and debug) in `make unit`, and names any cycle.
 *   bottom   types.h; global.c (hak_g, hak_opt, hak_tls_heap, the fork
 *            mark: state that upper layers write and every layer reads);
 *            os, size_class, registry, options, lock.h; report (the one
 *            fatal reporter) and vg.h (memcheck/ASan annotations), core
 *            infrastructure the core itself uses; slab.h (inline per-block
 *            computations, no object)
 *   checks   hardening/debug.c behind hardening/hooks.h: the per-block
 *            checks (canary, poison, slot state) the layers above call
 *   tiers    superslab (mapping, hak_slab_init), large, zero, remote (the
 *            queue itself)
 *   slabs    slab.c (slab_list.h): a heap's per-class slab lists and state
 *            moves, the owner's slow free, hak_heap_drain, the delay FIFO
 *   heap     heap.c: heaps made, adopted, abandoned; fork child
 *   alloc    alloc.c (malloc, free); stats.c; hardening/heap_check.c
 *   api      api.c, sized.c
 *   dropin   dropin.c, dropin_cxx.cc: the standard names
 *   root     init.c (init.h), the composition root: initialisation, fork
 *            and exit handlers; it calls any layer. The one call up into
 *            it is hak_init, the lazy initialisation of the entry points.
 * So hardening/ holds checks at two heights (debug.c near the bottom, the
 * heap walk at alloc's), both below the entry points that call them.
 *
 * Tiers (src/size_class.c has the table)
 *   tiny   1 B .. 1 KiB    21 classes, 64 KiB slabs
 *   mid    1 KiB .. 56 KiB 28 classes, 256 KiB slabs
 *   big    56 .. 112 KiB   4 classes, 512 KiB slabs: a superslab of their
 *                          own, so that programs using the mid sizes keep
 *                          eight slabs a superslab
 *   large  above 112 KiB  mmap
 *   zero   0 B            a slot of a zero region (no memory at all)
 *
 * Layout invariants (checked by _Static_assert here and in size_class.c,
 * and per class by tests/test_size_class.c):
 *   capacity(c) * hak_stride(c) <= slab_bytes(tier(c))
 *   stride % 16 == 0, and a power-of-two stride divides the slab size, so
 *   blocks of power-of-two classes are aligned to their size (memalign).
 */
#ifndef HAK_TYPES_H
#define HAK_TYPES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Flavour knobs ------------------------------------------------------
 * Every knob is always defined to an integer (-Wundef catches typos) and
 * code tests it with plain `if`, so both flavours compile every branch.
 *
 * HAK_DEBUG       0 release, 1 debug. The Makefile flavour sets it.
 * HAK_HARDEN      always-on checks of both flavours (invalid, misaligned
 *                 and double free, a slot never handed out; frees waiting
 *                 from other threads). 0 only for the cost measurement
 *                 build.
 * HAK_VALGRIND    client requests for memcheck (src/vg.h); defaults
 *                 to HAK_DEBUG.
 * HAK_ASAN        manual poisoning for ASan builds (set by -fsanitize).
 *
 * The per-block checks (hardening/debug.c, called through
 * hardening/hooks.h). Each defaults from the flavour and can be set alone:
 * `-DHAK_CANARY=1` makes a release build with canaries and nothing else.
 * HAK_CANARY      canary bytes after the requested size, checked at free
 *                 and realloc: small blocks in their class's canary room
 *                 (hak_canary_room, size_class.h), large ones in the slack
 *                 before their page end
 * HAK_POISON      freed small blocks filled with HAK_POISON_BYTE, verified
 *                 when handed out again
 * HAK_BOUNDS      every handed-out small block ends within its slab
 * HAK_SLOTSTATE   per-slot state (fresh, free, live with its requested
 *                 size): the exact usable size, a double free told by the
 *                 state, and what the canary and poison checks need, so
 *                 it is on whenever one of them is.
 * None of them moves a class boundary or changes a policy: a size is
 * served by the same class, tier and realloc step in every build.
 */
#ifndef HAK_DEBUG
#define HAK_DEBUG 0
#endif
#ifndef HAK_HARDEN
#define HAK_HARDEN 1
#endif
#ifndef HAK_VALGRIND
#define HAK_VALGRIND HAK_DEBUG
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAK_ASAN 1
#endif
#endif
#if !defined(HAK_ASAN) && defined(__SANITIZE_ADDRESS__)
#define HAK_ASAN 1
#endif
#ifndef HAK_ASAN
#define HAK_ASAN 0
#endif

#ifndef HAK_CANARY
#define HAK_CANARY HAK_DEBUG
#endif
#ifndef HAK_POISON
#define HAK_POISON HAK_DEBUG
#endif
#ifndef HAK_BOUNDS
#define HAK_BOUNDS HAK_DEBUG
#endif
#ifndef HAK_SLOTSTATE
#define HAK_SLOTSTATE (HAK_DEBUG || HAK_CANARY || HAK_POISON)
#endif
#if (HAK_CANARY || HAK_POISON) && !HAK_SLOTSTATE
#error "HAK_CANARY and HAK_POISON need HAK_SLOTSTATE"
#endif

/* HAKMEM_SECURITY (release): mitigations chosen at run time. Any of them
 * keeps a per-slot state (hardening/debug.c, as the debug flavour does)
 * and sends every malloc and free through the slow paths, so the fast
 * paths pay nothing while none is chosen. */
#define HAK_SEC_CANARY 1u   /* canary after the requested size, at free */
#define HAK_SEC_ZERO   2u   /* freed blocks zeroed, checked at reuse */
#define HAK_SEC_DELAY  4u   /* freed blocks wait in a FIFO before reuse */
#define HAK_QUARANTINE 64u  /* blocks a heap delays (HAK_SEC_DELAY) */

/* ---- Geometry ----------------------------------------------------------- */
#define HAK_PAGE          4096u
#define HAK_SS_SHIFT      21
#define HAK_SS_SIZE       ((size_t)1 << HAK_SS_SHIFT)
#define HAK_SS_MASK       (HAK_SS_SIZE - 1)
#define HAK_TINY_SHIFT    16   /* 64 KiB tiny slabs: 32 per superslab */
#define HAK_MID_SHIFT     18   /* 256 KiB mid slabs: 8 per superslab */
#define HAK_BIG_SHIFT     19   /* 512 KiB big slabs: 4 per superslab */
#define HAK_MAX_SLABS     (1u << (HAK_SS_SHIFT - HAK_TINY_SHIFT))
#define HAK_ALIGN         16u
#define HAK_VA_BITS       47   /* user address space of x86-64 Linux */

#define HAK_TINY_MAX      1024u
#define HAK_MID_MAX       57344u
#define HAK_BIG_MAX       114688u
#define HAK_TINY_CLASSES  21
#define HAK_MID_CLASSES   28
#define HAK_BIG_CLASSES   4
#define HAK_NUM_CLASSES   (HAK_TINY_CLASSES + HAK_MID_CLASSES + HAK_BIG_CLASSES)
#define HAK_CLASS_NONE    0xffffu
/* malloc(0)'s entry of hak_class_of_16 (index 0, n == 0 alone): a class with no slab and no size, whose current slab
 * is always hak_slab_none, so the malloc fast path sends n == 0 to its
 * slow path without a test of its own. Only hak_heap_hot.cur has it. */
#define HAK_CLASS_ZERO    HAK_NUM_CLASSES

/* Registry values (src/registry.h): a superslab's tier, or a zero region.
 * The slab tiers come first: a heap's per-tier arrays are indexed by
 * them (HAK_SLAB_TIERS entries, 0 unused). */
enum hak_tier {
    HAK_TIER_TINY = 1,
    HAK_TIER_MID = 2,
    HAK_TIER_BIG = 3,
    HAK_TIER_ZERO = 4,
};
#define HAK_SLAB_TIERS (HAK_TIER_BIG + 1)
/* t is a slab tier: its blocks are slots of slabs (one compare). */
#define HAK_TIER_IS_SLAB(t) ((unsigned)(t) - HAK_TIER_TINY < HAK_TIER_BIG)

_Static_assert(HAK_TINY_MAX <= (1u << HAK_TINY_SHIFT) / 32,
               "a tiny slab holds at least 32 of its largest blocks");
_Static_assert(HAK_MID_MAX <= (1u << HAK_MID_SHIFT) / 4,
               "a mid slab holds at least 4 of its largest blocks");
_Static_assert(HAK_BIG_MAX <= (1u << HAK_BIG_SHIFT) / 4,
               "a big slab holds at least 4 of its largest blocks");

/* ---- Blocks --------------------------------------------------------------
 * A block holds the program's bytes and nothing else. Every fact about it
 * lives out of line, in its slab's descriptor (slab 0 of the superslab,
 * between guard pages):
 *   bits   bit i set: slot i is free (never handed out yet, or freed);
 *          clear: live — or freed by another thread and not yet merged,
 *          in which case its bit in rbits is set.
 *   rbits  bit i set: another thread freed slot i; the owner merges the
 *          word into bits at its next drain (src/remote.h).
 * So an overflow, a write after free or a read of uninitialised bytes
 * meets only program data: there is no link to steer, no tag to forge and
 * no key to read, and "is this slot free" is never decided from user
 * memory. malloc hands out the slab's `take` slot and clears its bit;
 * free sets the slot's bit after checking it was clear. */
#define HAK_SLAB_WORDS    64   /* bitmap words per slab: 4096 slots */

typedef struct hak_heap hak_heap_t;
typedef struct hak_superslab hak_superslab_t;

/* ---- Slab descriptor (out of line, in the superslab's slab 0) ------------
 * Every slab keeps its own bitmap, so a free never asks which slab its
 * class allocates from, and a malloc touches only the current slab.
 *
 * Owner-only fields are touched by the owner heap's thread alone. The
 * "immutable while in use" fields are written by hak_slab_init when the slab
 * holds no live block, so a thread freeing a live block may read them; a
 * thread validating a pointer that may be no live block (a bad free)
 * reads them through slab_geom_shared instead (slab.h, and gen below).
 * bits is written by the owner only and read by any freer (relaxed
 * atomics: a freer's double-free check); rbits and rsum are written by
 * freers with atomic read-modify-writes and taken by the owner.
 *
 * used = used_base + credit is exact at every moment: blocks handed out
 * and not yet freed by the owner or merged from other threads' frees. The
 * fast free decrements `credit` and takes the slow path when it goes
 * negative, which used_base arranges to mean exactly "this slab needs
 * attention":
 *   CURRENT  used_base 0: never (an empty current slab stays current)
 *   PARTIAL  used_base 1: the slab became empty (release it)
 *   FULL     used_base = capacity + 1 - slab_full_wait (slab.h): the free
 *            that leaves an eighth of it free (put it on the partial list)
 *
 * Cursor invariants (owner-only):
 *   take != NULL  implies  take is slot take_slot and its bit is set;
 *   take == NULL  implies  bits[cursor] == 0
 *   words above `top` have never been the cursor: their slots were never
 *   handed out since hak_slab_init.
 * The first line holds what the fast paths read or write. */
enum hak_slab_state {
    HAK_SLAB_UNUSED = 0,  /* in the superslab's free mask */
    HAK_SLAB_CURRENT,     /* its class allocates from it (hot.cur[c]) */
    HAK_SLAB_PARTIAL,     /* on the class's partial list: has room */
    HAK_SLAB_FULL,        /* every block went out, and fewer than
                           * slab_full_wait came back since */
};

typedef struct hak_slab {
    /* immutable while in use */
    uint8_t *start;         /* first block; aligned to the slab size */
    uint64_t div_magic;     /* ceil(2^64 / stride): off * magic has
                             * off / stride in its high half and is below
                             * the magic in its low half iff stride | off */
    /* freers set bit k when rbits[k] turns nonzero; the owner swaps it
     * for 0 before it merges. Nonzero while the slab is queued. Here, on
     * the line the owner's frees read anyway (their check that the slot
     * is not waiting to be merged): on the remote line, it cost every
     * free of the owner a second line (bench/window: 2% more L1 misses
     * under cachegrind). */
    _Atomic uint64_t rsum;
    /* owner-only: the free slot malloc hands out next (slot number
     * take_slot), or NULL when the cursor word is empty. malloc returns it
     * with one load and then points it at the lowest free slot of the
     * cursor word; an own free makes the block it frees the one taken
     * next (warm, last freed first). Neither step waits for the other's
     * bit work: the pointer travels apart from the bitmap. */
    uint8_t *take;
    int32_t credit;         /* used - used_base; < 0 sends free slow */
    uint16_t cursor;        /* word of bits that malloc takes from */
    uint16_t take_slot;     /* owner-only: take's slot number */
    /* immutable while in use */
    uint32_t stride;        /* hak_stride(cls) */
    uint16_t capacity;      /* blocks that fit: capacity*stride <= usable */
    uint16_t cls;           /* size class, HAK_CLASS_NONE when unused */
    /* owner-only; free slots. Right after the fields above, in the first
     * line: a slab of at most 128 blocks (the tiny classes from 512 B)
     * has its whole bitmap there, so malloc and free touch one line of
     * its descriptor; a larger one's word k is at s + 48 + 8k. */
    _Atomic uint64_t bits[HAK_SLAB_WORDS];
    /* owner-only, the slow paths' */
    uint16_t top;           /* highest word the cursor reached */
    uint16_t used_base;     /* see above */
    uint8_t  index;         /* position in the superslab (immutable) */
    uint8_t  state;         /* enum hak_slab_state */
    /* owner-only: partial-list links */
    struct hak_slab *next;
    struct hak_slab *prev;
    /* remote queue link: written by the freer that queues the slab,
     * before its release CAS; read by the owner after its acquire */
    struct hak_slab *rnext;
    /* The line other threads' frees read, away from the first line,
     * which the owner's mallocs and frees write all the time: a freer
     * that read the geometry there took the line from the owner's core at
     * each free (xmalloc-test, every free remote, freed 1.08 times as
     * many blocks a second with its copy here, 11 paired runs).
     *
     * gen is odd while the owner rewrites the class and geometry
     * (hak_slab_init, release); another thread validating a pointer into
     * the slab reads them between two equal even values of gen (slab.h,
     * "A slab seen from another thread"). rstart, rmagic and rcapacity are
     * start, div_magic and capacity as such a thread reads them (0
     * capacity while the slab is unused); they, cls and top are stored
     * with relaxed atomic stores, and the owner reads its own fields
     * plainly. */
    _Atomic uint32_t gen;
    uint32_t rcapacity;
    uint8_t *rstart;
    uint64_t rmagic;
    /* To 1 KiB: the slab of a pointer is one shift away from its
     * superslab's descriptors. */
    uint8_t pad[1024 - 48 - 8 * HAK_SLAB_WORDS - 8 - 3 * sizeof(void *) -
                2 * sizeof(uint32_t) - 2 * 8];
} __attribute__((aligned(64))) hak_slab_t;

_Static_assert(offsetof(hak_slab_t, bits) == 48 &&
                   offsetof(hak_slab_t, cls) < 48,
               "the fast paths' fields and two bitmap words fill the "
               "descriptor's first line");
_Static_assert(offsetof(hak_slab_t, gen) / 64 ==
                       offsetof(hak_slab_t, rmagic) / 64 &&
                   offsetof(hak_slab_t, gen) / 64 != 0,
               "a remote free's view of the geometry is one line, not the "
               "first one");
_Static_assert(sizeof(hak_slab_t) == 1024, "a descriptor is 1 KiB");
_Static_assert((1u << HAK_TINY_SHIFT) / 16 <= UINT16_MAX,
               "block counts fit the descriptor's 16 bits");
_Static_assert((1u << HAK_TINY_SHIFT) / HAK_ALIGN <= 64 * HAK_SLAB_WORDS &&
                   (1u << HAK_MID_SHIFT) / HAK_TINY_MAX <= 64 * HAK_SLAB_WORDS,
               "a slab's bitmap covers its smallest class");

/* ---- Superslab header (at base + HAK_PAGE, after the low guard page) ---- */
enum hak_spare_pages {
    HAK_SPARE_GONE = 0,   /* given back (MADV_DONTNEED), or not a spare */
    HAK_SPARE_LAZY = 1,   /* given back lazily (MADV_FREE) */
    HAK_SPARE_AS_IS = 2,  /* as they were: the newest spare of its tier */
};

struct hak_superslab {
    uintptr_t magic;        /* HAK_SS_MAGIC ^ base: sanity for heap check */
    hak_heap_t *owner;      /* immutable: the heap owning every slab here */
    uint8_t  tier;          /* enum hak_tier */
    uint8_t  slab_shift;    /* HAK_TINY_SHIFT or HAK_MID_SHIFT */
    uint16_t nslabs;        /* slabs in the superslab, slab 0 included */
    uint32_t free_mask;     /* bit i: slab i unused (owner-only) */
    /* bit i: slab i unused and its pages still resident, one of the
     * owner's ndirty (superslab.c); a subset of free_mask (owner-only) */
    uint32_t dirty_mask;
    uint32_t used_slabs;    /* slabs in use (owner-only) */
    /* Descriptors 0..ninit-1 are written; every one from ninit on is
     * still the mapping's zero page, its slab unused and never touched
     * (slabs are taken lowest first, so a take reaches at most slab
     * ninit). A thread that uses a few classes touches a few descriptor
     * pages, not all nine. Owner-only. */
    uint32_t ninit;
    /* A spare's pages (enum hak_spare_pages): as they were (the newest
     * spare of its tier), given back lazily (MADV_FREE: they may still be
     * there; one of the HAK_SPARES_KEPT newest, superslab.h), or gone.
     * Owner-only. */
    uint32_t spare_kept;
    uint32_t *slot_req;     /* debug: per-slot state (hardening/debug.c)
                             * [slab][slot], owner writes, freer reads */
    struct hak_superslab *next;  /* the owner heap's list of this tier */
    struct hak_superslab *prev;
    /* the registry's list of every superslab (registry.c lock) */
    struct hak_superslab *reg_next, *reg_prev;
    hak_slab_t slabs[HAK_MAX_SLABS] __attribute__((aligned(1024)));
    /* Per slab: blocks freed by other threads, not yet merged (see the
     * Blocks section). Apart from the descriptors, so that freers on
     * other cores do not write the lines the owner's fast paths use. */
    _Atomic uint64_t rbits[HAK_MAX_SLABS][HAK_SLAB_WORDS]
        __attribute__((aligned(64)));
};
#define HAK_SS_MAGIC ((uintptr_t)0x68616b6d656d5353ull) /* "hakmemSS" */

_Static_assert(HAK_PAGE + sizeof(struct hak_superslab) + HAK_PAGE
                   <= (1u << HAK_TINY_SHIFT),
               "header and guards fit in slab 0 of a tiny superslab");

/* ---- Heap (one per thread) ---------------------------------------------- */

/* A statistics counter of a heap: written by the heap's owner thread
 * alone (hak_count), read by any thread (src/stats.c, mallinfo2) with a
 * relaxed load. Atomic, so a reader races with nothing; the owner's add
 * is a load and a store, never a locked read-modify-write. */
typedef _Atomic uint64_t hak_counter_t;

/* Per-class state of the slow paths (the fast path's is hak_heap.cur and
 * hak_heap.nalloc). Owner-only. */
typedef struct hak_class_state {
    hak_slab_t *partial;    /* slabs of this class with room, not current */
    hak_counter_t nremote;  /* statistics: blocks merged from other threads */
    hak_counter_t nrefill;
} hak_class_state_t;

/* The multi-producer single-consumer queue of this heap's slabs that
 * other threads freed blocks into (src/remote.h). Alone on its cache
 * line: producers hammer it while the owner works on its classes. */
typedef struct hak_remote_queue {
    _Atomic(hak_slab_t *) head;
} __attribute__((aligned(64))) hak_remote_queue_t;

enum hak_heap_state {
    HAK_HEAP_LIVE = 1,       /* bound to a running thread */
    HAK_HEAP_ABANDONED = 2,  /* its thread exited: in the pool */
    HAK_HEAP_ORPHANED = 3,   /* its thread vanished in a fork: never reused */
};

#define HAK_HOT_WAYS 8
#define HAK_HOT_WAY(a) (((uintptr_t)(a) >> HAK_SS_SHIFT) & (HAK_HOT_WAYS - 1u))
#define HAK_HOT_NONE UINTPTR_MAX /* no base is within 2 MiB of it */

/* What the fast paths read first, through hak_tls_hot (src/heap.h): the
 * heap's first member, or in a thread without a heap a static one that
 * sends both fast paths to their slow paths. */
typedef struct hak_heap_hot {
    /* Never NULL: a class with no slab points at hak_slab_none, whose
     * bitmap is empty, so malloc's fast path has no test for it. The
     * last entry, HAK_CLASS_ZERO, is hak_slab_none forever. */
    hak_slab_t *cur[HAK_NUM_CLASSES + 1];  /* slab each class allocates from */
    /* The hot superslabs: entry HAK_HOT_WAY(b) is the base b of the last
     * superslab this heap freed into whose base falls in that way, or'ed
     * with its slab_shift (the low 21 bits of a base are 0), or
     * HAK_HOT_NONE. Each is the heap's own and registered: a free inside
     * one skips the registry lookup and the owner check, and finds its
     * slab with the shift it read in the same load. Direct-mapped by
     * address; a heap's superslabs are mapped each in a way none of its
     * others is in while it has at most HAK_HOT_WAYS (superslab.c), so
     * the few its blocks span are hot together (larson's threads span two
     * or three each; with a single hot superslab half of their frees
     * asked the registry). One line of its own. */
    uintptr_t hot_ss[HAK_HOT_WAYS] __attribute__((aligned(64)));
} hak_heap_hot_t;

struct hak_heap {
    hak_heap_hot_t hot;                /* first: see hak_heap_hot_t */
    hak_counter_t nalloc[HAK_NUM_CLASSES];  /* statistics (hak_count) */
    hak_class_state_t cls[HAK_NUM_CLASSES];
    hak_remote_queue_t remote;
    hak_superslab_t *ss[HAK_SLAB_TIERS]; /* per tier, index enum hak_tier */
    /* per tier: empty superslabs kept mapped and registered, their pages
     * given back lazily (superslab.c), linked by next; how many: nspare */
    hak_superslab_t *spare[HAK_SLAB_TIERS];
    uint32_t id;                   /* 1, 2, ...: named in reports */
    _Atomic int state;             /* enum hak_heap_state */
    hak_counter_t nfree;           /* frees by the owner (all classes) */
    hak_counter_t ndrain;          /* drains that found blocks */
    hak_counter_t nslab_new, nslab_free, nss_new, nss_free;
    /* HAK_SEC_DELAY: the owner's freed blocks, oldest at qpos, freed for
     * real when pushed out (owner-only) */
    void *quarantine[HAK_QUARANTINE];
    uint32_t qpos;
    hak_heap_t *all_next;          /* every heap ever made (heap.c lock) */
    hak_heap_t *pool_next;         /* abandoned pool link (heap.c lock) */
    int32_t tid;                   /* live: its thread's kernel id, else 0
                                    * (heap.c lock) */
    uint16_t nspare[HAK_SLAB_TIERS]; /* spare[]'s lengths (last: the
                                      * fields the fast paths touch keep
                                      * their offsets) */
    uint32_t ndirty[HAK_SLAB_TIERS]; /* per tier: the dirty_mask bits of
                                      * the superslabs on ss[] */
};
_Static_assert(offsetof(struct hak_heap, hot) == 0,
               "hak_tls_hot is the heap's address");

/* ---- Process-wide state (src/global.c, written by src/init.c) ----------- */
typedef struct hak_global {
    unsigned sec;           /* HAK_SEC_*: release only, 0 in debug */
    size_t large_cache_bytes;  /* HAKMEM_LARGE_CACHE_MB */
    size_t large_huge_bytes;   /* HAKMEM_LARGE_HUGE_MB; 0: never */
    int on_valgrind;           /* HAK_VALGRIND builds: running under it */
    _Atomic int ready;
} hak_global_t;


#define HAK_LIKELY(x)   __builtin_expect(!!(x), 1)
#define HAK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HAK_INTERNAL    __attribute__((visibility("hidden")))
#define HAK_NOINLINE    __attribute__((noinline))
#define HAK_COLD        __attribute__((noinline, cold))
/* A slow path the fast path tail-calls: gcc would otherwise infer that a
 * function ending in a report never returns and call it with a frame. */
#if defined(__clang__)
#define HAK_TAIL        __attribute__((noinline))
#else
#define HAK_TAIL        __attribute__((noinline, noipa))
#endif
#define HAK_INLINE      static inline __attribute__((always_inline))
#if defined(__clang__)
#define HAK_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define HAK_NO_COVERAGE
#endif

/* x rounded up to a multiple of a, a power of two (sizes and addresses:
 * both are unsigned long on LP64). Wraps to a small value past the top;
 * callers that take sizes from the program check for that. */
HAK_INLINE uintptr_t hak_round_up(uintptr_t x, uintptr_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* Owner-only add to a counter (see hak_counter_t): a relaxed load and a
 * relaxed store. gcc spells that as three instructions where a plain
 * counter takes one `add` to memory; the one `addq` below is the same
 * pair on x86-64 (an aligned 8-byte load and store, each single-copy
 * atomic; no lock prefix, since no other thread writes the word), so the
 * fast paths keep their instruction count. clang folds the pair itself. */
HAK_INLINE void hak_count(hak_counter_t *c, uint64_t n)
{
#if defined(__x86_64__) && !defined(__clang__)
    __asm__("addq %1, %0" : "+m"(*(uint64_t *)c) : "er"(n));
#else
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
#endif
}

/* A counter's value, from any thread. */
HAK_INLINE uint64_t hak_counter(const hak_counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Hidden: the fast paths read it PC-relative, not through the GOT. */
HAK_INTERNAL extern hak_global_t hak_g;

/* ---- Which checks run: the knobs above, or HAKMEM_SECURITY's choice ----
 * Read on slow paths only (slab set-up, frees and mallocs that a
 * mitigation sends there), never on a fast path. */

/* Release mitigations chosen with HAKMEM_SECURITY; 0 in debug, which
 * runs every check anyway. */
HAK_INLINE unsigned hak_sec(void) { return HAK_DEBUG ? 0u : hak_g.sec; }
/* Canaries after the requested size (small and large blocks). */
HAK_INLINE int hak_canary_on(void)
{
    return HAK_CANARY || (hak_sec() & HAK_SEC_CANARY);
}
/* Freed small blocks filled and verified at reuse (HAK_SEC_ZERO: with
 * zeros, so what was in a block cannot be read after its free). */
HAK_INLINE int hak_poison_on(void)
{
    return HAK_POISON || (hak_sec() & HAK_SEC_ZERO);
}
/* Every handed-out block ends within its slab. */
HAK_INLINE int hak_bounds_on(void) { return HAK_BOUNDS || hak_sec(); }
/* The per-slot state is kept: by the knob, or for any mitigation. */
HAK_INLINE int hak_slots_kept(void) { return HAK_SLOTSTATE || hak_sec(); }

/* The calling thread's heap (src/global.c; bound by src/heap.c). NULL
 * until the thread's first allocation, and again after its destructor
 * ran. initial-exec: a preloaded library must not reach __tls_get_addr,
 * which may call malloc. */
extern __thread hak_heap_t *hak_tls_heap
    __attribute__((tls_model("initial-exec")));

#endif /* HAK_TYPES_H */
