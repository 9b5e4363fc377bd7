/* options.c — the table of HAKMEM_* variables and its strict parser
 * (src/options.h). No allocation, no stdio: it runs inside the first
 * malloc. */
#include "options.h"

#include <stddef.h>
#include <unistd.h>

#include "report.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

/* The README's "Environment variables" table lists exactly these, with
 * these defaults (tests/test_options.c compares the two). */
const hak_option_t hak_options[] = {
    { "HAKMEM_STATS", HAK_OPT_BOOL, "off",
      "print per-class and per-tier counters at exit (on stderr, or "
      "HAKMEM_STATS_FILE)",
      offsetof(hak_options_t, stats), 0, 0 },
    { "HAKMEM_STATS_FILE", HAK_OPT_PATH, "(stderr)",
      "with HAKMEM_STATS: append the report to this file instead "
      "(opened at exit)",
      offsetof(hak_options_t, stats_file), 0, 0 },
    { "HAKMEM_LARGE_CACHE_MB", HAK_OPT_SIZE, "64",
      "freed large mappings kept for reuse before unmapping, in MiB "
      "(or with a K/KiB, M/MiB, G/GiB suffix), or a quarter of the live "
      "large bytes when more; 0: no cache",
      offsetof(hak_options_t, large_cache_bytes), MiB,
      (uint64_t)1 << HAK_VA_BITS },
    { "HAKMEM_LARGE_HUGE_MB", HAK_OPT_SIZE, "4",
      "large blocks at least this big ask for transparent huge pages, in "
      "MiB (or with a K/KiB, M/MiB, G/GiB suffix); 0: never",
      offsetof(hak_options_t, large_huge_bytes), MiB,
      (uint64_t)1 << HAK_VA_BITS },
    { "HAKMEM_SECURITY", HAK_OPT_SECURITY, "none",
      "release only: run-time mitigations, a comma-separated list of "
      "canary, zero, delay, or strong for all three",
      offsetof(hak_options_t, security), 0, 0 },
    { "HAKMEM_LIBDIR", HAK_OPT_TOOL, "(installed)",
      "tools/hakmem: preload HAKMEM_LIBDIR/{release,debug}/libhakmem.so",
      0, 0, 0 },
    { "HAKMEM_PYTHON", HAK_OPT_TOOL, "(search PATH)",
      "tests/real/run.sh, tools/install-deps.sh: the python3 to use", 0, 0,
      0 },
    { "HAKMEM_REAL_ONLY", HAK_OPT_TOOL, "python sqlite git",
      "tests/real/run.sh: the programs to run", 0, 0, 0 },
    { "HAKMEM_REAL_PY_MODULES", HAK_OPT_TOOL, "(23 modules)",
      "tests/real/run.sh: python regression modules", 0, 0, 0 },
    { "HAKMEM_REAL_TIMEOUT", HAK_OPT_TOOL, "600",
      "tests/real/run.sh: seconds per run", 0, 0, 0 },
    { "HAKMEM_REAL_KEEP", HAK_OPT_TOOL, "0",
      "tests/real/run.sh: 1 keeps the scratch directory", 0, 0, 0 },
};
const unsigned hak_options_count = sizeof hak_options / sizeof hak_options[0];

/* ---- Values ------------------------------------------------------------- */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* v equals word, ignoring case (word is lower case). */
static int same_word(const char *v, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (lower(v[i]) != word[i])
            return 0;
    return i == n && !word[i];
}

/* v equals s exactly. */
static int same(const char *v, const char *s)
{
    while (*v && *v == *s)
        v++, s++;
    return *v == *s;
}

const char *hak_opt_bool(const char *v, int *out)
{
    static const char *const words[][2] = {
        { "1", "0" }, { "true", "false" }, { "yes", "no" }, { "on", "off" },
    };
    size_t n = 0;
    while (v[n])
        n++;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        for (int b = 0; b < 2; b++)
            if (same_word(v, n, words[i][b])) {
                *out = !b;
                return NULL;
            }
    return "not a boolean";
}

const char *hak_opt_size(const char *v, uint64_t unit, uint64_t max,
                         uint64_t *out)
{
    static const struct { const char *s; uint64_t mult; } suffixes[] = {
        { "", 0 },     { "K", KiB },  { "KiB", KiB }, { "M", MiB },
        { "MiB", MiB }, { "G", GiB }, { "GiB", GiB },
    };
    if (*v < '0' || *v > '9')
        return "not a number";
    uint64_t n = 0;
    for (; *v >= '0' && *v <= '9'; v++) {
        uint64_t d = (uint64_t)(*v - '0');
        if (n > (UINT64_MAX - d) / 10) /* n * 10 + d would wrap */
            return "too large";
        n = n * 10 + d;
    }
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (!same(v, suffixes[i].s))
            continue;
        uint64_t mult = suffixes[i].mult ? suffixes[i].mult : unit;
        if (n > max / mult)
            return "too large";
        *out = n * mult;
        return NULL;
    }
    return "not a number (digits, then K, KiB, M, MiB, G or GiB)";
}

const char *hak_opt_security(const char *v, unsigned *out)
{
    static const struct { const char *word; unsigned bits; } words[] = {
        { "canary", HAK_SEC_CANARY }, { "zero", HAK_SEC_ZERO },
        { "delay", HAK_SEC_DELAY },
        { "strong", HAK_SEC_CANARY | HAK_SEC_ZERO | HAK_SEC_DELAY },
        { "none", 0 },
    };
    unsigned sec = 0;
    for (;;) {
        size_t n = 0;
        while (v[n] && v[n] != ',')
            n++;
        size_t i = 0;
        while (i < sizeof words / sizeof words[0] &&
               !same_word(v, n, words[i].word))
            i++;
        if (i == sizeof words / sizeof words[0])
            return "not a list of canary, zero, delay, strong, none";
        sec |= words[i].bits;
        if (!v[n])
            break;
        v += n + 1;
    }
    *out = sec;
    return NULL;
}

/* ---- The environment ---------------------------------------------------- */

/* One line: "hakmem: NAME=value: why, using default DEF" (value cut at
 * 64 bytes). The whole line goes out in one write. */
static void warn(int fd, const char *entry, const char *why,
                 const hak_option_t *opt)
{
    if (fd < 0)
        return;
    char line[384];
    hak_fmt_t f = { line, 0, sizeof line - 1 };
    hak_fmt_str(&f, "hakmem: ");
    size_t n = 0;
    for (; entry[n] && n < 96; n++) {
        char c = entry[n];
        char s[2] = { c >= ' ' && c < 127 ? c : '?', 0 };
        hak_fmt_str(&f, s);
    }
    if (entry[n])
        hak_fmt_str(&f, "...");
    hak_fmt_str(&f, ": ");
    hak_fmt_str(&f, why);
    if (opt) {
        hak_fmt_str(&f, ", using default ");
        hak_fmt_str(&f, opt->def);
    }
    line[f.len++] = '\n';
    ssize_t unused = write(fd, line, f.len);
    (void)unused;
}

/* Parses value v of opt into o; a reason on failure. */
static const char *set(const hak_option_t *opt, const char *v,
                       hak_options_t *o)
{
    char *field = (char *)o + opt->field;
    switch (opt->type) {
    case HAK_OPT_BOOL:
        return hak_opt_bool(v, (int *)(void *)field);
    case HAK_OPT_SIZE:
        return hak_opt_size(v, opt->unit, opt->max, (uint64_t *)(void *)field);
    case HAK_OPT_SECURITY:
        return hak_opt_security(v, (unsigned *)(void *)field);
    case HAK_OPT_PATH: {
        size_t n = 0;
        while (v[n] && n < HAK_OPT_PATH_MAX)
            n++;
        if (n == HAK_OPT_PATH_MAX)
            return "path too long";
        for (size_t i = 0; i <= n; i++)
            field[i] = v[i];
        return NULL;
    }
    default:
        return NULL;
    }
}

unsigned hak_options_parse(char *const *env, hak_options_t *o, int fd)
{
    static const char prefix[] = "HAKMEM_";
    /* The defaults are the table's own strings, through the same parser
     * (a path's is the empty string: stderr). */
    *o = (hak_options_t){ 0 };
    for (unsigned i = 0; i < hak_options_count; i++)
        if (hak_options[i].type != HAK_OPT_PATH &&
            hak_options[i].type != HAK_OPT_TOOL)
            (void)set(&hak_options[i], hak_options[i].def, o);
    uint32_t seen = 0;
    _Static_assert(sizeof hak_options / sizeof hak_options[0] <= 32,
                   "seen has a bit per option");
    unsigned warnings = 0;
    for (; env && *env; env++) {
        const char *e = *env;
        size_t k = 0;
        while (prefix[k] && e[k] == prefix[k])
            k++;
        if (prefix[k])
            continue;
        size_t eq = k;
        while (e[eq] && e[eq] != '=')
            eq++;
        unsigned i = 0;
        for (; i < hak_options_count; i++) {
            const char *name = hak_options[i].name;
            size_t j = 0;
            while (j < eq && name[j] == e[j])
                j++;
            if (j == eq && !name[j])
                break;
        }
        if (i == hak_options_count) {
            warn(fd, e, "unknown variable, ignored", NULL);
            warnings++;
            continue;
        }
        if (seen & (1u << i))
            continue;
        seen |= 1u << i;
        const char *v = e[eq] ? e + eq + 1 : e + eq;
        if (!*v)
            continue;
        const char *why = set(&hak_options[i], v, o);
        if (why) {
            warn(fd, e, why, &hak_options[i]);
            warnings++;
        }
    }
    return warnings;
}
