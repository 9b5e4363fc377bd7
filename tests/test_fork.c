/* test_fork.c — fork() in a process whose threads use hakmem:
 *   - fork repeatedly while threads hammer malloc/free; every child
 *     allocates, reallocates, frees, checks the heap and exits 0;
 *   - blocks allocated before fork are usable and freeable in the child
 *     and, afterwards, in the parent;
 *   - in the child, blocks owned by threads that did not survive the fork
 *     (including the main thread, when a worker forks) can be freed, are
 *     drained and accounted, and new threads in the child can allocate;
 *   - other libraries' fork handlers that allocate, registered before
 *     hakmem's (from a constructor that runs before hakmem's) and after it:
 *     each kind (prepare, parent, child) allocates, checks and frees
 *     small, mid, large and zero-size blocks while hakmem's locks are held,
 *     the child handler frees a block of a thread that did not survive,
 *     and the child then frees the other thread's blocks, allocates every
 *     tier and passes the heap check.
 *
 * Children report through their stderr (a pipe the parent reads) and exit
 * status; alarm(10) turns a deadlock in a child into SIGALRM. Only the test
 * thread calls ck_assert; worker threads record errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocks.h"
#include "util.h"


/* Self-describing blocks for exchanges between threads: id and size in
 * the first 16 bytes, the pattern after. */
static void *hdr_new(size_t n, uint64_t id)
{
    if (n < 32)
        n = 32;
    uint64_t *p = hak_malloc(n);
    if (!p) {
        t_fail("hdr_new: hak_malloc(%zu) returned NULL", n);
        return NULL;
    }
    p[0] = id;
    p[1] = n;
    pat_fill(p + 2, n - 16, id);
    return p;
}

static void hdr_free(void *v, const char *where)
{
    uint64_t *p = v;
    if (!p)
        return;
    uint64_t id = p[0], n = p[1];
    if (n < 32 || n > (1u << 20))
        t_fail("%s: exchanged block %p has a damaged header (size %llu)",
               where, v, (unsigned long long)n);
    else if (pat_bad_prefix(p + 2, n - 16, n - 16, id) != SIZE_MAX)
        t_fail("%s: exchanged block %p (id %llu) damaged", where, v,
               (unsigned long long)id);
    hak_free(p);
}

/* ---- Children ----------------------------------------------------------- */

/* In a child: the process-wide error state, reported on stderr. */
static int child_report(void)
{
    if (atomic_load(&g_errors) == 0)
        return 0;
    char line[MAX_MSGS * 340];
    int len = snprintf(line, sizeof line, "child: %d error(s): %s\n",
                       atomic_load(&g_errors), errors_text());
    if (len > 0 && write(2, line, (size_t)len) < 0)
        return 3;
    return 3;
}

/* In a child: the heap checks pass before and after a trim; with `start`,
 * the mapping must also be back within the slack of it. The heaps of the
 * threads that did not survive the fork are orphaned (src/heap.h): frees
 * into them are accepted but never drained, so the child's counters do
 * not balance and their memory stays theirs; `live0` is kept to say so in
 * messages only. Reports through t_fail. */
static void child_settled(int64_t live0, const uint64_t *start,
                          const char *what)
{
    (void)live0;
    hak_check_heap();
    hak_malloc_trim(0);
    hak_check_heap();
    hak_stats_t s = stats_now();
    if (start && s.mapped_bytes > *start + SETTLE_SLACK)
        t_fail("%s: mapped_bytes %llu KiB after freeing everything and "
               "hak_malloc_trim(0), %llu KiB before the blocks were "
               "allocated (slabs in use %llu, superslabs in use %llu)",
               what, (unsigned long long)(s.mapped_bytes >> 10),
               (unsigned long long)(*start >> 10),
               (unsigned long long)(s.slabs_mapped - s.slabs_returned),
               (unsigned long long)(s.superslabs_mapped -
                                    s.superslabs_returned));
}

typedef struct child {
    pid_t pid;
    int fd;
    int status;
    char err[2048];
} child_t;

/* Forks; the child runs fn(arg) with stderr on a pipe, under alarm(10),
 * and _exits with its return value. Usable from any thread. */
static int child_start(child_t *c, int (*fn)(void *), void *arg)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        alarm(10);
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        errors_reset();
        _exit(fn(arg));
    }
    close(fds[1]);
    c->pid = pid;
    c->fd = fds[0];
    return 0;
}

static void child_wait(child_t *c)
{
    size_t len = 0;
    ssize_t n;
    while (len < sizeof c->err - 1 &&
           (n = read(c->fd, c->err + len, sizeof c->err - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
    }
    c->err[len] = '\0';
    close(c->fd);
    while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
        ;
}

static int child_ok(const child_t *c)
{
    return WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
}

static const char *child_describe(const child_t *c, char *buf, size_t size)
{
    if (WIFEXITED(c->status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(c->status));
    else if (WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGALRM)
        snprintf(buf, size, "was still running after 10 s (SIGALRM: "
                            "deadlock?)");
    else if (WIFSIGNALED(c->status))
        snprintf(buf, size, "was killed by signal %d (%s)",
                 WTERMSIG(c->status), strsignal(WTERMSIG(c->status)));
    else
        snprintf(buf, size, "status 0x%x", c->status);
    return buf;
}

#define ASSERT_CHILD_OK(c, what)                                           \
    do {                                                                   \
        char d_[128];                                                      \
        ck_assert_msg(child_ok(c), "%s: child %s; its stderr: %s", what,   \
                      child_describe(c, d_, sizeof d_), (c)->err);         \
    } while (0)

/* The work every child does on its own: allocate, reallocate and free a
 * few thousand blocks of every tier, checking payloads and the heap. */
static void child_workout(unsigned long long seed, unsigned nblocks)
{
    blk_t *b = hak_calloc(nblocks, sizeof *b);
    if (!b) {
        t_fail("child: hak_calloc of the block table failed");
        return;
    }
    unsigned long long r = seed;
    for (unsigned j = 0; j < nblocks; j++)
        b[j] = blk_new(size_mix(&r, 100, 32768, 4), 0xc0000000ull + j, "child alloc");
    for (unsigned j = 0; j < nblocks; j += 2)
        blk_realloc(&b[j], size_mix(&r, 100, 32768, 4), "child realloc");
    for (unsigned j = 1; j < nblocks; j += 2)
        blk_free(&b[j], "child free");
    for (unsigned j = 1; j < nblocks; j += 2)
        b[j] = blk_new(size_mix(&r, 100, 32768, 4), 0xc1000000ull + j, "child alloc 2");
    hak_check_heap();
    for (unsigned j = 0; j < nblocks; j++)
        blk_free(&b[j], "child free all");
    hak_free(b);
    hak_check_heap();
}

/* ==== (1) fork while threads hammer the allocator ======================= */

#define F1_HAMMERS 3
#define F1_WINDOW 64
#define F1_XCHG 8

static atomic_int f1_stop;
static atomic_ulong f1_ops;
static _Atomic(void *) f1_xchg[F1_XCHG];

static void *f1_hammer(void *arg)
{
    unsigned idx = (unsigned)(uintptr_t)arg;
    unsigned long long r = 0xf1f1ull + idx * 104729ull;
    blk_t w[F1_WINDOW] = { { 0 } };
    uint64_t id = (uint64_t)(idx + 1) << 40;
    unsigned long ops = 0;
    while (!atomic_load_explicit(&f1_stop, memory_order_relaxed)) {
        blk_t *x = &w[test_rand(&r) % F1_WINDOW];
        unsigned k = (unsigned)(test_rand(&r) % 16);
        if (k == 0 && x->p) {
            blk_realloc(x, size_mix(&r, 200, 32768, 10), "hammer realloc");
        } else if (k == 1) {
            /* Blocks travel between the hammers: remote frees. */
            void *mine = hdr_new(size_mix(&r, 100, 32768, 0), id++);
            void *got = atomic_exchange(&f1_xchg[test_rand(&r) % F1_XCHG],
                                        mine);
            hdr_free(got, "hammer exchange");
        } else {
            blk_free(x, "hammer free");
            *x = blk_new(size_mix(&r, 200, 32768, 5), id++, "hammer alloc");
        }
        ops++;
    }
    for (unsigned j = 0; j < F1_WINDOW; j++)
        blk_free(&w[j], "hammer free at exit");
    atomic_fetch_add(&f1_ops, ops);
    return NULL;
}

static int f1_child(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    child_workout(0xc41dull + i, 2000);
    /* Blocks of the hammers (threads that did not survive) in flight
     * between them: free them here. */
    for (unsigned k = 0; k < F1_XCHG; k += 2)
        hdr_free(atomic_exchange(&f1_xchg[k], NULL), "child frees exchange");
    hak_check_heap();
    return child_report();
}

START_TEST(test_fork_while_threads_hammer)
{
    errors_reset();
    uint64_t start = stats_now().mapped_bytes;
    int64_t live0 = live_blocks();
    atomic_store(&f1_stop, 0);
    atomic_store(&f1_ops, 0);
    for (unsigned k = 0; k < F1_XCHG; k++)
        atomic_store(&f1_xchg[k], NULL);
    /* The forking thread has a heap and live blocks too. */
    blk_t mine[16];
    unsigned long long r = 0xabcull;
    for (unsigned j = 0; j < 16; j++)
        mine[j] = blk_new(size_mix(&r, 300, 32768, 100), j, "main");

    pthread_t t[F1_HAMMERS];
    for (unsigned i = 0; i < F1_HAMMERS; i++)
        spawn(&t[i], f1_hammer, (void *)(uintptr_t)i);

    const unsigned forks = 20 * test_scale();
    unsigned failed = 0;
    child_t first_bad = { 0 };
    unsigned first_bad_i = 0;
    for (unsigned i = 0; i < forks; i++) {
        usleep(500 + (useconds_t)(test_rand(&r) % 3000));
        child_t c;
        ck_assert_int_eq(child_start(&c, f1_child, (void *)(uintptr_t)i), 0);
        child_wait(&c);
        if (!child_ok(&c) && failed++ == 0) {
            first_bad = c;
            first_bad_i = i;
        }
    }
    atomic_store(&f1_stop, 1);
    for (unsigned i = 0; i < F1_HAMMERS; i++)
        join(t[i]);
    if (failed) {
        char d[128];
        ck_abort_msg("%u of %u children forked while %d threads hammered the "
                     "allocator failed; first (fork %u) %s; its stderr: %s",
                     failed, forks, F1_HAMMERS, first_bad_i,
                     child_describe(&first_bad, d, sizeof d), first_bad.err);
    }
    ASSERT_NO_THREAD_ERRORS();
    ck_assert_uint_gt(atomic_load(&f1_ops), 0);
    for (unsigned k = 0; k < F1_XCHG; k++)
        hdr_free(atomic_exchange(&f1_xchg[k], NULL), "main frees exchange");
    for (unsigned j = 0; j < 16; j++)
        blk_free(&mine[j], "main");
    ASSERT_NO_THREAD_ERRORS();
    assert_settled(start, live0, "fork while threads hammer");
}
END_TEST

/* ==== (2) Blocks allocated before fork ================================== */

#define F2_BLOCKS 300

typedef struct holder {
    blk_t b[F2_BLOCKS];
    uint64_t base;
    int wait;               /* stay alive until released */
    sem_t ready, release;
} holder_t;

static size_t holder_size(unsigned j, unsigned long long *r)
{
    if (j % 30 == 0)
        return HAK_MID_MAX + 1 + (size_t)(test_rand(r) % (300u << 10));
    if (j % 3 == 1)
        return 1025 + (size_t)(test_rand(r) % (HAK_MID_MAX - 1024));
    return 1 + (size_t)(test_rand(r) % 1024);
}

static void holder_fill(holder_t *h)
{
    unsigned long long r = 0x4011ull ^ h->base;
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        h->b[j] = blk_new(holder_size(j, &r), h->base + j, "holder");
}

static void *holder_thread(void *arg)
{
    holder_t *h = arg;
    holder_fill(h);
    sem_post(&h->ready);
    if (h->wait)
        while (sem_wait(&h->release) != 0)
            ;
    return NULL;
}

static void holder_start(holder_t *h, pthread_t *t, uint64_t base, int wait)
{
    memset(h->b, 0, sizeof h->b);
    h->base = base;
    h->wait = wait;
    ck_assert_int_eq(sem_init(&h->ready, 0, 0), 0);
    ck_assert_int_eq(sem_init(&h->release, 0, 0), 0);
    spawn(t, holder_thread, h);
    while (sem_wait(&h->ready) != 0)
        ;
    if (!wait)
        join(*t);
}

static void holder_done(holder_t *h, pthread_t t)
{
    if (h->wait) {
        sem_post(&h->release);
        join(t);
    }
    sem_destroy(&h->ready);
    sem_destroy(&h->release);
}

static int holder_verify(holder_t *h, const char *where)
{
    int ok = 1;
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        if (h->b[j].p)
            ok &= blk_ok(&h->b[j], where);
    return ok;
}

static holder_t f2_main, f2_live, f2_dead;
static uint64_t f2_start;
static int64_t f2_live0;

static int f2_child(void *arg)
{
    unsigned round = (unsigned)(uintptr_t)arg;
    holder_t *hs[3] = { &f2_main, &f2_live, &f2_dead };
    const char *names[3] = { "child: main's block", "child: live thread's block",
                             "child: exited thread's block" };
    unsigned long long r = 0xf2ull + round;
    for (unsigned g = 0; g < 3; g++)
        holder_verify(hs[g], names[g]);
    /* Reallocate some, free all; interleaved over the three owners. */
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        for (unsigned g = 0; g < 3; g++)
            if (j % 3 == round % 3)
                blk_realloc(&hs[g]->b[j], holder_size(j + 1, &r), names[g]);
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        for (unsigned g = 0; g < 3; g++)
            blk_free(&hs[g]->b[j], names[g]);
    child_workout(0xf200ull + round, 1000);
    child_settled(f2_live0, NULL, "child after freeing the pre-fork blocks");
    return child_report();
}

START_TEST(test_fork_blocks_from_before)
{
    errors_reset();
    f2_start = stats_now().mapped_bytes;
    f2_live0 = live_blocks();
    pthread_t tl, td;
    holder_start(&f2_dead, &td, 3ull << 40, 0);  /* exited before the fork */
    holder_start(&f2_live, &tl, 2ull << 40, 1);  /* alive during the fork */
    memset(f2_main.b, 0, sizeof f2_main.b);
    f2_main.base = 1ull << 40;
    holder_fill(&f2_main);                       /* the forking thread's */
    ASSERT_NO_THREAD_ERRORS();
    holder_t *hs[3] = { &f2_main, &f2_live, &f2_dead };

    for (unsigned round = 0; round < 3; round++) {
        child_t c;
        ck_assert_int_eq(child_start(&c, f2_child, (void *)(uintptr_t)round), 0);
        child_wait(&c);
        ASSERT_CHILD_OK(&c, "blocks allocated before fork, in the child");
        /* The parent's blocks are untouched by what the child did. */
        for (unsigned g = 0; g < 3; g++)
            holder_verify(hs[g], "parent after the child");
        ASSERT_NO_THREAD_ERRORS();
    }
    /* The parent reallocates and frees them too. */
    unsigned long long r = 0x2f2full;
    for (unsigned j = 0; j < F2_BLOCKS; j += 4)
        for (unsigned g = 0; g < 3; g++)
            blk_realloc(&hs[g]->b[j], holder_size(j + 2, &r), "parent realloc");
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        for (unsigned g = 0; g < 3; g++)
            blk_free(&hs[g]->b[j], "parent free");
    ASSERT_NO_THREAD_ERRORS();
    holder_done(&f2_live, tl);
    holder_done(&f2_dead, td);
    assert_settled(f2_start, f2_live0, "blocks allocated before fork");
}
END_TEST

/* ==== (3) In the child, free blocks of threads that did not survive ===== */

#define F3_LIVE 3

static holder_t f3_live[F3_LIVE], f3_dead;
static uint64_t f3_start;
static int64_t f3_live0;

static void f3_free_all(const char *where, unsigned skip_owner)
{
    for (unsigned j = 0; j < F2_BLOCKS; j++) {
        for (unsigned g = 0; g < F3_LIVE; g++)
            if (g != skip_owner)
                blk_free(&f3_live[g].b[j], where);
        blk_free(&f3_dead.b[j], where);
    }
}

/* New threads in the child adopt the abandoned heaps and allocate. */
static void *f3_child_thread(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    unsigned long long r = 0xf3f3ull + i;
    blk_t w[200];
    for (unsigned k = 0; k < 200; k++)
        w[k] = blk_new(size_mix(&r, 200, 32768, 10), ((uint64_t)i << 32) + k,
                       "child thread");
    for (unsigned k = 0; k < 200; k++)
        blk_free(&w[k], "child thread");
    return NULL;
}

static int f3_child(void *arg)
{
    (void)arg;
    /* Every owner is gone: the live threads (no longer running here) and
     * the one that exited before the fork. */
    f3_free_all("child frees blocks of threads that did not survive",
                F3_LIVE);
    child_settled(f3_live0, NULL, "child after freeing dead threads' blocks");
    pthread_t t[2];
    for (unsigned i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, f3_child_thread, (void *)(uintptr_t)i))
            t_fail("child: pthread_create failed");
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    child_workout(0xf3ull, 1000);
    child_settled(f3_live0, NULL, "child after its own threads");
    return child_report();
}

/* Forked from worker thread 0: the main thread did not survive either. */
static blk_t f3_main_blocks[200];

static blk_t f3_worker_block;

static int f3_child_of_worker(void *arg)
{
    (void)arg;
    blk_free(&f3_worker_block, "child frees the forking thread's block");
    for (unsigned k = 0; k < 200; k++)
        blk_free(&f3_main_blocks[k], "child frees the main thread's blocks");
    f3_free_all("child (of a worker) frees blocks of every thread", F3_LIVE);
    child_workout(0xf33ull, 1000);
    child_settled(f3_live0, NULL, "child of a worker");
    return child_report();
}

static child_t f3_worker_child;
static int f3_worker_child_started;

static void *f3_forking_worker(void *arg)
{
    (void)arg;
    /* This thread owns a heap (it allocated) and forks. */
    f3_worker_block = blk_new(100, 42, "forking worker");
    f3_worker_child_started =
        child_start(&f3_worker_child, f3_child_of_worker, NULL) == 0;
    if (f3_worker_child_started)
        child_wait(&f3_worker_child);
    blk_free(&f3_worker_block, "forking worker");
    return NULL;
}

START_TEST(test_fork_free_blocks_of_dead_threads)
{
    errors_reset();
    f3_start = stats_now().mapped_bytes;
    f3_live0 = live_blocks();
    pthread_t tl[F3_LIVE], td;
    /* Note: the main thread allocates nothing before the first fork, so in
     * the first child its first allocation adopts an abandoned heap. */
    holder_start(&f3_dead, &td, 9ull << 40, 0);
    for (unsigned g = 0; g < F3_LIVE; g++)
        holder_start(&f3_live[g], &tl[g], (uint64_t)(10 + g) << 40, 1);
    ASSERT_NO_THREAD_ERRORS();

    static child_t c;
    ck_assert_int_eq(child_start(&c, f3_child, NULL), 0);
    child_wait(&c);

    /* Now fork from a worker thread while main holds blocks too. */
    unsigned long long r = 0x3333ull;
    for (unsigned k = 0; k < 200; k++)
        f3_main_blocks[k] = blk_new(size_mix(&r, 200, 32768, 10), 5000 + k, "main");
    pthread_t w;
    spawn(&w, f3_forking_worker, NULL);
    join(w);
    ck_assert_msg(f3_worker_child_started, "fork from a worker thread failed");
    ASSERT_CHILD_OK(&c, "freeing blocks of threads that did not survive fork");
    ASSERT_CHILD_OK(&f3_worker_child,
                    "child forked from a worker thread, freeing the main "
                    "thread's and the other threads' blocks");
    ASSERT_NO_THREAD_ERRORS();

    /* The parent still has everything. */
    for (unsigned k = 0; k < 200; k++)
        blk_free(&f3_main_blocks[k], "parent frees main's blocks");
    for (unsigned g = 0; g < F3_LIVE; g++)
        holder_verify(&f3_live[g], "parent after the children");
    holder_verify(&f3_dead, "parent after the children");
    f3_free_all("parent frees", F3_LIVE);
    ASSERT_NO_THREAD_ERRORS();
    for (unsigned g = 0; g < F3_LIVE; g++)
        holder_done(&f3_live[g], tl[g]);
    holder_done(&f3_dead, td);
    assert_settled(f3_start, f3_live0, "free blocks of dead threads");
}
END_TEST

/* ==== (4) Trim in the child gives back what the child itself freed ===== */

static holder_t f4_live[F3_LIVE];
static uint64_t f4_start;
static int64_t f4_live0;

static int f4_child(void *arg)
{
    (void)arg;
    /* The blocks of the threads that did not survive go back into their
     * orphaned heaps (accepted, never reused). */
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        for (unsigned g = 0; g < F3_LIVE; g++)
            blk_free(&f4_live[g].b[j], "child frees blocks of dead threads");
    child_settled(f4_live0, NULL, "child after freeing dead threads' blocks");
    /* What the child allocates and frees itself must come back. */
    uint64_t mine = stats_now().mapped_bytes;
    enum { N = 20000 };
    static void *own[N];
    for (unsigned i = 0; i < N; i++) {
        own[i] = hak_malloc(16 + (i * 37) % 3000);
        if (!own[i]) {
            t_fail("child: hak_malloc failed at %u", i);
            return child_report();
        }
    }
    for (unsigned i = 0; i < N; i++)
        hak_free(own[i]);
    child_settled(f4_live0, &mine, "child after freeing its own blocks");
    return child_report();
}

START_TEST(test_fork_child_trim_returns_dead_heaps)
{
    errors_reset();
    f4_start = stats_now().mapped_bytes;
    f4_live0 = live_blocks();
    pthread_t tl[F3_LIVE];
    for (unsigned g = 0; g < F3_LIVE; g++)
        holder_start(&f4_live[g], &tl[g], (uint64_t)(20 + g) << 40, 1);
    ASSERT_NO_THREAD_ERRORS();
    child_t c;
    ck_assert_int_eq(child_start(&c, f4_child, NULL), 0);
    child_wait(&c);
    ASSERT_CHILD_OK(&c, "trim in the child after freeing dead threads' blocks");
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        for (unsigned g = 0; g < F3_LIVE; g++)
            blk_free(&f4_live[g].b[j], "parent frees");
    ASSERT_NO_THREAD_ERRORS();
    for (unsigned g = 0; g < F3_LIVE; g++)
        holder_done(&f4_live[g], tl[g]);
    assert_settled(f4_start, f4_live0, "trim in the child");
}
END_TEST

/* ==== (5) Other libraries' fork handlers that allocate ==================

 * prepare handlers run in reverse order of registration, parent and child
 * handlers in order. Handlers registered before hakmem's therefore run
 * while hakmem's prepare handler holds its locks: the prepare handler
 * after it, the parent and child handlers before its own. They are
 * registered from a constructor of priority 101, which runs before
 * hakmem's (default priority) constructor in this statically linked
 * binary (that hakmem was not initialised yet then, hence had not
 * registered, is the slab suite's init_after_priority_constructors).
 * Handlers registered "after" are added by
 * the test itself (in its own forked test process). All of them do
 * nothing until a test arms them. */

enum { HK_PREPARE = 1, HK_PARENT = 2, HK_CHILD = 4 };
enum { HK_BEFORE = 0, HK_AFTER = 1 };
#define HK_TIERS 4

static atomic_int hk_armed;                 /* the kind armed, or 0 */
static atomic_int hk_ran[2];                /* kinds that ran, per set */
static int hk_registered_first;
static blk_t hk_prep[2][HK_TIERS];          /* allocated in prepare */
static blk_t *hk_foreign;                   /* another thread's block */
/* Errors in handlers: t_fail's record is reset in a fork child. */
static atomic_int hk_errors;
static char hk_errmsg[320];

__attribute__((format(printf, 1, 2))) static void hk_fail(const char *fmt,
                                                          ...)
{
    if (atomic_fetch_add(&hk_errors, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(hk_errmsg, sizeof hk_errmsg, fmt, ap);
        va_end(ap);
    }
}

static const size_t hk_sizes[HK_TIERS] = { 100, 5000, 300 << 10, 0 };

/* Allocates one block of every tier (zero-size included) into b. */
static void hk_alloc(blk_t *b, uint64_t id, const char *where)
{
    for (unsigned t = 0; t < HK_TIERS; t++) {
        b[t] = (blk_t){ hak_malloc(hk_sizes[t]), hk_sizes[t], id + t };
        if (!b[t].p)
            hk_fail("%s: hak_malloc(%zu) returned NULL", where, hk_sizes[t]);
        else
            pat_fill(b[t].p, b[t].n, b[t].id);
    }
}

static void hk_free(blk_t *b, const char *where)
{
    for (unsigned t = 0; t < HK_TIERS; t++) {
        if (!b[t].p)
            continue;
        if (pat_bad_prefix(b[t].p, b[t].n, b[t].n, b[t].id) != SIZE_MAX)
            hk_fail("%s: block of %zu bytes damaged", where, b[t].n);
        hak_free(b[t].p);
        b[t].p = NULL;
    }
}

/* Every tier allocated, reallocated and freed, twice over. */
static void hk_churn(uint64_t id, const char *where)
{
    blk_t b[HK_TIERS];
    for (unsigned round = 0; round < 2; round++) {
        hk_alloc(b, id + 16 * round, where);
        void *q = b[2].p ? hak_realloc(b[2].p, 600 << 10) : NULL;
        if (b[2].p && !q)
            hk_fail("%s: hak_realloc of a large block returned NULL", where);
        if (q) {
            b[2].p = q;
            b[2].n = 600 << 10;
            pat_fill(q, b[2].n, b[2].id);
        }
        hk_free(b, where);
    }
}

static void hk_prepare(int set)
{
    if (atomic_load(&hk_armed) != HK_PREPARE)
        return;
    atomic_fetch_or(&hk_ran[set], HK_PREPARE);
    hk_churn(0x5000 + (uint64_t)set * 64, "prepare handler");
    /* Kept: the parent and the child each free their copy. */
    hk_alloc(hk_prep[set], 0x6000 + (uint64_t)set * 64, "prepare handler");
}

static void hk_parent(int set)
{
    if (atomic_load(&hk_armed) != HK_PARENT)
        return;
    atomic_fetch_or(&hk_ran[set], HK_PARENT);
    hk_churn(0x7000 + (uint64_t)set * 64, "parent handler");
}

static void hk_child(int set)
{
    if (atomic_load(&hk_armed) != HK_CHILD)
        return;
    atomic_fetch_or(&hk_ran[set], HK_CHILD);
    hk_churn(0x8000 + (uint64_t)set * 64, "child handler");
    /* A block of a thread that did not survive the fork. */
    if (set == HK_BEFORE && hk_foreign && hk_foreign->p) {
        if (!blk_ok(hk_foreign, "child handler"))
            hk_fail("child handler: another thread's block damaged");
        hak_free(hk_foreign->p);
        hk_foreign->p = NULL;
    }
}

static void hk_prepare_before(void) { hk_prepare(HK_BEFORE); }
static void hk_parent_before(void) { hk_parent(HK_BEFORE); }
static void hk_child_before(void) { hk_child(HK_BEFORE); }
static void hk_prepare_after(void) { hk_prepare(HK_AFTER); }
static void hk_parent_after(void) { hk_parent(HK_AFTER); }
static void hk_child_after(void) { hk_child(HK_AFTER); }

__attribute__((constructor(101))) static void hk_register_first(void)
{
    hk_registered_first = pthread_atfork(hk_prepare_before, hk_parent_before,
                                         hk_child_before) == 0;
}

static holder_t hk_other;

static int hk_child_main(void *arg)
{
    int kind = (int)(intptr_t)arg;
    if (atomic_load(&hk_errors))
        t_fail("in a fork handler: %s", hk_errmsg);
    if (kind == HK_CHILD && atomic_load(&hk_ran[HK_BEFORE]) != HK_CHILD)
        t_fail("the child handler registered before hakmem's did not run");
    if (kind == HK_CHILD && atomic_load(&hk_ran[HK_AFTER]) != HK_CHILD)
        t_fail("the child handler registered after hakmem's did not run");
    for (int set = 0; set < 2; set++)
        for (unsigned t = 0; t < HK_TIERS; t++)
            blk_free(&hk_prep[set][t], "child frees a prepare handler's block");
    /* The other thread did not survive: its blocks are freed here. */
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        blk_free(&hk_other.b[j], "child frees another thread's block");
    child_workout(0x4b4bull + (unsigned)kind, 500);
    child_settled(0, NULL, "child after fork handlers that allocate");
    if (atomic_load(&hk_errors))
        t_fail("in the child: %s", hk_errmsg);
    return child_report();
}

static void hk_run(int kind)
{
    errors_reset();
    ck_assert_msg(hk_registered_first,
                  "the handlers were not registered before hakmem's");
    ck_assert_int_eq(pthread_atfork(hk_prepare_after, hk_parent_after,
                                    hk_child_after), 0);
    /* A thread alive during the fork, holding blocks of every tier. */
    pthread_t t;
    holder_start(&hk_other, &t, 0x4b00ull << 32, 1);
    hk_foreign = &hk_other.b[1];
    atomic_store(&hk_errors, 0);
    atomic_store(&hk_ran[0], 0);
    atomic_store(&hk_ran[1], 0);
    atomic_store(&hk_armed, kind);
    /* A deadlock in a prepare or parent handler hangs this process, one in
     * a child handler the child before its alarm: either ends here. */
    alarm(30);
    child_t c;
    int started = child_start(&c, hk_child_main, (void *)(intptr_t)kind);
    atomic_store(&hk_armed, 0);
    if (started == 0)
        child_wait(&c);
    alarm(0);
    ck_assert_int_eq(started, 0);
    ck_assert_msg(!atomic_load(&hk_errors), "in a fork handler: %s",
                  hk_errmsg);
    if (kind != HK_CHILD)
        for (int set = 0; set < 2; set++)
            ck_assert_msg(atomic_load(&hk_ran[set]) == kind,
                          "the %s handler registered %s hakmem's ran: %d",
                          kind == HK_PREPARE ? "prepare" : "parent",
                          set ? "after" : "before", atomic_load(&hk_ran[set]));
    ASSERT_CHILD_OK(&c, "fork with handlers that allocate");
    /* The parent: its copy of the prepare handlers' blocks, the other
     * thread's blocks, and the heap. */
    for (int set = 0; set < 2; set++)
        hk_free(hk_prep[set], "parent frees a prepare handler's block");
    ck_assert_msg(!atomic_load(&hk_errors), "%s", hk_errmsg);
    holder_verify(&hk_other, "parent after the fork");
    for (unsigned j = 0; j < F2_BLOCKS; j++)
        blk_free(&hk_other.b[j], "parent frees the other thread's blocks");
    holder_done(&hk_other, t);
    ASSERT_NO_THREAD_ERRORS();
    hak_check_heap();
    /* And it still allocates in every tier. */
    hk_churn(0x9000, "parent after the fork");
    ck_assert_msg(!atomic_load(&hk_errors), "%s", hk_errmsg);
}

START_TEST(test_fork_prepare_handler_allocates) { hk_run(HK_PREPARE); }
END_TEST
START_TEST(test_fork_parent_handler_allocates) { hk_run(HK_PARENT); }
END_TEST
START_TEST(test_fork_child_handler_allocates) { hk_run(HK_CHILD); }
END_TEST

Suite *fork_suite(void)
{
    /* A case each: a hung test names itself. */
    const test_row_t rows[] = {
        { "fork_while_hammering", test_fork_while_threads_hammer, 60, 0 },
        { "blocks_from_before_fork", test_fork_blocks_from_before, 60, 0 },
        { "free_blocks_of_dead_threads",
          test_fork_free_blocks_of_dead_threads, 60, 0 },
        { "child_trim_returns_memory",
          test_fork_child_trim_returns_dead_heaps, 60, 0 },
        { "prepare_handler_allocates",
          test_fork_prepare_handler_allocates, 60, 0 },
        { "parent_handler_allocates", test_fork_parent_handler_allocates, 60,
          0 },
        { "child_handler_allocates", test_fork_child_handler_allocates, 60,
          0 },
    };
    Suite *s = suite_create("fork");
    SUITE_ROWS(s, rows);
    return s;
}
