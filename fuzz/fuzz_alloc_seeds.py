#!/usr/bin/env python3
"""fuzz_alloc_seeds.py DIR — writes hand-made seeds of fuzz/fuzz_alloc.c's
edge requests (corpus/fuzz_alloc/edge_*): an operation is a code byte
(code % 12 == 11: an edge request), a slot byte, then the request's bytes
b (b % 8 the function, b >> 6 the alignment's shape, b >> 3 & 7 calloc's
count - 1), k (alignment 2^k), j (size about 2^j; 64: SIZE_MAX), d (the
size's offset, d >> 4, and d & 1 for an alignment next to 2^k). Each seed
is one class of request the model decides: must fail with EINVAL, must
fail with ENOMEM (cannot fit 47 bits, or its size wraps), must succeed.
A malloc first, so realloc has a live block to fail on."""
import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
EDGE, MALLOC = 11, 0
MAL, CAL, ALI, POS, MEM, VAL, PVA, REA = range(8)
def edge(slot, fn, k, j, d=0, shape=3, count=1):
    return bytes([EDGE, slot, fn | (count - 1) << 3 | shape << 6, k, j, d])
def malloc(slot, n):
    return bytes([MALLOC, slot, 2, n >> 8, n & 255])
seeds = {
    # EINVAL: not a power of two; posix_memalign below sizeof(void *)
    "edge_einval": edge(1, ALI, 5, 6, 1, shape=1) + edge(2, POS, 2, 6)
                   + edge(3, ALI, 4, 8, 0, shape=2) + edge(4, MEM, 63, 6, 0, shape=2),
    # ENOMEM: alignments of 2^47 .. 2^63, sizes of 2^47 .. SIZE_MAX
    "edge_huge_align": edge(1, ALI, 47, 6) + edge(2, POS, 63, 6) + edge(3, MEM, 62, 0)
                       + edge(4, MEM, 63, 6, 0, shape=1) + edge(5, ALI, 50, 0),
    "edge_huge_size": edge(1, MAL, 4, 64, 0xf0) + edge(2, CAL, 4, 63, 0, count=3)
                      + edge(3, PVA, 4, 64, 0x30) + edge(4, VAL, 4, 47) + edge(5, ALI, 20, 47, 0x80)
                      + malloc(6, 100) + edge(6, REA, 4, 64),
    # calloc whose count * size wraps
    "edge_calloc_wrap": edge(1, CAL, 4, 64, 0, count=8) + edge(2, CAL, 4, 63, 0x10, count=2),
    # must succeed: large alignments with small sizes, zero sizes
    "edge_must_work": edge(1, ALI, 20, 3) + edge(2, POS, 12, 10, 0x50) + edge(3, MEM, 16, 0)
                      + edge(4, VAL, 4, 12) + edge(5, PVA, 4, 2) + edge(6, CAL, 4, 17, 0, count=5),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
