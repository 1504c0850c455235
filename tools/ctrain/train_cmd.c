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
#include "dist_cli.h"
#include "progress.h"
#include "train.h"

#include "ctrain.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* options                                                                                     */

enum { NUM_TRAIN_FLAGS = 36 };

#define ADAM_DEFAULT_LR 1e-3f  /* torch.optim.Adam/AdamW's default lr */
#define SINGLE_PHASE_EPOCHS 10 /* --lr or a non-phase schedule without --epochs */

static const char *const k_optimizers[] = {"sgd", "adam", "adamw"};
static const char *const k_schedules[] = {"phases", "step", "cosine", "onecycle"};

int train_optimizer_kind(const char *name) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, k_optimizers[i]) == 0) return i;
    return -1;
}
int train_schedule_kind(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, k_schedules[i]) == 0) return i;
    return -1;
}
const char *train_optimizer_name(int kind) {
    return kind >= 0 && kind < 3 ? k_optimizers[kind] : "sgd";
}
const char *train_schedule_name(int kind) {
    return kind >= 0 && kind < 4 ? k_schedules[kind] : "phases";
}

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
    o->dataset = "mnist";
    o->optimizer = "sgd";
    o->lr_schedule = "phases";
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
        {.name = "dataset", .kind = CLI_CHOICE, .dst = &o->dataset, .metavar = "NAME",
         .choices = CLI_DATASETS,
         .help = "what to train on; the input shape and classes come from it\n"
                 "(fashion-mnist: /usr/share/datasets/fashion-mnist when there)"},
        {.name = "data", .kind = CLI_STR, .dst = &o->data_dir, .metavar = "DIR",
         .help = "folder with the dataset's files (MNIST: fetched there\nwhen missing)",
         .def = "$CTRAIN_DATA, else ~/.cache/ctrain/DATASET"},
        {.name = "val-size", .kind = CLI_I64, .range = CLI_POSITIVE, .dst = &o->val_size,
         .metavar = "N", .help = "training images held out for validation\n(a seeded random split)"},
        {.name = "model", .kind = CLI_STR, .dst = &o->model, .metavar = "SPEC",
         .help = "\"mlp\" (flatten,linear(HIDDEN),relu,linear(CLASSES)), lenet5,\n"
                 "cnn, or layers: \"flatten,linear(64),relu,linear(10)\"\n"
                 "(see ctrain summary --help)"},
        {.name = "hidden", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->hidden,
         .metavar = "N", .help = "hidden units of --model mlp"},
        {.name = "schedule", .kind = CLI_STR, .dst = &o->schedule, .metavar = "PHASES",
         .help = "training phases EPOCHS@LR,EPOCHS@LR,... (at most 16)"},
        {.name = "epochs", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->epochs,
         .metavar = "N",
         .help = "train N epochs at one learning rate (--lr, else 0.5;\n"
                 "adam/adamw: 0.001) instead of --schedule",
         .def = "the schedule; adam/adamw: 10"},
        {.name = "lr", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->lr, .metavar = "X",
         .help = "one learning rate for all epochs (--epochs, else 10)\n"
                 "instead of --schedule; the base lr of --lr-schedule",
         .def = "the schedule; adam/adamw: 0.001"},
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
        {.name = "optimizer", .kind = CLI_CHOICE, .dst = &o->optimizer, .metavar = "NAME",
         .choices = "sgd|adam|adamw",
         .help = "torch.optim's SGD, Adam or AdamW (PyTorch's defaults); with\n"
                 "adam/adamw and no --lr/--schedule: 10 epochs at lr 0.001"},
        {.name = "betas", .kind = CLI_STR, .dst = &o->betas, .metavar = "B1,B2",
         .help = "Adam/AdamW betas, each in (0, 1)", .def = "0.9,0.999"},
        {.name = "eps", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->eps, .metavar = "X",
         .help = "Adam/AdamW epsilon", .def = "1e-08"},
        {.name = "lr-schedule", .kind = CLI_CHOICE, .dst = &o->lr_schedule, .metavar = "NAME",
         .choices = "phases|step|cosine|onecycle",
         .help = "phases: --schedule's constant lr per phase; step, cosine,\n"
                 "onecycle: PyTorch's StepLR, CosineAnnealingLR, OneCycleLR\n"
                 "over --epochs (else 10) from --lr (the max lr for onecycle)"},
        {.name = "step-size", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->step_size,
         .metavar = "N", .help = "step: epochs between decays (required)", .def = "none"},
        {.name = "gamma", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->gamma,
         .metavar = "X", .help = "step: lr decay factor", .def = "0.1"},
        {.name = "eta-min", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->eta_min,
         .metavar = "X", .help = "cosine: the final lr", .def = "0"},
        {.name = "pct-start", .kind = CLI_FLOAT, .range = CLI_FRACTION, .dst = &o->pct_start,
         .metavar = "X", .help = "onecycle: fraction of the steps rising, in (0, 1)",
         .def = "0.3"},
        {.name = "warmup-epochs", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->warmup_epochs,
         .metavar = "N", .help = "linear warm-up (LinearLR) over the first N epochs,\n"
                                  "multiplying any schedule's lr"},
        {.name = "warmup-start-factor", .kind = CLI_FLOAT, .range = CLI_POSITIVE,
         .dst = &o->warmup_start_factor, .metavar = "X",
         .help = "warm-up's first lr factor, in (0, 1]", .def = "0.333333"},
        {.name = "clip-grad-norm", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->clip_norm,
         .metavar = "X", .help = "clip the gradients' global L2 norm to X (0: off)",
         .def = "off"},
        {.name = "seed", .kind = CLI_U64, .range = CLI_NONNEG, .dst = &o->seed, .metavar = "N",
         .help = "seeds the split, the initial weights and the shuffling"},
        {.name = "device", .kind = CLI_CHOICE, .dst = &o->device, .metavar = "NAME",
         .choices = "auto|cpu|cuda",
         .help = "where to train; auto = CUDA if usable, else the CPU;\n"
                 "cuda fails when no usable GPU is found"},
        {.name = "threads", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->threads,
         .metavar = "N", .help = "CPU threads for the CPU device (0 = all cores;\n"
                                  "under mpirun: per rank, 0 = the rank's share)"},
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
        {.name = "save", .kind = CLI_STR, .dst = &o->save_dir, .metavar = "DIR",
         .help = "checkpoint into DIR (model.safetensors, train_state.safetensors)\n"
                 "at the end, on Ctrl-C and every --save-every epochs",
         .def = "none; with --resume, the resumed folder"},
        {.name = "save-every", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->save_every,
         .metavar = "N", .help = "also checkpoint after every N epochs (0: only at the end)"},
        {.name = "resume", .kind = CLI_STR, .dst = &o->resume_dir, .metavar = "DIR",
         .help = "continue the run saved in DIR exactly where it stopped; its\n"
                 "settings are kept (see below)", .def = "none"},
        {.name = "plot", .kind = CLI_STR, .dst = &o->plot_dir, .metavar = "DIR",
         .help = "after each epoch draw DIR/loss.png and DIR/accuracy.png",
         .def = "none"},
        {.name = "log", .kind = CLI_STR, .dst = &o->log_path, .metavar = "FILE",
         .help = "one JSON object per epoch per line (epoch, phase, lr,\n"
                 "train_loss, train_acc, val_loss, val_acc, seconds, samples_per_s)",
         .def = "none"},
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
          "Missing MNIST files are downloaded first (see ctrain data --help). --dataset picks\n"
          "Fashion-MNIST or CIFAR-10 instead (same split: --val-size of the training set).\n"
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
          "A progress bar is drawn on stderr when it is a terminal. Ctrl-C (or SIGTERM) stops\n"
          "after the current step, checkpoints when --save (or --resume) names a folder, says\n"
          "how to resume, and exits 130; a second Ctrl-C ends the process at once.\n"
          "\n"
          "checkpoints (--save DIR):\n"
          "  DIR/model.safetensors        the weights under PyTorch state_dict names (linear1.weight\n"
          "                               [32, 784], ...) and metadata (spec, input shape, accuracy)\n"
          "  DIR/train_state.safetensors  all a resume needs: weights, optimizer state, position in\n"
          "                               the epoch, settings and history\n"
          "  Each file is replaced atomically: a kill during a save leaves the previous one whole.\n"
          "\n"
          "resuming (--resume DIR): the run continues from where it was saved and prints the same\n"
          "numbers as a run never stopped (on the CPU, same --threads). Its settings come from the\n"
          "checkpoint; flags that change the results (--dataset, --model, --hidden, --val-size,\n"
          "--seed, --batch-size, --eval-batch-size, --momentum, --weight-decay, --nesterov,\n"
          "--optimizer, --betas, --eps, --lr-schedule, --step-size, --gamma, --eta-min,\n"
          "--pct-start, --warmup-epochs, --warmup-start-factor, --clip-grad-norm) may be given\n"
          "only with the saved value. --epochs N extends or shortens the run to N epochs in all\n"
          "(the last phase's learning rate continues), --schedule/--lr replace the schedule if\n"
          "the epochs already run keep their learning rate. --device, --threads, --workers,\n"
          "--prefetch, --data-on-device, --data, --quiet, --plot, --log may differ.\n"
          "  ctrain train --epochs 2 --save run1 && ctrain train --resume run1 --epochs 4\n",
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

/* "B1,B2" → two floats in [0, 1); -1 when malformed. */
static int parse_betas(const char *s, float *b1, float *b2) {
    char buf[64];
    const char *comma = strchr(s, ',');
    if (!comma || (size_t)(comma - s) >= sizeof buf) return -1;
    memcpy(buf, s, (size_t)(comma - s));
    buf[comma - s] = 0;
    double x, y;
    if (cli_parse_double(buf, &x) != 0 || cli_parse_double(comma + 1, &y) != 0) return -1;
    if (!(x > 0 && x < 1) || !(y > 0 && y < 1)) return -1; /* 0 would mean the default */
    *b1 = (float)x;
    *b2 = (float)y;
    return 0;
}

/* Checks the flags against each other and fills o->cfg; prints the error and returns 2. */
static int finish_options(train_opts *o, cli_flag *flags, int nflags) {
    int seen_epochs = cli_find(flags, nflags, "epochs")->seen;
    int seen_lr = cli_find(flags, nflags, "lr")->seen;
    int seen_schedule = cli_find(flags, nflags, "schedule")->seen;
#define SEEN(name) (cli_find(flags, nflags, name)->seen)
    ct_train_config *c = &o->cfg;
    int opt = train_optimizer_kind(o->optimizer), sched = train_schedule_kind(o->lr_schedule);
    int adam = opt == CT_ADAM || opt == CT_ADAMW;
    /* the optimizer's own flags */
    if (adam && SEEN("momentum") && o->momentum != 0)
        return cli_usage_error("train", "--momentum: applies to --optimizer sgd (%s uses --betas)",
                               o->optimizer);
    if (adam && o->nesterov)
        return cli_usage_error("train", "--nesterov: applies to --optimizer sgd (%s uses --betas)",
                               o->optimizer);
    if (!adam && (SEEN("betas") || SEEN("eps")))
        return cli_usage_error("train", "--%s: applies to --optimizer adam or adamw (got %s)",
                               SEEN("betas") ? "betas" : "eps", o->optimizer);
    if (SEEN("betas") && parse_betas(o->betas, &o->beta1, &o->beta2) != 0)
        return cli_usage_error("train", "--betas: expected B1,B2 with each in (0, 1), got \"%s\"",
                               o->betas);
    /* the schedule's own flags */
    static const struct { const char *flag; int sched; } only[] = {
        {"step-size", CT_SCHED_STEP}, {"gamma", CT_SCHED_STEP}, {"eta-min", CT_SCHED_COSINE},
        {"pct-start", CT_SCHED_ONECYCLE}};
    for (size_t i = 0; i < sizeof only / sizeof only[0]; i++)
        if (SEEN(only[i].flag) && sched != only[i].sched)
            return cli_usage_error("train", "--%s: applies to --lr-schedule %s (got %s)",
                                   only[i].flag, train_schedule_name(only[i].sched),
                                   o->lr_schedule);
    if (sched == CT_SCHED_STEP && o->step_size <= 0)
        return cli_usage_error("train", "--step-size: required with --lr-schedule step");
    if (SEEN("pct-start") && !(o->pct_start > 0))
        return cli_usage_error("train", "--pct-start: expected a number in (0, 1), got %g",
                               (double)o->pct_start);
    if (SEEN("warmup-start-factor") && !(o->warmup_start_factor <= 1))
        return cli_usage_error("train", "--warmup-start-factor: expected a number in (0, 1], "
                               "got %g", (double)o->warmup_start_factor);
    if (SEEN("warmup-start-factor") && o->warmup_epochs <= 0)
        return cli_usage_error("train", "--warmup-start-factor: needs --warmup-epochs > 0");
    /* a fresh run's --schedule is only for phases; a resumed one's is its folded schedule */
    if (!o->resume_dir && seen_schedule && sched != CT_SCHED_PHASES)
        return cli_usage_error("train", "--schedule: only with --lr-schedule phases (%s takes "
                               "--epochs and --lr)", o->lr_schedule);
    if (seen_schedule && (seen_epochs || seen_lr))
        return cli_usage_error("train", "--schedule: cannot be combined with --%s",
                               seen_epochs ? "epochs" : "lr");
    if (seen_epochs && o->epochs > MAX_TOTAL_EPOCHS)
        return cli_usage_error("train", "--epochs: %d is out of range (at most %d)", o->epochs,
                               MAX_TOTAL_EPOCHS);
    if (!seen_schedule && adam && !seen_lr) { /* PyTorch's Adam default: lr 1e-3 */
        c->phases[0].epochs = seen_epochs ? o->epochs : SINGLE_PHASE_EPOCHS;
        c->phases[0].lr = ADAM_DEFAULT_LR;
        c->num_phases = 1;
    } else if (seen_epochs || seen_lr || (!seen_schedule && sched != CT_SCHED_PHASES)) {
        int total = 0;
        for (int i = 0; i < c->num_phases; i++) total += c->phases[i].epochs;
        c->phases[0].epochs = seen_epochs ? o->epochs : (total > 0 ? total : SINGLE_PHASE_EPOCHS);
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
#undef SEEN
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
    c->optimizer = (ct_optimizer_kind)opt;
    c->beta1 = o->beta1;
    c->beta2 = o->beta2;
    c->eps = o->eps;
    c->schedule = (ct_schedule_kind)sched;
    c->step_size = o->step_size;
    c->gamma = o->gamma;
    c->eta_min = o->eta_min;
    c->pct_start = o->pct_start;
    c->warmup_epochs = o->warmup_epochs;
    c->warmup_start_factor = o->warmup_start_factor;
    c->clip_norm = o->clip_norm;
    /* the library's own check, for whatever combination the flags above let through */
    if (ct_train_config_check(c) != CT_OK) {
        const char *msg = ct_last_error();
        return cli_usage_error("train", "%s", msg && *msg ? msg : "bad optimizer settings");
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* callbacks, Ctrl-C and SIGTERM                                                               */

static volatile sig_atomic_t g_interrupted = 0;

static void on_signal(int sig) {
    (void)sig;
    g_interrupted = 1; /* SA_RESETHAND: a second signal gets the default action */
}

typedef struct {
    progress_bar bar;
    int epochs_done;
    train_run *run;
    int test_stop_epoch;     /* CTRAIN_TEST_INTERRUPT_AT=EPOCH:BATCH raises SIGINT there */
    int64_t test_stop_batch;
} fit_state;

static int on_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s) {
    fit_state *st = user;
    if (epoch == st->test_stop_epoch && done == st->test_stop_batch) raise(SIGINT);
    if (g_interrupted) return 1;
    progress_step(&st->bar, epoch, done, total, samples, elapsed_s);
    return 0;
}

static int on_epoch(void *user, const ct_epoch_result *r) {
    fit_state *st = user;
    train_run *run = st->run;
    progress_clear(&st->bar);
    printf("Epoch [%d], val_loss: %.4f, val_acc: %.4f\n", r->epoch, r->val.loss, r->val.accuracy);
    fflush(stdout);
    st->epochs_done++;
    train_epoch_outputs(run, r->epoch + 1);
    int every = run->o->save_every;
    if (run->save_dir && every > 0 && (r->epoch + 1) % every == 0 && !g_interrupted &&
        r->epoch + 1 < run->total_epochs && train_save(run, NULL) != 0)
        return 1; /* a checkpoint that cannot be written stops the run (message printed) */
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

static void print_plan(const train_opts *o, int total_epochs, const char *save_dir) {
    const ct_train_config *c = &o->cfg;
    char sched[SCHEDULE_BYTES];
    format_schedule(c->phases, c->num_phases, sched, sizeof sched);
    static const char *const names[] = {"SGD", "Adam", "AdamW"};
    printf("Plan: %d epoch%s (%s), batch %d, %s", total_epochs, total_epochs == 1 ? "" : "s",
           sched, c->batch_size, names[(unsigned)c->optimizer < 3 ? c->optimizer : 0]);
    if (c->momentum > 0) printf(", momentum %g%s", (double)c->momentum, c->nesterov ? " (Nesterov)" : "");
    if (c->optimizer != CT_SGD)
        printf(" (betas %g,%g, eps %g)", (double)(c->beta1 > 0 ? c->beta1 : 0.9f),
               (double)(c->beta2 > 0 ? c->beta2 : 0.999f), (double)(c->eps > 0 ? c->eps : 1e-8f));
    if (c->weight_decay > 0) printf(", weight decay %g", (double)c->weight_decay);
    switch (c->schedule) {
    case CT_SCHED_STEP:
        printf(", step lr every %d epoch%s x%g", c->step_size, c->step_size == 1 ? "" : "s",
               (double)(c->gamma > 0 ? c->gamma : 0.1f));
        break;
    case CT_SCHED_COSINE: printf(", cosine lr to %g", (double)c->eta_min); break;
    case CT_SCHED_ONECYCLE:
        printf(", one-cycle lr (pct_start %g)", (double)(c->pct_start > 0 ? c->pct_start : 0.3f));
        break;
    case CT_SCHED_PHASES: break;
    }
    if (c->warmup_epochs > 0 || c->warmup_steps > 0)
        printf(", warm-up %d %s from x%g", c->warmup_steps > 0 ? c->warmup_steps : c->warmup_epochs,
               c->warmup_steps > 0 ? "steps" : "epochs",
               (double)(c->warmup_start_factor > 0 ? c->warmup_start_factor : 1.0f / 3.0f));
    if (c->clip_norm > 0) printf(", clip grad norm %g", (double)c->clip_norm);
    if (strcmp(o->dataset, "mnist") != 0) printf(", dataset %s", o->dataset);
    printf(", seed %llu", (unsigned long long)o->seed);
    if (save_dir) printf(", saving to %s", save_dir);
    printf("\n");
}

/* What to say when the run stops early: where it stopped, what was saved, how to go on. */
static void report_interrupt(const train_run *run, int saved_ok) {
    if (ct_dist_rank(run->o->cfg.dist) != 0) return; /* rank 0 speaks for the job */
    ct_fit_position p = ct_model_fit_position(run->m);
    if (p.batch > 0) {
        int64_t n_batches = (run->n_train + run->o->cfg.batch_size - 1) / run->o->cfg.batch_size;
        fprintf(stderr, "ctrain: interrupted in epoch %d at batch %lld/%lld", p.epoch,
                (long long)p.batch, (long long)n_batches);
    } else {
        fprintf(stderr, "ctrain: interrupted after %d of %d epochs", p.epoch, run->total_epochs);
    }
    if (!run->save_dir)
        fprintf(stderr, "; nothing saved (give --save DIR to checkpoint)\n");
    else if (saved_ok)
        fprintf(stderr, "; saved to %s\nctrain: resume with: ctrain train --resume %s\n",
                run->save_dir, run->save_dir);
    else
        fprintf(stderr, "; the checkpoint in %s could not be updated\n", run->save_dir);
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
    ct_checkpoint *ck = NULL; /* the train state being resumed */
    if (o.resume_dir) {
        int r = train_resume_options(&o, flags, nflags, &ck);
        if (r != CLI_EXIT_OK) return r;
    }
    if (finish_options(&o, flags, nflags) != CLI_EXIT_OK ||
        (ck && train_resume_check_schedule(&o, ck) != CLI_EXIT_OK)) {
        ct_checkpoint_free(ck);
        return CLI_EXIT_USAGE;
    }
    /* under mpirun -np N: one rank of a data-parallel job; only rank 0 prints and writes files */
    ct_dist *dist = NULL;
    if (cli_dist_start(&dist, o.quiet, argc, argv) != CLI_EXIT_OK) {
        ct_checkpoint_free(ck);
        return CLI_EXIT_ERROR;
    }
    o.threads = cli_dist_threads(dist, o.threads); /* --threads 0: this rank's share of cores */
    int quiet_rank = ct_dist_rank(dist) != 0;
    if (quiet_rank) {
        o.quiet = 1;
        o.plot_dir = NULL;
        o.log_path = NULL;
    }
    o.cfg.dist = dist;
    const ct_train_config *cfg = &o.cfg;
    int total_epochs = 0;
    for (int i = 0; i < cfg->num_phases; i++) total_epochs += cfg->phases[i].epochs;

    ct_dataset *train = NULL, *test = NULL;
    int32_t *train_idx = NULL, *val_idx = NULL;
    ct_backend *b = NULL;
    ct_model *m = NULL;
    train_run run;
    memset(&run, 0, sizeof run);
    run.o = &o;
    run.total_epochs = total_epochs;
    run.save_dir = quiet_rank ? NULL : o.save_dir ? o.save_dir : o.resume_dir;
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

    /* 2. the data folder (MNIST: fetched when files are missing) */
    if (strcmp(o.dataset, "mnist") == 0) {
        if ((s = ct_data_dir(o.data_dir, "mnist", run.data_dir, sizeof run.data_dir)) != CT_OK)
            goto lib_error;
        if (!mnist_files_present(run.data_dir)) {
            if (dist) {
                rc = cli_dist_missing_data(dist, run.data_dir);
                goto done;
            }
            fprintf(stderr, "MNIST not found in %s: fetching it\n", run.data_dir);
            if ((s = ct_data_fetch_mnist(run.data_dir, cli_log_line, NULL)) != CT_OK) goto lib_error;
        }
        /* 3. train (60000) and test (10000), train split into train/val */
        if ((s = ct_dataset_load_mnist(run.data_dir, "train", &train)) != CT_OK) goto lib_error;
        if ((s = ct_dataset_load_mnist(run.data_dir, "test", &test)) != CT_OK) goto lib_error;
    } else {
        snprintf(run.data_dir, sizeof run.data_dir, "%s", o.data_dir ? o.data_dir : "(default)");
        if (cli_load_dataset(o.dataset, o.data_dir, "train", &train) != CLI_EXIT_OK ||
            cli_load_dataset(o.dataset, o.data_dir, "test", &test) != CLI_EXIT_OK) {
            rc = CLI_EXIT_ERROR; /* message printed */
            goto done;
        }
    }
    int64_t n_all = ct_dataset_count(train);
    if (o.val_size >= n_all) {
        rc = cli_usage_error("train", "--val-size: %lld leaves no training images (the training set "
                             "has %lld)", (long long)o.val_size, (long long)n_all);
        goto done;
    }
    run.n_val = o.val_size;
    run.n_train = n_all - o.val_size;
    if ((s = ct_split_indices(n_all, run.n_val, o.seed, &train_idx, &val_idx)) != CT_OK)
        goto lib_error;

    /* 4. the model: new, or the resumed run's (weights, optimizer state, position, history) */
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
    run.m = m;
    run.history = calloc((size_t)total_epochs + 1, sizeof *run.history);
    if (!run.history) {
        fprintf(stderr, "ctrain: out of memory (history of %d epochs)\n", total_epochs);
        goto done;
    }
    int resumed_epochs = 0;
    if (ck) {
        ct_train_config saved;
        ct_epoch_result *hist = NULL;
        if ((s = ct_checkpoint_load_train_state(ck, m, &saved, &run.before, &hist,
                                                &resumed_epochs)) != CT_OK)
            goto lib_error;
        memcpy(run.history, hist, (size_t)resumed_epochs * sizeof *hist);
        free(hist);
        o.cfg.resume = saved.resume;
    }
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
               (long long)run.n_train, (long long)run.n_val, (long long)ct_dataset_count(test),
               in_c, in_h, in_w, where);
        print_plan(&o, total_epochs, run.save_dir);
    }
    fflush(stdout);
    if (run.save_dir && cli_mkdirs(run.save_dir) != 0) goto done;
    if (o.plot_dir && cli_mkdirs(o.plot_dir) != 0) goto done;
    if (train_log_open(&run, resumed_epochs) != 0) goto done;

    /* 5. the tutorial's history = [evaluate(model, val_loader)]; a resumed run has it */
    ct_eval_result ev;
    if (ck) {
        ct_fit_position p = cfg->resume;
        int64_t n_batches = (run.n_train + cfg->batch_size - 1) / cfg->batch_size;
        if (!o.quiet)
            printf("Resumed from %s: epoch %d, batch %lld/%lld\n", o.resume_dir, p.epoch,
                   (long long)p.batch, (long long)n_batches);
        ct_checkpoint_free(ck);
        ck = NULL;
    } else {
        if ((s = ct_evaluate_dist(m, train, val_idx, run.n_val, cfg->eval_batch_size, dist,
                                  &ev)) != CT_OK)
            goto lib_error;
        run.before = ev;
        printf("Before training: val_loss: %.4f, val_acc: %.4f\n", ev.loss, ev.accuracy);
    }
    fflush(stdout);

    /* 6. fit, with Ctrl-C and SIGTERM turned into a clean stop (and a checkpoint) */
    fit_state st = {.epochs_done = 0, .run = &run, .test_stop_epoch = -1};
    const char *stop_at = getenv("CTRAIN_TEST_INTERRUPT_AT");
    long long stop_batch = 0;
    if (stop_at && sscanf(stop_at, "%d:%lld", &st.test_stop_epoch, &stop_batch) == 2)
        st.test_stop_batch = stop_batch;
    else
        st.test_stop_epoch = -1;
    progress_init(&st.bar, !o.quiet && isatty(STDERR_FILENO), total_epochs);
    ct_callbacks cb = {.on_step = on_step, .on_epoch = on_epoch, .user = &st};
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    g_interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    double t0 = ct_time_s();
    s = ct_fit(m, train, train_idx, run.n_train, val_idx, run.n_val, cfg, &cb, run.history);
    double fit_s = ct_time_s() - t0;
    progress_clear(&st.bar);
    if (s == CT_ERR_INTERRUPTED || (s == CT_OK && g_interrupted)) {
        int saved_ok = run.save_dir ? train_save(&run, NULL) == 0 : 0;
        report_interrupt(&run, saved_ok);
        rc = CLI_EXIT_INTERRUPTED;
        goto restore;
    }
    if (s != CT_OK) goto lib_error_restore;

    /* 7. the test set, the time, and the final checkpoint */
    if ((s = ct_evaluate_dist(m, test, NULL, ct_dataset_count(test), cfg->eval_batch_size, dist,
                              &ev)) != CT_OK)
        goto lib_error_restore;
    printf("test_loss: %.4f, test_acc: %.4f\n", ev.loss, ev.accuracy);
    printf("Training time: %.3f s (%.3f s/epoch)\n", fit_s,
           median_train_s(run.history + resumed_epochs, st.epochs_done));
    fflush(stdout);
    rc = CLI_EXIT_OK;
    if (run.save_dir) {
        if (train_save(&run, &ev) != 0) rc = CLI_EXIT_ERROR;
        else if (!o.quiet) printf("Saved: %s\n", run.save_dir);
    }
    if (g_interrupted && rc == CLI_EXIT_OK) { /* a signal during the test or the save */
        report_interrupt(&run, run.save_dir != NULL);
        rc = CLI_EXIT_INTERRUPTED;
    }
    goto restore;

lib_error_restore:
    rc = cli_dist_error(dist, s);
restore:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    goto done;
lib_error:
    rc = cli_dist_error(dist, s);
done:
    if (run.log) fclose(run.log);
    ct_checkpoint_free(ck);
    free(run.history);
    ct_model_free(m);
    ct_backend_free(b);
    free(train_idx);
    free(val_idx);
    ct_dataset_free(test);
    ct_dataset_free(train);
    return cli_dist_end(dist, rc); /* after an error on this rank only: ends the whole job */
}
