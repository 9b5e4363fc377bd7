/* mid — (f) medium blocks: a window of W live blocks of 1–32 KiB; each step
 * verifies and frees a random one and allocates a new one, writing one word
 * every 256 bytes (and the last word).
 *
 *   mid -i STEPS [-w W] [-m MIN] [-M MAX] [-S SEED] */
#include "common.h"

static const char help[] =
    "  -i N      steps (4M)\n"
    "  -w W      live blocks (64)\n"
    "  -m MIN    smallest size (1 KiB)\n"
    "  -M MAX    largest size (32 KiB)\n"
    "  -S SEED   seed (1)\n";

#define STRIDE 256

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t stamp;
} slot_t;

int main(int argc, char **argv)
{
    opts_t o = {.iters = 4000000, .min = 1024, .max = 32768, .threads = 1,
                .seed = 1, .window = 64};
    parse_opts(argc, argv, &o, help);
    if (o.window == 0 || o.min == 0)
        usage(argv[0], help);
    rng_t r;
    rng_seed(&r, o.seed, 0);
    slot_t *slots = calloc(o.window, sizeof *slots);
    if (!slots)
        die("calloc failed");
    uint64_t sum = 0;
    double t0 = now_s();
    for (size_t j = 0; j < o.window; j++) {
        slot_t *s = &slots[j];
        s->size = rng_range(&r, o.min, o.max);
        s->stamp = rng_next(&r);
        if (!(s->p = malloc(s->size)))
            die("malloc(%zu) returned NULL", s->size);
        pat_fill(s->p, s->size, s->stamp, STRIDE);
    }
    for (uint64_t i = 0; i < o.iters; i++) {
        slot_t *s = &slots[rng_range(&r, 0, o.window - 1)];
        verify(s->p, s->size, s->stamp, STRIDE, "mid");
        sum += s->stamp;
        free(s->p);
        s->size = rng_range(&r, o.min, o.max);
        s->stamp = rng_next(&r);
        if (!(s->p = malloc(s->size)))
            die("malloc(%zu) returned NULL", s->size);
        pat_fill(s->p, s->size, s->stamp, STRIDE);
    }
    for (size_t j = 0; j < o.window; j++) {
        verify(slots[j].p, slots[j].size, slots[j].stamp, STRIDE, "mid");
        sum += slots[j].stamp;
        free(slots[j].p);
    }
    double t = now_s() - t0;
    free(slots);
    result("mid", o.iters, t, sum, "window=%zu min=%zu max=%zu", o.window,
           o.min, o.max);
    return 0;
}
