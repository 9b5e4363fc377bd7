/* forker.c — fork, over and over, while other threads allocate; fork
 * handlers that allocate, registered both before and after hakmem's.
 *
 * Worker threads exchange blocks of every tier through a shared table
 * (cross-thread frees) while the main thread forks until STRESS_SECONDS
 * are up. Each child, whose only thread is a copy of the forking one:
 *   - frees the blocks it inherited in the table (verified: a block in the
 *     table was complete when it was put there), into heaps whose threads
 *     did not survive the fork;
 *   - allocates and frees in every tier, on its own thread and on a new
 *     thread of its own;
 *   - checks the heap, trims, and exits 0. Anything else fails the run.
 *
 * The program registers fork handlers that allocate, like a library
 * would: one set from a constructor that runs before hakmem's (so its
 * prepare handler runs after hakmem's prepare and its child handler
 * before hakmem's child handler), one set from main (after hakmem's).
 * Each handler allocates and frees in every tier; prepare also leaves a
 * block for the parent and child handlers to check and free. With a core
 * that holds its locks across the other handlers this deadlocks, and
 * ci/soak.sh reports the hang.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>

#include "common.h"

#define SLOTS 1024

static _Atomic(void *) table[SLOTS];
static params_t pa;
static _Atomic int stop;
static _Atomic unsigned long total_ops;
static _Atomic unsigned long handler_calls;

/* A block of every tier (zero, tiny, mid, large), verified and freed. */
static void every_tier(uint64_t stamp)
{
    static const size_t sizes[] = { 0, 24, 1000, 5000, 30000, 100000, 1u << 20 };
    void *p[sizeof sizes / sizeof sizes[0]];
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i] < 16) {
            p[i] = hak_malloc(sizes[i]);
            if (!p[i])
                abort();
        } else {
            p[i] = pay_alloc(sizes[i], stamp + i);
        }
    }
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i] < 16)
            hak_free(p[i]);
        else
            pay_free(p[i]);
    }
}

/* What prepare leaves for the parent or child handler of the same set. */
static void *handoff[2];

static void handler_prepare(int set)
{
    atomic_fetch_add_explicit(&handler_calls, 1, memory_order_relaxed);
    every_tier(100 + (uint64_t)set);
    handoff[set] = pay_alloc(set ? 70000 : 3000, 7 + (uint64_t)set);
}

static void handler_after(int set)
{
    atomic_fetch_add_explicit(&handler_calls, 1, memory_order_relaxed);
    pay_free(handoff[set]);
    handoff[set] = NULL;
    every_tier(200 + (uint64_t)set);
}

static void early_prepare(void) { handler_prepare(0); }
static void early_after(void) { handler_after(0); }
static void late_prepare(void) { handler_prepare(1); }
static void late_after(void) { handler_after(1); }

/* Priority 101 runs before constructors without one, hakmem's included:
 * these handlers are registered before hakmem's. */
__attribute__((constructor(101))) static void register_early(void)
{
    pthread_atfork(early_prepare, early_after, early_after);
}

static void table_op(unsigned long long *s)
{
    size_t n = pick_tier_size(s);
    void *p = pay_alloc(n < 16 ? 16 + n : n, rng(s));
    table_put(table, SLOTS, p, s);
}

static void *worker(void *arg)
{
    unsigned long long s = pa.seed * 2862933555777941757ull + (uintptr_t)arg;
    unsigned long done = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        count_op(&done);
        table_op(&s);
    }
    atomic_fetch_add_explicit(&total_ops, done, memory_order_relaxed);
    return NULL;
}

static void *child_thread(void *arg)
{
    unsigned long long s = (uintptr_t)arg;
    for (unsigned i = 0; i < 2000; i++)
        table_op(&s);
    every_tier(300);
    return NULL;
}

/* The child: usable on the surviving thread and on a new one. */
static _Noreturn void child(unsigned long n)
{
    unsigned long long s = pa.seed + n;
    table_free_every(table, SLOTS, 2);
    every_tier(400);
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)(n + 1)) != 0)
        _exit(3);
    for (unsigned i = 0; i < 2000; i++)
        table_op(&s);
    pthread_join(t, NULL);
    table_free_every(table, SLOTS, 1);
    hak_check_heap();
    hak_malloc_trim(0);
    _exit(0);
}

int main(void)
{
    soak_init();
    pa = params_get();
    double deadline = run_deadline();
    pthread_atfork(late_prepare, late_after, late_after);
    unsigned nw = pa.threads > 1 ? pa.threads - 1 : 1;
    pthread_t *t = calloc(nw, sizeof *t);
    for (unsigned i = 0; i < nw; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    unsigned long forks = 0;
    while (now_seconds() < deadline) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("forker: fork");
            return 1;
        }
        if (pid == 0)
            child(forks);
        int st;
        pid_t w;
        while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
            ;
        if (w < 0) {
            perror("forker: waitpid");
            return 1;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "forker: child %lu (pid %d) %s %d\n", forks, (int)pid,
                    WIFEXITED(st) ? "exited with" : "killed by signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            return 1;
        }
        forks++;
        /* The parent's own thread works between forks too. */
        unsigned long long s = forks;
        for (unsigned i = 0; i < 256; i++)
            table_op(&s);
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < nw; i++)
        pthread_join(t[i], NULL);
    table_free_every(table, SLOTS, 1);
    hak_check_heap();
    hak_malloc_trim(0);
    printf("forker: %lu forks, %lu handler calls\n", forks,
           atomic_load(&handler_calls));
    report_done("forker", atomic_load(&total_ops) + forks * 256);
    free(t);
    return 0;
}
