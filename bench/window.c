/* window — (b) random window: W live blocks of random sizes; each step
 * verifies and frees a random one and allocates a new one in its place.
 *
 *   window -i STEPS [-w W] [-m MIN] [-M MAX] [-S SEED] [-n]
 *
 * -n: the same loop on W static slots, no malloc/free (callgrind). */
#include "common.h"

static const char help[] =
    "  -i N      steps (20M)\n"
    "  -w W      live blocks (1000)\n"
    "  -m MIN    smallest size (8)\n"
    "  -M MAX    largest size (1024)\n"
    "  -S SEED   seed (1)\n"
    "  -n        no malloc/free: static slots of MAX bytes\n";

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t stamp;
} slot_t;

int main(int argc, char **argv)
{
    opts_t o = {.iters = 20000000, .min = 8, .max = 1024, .threads = 1,
                .seed = 1, .window = 1000};
    parse_opts(argc, argv, &o, help);
    if (o.window == 0 || o.min == 0)
        usage(argv[0], help);

    rng_t r;
    rng_seed(&r, o.seed, 0);
    slot_t *slots = calloc(o.window, sizeof *slots);
    unsigned char *pool = NULL;
    if (!slots)
        die("calloc failed");
    if (o.nomalloc) {
        pool = aligned_alloc(64, o.window * ((o.max + 63) & ~(size_t)63));
        if (!pool)
            die("aligned_alloc failed");
    }
    size_t pstride = (o.max + 63) & ~(size_t)63;
    uint64_t sum = 0;

    for (size_t j = 0; j < o.window; j++) {
        slot_t *s = &slots[j];
        s->size = rng_range(&r, o.min, o.max);
        s->stamp = rng_next(&r);
        s->p = o.nomalloc ? pool + j * pstride : malloc(s->size);
        if (!s->p)
            die("malloc(%zu) returned NULL", s->size);
        pat_fill(s->p, s->size, s->stamp, CACHE_LINE);
    }

    double t0 = now_s();
    for (uint64_t i = 0; i < o.iters; i++) {
        uint64_t x = rng_next(&r);
        slot_t *s = &slots[(size_t)(((unsigned __int128)x * o.window) >> 64)];
        if (pat_check(s->p, s->size, s->stamp, CACHE_LINE))
            die("window: block %p (size %zu) damaged", (void *)s->p, s->size);
        sum += s->stamp;
        unsigned char *keep = s->p;
        if (!o.nomalloc)
            free(s->p);
        s->size = o.min + (size_t)(((unsigned __int128)(x * GOLDEN) *
                                    (o.max - o.min + 1)) >> 64);
        s->stamp = x;
        s->p = o.nomalloc ? keep : malloc(s->size);
        if (!s->p)
            die("malloc(%zu) returned NULL", s->size);
        pat_fill(s->p, s->size, s->stamp, CACHE_LINE);
    }
    double t = now_s() - t0;

    for (size_t j = 0; j < o.window; j++) {
        slot_t *s = &slots[j];
        verify(s->p, s->size, s->stamp, CACHE_LINE, "window");
        sum += s->stamp;
        if (!o.nomalloc)
            free(s->p);
    }
    free(pool);
    free(slots);
    result("window", o.iters, t, sum, "window=%zu min=%zu max=%zu nomalloc=%d",
           o.window, o.min, o.max, o.nomalloc);
    return 0;
}
