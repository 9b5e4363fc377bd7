/* test_death.c — misuse is caught: the process prints one report line
 * "hakmem: <check>: ptr=0x... class=... size=... slab=...[ detail]" on
 * stderr and dies of SIGABRT (expect_abort runs each case in a child). */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#include "size_class.h"
#include "types.h"

#define DOUBLE_FREE    "hakmem: double free: "
#define CANARY         "hakmem: canary overwritten: "

/* ---- Shared page: what the child tells the parent ----------------------
 * A MAP_SHARED page made before the fork, so the parent can compare the
 * report's ptr= with the pointer the child actually misused. */
typedef struct shared {
    volatile uintptr_t ptr;   /* the pointer the report must name */
    volatile size_t asked;    /* the size the block was asked with */
} shared_t;

static shared_t *shared_page(void)
{
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    memset(m, 0, 4096);
    return m;
}

/* Like expect_abort, but hands back the child's stderr so the whole line
 * can be checked. */
static void capture_abort(void (*fn)(void *), void *arg, char *buf,
                          size_t cap)
{
    int status = run_child(fn, arg, buf, cap);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "expected SIGABRT, child %s %d, stderr: %s",
                  WIFSIGNALED(status) ? "got signal" : "exited with",
                  WIFSIGNALED(status) ? WTERMSIG(status)
                                      : WEXITSTATUS(status), buf);
}

enum where_kind { W_SMALL, W_LARGE, W_NONE };

/* The report is exactly one line of the documented format, for `check`,
 * naming ptr `want`; class/size/slab consistent with `kind`. For a small
 * block, `block_start` says whether ptr is the start of a block. */
static void check_line(const char *buf, const char *check, uintptr_t want,
                       enum where_kind kind, int block_start)
{
    char head[96];
    snprintf(head, sizeof head, "hakmem: %s: ptr=0x", check);
    ck_assert_msg(strncmp(buf, head, strlen(head)) == 0,
                  "report does not start with \"%s\": %s", head, buf);
    const char *nl = strchr(buf, '\n');
    ck_assert_msg(nl != NULL && nl[1] == '\0',
                  "report is not exactly one line: %s", buf);
    const char *c = buf + strlen(head);
    char *end;
    uintptr_t ptr = (uintptr_t)strtoull(c, &end, 16);
    ck_assert_msg(ptr == want, "report names ptr 0x%" PRIxPTR
                  ", the misused pointer is 0x%" PRIxPTR ": %s", ptr, want,
                  buf);
    ck_assert_msg(strncmp(end, " class=", 7) == 0, "no \" class=\": %s", buf);
    c = end + 7;
    unsigned long cls = 0;
    if (kind == W_SMALL) {
        cls = strtoul(c, &end, 10);
        ck_assert_msg(end != c && cls < HAK_NUM_CLASSES,
                      "class not a small class: %s", buf);
    } else {
        const char *w = kind == W_LARGE ? "large" : "none";
        ck_assert_msg(strncmp(c, w, strlen(w)) == 0, "class not %s: %s", w,
                      buf);
        end = (char *)c + strlen(w);
    }
    ck_assert_msg(strncmp(end, " size=", 6) == 0, "no \" size=\": %s", buf);
    c = end + 6;
    unsigned long long size = strtoull(c, &end, 10);
    ck_assert_msg(end != c, "size not a number: %s", buf);
    ck_assert_msg(strncmp(end, " slab=", 6) == 0, "no \" slab=\": %s", buf);
    c = end + 6;
    if (kind == W_SMALL) {
        ck_assert_msg(strncmp(c, "0x", 2) == 0, "slab not an address: %s",
                      buf);
        uintptr_t slab = (uintptr_t)strtoull(c + 2, &end, 16);
        ck_assert_msg(size >= 16 && size % 16 == 0 && size <= HAK_BIG_MAX,
                      "size %llu is no class size: %s", size, buf);
        ck_assert_msg(slab % 65536 == 0, "slab not slab-aligned: %s", buf);
        ck_assert_msg(want >= slab && want < slab + (1u << HAK_BIG_SHIFT),
                      "ptr not in the named slab: %s", buf);
        /* Blocks are a stride apart: more than the size with canaries. */
        ck_assert_msg(((want - slab) % hak_stride((unsigned)cls) == 0) ==
                          !!block_start,
                      "ptr %s a block start of the named slab/size: %s",
                      block_start ? "should be" : "should not be", buf);
    } else {
        ck_assert_msg(strncmp(c, "none", 4) == 0 || strncmp(c, "0x", 2) == 0,
                      "slab malformed: %s", buf);
    }
}

static void expect_report(void (*fn)(void *), void *arg, const char *check,
                          const shared_t *sh, enum where_kind kind,
                          int block_start)
{
    char buf[4096];
    capture_abort(fn, arg, buf, sizeof buf);
    check_line(buf, check, sh->ptr, kind, block_start);
}

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- Cases run from tables ----------------------------------------------
 * Most misuse is one child function, a size (and an offset into the
 * block), and the report it must end in: a table row each. */

/* What a child function is handed: the size to ask for, an offset into
 * the block, and the shared page where it records the pointer it misuses
 * (the report must name it). */
typedef struct misuse {
    size_t n, off;
    shared_t *sh;
} misuse_t;

typedef struct death_case {
    void (*fn)(void *); /* a child: gets a misuse_t */
    size_t n, off;
    const char *check;  /* the report's check: "double free" */
    /* PREFIX: only "hakmem: <check>: " is required; otherwise the whole
     * line is checked (check_line) with the kind of place it names and
     * whether ptr is a block start. */
    int where;
    int block_start;
    /* Nonzero when this build lacks the check (its knob is off: src/
     * types.h), and the child must go on without a report instead. */
    int absent;
} death_case_t;

#define PREFIX (-1)
#define NO_CANARY (!HAK_CANARY)
#define NO_POISON (!HAK_POISON)

static void run_case(const death_case_t *c)
{
    shared_t *sh = shared_page();
    misuse_t a = { c->n, c->off, sh };
    char prefix[64];
    snprintf(prefix, sizeof prefix, "hakmem: %s: ", c->check);
    if (c->absent)
        expect_no_abort(c->fn, &a);
    else if (c->where == PREFIX)
        expect_abort(c->fn, &a, prefix);
    else
        expect_report(c->fn, &a, c->check, sh, (enum where_kind)c->where,
                      c->block_start);
    munmap(sh, 4096);
}

/* A loop test over table T: tcase_add_loop_test(tc, test_T, 0, COUNT(T)). */
#define TABLE_TEST(T)                                                         \
    START_TEST(test_##T) { run_case(&T[_i]); }                                \
    END_TEST

/* ---- Double free -------------------------------------------------------- */

static void dfree(void *arg)
{
    const misuse_t *a = arg;
    void *p = hak_malloc(a->n);
    a->sh->ptr = (uintptr_t)p;
    hak_free(p);
    hak_free(p);
}

/* One size per tier boundary: tiny (incl. zero-size), mid, large; and the
 * full line (ptr, class, size and slab) for each tier. */
static const death_case_t double_free[] = {
    { dfree, 0, 0, "double free", PREFIX, 0, 0 },
    { dfree, 64, 0, "double free", W_SMALL, 1, 0 },
    { dfree, 1000, 0, "double free", PREFIX, 0, 0 },
    { dfree, 3000, 0, "double free", W_SMALL, 1, 0 },
    { dfree, 32000, 0, "double free", PREFIX, 0, 0 },
    { dfree, 100000, 0, "double free", W_SMALL, 1, 0 },
    { dfree, 200000, 0, "double free", W_NONE, 1, 0 },
    { dfree, 8 << 20, 0, "double free", PREFIX, 0, 0 },
};
TABLE_TEST(double_free)

/* Other frees between the two frees of p: p is in the middle of a list. */
static void dfree_interleaved(void *arg)
{
    size_t n = *(size_t *)arg;
    void *v[40];
    for (int i = 0; i < 40; i++)
        v[i] = hak_malloc(n);
    /* After the others: a free slot below p is handed out before p's. */
    void *p = hak_malloc(n);
    hak_free(v[0]);
    hak_free(p);
    for (int i = 1; i < 40; i++)
        hak_free(v[i]);
    /* reuse some of the freed blocks, never p's slot on purpose */
    for (int i = 0; i < 5; i++)
        v[i] = hak_malloc(n + 100000 * (n > 40000));
    hak_free(p);
}

START_TEST(test_double_free_interleaved)
{
    size_t sizes[] = { 48, 2000, 200000 };
    for (int i = 0; i < 3; i++)
        expect_abort(dfree_interleaved, &sizes[i], DOUBLE_FREE);
}
END_TEST

/* p's slab is not the class's current one when it is freed twice. */
static void dfree_other_slab(void *arg)
{
    (void)arg;
    void *v[3000];
    for (int i = 0; i < 3000; i++) /* several slabs of 128-byte blocks */
        v[i] = hak_malloc(100);
    hak_free(v[10]);
    hak_free(v[11]);
    hak_free(v[10]);
}

START_TEST(test_double_free_non_current_slab)
{
    expect_abort(dfree_other_slab, NULL, DOUBLE_FREE);
}
END_TEST

/* ---- Invalid free ------------------------------------------------------- */

static char global_buf[256] __attribute__((aligned(64)));

static void free_stack(void *arg)
{
    const misuse_t *a = arg;
    char local[128] __attribute__((aligned(16)));
    hak_free(hak_malloc(10)); /* the allocator is initialised */
    a->sh->ptr = (uintptr_t)local;
    hak_free(local);
}

static void free_global(void *arg)
{
    const misuse_t *a = arg;
    a->sh->ptr = (uintptr_t)global_buf;
    hak_free(global_buf);
}

static void free_foreign_mmap(void *arg)
{
    const misuse_t *a = arg;
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        _exit(5);
    a->sh->ptr = (uintptr_t)m;
    hak_free(m);
}

static void free_libc_block(void *arg)
{
    const misuse_t *a = arg;
    void *m = malloc(100); /* glibc's, not ours */
    a->sh->ptr = (uintptr_t)m;
    hak_free(m);
}

/* Stack, global, a foreign mapping, a block of libc's. */
static const death_case_t invalid_free[] = {
    { free_stack, 0, 0, "invalid free", W_NONE, 1, 0 },
    { free_global, 0, 0, "invalid free", PREFIX, 0, 0 },
    { free_foreign_mmap, 0, 0, "invalid free", PREFIX, 0, 0 },
    { free_libc_block, 0, 0, "invalid free", PREFIX, 0, 0 },
};
TABLE_TEST(invalid_free)

/* ---- Interior pointers -------------------------------------------------- */

static void free_interior(void *arg)
{
    const misuse_t *a = arg;
    uint8_t *p = hak_malloc(a->n);
    uint8_t *q = hak_malloc(a->n); /* p is not the last block carved */
    (void)q;
    a->sh->ptr = (uintptr_t)(p + a->off);
    hak_free(p + a->off);
}

/* Inside the last block of a tiny slab: its blocks run to capacity
 * strides, which is past capacity class sizes when canaries are on. */
static void free_interior_last(void *arg)
{
    const misuse_t *a = arg;
    uint8_t *first = hak_malloc(a->n), *last = first;
    unsigned c = hak_class_of(a->n);
    for (uint32_t i = 1; first && i <= hak_capacity(c); i++) {
        uint8_t *p = hak_malloc(a->n);
        if (p && (uintptr_t)p >> HAK_TINY_SHIFT ==
                     (uintptr_t)first >> HAK_TINY_SHIFT && p > last)
            last = p;
    }
    a->sh->ptr = (uintptr_t)(last + a->off);
    hak_free(last + a->off);
}

/* Tiny, mid and big: misaligned; large: not a block at all (page aligned
 * either). */
static const death_case_t interior_free[] = {
    { free_interior_last, 64, 16, "misaligned free", W_SMALL, 0, 0 },
    { free_interior, 64, 16, "misaligned free", W_SMALL, 0, 0 },
    { free_interior, 64, 1, "misaligned free", PREFIX, 0, 0 },
    { free_interior, 64, 8, "misaligned free", PREFIX, 0, 0 },
    { free_interior, 24, 16, "misaligned free", PREFIX, 0, 0 },
    { free_interior, 3000, 16, "misaligned free", PREFIX, 0, 0 },
    { free_interior, 3000, 1, "misaligned free", PREFIX, 0, 0 },
    { free_interior, 3000, 2048, "misaligned free", W_SMALL, 0, 0 },
    { free_interior, 100000, 16, "misaligned free", W_SMALL, 0, 0 },
    { free_interior, 100000, 4096, "misaligned free", W_SMALL, 0, 0 },
    { free_interior, 200000, 16, "invalid free", PREFIX, 0, 0 },
    { free_interior, 200000, 1, "invalid free", PREFIX, 0, 0 },
    { free_interior, 200000, 4096, "invalid free", W_NONE, 0, 0 },
};
TABLE_TEST(interior_free)

/* ---- realloc and usable size of what is not a live block ---------------- */

/* A block of a->n bytes, freed (recorded as the pointer misused); its
 * slab stays in use. */
static void *freed_block(const misuse_t *a)
{
    void *p = hak_malloc(a->n);
    void *keep = hak_malloc(a->n);
    (void)keep;
    a->sh->ptr = (uintptr_t)p;
    hak_free(p);
    return p;
}

static void realloc_freed(void *arg)
{
    hak_realloc(freed_block(arg), ((const misuse_t *)arg)->n * 2);
}

static void usable_freed(void *arg)
{
    hak_malloc_usable_size(freed_block(arg));
}

static void usable_stack(void *arg)
{
    const misuse_t *a = arg;
    char local[64] __attribute__((aligned(16)));
    hak_free(hak_malloc(10));
    a->sh->ptr = (uintptr_t)local;
    hak_malloc_usable_size(local);
}

/* A freed large block's report must not call it a double free: nothing
 * is freed twice. */
static const death_case_t invalid_pointer[] = {
    { realloc_freed, 24, 0, "invalid realloc", PREFIX, 0, 0 },
    { realloc_freed, 64, 0, "invalid realloc", W_SMALL, 1, 0 },
    { realloc_freed, 3000, 0, "invalid realloc", PREFIX, 0, 0 },
    { realloc_freed, 100000, 0, "invalid realloc", W_SMALL, 1, 0 },
    { realloc_freed, 200000, 0, "invalid realloc", PREFIX, 0, 0 },
    { usable_stack, 0, 0, "invalid pointer", W_NONE, 1, 0 },
    { usable_freed, 64, 0, "invalid pointer", W_SMALL, 1, 0 },
    { usable_freed, 3000, 0, "invalid pointer", PREFIX, 0, 0 },
    { usable_freed, 100000, 0, "invalid pointer", W_SMALL, 1, 0 },
    { usable_freed, 200000, 0, "invalid pointer", PREFIX, 0, 0 },
};
TABLE_TEST(invalid_pointer)

/* ---- Freelist corruption (always on) ------------------------------------ */

/* A write after free aims the old free-list attack at a freed block: its
 * first words get a forged link (the address of a global) and tag. No
 * allocator state lives in the block, so nothing follows them: release
 * hands out only its own blocks (the child exits 0; 42 would mean the
 * global came back), debug reports the write when the block is reused. */
static void smash_free_block(void *arg)
{
    shared_t *sh = arg;
    uint64_t *p = hak_malloc(64);
    void *keep = hak_malloc(64);
    (void)keep;
    hak_free(p);
    sh->ptr = (uintptr_t)p;
    p[0] = (uintptr_t)global_buf; /* a use-after-free write */
    p[1] = 0;
    for (int i = 0; i < 300; i++) {
        uint8_t *q = hak_malloc(64);
        if (q >= (uint8_t *)global_buf && q < (uint8_t *)global_buf + 256)
            _exit(42);
        if (hak_malloc_usable_size(q) < 64) /* aborts if not a block */
            _exit(43);
    }
    _exit(0);
}

START_TEST(test_smashed_free_block_steers_nothing)
{
    shared_t *sh = shared_page();
    if (HAK_POISON)
        expect_report(smash_free_block, sh, "write after free", sh, W_SMALL,
                      1);
    else
        expect_no_abort(smash_free_block, sh);
    munmap(sh, 4096);
}
END_TEST

/* ---- Remote double free ------------------------------------------------- */

static void *thread_alloc(void *arg)
{
    return hak_malloc(*(size_t *)arg);
}

static void *thread_free(void *p)
{
    hak_free(p);
    return NULL;
}

/* Allocates two blocks, returns the first: its slab stays in use. */
static void *thread_alloc_two(void *arg)
{
    size_t n = *(size_t *)arg;
    void *p = hak_malloc(n);
    void *keep = hak_malloc(n);
    (void)keep;
    return p;
}

typedef struct remote_arg {
    size_t n;
    int third_thread;   /* the second free from thread C, not main */
    int keep_owner;     /* thread A stays alive through both frees */
} remote_arg_t;

typedef struct owner {
    size_t n;
    void *p;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int allocated, release;
} owner_t;

static void *owner_thread(void *arg)
{
    owner_t *o = arg;
    pthread_mutex_lock(&o->mu);
    o->p = hak_malloc(o->n);
    o->allocated = 1;
    pthread_cond_broadcast(&o->cv);
    while (!o->release)
        pthread_cond_wait(&o->cv, &o->mu);
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

static void remote_double_free(void *arg)
{
    remote_arg_t *a = arg;
    pthread_t ta, tb, tc;
    void *p = NULL;
    owner_t o = { a->n, NULL, PTHREAD_MUTEX_INITIALIZER,
                  PTHREAD_COND_INITIALIZER, 0, 0 };
    if (a->keep_owner) {
        pthread_create(&ta, NULL, owner_thread, &o);
        pthread_mutex_lock(&o.mu);
        while (!o.allocated)
            pthread_cond_wait(&o.cv, &o.mu);
        pthread_mutex_unlock(&o.mu);
        p = o.p;
    } else {
        pthread_create(&ta, NULL, thread_alloc, &a->n);
        pthread_join(ta, &p);
    }
    if (!p)
        _exit(6);
    pthread_create(&tb, NULL, thread_free, p);
    pthread_join(tb, NULL);
    if (a->third_thread) {
        pthread_create(&tc, NULL, thread_free, p);
        pthread_join(tc, NULL);
    } else {
        hak_free(p);
    }
    /* not reached if caught */
    if (a->keep_owner) {
        pthread_mutex_lock(&o.mu);
        o.release = 1;
        pthread_cond_broadcast(&o.cv);
        pthread_mutex_unlock(&o.mu);
        pthread_join(ta, NULL);
    }
}

START_TEST(test_remote_double_free)
{
    static const size_t sizes[] = { 64, 3000 };
    for (int i = 0; i < 2; i++) {
        for (int third = 0; third < 2; third++) {
            for (int keep = 0; keep < 2; keep++) {
                remote_arg_t a = { sizes[i], third, keep };
                expect_abort(remote_double_free, &a, DOUBLE_FREE);
            }
        }
    }
}
END_TEST

/* Thread A allocates, B frees it remotely, then A itself frees it. */
typedef struct owner2 {
    size_t n;
    void *p;
    pthread_barrier_t b1, b2;
} owner2_t;

static void *owner_frees_again(void *arg)
{
    owner2_t *o = arg;
    o->p = hak_malloc(o->n);
    void *keep = hak_malloc(o->n);
    (void)keep;
    pthread_barrier_wait(&o->b1); /* B frees p */
    pthread_barrier_wait(&o->b2);
    hak_free(o->p);
    return NULL;
}

static void remote_then_owner(void *arg)
{
    owner2_t o;
    memset(&o, 0, sizeof o);
    o.n = ((const misuse_t *)arg)->n;
    pthread_barrier_init(&o.b1, NULL, 2);
    pthread_barrier_init(&o.b2, NULL, 2);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, owner_frees_again, &o);
    pthread_barrier_wait(&o.b1);
    pthread_create(&tb, NULL, thread_free, o.p);
    pthread_join(tb, NULL);
    pthread_barrier_wait(&o.b2);
    pthread_join(ta, NULL);
}

/* An interior pointer freed by a thread that does not own the block. */
static void *thread_free_interior(void *p)
{
    hak_free((uint8_t *)p + 16);
    return NULL;
}

static void remote_misaligned(void *arg)
{
    size_t n = ((const misuse_t *)arg)->n;
    pthread_t ta, tb;
    void *p = NULL;
    pthread_create(&ta, NULL, thread_alloc_two, &n);
    pthread_join(ta, &p);
    pthread_create(&tb, NULL, thread_free_interior, p);
    pthread_join(tb, NULL);
}

/* Main has a heap of its own and allocates after the remote free, so the
 * owner's queue may be drained in between (main adopts the dead A's heap). */
static void remote_double_free_adopt(void *arg)
{
    size_t n = ((const misuse_t *)arg)->n;
    pthread_t ta, tb;
    void *p = NULL;
    pthread_create(&ta, NULL, thread_alloc_two, &n);
    pthread_join(ta, &p);
    pthread_create(&tb, NULL, thread_free, p);
    pthread_join(tb, NULL);
    /* Main's first allocation adopts A's heap and drains its queue (p
     * included). Another class, so p itself is not handed out again. */
    for (int i = 0; i < 64; i++)
        if (hak_malloc(n + 200) == p)
            _exit(10);
    hak_check_heap();
    hak_free(p);
}

/* Each twice: a tiny and a mid block. */
static const death_case_t remote_misuse[] = {
    { remote_then_owner, 64, 0, "double free", PREFIX, 0, 0 },
    { remote_then_owner, 3000, 0, "double free", PREFIX, 0, 0 },
    { remote_misaligned, 64, 0, "misaligned free", PREFIX, 0, 0 },
    { remote_misaligned, 3000, 0, "misaligned free", PREFIX, 0, 0 },
    { remote_double_free_adopt, 64, 0, "double free", PREFIX, 0, 0 },
    { remote_double_free_adopt, 3000, 0, "double free", PREFIX, 0, 0 },
};
TABLE_TEST(remote_misuse)

/* ---- Canary (debug) / no check (release) -------------------------------- */

static void overflow_one(void *arg)
{
    const misuse_t *a = arg;
    uint8_t *p = hak_malloc(a->n);
    if (!p)
        _exit(7);
    /* Without canaries there is room for the byte (usable > n, or exact
     * sizes: every size of the canary table is below its block's end);
     * with them the byte after the request is a canary. */
    if (!HAK_SLOTSTATE && hak_malloc_usable_size(p) <= a->n)
        _exit(8);
    a->sh->ptr = (uintptr_t)p;
    p[a->n] = (uint8_t)(p[a->n] + 1);
    hak_free(p);
}

/* A size per class boundary, the whole line checked for one of each tier.
 * A zero-size block has no byte to overflow into: any access faults
 * (tests/test_zero.c). 1023: in debug the canary byte is the class's
 * last. */
static const death_case_t canary[] = {
    { overflow_one, 24, 0, "canary overwritten", W_SMALL, 1, NO_CANARY },
    { overflow_one, 1, 0, "canary overwritten", PREFIX, 0, NO_CANARY },
    { overflow_one, 1000, 0, "canary overwritten", PREFIX, 0, NO_CANARY },
    { overflow_one, 1023, 0, "canary overwritten", PREFIX, 0, NO_CANARY },
    { overflow_one, 3000, 0, "canary overwritten", W_SMALL, 1, NO_CANARY },
    { overflow_one, 1100, 0, "canary overwritten", PREFIX, 0, NO_CANARY },
    { overflow_one, 32000, 0, "canary overwritten", PREFIX, 0, NO_CANARY },
    { overflow_one, 100000, 0, "canary overwritten", W_SMALL, 1, NO_CANARY },
    { overflow_one, 200000, 0, "canary overwritten", W_LARGE, 1, NO_CANARY },
    { overflow_one, 40000, 0, "canary overwritten", PREFIX, 0, NO_CANARY },
};
TABLE_TEST(canary)

/* Canaries on: a request of a class's whole size still has a canary
 * after it, in the stride's canary room, and is served by that class as
 * in a build without canaries. (A large request of whole pages meets the
 * PROT_NONE page after it instead: tests/test_large.c.) Only where the
 * build has canaries: without, the byte after is the next block's. */
static const death_case_t canary_whole_class[] = {
    { overflow_one, 16, 0, "canary overwritten", W_SMALL, 1, 0 },
    { overflow_one, 48, 0, "canary overwritten", PREFIX, 0, 0 },
    { overflow_one, 64, 0, "canary overwritten", PREFIX, 0, 0 },
    { overflow_one, 1024, 0, "canary overwritten", PREFIX, 0, 0 },
    { overflow_one, 1280, 0, "canary overwritten", PREFIX, 0, 0 },
    { overflow_one, 4096, 0, "canary overwritten", PREFIX, 0, 0 },
    { overflow_one, 32768, 0, "canary overwritten", W_SMALL, 1, 0 },
    { overflow_one, 65536, 0, "canary overwritten", PREFIX, 0, 0 },
    { overflow_one, 114688, 0, "canary overwritten", W_SMALL, 1, 0 },
};
TABLE_TEST(canary_whole_class)

/* A huge block placed at the end of its 2 MiB pages (src/large.c,
 * place_huge) has read-write memory before it, its front. With canaries
 * the bytes just before the block are the front's canary, found damaged
 * at free; without, the write lands in the front, memory of no other
 * block and no allocator state, and nothing is reported. Sizes for the
 * default HAKMEM_LARGE_HUGE_MB (4): 4 MiB and a byte has the longest
 * front, 2 MiB less a page. */
static void underflow_one(void *arg)
{
    const misuse_t *a = arg;
    /* A fresh mapping: one the cache holds may not start on a 2 MiB
     * boundary (a split's tail), and a block there has no front. */
    hak_malloc_trim(0);
    uint8_t *p = hak_malloc(a->n);
    if (!p)
        _exit(7);
    a->sh->ptr = (uintptr_t)p;
    p[-1] = (uint8_t)(p[-1] + 1);
    hak_free(p);
}

static const death_case_t canary_front[] = {
    { underflow_one, (4u << 20) + 1, 0, "canary overwritten", W_LARGE, 1,
      NO_CANARY },
    { underflow_one, (5u << 20) + 100, 0, "canary overwritten", PREFIX, 0,
      NO_CANARY },
};
TABLE_TEST(canary_front)

/* The canary is also checked when realloc moves or resizes the block. */
static void overflow_then_realloc(void *arg)
{
    size_t n = *(size_t *)arg;
    uint8_t *p = hak_malloc(n);
    p[n] ^= 0x55;
    p = hak_realloc(p, n * 3);
    hak_free(p);
}

START_TEST(test_canary_realloc)
{
    if (!HAK_CANARY) {
        size_t n = 24;
        expect_no_abort(overflow_then_realloc, &n);
        return;
    }
    size_t sizes[] = { 24, 3000, 100000, 200000 };
    for (int i = 0; i < 4; i++)
        expect_abort(overflow_then_realloc, &sizes[i], CANARY);
}
END_TEST

/* ---- Write after free (debug) and hak_check_heap finding damage --------- */

static void write_after_free(void *arg)
{
    const misuse_t *a = arg;
    uint8_t *p = hak_malloc(64);
    if (!p)
        _exit(7);
    a->sh->ptr = (uintptr_t)p;
    hak_free(p);
    p[40] = 1;
    for (int i = 0; i < 100000; i++) {
        uint8_t *q = hak_malloc(64);
        if (q == p)
            _exit(0); /* reused without complaint */
    }
    _exit(9); /* the block never came back */
}

static void overflow_then_check(void *arg)
{
    const misuse_t *a = arg;
    uint8_t *p = hak_malloc(24);
    if (!HAK_SLOTSTATE && hak_malloc_usable_size(p) <= 24)
        _exit(8);
    a->sh->ptr = (uintptr_t)p;
    p[24] = (uint8_t)(p[24] + 1);
    hak_check_heap(); /* the block is still live */
}

static void uaf_then_check(void *arg)
{
    const misuse_t *a = arg;
    uint8_t *p = hak_malloc(64);
    void *keep = hak_malloc(64);
    (void)keep;
    hak_free(p);
    a->sh->ptr = (uintptr_t)p;
    p[40] = 1;
    hak_check_heap();
}

/* Without poison (or canaries) the freed block comes back, and there is
 * nothing to find, without a report. */
static const death_case_t heap_damage[] = {
    { write_after_free, 64, 0, "write after free", W_SMALL, 1, NO_POISON },
    { overflow_then_check, 24, 0, "canary overwritten", W_SMALL, 1,
      NO_CANARY },
    { uaf_then_check, 64, 0, "write after free", W_SMALL, 1, NO_POISON },
};
TABLE_TEST(heap_damage)

/* Metadata is out of reach of a linear overflow: slab 0 of a superslab
 * (header and slab descriptors) sits between guard pages, so a write
 * running backwards out of the first block of slab 1 faults before it can
 * touch a descriptor, and so does one running forwards out of the mapping
 * before a superslab into its header. */
static void underflow_first_block(void *arg)
{
    (void)arg;
    /* Blocks of 64 bytes until one is the first block of slab 1. */
    for (int i = 0; i < 200000; i++) {
        uint8_t *p = hak_malloc(64);
        if (((uintptr_t)p & HAK_SS_MASK) == ((uintptr_t)1 << HAK_TINY_SHIFT)) {
            volatile uint8_t *q = p;
            for (int k = 1; k <= 4096; k++)
                q[-k] = 0x41; /* a backwards overflow */
            _exit(3);         /* reached a descriptor: the guard is missing */
        }
    }
    _exit(4);
}

START_TEST(test_metadata_guard_pages)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        underflow_first_block(NULL);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "a backwards overflow from slab 1 did not fault at the "
                  "guard page (status %d)", status);
    /* The header itself: the superslab's first page, before it, is a
     * guard too. */
    uint8_t *b = hak_malloc(64);
    uintptr_t base = (uintptr_t)b & ~(uintptr_t)HAK_SS_MASK;
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        volatile uint8_t *guard = (uint8_t *)base;
        guard[HAK_PAGE - 1] = 1;
        _exit(3);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "the page before a superslab header is writable (status %d)",
                  status);
    hak_free(b);
}
END_TEST

Suite *death_suite(void)
{
    const test_row_t rows[] = {
        { "misuse", test_double_free, 120, COUNT(double_free) },
        { "misuse", test_double_free_interleaved, 0, 0 },
        { "misuse", test_double_free_non_current_slab, 0, 0 },
        { "misuse", test_invalid_free, 0, COUNT(invalid_free) },
        { "misuse", test_interior_free, 0, COUNT(interior_free) },
        { "misuse", test_invalid_pointer, 0, COUNT(invalid_pointer) },
        { "misuse", test_smashed_free_block_steers_nothing, 0, 0 },
        { "misuse", test_remote_double_free, 0, 0 },
        { "misuse", test_remote_misuse, 0, COUNT(remote_misuse) },
        { "misuse", test_canary, 0, COUNT(canary) },
        { "misuse", test_canary_front, 0, COUNT(canary_front) },
        { "misuse", test_canary_realloc, 0, 0 },
        { "misuse", test_heap_damage, 0, COUNT(heap_damage) },
        { "misuse", test_metadata_guard_pages, 0, 0 },
    };
    /* Only where the build has canaries (types.h's HAK_CANARY). */
    const test_row_t canary_rows[] = {
        { "misuse", test_canary_whole_class, 0, COUNT(canary_whole_class) },
    };
    Suite *s = suite_create("death");
    SUITE_ROWS(s, rows);
    if (HAK_CANARY)
        SUITE_ROWS(s, canary_rows);
    return s;
}
