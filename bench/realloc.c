/* realloc — (h) realloc growth: R times, grow a buffer from nothing to
 * MAX bytes by random steps of 1..STEP bytes with realloc, writing each new
 * byte; after every realloc the last old word must have survived the move,
 * and the whole buffer is verified before it is freed.
 *
 *   realloc -r ROUNDS [-M MAX] [-s STEP] [-S SEED] */
#include "common.h"

static const char help[] =
    "  -r R      rounds (40)\n"
    "  -M MAX    final size (4 MiB)\n"
    "  -s STEP   largest growth step (128)\n"
    "  -S SEED   seed (1)\n";

static inline unsigned char byte_at(uint64_t key, size_t i)
{
    return (unsigned char)(key + i * 131 + (i >> 9));
}

int main(int argc, char **argv)
{
    opts_t o = {.reps = 40, .max = 4 << 20, .min = 0, .size = 128,
                .threads = 1, .seed = 1};
    parse_opts(argc, argv, &o, help);
    if (o.size == 0 || o.max == 0)
        usage(argv[0], help);
    rng_t r;
    rng_seed(&r, o.seed, 0);
    uint64_t sum = 0, reallocs = 0, moves = 0;
    double t0 = now_s();
    for (uint64_t round = 0; round < o.reps; round++) {
        uint64_t key = rng_next(&r);
        unsigned char *p = NULL;
        size_t n = 0;
        while (n < o.max) {
            size_t step = rng_range(&r, 1, o.size);
            unsigned char *q = realloc(p, n + step);
            if (!q)
                die("realloc(%zu) returned NULL", n + step);
            reallocs++;
            moves += q != p;
            for (size_t i = n >= 8 ? n - 8 : 0; i < n; i++)
                if (q[i] != byte_at(key, i))
                    die("realloc: byte %zu lost when growing to %zu", i, n + step);
            for (size_t i = n; i < n + step; i++)
                q[i] = byte_at(key, i);
            p = q;
            n += step;
        }
        for (size_t i = 0; i < n; i++) {
            if (p[i] != byte_at(key, i))
                die("realloc: round %llu: byte %zu of %zu damaged",
                    (unsigned long long)round, i, n);
            sum += p[i];
        }
        free(p);
    }
    double t = now_s() - t0;
    result("realloc", reallocs, t, sum, "rounds=%llu max=%zu moves=%llu",
           (unsigned long long)o.reps, o.max, (unsigned long long)moves);
    return 0;
}
