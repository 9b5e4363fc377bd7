/* fuzz_attack.c — an adversary: allocator operations and heap misuse from a
 * byte stream, with an oracle that never blames the allocator for what the
 * harness did itself and never excuses what the README claims.
 *
 * The input decodes into operations on a table of up to 64 live blocks
 * (malloc, calloc, realloc, the memalign family with alignments 16 B ..
 * 1 MiB, free, free on another thread, usable size; tiny, mid and large
 * sizes) and into misuse:
 *   - overflow a live block past its request (k bytes, or to its usable
 *     end + k), only into bytes the allocator owns beside it: a small block
 *     stays inside its slab, a large one inside its mapping; or, in a forked
 *     child, run on past the end of a large mapping into whatever hakmem
 *     mapped next (a fault there is a guard page doing its job);
 *   - write chosen words into a freed block: constants, pointers to live
 *     blocks, freed blocks and a global, words read earlier, and those
 *     XOR-ed together and with the block's own address (every encoding a
 *     free-list or tag forgery needs);
 *   - read fresh and freed blocks and remember the words;
 *   - double free, invalid free, realloc and usable size of freed, interior,
 *     never-handed-out and foreign pointers, from the owner or another
 *     thread: these abort by design, so they run in a forked child that
 *     must die of SIGABRT with a "hakmem: " line;
 *   - free on another thread, then forge words in the queued block.
 *
 * The oracle, after every operation: a block handed out lies inside
 * hakmem's own blocks (a small one in a registered superslab, past slab 0
 * and inside one slab; a large one inside a mapping hakmem made), is
 * aligned as asked, is accepted by hak_malloc_usable_size (which says at
 * least its size; exactly it in debug), and overlaps no live block; the
 * first bytes of every live block and a global target are intact; every
 * payload is verified in full when it is freed or moved and at the end of
 * the input, which also runs hak_check_heap() once.
 *
 * What the harness excuses, because the README documents it as beyond
 * detection: its own writes into live blocks (an overflow into a
 * neighbour, a write through a dangling pointer into a block handed out
 * again): those bytes are tracked and not verified; a second free of a
 * pointer that is a live block's start again (double free after reuse):
 * never performed. Nothing else.
 *
 * Flavours (hak_is_debug()): in release, writes after free, overflows and
 * forged queued blocks run in the fuzzing process: nothing may notice them
 * and nothing may be steered by them. In debug, the canary and poison
 * report them (at free, at reuse, in hak_check_heap), so they run in a
 * forked child where the README's claim makes a report certain (a changed
 * canary byte: the child frees the block; a changed poison byte of a block
 * its owner freed, whose slab kept a live block since: the child walks the
 * heap) and a missing report fails; the rest of that misuse is release's
 * to test. A write into a block another thread freed and the owner has not
 * merged yet runs in the fuzzing process in both (the merge poisons it).
 * A child goes on with the rest of the input, running later misuse inline
 * (it may then also die of a report, or of a guard page during the
 * harness's own overflow past a large mapping). At most 2 forks per input,
 * and under a fuzzing engine a share of the run time (below).
 *
 * Mappings: built with -Wl,--wrap=mmap,--wrap=munmap,--wrap=mremap,
 * --wrap=mprotect (ci/pipeline.mk, LDFLAGS_fuzz_attack), the harness
 * records every mapping hakmem makes, so it can tell hakmem's memory from
 * the fuzzer's and the sanitizers'. Without those flags it still builds
 * and runs, and skips the misuse that needs the record (past-end
 * overflows, writes into freed large blocks).
 *
 * Environment:
 *   FUZZ_ATTACK_TRACE=1       every operation on stderr (with a replay
 *                             build: read a reproducer)
 *   FUZZ_ATTACK_FORK_SHARE=f  under a fuzzing engine, forks may take this
 *                             share of the run time (0.2; 1: no ration)
 *   FUZZ_ATTACK_ISOLATE=1     every misuse in a child, release's too: for
 *                             a core whose release flavour detects them
 *                             (the previous one), whose reports would
 *                             otherwise stop the fuzzer
 *   FUZZ_ATTACK_SKIP=a,b      misuse kinds not to perform (waf, overflow,
 *                             pastend, double, invalid, forge, read)
 *   FUZZ_ATTACK_FAILURES=f    append each failed child's output and
 *                             verdict to file f (ci/fuzz.sh sets it)
 *
 * It includes the core's registry.h and slab.h (the same in every core
 * since the registry exists) and links the prefixed core.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap's flags; sched_getcpu (harness.h) */
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h"

#include "harness.h"

#include "registry.h"
#include "slab.h"

#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
/* The harness's own misuse: not instrumented by ASan (the core poisons
 * freed blocks and slack for it), and no coverage worth paying for. */
#define RAW __attribute__((no_sanitize("address", "coverage"), noinline))
#else
#define NO_COVERAGE
#define RAW __attribute__((no_sanitize_address, noinline))
#endif

#define SLOTS 64
#define GHOSTS 32
#define MEMS 16
#define MAX_OPS 512
#define MAX_FORKS 2
#define CLOBS 4
#define PAGE ((uintptr_t)4096)
#define CANARY_BYTE 0xca   /* hardening/hooks.h */
#define POISON_BYTE 0xdd
#define EXIT_UNDETECTED 42

/* ---- What hakmem mapped (the --wrap record) ----------------------------- */

typedef struct mrange {
    uintptr_t lo, hi;
    uint32_t seq;      /* one per mmap/mremap: a ghost's memory is the same
                        * mapping while its seq is */
    uint8_t none;      /* PROT_NONE: a guard */
} mrange_t;

#define MAX_RANGES 4096
static mrange_t ranges[MAX_RANGES];
static unsigned nranges;
static uint32_t range_seq;
static int track_seen;    /* a wrapped call ran: the record is kept */
static int track_lost;    /* the table overflowed: the record is not exact */
static pthread_mutex_t track_mu = PTHREAD_MUTEX_INITIALIZER;
/* Nonzero while this thread is inside a hak_* call: only those mappings
 * are hakmem's (AFL's runtime and the harness map memory too). */
static __thread int in_hak;

static void track_add(uintptr_t lo, uintptr_t hi, uint32_t seq, int none)
{
    if (lo >= hi)
        return;
    if (nranges == MAX_RANGES) {
        track_lost = 1;
        return;
    }
    ranges[nranges++] = (mrange_t){ lo, hi, seq, (uint8_t)none };
}

/* Forget [lo, hi); with `none` >= 0, re-add the part of every recorded
 * mapping inside it with that protection (mprotect). Pieces keep their
 * mapping's seq. */
static void track_cut(uintptr_t lo, uintptr_t hi, int none)
{
    mrange_t keep[96];
    unsigned nkeep = 0;
    for (unsigned i = 0; i < nranges;) {
        mrange_t r = ranges[i];
        if (r.hi <= lo || r.lo >= hi) {
            i++;
            continue;
        }
        ranges[i] = ranges[--nranges];
        if (nkeep + 3 > sizeof keep / sizeof keep[0]) {
            track_lost = 1;
            continue;
        }
        if (r.lo < lo)
            keep[nkeep++] = (mrange_t){ r.lo, lo, r.seq, r.none };
        if (r.hi > hi)
            keep[nkeep++] = (mrange_t){ hi, r.hi, r.seq, r.none };
        if (none >= 0)
            keep[nkeep++] = (mrange_t){ r.lo > lo ? r.lo : lo,
                                        r.hi < hi ? r.hi : hi, r.seq,
                                        (uint8_t)none };
    }
    for (unsigned i = 0; i < nkeep; i++)
        track_add(keep[i].lo, keep[i].hi, keep[i].seq, keep[i].none);
}

static uintptr_t page_up(uintptr_t n)
{
    return (n + PAGE - 1) & ~(PAGE - 1);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
void *__wrap_mremap(void *old, size_t old_len, size_t new_len, int flags,
                    ...);
int __wrap_munmap(void *addr, size_t len);
int __wrap_mprotect(void *addr, size_t len, int prot);
extern void *__real_mmap(void *, size_t, int, int, int, off_t)
    __attribute__((weak));
extern void *__real_mremap(void *, size_t, size_t, int, ...)
    __attribute__((weak));
extern int __real_munmap(void *, size_t) __attribute__((weak));
extern int __real_mprotect(void *, size_t, int) __attribute__((weak));

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off)
{
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED) {
        pthread_mutex_lock(&track_mu);
        track_seen = 1;
        uintptr_t lo = (uintptr_t)p, hi = lo + page_up(len);
        track_cut(lo, hi, -1);
        if (in_hak)
            track_add(lo, hi, ++range_seq, prot == PROT_NONE);
        pthread_mutex_unlock(&track_mu);
    }
    return p;
}

void *__wrap_mremap(void *old, size_t old_len, size_t new_len, int flags,
                    ...)
{
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    void *p = (flags & MREMAP_FIXED)
                  ? __real_mremap(old, old_len, new_len, flags, want)
                  : __real_mremap(old, old_len, new_len, flags);
    if (p != MAP_FAILED) {
        pthread_mutex_lock(&track_mu);
        track_seen = 1;
        uintptr_t o = (uintptr_t)old, n = (uintptr_t)p;
        track_cut(o, o + page_up(old_len), -1);
        track_cut(n, n + page_up(new_len), -1);
        if (in_hak)
            track_add(n, n + page_up(new_len), ++range_seq, 0);
        pthread_mutex_unlock(&track_mu);
    }
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    int r = __real_munmap(addr, len);
    if (r == 0) {
        pthread_mutex_lock(&track_mu);
        track_seen = 1;
        track_cut((uintptr_t)addr, (uintptr_t)addr + page_up(len), -1);
        pthread_mutex_unlock(&track_mu);
    }
    return r;
}

int __wrap_mprotect(void *addr, size_t len, int prot)
{
    int r = __real_mprotect(addr, len, prot);
    if (r == 0) {
        pthread_mutex_lock(&track_mu);
        track_seen = 1;
        track_cut((uintptr_t)addr, (uintptr_t)addr + page_up(len),
                  prot == PROT_NONE);
        pthread_mutex_unlock(&track_mu);
    }
    return r;
}

static int tracking(void)
{
    return track_seen && !track_lost;
}

/* The recorded hakmem mapping holding a, or NULL. */
static const mrange_t *track_find(uintptr_t a)
{
    if (!tracking())
        return NULL;
    for (unsigned i = 0; i < nranges; i++)
        if (a >= ranges[i].lo && a < ranges[i].hi)
            return &ranges[i];
    return NULL;
}

/* End of the run of recorded accessible mappings from a on (a realloc may
 * grow a large block over the next mapping), or 0 if a is in none. */
static uintptr_t track_run_end(uintptr_t a)
{
    const mrange_t *r;
    uintptr_t end = 0;
    while ((r = track_find(a)) && !r->none) {
        end = r->hi;
        a = r->hi;
    }
    return end;
}

/* ---- Raw access: the harness's own misuse ------------------------------- */

RAW static uint64_t raw_get64(uintptr_t a)
{
    volatile const uint8_t *p = (volatile const uint8_t *)a;
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

RAW static void raw_put64(uintptr_t a, uint64_t v)
{
    volatile uint8_t *p = (volatile uint8_t *)a;
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes [lo, hi) with a repeating unit of `nw` words, each word aligned to
 * 8 bytes and the unit to 8*nw (so a 16-byte unit puts w[0] at every block
 * start); w[] is recomputed per unit by fn (which knows the unit's
 * address). */
typedef uint64_t (*unit_fn)(void *ctx, unsigned i, uintptr_t unit);
RAW static void raw_fill(uintptr_t lo, uintptr_t hi, unsigned nw, unit_fn fn,
                         void *ctx)
{
    uintptr_t ub = 8 * (uintptr_t)nw, cur = 1; /* 1: no unit yet */
    uint64_t w[4] = { 0 };
    for (uintptr_t a = lo; a < hi; a++) {
        uintptr_t u = a & ~(ub - 1);
        if (u != cur) {
            cur = u;
            for (unsigned i = 0; i < nw; i++)
                w[i] = fn(ctx, i, u);
        }
        *(volatile uint8_t *)a =
            (uint8_t)(w[(a - u) / 8] >> (8 * (a & 7)));
    }
}

/* ---- hak_* calls, marked for the mapping record ------------------------- */

/* Bumped by every call of the owner that may drain its remote queue: a
 * block another thread freed is still queued (not yet merged, not yet
 * poisoned in debug) while the epoch it was freed in lasts. */
static uint32_t drain_epoch;

#define HAK(expr)                                                            \
    ({                                                                       \
        in_hak++;                                                            \
        __typeof__(expr) r_ = (expr);                                        \
        in_hak--;                                                            \
        r_;                                                                  \
    })
#define HAK_VOID(expr)                                                       \
    do {                                                                     \
        in_hak++;                                                            \
        expr;                                                                \
        in_hak--;                                                            \
    } while (0)

/* ---- State -------------------------------------------------------------- */

typedef struct blk {
    uint8_t *p;
    size_t size;        /* requested: the payload the pattern covers */
    uint32_t id;
    uint8_t tier;       /* registry tier, 0 for large */
    uint8_t nclob, tainted;
    struct {
        size_t lo, hi;  /* bytes the harness itself overwrote */
    } clob[CLOBS];
    uint64_t head[2], head_mask[2];
} blk_t;

typedef struct ghost {
    uint8_t *p;
    size_t span;        /* bytes of it the harness may touch */
    /* debug, small: bytes of it the poison covers (hak_checked_span: the
     * class size and the first bytes of the canary room; the rest of the
     * room is never written or checked) */
    size_t poisoned;
    uint32_t seq;       /* its mapping's, when freed */
    uint32_t epoch;     /* drain_epoch when freed */
    uint8_t tier, remote;
    /* debug: a live block of the same slab when it was freed; while it
     * stays live the slab is never set up anew, so the slot stays a
     * poisoned free one until handed out again */
    uint8_t *anchor;
    uint32_t anchor_id;
    int anchor_slot;
} ghost_t;


static blk_t slots[SLOTS];
static ghost_t ghosts[GHOSTS];
static unsigned ghost_head, nghost;
static uint64_t mem[MEMS];
static uintptr_t memsrc[MEMS];
static unsigned mem_head;
static uint8_t *last_alloc;
static uint32_t next_id;
static unsigned forks, op_no;
static int debug_flavour, tracing, in_child, final_probe;
static const char *child_what;

/* What forged pointers aim at: a global laid out as a slab whose free
 * list loops on itself (every word its own address). Never written by the
 * harness; the allocator writing it, or handing it out, is an attack that
 * worked. */
static uint64_t target[512] __attribute__((aligned(4096)));
static void *libc_block;   /* a foreign heap pointer */

typedef struct shared {
    volatile int stage;
} shared_t;
enum { STAGE_RUN = 1, STAGE_PASTEND = 2 };
static shared_t *shm;
static shared_t shm_local;


/* Sizes: mostly tiny, some mid, a few large; class edges likely. */
static size_t take_size(input_t *in)
{
    uint32_t kind = take(in, 1);
    uint32_t v = take(in, 2);
    switch (kind % 8) {
    case 0: return v % 17;
    case 1: case 2: case 3: return v % 1025;
    case 4: case 5: return 1024 + v % (HAK_MID_MAX - 1024 + 16);
    case 6: return (size_t)(v % 64 + 1) * 16 + (kind >> 3) % 3 - 1;
    default: /* past the mid tier (big blocks to 112 KiB, then large
              * ones) to 184 KiB; one in eight to 1.1 MiB */
        return HAK_MID_MAX + (size_t)v * ((kind >> 5) == 7 ? 16 : 2);
    }
}

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
    if (!tracing)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_attack: %s#%u ", in_child ? "child " : "", op_no);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* An oracle failed. In a child: say so and exit EXIT_UNDETECTED (the
 * parent fails with the message); in the fuzzing process: abort. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                       noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_attack: %sop %u: ", in_child ? "(child) " : "",
            op_no);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (in_child)
        _exit(EXIT_UNDETECTED);
    abort();
}

/* ---- Payload patterns --------------------------------------------------- */

MODEL __attribute__((always_inline)) static inline uint8_t
model_pattern(uint32_t id, size_t i)
{
    return (uint8_t)(id * 131 + i * 7 + (i >> 8) + 1);
}

/* All of blocks up to 4 KiB; of larger ones the first and last 512 bytes
 * and every 61st byte between. */
MODEL __attribute__((always_inline)) static inline size_t
next_covered(size_t i, size_t size)
{
    if (size <= 4096 || i + 1 < 512 || i + 1 >= size - 512)
        return i + 1;
    size_t j = i + 61;
    return j < size - 512 ? j : size - 512;
}

MODEL static void model_fill(blk_t *b)
{
    model_range(b->p, b->size);
    for (size_t i = 0; i < b->size; i = next_covered(i, b->size))
        b->p[i] = model_pattern(b->id, i);
    b->nclob = b->tainted = 0;
    for (unsigned w = 0; w < 2; w++) {
        b->head[w] = b->head_mask[w] = 0;
        for (size_t i = 8 * w; i < 8 * w + 8 && i < b->size; i++) {
            b->head[w] |= (uint64_t)model_pattern(b->id, i)
                          << (8 * (i - 8 * w));
            b->head_mask[w] |= (uint64_t)0xff << (8 * (i - 8 * w));
        }
    }
}

static int clobbered(const blk_t *b, size_t i)
{
    for (unsigned k = 0; k < b->nclob; k++)
        if (i >= b->clob[k].lo && i < b->clob[k].hi)
            return 1;
    return 0;
}

MODEL static void model_verify(const blk_t *b, size_t n, const char *when)
{
    if (b->tainted)
        return;
    model_range(b->p, n < b->size ? n : b->size);
    for (size_t i = 0; i < n && i < b->size; i = next_covered(i, b->size)) {
        if (b->p[i] != model_pattern(b->id, i) && !clobbered(b, i))
            fail("live block %p (id %u, size %zu) byte %zu changed "
                 "(%#x, want %#x), seen %s", (void *)b->p, b->id, b->size, i,
                 b->p[i], model_pattern(b->id, i), when);
    }
}

/* The harness itself wrote [lo, hi): bytes of live blocks there are not the
 * allocator's doing. */
static void note_write(uintptr_t lo, uintptr_t hi)
{
    for (unsigned i = 0; i < SLOTS; i++) {
        blk_t *b = &slots[i];
        uintptr_t p = (uintptr_t)b->p;
        if (!b->p || hi <= p || lo >= p + b->size)
            continue;
        size_t l = lo > p ? lo - p : 0, h = hi < p + b->size ? hi - p : b->size;
        if (b->nclob == CLOBS) {
            b->tainted = 1;
            continue;
        }
        b->clob[b->nclob].lo = l;
        b->clob[b->nclob].hi = h;
        b->nclob++;
    }
}

static int live_start(uintptr_t q)
{
    for (unsigned i = 0; i < SLOTS; i++)
        if ((uintptr_t)slots[i].p == q && q)
            return 1;
    return 0;
}

/* Some live block overlaps [lo, hi). */
static int live_overlap(uintptr_t lo, uintptr_t hi)
{
    for (unsigned i = 0; i < SLOTS; i++) {
        uintptr_t p = (uintptr_t)slots[i].p;
        size_t n = slots[i].size ? slots[i].size : 1;
        if (p && lo < p + n && p < hi)
            return 1;
    }
    return 0;
}

/* The tier of a small block (tiny or mid), else 0: large and zero-size
 * blocks live in mappings the harness tracks (a zero-size block's is
 * PROT_NONE, so no misuse touches it). */
static uint8_t small_tier(uintptr_t p)
{
    unsigned tier = registry_tier(p);
    return tier == HAK_TIER_TINY || tier == HAK_TIER_MID ? (uint8_t)tier : 0;
}

/* ---- The oracle of a block handed out ----------------------------------- */

static void check_handout(const void *ptr, size_t n, size_t align,
                          const blk_t *except, const char *what)
{
    uintptr_t p = (uintptr_t)ptr, len = n ? n : 1;
    if (!ptr)
        fail("%s(%zu) returned NULL (errno %d)", what, n, errno);
    if (p % (align > 16 ? align : 16))
        fail("%s(%zu) returned %p, not aligned to %zu", what, n, ptr,
             align > 16 ? align : 16);
    if (p < (uintptr_t)target + sizeof target && p + len > (uintptr_t)target)
        fail("%s(%zu) returned %p, inside the global target %p: the "
             "allocator was steered", what, n, ptr, (void *)target);
    unsigned tier = registry_tier(p);
    if (tier == HAK_TIER_ZERO) {
        /* A zero-size block: a unique address in a PROT_NONE region. */
        if (n)
            fail("%s(%zu) returned %p, a zero-size block", what, n, ptr);
    } else if (tier) {
        uintptr_t slab = (uintptr_t)1 << hak_tier_shift(tier);
        if ((p & HAK_SS_MASK) < slab)
            fail("%s(%zu) returned %p, inside slab 0 of its superslab "
                 "(metadata)", what, n, ptr);
        if (((p + len - 1) & ~(slab - 1)) != (p & ~(slab - 1)))
            fail("%s(%zu) returned %p, which runs out of its slab", what, n,
                 ptr);
    } else if (tracking()) {
        if (track_run_end(p) < p + len)
            fail("%s(%zu) returned %p, outside every mapping hakmem made",
                 what, n, ptr);
        if (registry_tier(p + len - 1))
            fail("%s(%zu) returned %p, a large block running into a "
                 "superslab", what, n, ptr);
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        const blk_t *b = &slots[i];
        uintptr_t q = (uintptr_t)b->p;
        if (!b->p || b == except)
            continue;
        if (p < q + (b->size ? b->size : 1) && q < p + len)
            fail("%s(%zu) returned %p, overlapping live block %p (id %u, "
                 "size %zu)", what, n, ptr, (void *)q, b->id, b->size);
    }
    size_t u = HAK(hak_malloc_usable_size(ptr));
    if (u < n || (debug_flavour && u != n))
        fail("%s(%zu) returned %p with usable size %zu", what, n, ptr, u);
}

static void place(blk_t *b, void *p, size_t n)
{
    b->p = p;
    b->size = n;
    b->id = next_id++;
    b->tier = small_tier((uintptr_t)p);
    last_alloc = p;
    model_fill(b);
}

/* Cheap, after every operation: the first 16 bytes of every live block
 * that the harness has not written itself, and the global target. */
NO_COVERAGE static void check_all(void)
{
    for (unsigned i = 0; i < SLOTS; i++) {
        const blk_t *b = &slots[i];
        if (!b->p || b->nclob || b->tainted)
            continue;
        for (unsigned w = 0; w < 2 && w * 8 < b->size; w++)
            if ((raw_get64((uintptr_t)b->p + 8 * w) & b->head_mask[w]) !=
                b->head[w])
                fail("live block %p (id %u, size %zu) changed in its first "
                     "16 bytes", (void *)b->p, b->id, b->size);
    }
    for (unsigned i = 0; i < 8; i++)
        if (target[i] != (uintptr_t)target)
            fail("the global target was written: word %u is %#jx", i,
                 (uintmax_t)target[i]);
}

/* ---- Threads ------------------------------------------------------------ */

/* One worker for the whole process, started on first use; the owner waits
 * for each job, so runs stay deterministic. */
static turn_t worker_turn;
static void *worker_job;
static int worker_started;
static pthread_t worker;

static void *worker_main(void *arg)
{
    (void)arg;
    thread_settled();
    for (;;) {
        turn_take(&worker_turn);
        HAK_VOID(hak_free(worker_job));
        turn_done(&worker_turn);
    }
    return NULL;
}

typedef struct tjob {
    void *p;
    int how;     /* 0 free, 2 realloc, 3 usable size */
} tjob_t;

static void *thread_job(void *arg)
{
    tjob_t *j = arg;
    if (j->how == 2)
        (void)HAK(hak_realloc(j->p, 100));
    else if (j->how == 3)
        (void)HAK(hak_malloc_usable_size(j->p));
    else
        HAK_VOID(hak_free(j->p));
    return NULL;
}

/* p freed by another thread. A child (which has no worker: it stayed in
 * the parent) uses a thread of its own. */
static void free_remote(void *p)
{
    if (in_child) {
        tjob_t j = { p, 0 };
        pthread_t t;
        if (pthread_create(&t, NULL, thread_job, &j) != 0)
            fail("pthread_create in a child failed");
        pthread_join(t, NULL);
        return;
    }
    if (!worker_started) {
        if (pthread_create(&worker, NULL, worker_main, NULL) != 0)
            abort();
        pthread_detach(worker);
        worker_started = 1;
    }
    colocate(&worker, 1);
    worker_job = p;
    turn_post(&worker_turn, 1);
    turn_wait(&worker_turn);
}

/* ---- Forked children ---------------------------------------------------- */

/* FUZZ_ATTACK_FAILURES: a file each failed child's output and verdict are
 * appended to. Under libFuzzer's -fork the worker's own log is lost when
 * it fails after the campaign's time is up (the parent stops reading its
 * jobs then, and keeps only the crashing input, which may need the
 * worker's earlier inputs to fail again). */
static const char *failures_path;

static void keep_failure(const char *buf, const char *msg)
{
    if (!failures_path)
        return;
    FILE *f = fopen(failures_path, "a");
    if (!f)
        return;
    fprintf(f, "--- pid %d\n%s%s", (int)getpid(), buf, msg);
    fclose(f);
}

static int has_report(const char *buf)
{
    return strncmp(buf, "hakmem: ", 8) == 0 || strstr(buf, "\nhakmem: ");
}

/* Forks are the harness's dearest operation: a fork of a fuzzing process
 * costs about 1 ms (UBSan) to 4 ms (ASan: its shadow's page tables), more
 * than a whole input. Under a fuzzing engine (LLVMFuzzerInitialize ran)
 * they are rationed to FORK_SHARE of the time the process has run (after
 * the first FORK_FREE); a misuse the ration refuses is skipped, exactly as
 * when the input's own budget is spent. What the fuzzing process does next
 * never depends on whether a child ran, so a crash still reproduces from
 * its input alone. The replay driver forks whenever the input asks. */
#define FORK_FREE 32
static double fork_share = 0.2;   /* FUZZ_ATTACK_FORK_SHARE */
static int under_engine;
static double fork_seconds, start_seconds;
static unsigned long nforks, nforks_skipped;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    under_engine = 1;
    return 0;
}

static void fork_report(void)
{
    if (under_engine)
        fprintf(stderr, "fuzz_attack: %lu forks (%.1f s), %lu refused by "
                "the fork ration\n", nforks, fork_seconds, nforks_skipped);
}

/* Forks for a misuse. Returns 1 in the child (which goes on with the
 * input and never returns from the fuzz target), 0 in the parent once the
 * child was judged, -1 when no fork is left for this input. Already in a
 * child: 1 (the misuse runs inline). */
static int spawn(const char *what)
{
    if (in_child)
        return 1;
    if (forks >= MAX_FORKS)
        return -1;
    double t0 = now();
    if (under_engine && nforks >= FORK_FREE &&
        fork_seconds > fork_share * (t0 - start_seconds)) {
        nforks_skipped++;
        return -1;
    }
    forks++;
    nforks++;
    shm->stage = STAGE_RUN;
    int rfd;
    pid_t pid = fork_child(&rfd);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        in_child = 1;
        child_what = what;
        trace("forked for %s", what);
        return 1;
    }
    char buf[4096];
    int status = child_collect(rfd, pid, buf, sizeof buf);
    fork_seconds += now() - t0;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    int ok = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
             (sig == SIGABRT && has_report(buf)) ||
             ((sig == SIGSEGV || sig == SIGBUS) &&
              shm->stage == STAGE_PASTEND);
    if (tracing || !ok)
        fprintf(stderr, "%s", buf);
    if (!ok) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "fuzz_attack: op %u: the child forked for %s %s %d%s\n",
                 op_no, what,
                 sig ? "died of signal" : "exited with",
                 sig ? sig : WEXITSTATUS(status),
                 WIFEXITED(status) && WEXITSTATUS(status) == EXIT_UNDETECTED
                     ? " (an oracle failed in it: see above)"
                     : sig == SIGABRT ? " without a hakmem report"
                     : sig ? " (the allocator crashed after the misuse)" : "");
        fputs(msg, stderr);
        keep_failure(buf, msg);
        abort();
    }
    trace("child for %s: %s", what,
          sig ? (sig == SIGABRT ? "reported" : "faulted at a guard")
              : "exited cleanly");
    return 0;
}

/* A misuse the fuzzing process may do itself (release: nothing may
 * notice it). FUZZ_ATTACK_ISOLATE=1 runs these in a child too: for a core
 * whose release flavour detects them by in-band checks (the previous
 * one), whose reports would otherwise stop the fuzzer. */
static int isolate;

/* FUZZ_ATTACK_SKIP: misuse kinds not to perform (comma-separated: waf,
 * overflow, pastend, double, invalid, forge, read), e.g. to look for the
 * routes a first finding hides. Their bytes are still decoded. */
static char skip_list[256];

static int skipped(const char *kind)
{
    size_t n = strlen(kind);
    for (const char *p = skip_list; (p = strstr(p, kind)); p += n)
        if ((p == skip_list || p[-1] == ',') && (p[n] == ',' || !p[n]))
            return 1;
    return 0;
}

static int misuse_here(const char *what)
{
    if (in_child || !isolate)
        return 1;
    return spawn(what) > 0;
}

/* ---- Chosen words ------------------------------------------------------- */

typedef struct wspec {
    uint8_t kind, a, b, c;
    uint32_t lo, hi;
} wspec_t;

static const ghost_t *ghost_k(unsigned k)
{
    if (!nghost)
        return NULL;
    return &ghosts[(ghost_head + GHOSTS - 1 - k % nghost) % GHOSTS];
}

static wspec_t take_wspec(input_t *in)
{
    wspec_t w = { 0 };
    w.kind = (uint8_t)take(in, 1);
    w.a = (uint8_t)take(in, 1);
    switch (w.kind % 8) {
    case 1:
        w.lo = take(in, 4);
        w.hi = take(in, 4);
        break;
    case 4:
        w.b = (uint8_t)take(in, 1);
        w.c = (uint8_t)take(in, 1);
        break;
    case 5: case 7:
        w.b = (uint8_t)take(in, 1);
        break;
    default:
        break;
    }
    return w;
}

/* A pointer the program knows: 0, the written block itself, the global
 * target, a live block, a freed one (0 is the latest), where a remembered
 * word was read, the latest block handed out, or a neighbour of dst. */
static uint64_t menu(uint8_t b, uintptr_t dst)
{
    unsigned k = b >> 3;
    switch (b % 8) {
    case 0: return 0;
    case 1: return dst;
    case 2: return (uintptr_t)target;
    case 3: return (uintptr_t)slots[k % SLOTS].p;
    case 4: { const ghost_t *g = ghost_k(k); return g ? (uintptr_t)g->p : 0; }
    case 5: return memsrc[k % MEMS];
    case 6: return (uintptr_t)last_alloc;
    default: return dst + 16 * (uintptr_t)k;
    }
}

static uint64_t eval_word(const wspec_t *w, uintptr_t dst)
{
    unsigned hi = w->kind >> 3;
    uint64_t one = w->kind >> 7;
    switch (w->kind % 8) {
    case 0: return (uint64_t)w->a << (4 * (hi & 3)); /* .. page multiples */
    case 1: return w->lo | (uint64_t)w->hi << 32;
    case 2: return menu(w->a, dst) + 16 * (hi & 7);
    case 3: return mem[w->a % MEMS];
    case 4: return mem[w->a % MEMS] ^ menu(w->b, dst) ^ menu(w->c, dst) ^ one;
    case 5: return menu(w->a, dst) ^ menu(w->b, dst) ^ one;
    case 6: {
        static const uint64_t k[4] = { 0, ~(uint64_t)0,
                                       0xddddddddddddddddull,
                                       0xcacacacacacacacaull };
        return k[w->a % 4];
    }
    default: return mem[w->a % MEMS] + (uint64_t)(int64_t)(int8_t)w->b;
    }
}

/* For traces: how a word was made. */
static const char *word_kind(const wspec_t *w)
{
    static const char *names[8] = { "constant", "constant", "pointer",
                                    "a word read", "a word read ^ pointers",
                                    "pointer ^ pointer", "fill pattern",
                                    "a word read + delta" };
    return names[w->kind % 8];
}

typedef struct units {
    wspec_t w[4];
} units_t;

static uint64_t unit_word(void *ctx, unsigned i, uintptr_t unit)
{
    return eval_word(&((units_t *)ctx)->w[i], unit);
}

/* Would the unit fill of [lo, hi) write a byte other than b? */
static int unit_bytes_differ(uintptr_t lo, uintptr_t hi, unsigned nw,
                             units_t *u, uint8_t b)
{
    uintptr_t ub = 8 * (uintptr_t)nw;
    for (uintptr_t a = lo; a < hi; a++) {
        uintptr_t unit = a & ~(ub - 1);
        uint64_t w = unit_word(u, (unsigned)((a - unit) / 8), unit);
        if ((uint8_t)(w >> (8 * (a & 7))) != b)
            return 1;
    }
    return 0;
}

static void remember(uint64_t v, uintptr_t src)
{
    mem[mem_head % MEMS] = v;
    memsrc[mem_head % MEMS] = src;
    mem_head++;
}

/* ---- Freed blocks ------------------------------------------------------- */

/* The record of b, about to be freed (by another thread if remote). */
static ghost_t ghost_of(const blk_t *b, int remote)
{
    ghost_t g = { 0 };
    uintptr_t p = (uintptr_t)b->p;
    g.p = b->p;
    g.tier = b->tier;
    g.remote = (uint8_t)remote;
    g.epoch = drain_epoch;
    g.anchor_slot = -1;
    const mrange_t *r = track_find(p);
    g.seq = r ? r->seq : 0;
    if (b->tier) {
        hak_slab_t *s = slab_of(ss_of(p), p);
        g.span = s->stride;
        g.poisoned = hak_checked_span(s->cls);
        uintptr_t mask = ~(((uintptr_t)1 << hak_tier_shift(b->tier)) - 1);
        for (unsigned i = 0; i < SLOTS; i++)
            if (slots[i].p && &slots[i] != b &&
                ((uintptr_t)slots[i].p & mask) == (p & mask)) {
                g.anchor = slots[i].p;
                g.anchor_id = slots[i].id;
                g.anchor_slot = (int)i;
                break;
            }
    } else if (r && !r->none) {
        g.span = r->hi - p < ((size_t)1 << 20) ? r->hi - p : (size_t)1 << 20;
    }
    return g;
}

static void ghost_push(const ghost_t *g)
{
    ghosts[ghost_head % GHOSTS] = *g;
    ghost_head = (ghost_head + 1) % GHOSTS;
    if (nghost < GHOSTS)
        nghost++;
}

/* The harness may touch [off, off+n) of g: still the same mapping (or, with
 * no record, still a superslab of its tier), not a guard. */
static int ghost_ok(const ghost_t *g, size_t off, size_t n)
{
    if (!g || off + n > g->span)
        return 0;
    uintptr_t a = (uintptr_t)g->p + off;
    if (tracking()) {
        const mrange_t *r = track_find(a);
        return r && r->seq == g->seq && !r->none && a + n <= r->hi;
    }
    return g->tier && registry_tier(a) == g->tier;
}

/* g is a small block another thread freed, still in its owner's queue:
 * not yet merged, nor poisoned in debug (large blocks are freed at once,
 * by whichever thread). */
static int queued(const ghost_t *g)
{
    return g->tier && g->remote && g->epoch == drain_epoch;
}

/* Debug: a write that changed poison of g must be reported by the heap
 * walk: g was freed by its owner, its slab kept a live block since (so it
 * was never set up anew), and the slot was not handed out again. */
static int poison_certain(const ghost_t *g, size_t off, size_t len)
{
    /* The latest free of that address decides (it may have been handed
     * out and freed again since, by another thread, in a smaller class:
     * bytes past its span are other slots, perhaps never handed out and
     * so never poisoned). */
    for (unsigned k = 0; k < nghost; k++)
        if (ghost_k(k)->p == g->p) {
            g = ghost_k(k);
            break;
        }
    if (!g->tier || g->remote || g->anchor_slot < 0 ||
        off + len > g->poisoned)
        return 0;
    const blk_t *a = &slots[g->anchor_slot];
    if (a->p != g->anchor || a->id != g->anchor_id)
        return 0;
    return !live_overlap((uintptr_t)g->p, (uintptr_t)g->p + g->span);
}

/* ---- Operations --------------------------------------------------------- */

static void release(blk_t *b, int remote)
{
    model_verify(b, b->size, "at its free");
    ghost_t g = ghost_of(b, remote);
    trace("free%s %p (id %u, size %zu)", remote ? " (other thread)" : "",
          (void *)b->p, b->id, b->size);
    if (remote) {
        free_remote(b->p);
    } else {
        HAK_VOID(hak_free(b->p));
        drain_epoch++;
    }
    b->p = NULL;
    ghost_push(&g);
}

static void op_malloc(blk_t *s, size_t n, int peek)
{
    if (s->p)
        release(s, 0);
    void *p = HAK(hak_malloc(n));
    drain_epoch++;
    peek = peek && !skipped("read");
    trace("malloc(%zu) = %p%s", n, p, peek ? " (read fresh)" : "");
    if (peek && p && registry_tier((uintptr_t)p) != HAK_TIER_ZERO) {
        remember(raw_get64((uintptr_t)p), (uintptr_t)p);
        remember(raw_get64((uintptr_t)p + 8), (uintptr_t)p + 8);
    }
    check_handout(p, n, 16, NULL, "malloc");
    place(s, p, n);
}

static void op_calloc(input_t *in, blk_t *s)
{
    size_t n = take_size(in), m = 1 + take(in, 1) % 4, k = n / m + 1;
    if (s->p)
        release(s, 0);
    uint8_t *p = HAK(hak_calloc(k, m));
    drain_epoch++;
    trace("calloc(%zu, %zu) = %p", k, m, (void *)p);
    check_handout(p, k * m, 16, NULL, "calloc");
    for (size_t i = 0; i < k * m; i = next_covered(i, k * m))
        if (p[i])
            fail("calloc(%zu, %zu) = %p: byte %zu is %#x", k, m, (void *)p,
                 i, p[i]);
    place(s, p, k * m);
}

static void op_realloc(input_t *in, blk_t *s)
{
    size_t n = take_size(in);
    uint32_t mode = take(in, 1);
    if (!s->p) {
        void *p = HAK(hak_realloc(NULL, n));
        drain_epoch++;
        trace("realloc(NULL, %zu) = %p", n, p);
        check_handout(p, n, 16, NULL, "realloc(NULL)");
        place(s, p, n);
        return;
    }
    model_verify(s, s->size, "before a realloc");
    ghost_t g = ghost_of(s, 0);
    if (n == 0 || mode % 8 == 0) {
        trace("realloc(%p, 0)", (void *)s->p);
        if (HAK(hak_realloc(s->p, 0)) != NULL)
            fail("realloc(%p, 0) did not return NULL", (void *)s->p);
        drain_epoch++;
        s->p = NULL;
        ghost_push(&g);
        return;
    }
    uint8_t *old = s->p;
    uint8_t *p = HAK(hak_realloc(old, n));
    drain_epoch++;
    trace("realloc(%p, %zu) = %p (was %zu)", (void *)old, n, (void *)p,
          s->size);
    check_handout(p, n, 16, s, "realloc");
    s->p = p;
    model_verify(s, n, "after a realloc");
    s->size = n;
    s->tier = small_tier((uintptr_t)p);
    model_fill(s);
    last_alloc = p;
    if (p != old)
        ghost_push(&g);
}

static void op_memalign(input_t *in, blk_t *s)
{
    size_t align = (size_t)16 << (take(in, 1) % 17);
    size_t n = take_size(in), req = n;
    uint32_t how = take(in, 1) % 5;
    if (s->p)
        release(s, 0);
    void *p = NULL;
    switch (how) {
    case 0:
        if (HAK(hak_posix_memalign(&p, align, n)) != 0)
            p = NULL;
        break;
    case 1: p = HAK(hak_aligned_alloc(align, n)); break;
    case 2: p = HAK(hak_memalign(align, n)); break;
    case 3: align = PAGE; p = HAK(hak_valloc(n)); break;
    default:
        align = PAGE;
        req = page_up(n);
        p = HAK(hak_pvalloc(n));
        break;
    }
    drain_epoch++;
    trace("memalign#%u(%zu, %zu) = %p", how, align, n, p);
    check_handout(p, req, align, NULL, "memalign");
    place(s, p, req);
}

static void op_usable(blk_t *s)
{
    if (!s->p)
        return;
    size_t u = HAK(hak_malloc_usable_size(s->p));
    if (u < s->size || (debug_flavour && u != s->size))
        fail("usable size of %p (size %zu) is %zu", (void *)s->p, s->size, u);
}

static void op_read_ghost(input_t *in)
{
    const ghost_t *g = ghost_k(take(in, 1));
    size_t off = 8 * (take(in, 1) % 32);
    if (!ghost_ok(g, off, 8) || skipped("read"))
        return;
    uint64_t v = raw_get64((uintptr_t)g->p + off);
    trace("read freed %p+%zu: %#jx", (void *)g->p, off, (uintptr_t)v);
    remember(v, (uintptr_t)g->p + off);
}

/* Words into a freed block: 1 to 4 whole words, or the low 1, 2 or 4
 * bytes of one (a partial overwrite needs no secret to move an encoded
 * link a little). */
static void op_waf(input_t *in)
{
    const ghost_t *gp = ghost_k(take(in, 1));
    uint32_t b = take(in, 1);
    static const uint8_t widths[8] = { 8, 16, 24, 32, 1, 2, 4, 8 };
    size_t off = 8 * (b % 32), len = widths[b >> 5];
    wspec_t w = take_wspec(in);
    if (!gp || skipped("waf"))
        return;
    ghost_t g = *gp;
    while (len > 8 && !ghost_ok(&g, off, len))
        len -= 8;
    if (!ghost_ok(&g, off, len))
        return;
    uint64_t v = eval_word(&w, (uintptr_t)g.p);
    uint64_t mask = len >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * len)) - 1;
    int damage = ((v ^ 0xddddddddddddddddull) & mask) != 0;
    /* Debug: the poison sees it, unless the block is still queued (the
     * drain poisons it afterwards). Where a report is certain, a child
     * shows it; the rest is tested in release. */
    if (debug_flavour && !in_child && !queued(&g)) {
        if (!damage || !poison_certain(&g, off, len) ||
            spawn("a write after free") <= 0)
            return;
    } else if (!misuse_here("a write after free")) {
        return;
    }
    uintptr_t a = (uintptr_t)g.p + off;
    if (len < 8) {
        trace("write after free: %p+%zu = %#jx (%s, low %zu bytes)",
              (void *)g.p, off, (uintmax_t)(v & mask), word_kind(&w), len);
        raw_put64(a, (raw_get64(a) & ~mask) | (v & mask));
    }
    for (size_t i = 0; i + 8 <= len; i += 8) {
        trace("write after free: %p+%zu = %#jx (%s)", (void *)g.p, off + i,
              (uintmax_t)v, word_kind(&w));
        raw_put64(a + i, v);
    }
    note_write(a, a + len);
    if (debug_flavour && in_child && damage && poison_certain(&g, off, len)) {
        trace("heap walk: must report the write into %p", (void *)g.p);
        HAK_VOID(hak_check_heap());
        fail("debug: a write after free into %p (freed by its owner, "
             "offset %zu) was not reported by hak_check_heap",
             (void *)g.p, off);
    }
}

static void op_overflow(input_t *in, blk_t *s)
{
    uint32_t mode = take(in, 1), k = 1 + take(in, 1) % 64;
    units_t u;
    u.w[0] = take_wspec(in);
    u.w[1] = take_wspec(in);
    if (!s->p || skipped("overflow"))
        return;
    /* A zero-size block has no bytes to run past: any write faults. */
    if (registry_tier((uintptr_t)s->p) == HAK_TIER_ZERO)
        return;
    uintptr_t p = (uintptr_t)s->p, start = p + s->size, end, limit;
    size_t canary_end;
    if (s->tier) {
        hak_slab_t *sl = slab_of(ss_of(p), p);
        uintptr_t slab = (uintptr_t)1 << hak_tier_shift(s->tier);
        limit = (p | (slab - 1)) + 1;
        end = mode & 1 ? start + k : p + sl->stride + k;
        canary_end = hak_checked_span(sl->cls);
    } else {
        /* Inside its own mapping: what usable size grants in release; in
         * debug the pages of the request (read-write in every build; the
         * canary fills their slack). */
        size_t usable = HAK(hak_malloc_usable_size(s->p));
        limit = debug_flavour ? p + page_up(s->size) : p + usable;
        end = mode & 1 ? start + k : p + usable + k;
        canary_end = page_up(s->size);
    }
    if (end > limit)
        end = limit;
    if (end > start + 65536)
        end = start + 65536;
    if (start >= end)
        return;
    /* Debug: the canary sees it at free. A child shows that where a canary
     * byte changes; the rest is tested in release. */
    uintptr_t ce = p + canary_end < end ? p + canary_end : end;
    int damage = debug_flavour && unit_bytes_differ(start, ce, 2, &u,
                                                    CANARY_BYTE);
    if (debug_flavour && !in_child) {
        if (!damage || spawn("an overflow") <= 0)
            return;
    } else if (!misuse_here("an overflow")) {
        return;
    }
    trace("overflow %p (size %zu) by %zu bytes (%s, %s)", (void *)s->p,
          s->size, (size_t)(end - start), word_kind(&u.w[0]),
          word_kind(&u.w[1]));
    raw_fill(start, end, 2, unit_word, &u);
    note_write(start, end);
    if (debug_flavour && in_child) {
        if (damage) {
            trace("free: must report the canary of %p", (void *)s->p);
            HAK_VOID(hak_free(s->p));
            fail("debug: an overflow of %p (size %zu) by %zu bytes changed "
                 "its canary and free did not report it", (void *)s->p,
                 s->size, (size_t)(end - start));
        }
    }
}

/* A linear overflow off the end of a large block's mapping, into the
 * mapping hakmem made next to it (never into anyone else's memory). */
static void op_pastend(input_t *in, blk_t *s)
{
    unsigned pages = 1 + take(in, 1) % 16;
    units_t u;
    for (unsigned i = 0; i < 4; i++)
        u.w[i] = take_wspec(in);
    if (!s->p || s->tier || !tracking() || skipped("pastend"))
        return;
    /* The end of the block's mapping (of the one its request ends in). */
    uintptr_t start = (uintptr_t)s->p + s->size, a = (uintptr_t)s->p;
    const mrange_t *r;
    while ((r = track_find(a)) && r->hi < start)
        a = r->hi;
    if (!r)
        return;
    uintptr_t end0 = r->hi, stop = end0;
    for (unsigned i = 0; i < pages && track_find(stop); i++)
        stop += PAGE;
    if (stop == end0)
        return; /* nothing of hakmem's right after it */
    if (spawn("an overflow past a large mapping") <= 0)
        return;
    trace("overflow %p (size %zu) to %#jx, %u pages past its mapping",
          (void *)s->p, s->size, (uintmax_t)stop,
          (unsigned)((stop - end0) / PAGE));
    shm->stage = STAGE_PASTEND;
    raw_fill(start, stop, 4, unit_word, &u);
    shm->stage = STAGE_RUN;
    note_write(start, stop);
    /* The write went through: the allocator must go on as if nothing
     * happened (the write hit only blocks), or report. */
    static const size_t probe[] = { 16, 200, 1000, 3000, 20000, 40000,
                                    300000 };
    for (unsigned i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        void *q = HAK(hak_malloc(probe[i]));
        check_handout(q, probe[i], 16, NULL, "malloc (after the overflow)");
        HAK_VOID(hak_free(q));
    }
    final_probe = 1;
}

static void do_bad_call(void *q, int how, const char *what)
{
    trace("%s %p (%s)", how == 0 ? "free" : how == 1 ? "free on a thread"
                        : how == 2 ? "realloc" : "usable size", q, what);
    if (how == 1) {
        free_remote(q);
    } else {
        tjob_t j = { q, how };
        thread_job(&j);
    }
    fail("%s of %p (%s) returned: not detected",
         how == 0 ? "free" : how == 1 ? "free on another thread"
         : how == 2 ? "realloc" : "usable size", q, what);
}

static void op_double_free(input_t *in)
{
    const ghost_t *g = ghost_k(take(in, 1));
    int how = (int)(take(in, 1) % 4);
    /* A freed pointer that is a live block's start again: freeing it frees
     * that block (README: double free after reuse). Not a test. */
    if (!g || live_start((uintptr_t)g->p) || skipped("double"))
        return;
    void *q = g->p;
    if (spawn("a double free") <= 0)
        return;
    do_bad_call(q, how, "freed already");
}

static void op_invalid(input_t *in)
{
    uint32_t kind = take(in, 1) % 8, v = take(in, 2);
    int how = (int)(take(in, 1) % 4);
    blk_t *s = &slots[take(in, 1) % SLOTS];
    uintptr_t q = 0;
    uint8_t local[64];
    const char *what = "";
    switch (kind) {
    case 0: /* inside a live block */
        if (s->p)
            q = (uintptr_t)s->p + 1 + v % (s->size ? s->size : 1);
        what = "interior";
        break;
    case 1: /* any slot of a live small block's slab */
        if (s->p && s->tier) {
            hak_slab_t *sl = slab_of(ss_of((uintptr_t)s->p), (uintptr_t)s->p);
            q = (uintptr_t)slab_slot(sl, v % sl->capacity);
        }
        what = "a slot of a slab in use";
        break;
    case 2: { /* near a freed block */
        const ghost_t *g = ghost_k(v >> 8);
        if (g)
            q = (uintptr_t)g->p + 16 * (v % 16);
        what = "at or after a freed block";
        break;
    }
    case 3: q = (uintptr_t)target + 16 * (v % 64); what = "a global"; break;
    case 4: q = (uintptr_t)local + 16 * (v % 4); what = "the stack"; break;
    case 5: q = (uintptr_t)libc_block; what = "another malloc's"; break;
    case 6: /* around a large block */
        if (s->p && !s->tier)
            q = v & 1 ? (uintptr_t)s->p - PAGE * (1 + v % 4)
                      : (uintptr_t)s->p + PAGE * (1 + v % 16);
        what = "a page around a large block";
        break;
    default:
        q = v & 1 ? ((uintptr_t)1 << 47) + 16 * (uintptr_t)v
                  : (uintptr_t)v << 12;
        what = "wild";
        break;
    }
    (void)local;
    if (!q || live_start(q) || skipped("invalid"))
        return;
    if (spawn("an invalid pointer") <= 0)
        return;
    do_bad_call((void *)q, how, what);
}

/* Another thread frees a small block; the program then writes forged
 * words into it while it waits in the owner's queue. */
static void op_remote_forge(input_t *in, blk_t *s)
{
    uint32_t b = take(in, 1);
    wspec_t w[2] = { take_wspec(in), take_wspec(in) };
    if (!s->p)
        return;
    int small = s->tier != 0;
    release(s, 1);
    if (!small || skipped("forge") || !misuse_here("a forged queued block"))
        return;
    const ghost_t *g = ghost_k(0);
    unsigned nw = 1 + b % 2;
    for (unsigned i = 0; i < nw; i++) {
        if (!ghost_ok(g, 8 * i, 8))
            break;
        uint64_t v = eval_word(&w[i], (uintptr_t)g->p);
        trace("forge queued %p+%u = %#jx (%s)", (void *)g->p, 8 * i,
              (uintmax_t)v, word_kind(&w[i]));
        raw_put64((uintptr_t)g->p + 8 * i, v);
        note_write((uintptr_t)g->p + 8 * i, (uintptr_t)g->p + 8 * i + 8);
    }
}

/* The program's own store into its live block (a legal write; the value
 * may be one a forgery needs there). */
static void op_store(input_t *in, blk_t *s)
{
    uint32_t b = take(in, 1);
    wspec_t w = take_wspec(in);
    if (!s->p || s->size < 8)
        return;
    size_t off = 8 * (b % (s->size / 8));
    uint64_t v = eval_word(&w, (uintptr_t)s->p);
    trace("store %p+%zu = %#jx (%s)", (void *)s->p, off, (uintmax_t)v,
          word_kind(&w));
    memcpy(s->p + off, &v, 8);
    note_write((uintptr_t)s->p + off, (uintptr_t)s->p + off + 8);
}

static void op_misc(input_t *in)
{
    switch (take(in, 1) % 3) {
    case 0:
        trace("trim");
        HAK_VOID(hak_malloc_trim(0));
        drain_epoch++;
        break;
    case 1: {
        hak_stats_t st;
        HAK_VOID(hak_stats_get(&st));
        if (st.frees > st.allocs)
            fail("statistics: %ju frees > %ju allocations",
                 (uintmax_t)st.frees, (uintmax_t)st.allocs);
        break;
    }
    default:
        break;
    }
}

/* ---- The interpreter ---------------------------------------------------- */

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    for (unsigned i = 0; i < sizeof target / sizeof target[0]; i++)
        target[i] = (uintptr_t)target;
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shm = p == MAP_FAILED ? &shm_local : p;
    libc_block = malloc(64);
    debug_flavour = HAK(hak_is_debug());
    start_seconds = now();
    atexit(fork_report);
    const char *t = getenv("FUZZ_ATTACK_TRACE");
    tracing = t && *t && *t != '0';
    t = getenv("FUZZ_ATTACK_ISOLATE");
    isolate = t && *t && *t != '0';
    t = getenv("FUZZ_ATTACK_SKIP");
    if (t)
        snprintf(skip_list, sizeof skip_list, "%s", t);
    t = getenv("FUZZ_ATTACK_FAILURES");
    if (t && *t)
        failures_path = t;
    t = getenv("FUZZ_ATTACK_FORK_SHARE");
    if (t && *t)
        fork_share = atof(t);
    /* hakmem's first mappings go through the record. */
    HAK_VOID(hak_free(HAK(hak_malloc(1))));
}

static void finish(void)
{
    op_no = MAX_OPS;
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p)
            release(&slots[i], !in_child && i % 3 == 0);
    /* Trim first: the walk then skips the slabs the trim released (in
     * debug it verifies the poison of every free slot of every slab in
     * use, most of an input's time otherwise). */
    HAK_VOID(hak_malloc_trim(0));
    HAK_VOID(hak_check_heap());
    drain_epoch++;
    check_all();
    for (unsigned i = 0; i < sizeof target / sizeof target[0]; i++)
        if (target[i] != (uintptr_t)target)
            fail("the global target was written: word %u is %#jx", i,
                 (uintmax_t)target[i]);
    if (in_child) {
        if (final_probe) {
            trace("usable size of the global target: must abort");
            (void)HAK(hak_malloc_usable_size(target));
            fail("after an overflow past a large mapping, usable size "
                 "accepted the global target %p", (void *)target);
        }
        fflush(stderr);
        _exit(0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    setup();
    memset(slots, 0, sizeof slots);
    memset(mem, 0, sizeof mem);
    memset(memsrc, 0, sizeof memsrc);
    nghost = ghost_head = mem_head = forks = 0;
    final_probe = 0;
    last_alloc = NULL;
    next_id = 1;
    input_t in = { data, len, 0 };
    for (op_no = 0; op_no < MAX_OPS && in.pos < in.len; op_no++) {
        uint32_t code = take(&in, 1);
        blk_t *s = &slots[take(&in, 1) % SLOTS];
        switch (code % 32) {
        case 0: case 1: case 2: op_malloc(s, take_size(&in), 0); break;
        case 3: op_calloc(&in, s); break;
        case 4: op_realloc(&in, s); break;
        case 5: case 30: op_memalign(&in, s); break;
        case 6: case 7: case 8: case 27: case 28:
            if (s->p)
                release(s, 0);
            break;
        case 9:
            if (s->p)
                release(s, 1);
            break;
        case 10: op_usable(s); break;
        case 11: op_malloc(s, take_size(&in), 1); break;
        case 12: case 31: op_read_ghost(&in); break;
        case 13: case 14: op_waf(&in); break;
        case 15: case 16: op_overflow(&in, s); break;
        case 17: op_pastend(&in, s); break;
        case 18: op_double_free(&in); break;
        case 19: op_invalid(&in); break;
        case 20: op_remote_forge(&in, s); break;
        case 21: op_store(&in, s); break;
        case 22: op_misc(&in); break;
        default: op_malloc(s, take(&in, 1), 0); break; /* 23..26, 29 */
        }
        check_all();
    }
    finish();
    return 0;
}
