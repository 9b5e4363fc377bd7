/* size_class.c — the size-class table.
 * Steps of 16 bytes up to 128, then four classes per doubling (at most 25%
 * internal fragmentation, 12.5% on average), like jemalloc's spacing, and
 * two more classes for a power of two plus a header, which the four would
 * serve with up to 25% waste: 4608, for a page plus a header (sqlite3's
 * page cache asks for 4104-4704 bytes; make bench-real's sqlite peaked at
 * 618 MiB instead of 675, glibc's malloc 559, in 0.93 of the CPU time),
 * and 288, for 256 bytes plus one (the same workload asks for 272 bytes
 * 374,882 times: peak 606 MiB instead of 618). Each class costs a program
 * that uses it some pages of its own (espresso 2.9 to 3.0 MiB with 4608;
 * eight classes per doubling from 2 KiB: 3.2 MiB, for the same sqlite
 * figure), so most doublings keep four; classes at 4352 and 4864
 * left sqlite's peak where it was (its blocks of those sizes are freed
 * soon). From 8 to 16 KiB there are eight, 1 KiB apart: git blame (the
 * Makefile of git's own repository, make bench-real) holds 6,000 blocks
 * of 8-15 KiB at its peak, spread evenly over the doubling, on which four
 * classes wasted 5.5 MiB; with eight its peak RSS went from 338.2 to
 * 334.8 MiB (glibc's malloc 309.2), git log -p's and sqlite3's within
 * 1.1 MiB, bench/mid's from 5.3 to 5.5 MiB. Each emptied superslab's
 * pages had to stay as they were for that (superslab.c, the newest
 * spare). The mid tier goes on past 32 KiB to 56 KiB (40960, 49152,
 * 57344: a 256 KiB slab still holds four of the largest): a large block
 * costs two mprotect calls a life (PROT_NONE while its mapping is cached,
 * read-write again when reused), each a TLB flush on every CPU the
 * process runs on. xmalloc-test passes its frees around in 32,776-byte
 * batches: 19% of its samples were in mprotect, and its throughput rose
 * 1.26x with these classes. The big tier takes four more, to 112 KiB
 * (65536, 81920, 98304, 114688), in 512 KiB slabs (a 256 KiB one would
 * hold two of the largest with their canary room): git log -p allocates
 * 7,300 blocks above 56 KiB in 2,000 commits, 75% of them of at most
 * 112 KiB (zlib's and the diff's buffers), and made 14,045 mprotect calls
 * for them, 3,638 with the big classes; its system time went from 0.16 s
 * to 0.12 s (medians of 5 pairs). Mid slabs stay 256 KiB: at 512 KiB a
 * superslab holds three of them, and a program using many mid classes
 * maps more superslabs (the header and descriptor pages of each):
 * bench/mid peaked at 5.9 MiB instead of 5.3. tests/test_size_class.c
 * verifies the lookup tables against hak_class_size for every size. */
#include "size_class.h"

const uint32_t hak_class_size[HAK_NUM_CLASSES] = {
    /* tiny */
    16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 288, 320, 384,
    448, 512, 640, 768, 896, 1024,
    /* mid */
    1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 4608, 5120, 6144, 7168,
    8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384, 20480,
    24576, 28672, 32768, 40960, 49152, 57344,
    /* big */
    65536, 81920, 98304, 114688,
};

/* Entry 0 is malloc(0)'s alone in release: HAK_CLASS_ZERO (types.h). */
const uint8_t hak_class_of_16[HAK_TINY_MAX / 16 + 1] = {
    HAK_CLASS_ZERO, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
    12, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 17, 17, 17,
    17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19,
    19, 19, 19, 20, 20, 20, 20, 20, 20, 20, 20
};

/* Entries 0..4 cover sizes the tiny table serves; 255 marks them unused. */
const uint8_t hak_class_of_256[HAK_BIG_MAX / 256 + 1] = {
    255, 255, 255, 255, 255, 21, 22, 23, 24, 25, 25, 26, 26, 27, 27, 28, 28,
    29, 29, 30, 30, 31, 31, 31, 31, 32, 32, 32, 32, 33, 33, 33, 33, 34, 34, 34,
    34, 35, 35, 35, 35, 36, 36, 36, 36, 37, 37, 37, 37, 38, 38, 38, 38, 39, 39,
    39, 39, 40, 40, 40, 40, 41, 41, 41, 41, 42, 42, 42, 42, 42, 42, 42, 42, 42,
    42, 42, 42, 42, 42, 42, 42, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43,
    43, 43, 43, 43, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44,
    44, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 46, 46,
    46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46,
    46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 47, 47, 47, 47, 47, 47, 47, 47,
    47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47,
    47, 47, 47, 47, 47, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48,
    48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 49,
    49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49,
    49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51,
    51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51,
    51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51,
    51, 51, 51, 51, 51, 51, 51, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52,
    52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52,
    52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52,
    52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52
};

_Static_assert(sizeof hak_class_size / sizeof hak_class_size[0]
                   == HAK_NUM_CLASSES, "one size per class");
