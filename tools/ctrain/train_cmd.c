/*
 * train_cmd.c — `ctrain train`: the PyTorch MNIST tutorial by default, every part a flag.
 *
 * Steps: open the device, find (fetch) the data, load train/test, split train into train/val,
 * build the model, evaluate once before training, fit with the phases of the schedule (one
 * "Epoch [i], val_loss: ..., val_acc: ..." line per epoch, progress bar on a terminal), then
 * evaluate the test set. The stdout lines below are parsed by bench scripts; keep them exact:
 *     Before training: val_loss: 2.3012, val_acc: 0.1032
 *     Epoch [3], val_loss: 0.1234, val_acc: 0.9567
 *     test_loss: 0.0912, test_acc: 0.9712
 *     Training time: 1.234 s (0.123 s/epoch)
 */
#include "args.h"
#include "cli.h"
#include "progress.h"

#include "ctrain.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCHEDULE_BYTES 512
#define MAX_TOTAL_EPOCHS 1000000 /* a sanity bound: history holds one entry per epoch */
#define MODEL_SPEC_BYTES 256

/* ------------------------------------------------------------------------------------------ */
/* options                                                                                     */

typedef struct {
    const char *data_dir;
    int64_t val_size;
    const char *model;
    int hidden;
    const char *schedule;
    int epochs;
    float lr;
    int batch_size, eval_batch_size;
    float momentum, weight_decay;
    int nesterov;
    uint64_t seed;
    const char *device;
    int threads, workers, prefetch;
    const char *data_on_device;
    int quiet;
    char schedule_default[SCHEDULE_BYTES];
    ct_train_config cfg; /* the library's defaults, then the flags */
} train_opts;

enum { NUM_TRAIN_FLAGS = 19 };

static void format_schedule(const ct_phase *ph, int n, char *out, size_t out_bytes) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len < out_bytes; i++)
        len += (size_t)snprintf(out + len, out_bytes - len, "%s%d@%g", i ? "," : "", ph[i].epochs,
                                (double)ph[i].lr);
}

static void opts_init(train_opts *o) {
    memset(o, 0, sizeof *o);
    ct_train_config_default(&o->cfg);
    format_schedule(o->cfg.phases, o->cfg.num_phases, o->schedule_default, sizeof o->schedule_default);
    o->val_size = 10000;
    o->model = "mlp";
    o->hidden = 32;
    o->schedule = o->schedule_default;
    o->lr = o->cfg.num_phases > 0 ? o->cfg.phases[0].lr : 0.5f;
    o->batch_size = o->cfg.batch_size;
    o->eval_batch_size = o->cfg.eval_batch_size;
    o->momentum = o->cfg.momentum;
    o->weight_decay = o->cfg.weight_decay;
    o->nesterov = o->cfg.nesterov;
    o->seed = 42;
    o->device = "auto";
    o->threads = 0;
    o->workers = o->cfg.workers;
    o->prefetch = o->cfg.prefetch > 0 ? o->cfg.prefetch : 2;
    o->data_on_device = "auto";
}

/* Fills flags[NUM_TRAIN_FLAGS] pointing into o. */
static int make_flags(train_opts *o, cli_flag *f) {
    cli_flag t[NUM_TRAIN_FLAGS] = {
        {.name = "data", .kind = CLI_STR, .dst = &o->data_dir, .metavar = "DIR",
         .help = "folder with the MNIST files (fetched there when missing)",
         .def = "$CTRAIN_DATA, else ~/.cache/ctrain/mnist"},
        {.name = "val-size", .kind = CLI_I64, .range = CLI_POSITIVE, .dst = &o->val_size,
         .metavar = "N", .help = "training images held out for validation\n(a seeded random split)"},
        {.name = "model", .kind = CLI_STR, .dst = &o->model, .metavar = "SPEC",
         .help = "\"mlp\" (flatten,linear(HIDDEN),relu,linear(10)), another\n"
                 "preset, or layers: \"flatten,linear(64),relu,linear(10)\""},
        {.name = "hidden", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->hidden,
         .metavar = "N", .help = "hidden units of --model mlp"},
        {.name = "schedule", .kind = CLI_STR, .dst = &o->schedule, .metavar = "PHASES",
         .help = "training phases EPOCHS@LR,EPOCHS@LR,... (at most 16)"},
        {.name = "epochs", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->epochs,
         .metavar = "N",
         .help = "train N epochs at one learning rate (--lr, else 0.5)\ninstead of --schedule",
         .def = "the schedule"},
        {.name = "lr", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->lr, .metavar = "X",
         .help = "one learning rate for all epochs (--epochs, else 10)\ninstead of --schedule",
         .def = "the schedule"},
        {.name = "batch-size", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->batch_size,
         .metavar = "N", .help = "training batch size"},
        {.name = "eval-batch-size", .kind = CLI_INT, .range = CLI_POSITIVE,
         .dst = &o->eval_batch_size, .metavar = "N", .help = "validation and test batch size"},
        {.name = "momentum", .kind = CLI_FLOAT, .range = CLI_FRACTION, .dst = &o->momentum,
         .metavar = "X", .help = "SGD momentum"},
        {.name = "weight-decay", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->weight_decay,
         .metavar = "X", .help = "L2 penalty added to the gradient"},
        {.name = "nesterov", .kind = CLI_SWITCH, .dst = &o->nesterov,
         .help = "Nesterov momentum (needs --momentum > 0)"},
        {.name = "seed", .kind = CLI_U64, .range = CLI_NONNEG, .dst = &o->seed, .metavar = "N",
         .help = "seeds the split, the initial weights and the shuffling"},
        {.name = "device", .kind = CLI_CHOICE, .dst = &o->device, .metavar = "NAME",
         .choices = "auto|cpu|cuda",
         .help = "where to train; auto = CUDA if usable, else the CPU;\n"
                 "cuda fails when no usable GPU is found"},
        {.name = "threads", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->threads,
         .metavar = "N", .help = "CPU threads for the CPU device (0 = all cores)"},
        {.name = "workers", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->workers,
         .metavar = "N", .help = "data loader threads (0 = load in the training thread)"},
        {.name = "prefetch", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->prefetch,
         .metavar = "N", .help = "batches each loader thread prepares ahead"},
        {.name = "data-on-device", .kind = CLI_CHOICE, .dst = &o->data_on_device,
         .metavar = "MODE", .choices = "auto|on|off",
         .help = "keep the whole dataset in device memory (on), or\n"
                 "stream batches through the loader (off)"},
        {.name = "quiet", .kind = CLI_SWITCH, .dst = &o->quiet,
         .help = "no progress bar, no Device/Model/Data/Plan lines"},
    };
    memcpy(f, t, sizeof t);
    return NUM_TRAIN_FLAGS;
}

void train_help(FILE *out) {
    train_opts o;
    cli_flag flags[NUM_TRAIN_FLAGS];
    opts_init(&o);
    int n = make_flags(&o, flags);
    fputs("usage: ctrain train [flags]\n"
          "\n"
          "Trains a model on MNIST: 50000 training / 10000 validation images (seeded split of the\n"
          "60000), evaluated on the validation part before training and after every epoch, and on\n"
          "the 10000 test images at the end. The defaults reproduce the PyTorch tutorial: an MLP\n"
          "784 -> 32 -> ReLU -> 10, SGD, 5 epochs at lr 0.5 then 5 at lr 0.1, batch 128.\n"
          "Missing MNIST files are downloaded first (see ctrain data --help).\n"
          "\n"
          "flags:\n",
          out);
    cli_print_flags(out, flags, n);
    fputs("\n"
          "output (stdout, one line each, 4 decimals):\n"
          "  Before training: val_loss: L, val_acc: A\n"
          "  Epoch [E], val_loss: L, val_acc: A         E counts from 0 across all phases\n"
          "  test_loss: L, test_acc: A\n"
          "  Training time: T s (S s/epoch)              T: wall time of training and validation;\n"
          "                                              S: median training time of one epoch\n"
          "A progress bar is drawn on stderr when it is a terminal. Ctrl-C stops after the\n"
          "current step (exit 130); a second Ctrl-C ends the process at once.\n",
          out);
}

/* "5@0.5,5@0.1" → phases; on error writes a message into err and returns -1. */
static int parse_schedule(const char *s, ct_phase *ph, int *n_out, char *err, size_t err_bytes) {
    int n = 0;
    long total = 0;
    const char *p = s;
    if (!*s) return snprintf(err, err_bytes, "expected EPOCHS@LR[,EPOCHS@LR...], got \"\""), -1;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char part[64];
        if (n >= CT_MAX_PHASES)
            return snprintf(err, err_bytes, "at most %d phases, got \"%s\"", CT_MAX_PHASES, s), -1;
        if (len == 0 || len >= sizeof part)
            return snprintf(err, err_bytes, "phase %d: expected EPOCHS@LR, got \"%.*s\"", n + 1,
                            (int)(len < 40 ? len : 40), p), -1;
        memcpy(part, p, len);
        part[len] = 0;
        char *at = strchr(part, '@');
        long epochs = 0;
        double lr = 0;
        if (!at)
            return snprintf(err, err_bytes, "phase %d: expected EPOCHS@LR, got \"%s\"", n + 1, part), -1;
        *at = 0;
        if (cli_parse_long(part, 1, MAX_TOTAL_EPOCHS, &epochs) != 0)
            return snprintf(err, err_bytes, "phase %d: expected a positive number of epochs, got \"%s\"",
                            n + 1, part), -1;
        if (cli_parse_double(at + 1, &lr) != 0 || !(lr > 0) || !((float)lr > 0) || lr > 1e30)
            return snprintf(err, err_bytes, "phase %d: expected a positive learning rate, got \"%s\"",
                            n + 1, at + 1), -1;
        total += epochs;
        if (total > MAX_TOTAL_EPOCHS)
            return snprintf(err, err_bytes, "more than %d epochs in all", MAX_TOTAL_EPOCHS), -1;
        ph[n].epochs = (int)epochs;
        ph[n].lr = (float)lr;
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    *n_out = n;
    return 0;
}

/* Checks the flags against each other and fills o->cfg; prints the error and returns 2. */
static int finish_options(train_opts *o, cli_flag *flags, int nflags) {
    int seen_epochs = cli_find(flags, nflags, "epochs")->seen;
    int seen_lr = cli_find(flags, nflags, "lr")->seen;
    int seen_schedule = cli_find(flags, nflags, "schedule")->seen;
    ct_train_config *c = &o->cfg;
    if (seen_schedule && (seen_epochs || seen_lr))
        return cli_usage_error("train", "--schedule: cannot be combined with --%s",
                               seen_epochs ? "epochs" : "lr");
    if (seen_epochs && o->epochs > MAX_TOTAL_EPOCHS)
        return cli_usage_error("train", "--epochs: %d is out of range (at most %d)", o->epochs,
                               MAX_TOTAL_EPOCHS);
    if (seen_epochs || seen_lr) {
        int total = 0;
        for (int i = 0; i < c->num_phases; i++) total += c->phases[i].epochs;
        c->phases[0].epochs = seen_epochs ? o->epochs : (total > 0 ? total : 10);
        c->phases[0].lr = o->lr;
        c->num_phases = 1;
    } else {
        char err[256];
        if (parse_schedule(o->schedule, c->phases, &c->num_phases, err, sizeof err) != 0)
            return cli_usage_error("train", "--schedule: %s", err);
    }
    if (strcmp(o->model, "mlp") != 0 && cli_find(flags, nflags, "hidden")->seen)
        return cli_usage_error("train", "--hidden: only applies to --model mlp (got --model %s)",
                               o->model);
    if (o->nesterov && !(o->momentum > 0))
        return cli_usage_error("train", "--nesterov: needs --momentum > 0");
    c->batch_size = o->batch_size;
    c->eval_batch_size = o->eval_batch_size;
    c->workers = o->workers;
    c->prefetch = o->prefetch;
    c->data_on_device = strcmp(o->data_on_device, "on") == 0 ? 1
                        : strcmp(o->data_on_device, "off") == 0 ? 0 : -1;
    c->momentum = o->momentum;
    c->weight_decay = o->weight_decay;
    c->nesterov = o->nesterov;
    c->seed = o->seed;
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* callbacks and Ctrl-C                                                                        */

static volatile sig_atomic_t g_interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1; /* SA_RESETHAND: a second Ctrl-C gets the default action */
}

typedef struct {
    progress_bar bar;
    int epochs_done;
} fit_state;

static int on_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s) {
    fit_state *st = user;
    if (g_interrupted) return 1;
    progress_step(&st->bar, epoch, done, total, samples, elapsed_s);
    return 0;
}

static int on_epoch(void *user, const ct_epoch_result *r) {
    fit_state *st = user;
    progress_clear(&st->bar);
    printf("Epoch [%d], val_loss: %.4f, val_acc: %.4f\n", r->epoch, r->val.loss, r->val.accuracy);
    fflush(stdout);
    st->epochs_done++;
    return g_interrupted ? 1 : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median of history[0..n).train_s (0 when n is 0) */
static double median_train_s(const ct_epoch_result *h, int n) {
    if (n <= 0) return 0.0;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return h[n / 2].train_s;
    for (int i = 0; i < n; i++) v[i] = h[i].train_s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double m = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    free(v);
    return m;
}

/* ------------------------------------------------------------------------------------------ */
/* the command                                                                                 */

static void print_plan(const train_opts *o, int total_epochs) {
    const ct_train_config *c = &o->cfg;
    char sched[SCHEDULE_BYTES];
    format_schedule(c->phases, c->num_phases, sched, sizeof sched);
    printf("Plan: %d epoch%s (%s), batch %d, SGD", total_epochs, total_epochs == 1 ? "" : "s",
           sched, c->batch_size);
    if (c->momentum > 0) printf(", momentum %g%s", (double)c->momentum, c->nesterov ? " (Nesterov)" : "");
    if (c->weight_decay > 0) printf(", weight decay %g", (double)c->weight_decay);
    printf(", seed %llu\n", (unsigned long long)o->seed);
}

int cmd_train(int argc, char **argv) {
    train_opts o;
    cli_flag flags[NUM_TRAIN_FLAGS];
    opts_init(&o);
    int nflags = make_flags(&o, flags);
    switch (cli_parse("train", flags, nflags, argc, argv, NULL, 0, NULL)) {
    case CLI_PARSE_HELP: train_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    if (finish_options(&o, flags, nflags) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    const ct_train_config *cfg = &o.cfg;
    int total_epochs = 0;
    for (int i = 0; i < cfg->num_phases; i++) total_epochs += cfg->phases[i].epochs;

    ct_dataset *train = NULL, *test = NULL;
    int32_t *train_idx = NULL, *val_idx = NULL;
    ct_backend *b = NULL;
    ct_model *m = NULL;
    ct_epoch_result *history = NULL;
    int rc = CLI_EXIT_ERROR;
    ct_status s;

    /* 1. the device first: a wrong --device fails before any download or load */
    if ((s = ct_backend_create(o.device, o.threads, &b)) != CT_OK) goto lib_error;
    if (!o.quiet) {
        const char *why = ct_cuda_unavailable_reason();
        int say_why = strcmp(o.device, "auto") == 0 && strcmp(ct_backend_name(b), "cuda") != 0 &&
                      why && *why;
        printf("Device: %s (%s%s%s)\n", ct_backend_name(b), ct_backend_description(b),
               say_why ? "; CUDA not used: " : "", say_why ? why : "");
        fflush(stdout); /* before any fetch log on stderr */
    }

    /* 2. the data folder, fetched when files are missing */
    char dir[PATH_MAX];
    if ((s = ct_data_dir(o.data_dir, "mnist", dir, sizeof dir)) != CT_OK) goto lib_error;
    if (!mnist_files_present(dir)) {
        fprintf(stderr, "MNIST not found in %s: fetching it\n", dir);
        if ((s = ct_data_fetch_mnist(dir, cli_log_line, NULL)) != CT_OK) goto lib_error;
    }

    /* 3. train (60000) and test (10000), train split into train/val */
    if ((s = ct_dataset_load_mnist(dir, "train", &train)) != CT_OK) goto lib_error;
    if ((s = ct_dataset_load_mnist(dir, "test", &test)) != CT_OK) goto lib_error;
    int64_t n_all = ct_dataset_count(train);
    if (o.val_size >= n_all) {
        rc = cli_usage_error("train", "--val-size: %lld leaves no training images (the training set "
                             "has %lld)", (long long)o.val_size, (long long)n_all);
        goto done;
    }
    int64_t n_val = o.val_size, n_train = n_all - o.val_size;
    if ((s = ct_split_indices(n_all, n_val, o.seed, &train_idx, &val_idx)) != CT_OK) goto lib_error;

    /* 4. the model */
    int in_c = ct_dataset_channels(train), in_h = ct_dataset_height(train);
    int in_w = ct_dataset_width(train), classes = ct_dataset_classes(train);
    char spec[MODEL_SPEC_BYTES];
    int is_mlp = strcmp(o.model, "mlp") == 0;
    if (is_mlp)
        snprintf(spec, sizeof spec, "flatten,linear(%d),relu,linear(%d)", o.hidden, classes);
    else
        snprintf(spec, sizeof spec, "%s", o.model);
    int max_batch = cfg->batch_size > cfg->eval_batch_size ? cfg->batch_size : cfg->eval_batch_size;
    if ((s = ct_model_create(b, spec, in_c, in_h, in_w, max_batch, o.seed, &m)) != CT_OK) goto lib_error;
    if (!o.quiet) {
        long long params = (long long)ct_model_param_count(m);
        if (is_mlp)
            printf("Model: %lld -> %d -> ReLU -> %d (%lld parameters)\n",
                   (long long)in_c * in_h * in_w, o.hidden, classes, params);
        else
            printf("Model: %s (%lld parameters)\n", spec, params);
        char why[256] = "";
        int on = ct_data_on_device_choice(m, train, cfg->data_on_device, why, sizeof why);
        char where[320];
        if (!why[0]) snprintf(why, sizeof why, "%s", on ? "resident on the device" : "host loader");
        if (on || cfg->workers == 0)
            snprintf(where, sizeof where, "%s", why);
        else
            snprintf(where, sizeof where, "%s, %d worker%s", why, cfg->workers,
                     cfg->workers == 1 ? "" : "s");
        printf("Data: %lld train / %lld val / %lld test images (%dx%dx%d), %s\n",
               (long long)n_train, (long long)n_val, (long long)ct_dataset_count(test), in_c, in_h,
               in_w, where);
        print_plan(&o, total_epochs);
    }
    fflush(stdout);

    /* 5. the tutorial's history = [evaluate(model, val_loader)] */
    ct_eval_result ev;
    if ((s = ct_evaluate(m, train, val_idx, n_val, cfg->eval_batch_size, &ev)) != CT_OK) goto lib_error;
    printf("Before training: val_loss: %.4f, val_acc: %.4f\n", ev.loss, ev.accuracy);
    fflush(stdout);

    /* 6. fit, with Ctrl-C turned into a clean stop */
    history = calloc((size_t)total_epochs, sizeof *history);
    if (!history) {
        fprintf(stderr, "ctrain: out of memory (history of %d epochs)\n", total_epochs);
        goto done;
    }
    fit_state st = {.epochs_done = 0};
    progress_init(&st.bar, !o.quiet && isatty(STDERR_FILENO), total_epochs);
    ct_callbacks cb = {.on_step = on_step, .on_epoch = on_epoch, .user = &st};
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    g_interrupted = 0;
    sigaction(SIGINT, &sa, &old_sa);
    double t0 = ct_time_s();
    s = ct_fit(m, train, train_idx, n_train, val_idx, n_val, cfg, &cb, history);
    double fit_s = ct_time_s() - t0;
    sigaction(SIGINT, &old_sa, NULL);
    progress_clear(&st.bar);
    if (s == CT_ERR_INTERRUPTED || g_interrupted) {
        fprintf(stderr, "ctrain: interrupted after %d of %d epochs\n", st.epochs_done, total_epochs);
        rc = CLI_EXIT_INTERRUPTED;
        goto done;
    }
    if (s != CT_OK) goto lib_error;

    /* 7. the test set, and the time */
    if ((s = ct_evaluate(m, test, NULL, ct_dataset_count(test), cfg->eval_batch_size, &ev)) != CT_OK)
        goto lib_error;
    printf("test_loss: %.4f, test_acc: %.4f\n", ev.loss, ev.accuracy);
    printf("Training time: %.3f s (%.3f s/epoch)\n", fit_s, median_train_s(history, st.epochs_done));
    fflush(stdout);
    rc = CLI_EXIT_OK;
    goto done;

lib_error:
    rc = cli_lib_error(s);
done:
    free(history);
    ct_model_free(m);
    ct_backend_free(b);
    free(train_idx);
    free(val_idx);
    ct_dataset_free(test);
    ct_dataset_free(train);
    return rc;
}
