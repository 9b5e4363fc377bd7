/* large — (g) large blocks: a window of W live blocks of 64 KiB–8 MiB
 * (log-uniform); each step verifies and frees a random one, allocates a
 * new one and touches every page of it (one word per 4 KiB and the last).
 *
 *   large -i STEPS [-w W] [-m MIN] [-M MAX] [-S SEED] */
#include "common.h"

static const char help[] =
    "  -i N      steps (20000)\n"
    "  -w W      live blocks (4)\n"
    "  -m MIN    smallest size (64 KiB)\n"
    "  -M MAX    largest size (8 MiB)\n"
    "  -S SEED   seed (1)\n";

#define STRIDE 4096

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t stamp;
} slot_t;

int main(int argc, char **argv)
{
    opts_t o = {.iters = 20000, .min = 64 << 10, .max = 8 << 20, .threads = 1,
                .seed = 1, .window = 4};
    parse_opts(argc, argv, &o, help);
    if (o.window == 0 || o.min == 0)
        usage(argv[0], help);
    rng_t r;
    rng_seed(&r, o.seed, 0);
    slot_t *slots = calloc(o.window, sizeof *slots);
    if (!slots)
        die("calloc failed");
    uint64_t sum = 0, bytes = 0;
    double t0 = now_s();
    for (size_t j = 0; j < o.window; j++) {
        slot_t *s = &slots[j];
        s->size = rng_logrange(&r, o.min, o.max);
        s->stamp = rng_next(&r);
        if (!(s->p = malloc(s->size)))
            die("malloc(%zu) returned NULL", s->size);
        pat_fill(s->p, s->size, s->stamp, STRIDE);
    }
    for (uint64_t i = 0; i < o.iters; i++) {
        slot_t *s = &slots[rng_range(&r, 0, o.window - 1)];
        verify(s->p, s->size, s->stamp, STRIDE, "large");
        sum += s->stamp;
        free(s->p);
        s->size = rng_logrange(&r, o.min, o.max);
        s->stamp = rng_next(&r);
        bytes += s->size;
        if (!(s->p = malloc(s->size)))
            die("malloc(%zu) returned NULL", s->size);
        pat_fill(s->p, s->size, s->stamp, STRIDE);
    }
    for (size_t j = 0; j < o.window; j++) {
        verify(slots[j].p, slots[j].size, slots[j].stamp, STRIDE, "large");
        sum += slots[j].stamp;
        free(slots[j].p);
    }
    double t = now_s() - t0;
    free(slots);
    result("large", o.iters, t, sum, "window=%zu mean_kib=%llu", o.window,
           (unsigned long long)(o.iters ? bytes / o.iters / 1024 : 0));
    return 0;
}
