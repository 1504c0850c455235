/*
 * args.c — strict flag parsing and the flag tables' help output (see args.h).
 */
#define _GNU_SOURCE /* vasprintf, open_memstream */
#include "args.h"

#include "ctrain.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HELP_COLUMN 28 /* where the help text of a flag starts */
#define HELP_WIDTH 96  /* help lines end before this column when they can */

/* ------------------------------------------------------------------------------------------ */
/* errors                                                                                      */

static int g_error_rank;      /* cli_set_error_rank */
static char g_error_prefix[512]; /* cli_set_error_prefix */
static FILE *g_held;          /* while errors are held (cli_hold_errors): a memory stream */
static char *g_held_text;
static size_t g_held_bytes;
static uint64_t g_held_key;   /* FNV-1a of the held messages without their "rank R: " */

void cli_set_error_rank(int rank) { g_error_rank = rank; }

void cli_set_error_prefix(const char *prefix) {
    snprintf(g_error_prefix, sizeof g_error_prefix, "%s", prefix ? prefix : "");
}

void cli_hold_errors(void) {
    if (!g_held) g_held = open_memstream(&g_held_text, &g_held_bytes); /* NULL: said at once */
}

size_t cli_held_errors(void) {
    if (!g_held) return 0;
    fflush(g_held);
    return g_held_bytes;
}

uint64_t cli_held_errors_key(void) { return g_held ? g_held_key : 0; }

static void key_add(const char *text) {
    if (!g_held_key) g_held_key = 0xcbf29ce484222325ULL;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        g_held_key = (g_held_key ^ *c) * 0x100000001b3ULL;
}

void cli_release_errors(int say) {
    if (!g_held) return;
    fclose(g_held);
    g_held = NULL;
    if (say && g_held_bytes) {
        fwrite(g_held_text, 1, g_held_bytes, stderr);
        fflush(stderr);
    }
    free(g_held_text);
    g_held_text = NULL;
    g_held_bytes = 0;
    g_held_key = 0;
}

/* One error line, "ctrain: [rank R: ]<fmt...><tail>\n" with any newline in it folded and any
 * other control character (a file's bytes quoted: an escape would drive the terminal) a '?',
 * written at once (ranks' lines do not interleave mid-line) or held. */
static void say(const char *tail, const char *fmt, va_list ap) {
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    for (char *c = msg; c && *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
        else if ((unsigned char)*c < 0x20 ? *c != '\t' : *c == 0x7f) *c = '?';
    char rank[32] = "";
    if (g_error_rank > 0) snprintf(rank, sizeof rank, "rank %d: ", g_error_rank);
    FILE *f = g_held ? g_held : stderr;
    if (g_held) {
        key_add(msg ? msg : fmt);
        key_add(tail);
    }
    /* one write (glibc formats an unbuffered stream's line whole) */
    fprintf(f, "ctrain: %s%s%s%s\n", rank, g_error_prefix, msg ? msg : fmt, tail);
    free(msg);
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
    return CLI_EXIT_ERROR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    char tail[64];
    snprintf(tail, sizeof tail, " (see ctrain %s%s--help)", cmd && *cmd ? cmd : "",
             cmd && *cmd ? " " : "");
    va_list ap;
    va_start(ap, fmt);
    say(tail, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_lib_error(int status) {
    const char *msg = ct_last_error();
    if (!msg || !*msg) msg = ct_status_name((ct_status)status);
    return cli_error("%s", msg);
}

/* ------------------------------------------------------------------------------------------ */
/* numbers                                                                                     */

int cli_parse_long(const char *s, long min, long max, long *out) {
    if (!s || !*s || isspace((unsigned char)s[0])) return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end) return -1;
    if (errno == ERANGE || v < min || v > max) return -2;
    *out = v;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !isdigit((unsigned char)s[0])) return -1; /* strtoull would accept "-1" */
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end) return -1;
    if (errno == ERANGE || v > UINT64_MAX) return -2;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_double(const char *s, double *out) {
    if (!s || !*s || isspace((unsigned char)s[0])) return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end) return -1;
    if (isnan(v) || (isinf(v) && errno != ERANGE)) return -1; /* "nan", "inf" */
    if (errno == ERANGE && fabs(v) > 1.0) return -2;            /* 1e999 (underflow is kept) */
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* flag values                                                                                 */

static const char *range_words(const cli_flag *f) {
    int integer = f->kind == CLI_INT || f->kind == CLI_I64 || f->kind == CLI_U64;
    switch (f->range) {
    case CLI_POSITIVE: return integer ? "a positive integer" : "a positive number";
    case CLI_NONNEG: return integer ? "a non-negative integer" : "a non-negative number";
    case CLI_FRACTION: return "a number in [0, 1)";
    case CLI_ANY: break;
    }
    return integer ? "an integer" : "a number";
}

/* v is one of choices ("a|b|c"); a choice "p:N" stands for p: and 1 to 6 digits ("cuda:1"). */
static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        int pattern = len >= 2 && c[len - 2] == ':' && c[len - 1] == 'N';
        if (!pattern && len == n && strncmp(c, v, n) == 0) return 1;
        if (pattern && n > len - 1 && strncmp(c, v, len - 1) == 0) {
            size_t digits = strspn(v + len - 1, "0123456789");
            if (digits >= 1 && digits <= 6 && len - 1 + digits == n) return 1;
        }
        c += len + (bar ? 1 : 0);
    }
    return 0;
}

/* Stores value v into flag f; on error prints it and returns CLI_PARSE_ERROR. */
static cli_parse_result set_value(const char *cmd, cli_flag *f, const char *v) {
    const char *what = range_words(f);
    long lv = 0;
    double dv = 0;
    uint64_t uv = 0;
    int r = 0;
    switch (f->kind) {
    case CLI_INT:
    case CLI_I64: {
        long lo = f->kind == CLI_INT ? INT_MIN : LONG_MIN, hi = f->kind == CLI_INT ? INT_MAX : LONG_MAX;
        if (f->max) hi = f->max;
        r = cli_parse_long(v, lo, hi, &lv);
        if (r == -2)
            return cli_usage_error(cmd, "--%s: %s is out of range (expected %s of at most %ld)",
                                   f->name, v, what, hi), CLI_PARSE_ERROR;
        if (r == 0 && ((f->range == CLI_POSITIVE && lv <= 0) || (f->range == CLI_NONNEG && lv < 0)))
            r = -1;
        if (r) break;
        if (f->kind == CLI_INT) *(int *)f->dst = (int)lv;
        else *(int64_t *)f->dst = (int64_t)lv;
        return CLI_PARSE_OK;
    }
    case CLI_U64:
        r = cli_parse_u64(v, &uv);
        if (r == -2)
            return cli_usage_error(cmd, "--%s: %s is out of range (expected an integer of at most "
                                   "%" PRIu64 ")", f->name, v, UINT64_MAX), CLI_PARSE_ERROR;
        if (r == 0 && f->range == CLI_POSITIVE && uv == 0) r = -1;
        if (r) break;
        *(uint64_t *)f->dst = uv;
        return CLI_PARSE_OK;
    case CLI_FLOAT: {
        r = cli_parse_double(v, &dv);
        char *end;
        double raw = strtod(v, &end);
        if (r == -1 && end != v && !*end && !isfinite(raw)) /* "inf", "nan": a number, not finite */
            return cli_usage_error(cmd, "--%s: expected a finite number (%s), got \"%s\"", f->name,
                                   what, v), CLI_PARSE_ERROR;
        if (r == 0 && fabs(dv) > FLT_MAX) r = -2;
        if (r == -2)
            return cli_usage_error(cmd, "--%s: %s is out of range (expected %s)", f->name, v, what),
                   CLI_PARSE_ERROR;
        float fv = (float)dv;
        if (r == 0 && dv > 0 && fv == 0) /* 1e-50: positive, but not as a float */
            return cli_usage_error(cmd, "--%s: %s is 0 as a 32-bit float (the smallest is about "
                                   "1e-45)", f->name, v), CLI_PARSE_ERROR;
#define CT_IN_RANGE(x)                                                                     \
    !((f->range == CLI_POSITIVE && !((x) > 0)) || (f->range == CLI_NONNEG && (x) < 0) ||      \
      (f->range == CLI_FRACTION && !((x) >= 0 && (x) < 1)))
        if (r == 0 && !CT_IN_RANGE(fv)) {
            if (CT_IN_RANGE(dv)) /* 0.99999999 is in [0, 1), but 1 as a float */
                return cli_usage_error(cmd, "--%s: %s is %.9g as a 32-bit float (expected %s)",
                                       f->name, v, (double)fv, what), CLI_PARSE_ERROR;
            r = -1;
        }
#undef CT_IN_RANGE
        if (r) break;
        *(float *)f->dst = fv;
        return CLI_PARSE_OK;
    }
    case CLI_STR:
        if (!*v)
            return cli_usage_error(cmd, "--%s: expected a non-empty %s", f->name,
                                   f->metavar ? f->metavar : "value"), CLI_PARSE_ERROR;
        *(const char **)f->dst = v;
        return CLI_PARSE_OK;
    case CLI_CHOICE:
        if (!choice_ok(f->choices, v)) {
            char words[256]; /* "a|b|c" as "a, b, c" */
            size_t k = 0;
            for (const char *c = f->choices; *c && k + 3 < sizeof words; c++) {
                if (*c == '|') words[k++] = ',';
                words[k++] = *c == '|' ? ' ' : *c;
            }
            words[k] = 0;
            return cli_usage_error(cmd, "--%s: expected one of %s, got \"%s\"", f->name, words, v),
                   CLI_PARSE_ERROR;
        }
        *(const char **)f->dst = v;
        return CLI_PARSE_OK;
    case CLI_SWITCH:
        *(int *)f->dst = 1;
        return CLI_PARSE_OK;
    }
    cli_usage_error(cmd, "--%s: expected %s, got \"%s\"", f->name, what, v);
    return CLI_PARSE_ERROR;
}

/* ------------------------------------------------------------------------------------------ */
/* the parser                                                                                  */

double cli_float_typed(const cli_flag *f) {
    double typed;
    return f->text && cli_parse_double(f->text, &typed) == 0 ? typed : *(const float *)f->dst;
}

void cli_shortest_float(double d, char *out, size_t bytes) {
    float x = (float)d;
    for (int digits = 6; digits <= 9; digits++) { /* (%g's 6 first: "10", not "1e+01") */
        snprintf(out, bytes, "%.*g", digits, (double)x);
        if ((float)strtod(out, NULL) == x) break;
    }
}

const char *cli_float_text(const cli_flag *f, int typed_ok, char *buf, size_t bytes) {
    double v = (double)*(const float *)f->dst;
    if (typed_ok && f->text)
        snprintf(buf, bytes, "%.40s (%.9g as a 32-bit float)", f->text, v);
    else if (f->text) /* as typed: %g could round 1.0000001 to an in-range "1" */
        snprintf(buf, bytes, "%.40s", f->text);
    else
        snprintf(buf, bytes, "%g", v);
    return buf;
}

cli_flag *cli_find(cli_flag *flags, int nflags, const char *name) {
    for (int i = 0; i < nflags; i++)
        if (strcmp(flags[i].name, name) == 0) return &flags[i];
    return NULL;
}

/* Edit distance (insert, delete, substitute), for "did you mean" on short names. */
static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 40 || nb > 40) return 99;
    int row[41];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

static const char *suggest(cli_flag *flags, int nflags, const char *name) {
    const char *best = NULL;
    int best_d = 3; /* suggest only close names */
    for (int i = 0; i < nflags; i++) {
        int d = edit_distance(name, flags[i].name);
        if (d < best_d) best_d = d, best = flags[i].name;
    }
    return best;
}

static void fill_default(cli_flag *f) {
    if (f->def) {
        snprintf(f->def_buf, sizeof f->def_buf, "%s", f->def);
        return;
    }
    switch (f->kind) {
    case CLI_INT: snprintf(f->def_buf, sizeof f->def_buf, "%d", *(int *)f->dst); break;
    case CLI_I64: snprintf(f->def_buf, sizeof f->def_buf, "%" PRId64, *(int64_t *)f->dst); break;
    case CLI_U64: snprintf(f->def_buf, sizeof f->def_buf, "%" PRIu64, *(uint64_t *)f->dst); break;
    case CLI_FLOAT: snprintf(f->def_buf, sizeof f->def_buf, "%g", (double)*(float *)f->dst); break;
    case CLI_STR:
    case CLI_CHOICE: {
        const char *s = *(const char **)f->dst;
        snprintf(f->def_buf, sizeof f->def_buf, "%s", s ? s : "");
        break;
    }
    case CLI_SWITCH: snprintf(f->def_buf, sizeof f->def_buf, "%s", *(int *)f->dst ? "on" : "off"); break;
    }
}

cli_parse_result cli_parse(const char *cmd, cli_flag *flags, int nflags, int argc, char **argv,
                           const char **pos, int max_pos, int *npos) {
    int n = 0, flags_done = 0;
    for (int i = 0; i < nflags; i++) {
        fill_default(&flags[i]); /* before any value changes, for --help */
        flags[i].seen = 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = 1;
            continue;
        }
        if (!flags_done && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) return CLI_PARSE_HELP;
        if (flags_done || a[0] != '-' || a[1] == 0) { /* positional ("-" alone counts as one) */
            if (n >= max_pos) {
                cli_usage_error(cmd, "unexpected argument \"%s\"", a);
                return CLI_PARSE_ERROR;
            }
            pos[n++] = a;
            continue;
        }
        if (a[1] != '-') {
            cli_usage_error(cmd, "unknown flag %s (flags are long: --name)", a);
            return CLI_PARSE_ERROR;
        }
        /* --name or --name=value */
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (len == 0 || len >= sizeof name) {
            cli_usage_error(cmd, "unknown flag %.*s", (int)(len + 2 < 80 ? len + 2 : 80), a);
            return CLI_PARSE_ERROR;
        }
        memcpy(name, a + 2, len);
        name[len] = 0;
        cli_flag *f = cli_find(flags, nflags, name);
        if (!f && strcmp(name, "help") == 0) { /* --help=...: the help flag, given a value */
            cli_usage_error(cmd, "--help: takes no value, got \"%s\"", eq ? eq + 1 : "");
            return CLI_PARSE_ERROR;
        }
        if (!f) {
            const char *s = suggest(flags, nflags, name);
            if (s)
                cli_usage_error(cmd, "unknown flag --%s (did you mean --%s?)", name, s);
            else
                cli_usage_error(cmd, "unknown flag --%s", name);
            return CLI_PARSE_ERROR;
        }
        f->seen = 1;
        if (f->kind == CLI_SWITCH) {
            if (eq) {
                cli_usage_error(cmd, "--%s: takes no value, got \"%s\"", name, eq + 1);
                return CLI_PARSE_ERROR;
            }
            *(int *)f->dst = 1;
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc && !(argv[i + 1][0] == '-' && argv[i + 1][1] == '-')) {
            v = argv[++i]; /* a value may start with one dash ("-1"): it is then checked */
        } else {
            if (f->kind == CLI_STR)
                cli_usage_error(cmd, "--%s: missing value (expected %s)", name,
                                f->metavar ? f->metavar : "a value");
            else if (f->kind == CLI_CHOICE)
                cli_usage_error(cmd, "--%s: missing value (expected %s)", name, f->choices);
            else
                cli_usage_error(cmd, "--%s: missing value (expected %s)", name, range_words(f));
            return CLI_PARSE_ERROR;
        }
        f->text = v;
        if (set_value(cmd, f, v) != CLI_PARSE_OK) return CLI_PARSE_ERROR;
    }
    if (npos) *npos = n;
    return CLI_PARSE_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* help                                                                                        */

void cli_print_flags(FILE *out, cli_flag *flags, int nflags) {
    for (int i = 0; i < nflags; i++) {
        cli_flag *f = &flags[i];
        if (!f->def_buf[0]) fill_default(f);
        char left[96];
        if (f->kind == CLI_SWITCH)
            snprintf(left, sizeof left, "  --%s", f->name);
        else
            snprintf(left, sizeof left, "  --%s %s", f->name, f->metavar ? f->metavar : "VALUE");
        int w = (int)strlen(left);
        fputs(left, out);
        if (w >= HELP_COLUMN - 1) {
            fputc('\n', out);
            w = 0;
        }
        fprintf(out, "%*s", HELP_COLUMN - w, "");
        int col = HELP_COLUMN; /* column of the cursor, to keep lines under HELP_WIDTH */
        for (const char *p = f->help; *p; p++) {
            fputc(*p, out);
            col++;
            if (*p == '\n') {
                fprintf(out, "%*s", HELP_COLUMN, "");
                col = HELP_COLUMN;
            }
        }
        char extra[160] = "";
        size_t n = 0;
        if (f->kind == CLI_CHOICE) {
            n += (size_t)snprintf(extra + n, sizeof extra - n, " (");
            for (const char *c = f->choices; *c && n + 3 < sizeof extra; c++) {
                if (*c == '|') {
                    extra[n++] = ',';
                    extra[n++] = ' ';
                } else {
                    extra[n++] = *c;
                }
            }
            extra[n] = 0;
            n += (size_t)snprintf(extra + n, sizeof extra - n, ")");
        }
        if (f->kind != CLI_SWITCH && f->def_buf[0] && n < sizeof extra)
            n += (size_t)snprintf(extra + n, sizeof extra - n, " [default: %s]", f->def_buf);
        if (col + (int)strlen(extra) > HELP_WIDTH && col > HELP_COLUMN)
            fprintf(out, "\n%*s%s", HELP_COLUMN - 1, "", extra);
        else
            fputs(extra, out);
        fputc('\n', out);
    }
    fprintf(out, "  --help, -h%*sshow this help\n", HELP_COLUMN - 12, "");
}

/* ------------------------------------------------------------------------------------------ */
/* outputs                                                                                     */

int cli_check_png_out(const char *flag, const char *path) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return cli_check_out(flag, path, png, sizeof png, "a PNG");
}

int cli_check_out(const char *flag, const char *path, const void *head, size_t n,
                  const char *what) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    struct stat st;
    if (slash && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return cli_error("--%s %s: its folder %s does not exist", flag, path, dir);
    /* (the file is written beside its name and renamed over it, so the folder must take a new
     * one; a device or pipe, /dev/stdout, is written as it stands) */
    if (!(stat(path, &st) == 0 && !S_ISREG(st.st_mode)) && access(slash ? dir : ".", W_OK) != 0)
        return cli_error("--%s %s: cannot write in its folder %s: %s", flag, path,
                         slash ? dir : ".", strerror(errno));
    return cli_check_replaceable(flag, path, head, n, what, "");
}

int cli_check_replaceable(const char *flag, const char *path, const void *head, size_t n,
                          const char *what, const char *why) {
    struct stat st, fd;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_error("--%s %s: is a folder, not a file", flag, path);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return CLI_EXIT_OK;
    for (int k = 1; k <= 2; k++) /* --log /dev/stdout > FILE: this run's own output */
        if (fstat(k, &fd) == 0 && fd.st_dev == st.st_dev && fd.st_ino == st.st_ino)
            return CLI_EXIT_OK;
    unsigned char got[64];
    if (n > sizeof got) n = sizeof got;
    FILE *in = fopen(path, "rb");
    if (!in)
        return cli_error("--%s %s: exists and cannot be read to check that it is %s: %s; not "
                         "overwriting it", flag, path, what, strerror(errno));
    size_t r = fread(got, 1, n, in);
    fclose(in);
    if (r != n || memcmp(got, head, n) != 0)
        return cli_error("--%s %s: exists and is not %s%s; not overwriting it", flag, path, what,
                         why);
    return CLI_EXIT_OK;
}

/* (args.h) */
int cli_parse_image_size(const char *text, long *h, long *w) {
    const char *comma = strchr(text, ',');
    char first[32];
    if (comma) {
        if ((size_t)(comma - text) >= sizeof first) return -1;
        memcpy(first, text, (size_t)(comma - text));
        first[comma - text] = 0;
    }
    if (cli_parse_long(comma ? first : text, 1, CLI_MAX_IMAGE_SIDE, h) != 0 ||
        cli_parse_long(comma ? comma + 1 : text, 1, CLI_MAX_IMAGE_SIDE, w) != 0)
        return -1;
    return *h * *w > CLI_MAX_IMAGE_PIXELS ? -1 : 0;
}

