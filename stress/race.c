/* race.c — the allocator's readers of other threads' state, under load.
 *
 * Meant to run under ThreadSanitizer (ci/pipeline.mk, tsan-stress) with
 * no suppressions. The process:
 *
 * - Workers allocate and free (a quarter of the frees remote, through a
 *   shared exchange) while one thread reads the statistics
 *   (hak_stats_get, hak_stats_print: what mallinfo2 and malloc_stats
 *   call) and trims (hak_malloc_trim), and checks that the allocation
 *   count never goes down.
 * - Meanwhile the main thread runs bad frees, each in a child that must
 *   die with hakmem's report. The child (forked, then this program again
 *   with --bad: TSan stops checking a child forked from several threads
 *   until it execs) starts its own threads — a cycler that fills a slab
 *   with 1000-byte blocks, names one of them, and frees them all (so the
 *   slab's descriptor is released and set up again, over and over), a
 *   worker and a statistics reader — and its main thread frees a bad
 *   pointer: an interior pointer of the named block, or the named block
 *   itself again and again (a pointer into a slab that is being freed and
 *   reused). That free reads the cycler's slab descriptor while the
 *   cycler rewrites it. The parent checks that the child died of SIGABRT
 *   with the expected "hakmem: <check>:" line and no ThreadSanitizer
 *   warning.
 *
 *   STRESS_THREADS  workers (default 4)
 *   STRESS_OPS      operations of the workers in total (default 1000000)
 *   STRESS_FORKS    bad-free children (default 8)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>

#include "common.h"

#define EXCHANGE 256
#define CYCLE 80          /* blocks per cycle: more than a slab holds */
#define CYCLE_SIZE 1000
#define CYCLE_SIZE_NEXT 600

static _Atomic(void *) exchange[EXCHANGE];
static _Atomic int stop;
static _Atomic(void *) named;   /* the cycler's block of this cycle */
static int devnull = -1;

/* ---- Threads ------------------------------------------------------------- */

typedef struct worker {
    unsigned long ops;
    unsigned long long seed;
    size_t maxsize;
} worker_t;

/* Random allocations and frees; one free in four goes through the
 * exchange, so another thread frees the block (a remote free). With
 * ops == 0, runs until `stop`. */
static void *worker(void *arg)
{
    worker_t *w = arg;
    void *mine[64] = { 0 };
    unsigned long long s = w->seed;
    unsigned long done = 0;
    for (unsigned long op = 0;
         w->ops ? op < w->ops
                : !atomic_load_explicit(&stop, memory_order_relaxed);
         op++) {
        count_op(&done);
        unsigned long long r = rng(&s);
        unsigned k = (unsigned)(r % 64);
        if (mine[k]) {
            if ((r >> 8) % 4 == 0) {
                void *q = atomic_exchange_explicit(
                    &exchange[(r >> 16) % EXCHANGE], mine[k],
                    memory_order_acq_rel);
                if (q)
                    pay_free(q);
            } else {
                pay_free(mine[k]);
            }
            mine[k] = NULL;
        } else {
            mine[k] = pay_alloc(pick_size(&s, w->maxsize), r);
        }
    }
    for (unsigned k = 0; k < 64; k++)
        if (mine[k])
            pay_free(mine[k]);
    return NULL;
}

/* Reads the statistics, prints them to /dev/null and trims, until
 * `stop`; the allocation count never goes down. */
static void *stats_reader(void *arg)
{
    (void)arg;
    uint64_t last = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        hak_stats_t st;
        hak_stats_get(&st);
        if (st.allocs < last) {
            fprintf(stderr, "race: allocations went from %llu down to %llu\n",
                    (unsigned long long)last, (unsigned long long)st.allocs);
            abort();
        }
        last = st.allocs;
        hak_stats_print(devnull);
        hak_malloc_trim(0);
        sched_yield();
    }
    return NULL;
}

/* Cycle 0 fills a slab and more with 1024-byte blocks, frees them all
 * and names one (a pointer into a freed slab); every later cycle does
 * the same with 640-byte blocks, so the slab is set up again, released
 * and set up again, over and over, while the named pointer is never a
 * block's start again: every free of it (or inside it) is a bad one. */
static void *cycler(void *arg)
{
    (void)arg;
    void *b[CYCLE];
    size_t size = CYCLE_SIZE;
    for (;;) {
        for (unsigned i = 0; i < CYCLE; i++)
            b[i] = pay_alloc(size, i);
        void *name = NULL;
        for (unsigned i = 0; size == CYCLE_SIZE && i < CYCLE && !name; i++) {
            /* A slot of the 1024-byte class that starts no slot of the
             * 640-byte class (which 600 bytes get next): the slab's
             * offset a multiple of neither 640-byte class stride,
             * release's 640 nor debug's 768 (its canary room), so the
             * named block is never a live block again. */
            uintptr_t off = (uintptr_t)b[i] & 0xffff;
            if (off % 640 && off % 768)
                name = b[i];
        }
        for (unsigned i = 0; i < CYCLE; i++)
            pay_free(b[i]);
        if (name)
            atomic_store_explicit(&named, name, memory_order_release);
        size = CYCLE_SIZE_NEXT;
    }
    return NULL;
}

/* ---- Bad frees in children ---------------------------------------------- */

enum bad { BAD_INTERIOR, BAD_STALE, BAD_KINDS };
static const char *const bad_name[BAD_KINDS] = { "interior", "stale" };
/* What each may be reported as, depending on what the slab holds then:
 * the block freed, the slab released, or set up again for 640 bytes. */
static const char *const bad_checks[BAD_KINDS][4] = {
    { "hakmem: misaligned free: ", "hakmem: invalid free: ", NULL, NULL },
    { "hakmem: double free: ", "hakmem: invalid free: ",
      "hakmem: misaligned free: ", NULL },
};

static void child(enum bad kind, unsigned long long seed)
{
    alarm(60); /* a free that is never reported fails, it does not hang */
    static worker_t w;
    w = (worker_t){ 0, seed, 4096 };
    pthread_t t[3];
    pthread_create(&t[0], NULL, cycler, NULL);
    pthread_create(&t[1], NULL, worker, &w);
    pthread_create(&t[2], NULL, stats_reader, NULL);
    void *p;
    while (!(p = atomic_load_explicit(&named, memory_order_acquire)))
        sched_yield();
    if (kind == BAD_INTERIOR)
        hak_free((char *)p + 16);
    else
        hak_free(p);
    _exit(0); /* not reached: the bad free was not reported */
}

/* Runs one child; 0 when it died as it must. */
static int run_bad(enum bad kind, unsigned long long seed, unsigned *seen)
{
    /* Everything the child needs before exec, made now: after a fork of
     * a threaded process only async-signal-safe calls are allowed. */
    char k[8], sd[24];
    snprintf(k, sizeof k, "%d", (int)kind);
    snprintf(sd, sizeof sd, "%llu", seed);
    char *argv[] = { "race", "--bad", k, sd, NULL };
    int fds[2];
    if (pipe(fds) != 0) {
        perror("race: pipe");
        exit(1);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("race: fork");
        exit(1);
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fds[1]);
    static char buf[65536];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 &&
           (n = read(fds[0], buf + len, sizeof buf - 1 - len)) != 0) {
        if (n > 0)
            len += (size_t)n;
        else if (errno != EINTR)
            break;
    }
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    const char *line = NULL;
    unsigned which = 0;
    for (; bad_checks[kind][which]; which++)
        if ((line = strstr(buf, bad_checks[kind][which])))
            break;
    int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && line &&
             !strstr(buf, "ThreadSanitizer");
    if (!ok) {
        fprintf(stderr,
                "race: %s bad free: expected SIGABRT with one of \"%s\", "
                "\"%s\"%s; child %s %d, stderr:\n%s\n",
                bad_name[kind], bad_checks[kind][0], bad_checks[kind][1],
                bad_checks[kind][2] ? ", \"misaligned free\"" : "",
                WIFSIGNALED(status) ? "got signal" : "exited with",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                buf);
        return 1;
    }
    seen[kind * 3 + which]++;
    return 0;
}

int main(int argc, char **argv)
{
    params_t pa = params_get();
    unsigned forks = (unsigned)env_num("STRESS_FORKS", 8);
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0) {
        perror("race: /dev/null");
        return 1;
    }
    if (argc == 4 && !strcmp(argv[1], "--bad")) {
        child((enum bad)(atoi(argv[2]) % BAD_KINDS),
              strtoull(argv[3], NULL, 10));
        return 1;
    }
    stress_init();
    pthread_t reader;
    pthread_create(&reader, NULL, stats_reader, NULL);
    pthread_t *t = calloc(pa.threads, sizeof *t);
    worker_t *w = calloc(pa.threads, sizeof *w);
    for (unsigned i = 0; i < pa.threads; i++) {
        w[i] = (worker_t){ pa.ops / pa.threads, pa.seed * 1000 + i,
                           pa.maxsize };
        pthread_create(&t[i], NULL, worker, &w[i]);
    }
    unsigned seen[BAD_KINDS * 3] = { 0 };
    for (unsigned i = 0; i < forks; i++)
        if (run_bad((enum bad)(i % BAD_KINDS), pa.seed + i, seen)) {
            fflush(NULL);
            _exit(1); /* the workers still run */
        }
    for (unsigned i = 0; i < pa.threads; i++)
        pthread_join(t[i], NULL);
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    pthread_join(reader, NULL);
    for (unsigned i = 0; i < EXCHANGE; i++) {
        void *q = atomic_exchange_explicit(&exchange[i], NULL,
                                           memory_order_acq_rel);
        if (q)
            pay_free(q);
    }
    free(t);
    free(w);
    printf("race: %u bad frees reported (interior: %u misaligned, %u "
           "invalid; stale: %u double, %u invalid, %u misaligned)\n",
           forks, seen[0], seen[1], seen[3], seen[4], seen[5]);
    report_done("race", pa.ops);
    return 0;
}
