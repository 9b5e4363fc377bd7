/* fuzz_remote.c — frees from other threads and the owner's drain, fuzzed
 * directly.
 *
 * The input drives an owner (the fuzzing thread) and two producer threads:
 * the owner allocates blocks, producers free them (bits in the slab's
 * rbits, the slab queued on the owner's heap), the owner drains
 * (hak_heap_drain, the path every refill takes) or allocates through its
 * refills. Some operations misuse the heap the way a buggy program would:
 * a write into a block after another thread freed it (forged pointers
 * included — nothing may follow them, so the run goes on and every
 * payload must stay intact), or a second free of the same block by
 * another thread or by the owner, run in a forked child that must die
 * with hakmem's report. A child that survives means a check let the
 * misuse through, and the harness aborts. Payloads are verified before
 * every free. A producer may also trim or read the statistics while the
 * owner works.
 *
 * It includes the core's internal headers and links the prefixed core.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* harness.h */
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"

#include "harness.h"

#include "alloc.h"
#include "heap.h"
#include "slab.h"

#define SLOTS 64
#define MAX_OPS 2048

typedef struct slot {
    uint8_t *p;
    size_t size;
    uint8_t seed;
} slot_t;

/* ---- Producers: free what the owner hands them, in batches. ---------- */

/* Kept across inputs (a thread per input would cost more than the input).
 * A handoff to a producer and back cost more than the allocator's work
 * for the frees it carried (two wakeups, most of it waiting for a core on
 * a busy machine), so the owner queues each producer's frees and hands
 * them over in one job (a flush), which it waits for, producer 0 first:
 * runs stay deterministic. Everything the owner does that a remote free
 * may change flushes first: a drain, allocating through refills, a write
 * into a queued block, a trim or statistics job, a fork, the end of the
 * input; so does a full queue. The owner's plain allocations do not: they
 * meet the frees queued before them at the next of those. A trim or a
 * statistics job runs while the owner goes on allocating and freeing
 * (that is its point), and is waited for before the producer's next job
 * and at the end of the input. */
enum { JOB_FREE = 1, JOB_TRIM, JOB_STATS };

#define QUEUE 32

typedef struct producer {
    pthread_t thread;
    turn_t turn; /* the job's kind while it has one */
    void *job[QUEUE];
    int njob;
    /* the owner's side: frees not yet handed over */
    void *queue[QUEUE];
    int queued;
} producer_t;

static producer_t producers[2];
static int producers_started;

static void *producer_main(void *arg)
{
    producer_t *pr = arg;
    thread_settled();
    for (;;) {
        uint32_t kind = turn_take(&pr->turn);
        if (kind == JOB_FREE) {
            for (int i = 0; i < pr->njob; i++)
                hak_free(pr->job[i]);
        } else if (kind == JOB_TRIM) {
            hak_malloc_trim(0);
        } else {
            hak_stats_t st;
            hak_stats_get(&st);
        }
        turn_done(&pr->turn);
    }
    return NULL;
}

/* Gives producer k a job (a free job: its queue); waits for it unless it
 * is a trim or stats. */
static void post(unsigned k, int kind)
{
    if (!producers_started) {
        for (unsigned i = 0; i < 2; i++) {
            pthread_create(&producers[i].thread, NULL, producer_main,
                           &producers[i]);
            pthread_detach(producers[i].thread);
        }
        producers_started = 1;
    }
    /* A free job is waited for: the producers share this thread's CPU. A
     * trim or statistics job runs beside the owner on purpose: free. */
    pthread_t threads[2] = { producers[0].thread, producers[1].thread };
    if (kind == JOB_FREE)
        colocate(threads, 2);
    else
        colocate_release(threads, 2);
    producer_t *pr = &producers[k % 2];
    turn_wait(&pr->turn);
    if (kind == JOB_FREE) {
        memcpy(pr->job, pr->queue, (size_t)pr->queued * sizeof pr->job[0]);
        pr->njob = pr->queued;
        pr->queued = 0;
    }
    turn_post(&pr->turn, (uint32_t)kind);
    if (kind == JOB_FREE)
        turn_wait(&pr->turn);
}

/* Both producers free what is queued for them; the owner waits. */
static void flush(void)
{
    for (unsigned k = 0; k < 2; k++)
        if (producers[k].queued)
            post(k, JOB_FREE);
}

/* Producer k is to free p (and q, if given: in the same job). */
static void remote_free(unsigned k, void *p, void *q)
{
    producer_t *pr = &producers[k % 2];
    if (pr->queued > QUEUE - 2)
        post(k, JOB_FREE);
    pr->queue[pr->queued++] = p;
    if (q)
        pr->queue[pr->queued++] = q;
}

static void producers_idle(void)
{
    for (unsigned i = 0; producers_started && i < 2; i++)
        turn_wait(&producers[i].turn);
}

/* ---- Double frees, in a child that must die ----------------------------- */

static void *free_once_main(void *arg)
{
    hak_free(arg);
    return NULL;
}

static void *double_free_main(void *arg)
{
    hak_free(arg);
    hak_free(arg); /* must abort here */
    return NULL;
}

/* Runs a double free in a fork; the child must abort with a hakmem report.
 * kind 0: a producer frees the victim, then the owner frees it again;
 * kind 1: one producer frees it twice. */
static void expect_caught(int kind, void *victim)
{
    flush();
    producers_idle(); /* no trim halfway through in the child */
    int rfd;
    pid_t pid = fork_child(&rfd);
    if (pid < 0)
        abort();
    if (pid == 0) {
        /* The producers stayed in the parent: a thread of the child's. */
        pthread_t t;
        pthread_create(&t, NULL, kind ? double_free_main : free_once_main,
                       victim);
        pthread_join(t, NULL);
        if (kind == 0)
            hak_free(victim); /* must abort here */
        hak_heap_drain(hak_tls_heap); /* the drain's checks, if the free's
                                   * let it through */
        _exit(0);
    }
    char buf[512];
    int status = child_collect(rfd, pid, buf, sizeof buf);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT ||
        strncmp(buf, "hakmem: ", 8) != 0) {
        fprintf(stderr, "fuzz_remote: %s went undetected (status %d): %s\n",
                kind ? "a double remote free" : "a remote then owner free",
                status, buf);
        abort();
    }
}

/* ---- The interpreter ---------------------------------------------------- */

/* The misuse itself: a write into a freed block. ASan builds see hakmem's
 * freed blocks as poisoned, so the write is left uninstrumented (and done
 * bytewise: memcpy would be intercepted). */
#if defined(__clang__)
__attribute__((no_sanitize("address")))
#endif
static void write_after_free(uint8_t *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        ((volatile uint8_t *)dst)[i] = s[i];
}

/* The payload of a block: 8-byte words (blocks are 16-byte aligned), a
 * partial last word bytewise; a MODEL loop (the byte loops with traced
 * comparisons took a third of the fuzzer's time). */
MODEL static uint64_t model_pattern(uint8_t seed, size_t w)
{
    return ((uint64_t)seed << 32 | w) * 0x9E3779B97F4A7C15u;
}

MODEL static void model_fill(slot_t *s)
{
    model_range(s->p, s->size);
    size_t w = 0;
    for (; w * 8 + 8 <= s->size; w++)
        ((uint64_t *)(void *)s->p)[w] = model_pattern(s->seed, w);
    for (size_t i = w * 8; i < s->size; i++)
        s->p[i] = (uint8_t)(model_pattern(s->seed, w) >> (i % 8 * 8));
}

MODEL static void model_verify(const slot_t *s)
{
    model_range(s->p, s->size);
    size_t w = 0, bad = SIZE_MAX;
    for (; w * 8 + 8 <= s->size && bad == SIZE_MAX; w++)
        if (((const uint64_t *)(const void *)s->p)[w] !=
            model_pattern(s->seed, w))
            bad = w * 8;
    for (size_t i = w * 8; i < s->size && bad == SIZE_MAX; i++)
        if (s->p[i] != (uint8_t)(model_pattern(s->seed, w) >> (i % 8 * 8)))
            bad = i;
    if (bad != SIZE_MAX) {
        fprintf(stderr, "fuzz_remote: block %p (size %zu) changed at or after "
                "byte %zu\n", (void *)s->p, s->size, bad);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    slot_t slots[SLOTS];
    memset(slots, 0, sizeof slots);
    uint8_t *pending[SLOTS]; /* remote-freed, not yet drained */
    unsigned npending = 0;
    unsigned forks = 0, forged_writes = 0, trims = 0, stats = 0;
    hak_free(hak_malloc(1)); /* this thread's heap exists from here on */
    for (size_t i = 0; i + 2 < len && i / 3 < MAX_OPS; i += 3) {
        uint8_t code = data[i], arg = data[i + 1], arg2 = data[i + 2];
        slot_t *s = &slots[arg % SLOTS];
        switch (code % 8) {
        case 0: case 1: case 2: /* the owner allocates, or a producer frees */
            if (!s->p) {
                s->size = 16 + (size_t)arg2 * (code & 0x80 ? 64 : 4);
                s->p = hak_malloc(s->size);
                if (!s->p)
                    abort();
                s->seed = arg2;
                model_fill(s);
            } else {
                model_verify(s);
                remote_free(code >> 4, s->p, NULL);
                if (npending < SLOTS)
                    pending[npending++] = s->p;
                s->p = NULL;
            }
            break;
        case 3: { /* two slots freed by one producer in one go */
            slot_t *t = &slots[arg2 % SLOTS];
            if (s->p && t->p && s != t) {
                model_verify(s);
                model_verify(t);
                remote_free(code >> 4, s->p, t->p);
                s->p = t->p = NULL;
                npending = SLOTS; /* do not damage: order unknown */
            }
            break;
        }
        case 4: /* the owner drains; or a producer trims or reads the
                 * statistics while the owner goes on (a trim costs the
                 * faults of what it returned: one byte value each, once
                 * an input) */
            flush();
            if (arg2 == 0x4b && !trims++) {
                post(code >> 4, JOB_TRIM);
                break;
            }
            if (arg2 == 0x8b && !stats++) {
                post(code >> 4, JOB_STATS);
                break;
            }
            hak_heap_drain(hak_tls_heap);
            npending = 0;
            break;
        case 5: /* the owner allocates through its refills */
            flush();
            for (unsigned k = 0; k < (arg2 & 31); k++)
                hak_free(hak_malloc(16 + (size_t)arg * 4));
            npending = 0; /* a refill may have drained */
            break;
        case 6: /* write after a remote free: forged words in a queued
                 * block (it stays out of the slots: it is free) */
            flush(); /* queued for a producer is not yet free */
            if (npending && npending < SLOTS) {
                uint8_t *b = pending[arg % npending];
                /* Still queued? An allocation may have drained it, and
                 * the debug flavour rightly reports a write into a block
                 * it has poisoned. */
                hak_slab_t *sl = slab_of(ss_of((uintptr_t)b), (uintptr_t)b);
                uint32_t i = slab_index(sl, (uintptr_t)b, sl->capacity);
                uint64_t words[2] = { (uintptr_t)slots, (uintptr_t)b ^ arg2 };
                if (i != UINT32_MAX && slab_slot_queued(sl, i)) {
                    write_after_free(b, words, sizeof words);
                    forged_writes++;
                }
            }
            break;
        default: /* a double free of a live block, remote or mixed */
            /* A fork costs as much as hundreds of operations: one byte
             * pattern (not 0, which the input's end reads as), once. */
            if (s->p && forks < 1 && (arg2 & 0x3f) == 0x24) {
                expect_caught((arg2 >> 6) & 1, s->p);
                forks++;
            }
            break;
        }
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p) {
            model_verify(&slots[i]);
            if (i & 1)
                remote_free(i, slots[i].p, NULL);
            else
                hak_free(slots[i].p);
        }
    flush();
    producers_idle();
    hak_heap_drain(hak_tls_heap);
    /* The walk costs as much as the rest of the input: only after forged
     * words went into queued blocks (nothing may have followed them). */
    if (forged_writes)
        hak_check_heap();
    return 0;
}
