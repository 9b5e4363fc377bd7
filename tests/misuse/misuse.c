/* misuse.c — the heap-misuse suite: one program, one case per argv[1].
 *
 *   misuse --list          one line per case: name, kind, description
 *   misuse <case>          runs the case; exits 0 when it completes
 *
 * It uses only the standard names (malloc, free, realloc, posix_memalign,
 * ...), so the same binary runs against any allocator through LD_PRELOAD
 * (tests/misuse/run.sh). Built with -O0 -fno-builtin: every misuse below
 * really reaches the allocator.
 *
 * Kinds:
 *   misuse  the program misuses the heap; an allocator that notices aborts
 *           (or crashes), one that does not lets it exit 0 ("missed").
 *   poison  freelist poisoning: exit 42 means malloc handed out the
 *           address the program wrote into a freed block ("exploited").
 *   attack  a misuse aimed at allocator state, then an oracle
 *           in the program: exit 42 ("exploited") when the allocator
 *           handed out memory it must not — an address the attacker chose
 *           (a global), memory overlapping a block the program still holds
 *           (the same pointer twice, or intersecting ranges), or memory
 *           overlapping a "block" that realloc accepted although it was
 *           never handed out. Reaching the end is exit 0 ("not
 *           exploited"); an abort or a crash is "detected".
 *   benign  correct use; anything but exit 0 is a false positive.
 *
 * Exit codes: 0 completed, 2 a benign case saw wrong data or alignment,
 * 3 the setup failed (not the allocator's doing), 4 a freed block was not
 * handed back at once (write_after_free_small_reuse: the dangling write
 * reached no live block), 42 exploited.
 */
#ifndef _GNU_SOURCE /* misuse.mk defines it on the command line */
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SMALL 100u     /* tiny tier: <= 1 KiB */
#define MID   3000u    /* mid tier: 1 KiB - 56 KiB */
#define LARGE 200000u  /* large tier: > 112 KiB */

#define EXIT_WRONG 2
#define EXIT_SETUP 3
#define EXIT_NOT_REUSED 4
#define EXIT_EXPLOITED 42

/* ---- Reporting without the heap ---------------------------------------- */

/* One line on stderr, formatted on the stack: the heap may be broken. */
static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
}

#define setup_fail(...) (say("misuse: setup: " __VA_ARGS__), _exit(EXIT_SETUP))
#define wrong(...) (say("misuse: " __VA_ARGS__), _exit(EXIT_WRONG))

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p && n)
        setup_fail("malloc(%zu) returned NULL", n);
    return p;
}

/* A scratch array that does not come from the allocator under test. */
static void **scratch(size_t count)
{
    void *m = mmap(NULL, count * sizeof(void *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        setup_fail("mmap of a scratch array");
    return m;
}

static void scratch_free(void **a, size_t count)
{
    munmap(a, count * sizeof(void *));
}

/* Deterministic payloads: byte i of a block tagged t. */
static uint8_t pat(uintptr_t t, size_t i)
{
    return (uint8_t)(t * 131u + i * 7u + (i >> 8));
}

static void fill(void *p, size_t n, uintptr_t t)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pat(t, i);
}

static void verify(const void *p, size_t n, uintptr_t t, const char *what)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(t, i))
            wrong("%s: byte %zu of %zu changed", what, i, n);
}

/* ---- Threads ------------------------------------------------------------ */

static void *thread_free(void *p)
{
    free(p);
    return NULL;
}

/* Runs fn(arg) on a new thread and waits for it. */
static void *on_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    void *ret = NULL;
    if (pthread_create(&t, NULL, fn, arg) != 0)
        setup_fail("pthread_create");
    pthread_join(t, &ret);
    return ret;
}

/* ---- Double free -------------------------------------------------------- */

static void double_free(size_t n)
{
    void *p = xmalloc(n);
    free(p);
    free(p);
}

/* Other frees of the same size between the two frees of p, and some of
 * memory reused: p sits inside the allocator's lists, not at their head. */
static void double_free_interleaved(size_t n)
{
    void *p = xmalloc(n);
    void *v[40];
    for (int i = 0; i < 40; i++)
        v[i] = xmalloc(n);
    free(v[0]);
    free(p);
    for (int i = 1; i < 40; i++)
        free(v[i]);
    for (int i = 0; i < 5; i++) {
        v[i] = xmalloc(n);
        if (v[i] == p) /* handed out again: freed correctly, so p is free */
            free(v[i]);
    }
    free(p);
}

/* Another thread frees p, then the thread that allocated it (main). */
static void double_free_remote_then_main(size_t n)
{
    void *p = xmalloc(n);
    void *keep = xmalloc(n); /* p's slab/page stays in use */
    on_thread(thread_free, p);
    free(p);
    free(keep);
}

/* Main allocates; thread A frees p, then thread B frees it again. */
static void double_free_two_threads(size_t n)
{
    void *p = xmalloc(n);
    void *keep = xmalloc(n);
    on_thread(thread_free, p);
    on_thread(thread_free, p);
    free(keep);
}

/* ---- Invalid frees ------------------------------------------------------ */

static char global_buf[4096] __attribute__((aligned(64)));

static void free_stack(size_t n)
{
    (void)n;
    char local[256] __attribute__((aligned(16)));
    memset(local, 0, sizeof local);
    free(xmalloc(16)); /* the allocator is initialised */
    free(local);
    __asm__ volatile("" : : "r"(local) : "memory");
}

static void free_global(size_t n)
{
    (void)n;
    free(xmalloc(16));
    free(global_buf + 64);
}

static void *foreign_mmap(void)
{
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        setup_fail("mmap of 1 MiB");
    return m;
}

static void free_mmap(size_t n)
{
    (void)n;
    free(xmalloc(16));
    free(foreign_mmap());
}

/* p + off, p neither the first nor the last block the allocator carved. */
static void free_interior(size_t n, size_t off)
{
    void *before = xmalloc(n);
    uint8_t *p = xmalloc(n);
    void *after = xmalloc(n);
    (void)before;
    (void)after;
    free(p + off);
}

static void free_interior16(size_t n) { free_interior(n, 16); }
static void free_interior1(size_t n) { free_interior(n, 1); }
static void free_interior_page(size_t n) { free_interior(n, 4096); }

/* ---- realloc misuse ----------------------------------------------------- */

static void realloc_freed(size_t n)
{
    void *p = xmalloc(n);
    void *keep = xmalloc(n);
    free(p);
    void *q = realloc(p, 2 * n);
    free(q);
    free(keep);
}

static void realloc_stack(size_t n)
{
    (void)n;
    char local[256] __attribute__((aligned(16)));
    memset(local, 0, sizeof local);
    free(xmalloc(16));
    void *q = realloc(local, 512);
    __asm__ volatile("" : : "r"(local) : "memory");
    free(q);
}

static void realloc_global(size_t n)
{
    (void)n;
    free(xmalloc(16));
    void *q = realloc(global_buf + 64, 512);
    free(q);
}

static void realloc_mmap(size_t n)
{
    (void)n;
    free(xmalloc(16));
    void *q = realloc(foreign_mmap(), 2 << 20);
    free(q);
}

/* ---- Freelist poisoning ------------------------------------------------- */

/* Where the attacker wants malloc to hand out memory: a writable global,
 * so an allocator that obeys does not crash on its way back. */
static char target_buf[16384] __attribute__((aligned(4096)));

/* Two blocks freed, then a use-after-free write of the attacker's address
 * into the first word of the last one freed, p (the second word, glibc's
 * tcache key, zeroed), then
 * mallocs of that size: the one that hands p back follows the link, the
 * next one would return the chosen address. Exit 42 if it does. */
static void freelist_poison(size_t n)
{
    void *keep = xmalloc(n);
    void *x = xmalloc(n);
    uint64_t *p = xmalloc(n);
    void *keep2 = xmalloc(n);
    uint8_t *target = (uint8_t *)target_buf + 4096;
    free(x); /* a second free block: glibc's tcache follows a link only
              * while its count says there is one */
    free(p);
    p[0] = (uint64_t)(uintptr_t)target;
    p[1] = 0;
    /* Allocators that keep frees apart from the current free list hand p
     * back only later: allocate until p comes back, then once more. */
    size_t limit = ((size_t)16 << 20) / n;
    if (limit < 64)
        limit = 64;
    void **got = scratch(limit);
    size_t k = 0, after_p = 0;
    int seen_p = 0;
    for (; k < limit; k++) {
        got[k] = malloc(n);
        if (got[k] == target) {
            say("misuse: exploited: malloc(%zu) returned the chosen address %p",
                n, (void *)target);
            _exit(EXIT_EXPLOITED);
        }
        if (got[k] == p)
            seen_p = 1;
        else if (seen_p && ++after_p == 2)
            break;
    }
    (void)keep;
    (void)keep2;
    /* Not exploited; nothing is freed (p's link is still the attacker's). */
}

/* ---- Overflows ---------------------------------------------------------- */

/* One byte past the requested size, then free. */
static void overflow1(size_t n)
{
    uint8_t *p = xmalloc(n);
    void *keep = xmalloc(n);
    memset(p, 0x11, n);
    p[n] = (uint8_t)(p[n] + 1);
    free(p);
    free(keep);
}

/* a's overflow reaches the free block b after it: through b's first 16
 * bytes (an inline freelist link, or the next chunk's header and link),
 * then mallocs of that size pop b. */
static void overflow_next(size_t n)
{
    uint8_t *a = xmalloc(n);
    uint8_t *b = xmalloc(n);
    uint8_t *c = xmalloc(n);
    uint8_t *next = NULL;
    size_t reach = 2 * n + 256;
    if (b > a && (size_t)(b - a) <= reach)
        next = b;
    else if (c > a && (size_t)(c - a) <= reach)
        next = c;
    else
        next = a + n + 48; /* no neighbour in sight: 64 bytes past the end */
    free(b);
    memset(a, 0x22, n);
    memset(a + n, 0x41, (size_t)(next + 16 - (a + n)));
    void *v[3];
    for (int i = 0; i < 3; i++)
        v[i] = malloc(n);
    free(a);
    free(c);
    for (int i = 0; i < 3; i++)
        free(v[i]);
}

/* ---- Write after free --------------------------------------------------- */

/* A write into a freed block (past the first 16 bytes, which allocators
 * use for links), then mallocs of that size until the block comes back,
 * then frees. */
static void write_after_free(size_t n)
{
    uint8_t *keep = xmalloc(n);
    uint8_t *p = xmalloc(n);
    uint8_t *keep2 = xmalloc(n);
    free(p);
    memset(p + n / 2, 0x41, 8);
    size_t limit = ((size_t)64 << 20) / n;
    if (limit < 64)
        limit = 64;
    void **got = scratch(limit);
    size_t k = 0;
    while (k < limit) {
        got[k] = malloc(n);
        if (got[k++] == p)
            break;
    }
    for (size_t i = 0; i < k; i++)
        free(got[i]);
    scratch_free(got, limit);
    free(keep);
    free(keep2);
}

/* ---- Attacks on allocator state ----------------------------------------- */

/* Each attack is aimed at a weakness of hakmem's release build as of
 * b4f0cf2 (named in its comment), but uses nothing of hakmem's: only what
 * a program can observe through the standard names (the addresses malloc
 * returns, the bytes of its own blocks, /proc/self/maps). Against another
 * allocator the same steps simply find nothing to use, or trip its checks. */

/* The oracle's view of the heap: the blocks the program holds. */
#define HELD_MAX 2048
static struct held {
    uintptr_t a;
    size_t n;
    const char *what;
} held[HELD_MAX];
static size_t nheld;

/* Where attackers want malloc to hand out memory: a writable global,
 * big enough to be handed out as a large block (LREQ below, and the page
 * after it) without the allocator's writes leaving it. */
static uint64_t chosen[(64u << 10) / sizeof(uint64_t)] __attribute__((aligned(4096)));

#define exploited(...) (say("misuse: exploited: " __VA_ARGS__), _exit(EXIT_EXPLOITED))

static void hold(void *p, size_t n, const char *what)
{
    if (nheld == HELD_MAX)
        setup_fail("more than %d held blocks", HELD_MAX);
    held[nheld++] = (struct held){ (uintptr_t)p, n ? n : 1, what };
}

static void unhold(void *p)
{
    for (size_t i = 0; i < nheld; i++)
        if (held[i].a == (uintptr_t)p) {
            held[i] = held[--nheld];
            return;
        }
}

/* The oracle, on n bytes at p that `fn` just handed out. Exit 42 if they
 * are the attacker's global or overlap a block the program holds; else
 * the program holds them too. */
static void handed_out(const char *fn, void *p, size_t n)
{
    if (!p)
        return;
    uintptr_t a = (uintptr_t)p, end = a + (n ? n : 1);
    uintptr_t c = (uintptr_t)chosen;
    if (a < c + sizeof chosen && end > c)
        exploited("%s(%zu) returned %p, in the global the attacker chose (%p)",
                  fn, n, p, (void *)chosen);
    for (size_t i = 0; i < nheld; i++) {
        const struct held *h = &held[i];
        if (a < h->a + h->n && end > h->a) {
            if (a == h->a)
                exploited("%s(%zu) returned %p, which is %s (handed out twice)",
                          fn, n, p, h->what);
            exploited("%s(%zu) returned %p, overlapping %s %p+%zu", fn, n, p,
                      h->what, (void *)h->a, h->n);
        }
    }
    hold(p, n, "a block the program still holds");
}

static void *amalloc(size_t n)
{
    void *p = malloc(n);
    handed_out("malloc", p, n);
    return p;
}

static void afree(void *p)
{
    unhold(p);
    free(p);
}

/* Word i of a block, as the program's own (possibly dangling) pointer
 * reads or writes it. */
static volatile uintptr_t *word(uintptr_t block, size_t i)
{
    return (volatile uintptr_t *)block + i;
}

/* Distance between two blocks of one size malloc returned one after the
 * other: the slot stride of a slab allocator. Otherwise the usable size,
 * rounded to 16: a guess that is right for size-class allocators. */
static size_t stride_of(const void *p, const void *q)
{
    if (q > p && (size_t)((const uint8_t *)q - (const uint8_t *)p) <= 4096)
        return (size_t)((const uint8_t *)q - (const uint8_t *)p);
    return (malloc_usable_size((void *)p) + 15) & ~(size_t)15;
}

/* ---- Route 1: a linear overflow of a large block reaches metadata ------- */

/* hakmem b4f0cf2 maps its heap records (256 KiB chunks) and its table of
 * large blocks (a plain open-addressing array, remapped larger as it
 * fills) with mmap like the large blocks themselves, with no guard page;
 * mmap places a new mapping right below the previous one, so a large
 * block mapped after a heap chunk or the table ends where they begin. */

typedef struct {
    uintptr_t lo, hi;
} range_t;
#define MAX_RANGES 4096
#define PAGE ((uintptr_t)4096)
#define LREQ ((size_t)40 << 10)    /* the large block the forged record serves */
#define REACH ((uintptr_t)64 << 10) /* how far past a block the attacker writes */

static char **main_argv;
static char maps_text[1 << 18];
static range_t maps_before[MAX_RANGES], maps_after[MAX_RANGES];
static size_t nmaps_before, nmaps_after;
static uint8_t *lblocks[1024];
static size_t nlblocks, lblock_size;

/* The process's mappings from /proc/self/maps, read into static memory:
 * nothing here may allocate. */
static size_t read_maps(range_t *r)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        setup_fail("open /proc/self/maps");
    size_t len = 0;
    ssize_t k;
    while (len < sizeof maps_text - 1 &&
           (k = read(fd, maps_text + len, sizeof maps_text - 1 - len)) > 0)
        len += (size_t)k;
    close(fd);
    if (len == sizeof maps_text - 1)
        setup_fail("/proc/self/maps is longer than %zu bytes", len);
    maps_text[len] = 0;
    size_t n = 0;
    for (char *s = maps_text; *s && n < MAX_RANGES;) {
        char *e;
        r[n].lo = (uintptr_t)strtoull(s, &e, 16);
        if (*e != '-')
            setup_fail("unexpected line in /proc/self/maps");
        r[n].hi = (uintptr_t)strtoull(e + 1, &e, 16);
        n++;
        s = strchr(e, '\n');
        if (!s)
            break;
        s++;
    }
    return n;
}

static int mapped_in(const range_t *r, size_t n, uintptr_t a)
{
    for (size_t i = 0; i < n; i++)
        if (a >= r[i].lo && a < r[i].hi)
            return 1;
    return 0;
}

/* The page at a holds bytes of one of the program's large blocks. */
static int own_page(uintptr_t a)
{
    for (size_t i = 0; i < nlblocks; i++) {
        uintptr_t lo = (uintptr_t)lblocks[i] & ~(PAGE - 1);
        uintptr_t hi = ((uintptr_t)lblocks[i] + lblock_size + PAGE - 1) & ~(PAGE - 1);
        if (a >= lo && a < hi)
            return 1;
    }
    return 0;
}

/* The page at a is the allocator's own memory, not a block: mapped now,
 * not mapped when the attack began (only the allocator mapped anything
 * since), and no page of the program's blocks. */
static int allocator_page(uintptr_t a)
{
    return mapped_in(maps_after, nmaps_after, a) &&
           !mapped_in(maps_before, nmaps_before, a) && !own_page(a);
}

/* This process's attempt at the case: 1, 2, ... (see start_over). */
static unsigned attempt(void)
{
    const char *v = getenv("MISUSE_ATTEMPT");
    return v ? (unsigned)atoi(v) : 1;
}

/* Starts the case over in a fresh process, with a fresh random layout of
 * the address space (ASLR), until `max` attempts are used (counted in
 * MISUSE_ATTEMPT). Returns when they are, or when exec fails. Nothing
 * here allocates: the environment is copied into static memory. */
static void start_over(unsigned max)
{
    static char var[32];
    static char *env[1024];
    extern char **environ;
    unsigned k = attempt();
    if (k >= max)
        return;
    snprintf(var, sizeof var, "MISUSE_ATTEMPT=%u", k + 1);
    size_t n = 0;
    for (char **e = environ; *e && n < sizeof env / sizeof env[0] - 2; e++)
        if (strncmp(*e, "MISUSE_ATTEMPT=", 15) != 0)
            env[n++] = *e;
    env[n++] = var;
    env[n] = NULL;
    execve("/proc/self/exe", main_argv, env);
}

/* `nblocks` blocks of `size` (after one small block if `small_first`); each
 * block whose next page is the allocator's own memory is overflowed: the
 * program writes on past the end of its pages, over as much of that
 * memory as lies there (at most REACH, never into its own blocks), with
 * 32-byte records {chosen, chosen, LREQ + 4096, LREQ}. Read as a record
 * of a large block (address, mapping base, mapping length, request) one
 * names the chosen global as a block of LREQ bytes; read as a table of
 * pointers (a heap's current slab per size class) every entry names the
 * global, which is set up as such a slab: its free list holds the global
 * itself, with key 0 and a first word equal to its own address, so the
 * link decodes to NULL (link ^ key ^ addr). The oracle asks malloc(16)
 * after each overflow (a small heap exists when `small_first`), and at
 * the end frees the global and asks for LREQ bytes. A guard page after
 * the block or before the metadata makes the write itself fault. Where
 * the metadata lands depends on the random layout (the size of the hole
 * it is mapped into): when no block ends at the allocator's memory, the
 * case starts over in a fresh process, 8 times at most. */
static void large_overflow(size_t nblocks, size_t size, int small_first)
{
    if (nblocks > sizeof lblocks / sizeof lblocks[0])
        setup_fail("too many large blocks");
    chosen[0] = (uintptr_t)chosen;
    chosen[1] = 0;
    lblock_size = size;
    nmaps_before = read_maps(maps_before);
    if (small_first)
        free(xmalloc(16));
    for (nlblocks = 0; nlblocks < nblocks; nlblocks++) {
        lblocks[nlblocks] = xmalloc(size);
        hold(lblocks[nlblocks], size, "a live large block");
    }
    nmaps_after = read_maps(maps_after);
    size_t hits = 0;
    for (size_t i = 0; i < nblocks; i++) {
        uint8_t *p = lblocks[i];
        uintptr_t end = ((uintptr_t)p + size + PAGE - 1) & ~(PAGE - 1);
        if (!allocator_page(end))
            continue;
        uintptr_t stop = end;
        while (stop < end + REACH && mapped_in(maps_after, nmaps_after, stop) &&
               !own_page(stop))
            stop += PAGE;
        if (hits < 3) /* the first few: a crash names where it wrote */
            say("misuse: note: overflowing block %zu (%p) by %zu bytes past its pages",
                i, (void *)p, (size_t)(stop - end));
        memset(p + size, 0x41, end - ((uintptr_t)p + size));
        for (volatile uint64_t *w = (uint64_t *)end; (uintptr_t)w < stop; w += 4) {
            w[0] = (uintptr_t)chosen;
            w[1] = (uintptr_t)chosen;
            w[2] = LREQ + PAGE;
            w[3] = LREQ;
        }
        hits++;
        if (small_first)
            amalloc(16);
    }
    if (!hits) {
        start_over(8);
        say("misuse: in %u runs, none of %zu large blocks ended where the "
            "allocator had mapped something: the overflow had nothing to reach",
            attempt(), nblocks);
        return;
    }
    free(chosen);
    amalloc(LREQ);
}

/* A heap record: the first large block after the first small one. 128
 * KiB is glibc's mmap threshold: it maps such blocks on their own too
 * (all but one its main heap grows for). */
static void attack_large_overflow_meta(size_t n)
{
    large_overflow(4, n, 1);
}

/* The table of large blocks: 640 live large blocks and no small one, so
 * that a table which starts small (hakmem's: 1024 slots, grown when half
 * full) is mapped anew. Blocks of 40 KiB: the first hundreds fill every
 * hole in the address space they fit (mmap takes the highest one), so the
 * new table, larger than them, goes right below the last block, and the
 * next block right below the table: it ends where the table begins. */
static void attack_large_overflow_table(size_t n)
{
    large_overflow(640, n, 0);
}

/* ---- Route 2: a freed block's link turned into a self-loop -------------- */

/* free(q), free(p): p's link now names q, so the program knows what it
 * encodes without knowing any key. With link = next ^ key ^ addr (hakmem)
 * or (addr >> 12) ^ next (glibc's safe-linking), XOR-ing q ^ p into the
 * stored word makes it name p itself: malloc hands p out, then again. */
static void attack_freelist_self(size_t n)
{
    amalloc(n);
    uintptr_t p = (uintptr_t)amalloc(n);
    uintptr_t q = (uintptr_t)amalloc(n);
    amalloc(n);
    afree((void *)q);
    afree((void *)p);
    *word(p, 0) ^= q ^ p;
    for (int i = 0; i < 64; i++)
        amalloc(n);
}

/* ---- Route 3: the secrets are readable ---------------------------------- */

typedef struct victim {
    void (*fn)(void); /* a function pointer the program will call */
    char name[24];
} victim_t;

static void victim_fn(void)
{
}

static void attacker_fn(void)
{
    say("misuse: exploited: the victim's function pointer, overwritten "
        "through an overlapping chunk, ran the attacker's function");
    _exit(EXIT_EXPLOITED);
}

/* hakmem b4f0cf2 leaves a block's encoded free-list link in its first
 * word when it hands it out; with batch carving the next block is the
 * next malloc's, so one read of uninitialised memory gives the slab key
 * (link ^ next ^ addr). A freed block's second word is addr ^ tag secret.
 * With both, one write after free aims malloc at the 16 bytes before a
 * live object (the end of the block before it, which the program owns):
 * an overlapping chunk, through which the victim's function pointer is
 * overwritten, and the victim calls it. n is a size class (96): the 16
 * bytes before the victim are within the requested size of its neighbour
 * when the stride is n (where it is larger, writing them overflows the
 * neighbour into its slack, and the attack goes on all the same). */
static void attack_leaked_keys(size_t n)
{
    uintptr_t b[6];
    for (int i = 0; i < 6; i++)
        b[i] = (uintptr_t)amalloc(n);
    uintptr_t key = *word(b[0], 0) ^ b[1] ^ b[0];
    if ((*word(b[1], 0) ^ key ^ b[1]) != b[2]) {
        say("misuse: a fresh block's first word is no link to the next block: "
            "no key to read");
        return;
    }
    afree((void *)b[5]);
    afree((void *)b[4]);
    uintptr_t tag = *word(b[5], 1) ^ b[5];
    if ((*word(b[4], 1) ^ b[4]) != tag) {
        say("misuse: a freed block's second word is no address ^ secret: "
            "no tag secret to read");
        return;
    }
    /* the victim v follows u at the distance of the first two blocks */
    uintptr_t u = b[2], v = b[3], fake = v - 16;
    if (v <= u || v - u != b[1] - b[0] || v - u < 32) {
        say("misuse: blocks 2 and 3 are not neighbours: no 16 bytes before "
            "the victim to forge");
        return;
    }
    ((victim_t *)v)->fn = victim_fn;
    *word(fake, 0) = key ^ fake;  /* its link decodes to NULL: the list ends */
    *word(fake, 1) = fake ^ tag;  /* its tag says free */
    *word(b[4], 0) = fake ^ key ^ b[4]; /* the freed block's link names it */
    for (int i = 0; i < 8; i++) {
        uintptr_t c = (uintptr_t)malloc(n);
        if (c < v && c + n > v) {
            say("misuse: note: malloc(%zu) returned %p, %zu bytes before the "
                "live victim %p", n, (void *)c, (size_t)(v - c), (void *)v);
            *(void (**)(void))(c + (v - c)) = attacker_fn;
            ((victim_t *)v)->fn();
        }
        handed_out("malloc", (void *)c, n);
    }
}

/* ---- Route 4: the double-free tag lives in user bytes ------------------- */

/* hakmem b4f0cf2 recognises a free block by bytes 8-15 of the block (its
 * state tag), which a use after free can change: here a reference count
 * at offset 8 is decremented after free, then the block is freed again.
 * The second free links the block to itself: malloc hands it out twice. */
static void attack_double_free_tag(size_t n)
{
    amalloc(n);
    uintptr_t p = (uintptr_t)amalloc(n);
    amalloc(n);
    afree((void *)p);
    *word(p, 1) -= 1;
    free((void *)p);
    for (int i = 0; i < 64; i++)
        amalloc(n);
}

/* ---- Route 5: a slot never handed out passes validation ----------------- */

/* hakmem b4f0cf2 validates a pointer against the slab's capacity, not
 * against what it carved, and fresh memory carries no free tag: a slot
 * far beyond the blocks handed out so far (the 100th of a fresh size
 * class, by the distance between two blocks) passes realloc, which
 * resizes it in place. A later malloc carves the same slot again: two
 * blocks the program holds share their bytes. */
static uintptr_t uncarved_slot(size_t n)
{
    uintptr_t p = (uintptr_t)amalloc(n);
    uintptr_t q = (uintptr_t)amalloc(n);
    return p + 100 * stride_of((void *)p, (void *)q);
}

static void attack_uncarved_slot(size_t n)
{
    uintptr_t slot = uncarved_slot(n);
    void *r = realloc((void *)slot, n);
    if (!r)
        return;
    if ((uintptr_t)r == slot)
        hold(r, n, "the never-handed-out slot realloc accepted");
    else
        handed_out("realloc", r, n);
    for (int i = 0; i < 300; i++)
        amalloc(n);
}

/* The same slot given to malloc_usable_size only: a size returned (no
 * abort) means the query accepted a block that does not exist. There is
 * no exploit to see, so this is a misuse case: exit 0 is "missed". */
static void attack_uncarved_usable(size_t n)
{
    uintptr_t slot = uncarved_slot(n);
    size_t u = malloc_usable_size((void *)slot);
    say("misuse: malloc_usable_size(%p), a slot never handed out, returned %zu",
        (void *)slot, u);
}

/* ---- Route 7: a forged remote-free node --------------------------------- */

/* hakmem b4f0cf2 queues a block freed by another thread on its owner's
 * remote queue with link = next ^ queue key ^ addr and tag = addr ^ tag
 * secret ^ 1, in the block's first two words. A lone queued block links
 * to NULL, so a dangling read of it gives the queue key, and of its tag
 * (with a locally freed block's tag) the tag secret. The node is rewritten
 * to name a live block v whose first two words the program sets (they
 * are its own data) to a last node's link and a queued tag; the owner's
 * next refill drains the chain and puts v on a free list while it is live. */
static void attack_forged_remote_node(size_t n)
{
    uintptr_t x = (uintptr_t)xmalloc(n);
    uintptr_t v = (uintptr_t)amalloc(n);
    amalloc(n);
    uintptr_t y = (uintptr_t)amalloc(n);
    on_thread(thread_free, (void *)x);
    afree((void *)y);
    uintptr_t tag = *word(y, 1) ^ y;
    uintptr_t rkey = *word(x, 0) ^ x;
    if ((*word(x, 1) ^ x ^ 1) != tag) {
        say("misuse: the block another thread freed holds no tag with the "
            "secret of a locally freed one: no queue node to forge");
        return;
    }
    *word(v, 0) = rkey ^ v;     /* the chain ends at v */
    *word(v, 1) = v ^ tag ^ 1;  /* v is tagged as queued */
    *word(x, 0) = v ^ rkey ^ x; /* the queued node names v */
    for (int i = 0; i < 256; i++)
        amalloc(n);
}

/* ---- Zero-size and large blocks ---------------------------------------- */

/* malloc(0) returns a pointer that owns no byte: p[0] is out of bounds.
 * An allocator that backs it with a real block lets the access pass; the
 * block is freed so that a check at free (a canary) can run. NULL would
 * be allowed, and reading or writing it faults. */
static void read_zero_size(size_t n)
{
    (void)n;
    volatile uint8_t *p = malloc(0);
    uint8_t v = p[0];
    __asm__ volatile("" : : "r"(v));
    free((void *)p);
}

static void write_zero_size(size_t n)
{
    (void)n;
    volatile uint8_t *p = malloc(0);
    p[0] = 1;
    free((void *)p);
}

/* A large block is read or written after free, with no malloc between:
 * only an allocator that unmaps or protects the freed pages notices (one
 * that caches mappings for reuse does not). */
static void uaf_read_large(size_t n)
{
    volatile uint8_t *p = xmalloc(n);
    memset((void *)p, 0x5a, n);
    free((void *)p);
    uint8_t v = p[0] ^ p[n / 2] ^ p[n - 1];
    __asm__ volatile("" : : "r"(v));
}

static void uaf_write_large(size_t n)
{
    volatile uint8_t *p = xmalloc(n);
    memset((void *)p, 0x5a, n);
    free((void *)p);
    for (size_t i = 0; i < 8; i++)
        p[n / 2 + i] = 0x41;
}

/* One byte at p + malloc_usable_size(p), for a large block whose usable
 * size runs to the end of its pages: the first byte past them. A small
 * block is allocated first, as every real program does, so whatever the
 * allocator maps for small blocks already exists (and may lie there).
 * What follows the block depends on the random layout of the address
 * space: a fault on unmapped memory or on a library's read-only pages is
 * luck, not a check. So the byte is aimed at memory the allocator mapped
 * (allocator_page: its metadata, or a guard page it placed there); when
 * the layout puts something else there, the case starts over in a fresh
 * process (8 times at most, then it writes all the same). */
static void overflow_large_page(size_t n)
{
    nmaps_before = read_maps(maps_before);
    free(xmalloc(16));
    volatile uint8_t *p = xmalloc(n);
    size_t u = malloc_usable_size((void *)p);
    nmaps_after = read_maps(maps_after);
    lblocks[0] = (uint8_t *)p;
    lblock_size = u;
    nlblocks = 1;
    if (!allocator_page((uintptr_t)p + u))
        start_over(8);
    p[u] = 0x41;
    free((void *)p);
}

/* free(p), 8 bytes written at p + n/2 (past the link words), then one
 * malloc of the size. Handing p straight back gives the next owner a
 * block holding the dangling write (missed); a hardened allocator detects
 * the write at reuse, or hands out another block (exit 4, "not reused"). */
static void write_after_free_reuse(size_t n)
{
    uint8_t *keep = xmalloc(n);
    uint8_t *p = xmalloc(n);
    uint8_t *keep2 = xmalloc(n);
    free(p);
    memset(p + n / 2, 0x41, 8);
    uint8_t *q = xmalloc(n);
    if (q != p) {
        say("misuse: not reused: malloc(%zu) returned another block than the "
            "one just freed", n);
        _exit(EXIT_NOT_REUSED);
    }
    free(q);
    free(keep);
    free(keep2);
}

/* ---- Correct use (must not abort) --------------------------------------- */

static const size_t large_sizes[] = {
    32769, 36864, 40000, 65536, 65537, 100000, 131072, 1 << 20, 3 << 20,
};
#define NLARGE (sizeof large_sizes / sizeof large_sizes[0])

/* Every byte of the requested size written, then freed. n picks the tier:
 * all of 0..1024, mid sizes in steps of 31 plus every class boundary, or
 * a set of large ones (page multiples included). */
static void exact_size(size_t n)
{
    if (n <= 1024) {
        void *prev = NULL;
        for (size_t s = 0; s <= 1024; s++) {
            uint8_t *p = xmalloc(s);
            memset(p, 0xa5, s);
            free(prev); /* one block stays live: neighbours are in use */
            prev = p;
        }
        free(prev);
        for (size_t s = 1; s <= 1024; s++) {
            uint8_t *p = calloc(1, s);
            if (!p)
                setup_fail("calloc");
            memset(p, 0x5a, s);
            free(p);
        }
    } else if (n <= 32768) {
        void *prev = NULL;
        for (size_t s = 1025; s <= 32768; s += 31) {
            uint8_t *p = xmalloc(s);
            memset(p, 0xa5, s);
            free(prev);
            prev = p;
        }
        free(prev);
        for (size_t s = 1280; s <= 32768; s += s / 8) {
            for (size_t d = 0; d < 3; d++) { /* s-1, s, s+1 */
                uint8_t *p = xmalloc(s - 1 + d);
                memset(p, 0xa5, s - 1 + d);
                free(p);
            }
        }
    } else {
        for (size_t i = 0; i < NLARGE; i++) {
            uint8_t *p = xmalloc(large_sizes[i]);
            memset(p, 0xa5, large_sizes[i]);
            free(p);
        }
    }
}

static void realloc_chain(size_t n, const size_t *mult, const size_t *add,
                          int steps, const char *what)
{
    size_t cur = n;
    uint8_t *p = xmalloc(cur);
    fill(p, cur, 1);
    for (int i = 0; i < steps; i++) {
        size_t next = n * mult[i] / 64 + add[i];
        if (next == 0)
            next = 1;
        uint8_t *q = realloc(p, next);
        if (!q)
            setup_fail("realloc(%zu) returned NULL", next);
        verify(q, cur < next ? cur : next, 1, what);
        fill(q, next, 1); /* every byte of the new size */
        p = q;
        cur = next;
    }
    free(p);
}

static void realloc_same(size_t n)
{
    static const size_t mult[] = { 64, 64, 64 }, add[] = { 0, 0, 0 };
    realloc_chain(n, mult, add, 3, "realloc to the same size");
}

/* n-1; then n/2, n/4, n/64, 1 (large shrinks into the mid and tiny
 * tiers). */
static void realloc_shrink(size_t n)
{
    static const size_t mult[] = { 32, 16, 1, 0 };
    static const size_t add[] = { 0, 0, 0, 1 };
    uint8_t *p = xmalloc(n);
    fill(p, n, 2);
    uint8_t *q = realloc(p, n - 1);
    if (!q)
        setup_fail("realloc shrink");
    verify(q, n - 1, 2, "realloc shrink by one");
    free(q);
    realloc_chain(n, mult, add, 4, "realloc shrink");
}

/* n+1, 2n, 11n, 50n: small grows into mid and large, mid into large. */
static void realloc_grow(size_t n)
{
    static const size_t mult[] = { 64, 128, 704, 3200 };
    static const size_t add[] = { 1, 0, 0, 0 };
    realloc_chain(n, mult, add, 4, "realloc grow");
}

/* Blocks of every tier freed in reverse order, then odd/even, then in a
 * shuffled order. */
static void free_order(size_t n)
{
    (void)n;
    enum { N = 1200 };
    void **v = scratch(N);
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            size_t s = i % 100 == 99 ? 40000 + (size_t)i * 37
                     : i % 10 == 9    ? 1025 + (size_t)i * 13 % 30000
                                      : (size_t)i % 1024;
            v[i] = xmalloc(s);
            memset(v[i], i & 0xff, s);
        }
        if (round == 0) {
            for (int i = N - 1; i >= 0; i--)
                free(v[i]);
        } else if (round == 1) {
            for (int i = 1; i < N; i += 2)
                free(v[i]);
            for (int i = 0; i < N; i += 2)
                free(v[i]);
        } else {
            for (int i = N - 1; i > 0; i--) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                int j = (int)(x % (uint64_t)(i + 1));
                void *t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
            for (int i = 0; i < N; i++)
                free(v[i]);
        }
    }
    scratch_free(v, N);
}

static void check_aligned(void *p, size_t align, const char *fn, size_t n)
{
    if (!p)
        setup_fail("%s(%zu, %zu) returned NULL", fn, align, n);
    if ((uintptr_t)p % align)
        wrong("%s(%zu, %zu) = %p is not aligned", fn, align, n, p);
    memset(p, 0xa5, n);
}

/* posix_memalign, aligned_alloc, memalign and valloc at alignments up to
 * 2 MiB and sizes of every tier, every byte written, freed. (No pvalloc:
 * jemalloc does not define it, so glibc's would hand out the block.) */
static void memalign_family(size_t n)
{
    (void)n;
    static const size_t aligns[] = { 8,    16,    32,    64,       128, 256,
                                     1024, 4096,  8192,  65536, 1 << 21 };
    static const size_t sizes[] = { 0, 1, 100, 1000, 3000, 32768, 40000, 100000 };
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t al = aligns[a], sz = sizes[s];
            void *p = NULL;
            if (posix_memalign(&p, al, sz) != 0)
                setup_fail("posix_memalign(%zu, %zu) failed", al, sz);
            if (sz)
                check_aligned(p, al, "posix_memalign", sz);
            free(p);
            if (al >= 16 && sz) {
                /* C11 (before DR 460) wants a multiple of the alignment;
                 * Scudo insists on it */
                size_t rounded = (sz + al - 1) / al * al;
                p = aligned_alloc(al, rounded);
                check_aligned(p, al, "aligned_alloc", rounded);
                free(p);
                p = memalign(al, sz);
                check_aligned(p, al, "memalign", sz);
                free(p);
            }
        }
    }
    void *p = valloc(3000);
    check_aligned(p, 4096, "valloc", 3000);
    free(p);
}

static void malloc0_free(size_t n)
{
    (void)n;
    void *v[100];
    for (int i = 0; i < 100; i++) {
        v[i] = malloc(0);
        if (!v[i])
            continue; /* allowed */
        for (int j = 0; j < i; j++)
            if (v[j] == v[i])
                wrong("malloc(0) returned %p twice", v[i]);
    }
    for (int i = 0; i < 100; i++)
        free(v[i]);
    free(calloc(0, 0));
    free(realloc(NULL, 0));
}

static void free_null(size_t n)
{
    (void)n;
    for (int i = 0; i < 100; i++)
        free(NULL);
    void *p = realloc(NULL, 100); /* realloc(NULL) is malloc */
    if (!p)
        setup_fail("realloc(NULL, 100)");
    memset(p, 1, 100);
    free(p);
    free(NULL);
}

/* Correct cross-thread frees: main's blocks freed by a thread, a thread's
 * blocks freed by main after it exited. */
static void *thread_free_all(void *arg)
{
    void **v = arg;
    for (int i = 0; i < 300; i++) {
        verify(v[i], 64, (uintptr_t)i, "block handed to another thread");
        free(v[i]);
    }
    return NULL;
}

static void *thread_alloc_all(void *arg)
{
    void **v = arg;
    for (int i = 0; i < 300; i++) {
        size_t s = i % 3 == 0 ? 64 : i % 3 == 1 ? 3000 : 100000;
        v[i] = xmalloc(s);
        fill(v[i], 64, (uintptr_t)i);
    }
    return NULL;
}

static void remote_free_ok(size_t n)
{
    (void)n;
    void **v = scratch(300);
    for (int round = 0; round < 4; round++) {
        thread_alloc_all(v);
        on_thread(thread_free_all, v);
        on_thread(thread_alloc_all, v);
        thread_free_all(v);
    }
    scratch_free(v, 300);
}

/* The random workload's payloads: one byte per block (libc memset, fast
 * at -O0), checked at the ends and every 61st byte. */
static uint8_t rbyte(uintptr_t t)
{
    return (uint8_t)(t * 131u + 7u);
}

static void rfill(void *p, size_t n, uintptr_t t)
{
    memset(p, rbyte(t), n);
}

static void rverify(const void *p, size_t n, uintptr_t t, const char *what)
{
    const uint8_t *b = p;
    uint8_t want = rbyte(t);
    for (size_t i = 0; i < n; i += i < 64 || i + 64 >= n ? 1 : 61)
        if (b[i] != want)
            wrong("%s: byte %zu of %zu changed", what, i, n);
}

/* 100k random operations over 2048 slots: malloc, calloc, realloc (grow,
 * shrink), the memalign family and free, sizes of every tier; every
 * payload verified before it is freed or moved. */
static void random_workload(size_t n)
{
    (void)n;
    enum { SLOTS = 2048, OPS = 100000 };
    void **ptr = scratch(SLOTS);
    void **meta = scratch(2 * SLOTS); /* size, tag */
    uint64_t x = 0x9e3779b97f4a7c15ull;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    for (uintptr_t op = 0; op < OPS; op++) {
        unsigned i = (unsigned)(RND() % SLOTS);
        uint64_t r = RND();
        unsigned pick = (unsigned)(r % 100);
        size_t size = pick < 70   ? (size_t)(r >> 8) % 1025
                      : pick < 95 ? 1025 + (size_t)(r >> 8) % 31744
                                  : 32769 + (size_t)(r >> 8) % 300000;
        size_t old = (size_t)(uintptr_t)meta[2 * i];
        uintptr_t tag = (uintptr_t)meta[2 * i + 1];
        if (!ptr[i]) {
            void *p = NULL;
            switch ((r >> 40) % 6) {
            case 0:
                p = calloc(1, size);
                if (p)
                    for (size_t k = 0; k < size; k++)
                        if (((uint8_t *)p)[k])
                            wrong("random: calloc(%zu) byte %zu not zero", size, k);
                break;
            case 1:
                if (posix_memalign(&p, (size_t)16 << ((r >> 50) % 9), size))
                    p = NULL;
                break;
            case 2:
            {
                size_t al = (size_t)64 << ((r >> 50) % 7);
                size = (size + al) / al * al; /* a multiple (Scudo) */
                p = aligned_alloc(al, size);
                break;
            }
            case 3:
                p = realloc(NULL, size);
                break;
            default:
                p = malloc(size);
            }
            if (!p && size)
                setup_fail("random: allocation of %zu failed", size);
            rfill(p, size, op);
            ptr[i] = p;
            meta[2 * i] = (void *)(uintptr_t)size;
            meta[2 * i + 1] = (void *)op;
        } else if (pick % 2 == 0) {
            rverify(ptr[i], old, tag, "random: payload before free");
            free(ptr[i]);
            ptr[i] = NULL;
        } else {
            rverify(ptr[i], old, tag, "random: payload before realloc");
            if (r >> 63)
                size = old / 2; /* shrink */
            if (size == 0)
                size = 1; /* realloc(p, 0) would free p */
            void *q = realloc(ptr[i], size);
            if (!q)
                setup_fail("random: realloc to %zu failed", size);
            rverify(q, old < size ? old : size, tag, "random: payload after realloc");
            rfill(q, size, op);
            ptr[i] = q;
            meta[2 * i] = (void *)(uintptr_t)size;
            meta[2 * i + 1] = (void *)op;
        }
    }
#undef RND
    for (unsigned i = 0; i < SLOTS; i++) {
        if (ptr[i]) {
            rverify(ptr[i], (size_t)(uintptr_t)meta[2 * i],
                   (uintptr_t)meta[2 * i + 1], "random: payload at the end");
            free(ptr[i]);
        }
    }
    scratch_free(ptr, SLOTS);
    scratch_free(meta, 2 * SLOTS);
}

/* ---- The case table ----------------------------------------------------- */

typedef struct mcase {
    const char *name;
    const char *kind; /* misuse, poison, attack, benign */
    void (*fn)(size_t);
    size_t n;
    const char *desc;
} mcase_t;

#define TIERS(name, kind, fn, desc)                                   \
    { name "_small", kind, fn, SMALL, desc },                         \
    { name "_mid", kind, fn, MID, desc },                             \
    { name "_large", kind, fn, LARGE, desc }

static const mcase_t cases[] = {
    TIERS("double_free", "misuse", double_free, "free(p); free(p)"),
    TIERS("double_free_interleaved", "misuse", double_free_interleaved,
          "free(p), 39 other frees, 5 mallocs of the size (p freed again if it is one of them), free(p)"),
    TIERS("double_free_remote_then_main", "misuse", double_free_remote_then_main,
          "another thread frees p, then main (the allocating thread) frees it"),
    TIERS("double_free_two_threads", "misuse", double_free_two_threads,
          "main allocates p, thread A frees it, thread B frees it again"),
    { "free_stack", "misuse", free_stack, 0, "free of a stack array" },
    { "free_global", "misuse", free_global, 0, "free of a global array" },
    { "free_mmap", "misuse", free_mmap, 0, "free of a foreign 1 MiB mmap" },
    TIERS("free_interior16", "misuse", free_interior16, "free(p + 16)"),
    TIERS("free_interior1", "misuse", free_interior1, "free(p + 1)"),
    { "free_interior_page_large", "misuse", free_interior_page, LARGE,
      "free(p + 4096) of a large block" },
    TIERS("realloc_freed", "misuse", realloc_freed, "free(p); realloc(p, 2n)"),
    { "realloc_stack", "misuse", realloc_stack, 0, "realloc of a stack array" },
    { "realloc_global", "misuse", realloc_global, 0, "realloc of a global array" },
    { "realloc_mmap", "misuse", realloc_mmap, 0, "realloc of a foreign mmap" },
    TIERS("freelist_poison", "poison", freelist_poison,
          "free(x), free(p), p[0] = chosen address, p[1] = 0, malloc until p is "
          "back and once more: chosen address returned = exploited"),
    TIERS("overflow1", "misuse", overflow1,
          "p[n] written (one byte past the requested size), free(p)"),
    { "overflow_next_small", "misuse", overflow_next, SMALL,
      "a's overflow runs through the first 16 bytes of the freed block "
      "after it, then 3 mallocs and frees" },
    { "overflow_next_mid", "misuse", overflow_next, MID,
      "a's overflow runs through the first 16 bytes of the freed block "
      "after it, then 3 mallocs and frees" },
    TIERS("write_after_free", "misuse", write_after_free,
          "free(p), 8 bytes written at p + n/2, malloc until p is back, free all"),
    { "read_zero_size", "misuse", read_zero_size, 0, "p = malloc(0); read p[0]; free(p)" },
    { "write_zero_size", "misuse", write_zero_size, 0, "p = malloc(0); p[0] = 1; free(p)" },
    { "uaf_read_large", "misuse", uaf_read_large, (size_t)128 << 10,
      "free(p), then p read (first, middle and last byte)" },
    { "uaf_write_large", "misuse", uaf_write_large, (size_t)128 << 10,
      "free(p), then 8 bytes written at p + n/2" },
    { "overflow_large_page", "misuse", overflow_large_page, ((size_t)128 << 10) - 16,
      "after a small block: p[malloc_usable_size(p)] written (the first byte "
      "past the block's pages), free(p)" },
    { "write_after_free_small_reuse", "misuse", write_after_free_reuse, SMALL,
      "free(p), 8 bytes written at p + n/2, one malloc(n): p back = missed, "
      "another block = not reused (exit 4)" },
    { "write_after_free_large_reuse", "misuse", write_after_free_reuse, LARGE,
      "as write_after_free_small_reuse, for a large block" },
    { "attack_large_overflow_meta", "attack", attack_large_overflow_meta, (size_t)128 << 10,
      "a small block, 4 large ones; each large block followed by memory the "
      "allocator mapped (no block) is overflowed by up to 64 KiB of records "
      "naming a global; malloc(16) and free(global) + malloc: the global back = exploited" },
    { "attack_large_overflow_table", "attack", attack_large_overflow_table, LREQ,
      "as attack_large_overflow_meta with 640 large blocks and no small one "
      "(a table of large blocks grows and is mapped anew)" },
    { "attack_freelist_self_small", "attack", attack_freelist_self, SMALL,
      "free(q), free(p), p[0] ^= q ^ p (p's link then names p), 64 mallocs: "
      "a block handed out twice = exploited" },
    { "attack_freelist_self_mid", "attack", attack_freelist_self, MID,
      "free(q), free(p), p[0] ^= q ^ p (p's link then names p), 64 mallocs: "
      "a block handed out twice = exploited" },
    { "attack_leaked_keys_small", "attack", attack_leaked_keys, 96,
      "link key read from a fresh block, tag secret from a freed one; a "
      "freed link aimed at 16 bytes before a live victim; its function "
      "pointer overwritten through the overlapping chunk = exploited" },
    { "attack_double_free_tag_small", "attack", attack_double_free_tag, SMALL,
      "free(p), p's word at offset 8 decremented, free(p), 64 mallocs: a "
      "block handed out twice = exploited" },
    { "attack_uncarved_slot_small", "attack", attack_uncarved_slot, SMALL,
      "realloc of the 100th slot of a fresh size class (never handed out), "
      "300 mallocs: one overlapping it = exploited" },
    { "attack_uncarved_usable_small", "misuse", attack_uncarved_usable, SMALL,
      "malloc_usable_size of the 100th slot of a fresh size class (never "
      "handed out): a size returned = missed" },
    { "attack_forged_remote_node", "attack", attack_forged_remote_node, SMALL,
      "queue key and tag secret read from a block another thread freed; its "
      "link rewritten to name a live block v (v's own words forged as a "
      "queued node); 256 mallocs: v handed out again = exploited" },
    TIERS("exact_size", "benign", exact_size,
          "every byte of the requested size written, for every size of the tier"),
    TIERS("realloc_same", "benign", realloc_same, "realloc to the same size, 3 times"),
    TIERS("realloc_shrink", "benign", realloc_shrink,
          "realloc to n-1, n/2, n/4, n/64, 1 (contents kept)"),
    TIERS("realloc_grow", "benign", realloc_grow,
          "realloc to n+1, 2n, 11n, 50n (into the next tiers; contents kept)"),
    { "free_order", "benign", free_order, 0,
      "1200 blocks of every tier freed in reverse, odd/even and shuffled order" },
    { "memalign_family", "benign", memalign_family, 0,
      "posix_memalign/aligned_alloc/memalign (alignment 8 B - 2 MiB, sizes of "
      "every tier), valloc; every byte written; free" },
    { "malloc0_free", "benign", malloc0_free, 0,
      "100 malloc(0) (distinct), calloc(0, 0), realloc(NULL, 0), all freed" },
    { "free_null", "benign", free_null, 0, "free(NULL); realloc(NULL, n)" },
    { "remote_free_ok", "benign", remote_free_ok, 0,
      "blocks freed by a thread that did not allocate them, both directions" },
    { "random_100k", "benign", random_workload, 0,
      "100k random malloc/calloc/realloc/memalign/free over 2048 slots, "
      "every payload verified" },
};
#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv)
{
    main_argv = argv;
    if (argc != 2) {
        fprintf(stderr, "usage: %s --list | <case>\n", argv[0]);
        return EXIT_SETUP;
    }
    if (strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < NCASES; i++) {
            printf("%s\t%s\t%s", cases[i].name, cases[i].kind, cases[i].desc);
            if (cases[i].n)
                printf(" [n=%zu]", cases[i].n);
            printf("\n");
        }
        return 0;
    }
    for (size_t i = 0; i < NCASES; i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            cases[i].fn(cases[i].n);
            return 0;
        }
    }
    fprintf(stderr, "misuse: no case %s (see --list)\n", argv[1]);
    return EXIT_SETUP;
}
