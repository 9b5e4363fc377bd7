/* test_attack.c — the attacks the hardening is built against, performed.
 *
 * Each test is one route by which a program's heap bug used to steer the
 * allocator (a linear overflow, a write after free, a read of
 * uninitialised or freed bytes, a forged pointer), run in a forked child.
 * The oracle: the allocator aborts with its one-line report at the bad
 * operation, or a guard page faults at the program's own bad access, or
 * the program goes on and the allocator never hands out memory that
 * overlaps a live block or lies outside its own blocks (the child exits
 * EXPLOITED when it does). Each test names the mechanism it depends on;
 * without it the test fails.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#include "hooks.h"
#include "size_class.h"
#include "vg.h"

#define EXPLOITED 42

static void expect_signal(void (*fn)(void *), void *arg, int sig,
                          const char *report)
{
    char buf[2048];
    int st = run_child(fn, arg, buf, sizeof buf);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sig,
                  "expected signal %d, child %s %d (42: exploited), stderr: %s",
                  sig, WIFSIGNALED(st) ? "got signal" : "exited with",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), buf);
    if (report)
        ck_assert_msg(strstr(buf, report) != NULL,
                      "expected \"%s\" on stderr, got: %s", report, buf);
}

/* Sizes of every tier's interest: tiny, the largest tiny, mid, large mid. */
static const size_t sizes[] = { 16, 64, 1000, 3000, 30000 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

static size_t stride_of(size_t n)
{
    return hak_stride(hak_class_of(n));
}

/* Route 1 (metadata beside a user mapping: the heap record between
 * guard pages) needs the record's address: the slab suite's "layout" case
 * (test_slab_layout.c). */

/* ---- Route 2: a freed block's words steer nothing ----------------------- */

/* Free b between two live blocks, overwrite every word of it with what a
 * free-list attack would write (pointers to itself, to its live
 * neighbours, to a global, and each XOR-ed with its own address), then
 * allocate: no two live blocks may be the same, and none may be foreign.
 * Mechanism: the slot bitmap (no link in the block). Debug reports the
 * write when b is handed out again. */
static char global_target[4096] __attribute__((aligned(64)));

static void forge_and_allocate(void *arg)
{
    size_t n = *(const size_t *)arg;
    uint8_t *a = hak_malloc(n), *b = hak_malloc(n), *c = hak_malloc(n);
    hak_free(b);
    uintptr_t forged[] = { (uintptr_t)b, (uintptr_t)a, (uintptr_t)c,
                           (uintptr_t)global_target,
                           (uintptr_t)b ^ (uintptr_t)b, (uintptr_t)a ^ (uintptr_t)b,
                           (uintptr_t)global_target ^ (uintptr_t)b, 0 };
    for (size_t off = 0; off + sizeof(uintptr_t) <= n; off += sizeof(uintptr_t))
        memcpy(b + off, &forged[(off / sizeof(uintptr_t)) % 8],
               sizeof(uintptr_t));
    enum { K = 8 };
    uint8_t *got[K];
    for (int i = 0; i < K; i++) {
        got[i] = hak_malloc(n);
        /* (usable size aborts on an address that is not a block) */
        if (!got[i] || hak_malloc_usable_size(got[i]) < n ||
            got[i] == a || got[i] == c)
            _exit(EXPLOITED);
        for (int j = 0; j < i; j++)
            if (got[j] == got[i])
                _exit(EXPLOITED);
    }
    _exit(0);
}

START_TEST(route2_forged_free_block_steers_nothing)
{
    size_t n = sizes[_i];
    if (HAK_POISON)
        expect_signal(forge_and_allocate, &n, SIGABRT,
                      "hakmem: write after free: ");
    else
        expect_no_abort(forge_and_allocate, &n);
}
END_TEST

/* ---- Route 3: nothing of the allocator's is readable ------------------- */

/* A fresh block of a fresh slab reads as zero (the allocator wrote
 * nothing into it: no link, no tag), and a freed block keeps the
 * program's bytes (release) or holds nothing but the constant poison
 * (debug): no word a read could turn into a secret. Mechanism: all block
 * state out of line. */
START_TEST(route3_blocks_hold_no_allocator_state)
{
    hak_malloc_trim(0);
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        /* Blocks of one fresh slab: the first words of each, never
         * written by the program, must be zero. */
        uint8_t *v[40];
        for (int i = 0; i < 40; i++) {
            v[i] = hak_malloc(n);
            ck_assert_ptr_nonnull(v[i]);
        }
        for (int i = 0; i < 40; i++) {
            VALGRIND_MAKE_MEM_DEFINED(v[i], 16);
            uint64_t w[2];
            memcpy(w, v[i], sizeof w);
            if (HAK_CANARY && n < 16)
                continue; /* debug: the canary starts at n */
            ck_assert_msg(w[0] == 0 && w[1] == 0,
                          "size %zu: fresh block %d %p holds %#jx %#jx", n, i,
                          (void *)v[i], (uintmax_t)w[0], (uintmax_t)w[1]);
        }
        /* Freed: unchanged, or uniformly poisoned. */
        for (int i = 0; i < 40; i++)
            memset(v[i], 0x5a, n);
        for (int i = 0; i < 40; i += 2)
            hak_free(v[i]);
        for (int i = 0; i < 40; i += 2) {
            VALGRIND_MAKE_MEM_DEFINED(v[i], n);
            uint8_t want = HAK_POISON ? HAK_POISON_BYTE : 0x5a;
            for (size_t j = 0; j < n; j++)
                ck_assert_msg(v[i][j] == want,
                              "size %zu: freed block %p byte %zu is %#x, "
                              "want %#x", n, (void *)v[i], j, v[i][j], want);
            VALGRIND_MAKE_MEM_NOACCESS(v[i], n);
        }
        for (int i = 1; i < 40; i += 2)
            hak_free(v[i]);
    }
    hak_check_heap();
}
END_TEST

/* ---- Route 4: double free after the program wrote the freed block ------- */

/* A reference-count decrement (or any write) into a freed block, then a
 * second free: still a double free. Mechanism: the slot's bit, out of
 * line; nothing the block holds is consulted. */
static void write_then_double_free(void *arg)
{
    size_t n = *(const size_t *)arg;
    uint8_t *p = hak_malloc(n), *keep = hak_malloc(n);
    (void)keep;
    hak_free(p);
    memset(p, 0, n < 64 ? n : 64); /* every byte a tag could live in */
    p[8]--;
    hak_free(p);
    _exit(EXPLOITED); /* accepted: the next mallocs hand p out twice */
}

START_TEST(route4_double_free_after_write)
{
    size_t n = sizes[_i];
    expect_signal(write_then_double_free, &n, SIGABRT,
                  "hakmem: double free: ");
}
END_TEST

/* ---- Route 5: a slot that was never handed out ------------------------- */

/* p's slab is fresh, so the last slot of it was never handed out: free,
 * realloc and usable-size of that address abort, and it is never handed
 * out twice. Mechanism: the bitmap says the slot is free. */
typedef struct slot_case {
    size_t n;
    int op; /* 0 free, 1 realloc, 2 usable size */
} slot_case_t;

static void never_handed_out(void *arg)
{
    const slot_case_t *sc = arg;
    hak_malloc_trim(0);
    uint8_t *p = hak_malloc(sc->n);
    /* Slabs are aligned to their size; the last slot is capacity - 1
     * strides from the start (size_class.h). */
    unsigned c = hak_class_of(sc->n);
    uintptr_t slab = (uintptr_t)1 << hak_tier_shift(hak_class_tier(c));
    uint8_t *q = (uint8_t *)(((uintptr_t)p & ~(slab - 1)) +
                             (size_t)(hak_capacity(c) - 1u) * hak_stride(c));
    if (q == p)
        _exit(3);
    if (sc->op == 0)
        hak_free(q);
    else if (sc->op == 1)
        hak_realloc(q, sc->n);
    else
        (void)hak_malloc_usable_size(q);
    _exit(EXPLOITED);
}

START_TEST(route5_never_handed_out_slot)
{
    static const char *reports[] = { "hakmem: invalid free: ",
                                     "hakmem: invalid realloc: ",
                                     "hakmem: invalid pointer: " };
    for (int op = 0; op < 3; op++) {
        slot_case_t sc = { sizes[_i], op };
        char buf[2048];
        int st = run_child(never_handed_out, &sc, buf, sizeof buf);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                      "size %zu op %d: child %s %d, stderr: %s", sc.n, op,
                      WIFSIGNALED(st) ? "got signal" : "exited with",
                      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), buf);
        /* Release knows "never handed out" for sure only above the
         * highest bitmap word allocation reached (slab.top); within it
         * the report says both. Debug knows per slot. */
        ck_assert_msg((strstr(buf, reports[op]) ||
                       (op == 0 && strstr(buf, "hakmem: double free: "))) &&
                          strstr(buf, "never handed out"),
                      "size %zu op %d: expected \"%s... never handed out\", "
                      "got: %s", sc.n, op, reports[op], buf);
        if (HAK_SLOTSTATE)
            ck_assert_msg(strstr(buf, reports[op]) &&
                              strstr(buf, "(never handed out)"),
                          "debug: expected the exact state, got %s", buf);
    }
}
END_TEST

/* ---- Route 6: a guard that cannot be placed ----------------------------- */

/* The kernel refuses every mprotect (as near vm.max_map_count): no
 * superslab and no metadata mapping may be used without its guard pages,
 * so allocation fails with ENOMEM instead. A seccomp filter makes
 * mprotect fail with ENOMEM in the child (deny_mprotect, tests/main.c). */
static void guards_refused(void *arg)
{
    (void)arg;
    hak_free(hak_malloc(16)); /* this thread's heap exists already */
    deny_mprotect();
    /* New superslabs: 1 KiB blocks fill one in about 2000 allocations. */
    size_t i;
    for (i = 0; i < 200000; i++) {
        errno = 0;
        void *p = hak_malloc(1000);
        if (!p) {
            if (errno != ENOMEM)
                _exit(4);
            break;
        }
    }
    if (i == 200000)
        _exit(EXPLOITED); /* superslabs used without their guards */
    _exit(0);
}

START_TEST(route6_guard_refused_is_enomem)
{
    expect_no_abort(guards_refused, NULL);
}
END_TEST

/* ---- Route 7: forged words in a block another thread freed -------------- */

/* Another thread frees b (its bit waits in rbits); the program then
 * writes into b what a forged remote-queue node would hold (the address
 * of a live block, encoded every way the old queue did). The drain reads
 * no block, so the live block is never handed out again. */
static void *free_in_thread(void *p)
{
    hak_free(p);
    return NULL;
}

static void forge_queued_block(void *arg)
{
    size_t n = *(const size_t *)arg;
    uint8_t *live = hak_malloc(n), *b = hak_malloc(n);
    pthread_t t;
    if (pthread_create(&t, NULL, free_in_thread, b) != 0)
        _exit(3);
    pthread_join(t, NULL);
    uintptr_t forged[] = { (uintptr_t)live, (uintptr_t)live ^ (uintptr_t)b,
                           (uintptr_t)b, 1 };
    memcpy(b, forged, sizeof forged);
    for (int i = 0; i < 64; i++) {
        uint8_t *q = hak_malloc(n);
        if (!q || q == live || hak_malloc_usable_size(q) < n)
            _exit(EXPLOITED);
    }
    _exit(0);
}

START_TEST(route7_forged_queued_block_steers_nothing)
{
    size_t n = sizes[_i];
    expect_no_abort(forge_queued_block, &n);
}
END_TEST

Suite *attack_suite(void)
{
    const test_row_t rows[] = {
        { "routes", route2_forged_free_block_steers_nothing, 120, NSIZES },
        { "routes", route3_blocks_hold_no_allocator_state, 0, 0 },
        { "routes", route4_double_free_after_write, 0, NSIZES },
        { "routes", route5_never_handed_out_slot, 0, NSIZES },
        { "routes", route7_forged_queued_block_steers_nothing, 0, NSIZES },
        { "route 6" NATIVE, route6_guard_refused_is_enomem, 0, 0 },
    };
    Suite *s = suite_create("attack");
    SUITE_ROWS(s, rows);
    return s;
}
