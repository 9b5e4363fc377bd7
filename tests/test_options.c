/* test_options.c — the HAKMEM_* option table and its parser (src/options.h):
 * every accepted and rejected spelling of each type, overflow, suffixes,
 * the warning lines for a bad value and for an unknown variable, defaults
 * that come from the table, the README's table agreeing with ours, and
 * where the statistics report goes at exit (HAKMEM_STATS_FILE). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#include "options.h"

#ifndef GiB
#define GiB ((size_t)1 << 30)
#endif

/* ---- Booleans ------------------------------------------------------------ */

static const struct { const char *v; int ok, val; } bools[] = {
    { "1", 1, 1 },      { "0", 1, 0 },      { "true", 1, 1 },
    { "false", 1, 0 },  { "yes", 1, 1 },    { "no", 1, 0 },
    { "on", 1, 1 },     { "off", 1, 0 },    { "TRUE", 1, 1 },
    { "False", 1, 0 },  { "Yes", 1, 1 },    { "NO", 1, 0 },
    { "oN", 1, 1 },     { "OFF", 1, 0 },
    { "", 0, 0 },       { "2", 0, 0 },      { "maybe", 0, 0 },
    { "01", 0, 0 },     { "-1", 0, 0 },     { "truex", 0, 0 },
    { "tru", 0, 0 },    { " true", 0, 0 },  { "true ", 0, 0 },
    { "y", 0, 0 },      { "n", 0, 0 },      { "yes,", 0, 0 },
    { "onoff", 0, 0 },  { "0x1", 0, 0 },
};

START_TEST(test_bool_spellings)
{
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        int out = 42;
        const char *why = hak_opt_bool(bools[i].v, &out);
        if (bools[i].ok) {
            REQ_MSG(!why && out == bools[i].val, "\"%s\": %s, %d",
                    bools[i].v, why ? why : "accepted", out);
        } else {
            REQ_MSG(why && out == 42, "\"%s\" accepted as %d", bools[i].v,
                    out);
            REQ_MSG(!strcmp(why, "not a boolean"), "\"%s\": %s", bools[i].v,
                    why);
        }
    }
}
END_TEST

/* ---- Sizes --------------------------------------------------------------- */

static const struct {
    const char *v;
    uint64_t unit, max;
    int ok;
    uint64_t val;
} sizes[] = {
    { "64", MiB, 1ull << 47, 1, 64 * MiB },
    { "0", MiB, 1ull << 47, 1, 0 },
    { "007", MiB, 1ull << 47, 1, 7 * MiB },
    { "1K", MiB, 1ull << 47, 1, KiB },
    { "1KiB", MiB, 1ull << 47, 1, KiB },
    { "3M", MiB, 1ull << 47, 1, 3 * MiB },
    { "3MiB", MiB, 1ull << 47, 1, 3 * MiB },
    { "2G", MiB, 1ull << 47, 1, 2 * GiB },
    { "2GiB", MiB, 1ull << 47, 1, 2 * GiB },
    { "4096", 1, UINT64_MAX, 1, 4096 },
    { "18446744073709551615", 1, UINT64_MAX, 1, UINT64_MAX },
    /* at the maximum, and one unit past it */
    { "131072G", MiB, 1ull << 47, 1, 1ull << 47 },
    { "134217728", MiB, 1ull << 47, 1, 1ull << 47 },
    { "131073G", MiB, 1ull << 47, 0, 0 },
    { "134217729", MiB, 1ull << 47, 0, 0 },
    { "137438953473K", MiB, 1ull << 47, 0, 0 },
    /* overflow: of the digits, and of the multiplication */
    { "18446744073709551616", 1, UINT64_MAX, 0, 0 },
    { "99999999999999999999999", MiB, 1ull << 47, 0, 0 },
    { "99999999999999999999999999999999999999999999", 1, UINT64_MAX, 0, 0 },
    { "18446744073709551615", MiB, UINT64_MAX, 0, 0 },
    { "17179869184G", 1, UINT64_MAX, 0, 0 },
    /* not numbers */
    { "", MiB, 1ull << 47, 0, 0 },
    { "-1", MiB, 1ull << 47, 0, 0 },
    { "+1", MiB, 1ull << 47, 0, 0 },
    { " 1", MiB, 1ull << 47, 0, 0 },
    { "1 ", MiB, 1ull << 47, 0, 0 },
    { "1 M", MiB, 1ull << 47, 0, 0 },
    { "0x10", MiB, 1ull << 47, 0, 0 },
    { "1.5M", MiB, 1ull << 47, 0, 0 },
    { "1k", MiB, 1ull << 47, 0, 0 },
    { "1m", MiB, 1ull << 47, 0, 0 },
    { "1KB", MiB, 1ull << 47, 0, 0 },
    { "1MB", MiB, 1ull << 47, 0, 0 },
    { "1Ki", MiB, 1ull << 47, 0, 0 },
    { "1MiBx", MiB, 1ull << 47, 0, 0 },
    { "1T", MiB, 1ull << 47, 0, 0 },
    { "M", MiB, 1ull << 47, 0, 0 },
    { "true", MiB, 1ull << 47, 0, 0 },
};

START_TEST(test_size_spellings)
{
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t out = 42;
        const char *why = hak_opt_size(sizes[i].v, sizes[i].unit,
                                       sizes[i].max, &out);
        if (sizes[i].ok)
            REQ_MSG(!why && out == sizes[i].val, "\"%s\": %s, %ju",
                    sizes[i].v, why ? why : "accepted", (uintmax_t)out);
        else
            REQ_MSG(why && out == 42, "\"%s\" accepted as %ju", sizes[i].v,
                    (uintmax_t)out);
    }
}
END_TEST

/* ---- HAKMEM_SECURITY ----------------------------------------------------- */

static const struct { const char *v; int ok; unsigned val; } secs[] = {
    { "canary", 1, HAK_SEC_CANARY },
    { "zero", 1, HAK_SEC_ZERO },
    { "delay", 1, HAK_SEC_DELAY },
    { "strong", 1, HAK_SEC_CANARY | HAK_SEC_ZERO | HAK_SEC_DELAY },
    { "none", 1, 0 },
    { "zero,delay", 1, HAK_SEC_ZERO | HAK_SEC_DELAY },
    { "canary,canary", 1, HAK_SEC_CANARY },
    { "none,zero", 1, HAK_SEC_ZERO },
    { "CANARY,Delay", 1, HAK_SEC_CANARY | HAK_SEC_DELAY },
    { "", 0, 0 },
    { ",", 0, 0 },
    { "canary,", 0, 0 },
    { ",zero", 0, 0 },
    { "canary,,zero", 0, 0 },
    { "foo", 0, 0 },
    { "canary,foo", 0, 0 },
    { "canary zero", 0, 0 },
    { "canary;zero", 0, 0 },
    { "canaryx", 0, 0 },
    { "canar", 0, 0 },
    { "1", 0, 0 },
    { " zero", 0, 0 },
};

START_TEST(test_security_spellings)
{
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        unsigned out = 42;
        const char *why = hak_opt_security(secs[i].v, &out);
        if (secs[i].ok)
            REQ_MSG(!why && out == secs[i].val, "\"%s\": %s, %u", secs[i].v,
                    why ? why : "accepted", out);
        else
            REQ_MSG(why && out == 42, "\"%s\" accepted as %u", secs[i].v,
                    out);
    }
}
END_TEST

/* ---- The environment ----------------------------------------------------- */

/* hak_options_parse(env) with its warnings captured into buf. */
static unsigned parse(char *const *env, hak_options_t *o, char *buf,
                      size_t cap)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    unsigned n = hak_options_parse(env, o, fds[1]);
    close(fds[1]);
    read_all_close(fds[0], buf, cap);
    return n;
}

static void expect_defaults(const hak_options_t *o)
{
    REQ_INT_EQ(o->stats, 0);
    REQ_UINT_EQ(o->large_cache_bytes, 64 * MiB);
    REQ_UINT_EQ(o->security, 0);
    REQ_MSG(o->stats_file[0] == '\0', "stats_file \"%s\"", o->stats_file);
}

START_TEST(test_defaults)
{
    hak_options_t o;
    char buf[256];
    memset(&o, 0x5a, sizeof o);
    REQ_UINT_EQ(parse(NULL, &o, buf, sizeof buf), 0);
    REQ_MSG(!buf[0], "warned: %s", buf);
    expect_defaults(&o);
    /* no HAKMEM_ variable at all; names that only look alike */
    char *env[] = { "PATH=/bin", "HAKMEMSTATS=1", "HAKMEM=1", "hakmem_stats=1",
                    "XHAKMEM_STATS=1", "STATS=1", NULL };
    memset(&o, 0x5a, sizeof o);
    REQ_UINT_EQ(parse(env, &o, buf, sizeof buf), 0);
    REQ_MSG(!buf[0], "warned: %s", buf);
    expect_defaults(&o);
    /* An empty value is the default, without a warning. */
    char *empty[] = { "HAKMEM_STATS=", "HAKMEM_LARGE_CACHE_MB=",
                      "HAKMEM_SECURITY=", "HAKMEM_STATS_FILE=", NULL };
    REQ_UINT_EQ(parse(empty, &o, buf, sizeof buf), 0);
    REQ_MSG(!buf[0], "warned: %s", buf);
    expect_defaults(&o);
}
END_TEST

/* Each table default parses as its type (the defaults come from it). */
START_TEST(test_table_defaults_parse)
{
    for (unsigned i = 0; i < hak_options_count; i++) {
        const hak_option_t *opt = &hak_options[i];
        const char *why = NULL;
        int b;
        uint64_t v;
        unsigned u;
        REQ_MSG(!strncmp(opt->name, "HAKMEM_", 7), "%s", opt->name);
        REQ_MSG(opt->doc && opt->doc[0] && !strchr(opt->doc, '|') &&
                    !strchr(opt->def, '|'),
                "%s: doc or default unfit for the README's table", opt->name);
        if (opt->type == HAK_OPT_BOOL)
            why = hak_opt_bool(opt->def, &b);
        else if (opt->type == HAK_OPT_SIZE)
            why = hak_opt_size(opt->def, opt->unit, opt->max, &v);
        else if (opt->type == HAK_OPT_SECURITY)
            why = hak_opt_security(opt->def, &u);
        REQ_MSG(!why, "%s: default \"%s\": %s", opt->name, opt->def, why);
        for (unsigned j = 0; j < i; j++)
            REQ_MSG(strcmp(opt->name, hak_options[j].name), "%s twice",
                    opt->name);
    }
}
END_TEST

START_TEST(test_values_land)
{
    hak_options_t o;
    char buf[256];
    char *env[] = { "HAKMEM_STATS=on", "HAKMEM_LARGE_CACHE_MB=8",
                    "HAKMEM_SECURITY=zero,delay",
                    "HAKMEM_STATS_FILE=/tmp/some file=x",
                    "HAKMEM_LIBDIR=build", "HAKMEM_REAL_ONLY=git",
                    "HAKMEM_PYTHON=/usr/bin/python3", NULL };
    REQ_UINT_EQ(parse(env, &o, buf, sizeof buf), 0);
    REQ_MSG(!buf[0], "warned: %s", buf);
    REQ_INT_EQ(o.stats, 1);
    REQ_UINT_EQ(o.large_cache_bytes, 8 * MiB);
    REQ_UINT_EQ(o.security, HAK_SEC_ZERO | HAK_SEC_DELAY);
    REQ_MSG(!strcmp(o.stats_file, "/tmp/some file=x"), "%s", o.stats_file);
    char *sized[] = { "HAKMEM_LARGE_CACHE_MB=512KiB", NULL };
    REQ_UINT_EQ(parse(sized, &o, buf, sizeof buf), 0);
    REQ_UINT_EQ(o.large_cache_bytes, 512 * KiB);
    /* The first of two counts, as for getenv. */
    char *twice[] = { "HAKMEM_STATS=yes", "HAKMEM_STATS=maybe", NULL };
    REQ_UINT_EQ(parse(twice, &o, buf, sizeof buf), 0);
    REQ_INT_EQ(o.stats, 1);
}
END_TEST

/* One exact line per bad value or unknown variable, the default kept. */
static const struct { const char *entry, *line; } warnings[] = {
    { "HAKMEM_STATS=maybe",
      "hakmem: HAKMEM_STATS=maybe: not a boolean, using default off\n" },
    { "HAKMEM_STATS=2",
      "hakmem: HAKMEM_STATS=2: not a boolean, using default off\n" },
    { "HAKMEM_LARGE_CACHE_MB=99999999999999999999999",
      "hakmem: HAKMEM_LARGE_CACHE_MB=99999999999999999999999: too large, "
      "using default 64\n" },
    { "HAKMEM_LARGE_CACHE_MB=-1",
      "hakmem: HAKMEM_LARGE_CACHE_MB=-1: not a number, using default 64\n" },
    { "HAKMEM_LARGE_CACHE_MB=1kb",
      "hakmem: HAKMEM_LARGE_CACHE_MB=1kb: not a number (digits, then K, "
      "KiB, M, MiB, G or GiB), using default 64\n" },
    { "HAKMEM_SECURITY=canary,foo",
      "hakmem: HAKMEM_SECURITY=canary,foo: not a list of canary, zero, "
      "delay, strong, none, using default none\n" },
    { "HAKMEM_STAT=1", "hakmem: HAKMEM_STAT=1: unknown variable, ignored\n" },
    { "HAKMEM_STATS_FD=3",
      "hakmem: HAKMEM_STATS_FD=3: unknown variable, ignored\n" },
    { "HAKMEM_", "hakmem: HAKMEM_: unknown variable, ignored\n" },
    { "HAKMEM_X=a\nb", "hakmem: HAKMEM_X=a?b: unknown variable, ignored\n" },
};

START_TEST(test_warning_lines)
{
    for (size_t i = 0; i < sizeof warnings / sizeof warnings[0]; i++) {
        char *env[] = { (char *)warnings[i].entry, NULL };
        hak_options_t o;
        char buf[512];
        REQ_UINT_EQ(parse(env, &o, buf, sizeof buf), 1);
        REQ_MSG(!strcmp(buf, warnings[i].line), "%s: got \"%s\"",
                warnings[i].entry, buf);
        expect_defaults(&o);
    }
    /* Several: one line each, the good ones still land. */
    char *env[] = { "HAKMEM_STATS=on", "HAKMEM_STAT=1",
                    "HAKMEM_SECURITY=strong,", "HAKMEM_LARGE_CACHE_MB=1G",
                    NULL };
    hak_options_t o;
    char buf[1024];
    REQ_UINT_EQ(parse(env, &o, buf, sizeof buf), 2);
    REQ_MSG(!strcmp(buf, "hakmem: HAKMEM_STAT=1: unknown variable, ignored\n"
                         "hakmem: HAKMEM_SECURITY=strong,: not a list of "
                         "canary, zero, delay, strong, none, using default "
                         "none\n"),
            "got \"%s\"", buf);
    REQ_INT_EQ(o.stats, 1);
    REQ_UINT_EQ(o.large_cache_bytes, GiB);
    REQ_UINT_EQ(o.security, 0);
}
END_TEST

/* A long value is cut in the warning; a path that does not fit is
 * refused rather than cut. */
START_TEST(test_long_values)
{
    static char big[HAK_OPT_PATH_MAX + 64];
    memcpy(big, "HAKMEM_STATS_FILE=", 18);
    memset(big + 18, 'a', sizeof big - 19);
    char *env[] = { big, NULL };
    hak_options_t o;
    char buf[1024];
    REQ_UINT_EQ(parse(env, &o, buf, sizeof buf), 1);
    REQ_MSG(strlen(buf) < 200 && strstr(buf, "...: path too long, using "
                                             "default (stderr)\n"),
            "got \"%s\"", buf);
    REQ_MSG(o.stats_file[0] == '\0', "kept a cut path");
    /* The longest that fits is kept whole. */
    big[18 + HAK_OPT_PATH_MAX - 1] = '\0';
    REQ_UINT_EQ(parse(env, &o, buf, sizeof buf), 0);
    REQ_UINT_EQ(strlen(o.stats_file), HAK_OPT_PATH_MAX - 1);
}
END_TEST

/* ---- The README ---------------------------------------------------------- */

/* A file of the source tree (relative to this one), read whole. */
static char *source_file(const char *rel, char *text, size_t cap)
{
    char path[512];
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    snprintf(path, sizeof path, "%.*s/../%s",
             slash ? (int)(slash - file) : 1, slash ? file : ".", rel);
    FILE *f = fopen(path, "r");
    REQ_MSG(f, "cannot open %s (run from the source tree)", path);
    size_t n = fread(text, 1, cap - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* The README's "Environment variables" table, row by row. */
static char *readme_env_table(void)
{
    static char text[1 << 20];
    char *t = strstr(source_file("README.md", text, sizeof text),
                     "### Environment variables\n");
    REQ_MSG(t, "no \"### Environment variables\" section in README.md");
    char *end = strstr(t + 1, "\n#");
    if (end)
        *end = '\0';
    return t;
}

START_TEST(test_readme_table)
{
    char *t = readme_env_table();
    /* Every option has a row "| `NAME` | default | ...". */
    for (unsigned i = 0; i < hak_options_count; i++) {
        char row[256];
        snprintf(row, sizeof row, "\n| `%s` | %s | ", hak_options[i].name,
                 hak_options[i].def);
        REQ_MSG(strstr(t, row), "README.md's table lacks the row \"%s\"",
                row + 1);
    }
    /* Every row names an option. */
    for (char *r = strstr(t, "\n| `"); r; r = strstr(r + 1, "\n| `")) {
        char *name = r + 4;
        size_t len = strcspn(name, "`");
        unsigned i = 0;
        while (i < hak_options_count &&
               (strlen(hak_options[i].name) != len ||
                strncmp(hak_options[i].name, name, len)))
            i++;
        REQ_MSG(i < hak_options_count,
                "README.md documents %.*s, which src/options.c lacks",
                (int)len, name);
    }
}
END_TEST

/* The launcher's --help names every variable the library reads, and its
 * own. */
START_TEST(test_launcher_help)
{
    static char text[1 << 16];
    source_file("tools/hakmem.in", text, sizeof text);
    for (unsigned i = 0; i < hak_options_count; i++) {
        char name[64];
        snprintf(name, sizeof name, "\n  %s ", hak_options[i].name);
        REQ_MSG(strstr(text, name) || (hak_options[i].type == HAK_OPT_TOOL &&
                                        strcmp(hak_options[i].name,
                                               "HAKMEM_LIBDIR")),
                "tools/hakmem.in's --help lacks %s", hak_options[i].name);
    }
}
END_TEST

/* ---- Where the report goes ----------------------------------------------- */

static char stats_path[64];

static void report_twice_to_file(void *arg)
{
    (void)arg;
    hak_free(hak_malloc(100));
    hak_opt.stats = 1;
    snprintf(hak_opt.stats_file, sizeof hak_opt.stats_file, "%s", stats_path);
    /* Its descriptor is closed after each report: the lowest free one
     * is the same before and after. */
    int before = open("/dev/null", O_RDONLY);
    close(before);
    hak_stats_exit();
    hak_stats_exit();
    int after = open("/dev/null", O_RDONLY);
    _exit(after == before ? 0 : 3);
}

static void report_to_stderr(void *arg)
{
    (void)arg;
    hak_opt.stats = 1;
    hak_opt.stats_file[0] = '\0';
    hak_stats_exit();
}

static void report_off(void *arg)
{
    (void)arg;
    hak_opt.stats = 0;
    snprintf(hak_opt.stats_file, sizeof hak_opt.stats_file, "%s", stats_path);
    hak_stats_exit();
}

static void report_unopenable(void *arg)
{
    (void)arg;
    hak_opt.stats = 1;
    snprintf(hak_opt.stats_file, sizeof hak_opt.stats_file,
             "/nonexistent-dir/x");
    hak_stats_exit();
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (; (s = strstr(s, what)); s++)
        n++;
    return n;
}

START_TEST(test_stats_destination)
{
    snprintf(stats_path, sizeof stats_path, "/tmp/hak-stats-%d",
             (int)getpid());
    unlink(stats_path);
    char buf[4096];
    int st = run_child(report_twice_to_file, NULL, buf, sizeof buf);
    REQ_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, buf);
    REQ_MSG(!strstr(buf, "hakmem statistics"), "report on stderr: %s", buf);
    static char text[1 << 16];
    FILE *f = fopen(stats_path, "r");
    REQ_MSG(f, "no %s", stats_path);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* appended: two reports, the second after the first */
    REQ_UINT_EQ(count(text, "hakmem statistics ("), 2);
    unlink(stats_path);

    st = run_child(report_to_stderr, NULL, buf, sizeof buf);
    REQ_MSG(WIFEXITED(st) && count(buf, "hakmem statistics (") == 1,
            "status %#x: %s", st, buf);

    st = run_child(report_off, NULL, buf, sizeof buf);
    REQ_MSG(WIFEXITED(st) && !buf[0] && access(stats_path, F_OK) != 0,
            "HAKMEM_STATS off, yet: %s", buf);

    st = run_child(report_unopenable, NULL, buf, sizeof buf);
    REQ_MSG(WIFEXITED(st) &&
                strstr(buf, "hakmem: HAKMEM_STATS_FILE=/nonexistent-dir/x: "
                            "cannot open, the report goes to stderr\n") &&
                count(buf, "hakmem statistics (") == 1,
            "status %#x: %s", st, buf);
}
END_TEST

Suite *options_suite(void)
{
    const test_row_t rows[] = {
        { "parse", test_bool_spellings, 0, 0 },
        { "parse", test_size_spellings, 0, 0 },
        { "parse", test_security_spellings, 0, 0 },
        { "parse", test_defaults, 0, 0 },
        { "parse", test_table_defaults_parse, 0, 0 },
        { "parse", test_values_land, 0, 0 },
        { "parse", test_warning_lines, 0, 0 },
        { "parse", test_long_values, 0, 0 },
        { "parse", test_readme_table, 0, 0 },
        { "parse", test_launcher_help, 0, 0 },
        { "parse", test_stats_destination, 0, 0 },
    };
    Suite *s = suite_create("options");
    SUITE_ROWS(s, rows);
    return s;
}
