/* sized.c — sized frees: C23 free_sized / free_aligned_sized and C++'s
 * sized operator delete (src/dropin_cxx.cc).
 *
 * The caller tells us the size (and alignment) the block was allocated
 * with; a size the block cannot have been allocated with is a heap bug in
 * the caller (a delete through the wrong type, an array deleted as a
 * scalar, a free of the wrong pointer) and aborts with "sized free
 * mismatch". What "could have been allocated with" means:
 *   large blocks   n is the requested size (the table keeps it exactly);
 *                  aligned: no class serves (n, align) and the block sits
 *                  on a multiple of align.
 *   small, debug   n is the requested size (the per-slot state keeps it);
 *                  aligned: the class is the one for (n, align), as below.
 *   small, release the block's class is the one the allocation path picks
 *                  for (n, align) — hak_class_aligned, hak_class_of for
 *                  align <= 16 — or, for hak_free_sized only, one that
 *                  hak_realloc keeps a block of n bytes in, in place
 *                  (hak_realloc_keeps: C23 allows free_sized on realloc's
 *                  results). Sizes of one class are not told apart.
 * A pointer that is no live block is reported as by usable-size ("invalid
 * free", "misaligned free"; a freed one "(block is free)" / "(large block
 * already freed)"). Then the block is freed by hak_free, with every check
 * of a plain free. In release a small block's check is the registry byte,
 * its slab's class and a compare; debug validates the block first.
 */
#include "hakmem.h"

#include "alloc.h"
#include "heap.h"
#include "hooks.h"
#include "large.h"
#include "registry.h"
#include "size_class.h"
#include "superslab.h"
#include "zero.h"

/* The class the allocation path picks for n bytes aligned to align (a
 * power of two), or HAK_CLASS_NONE for the large tier (api.c's
 * alloc_aligned; hak_malloc for align <= HAK_ALIGN). */
HAK_INLINE unsigned class_for(size_t n, size_t align)
{
    if (align <= HAK_ALIGN && n - 1 < HAK_SMALL_LIMIT)
        return hak_class_of(n); /* every class size is a multiple of 16 */
    unsigned c = hak_class_aligned(n, align);
    return c < HAK_NUM_CLASSES ? c : HAK_CLASS_NONE;
}

static int bad_alignment(int aligned, size_t align)
{
    return aligned && (align == 0 || (align & (align - 1)));
}

/* The line for a mismatch size_fits found, recomputing what it names:
 * " (given size=N[ alignment=A], <block requested=R | class size=S |
 * large block at alignment=X | not a power of two>)". Out of line, so the
 * check itself keeps nothing live for it. */
HAK_COLD static void report_mismatch(const void *p, int aligned, size_t align,
                                     size_t n)
{
    char d[128];
    hak_fmt_t f = { d, 0, sizeof d };
    hak_where_t w = { HAK_WHERE_NONE, 0, NULL };
    const char *what;
    size_t v = 0;
    unsigned tier = registry_tier((uintptr_t)p);
    if (bad_alignment(aligned, align)) {
        what = "not a power of two";
    } else if (tier == HAK_TIER_ZERO) {
        (void)hak_zero_usable(p, HAK_CHECK_INVALID_FREE);
        w = (hak_where_t){ HAK_WHERE_ZERO, 0, NULL };
        what = "block requested=";
    } else if (tier) {
        hak_small_ref_t r = hak_small_validate(p, HAK_CHECK_INVALID_FREE);
        w = slab_where_shared(r.slab);
        size_t req = hak_requested(r.ss, r.slab, p);
        what = hak_slots_kept() && n != req ? "block requested="
                                              : "class size=";
        v = hak_slots_kept() && n != req ? req : w.size;
    } else {
        v = hak_large_requested(p, HAK_CHECK_INVALID_FREE);
        w = (hak_where_t){ HAK_WHERE_LARGE, v, NULL };
        what = "block requested=";
        if (n == v) {
            what = "large block at alignment=";
            v = (uintptr_t)p & -(uintptr_t)p;
        }
    }
    hak_fmt_str(&f, " (given size=");
    hak_fmt_dec(&f, n);
    if (aligned) {
        hak_fmt_str(&f, " alignment=");
        hak_fmt_dec(&f, align);
    }
    hak_fmt_str(&f, ", ");
    hak_fmt_str(&f, what);
    if (w.cls != HAK_WHERE_NONE)
        hak_fmt_dec(&f, v);
    hak_fmt_str(&f, ")");
    hak_report(HAK_CHECK_SIZE, p, w, d);
}

/* Release's verdict for a small block in slab s: its class is want, the
 * class of (n, align), or, for hak_free_sized, one hak_realloc keeps n
 * bytes in. p may be no live block of a slab another thread owns: the
 * class is read as slab.h's shared view (NONE: not in use). */
HAK_INLINE int class_fits(const hak_slab_t *s, unsigned want, int aligned,
                          size_t n)
{
    unsigned c = slab_cls_shared(s);
    return c == want ||
           (!aligned && c < HAK_NUM_CLASSES && hak_realloc_keeps(n, c));
}

/* Whether (align, n) can be what block p was allocated with. aligned:
 * hak_free_aligned_sized's; else hak_free_sized's n, a block of malloc,
 * calloc or realloc. In release a small block's class is read from its
 * slab's descriptor (metadata, readable for any address the registry
 * calls ours; through slab.h's shared view, as p may be in a slab its
 * owner is setting up right now) without validating p: the free that
 * follows validates it, and a mismatch validates it first
 * (report_mismatch), so a bad pointer is still reported as one. Debug needs the slot's requested size, so it
 * validates. */
HAK_INLINE int size_fits(const void *p, int aligned, size_t align, size_t n)
{
    if (bad_alignment(aligned, align))
        return 0;
    unsigned want = class_for(n, aligned ? align : HAK_ALIGN);
    uintptr_t a = (uintptr_t)p;
    unsigned tier = registry_tier(a);
    if (tier == HAK_TIER_ZERO) /* malloc(0) and friends: n is 0 */
        return n == 0;
    if (tier) {
        if (hak_slots_kept()) { /* the size is exact; the alignment the
                                  * class's */
            hak_small_ref_t r = hak_small_validate(p, HAK_CHECK_INVALID_FREE);
            return n == hak_requested(r.ss, r.slab, p) &&
                   (!aligned || r.slab->cls == want);
        }
        return class_fits(slab_of(ss_of(a), a), want, aligned, n);
    }
    /* A large block of (n, align) comes from the aligned path only if no
     * class serves them, and sits on a multiple of align. */
    return n == hak_large_requested(p, HAK_CHECK_INVALID_FREE) &&
           (!aligned ||
            (want == HAK_CLASS_NONE && !((uintptr_t)p & (align - 1))));
}

/* Release's common case, a sized free (or delete) of a block of the
 * thread's hot superslabs, for n bytes at most 16-byte aligned: its
 * superslab is the thread's own, so its slab's class is read plainly,
 * with no registry lookup, and the class of n matching it is the whole
 * check (hak_class_of(n) is every such alignment's class). 0 for
 * anything else (another class, a slab not in use, another superslab,
 * NULL, n == 0): size_fits decides. While HAKMEM_SECURITY is set no
 * superslab is hot (the thread's hot part is the static one), so only
 * builds that keep the slots (the size is exact there) need saying no. */
HAK_INLINE int fits_hot(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, shift = hot_shift(hak_tls_hot, a);
    return !HAK_SLOTSTATE && hot_hit(shift) && n - 1 < HAK_SMALL_LIMIT &&
           hot_slab(shift, a)->cls == hak_class_of(n);
}

/* Anything else: size_fits decides, with every check of a plain free
 * after it; the report of a mismatch validates p first. */
HAK_NOINLINE static void free_sized_checked(void *p, int aligned, size_t align,
                                            size_t n)
{
    if (!p)
        return;
    if (HAK_UNLIKELY(!size_fits(p, aligned, align, n)))
        report_mismatch(p, aligned, align, n);
    hak_free(p);
}

/* Not in a hot superslab. Release,
 * HAKMEM_SECURITY off: a small block's class is the whole check, as in
 * size_fits, and then the registry's answer is not asked for again: the
 * block goes the way of free's own after the registry (hak_free_small).
 * Anything else: free_sized_checked. */
HAK_NOINLINE static void free_sized_cold(void *p, int aligned, size_t align,
                                         size_t n)
{
    uintptr_t a = (uintptr_t)p;
    unsigned tier = registry_tier(a);
    if (!HAK_SLOTSTATE && !hak_sec() &&
        HAK_TIER_IS_SLAB(tier) &&
        !bad_alignment(aligned, align)) {
        hak_superslab_t *ss = ss_of(a);
        if (class_fits(slab_of(ss, a), class_for(n, aligned ? align : HAK_ALIGN),
                       aligned, n)) {
            hak_free_small(ss, p);
            return;
        }
    }
    free_sized_checked(p, aligned, align, n);
}

/* p is in a hot superslab (fits_hot): hak_free's fast path, without
 * its test again. */
HAK_INLINE void free_hot(void *p)
{
    const hak_heap_hot_t *hot = hak_tls_hot;
    uintptr_t a = (uintptr_t)p;
    free_local_in(heap_of_hot(hot), ss_of(a), hot_slab(hot_shift(hot, a), a),
                  p);
}

void hak_free_sized(void *p, size_t n)
{
    if (HAK_LIKELY(fits_hot(p, n))) {
        free_hot(p);
        return;
    }
    free_sized_cold(p, 0, 0, n);
}

void hak_free_aligned_sized(void *p, size_t align, size_t n)
{
    if (HAK_LIKELY(align - 1 < HAK_ALIGN && !(align & (align - 1)) &&
                   fits_hot(p, n))) {
        free_hot(p);
        return;
    }
    free_sized_cold(p, 1, align, n);
}
