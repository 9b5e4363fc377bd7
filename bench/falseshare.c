/* falseshare — (e) false sharing, after Hoard's cache-scratch: the main
 * thread allocates T small blocks side by side and gives one to each
 * thread; each thread frees it, then I times allocates a small block,
 * increments every byte of it R times (read, modify, write), checks it and
 * frees it.
 * Allocators that give a thread memory sharing a cache line with another
 * thread's block (the passed-in block coming back, or neighbouring blocks
 * from a shared arena) make the writes ping-pong between cores.
 *
 *   falseshare -t T -i ITERS -r REPS [-s SIZE] */
#include <pthread.h>

#include "common.h"

static const char help[] =
    "  -t T      threads (nproc)\n"
    "  -i N      malloc/write/free iterations per thread (20000)\n"
    "  -r R      increments of every byte per iteration (1000)\n"
    "  -s SIZE   block size (8)\n"
    "  -S SEED   seed (1)\n";

typedef struct {
    _Alignas(CACHE_LINE) int id;
    pthread_t tid;
    unsigned char *initial;
    uint64_t sum;
} worker_t;

static opts_t o;
static pthread_barrier_t bar;

static void *worker(void *arg)
{
    worker_t *w = arg;
    /* The handed block: check its byte pattern, then free it. */
    for (size_t b = 0; b < o.size; b++)
        if (w->initial[b] != (unsigned char)(w->id + b))
            die("falseshare: initial block %p damaged", (void *)w->initial);
    free(w->initial);
    pthread_barrier_wait(&bar);
    uint64_t sum = 0;
    unsigned char base = (unsigned char)(mix64(o.seed + (uint64_t)w->id));
    for (uint64_t i = 0; i < o.iters; i++) {
        volatile unsigned char *p = malloc(o.size);
        if (!p)
            die("malloc(%zu) returned NULL", o.size);
        unsigned char v = (unsigned char)(base + i);
        for (size_t b = 0; b < o.size; b++)
            p[b] = (unsigned char)(v + b);
        for (uint64_t rep = 0; rep < o.reps; rep++)
            for (size_t b = 0; b < o.size; b++)
                p[b] = (unsigned char)(p[b] + 1); /* read, modify, write */
        unsigned char last = (unsigned char)(v + o.reps);
        for (size_t b = 0; b < o.size; b++) {
            if (p[b] != (unsigned char)(last + b))
                die("falseshare: block %p damaged at %zu", (void *)p, b);
            sum += p[b];
        }
        free((void *)p);
    }
    w->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    o = (opts_t){.iters = 20000, .reps = 1000, .size = 8, .min = 0, .max = 0,
                 .threads = ncpus(), .seed = 1};
    parse_opts(argc, argv, &o, help);
    if (o.size == 0 || o.reps == 0)
        usage(argv[0], help);

    worker_t *ws = aligned_alloc(CACHE_LINE, (size_t)o.threads * sizeof *ws);
    if (!ws)
        die("aligned_alloc failed");
    memset(ws, 0, (size_t)o.threads * sizeof *ws);
    /* Side by side: T consecutive small allocations by one thread. */
    for (int i = 0; i < o.threads; i++) {
        ws[i].id = i;
        ws[i].initial = malloc(o.size);
        if (!ws[i].initial)
            die("malloc failed");
        for (size_t b = 0; b < o.size; b++)
            ws[i].initial[b] = (unsigned char)(i + b);
    }
    pthread_barrier_init(&bar, NULL, (unsigned)o.threads + 1);
    for (int i = 0; i < o.threads; i++)
        if (pthread_create(&ws[i].tid, NULL, worker, &ws[i]))
            die("pthread_create failed");
    pthread_barrier_wait(&bar);
    double t0 = now_s();
    for (int i = 0; i < o.threads; i++)
        pthread_join(ws[i].tid, NULL);
    double t = now_s() - t0;
    uint64_t sum = 0;
    for (int i = 0; i < o.threads; i++)
        sum += ws[i].sum;
    free(ws);
    result("falseshare", o.iters * (uint64_t)o.threads, t, sum,
           "threads=%d size=%zu reps=%llu", o.threads, o.size,
           (unsigned long long)o.reps);
    return 0;
}
