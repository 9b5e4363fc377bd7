/* debug.c — the debug flavour's per-block checks (see hooks.h).
 *
 * State a debug build keeps per block, beside the always-on tag:
 *   slot_req  out-of-line per-slot word: requested size + 1 while the block
 *             is live (or in a remote queue), 0 while it is free. Only the
 *             owner writes it; a remote freer reads it.
 *   canary    bytes [requested, stride) of a live block hold HAK_CANARY_BYTE;
 *             the class is chosen with at least one slack byte, so a
 *             one-byte overflow is caught at free.
 *   poison    bytes [16, stride) of a free block hold HAK_POISON_BYTE (the
 *             first 16 are its link and tag); verified when it is reused.
 */
#include "hooks.h"

#if HAK_DEBUG
#include <string.h>

#include "os.h"
#include "remote.h"
#include "vg.h"

#define SLOTS_PER_SS (HAK_SS_SIZE / HAK_ALIGN)

uint32_t *hak_dbg_slot_map(void)
{
    return os_map(SLOTS_PER_SS * sizeof(uint32_t));
}

void hak_dbg_slot_unmap(uint32_t *map)
{
    if (map)
        os_unmap(map, SLOTS_PER_SS * sizeof(uint32_t));
}

static void fail(const char *check, const void *p, const hak_slab_t *s,
                 const char *what, uint64_t a, const char *what2, uint64_t b)
{
    char detail[160];
    hak_fmt_t f = { detail, 0, sizeof detail };
    if (what) {
        hak_fmt_str(&f, what);
        hak_fmt_dec(&f, a);
    }
    if (what2) {
        hak_fmt_str(&f, what2);
        hak_fmt_dec(&f, b);
    }
    hak_report(check, p, slab_where(s), what ? detail : NULL);
}

static uint32_t *slot_of(hak_superslab_t *ss, hak_slab_t *s, const void *b)
{
    uint32_t i = slab_index(s, (uintptr_t)b, s->capacity);
    if (i == UINT32_MAX)
        fail(HAK_CHECK_HEAP, b, s, " (not a slot of its slab)", 0, NULL, 0);
    size_t per_slab = (size_t)1 << (ss->slab_shift - 4);
    return &ss->slot_req[s->index * per_slab + i];
}

/* Scans are most of the debug flavour's cost on mid blocks (a 32 KiB
 * block is filled and verified at every free and reuse), so the bulk of a
 * range is compared with memcmp against a run of the expected byte —
 * libc's vector compare — and only a differing run is walked bytewise. */
#define PATTERN_RUN 1024
static const uint8_t pattern_poison[PATTERN_RUN] = {
    [0 ... PATTERN_RUN - 1] = HAK_POISON_BYTE
};
static const uint8_t pattern_canary[PATTERN_RUN] = {
    [0 ... PATTERN_RUN - 1] = HAK_CANARY_BYTE
};

/* Not worth the fuzzers' coverage instrumentation, which made the old
 * byte loop most of a fuzz run's time. */
HAK_NO_COVERAGE
static size_t find_not(const uint8_t *b, size_t from, size_t to, uint8_t byte)
{
    const uint8_t *run =
        byte == HAK_POISON_BYTE ? pattern_poison : pattern_canary;
    size_t i = from;
    while (to - i >= PATTERN_RUN && memcmp(b + i, run, PATTERN_RUN) == 0)
        i += PATTERN_RUN;
    if (to - i < PATTERN_RUN && memcmp(b + i, run, to - i) == 0)
        return to;
    for (; i < to; i++)
        if (b[i] != byte)
            return i;
    return to;
}
/* Canary and poison bytes are no-access to the program under memcheck;
 * the allocator opens them for its own scans and fills only. */
HAK_NO_COVERAGE
size_t hak_dbg_first_not(const uint8_t *b, size_t from, size_t to,
                         uint8_t byte)
{
    if (from >= to)
        return to;
    HAK_VG_DEFINED(b + from, to - from);
    size_t r = find_not(b, from, to, byte);
    HAK_VG_NOACCESS(b + from, to - from);
    return r;
}
#define first_not hak_dbg_first_not

static void paint(uint8_t *b, size_t from, size_t to, uint8_t byte)
{
    if (from >= to)
        return;
    HAK_VG_UNDEFINED(b + from, to - from);
    memset(b + from, byte, to - from);
    HAK_VG_NOACCESS(b + from, to - from);
}

static void poison(hak_slab_t *s, hak_block_t *b)
{
    paint((uint8_t *)b, sizeof *b, s->stride, HAK_POISON_BYTE);
}

static void set_canary(hak_slab_t *s, hak_block_t *b, size_t req)
{
    paint((uint8_t *)b, req, s->stride, HAK_CANARY_BYTE);
}

void hak_dbg_on_alloc(hak_superslab_t *ss, hak_slab_t *s, hak_block_t *b)
{
    uint32_t *slot = slot_of(ss, s, b);
    if (*slot != 0)
        fail(HAK_CHECK_HEAP, b, s, " (handed out while live, requested=",
             *slot - 1, ")", 0);
    if (b->tag != tag_free(b))
        fail(HAK_CHECK_POISON, b, s, " offset=", 8, NULL, 0);
    size_t bad = first_not((uint8_t *)b, sizeof *b, s->stride,
                           HAK_POISON_BYTE);
    if (bad != s->stride)
        fail(HAK_CHECK_POISON, b, s, " offset=", bad, NULL, 0);
}

void hak_dbg_arm(hak_superslab_t *ss, hak_slab_t *s, hak_block_t *b,
                 size_t req)
{
    *slot_of(ss, s, b) = (uint32_t)req + 1;
    set_canary(s, b, req);
}

static void check_canary(hak_slab_t *s, hak_block_t *b, size_t req)
{
    size_t bad = first_not((uint8_t *)b, req, s->stride, HAK_CANARY_BYTE);
    if (bad != s->stride)
        fail(HAK_CHECK_CANARY, b, s, " requested=", req, " offset=", bad);
}

void hak_dbg_on_free(hak_superslab_t *ss, hak_slab_t *s, hak_block_t *b,
                     int local)
{
    uint32_t *slot = slot_of(ss, s, b);
    if (*slot == 0)
        fail(HAK_CHECK_DOUBLE_FREE, b, s, NULL, 0, NULL, 0);
    check_canary(s, b, *slot - 1);
    if (local) {
        *slot = 0;
        poison(s, b);
    }
}

void hak_dbg_on_drain(hak_superslab_t *ss, hak_slab_t *s, hak_block_t *b)
{
    uint32_t *slot = slot_of(ss, s, b);
    if (*slot == 0)
        fail(HAK_CHECK_DOUBLE_FREE, b, s, " (in a remote queue twice)", 0,
             NULL, 0);
    *slot = 0;
    poison(s, b);
}

void hak_dbg_on_carve(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b)
{
    uint8_t *end = s->start + ((size_t)1 << ss->slab_shift);
    if (b < s->start || b + hak_footprint(s->cls) > end)
        fail(HAK_CHECK_CARVE, b, s, " carved=", s->carved, " capacity=",
             s->capacity);
    poison(s, (hak_block_t *)b);
}

void hak_dbg_sanitize_chain(hak_heap_t *h, hak_block_t *chain)
{
    /* `slow` follows at half speed over nodes already validated: if the
     * chain loops (a block queued twice), b meets it. */
    hak_block_t *slow = chain;
    unsigned long n = 0;
    for (hak_block_t *b = chain; b; b = block_decode(b, h->remote.key)) {
        hak_slab_t *s = remote_node_check(h, b);
        hak_superslab_t *ss = ss_of((uintptr_t)b);
        if (*slot_of(ss, s, b) == 0)
            hak_report(HAK_CHECK_DOUBLE_FREE, b, slab_where(s),
                       " (in a remote queue while free)");
        /* At the 2k-th node b is node 2k-1 and slow node k-1: equal only
         * on a loop. */
        if (++n % 2 == 0) {
            if (slow == b)
                hak_report(HAK_CHECK_REMOTE, b, slab_where(s),
                           " (remote chain loops: a block queued twice)");
            slow = block_decode(slow, h->remote.key);
        }
    }
}

size_t hak_dbg_requested(hak_superslab_t *ss, hak_slab_t *s, const void *b)
{
    uint32_t v = *slot_of(ss, s, b);
    return v ? v - 1 : 0;
}

uint32_t hak_dbg_slot_value(hak_superslab_t *ss, hak_slab_t *s, const void *b)
{
    return *slot_of(ss, s, b);
}

void hak_dbg_resize(hak_superslab_t *ss, hak_slab_t *s, hak_block_t *b,
                    size_t req)
{
    uint32_t *slot = slot_of(ss, s, b);
    check_canary(s, b, *slot - 1);
    *slot = (uint32_t)req + 1;
    set_canary(s, b, req);
}
#endif
