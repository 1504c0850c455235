/*
 * fuzz_train_flags.c — a `ctrain train` command line, as the tool parses it before it touches
 * data or devices: the input is split at NUL and newline bytes into at most 64 arguments, which
 * go through cli_parse with train's flag table (args.c, train_opts.c), then through
 * train_parse_val_size and train_finish_options (the flags' combinations, --schedule, --augment,
 * --betas and the library's ct_train_config_check) and, for a command line that passes, the
 * --help text and a second run of the same flags, which must give the same configuration. A bad command line must
 * come back as a usage error with a message (held, not printed: FUZZ_VERBOSE=1 prints them);
 * nothing may crash, overflow or leak.
 */
#include "fuzzlib.h"

#include "../../tools/ctrain/train.h"
#include "../../tools/ctrain/cli.h" /* train_help */

#define FUZZ_MAX_ARGS 64

/* argv[1..] from the input (argv[0] = "train"); the strings live in *buf (freed by the caller). */
static int split_args(const uint8_t *data, size_t size, char **argv, char **buf) {
    char *s = fuzz_string(data, size);
    int argc = 0;
    argv[argc++] = "train";
    char *p = s, *end = s + size;
    while (p <= end && argc < FUZZ_MAX_ARGS) {
        char *q = p;
        while (q < end && *q != '\0' && *q != '\n') q++;
        *q = '\0';
        argv[argc++] = p;
        p = q + 1;
    }
    *buf = s;
    return argc;
}

static int parse(int argc, char **argv, train_opts *o, cli_flag *flags) {
    train_opts_init(o);
    int n = train_make_flags(o, flags);
    if (n != NUM_TRAIN_FLAGS) abort(); /* the table and its size disagree */
    int npos = 0;
    cli_parse_result r = cli_parse("train", flags, n, argc, argv, NULL, 0, &npos);
    if (r == CLI_PARSE_ERROR) return CLI_EXIT_USAGE;
    if (r == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (train_parse_val_size(o) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    return train_finish_options(o, flags, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *argv[FUZZ_MAX_ARGS + 1], *buf = NULL;
    int argc = split_args(data, size, argv, &buf);
    argv[argc] = NULL;
    train_opts o, o2;
    cli_flag flags[NUM_TRAIN_FLAGS], flags2[NUM_TRAIN_FLAGS];
    /* the one-line errors are formatted and kept, not written (as a rank of a job does) */
    cli_hold_errors();
    int rc = parse(argc, argv, &o, flags);
    if (rc != CLI_EXIT_OK && rc != CLI_EXIT_USAGE) abort(); /* a command line is good or bad */
    if (rc == CLI_EXIT_USAGE && cli_held_errors() == 0) abort(); /* and a bad one says why */
    cli_release_errors(getenv("FUZZ_VERBOSE") != NULL);
    if (rc == CLI_EXIT_OK) {
        FILE *out = fopen("/dev/null", "w");
        if (!out) abort();
        cli_print_flags(out, flags, NUM_TRAIN_FLAGS);
        train_help(out);
        fclose(out);
        /* parsing is a function of the command line alone */
        if (parse(argc, argv, &o2, flags2) != CLI_EXIT_OK ||
            memcmp(&o.cfg, &o2.cfg, sizeof o.cfg) != 0)
            abort();
    }
    free(buf);
    return 0;
}
