/* debug.c — the per-block checks: built in by the knobs of types.h (all
 * of them in the debug flavour), or chosen with HAKMEM_SECURITY in
 * release (hooks.h).
 *
 * State they keep per block, beside the always-on slot bitmap:
 *   slot_req  out-of-line per-slot word: HAK_SLOT_FRESH until the slot is
 *             first handed out, HAK_SLOT_LIVE + requested size while the
 *             block is live (or freed by another thread and not merged),
 *             HAK_SLOT_FREE once freed. Only the owner writes it; a remote
 *             freer reads it.
 *   canary    bytes [requested, span) of a live block hold HAK_CANARY_BYTE,
 *             span being hak_checked_span: the class size and the first
 *             bytes of the canary room the stride keeps after it
 *             (hak_canary_room), so even a request of the class's whole
 *             size has canary bytes after it and a one-byte overflow is
 *             caught at free. Large blocks: see hooks.h.
 *   poison    every byte of a freed block's span holds HAK_POISON_BYTE; verified
 *             when it is handed out again (fresh slots are not poisoned:
 *             their pages stay untouched until the program writes them).
 */
#include "hooks.h"

#include <string.h>

#include "os.h"
#include "vg.h"

#define SLOTS_PER_SS (HAK_SS_SIZE / HAK_ALIGN)

uint32_t *hak_chk_slot_map(void)
{
    return hak_os_map_meta(SLOTS_PER_SS * sizeof(uint32_t));
}

void hak_chk_slot_unmap(uint32_t *map)
{
    if (map)
        hak_os_unmap_meta(map, SLOTS_PER_SS * sizeof(uint32_t));
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
static const uint8_t pattern_zero[PATTERN_RUN];

/* Not worth the fuzzers' coverage instrumentation, which made the old
 * byte loop most of a fuzz run's time. */
HAK_NO_COVERAGE
static size_t find_not(const uint8_t *b, size_t from, size_t to, uint8_t byte)
{
    const uint8_t *run = byte == HAK_POISON_BYTE ? pattern_poison
                         : byte == HAK_CANARY_BYTE ? pattern_canary
                                                   : pattern_zero;
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
size_t hak_chk_first_not(const uint8_t *b, size_t from, size_t to,
                         uint8_t byte)
{
    if (from >= to)
        return to;
    HAK_VG_DEFINED(b + from, to - from);
    size_t r = find_not(b, from, to, byte);
    HAK_VG_NOACCESS(b + from, to - from);
    return r;
}
#define first_not hak_chk_first_not

static void paint(uint8_t *b, size_t from, size_t to, uint8_t byte)
{
    if (from >= to)
        return;
    HAK_VG_UNDEFINED(b + from, to - from);
    memset(b + from, byte, to - from);
    HAK_VG_NOACCESS(b + from, to - from);
}

static void poison(hak_slab_t *s, uint8_t *b)
{
    if (hak_poison_on())
        paint(b, 0, hak_checked_span(s->cls), HAK_FREE_BYTE);
}

static void set_canary(hak_slab_t *s, uint8_t *b, size_t req)
{
    if (hak_canary_on())
        paint(b, req, hak_checked_span(s->cls), HAK_CANARY_BYTE);
}

/* A freed block's fill is intact (when poison is on). */
static void check_poison(hak_slab_t *s, const uint8_t *b)
{
    if (!hak_poison_on())
        return;
    size_t end = hak_checked_span(s->cls);
    size_t bad = first_not(b, 0, end, HAK_FREE_BYTE);
    if (bad != end)
        fail(HAK_CHECK_POISON, b, s, " offset=", bad, NULL, 0);
}

void hak_chk_on_slab_init(hak_superslab_t *ss, hak_slab_t *s)
{
    /* Called before hak_slab_init resets the cursor: only slots of words up
     * to the last use's top were ever handed out, so only their states
     * can differ from HAK_SLOT_FRESH (the map starts zeroed). Clearing
     * the whole per-slab span would touch 16 KiB (tiny) or 64 KiB (mid)
     * for a slab that hands out one block. */
    size_t per_slab = (size_t)1 << (ss->slab_shift - 4);
    size_t dirty = ((size_t)s->top + 1) * 64;
    memset(&ss->slot_req[s->index * per_slab], 0,
           (dirty < per_slab ? dirty : per_slab) * sizeof(uint32_t));
}

void hak_chk_on_alloc(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b)
{
    /* The one stride: a block handed out ends within its slab. */
    uint8_t *end = s->start + ((size_t)1 << ss->slab_shift);
    if (hak_bounds_on() && (b < s->start || b + hak_footprint(s->cls) > end))
        fail(HAK_CHECK_CARVE, b, s, " index=",
             (uint64_t)(b - s->start) / s->stride, " capacity=", s->capacity);
    if (!hak_slots_kept())
        return;
    uint32_t *slot = slot_of(ss, s, b);
    if (*slot >= HAK_SLOT_LIVE)
        fail(HAK_CHECK_HEAP, b, s, " (handed out while live) requested=",
             *slot - HAK_SLOT_LIVE, NULL, 0);
    if (*slot == HAK_SLOT_FREE)
        check_poison(s, b);
}

void hak_chk_still_free(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b)
{
    if (*slot_of(ss, s, b) == HAK_SLOT_FREE)
        check_poison(s, b);
}

void hak_chk_arm(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b, size_t req)
{
    *slot_of(ss, s, b) = (uint32_t)req + HAK_SLOT_LIVE;
    set_canary(s, b, req);
}

static void check_canary(hak_slab_t *s, uint8_t *b, size_t req)
{
    if (!hak_canary_on())
        return;
    size_t end = hak_checked_span(s->cls);
    size_t bad = first_not(b, req, end, HAK_CANARY_BYTE);
    if (bad != end)
        fail(HAK_CHECK_CANARY, b, s, " requested=", req, " offset=", bad);
}

void hak_chk_on_free(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b,
                     int local)
{
    uint32_t *slot = slot_of(ss, s, b);
    if (*slot < HAK_SLOT_LIVE)
        fail(HAK_CHECK_DOUBLE_FREE, b, s, NULL, 0, NULL, 0);
    check_canary(s, b, *slot - HAK_SLOT_LIVE);
    if (local) {
        *slot = HAK_SLOT_FREE;
        poison(s, b);
    }
}

void hak_chk_on_drain(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b)
{
    uint32_t *slot = slot_of(ss, s, b);
    if (*slot < HAK_SLOT_LIVE)
        hak_report(HAK_CHECK_DOUBLE_FREE, b, slab_where(s),
                   " (freed by another thread while not live)");
    *slot = HAK_SLOT_FREE;
    poison(s, b);
}

size_t hak_chk_requested(hak_superslab_t *ss, hak_slab_t *s, const void *b)
{
    uint32_t v = *slot_of(ss, s, b);
    return v >= HAK_SLOT_LIVE ? v - HAK_SLOT_LIVE : 0;
}

uint32_t hak_chk_slot_value(hak_superslab_t *ss, hak_slab_t *s, const void *b)
{
    return *slot_of(ss, s, b);
}

void hak_chk_resize(hak_superslab_t *ss, hak_slab_t *s, uint8_t *b,
                    size_t req)
{
    uint32_t *slot = slot_of(ss, s, b);
    check_canary(s, b, *slot - HAK_SLOT_LIVE);
    *slot = (uint32_t)req + HAK_SLOT_LIVE;
    set_canary(s, b, req);
}

/* ---- Large blocks ---------------------------------------------------------- */

static size_t large_canary_len(size_t req, size_t rw)
{
    return rw - req < HAK_LARGE_CANARY ? rw - req : HAK_LARGE_CANARY;
}
static size_t large_front_len(size_t lead)
{
    return lead < HAK_LARGE_CANARY ? lead : HAK_LARGE_CANARY;
}

void hak_chk_large_arm(uint8_t *b, size_t req, size_t rw, size_t lead)
{
    memset(b + req, HAK_CANARY_BYTE, large_canary_len(req, rw));
    /* The front is no-access to memcheck but the canary's own. */
    const size_t f = large_front_len(lead);
    HAK_VG_UNDEFINED(b - f, f);
    memset(b - f, HAK_CANARY_BYTE, f);
    HAK_VG_NOACCESS(b - f, f);
}

void hak_chk_large_check(const uint8_t *b, size_t req, size_t rw,
                         size_t lead, size_t map)
{
    const size_t end = req + large_canary_len(req, rw);
    const size_t f = large_front_len(lead);
    const size_t bad = first_not(b, req, end, HAK_CANARY_BYTE);
    /* The front's damaged byte farthest from the block: how far an
     * underflow reached (f: none). */
    const size_t front = first_not(b - f, 0, f, HAK_CANARY_BYTE);
    if (bad == end && front == f)
        return;
    char d[80];
    hak_fmt_t fmt = { d, 0, sizeof d };
    hak_fmt_str(&fmt, " requested=");
    hak_fmt_dec(&fmt, req);
    hak_fmt_str(&fmt, bad != end ? " offset=" : " offset=-");
    hak_fmt_dec(&fmt, bad != end ? bad : f - front);
    hak_report(HAK_CHECK_CANARY, b, (hak_where_t){ HAK_WHERE_LARGE, map, NULL },
               d);
}
