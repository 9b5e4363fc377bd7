/* options.h — every HAKMEM_* environment variable, in one table.
 *
 * hak_options (src/options.c) lists each variable once: its name, its
 * type, its default as the README spells it, one line of documentation
 * and the field of hak_options_t its value lands in. hak_init parses the
 * environment once through it (hak_options_parse); nothing else in the
 * library reads a HAKMEM_ variable.
 *
 * Parsing is strict. A value that does not parse, or a HAKMEM_ variable
 * the table does not name, gives one warning line on the given descriptor
 *   hakmem: HAKMEM_STATS=maybe: not a boolean, using default off
 *   hakmem: HAKMEM_STAT=1: unknown variable, ignored
 * and the option keeps its default. An empty value is the default, with
 * no warning (`HAKMEM_STATS= prog` unsets it). When a variable appears
 * twice in the environment the first one counts, as for getenv.
 *
 * The parser runs inside the process's first malloc: it never allocates
 * and never uses stdio (warnings are formatted with report.h's helpers
 * and written with write(2)).
 */
#ifndef HAK_OPTIONS_H
#define HAK_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

/* Longest HAKMEM_STATS_FILE path kept (the value is copied at init: the
 * program may change its environment before exit). */
#define HAK_OPT_PATH_MAX 1024

/* Where the parsed values land: hak_g.opt (hak_init). */
typedef struct hak_options {
    int stats;                      /* HAKMEM_STATS */
    char stats_file[HAK_OPT_PATH_MAX];  /* HAKMEM_STATS_FILE, "" for stderr */
    uint64_t large_cache_bytes;     /* HAKMEM_LARGE_CACHE_MB */
    uint64_t large_huge_bytes;      /* HAKMEM_LARGE_HUGE_MB */
    unsigned security;              /* HAKMEM_SECURITY: HAK_SEC_* bits */
} hak_options_t;

enum hak_opt_type {
    HAK_OPT_BOOL,     /* true/false, yes/no, on/off, 1/0 (any case) */
    HAK_OPT_SIZE,     /* decimal digits times `unit`, or with a suffix
                       * K/KiB, M/MiB, G/GiB times that; at most `max` */
    HAK_OPT_SECURITY, /* comma-separated canary, zero, delay; strong (all
                       * three); none */
    HAK_OPT_PATH,     /* a file name, shorter than HAK_OPT_PATH_MAX */
    HAK_OPT_TOOL,     /* read by a tool around the library (the launcher,
                       * the test scripts); known, so never warned about,
                       * and ignored by the library */
};

typedef struct hak_option {
    const char *name;   /* "HAKMEM_..." */
    unsigned type;      /* enum hak_opt_type */
    const char *def;    /* the default, as the README's table spells it */
    const char *doc;    /* one line */
    size_t field;       /* offsetof(hak_options_t, ...); unused for TOOL */
    uint64_t unit;      /* SIZE: bytes of a number without suffix */
    uint64_t max;       /* SIZE: largest value in bytes */
} hak_option_t;

/* The process's options (src/global.c), set once by hak_init. */
HAK_INTERNAL extern hak_options_t hak_opt;

HAK_INTERNAL extern const hak_option_t hak_options[];
HAK_INTERNAL extern const unsigned hak_options_count;

/* Fills *o with the defaults, then with every HAKMEM_ variable of env (a
 * NULL-terminated "NAME=value" array, e.g. environ; NULL for none).
 * Warnings go to fd (-1: none). Returns the number of warnings. */
HAK_INTERNAL unsigned hak_options_parse(char *const *env, hak_options_t *o,
                                        int fd);

/* The HAKMEM_STATS report at exit (src/stats.c), to where hak_opt says. */
HAK_INTERNAL void hak_stats_exit(void);

/* The parsers behind the types, each 0 on success (then *out is set), or
 * a static reason ("not a boolean", ...) with *out untouched. */
HAK_INTERNAL const char *hak_opt_bool(const char *v, int *out);
HAK_INTERNAL const char *hak_opt_size(const char *v, uint64_t unit,
                                      uint64_t max, uint64_t *out);
HAK_INTERNAL const char *hak_opt_security(const char *v, unsigned *out);

#endif
