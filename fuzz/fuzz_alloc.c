/* fuzz_alloc.c — the allocator driven by a byte stream, with a shadow model.
 *
 * The input decodes into operations over a table of live blocks: malloc,
 * calloc, realloc (grow, shrink, to zero), the memalign family with
 * alignments up to 1 MiB, free, free from another thread, usable size,
 * thread exit with live blocks, and hak_check_heap(). Every block is filled
 * with a pattern derived from its id and size and is verified before every
 * free and realloc and at the end of the input, so any corruption by the
 * allocator is a crash here.
 *
 * One source, three drivers: libFuzzer (clang -fsanitize=fuzzer), AFL++
 * (afl-clang-fast -fsanitize=fuzzer, persistent mode through its driver)
 * and fuzz/replay.c, which replays files (the corpus regression tests).
 * It links the prefixed core, so the fuzzers' own malloc stays theirs.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

#include "harness.h"

#if defined(__clang__)
/* The shadow model's byte loops carry no coverage signal worth paying for. */
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

#define SLOTS 64
#define MAX_OPS 1024

typedef struct slot {
    uint8_t *p;
    size_t size;
    uint32_t id;
} slot_t;



/* Sizes: mostly tiny, some mid, a few large; edges of classes likely. */
static size_t take_size(input_t *in)
{
    uint32_t kind = take(in, 1);
    uint32_t v = take(in, 2);
    switch (kind % 8) {
    case 0: return v % 17;                       /* 0..16 */
    case 1: case 2: case 3: return v % 1025;     /* tiny */
    case 4: case 5: return 1024 + v % (32768 - 1024 + 16); /* mid, edge */
    case 6: return (size_t)(v % 64 + 1) * 16 + (kind >> 3) % 3 - 1; /* +-1 */
    default: return 32768 + (size_t)v * (kind >> 7 ? 16 : 2); /* large */
    }
}

NO_COVERAGE static uint8_t pattern(uint32_t id, size_t i)
{
    return (uint8_t)(id * 131 + i * 7 + (i >> 8));
}

/* Bytes of a block the shadow model covers: all of blocks up to 4 KiB;
 * of larger ones the first and last 512 bytes and every 61st byte between
 * (a prime stride, so damage periodic in pages or classes is still seen). */
NO_COVERAGE static size_t next_covered(size_t i, size_t size)
{
    if (size <= 4096 || i + 1 < 512 || i + 1 >= size - 512)
        return i + 1;
    size_t j = i + 61;
    return j < size - 512 ? j : size - 512;
}

NO_COVERAGE static void fill(slot_t *s)
{
    for (size_t i = 0; i < s->size; i = next_covered(i, s->size))
        s->p[i] = pattern(s->id, i);
}

NO_COVERAGE static void verify(const slot_t *s, size_t n)
{
    for (size_t i = 0; i < n && i < s->size; i = next_covered(i, s->size)) {
        if (s->p[i] != pattern(s->id, i)) {
            fprintf(stderr, "fuzz_alloc: block %p (id %u, size %zu) byte %zu "
                    "changed\n", (void *)s->p, s->id, s->size, i);
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

/* ---- A worker thread for cross-thread frees ----------------------------- */

static pthread_mutex_t worker_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t worker_cv = PTHREAD_COND_INITIALIZER;
static void *worker_job;
static int worker_started;

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&worker_mu);
    for (;;) {
        while (!worker_job)
            pthread_cond_wait(&worker_cv, &worker_mu);
        hak_free(worker_job);
        worker_job = NULL;
        pthread_cond_broadcast(&worker_cv);
    }
    return NULL;
}

/* Frees p on the worker thread and waits until it is done, so runs stay
 * deterministic. */
static void free_remote(void *p)
{
    pthread_mutex_lock(&worker_mu);
    if (!worker_started) {
        pthread_t t;
        pthread_create(&t, NULL, worker_main, NULL);
        pthread_detach(t);
        worker_started = 1;
    }
    worker_job = p;
    pthread_cond_broadcast(&worker_cv);
    while (worker_job)
        pthread_cond_wait(&worker_cv, &worker_mu);
    pthread_mutex_unlock(&worker_mu);
}

/* ---- A thread that allocates blocks and exits --------------------------- */

typedef struct spawn {
    slot_t *slots;
    unsigned n;
} spawn_t;

static void *spawn_main(void *arg)
{
    spawn_t *sp = arg;
    for (unsigned i = 0; i < sp->n; i++) {
        slot_t *s = &sp->slots[i];
        s->p = hak_malloc(s->size);
        if (!s->p)
            abort();
        fill(s);
    }
    return NULL;
}

/* ---- The interpreter ---------------------------------------------------- */

static void release(slot_t *s, int remote)
{
    verify(s, s->size);
    if (remote)
        free_remote(s->p);
    else
        hak_free(s->p);
    s->p = NULL;
}

static void place(slot_t *s, void *p, size_t size, uint32_t id)
{
    s->p = p;
    s->size = size;
    s->id = id;
    fill(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    slot_t slots[SLOTS];
    memset(slots, 0, sizeof slots);
    input_t in = { data, len, 0 };
    uint32_t next_id = 1;
    unsigned spawns = 0, checks = 0; /* the slow operations, bounded */
    for (unsigned op = 0; op < MAX_OPS && in.pos < in.len; op++) {
        uint32_t code = take(&in, 1);
        slot_t *s = &slots[take(&in, 1) % SLOTS];
        if (s->p && code % 12 < 9 && code % 12 != 2 && code % 12 != 6) {
            release(s, code % 12 == 5);
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
                verify(s, s->size);
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
            verify(s, s->size);
            uint8_t *p = hak_realloc(s->p, n);
            if (!p)
                abort();
            check_aligned(p, 16);
            s->p = p;
            /* The kept prefix must have survived the move. */
            verify(s, n);
            s->size = n;
            fill(s); /* covers the new tail; the prefix is unchanged */
            break;
        }
        case 3: { /* calloc */
            size_t n = take_size(&in), m = 1 + take(&in, 1) % 4;
            uint8_t *p = hak_calloc(n / m + 1, m);
            if (!p)
                abort();
            for (size_t i = 0; i < (n / m + 1) * m; i++)
                if (p[i])
                    abort();
            place(s, p, (n / m + 1) * m, next_id++);
            break;
        }
        case 4: { /* memalign family, alignments 1 B .. 1 MiB */
            size_t align = (size_t)1 << (take(&in, 1) % 21);
            size_t n = take_size(&in);
            void *p = NULL;
            switch (take(&in, 1) % 3) {
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
            break;
        }
        case 6: { /* usable size */
            if (s->p && hak_malloc_usable_size(s->p) < s->size)
                abort();
            break;
        }
        case 7: case 8: { /* a thread allocates into empty slots and exits */
            slot_t fresh[4];
            unsigned n = 0;
            for (unsigned i = 0; i < SLOTS && n < 4; i++)
                if (!slots[(i + op) % SLOTS].p) {
                    fresh[n].size = take_size(&in);
                    fresh[n].id = next_id++;
                    n++;
                }
            if (++spawns > 4)
                break;
            spawn_t sp = { fresh, n };
            pthread_t t;
            if (pthread_create(&t, NULL, spawn_main, &sp) != 0)
                break;
            pthread_join(t, NULL);
            for (unsigned i = 0, k = 0; i < SLOTS && k < n; i++)
                if (!slots[(i + op) % SLOTS].p)
                    slots[(i + op) % SLOTS] = fresh[k++];
            break;
        }
        case 9: { /* the whole-heap walk (slow: bounded), trim, stats */
            uint32_t which = take(&in, 1) % 4;
            if (which == 0 && ++checks <= 8)
                hak_check_heap();
            else if (which == 1)
                hak_malloc_trim(0);
            else if (which == 2) {
                hak_stats_t st;
                hak_stats_get(&st);
                if (st.frees > st.allocs)
                    abort();
            }
            break;
        }
        default: { /* 5, 10, 11: malloc of a small size */
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
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p)
            release(&slots[i], i % 3 == 0);
    return 0;
}
