/* stats.c — counters summed over every heap, and the HAKMEM_STATS report.
 * Counters are per-heap relaxed atomics written by their owner alone
 * (hak_counter_t, types.h), so reading them from here while the owners
 * run is no data race; the sums are read at exit or on request and may be
 * a little stale while other threads run, which statistics tolerate. */
#include <fcntl.h>
#include <unistd.h>

#include "hakmem.h"

#include "heap.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "size_class.h"
#include "zero.h"

typedef struct class_sum {
    uint64_t alloc, remote, refill;
} class_sum_t;

typedef struct sums {
    class_sum_t cls[HAK_NUM_CLASSES];
    uint64_t frees;  /* owner frees; per heap, not per class (one add on
                      * the fast path), so per class only remote ones */
    uint64_t drains, slab_new, slab_free, ss_new, ss_free, heaps, live_heaps;
} sums_t;

static void add_heap(hak_heap_t *h, void *arg)
{
    sums_t *s = arg;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        s->cls[c].alloc += hak_counter(&h->nalloc[c]);
        s->cls[c].remote += hak_counter(&h->cls[c].nremote);
        s->cls[c].refill += hak_counter(&h->cls[c].nrefill);
    }
    s->frees += hak_counter(&h->nfree);
    s->drains += hak_counter(&h->ndrain);
    s->slab_new += hak_counter(&h->nslab_new);
    s->slab_free += hak_counter(&h->nslab_free);
    s->ss_new += hak_counter(&h->nss_new);
    s->ss_free += hak_counter(&h->nss_free);
    s->heaps++;
    s->live_heaps += atomic_load_explicit(&h->state, memory_order_relaxed) ==
                     HAK_HEAP_LIVE;
}

static void collect(sums_t *s)
{
    *s = (sums_t){ 0 };
    hak_heap_each(add_heap, s);
}

void hak_stats_get(hak_stats_t *out)
{
    sums_t s;
    collect(&s);
    *out = (hak_stats_t){ 0 };
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        out->allocs += s.cls[c].alloc;
        out->remote_frees += s.cls[c].remote;
        out->refills += s.cls[c].refill;
    }
    uint64_t live, cached;
    hak_large_stats(&out->large_allocs, &out->large_frees, &live, &cached);
    out->frees = s.frees + out->remote_frees;
    out->allocs += out->large_allocs;
    out->frees += out->large_frees;
    uint64_t zallocs, zfrees;
    hak_zero_stats(&zallocs, &zfrees);
    out->allocs += zallocs;
    out->frees += zfrees;
    out->drains = s.drains;
    out->slabs_mapped = s.slab_new;
    out->slabs_returned = s.slab_free;
    out->superslabs_mapped = s.ss_new;
    out->superslabs_returned = s.ss_free;
    out->mapped_bytes = hak_os_mapped_bytes();
    out->peak_mapped_bytes = hak_os_peak_mapped_bytes();
}

/* ---- The report --------------------------------------------------------- */

/* On the caller's stack (two threads may print at once), small enough
 * for an exit handler's. */
typedef struct out {
    int fd;
    hak_fmt_t f;
    char buf[1024];
} out_t;

static void flush(out_t *o)
{
    size_t done = 0;
    while (done < o->f.len) {
        ssize_t n = write(o->fd, o->buf + done, o->f.len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    o->f.len = 0;
}

static void put(out_t *o, const char *s)
{
    if (o->f.len + 256 > o->f.cap)
        flush(o);
    hak_fmt_str(&o->f, s);
}

/* v right-aligned in a column of `width`. */
static void num(out_t *o, uint64_t v, unsigned width)
{
    char tmp[24];
    hak_fmt_t t = { tmp, 0, sizeof tmp };
    hak_fmt_dec(&t, v);
    while (width-- > t.len)
        put(o, " ");
    put(o, tmp);
}

static void row(out_t *o, const char *name, const class_sum_t *c)
{
    put(o, name);
    num(o, c->alloc, 14);
    num(o, c->remote, 12);
    num(o, c->refill, 10);
    put(o, "\n");
}

void hak_stats_print(int fd)
{
    out_t o;
    sums_t s;
    collect(&s);
    o.fd = fd;
    o.f = (hak_fmt_t){ o.buf, 0, sizeof o.buf };
    put(&o, "hakmem statistics (");
    put(&o, HAK_DEBUG ? "debug" : "release");
    put(&o, " flavour)\nclass   size        allocs      "
            "remote   refills\n");
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        if (!s.cls[c].alloc && !s.cls[c].remote)
            continue;
        char name[24];
        hak_fmt_t f = { name, 0, sizeof name };
        hak_fmt_dec(&f, c);
        while (f.len < 5)
            hak_fmt_str(&f, " ");
        uint64_t sz = hak_class_size[c];
        for (uint64_t w = 100000; w > 1 && sz < w; w /= 10)
            hak_fmt_str(&f, " ");
        hak_fmt_dec(&f, sz);
        row(&o, name, &s.cls[c]);
    }
    /* Each slab tier's total, by the tier of each class (size_class.h). */
    static const char *const tier_name[HAK_SLAB_TIERS] = {
        [HAK_TIER_TINY] = "tiny       ",
        [HAK_TIER_MID] = "mid        ",
        [HAK_TIER_BIG] = "big        ",
    };
    class_sum_t tier[HAK_SLAB_TIERS] = { { 0 } };
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        class_sum_t *t = &tier[hak_class_tier(c)];
        t->alloc += s.cls[c].alloc;
        t->remote += s.cls[c].remote;
        t->refill += s.cls[c].refill;
    }
    put(&o, "tier\n");
    uint64_t remote = 0;
    for (unsigned t = HAK_TIER_TINY; t < HAK_SLAB_TIERS; t++) {
        row(&o, tier_name[t], &tier[t]);
        remote += tier[t].remote;
    }
    uint64_t la, lf, live, cached;
    hak_large_stats(&la, &lf, &live, &cached);
    row(&o, "large      ", &(class_sum_t){ la, 0, 0 });
    /* The totals: each label, then its value. */
    const struct {
        const char *label;
        uint64_t v;
    } totals[] = {
        { "frees: tiny, mid and big ", s.frees },
        { " by their owner, ", remote },
        { " remote; large ", lf },
        { "\nheaps ", s.heaps },
        { " (live ", s.live_heaps },
        { ")  remote drains ", s.drains },
        { "\nslabs mapped ", s.slab_new },
        { " returned ", s.slab_free },
        { "  superslabs mapped ", s.ss_new },
        { " returned ", s.ss_free },
        { "\nlarge live bytes ", live },
        { " peak ", hak_large_live_peak() },
        { " cached ", cached },
        { "\nmapped bytes now ", hak_os_mapped_bytes() },
        { " peak ", hak_os_peak_mapped_bytes() },
    };
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
        put(&o, totals[i].label);
        num(&o, totals[i].v, 1);
    }
    put(&o, "\n");
    flush(&o);
}

/* At exit, with HAKMEM_STATS on: the report goes to HAKMEM_STATS_FILE
 * (appended, created if missing), or to stderr as it is now. Not to a
 * descriptor kept since init: a daemon may have closed it and opened one
 * of its own files under the same number. A program that closed stderr
 * before exit gets no report. */
void hak_stats_exit(void)
{
    if (!hak_opt.stats)
        return;
    int fd = 2;
    if (hak_opt.stats_file[0]) {
        fd = open(hak_opt.stats_file, O_WRONLY | O_APPEND | O_CREAT |
                  O_CLOEXEC, 0644);
        if (fd < 0) {
            char line[HAK_OPT_PATH_MAX + 96];
            hak_fmt_t f = { line, 0, sizeof line - 1 };
            hak_fmt_str(&f, "hakmem: HAKMEM_STATS_FILE=");
            hak_fmt_str(&f, hak_opt.stats_file);
            hak_fmt_str(&f, ": cannot open, the report goes to stderr");
            line[f.len++] = '\n';
            ssize_t unused = write(2, line, f.len);
            (void)unused;
            fd = 2;
        }
    }
    hak_stats_print(fd);
    if (fd != 2)
        close(fd);
}
