/*
 * args.h — flag parsing for the ctrain command-line tool.
 *
 * Each command describes its flags in a table of cli_flag (name, kind, allowed range, where the
 * value goes, help text). cli_parse walks argv once: long flags take `--flag value` or
 * `--flag=value`, switches take no value, `--help`/`-h` asks for help, `--` ends the flags.
 * Numbers are parsed strictly (the whole text, range-checked). A bad flag prints one line
 *     ctrain: --lr: expected a positive number, got "abc" (see ctrain train --help)
 * on stderr; the command then exits with CLI_EXIT_USAGE.
 */
#ifndef CTRAIN_CLI_ARGS_H
#define CTRAIN_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* exit codes of the tool */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,        /* the library failed: ctrain: <ct_last_error()> */
    CLI_EXIT_USAGE = 2,        /* a bad command line */
    CLI_EXIT_INTERRUPTED = 130, /* Ctrl-C (128 + SIGINT) */
    CLI_EXIT_ERROR_ALL = 257    /* within the tool only: CLI_EXIT_ERROR on every rank alike
                                 * (cli_dist_agree), which leaves the job normally */
};

typedef enum {
    CLI_INT,    /* int */
    CLI_I64,    /* int64_t */
    CLI_U64,    /* uint64_t (no sign allowed) */
    CLI_FLOAT,  /* float, finite */
    CLI_STR,    /* const char *, non-empty */
    CLI_CHOICE, /* const char *, one of the '|'-separated words in choices */
    CLI_SWITCH  /* int set to 1; takes no value */
} cli_kind;

typedef enum {
    CLI_ANY = 0,
    CLI_POSITIVE, /* > 0 */
    CLI_NONNEG,   /* >= 0 */
    CLI_FRACTION  /* 0 <= x < 1 */
} cli_range;

typedef struct {
    const char *name;    /* without the dashes: "lr" */
    cli_kind kind;
    cli_range range;
    void *dst;           /* int*, int64_t*, uint64_t*, float*, const char** or int* (switch) */
    const char *metavar; /* "X", "N", "DIR" (help only) */
    const char *help;    /* may contain '\n' for more lines */
    const char *def;     /* default as shown in help; NULL = the value *dst holds before parsing */
    const char *choices; /* CLI_CHOICE: "auto|cpu|cuda" */
    long max;            /* CLI_INT, CLI_I64: the largest value (0: the type's) */
    int seen;            /* set by cli_parse when the flag was given */
    const char *text;    /* the value as given (NULL: not given) */
    char def_buf[96];    /* filled by cli_parse/cli_print_flags from *dst when def is NULL */
} cli_flag;

typedef enum { CLI_PARSE_OK = 0, CLI_PARSE_HELP = 1, CLI_PARSE_ERROR = 2 } cli_parse_result;

/* Parses argv[1..argc) of command cmd ("train"; used in messages). Positional arguments go into
 * pos[0..max_pos) (count in *npos; pos may be NULL when max_pos is 0). On a bad command line,
 * prints the one-line error and returns CLI_PARSE_ERROR. */
cli_parse_result cli_parse(const char *cmd, cli_flag *flags, int nflags, int argc, char **argv,
                           const char **pos, int max_pos, int *npos);

/* Prints the flags table for --help: "  --name METAVAR   help (default: X)". */
void cli_print_flags(FILE *f, cli_flag *flags, int nflags);

/* Finds a flag by name (without dashes); NULL if absent. */
cli_flag *cli_find(cli_flag *flags, int nflags, const char *name);
/* A CLI_FLOAT flag's value as typed (parsed as a double; its float when not given). */
double cli_float_typed(const cli_flag *f);
/* Its value for a range error: the text typed, or, when that (typed_ok) was in range but
 * not the 32-bit float it became, "TEXT (V as a 32-bit float)" ("1.0000001 (1.00000012 as a
 * 32-bit float)"). buf: 96 bytes. */
const char *cli_float_text(const cli_flag *f, int typed_ok, char *buf, size_t bytes);
/* d as a 32-bit float in the fewest digits, from %g's 6 up to 9, that read back as it ("0.1",
 * "25", "25.0000019"; not "0.100000001"). */
void cli_shortest_float(double d, char *out, size_t bytes);

/* The errors below are one line each, written at once: "ctrain: <message>", or with
 * cli_set_error_rank(R > 0) "ctrain: rank R: <message>" (a rank of an mpirun job). Between
 * cli_hold_errors and cli_release_errors they are kept in memory instead (the bytes so far:
 * cli_held_errors), then written (say) or dropped: a rank of a job holds its errors until it
 * knows whether rank 0 says the same (dist_cli.c). Other stderr output is never held. */
void cli_set_error_rank(int rank);
/* Words put before every message until set again (NULL or "": none): ctrain sweep's
 * "trial 3 (--lr 5): ". */
void cli_set_error_prefix(const char *prefix);
void cli_hold_errors(void);
size_t cli_held_errors(void);
uint64_t cli_held_errors_key(void); /* a hash of the held messages, the rank left out */
void cli_release_errors(int say);

/* Prints "ctrain: <message>" (and a newline) on stderr; returns CLI_EXIT_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "ctrain: <message> (see ctrain CMD --help)" on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "ctrain: <ct_last_error()>" (on one line) on stderr; returns CLI_EXIT_ERROR. */
int cli_lib_error(int status);

/* An output flag's file (--log, --out) may replace what is at path only when that is nothing, a
 * non-regular or empty file, the file stdout or stderr already writes, or a file that starts with
 * the n bytes of head (one of its own kind, `what`: "a PNG"). Else prints "--FLAG PATH: exists
 * and is not WHAT[WHY]; not overwriting it" (or, for a folder, "is a folder") and returns
 * CLI_EXIT_ERROR. */
int cli_check_replaceable(const char *flag, const char *path, const void *head, size_t n,
                          const char *what, const char *why);
/* For a file the command writes at PATH: its folder exists and takes new files, and PATH is
 * replaceable (cli_check_replaceable: nothing there, or a file starting with head, one of
 * `what`). */
int cli_check_out(const char *flag, const char *path, const void *head, size_t n,
                  const char *what);
/* The same for a PNG (show --out, eval --confusion). */
int cli_check_png_out(const char *flag, const char *path);

/* Strict number parsing: the whole of s, no leading space, range-checked. 0 on success,
 * -1 when s is not a number of that kind, -2 when it is out of range. */
int cli_parse_long(const char *s, long min, long max, long *out);
/* --image-size: "SIDE" (SIDE x SIDE) or "HEIGHT,WIDTH" into h and w, each 1 to
 * CLI_MAX_IMAGE_SIDE and at most CLI_MAX_IMAGE_PIXELS in all; -1 when malformed or out of range. */
#define CLI_MAX_IMAGE_SIDE 4096
#define CLI_MAX_IMAGE_PIXELS (1 << 22)
int cli_parse_image_size(const char *text, long *h, long *w);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_double(const char *s, double *out);

#endif /* CTRAIN_CLI_ARGS_H */
