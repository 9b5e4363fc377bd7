/* tiny — (a) LIFO pairs: malloc(size), write, read back, free, repeated.
 * The same block comes back every time in most allocators: this is the
 * fast path alone.
 *
 *   tiny -s SIZE -i ITERS [-S SEED] [-n]
 *
 * -n: the same loop on a static buffer, no malloc/free (bench/callgrind.sh
 * subtracts it to get the allocator's instructions per pair). */
#include "common.h"

static const char help[] =
    "  -s SIZE   block size (64)\n"
    "  -i N      malloc/free pairs (20M)\n"
    "  -S SEED   seed (1)\n"
    "  -n        no malloc/free: the loop on a static buffer\n";

static unsigned char buf[1 << 16] __attribute__((aligned(64)));

int main(int argc, char **argv)
{
    opts_t o = {.iters = 20000000, .size = 64, .min = 0, .max = 0,
                .threads = 1, .seed = 1};
    parse_opts(argc, argv, &o, help);
    if (o.size == 0 || (o.nomalloc && o.size > sizeof buf))
        usage(argv[0], help);

    uint64_t sum = 0, stamp = mix64(o.seed);
    double t0 = now_s();
    for (uint64_t i = 0; i < o.iters; i++) {
        unsigned char *p = o.nomalloc ? buf : malloc(o.size);
        if (!p)
            die("malloc(%zu) returned NULL", o.size);
        stamp += GOLDEN;
        pat_fill(p, o.size, stamp, CACHE_LINE);
        if (pat_check(p, o.size, stamp, CACHE_LINE))
            die("tiny: block %p (size %zu) damaged", (void *)p, o.size);
        sum += stamp;
        if (!o.nomalloc)
            free(p);
    }
    double t = now_s() - t0;
    char name[32];
    snprintf(name, sizeof name, "tiny%zu", o.size);
    result(name, o.iters, t, sum, "size=%zu nomalloc=%d", o.size, o.nomalloc);
    return 0;
}
