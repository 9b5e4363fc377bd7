/* fuzz_alloc.c — the allocator driven by a byte stream, with a shadow model.
 *
 * The input decodes into operations over a table of live blocks: malloc,
 * calloc, realloc (grow, shrink, to zero), the memalign family with
 * alignments up to 1 MiB, free (plain or sized), free from another thread,
 * usable size, blocks allocated by another thread that may then exit with
 * them live, hak_check_heap(), trim and statistics; and requests at the
 * edges (alignments to 2^63, sizes to SIZE_MAX) checked against a model of
 * the documented contract (edge_request). Every block is filled with a
 * pattern derived from its id and position and is verified before every
 * free and realloc and at the end of the input, so any corruption by the
 * allocator is a crash here.
 *
 * One source, three drivers: libFuzzer (clang -fsanitize=fuzzer), AFL++
 * (afl-clang-fast -fsanitize=fuzzer, persistent mode through its driver)
 * and fuzz/replay.c, which replays files (the corpus regression tests).
 * It links the prefixed core, so the fuzzers' own malloc stays theirs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getcpu, the CPU_ macros (harness.h) */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

#include "harness.h"
#include "types.h" /* HAK_MID_MAX: where the large tier starts */

/* The shadow model's per-word helpers, inlined even at the fuzz builds'
 * -O1 (a call per word otherwise). */
#define PER_WORD MODEL static inline __attribute__((always_inline))

#define SLOTS 64
#define MAX_OPS 1024

typedef struct slot {
    uint8_t *p;
    size_t size;
    uint32_t id;
    /* how it may be freed with its size: 0 hak_free_sized (malloc, calloc,
     * realloc), a power of two hak_free_aligned_sized (aligned_alloc with
     * that alignment), NOT_SIZED only hak_free (the other aligned ones) */
    size_t align;
    /* queued for the worker to allocate (p is NULL until it has) */
    int pending;
} slot_t;

#define NOT_SIZED SIZE_MAX



/* Sizes: mostly tiny, some mid, a few large; edges of classes likely. */
static size_t take_size(input_t *in)
{
    uint32_t kind = take(in, 1);
    uint32_t v = take(in, 2);
    switch (kind % 16) {
    case 0: case 1: return v % 17;               /* 0..16 */
    case 2: case 3: case 4: case 5: case 6: case 7:
        return v % 1025;                         /* tiny */
    case 8: case 9: case 10: case 11:
        return 1024 + v % (HAK_MID_MAX - 1024 + 16); /* mid, edge */
    case 12: case 13: case 14:
        return (size_t)(v % 64 + 1) * 16 + (kind >> 4) % 3 - 1; /* +-1 */
    default: /* large, 1 in 64: each costs system calls (guard pages,
              * PROT_NONE when cached) and page faults, as much as a
              * hundred small operations, and its pages cost in
              * proportion. So the sizes to 1 MiB are spread evenly over
              * the octaves (32 KiB times 2^0..2^5, any residue mod 4,
              * past the mid tier's end),
              * not over the bytes: each range gets its share of the
              * requests (a cached mapping 16 times a request, which is
              * split, still comes up), at half the mean size of an
              * even spread (164 KiB, from 320): debug libFuzzer ran 625
              * executions/s instead of 479 (3 pairs of 20 s). */
        if ((kind >> 4 & 3) != 3)
            return 16 * 1024 + v % (16 * 1024 + 1);
        return HAK_MID_MAX +
               ((size_t)(v & 0x1fff) << (v >> 13) % 6 << 2 | kind >> 6);
    }
}

/* The shadow model works in 8-byte words (blocks are 16-byte aligned):
 * a word compare sees any changed byte in it, at an eighth of the cost of
 * byte loops (which took most of the fuzzer's time). Word w of block id
 * holds model_pattern(id, w); a last partial word is compared bytewise. */
PER_WORD uint64_t model_pattern(uint32_t id, size_t w)
{
    uint64_t x = ((uint64_t)id << 32 | (uint32_t)w) * 0x9E3779B97F4A7C15u;
    return x ^ x >> 29 ^ (uint64_t)w << 3;
}

/* Words of a block the shadow model covers: all of blocks up to 4 KiB;
 * of larger ones the first and last 512 bytes and every 61st word between
 * (a prime stride, so damage periodic in pages or classes is still seen;
 * still a few words on every page). */
PER_WORD size_t next_covered(size_t w, size_t size)
{
    size_t words = (size + 7) / 8;
    if (size <= 4096 || w + 1 < 64 || w + 1 >= words - 64)
        return w + 1;
    size_t j = w + 61;
    return j < words - 64 ? j : words - 64;
}

/* Word w's bytes below lim (a whole word when it fits). */
PER_WORD void put(uint8_t *p, size_t w, size_t lim, uint64_t v)
{
    if (w * 8 + 8 <= lim) {
        *(uint64_t *)(void *)(p + w * 8) = v;
        return;
    }
    for (size_t i = w * 8; i < lim; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* The first byte of word w below lim that differs from v, or SIZE_MAX. */
PER_WORD size_t differs(const uint8_t *p, size_t w, size_t lim, uint64_t v)
{
    if (w * 8 + 8 <= lim) {
        uint64_t got = *(const uint64_t *)(const void *)(p + w * 8);
        if (got == v)
            return SIZE_MAX;
        return w * 8 + (size_t)__builtin_ctzll(got ^ v) / 8;
    }
    for (size_t i = w * 8; i < lim; i++, v >>= 8)
        if (p[i] != (uint8_t)v)
            return i;
    return SIZE_MAX;
}

MODEL static void model_fill(slot_t *s)
{
    model_range(s->p, s->size);
    for (size_t w = 0; w * 8 < s->size; w = next_covered(w, s->size))
        put(s->p, w, s->size, model_pattern(s->id, w));
}

/* The covered bytes of s below n still hold their pattern. */
MODEL static void model_verify(const slot_t *s, size_t n)
{
    size_t lim = n < s->size ? n : s->size;
    model_range(s->p, lim);
    for (size_t w = 0; w * 8 < lim; w = next_covered(w, s->size)) {
        size_t i = differs(s->p, w, lim, model_pattern(s->id, w));
        if (i != SIZE_MAX) {
            fprintf(stderr, "fuzz_alloc: block %p (id %u, size %zu) byte %zu "
                    "changed\n", (void *)s->p, s->id, s->size, i);
            abort();
        }
    }
}

/* calloc's promise, over the words the shadow model covers: a byte loop
 * here was half of all the time the fuzzer spent (its comparisons traced). */
MODEL static void model_zero(const uint8_t *p, size_t size)
{
    model_range(p, size);
    for (size_t w = 0; w * 8 < size; w = next_covered(w, size)) {
        size_t i = differs(p, w, size, 0);
        if (i != SIZE_MAX) {
            fprintf(stderr, "fuzz_alloc: calloc block %p (size %zu) byte %zu "
                    "not zero\n", (void *)p, size, i);
            abort();
        }
    }
}

static void check_aligned(const void *p, size_t align)
{
    if ((uintptr_t)p % align) {
        fprintf(stderr, "fuzz_alloc: %p not aligned to %zu\n", p, align);
        abort();
    }
}

/* ---- Another thread: frees, allocations, its exit -------------------- */

/* One worker thread, kept across inputs (creating a thread per input cost
 * more than the rest of the input). It frees blocks (cross-thread frees),
 * allocates blocks (owned by its heap, later freed by this thread), and
 * exits when told to: its heap is abandoned with those blocks live and
 * adopted by the next thread; a new worker starts at the next job.
 *
 * A handoff to the worker and back (two wakeups; one per remote free and
 * per allocation job, ~60 an input) was most of an input's wall time on a
 * busy machine, waiting for a core; so the worker's jobs are queued and
 * run in one handoff (a flush): before the fuzzing thread touches a slot the worker is to fill
 * (it stays pending until then), before the worker exits, when the queue
 * is full, when a remote free asks for it (so a free can still land right
 * between two of this thread's operations), and at the end of the input.
 * The worker runs the queue in order while this thread waits, so runs stay
 * deterministic; blocks queued for a remote free are verified when queued
 * and no longer referenced by the model. */
typedef struct job {
    slot_t *slot; /* allocate slot->size bytes into it; NULL: free p */
    void *p;
} job_t;

#define QUEUE 32

enum { JOB_RUN = 1, JOB_EXIT };

static turn_t worker_turn;
static job_t queue[QUEUE];
static unsigned queued;
static pthread_t worker;
static int worker_alive;

static void *worker_main(void *arg)
{
    (void)arg;
    for (;;) {
        uint32_t kind = turn_take(&worker_turn);
        for (unsigned i = 0; kind == JOB_RUN && i < queued; i++) {
            slot_t *s = queue[i].slot;
            if (!s) {
                hak_free(queue[i].p);
                continue;
            }
            s->p = hak_malloc(s->size);
            if (!s->p)
                abort();
            s->pending = 0;
            model_fill(s);
        }
        turn_done(&worker_turn);
        if (kind == JOB_EXIT)
            return NULL;
    }
}

static void handoff(int kind)
{
    if (!worker_alive) {
        if (pthread_create(&worker, NULL, worker_main, NULL) != 0)
            abort();
        worker_alive = 1;
    }
    colocate(&worker, 1);
    turn_post(&worker_turn, (uint32_t)kind);
    turn_wait(&worker_turn);
    if (kind == JOB_EXIT) {
        pthread_join(worker, NULL); /* its heap is in the pool now */
        worker_alive = 0;
    }
}

/* Runs the queued jobs on the worker and waits for them. */
static void flush(void)
{
    if (queued)
        handoff(JOB_RUN);
    queued = 0;
}

/* The worker flushes what is queued, then exits. */
static void worker_exit(void)
{
    flush();
    handoff(JOB_EXIT);
}

static void enqueue(slot_t *slot, void *p)
{
    if (queued == QUEUE)
        flush();
    queue[queued++] = (job_t){ slot, p };
}

static void free_remote(void *p, int now)
{
    enqueue(NULL, p);
    if (now)
        flush();
}

/* ---- The interpreter ---------------------------------------------------- */

/* Frees s: on the other thread (queued; at once if remote > 1), or here,
 * with its size when sized and the block allows it (a size it was
 * allocated with must not abort). */
static void release_how(slot_t *s, int remote, int sized)
{
    model_verify(s, s->size);
    if (remote)
        free_remote(s->p, remote > 1);
    else if (sized && s->align == 0)
        hak_free_sized(s->p, s->size);
    else if (sized && s->align != NOT_SIZED)
        hak_free_aligned_sized(s->p, s->align, s->size);
    else
        hak_free(s->p);
    s->p = NULL;
}

static void release(slot_t *s, int remote)
{
    release_how(s, remote, 0);
}

static void place(slot_t *s, void *p, size_t size, uint32_t id)
{
    s->p = p;
    s->size = size;
    s->id = id;
    s->align = 0;
    model_fill(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* ---- Requests at the edges, against an independent model -------------- */

#define VA_LIMIT ((size_t)1 << 47) /* x86-64 Linux user address space */
/* Requests the model cannot decide (they may succeed or fail with ENOMEM)
 * are made only up to this many bytes of size or alignment: such a block
 * costs its size in page faults (calloc) or in ASan's shadow (an eighth).
 * 4 MiB: alignments past a superslab's (2 MiB) are still made; at 16 MiB
 * these requests cost twice as much under ASan (its shadow). */
#define MAYBE_MAX ((size_t)1 << 22)

enum { E_MALLOC, E_CALLOC, E_ALIGNED, E_POSIX, E_MEMALIGN, E_VALLOC,
       E_PVALLOC, E_REALLOC, E_KINDS };

static void edge_fail(const char *what, int fn, size_t align, size_t size,
                      const void *p, int err)
{
    fprintf(stderr, "fuzz_alloc: edge request %d (align %#zx, size %#zx): "
            "%s (got %p, errno %d)\n", fn, align, size, what, p, err);
    abort();
}

/* One request with an alignment 2^0 .. 2^63 (or next to one) and a size
 * from 0 to SIZE_MAX; the model says from the documented contract alone
 * (README: "C semantics") whether it must fail with EINVAL, must fail with
 * ENOMEM (it cannot fit 47 bits), or must succeed (small enough for any
 * machine), and what alignment the block has. A block that may be kept
 * goes into s; larger successes are touched at both ends and freed. */
static void edge_request(input_t *in, slot_t *s, uint32_t id)
{
    uint32_t b = take(in, 1), k = take(in, 1) % 64, j = take(in, 1) % 65;
    uint32_t d = take(in, 1);
    int fn = (int)(b % E_KINDS);
    size_t align = (size_t)1 << k;
    if (b >> 6 == 1) /* next to a power of two */
        align = d & 1 ? align + 1 : align - 1 + !align;
    else if (b >> 6 == 2 && k)
        align += align / 2;
    /* sizes: 2^j - 8 .. 2^j + 8 (j = 64: SIZE_MAX - 16 .. SIZE_MAX) */
    size_t size = j == 64 ? SIZE_MAX - (d >> 4)
                          : ((size_t)1 << j) - 8 + (d >> 4) % 17;
    if (j < 4)
        size = (d >> 4) % 17;
    /* calloc: count elements of size / count (+ 1) bytes */
    size_t count = 1 + (b >> 3 & 7), elem = size / count;
    if (b >> 7 && elem < SIZE_MAX)
        elem++;

    /* The model. */
    size_t a = 16, total = size;
    int einval = 0, overflow = 0;
    switch (fn) {
    case E_ALIGNED: einval = !align || align & (align - 1); break;
    case E_POSIX: einval = align < sizeof(void *) || align & (align - 1); break;
    case E_MEMALIGN: einval = align > (size_t)1 << 63; break;
    case E_CALLOC:
        overflow = __builtin_mul_overflow(count, elem, &total);
        break;
    case E_PVALLOC: /* rounded up to pages */
        overflow = size > SIZE_MAX - 4095;
        total = overflow ? 0 : (size + 4095) & ~(size_t)4095;
        break;
    default: break;
    }
    if (fn == E_ALIGNED || fn == E_POSIX)
        a = align > a ? align : a;
    if (fn == E_MEMALIGN && !einval)
        while (a < align)
            a <<= 1;
    if (fn == E_VALLOC || fn == E_PVALLOC)
        a = 4096;
    int must_fail = overflow || (!einval && (a >= VA_LIMIT || total > VA_LIMIT - a));
    int must_work = !einval && !must_fail && a <= (1u << 20) && total <= (1u << 18);
    if (!einval && !must_fail && !must_work && (a > MAYBE_MAX || total > MAYBE_MAX))
        return; /* undecided and too big to make here */
    if (fn == E_REALLOC && (!s->p || !must_fail))
        return; /* realloc: the ones that cannot fit, of a live block */
    if (fn != E_REALLOC && s->p)
        release(s, 0);

    /* The request. */
    void *p = NULL;
    errno = 1234;
    int err = 0, rc = 0;
    switch (fn) {
    case E_MALLOC: p = hak_malloc(size); break;
    case E_CALLOC: p = hak_calloc(count, elem); break;
    case E_ALIGNED: p = hak_aligned_alloc(align, size); break;
    case E_POSIX:
        p = (void *)&p; /* must stay as it is on failure */
        rc = hak_posix_memalign(&p, align, size);
        if (rc && p != (void *)&p)
            edge_fail("posix_memalign failed and wrote its result", fn, align,
                      size, p, rc);
        if (rc)
            p = NULL;
        if (errno != 1234)
            edge_fail("posix_memalign changed errno", fn, align, size, p, errno);
        break;
    case E_MEMALIGN: p = hak_memalign(align, size); break;
    case E_VALLOC: p = hak_valloc(size); break;
    case E_PVALLOC: p = hak_pvalloc(size); break;
    default: /* E_REALLOC of the live block s to a size that cannot fit */
        model_verify(s, s->size);
        p = hak_realloc(s->p, size);
        break;
    }
    err = fn == E_POSIX ? rc : p ? 0 : errno;

    /* The verdict. */
    if (einval) {
        if (p || err != EINVAL)
            edge_fail("must fail with EINVAL", fn, align, size, p, err);
        return;
    }
    if (must_fail || !p) {
        if (p)
            edge_fail("cannot fit 47 bits, yet succeeded", fn, align, size, p, 0);
        if (err != ENOMEM)
            edge_fail("failed without ENOMEM", fn, align, size, p, err);
        if (must_work)
            edge_fail("must succeed", fn, align, size, p, err);
        if (fn == E_REALLOC)
            model_verify(s, s->size); /* a failed realloc keeps the block */
        return;
    }
    if ((uintptr_t)p % a)
        edge_fail("misaligned", fn, align, size, p, 0);
    size_t usable = hak_malloc_usable_size(p);
    if (usable < total || (hak_is_debug() && usable != total))
        edge_fail("usable size wrong", fn, align, size, p, (int)usable);
    if (must_work) {
        if (fn == E_CALLOC)
            model_zero(p, total);
        place(s, p, total, id);
        s->align = fn == E_MALLOC || fn == E_CALLOC ? 0
                   : fn == E_ALIGNED ? align : NOT_SIZED;
        return;
    }
    if (total) { /* large, undecided, and it worked: both ends are ours */
        ((volatile uint8_t *)p)[0] = 1;
        ((volatile uint8_t *)p)[total - 1] = 1;
    }
    hak_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    slot_t slots[SLOTS];
    memset(slots, 0, sizeof slots);
    input_t in = { data, len, 0 };
    uint32_t next_id = 1;
    unsigned exits = 0, checks = 0, trims = 0; /* the slow ones, bounded */
    for (unsigned op = 0; op < MAX_OPS && in.pos < in.len; op++) {
        uint32_t code = take(&in, 1);
        slot_t *s = &slots[take(&in, 1) % SLOTS];
        if (s->pending)
            flush(); /* the worker allocates it now */
        if (s->p && code % 12 < 9 && code % 12 != 2 && code % 12 != 6) {
            /* a remote free: queued, or at once (about 1 in 10) */
            release_how(s, code % 12 == 5 ? 1 + (code >= 0xe0) : 0,
                        code & 0x80);
            continue;
        }
        switch (code % 12) {
        case 0: case 1: { /* malloc */
            size_t n = take_size(&in);
            void *p = hak_malloc(n);
            if (!p)
                abort();
            check_aligned(p, 16);
            place(s, p, n, next_id++);
            break;
        }
        case 2: { /* realloc: grow, shrink, to zero, or from NULL */
            size_t n = take_size(&in);
            if (s->p && (n == 0 || take(&in, 1) % 8 == 0)) {
                model_verify(s, s->size);
                if (hak_realloc(s->p, 0) != NULL)
                    abort(); /* documented: frees, returns NULL */
                s->p = NULL;
                break;
            }
            if (!s->p) { /* realloc(NULL, n) is malloc(n) */
                uint8_t *p = hak_realloc(NULL, n);
                if (!p)
                    abort();
                place(s, p, n, next_id++);
                break;
            }
            model_verify(s, s->size);
            uint8_t *p = hak_realloc(s->p, n);
            if (!p)
                abort();
            check_aligned(p, 16);
            s->p = p;
            /* The kept prefix must have survived the move. */
            model_verify(s, n);
            s->size = n;
            s->align = 0; /* C23: free_sized takes realloc's results */
            model_fill(s); /* covers the new tail; the prefix is unchanged */
            break;
        }
        case 3: { /* calloc */
            size_t n = take_size(&in), m = 1 + take(&in, 1) % 4;
            uint8_t *p = hak_calloc(n / m + 1, m);
            if (!p)
                abort();
            model_zero(p, (n / m + 1) * m);
            place(s, p, (n / m + 1) * m, next_id++);
            break;
        }
        case 4: { /* memalign family, alignments 1 B .. 1 MiB */
            size_t align = (size_t)1 << (take(&in, 1) % 21);
            size_t n = take_size(&in);
            void *p = NULL;
            uint32_t p_kind = take(&in, 1) % 3;
            switch (p_kind) {
            case 0:
                if (hak_posix_memalign(&p, align < sizeof(void *)
                                               ? sizeof(void *) : align, n))
                    abort();
                break;
            case 1: p = hak_aligned_alloc(align, n); break;
            default: p = hak_memalign(align, n); break;
            }
            if (!p)
                abort();
            check_aligned(p, align);
            place(s, p, n, next_id++);
            s->align = p_kind == 1 ? align : NOT_SIZED;
            break;
        }
        case 6: { /* usable size */
            if (s->p && hak_malloc_usable_size(s->p) < s->size)
                abort();
            break;
        }
        case 7: case 8: { /* the other thread allocates into empty
                           * slots (queued: pending until touched); sometimes
                           * it exits then (once an input: a thread's start
                           * and end are the slow part) */
            unsigned n = 0;
            for (unsigned i = 0; i < SLOTS && n < 4; i++) {
                slot_t *f = &slots[(i + op) % SLOTS];
                if (!f->p && !f->pending) {
                    f->size = take_size(&in);
                    f->id = next_id++;
                    f->align = 0;
                    f->pending = 1;
                    enqueue(f, NULL);
                    n++;
                }
            }
            if (take(&in, 1) == 0xe7 && ++exits <= 1)
                worker_exit();
            break;
        }
        case 9: { /* the whole-heap walk (slow: bounded), trim, stats */
            /* A check or a trim costs as much as hundreds of other
             * operations (a walk of every slab; the pages it returns are
             * faulted in again): one byte value each (not 0, which the
             * input's end reads as), once an input. */
            uint32_t which = take(&in, 1);
            if (which == 0xc5 && ++checks <= 1)
                hak_check_heap();
            else if (which == 0x5c && ++trims <= 1)
                hak_malloc_trim(0); /* what it returns is faulted in again */
            else {
                hak_stats_t st;
                hak_stats_get(&st);
                if (st.frees > st.allocs)
                    abort();
            }
            break;
        }
        case 11: /* alignments to 2^63, sizes to SIZE_MAX */
            edge_request(&in, s, next_id++);
            break;
        default: { /* 5, 10: malloc of a small size */
            if (s->p)
                release(s, 0);
            size_t n = take(&in, 1);
            void *p = hak_malloc(n);
            if (!p)
                abort();
            place(s, p, n, next_id++);
            break;
        }
        }
    }
    flush(); /* the pending slots are allocated */
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p)
            release_how(&slots[i], i % 3 == 0, i & 1);
    flush(); /* the remote frees among those */
    return 0;
}
