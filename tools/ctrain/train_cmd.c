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
 * and, without --quiet, the time of the validation passes after the epochs:
 *     Validation time: 0.110 s (0.011 s/pass)
 */
#include "args.h"
#include "cli.h"
#include "dist_cli.h"
#include "progress.h"
#include "train.h"

#include "ctrain.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* callbacks, Ctrl-C and SIGTERM                                                               */

static volatile sig_atomic_t g_interrupted = 0;
static struct timespec g_interrupted_at; /* (the handler's alone) */

/* The first signal stops the run after its current step; a second ends the process at once (the
 * default action), unless it comes within half a second of the first: that is the same stop
 * sent twice (GNU timeout signals the process and then its process group; a sweep's trial may
 * get its sweep's copy too), which must not lose the checkpoint. */
static void on_signal(int sig) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!g_interrupted) {
        g_interrupted_at = now;
        g_interrupted = 1;
        return;
    }
    long long ns = (long long)(now.tv_sec - g_interrupted_at.tv_sec) * 1000000000LL +
                   (now.tv_nsec - g_interrupted_at.tv_nsec);
    if (ns < 500000000LL) return;
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int k_signals[3] = {SIGINT, SIGTERM, SIGUSR1};

/* on_signal for k_signals, their handlers before into old */
static void catch_signals(struct sigaction old[3]) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* (a write to a full pipe is not cut short by it) */
    sigemptyset(&sa.sa_mask); /* (one handler at a time: it reads and writes g_interrupted_at) */
    for (int k = 0; k < 3; k++) sigaddset(&sa.sa_mask, k_signals[k]);
    g_interrupted = 0;
    for (int k = 0; k < 3; k++) sigaction(k_signals[k], &sa, &old[k]);
}

typedef struct {
    progress_bar bar;
    int epochs_done;
    train_run *run;
    int test_stop_epoch;     /* CTRAIN_TEST_INTERRUPT_AT=EPOCH:BATCH raises SIGINT there */
    int64_t test_stop_batch;
    int early_epoch;         /* --patience stopped the run after this epoch (-1: it did not) */
    int pruned_epoch;        /* a sweep pruned it after this epoch (-1: it did not), */
    char pruned_msg[200];    /* saying why */
    int best_epoch;          /* the epoch of the best --monitor so far */
    int diverged_epoch;      /* the loss became NaN or infinite in this epoch (-1: it did not),
                              * or the weights: the run stopped there, unsaved */
    char weights_msg[256];   /* which weight was not finite ("": the loss was not) */
    int save_failed;         /* a checkpoint during the run could not be written (1; 2: the
                              * --save-best or a --snapshots file): the run stopped after
                              * that epoch (an error, not an interruption) */
} fit_state;

/* --patience: Keras' EarlyStopping(monitor=--monitor, min_delta=--min-delta, patience=N): stop
 * when the best value (improved on by more than min_delta) is N epochs old. */
static int patience_says_stop(fit_state *st, const train_run *run, int epoch) {
    int best = st->best_epoch = train_best_epoch_by(run, 0, epoch, run->o->min_delta);
    int patience = run->o->patience;
    return patience > 0 && epoch - (best < 0 ? -1 : best) >= patience;
}

static int on_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s) {
    fit_state *st = user;
    if (epoch == st->test_stop_epoch && done == st->test_stop_batch) raise(SIGINT);
    train_tb_batch(st->run, epoch, done, total);
    if (g_interrupted) return 1;
    if (progress_due(&st->bar, done, total)) { /* the running train loss, when it is drawn */
        double sums[2], metrics[2];
        int64_t count = 0; /* (one process's only: not under mpirun, which has no bar anyway) */
        int have = !st->run->o->cfg.dist &&
                   ct_model_train_sums(st->run->m, &sums[0], &sums[1], &count) == CT_OK &&
                   count > 0;
        if (have) {
            metrics[0] = sums[0] / (double)count;
            metrics[1] = sums[1] / (double)count;
        }
        progress_step(&st->bar, epoch, done, total, samples, elapsed_s, have ? metrics : NULL);
    }
    return 0;
}

static int on_epoch(void *user, const ct_epoch_result *r) {
    fit_state *st = user;
    train_run *run = st->run;
    progress_clear(&st->bar);
    if (run->n_val > 0)
        printf("Epoch [%d], val_loss: %.4f, val_acc: %.4f\n", r->epoch, cli_metric(r->val.loss),
               r->val.accuracy);
    else /* --val-size 0: nothing held out, the training's own numbers (Keras' loss, accuracy) */
        printf("Epoch [%d], train_loss: %.4f, train_acc: %.4f\n", r->epoch,
               cli_metric(r->train_loss), r->train_acc);
    fflush(stdout);
    st->epochs_done++;
    train_epoch_outputs(run, r->epoch + 1);
    /* a diverged run (Keras' TerminateOnNaN, per epoch) stops before a checkpoint of NaN weights
     * replaces a good one; every rank decides alike (the losses are all-reduced) */
    if (!isfinite(r->train_loss) || (run->n_val > 0 && !isfinite(r->val.loss))) {
        st->diverged_epoch = r->epoch;
        return 1;
    }
    /* or the weights, though the losses are finite (a batch norm's running variance overflowed,
     * or the last update of an epoch): the same on every rank (their weights are the same) */
    if (ct_model_check_finite(run->m) != CT_OK) {
        snprintf(st->weights_msg, sizeof st->weights_msg, "%s", ct_last_error());
        st->diverged_epoch = r->epoch;
        return 1;
    }
    /* --save-best's file, --restore-best's copy: one that cannot be written stops the run as a
     * checkpoint that cannot be written (printed) */
    int best_failed = train_best_after_epoch(run, r->epoch);
    if (best_failed) return st->save_failed = best_failed;
    int every = run->o->save_every; /* --snapshots: epoch_E.safetensors every N epochs */
    if (run->save_dir && run->o->snapshots && every > 0 && (r->epoch + 1) % every == 0) {
        /* (--overwrite: this run's first file there comes with its checkpoint, as best's) */
        if (run->stale_best && train_save(run, NULL) != 0) return st->save_failed = 1;
        if (train_save_snapshot(run, r->epoch + 1) != 0) return st->save_failed = 2;
    }
    if (train_sweep_pruned(run, r->epoch, st->pruned_msg, sizeof st->pruned_msg)) {
        st->pruned_epoch = r->epoch;
        return 1; /* the final checkpoint follows */
    }
    if (patience_says_stop(st, run, r->epoch) && r->epoch + 1 < run->total_epochs) {
        st->early_epoch = r->epoch;
        return 1; /* the final checkpoint follows */
    }
    if (run->save_dir && every > 0 && (r->epoch + 1) % every == 0 && !g_interrupted &&
        r->epoch + 1 < run->total_epochs && train_save(run, NULL) != 0)
        return st->save_failed = 1; /* a checkpoint that cannot be written stops the run
                                     * (message printed) */
    return g_interrupted ? 1 : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median of history[0..n).train_s (0 when n is 0) */
/* The median of the epochs' training times (val 0) or validation times (val 1). */
static double median_s(const ct_epoch_result *h, int n, int val) {
    if (n <= 0) return 0.0;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return val ? h[n / 2].val_s : h[n / 2].train_s;
    for (int i = 0; i < n; i++) v[i] = val ? h[i].val_s : h[i].train_s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double m = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    free(v);
    return m;
}

/* ------------------------------------------------------------------------------------------ */
/* the command                                                                                 */

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

/* The loss (or, per `weights`, a weight) became NaN or infinite in epoch `epoch`: says so, and
 * what the --save folder holds (the run's last checkpoint, written before; its folder is
 * removed when this run made it and it is still empty). */
static void report_divergence(const train_run *run, int epoch, const char *weights,
                              cli_made *made_save) {
    if (ct_dist_rank(run->o->cfg.dist) != 0) return; /* rank 0 speaks for the job */
    const ct_epoch_result *r = &run->history[epoch];
    char val[40] = "", why[300] = "";
    if (run->n_val > 0) snprintf(val, sizeof val, ", val_loss %.4g", cli_metric(r->val.loss));
    if (weights[0]) snprintf(why, sizeof why, "weights not finite: %s; ", weights);
    fprintf(stderr, "ctrain: training diverged in epoch %d (%strain_loss %.4g%s, lr %g); stopped "
            "after %d of %d epochs; a lower --lr or --clip-grad-norm may help\n", epoch, why,
            cli_metric(r->train_loss), val, (double)r->lr, epoch + 1, run->total_epochs);
    if (!run->save_dir) return;
    char best[64] = "", state[PATH_MAX + 32];
    int b = run->best_saved; /* (the diverged epoch is never the best: NaN does not improve) */
    if (b >= 0) snprintf(best, sizeof best, "; best.safetensors: epoch %d", b);
    snprintf(state, sizeof state, "%s/train_state.safetensors", run->save_dir);
    if (run->saved_epochs > 0)
        fprintf(stderr, "ctrain: %s keeps the checkpoint after epoch %d%s\n", run->save_dir,
                run->saved_epochs - 1, best);
    else if (run->o->resume_dir && !train_save_replaces(run->o))
        fprintf(stderr, "ctrain: %s keeps the checkpoint this run was resumed from%s\n",
                run->save_dir, best);
    else if (access(state, F_OK) == 0) /* --overwrite: not replaced yet */
        fprintf(stderr, "ctrain: %s keeps the checkpoint it held before, not replaced%s\n",
                run->save_dir, best);
    else if (b >= 0)
        fprintf(stderr, "ctrain: %s holds only best.safetensors (epoch %d)\n", run->save_dir, b);
    else {
        int gone = 0;
        if (made_save->n > 0) {
            cli_rmdirs(run->save_dir, made_save);
            gone = access(run->save_dir, F_OK) != 0;
        }
        fprintf(stderr, "ctrain: nothing was saved in %s%s\n", run->save_dir,
                gone ? " (removed: it was new and is empty)" : "");
    }
}

int cmd_train(int argc, char **argv) {
    train_opts o;
    cli_flag flags[NUM_TRAIN_FLAGS];
    train_opts_init(&o);
    int nflags = train_make_flags(&o, flags);
    switch (cli_parse("train", flags, nflags, argc, argv, NULL, 0, NULL)) {
    case CLI_PARSE_HELP: train_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    if (train_parse_val_size(&o) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    ct_checkpoint *ck = NULL; /* the train state being resumed */
    if (o.resume_dir && o.init_path)
        return cli_usage_error("train", "--init: a resumed run has its own weights (--resume "
                               "%s)", o.resume_dir);
    if (o.resume_dir && o.lr_find) /* (before the train state is read: see finish_options) */
        return cli_usage_error("train", "--resume: does not apply to --lr-find, which trains no "
                               "run: it ramps its own lr (--lr-find-range) over --lr-find-steps "
                               "steps and keeps nothing");
    if (o.resume_dir) {
        int r = train_resume_options(&o, flags, nflags, &ck);
        if (r != CLI_EXIT_OK) return r;
    }
    struct sigaction old_sigs[3]; /* (k_signals' before the Plan line) */
    int signals_set = 0;
    cli_model init; /* --init: the file whose weights the model starts from */
    int r_init = train_open_init(&o, flags, nflags, &init);
    if (r_init != CLI_EXIT_OK) {
        ct_checkpoint_free(ck);
        return r_init;
    }
    if (train_finish_options(&o, flags, nflags) != CLI_EXIT_OK ||
        (ck && train_resume_check_schedule(&o, ck) != CLI_EXIT_OK)) {
        ct_checkpoint_free(ck);
        cli_close_model(&init);
        return CLI_EXIT_USAGE;
    }
    /* what --save and --log would destroy, where they are written: by rank 0 of an mpirun
     * (every rank checks when the launcher does not say which one this is) */
    int launch_rank = 0;
    int n_launched = ct_dist_launched(&launch_rank, &(int){0});
    int r0 = n_launched == 0 || launch_rank <= 0;
    int out_rc = r0 ? train_check_outputs(&o) : CLI_EXIT_OK;
    if (out_rc == CLI_EXIT_OK && o.lr_find && (n_launched > 1 || n_launched < 0)) {
        out_rc = CLI_EXIT_USAGE; /* (said by rank 0 alone: every rank sees the same) */
        if (r0) cli_usage_error("train", "--lr-find: runs in one process, not under mpirun");
    }
    if (out_rc == CLI_EXIT_OK && o.tensorboard_every > 0 && (n_launched > 1 || n_launched < 0)) {
        out_rc = CLI_EXIT_USAGE; /* (each rank holds its share of a batch's loss, not all-reduced) */
        if (r0) cli_usage_error("train", "--tensorboard-every: not under mpirun (a rank holds the "
                                "running loss of its share of each batch only)");
    }
    if (out_rc != CLI_EXIT_OK) {
        ct_checkpoint_free(ck);
        cli_close_model(&init);
        return out_rc;
    }
    /* under mpirun -np N: one rank of a data-parallel job; only rank 0 prints and writes files */
    ct_dist *dist = NULL;
    if (cli_dist_start(&dist, o.quiet, o.dist_timeout, argc, argv, flags, nflags) !=
        CLI_EXIT_OK) {
        ct_checkpoint_free(ck);
        cli_close_model(&init);
        return CLI_EXIT_ERROR;
    }
    o.threads = cli_dist_threads(dist, o.threads); /* --threads 0: this rank's share of cores */
    int quiet_rank = ct_dist_rank(dist) != 0;
    if (quiet_rank) {
        o.quiet = 1;
        o.plot_dir = NULL;
        o.log_path = o.tensorboard_dir = NULL;
    }
    o.cfg.dist = dist;
    const ct_train_config *cfg = &o.cfg;
    int total_epochs = 0;
    for (int i = 0; i < cfg->num_phases; i++) total_epochs += cfg->phases[i].epochs;

    ct_dataset *train = NULL, *test = NULL;
    char *folder_names = NULL; /* --dataset folder: its classes, one a line */
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

    /* Under mpirun, each step below that a rank may fail on its own ends at cli_dist_agree:
     * every rank stops there together, and an error they all share is said once. */

    /* 1. the device first: a wrong --device fails before any download or load. Under mpirun,
     * each rank of a host takes its own GPU (local rank modulo the GPUs), by ordinal rather
     * than CUDA_VISIBLE_DEVICES, which MPI_Init may already have made too late to set. */
    rc = CLI_EXIT_OK;
    cli_dist_hold(dist);
    if ((s = ct_backend_create_local(o.device, o.threads, dist ? ct_dist_local_rank(dist) : 0,
                                     &b)) != CT_OK)
        rc = cli_lib_error(s);
    if ((rc = cli_dist_agree(dist, rc)) != CLI_EXIT_OK) goto done;
    if (!o.quiet) {
        const char *why = ct_cuda_unavailable_reason();
        int say_why = strcmp(o.device, "auto") == 0 && strcmp(ct_backend_name(b), "cuda") != 0 &&
                      why && *why;
        printf("Device: %s (%s%s%s)\n", ct_backend_name(b), ct_backend_description(b),
               say_why ? "; CUDA not used: " : "", say_why ? why : "");
    }
    if (dist) { /* collective: every rank, quiet or not */
        if ((s = ct_dist_use_backend(dist, b)) != CT_OK) goto lib_error;
        if (!o.quiet) printf("Gradients: summed across ranks with %s\n", ct_dist_reduce_path(dist));
    }
    if (!o.quiet) {
        fflush(stdout); /* before any fetch log on stderr */
    }

    /* 2. the data folder (MNIST: fetched when files are missing), 3. the training and test sets */
    cli_dist_hold(dist);
    rc = train_load_data(&o, dist, &run, &train, &test, &folder_names);
    if ((rc = cli_dist_agree(dist, rc)) != CLI_EXIT_OK) goto done;
    /* every rank the same data, test set included (ct_fit checks the training set's again) */
    if ((s = ct_dist_check_dataset(dist, train, "training set")) != CT_OK ||
        (s = ct_dist_check_dataset(dist, test, "test set")) != CT_OK)
        goto lib_error;
    if (o.save_dir || o.resume_dir) /* (8 ms for MNIST's 47 MB: only when it is used) */
        snprintf(run.data_fingerprint, sizeof run.data_fingerprint, "%016llx",
                 (unsigned long long)ct_dataset_fingerprint(train));

    /* 4. the model: new, or the resumed run's (weights, optimizer state, position, history) */
    int in_c = ct_dataset_channels(train), in_h = ct_dataset_height(train);
    int in_w = ct_dataset_width(train), classes = ct_dataset_classes(train);
    if (ct_dataset_classes(test) > classes) /* idx: classes come from each part's labels */
        classes = ct_dataset_classes(test);
    int is_mlp = strcmp(o.model, "mlp") == 0 && strcmp(o.normalize, "off") == 0;
    char spec_buf[MODEL_SPEC_BYTES];
    const char *spec = cli_model_spec(o.model, o.hidden, classes, spec_buf, sizeof spec_buf);
    /* (--init's model with a last layer for these classes: train_init.c) */
    spec = train_init_spec(&o, spec, classes, strcmp(o.dataset, "folder") == 0);
    /* a preset asked for by name (its ResNets' convs are initialised as torchvision's) */
    char preset[32] = "";
    if (strcmp(o.model, "mlp") != 0 && ct_model_preset(o.model)) /* (mlp: its layers, as before) */
        snprintf(preset, sizeof preset, "%s", o.model);
    char norm_err[256]; /* --normalize: a normalize layer in front, the run's model from now on
                         * (saved as its --model: a resume builds it again) */
    if (strcmp(o.normalize, "off") != 0) {
        if (train_normalize_spec(o.normalize, train, spec, o.model_normalized,
                                 sizeof o.model_normalized, norm_err, sizeof norm_err) != 0) {
            rc = cli_usage_error("train", "--normalize: %s", norm_err);
            goto done;
        }
        spec = o.model = o.model_normalized;
    }
    int64_t n_batches = 0; /* per epoch */
    int new_head = 0;      /* --init's weights but for its last layer's (other classes) */
    int grey = 0;          /* --init's first conv summed over its `grey` input channels */
    ct_init_scheme tv_init = CT_INIT_DEFAULT; /* a torchvision preset's weights drawn as its */
    int resumed_epochs = 0;
    rc = CLI_EXIT_ERROR;
    cli_dist_hold(dist);
    if (ct_dataset_channels(test) != in_c || ct_dataset_height(test) != in_h ||
        ct_dataset_width(test) != in_w) {
        cli_error("%s in %s: the test images are (%d, %d, %d) but the training images (%d, %d, "
                  "%d)", o.dataset, run.data_dir, ct_dataset_channels(test),
                  ct_dataset_height(test), ct_dataset_width(test), in_c, in_h, in_w);
        goto built;
    }
    if (classes < 2) { /* idx labels all 0: a one-output model, 100% accurate, learning nothing */
        cli_error("%s in %s: every label is 0 (one class): nothing to classify", o.dataset,
                  run.data_dir);
        goto built;
    }
    if ((rc = train_split(&o, &run, train, &train_idx, &val_idx)) != CLI_EXIT_OK) goto built;
    rc = CLI_EXIT_ERROR;
    /* the most samples fit and evaluate compute at once: a batch size above the samples is all
     * of them; a rank computes its share of a training batch; --micro-batch N at most N. The
     * model holds them in its shards (CPU threads), max_batch each. */
    int max_batch;
    {
        int64_t n_test = ct_dataset_count(test), n_eval = run.n_val > n_test ? run.n_val : n_test;
        int64_t train_b = cfg->batch_size < run.n_train ? cfg->batch_size : run.n_train;
        int64_t eval_b = cfg->eval_batch_size < n_eval ? cfg->eval_batch_size : n_eval;
        n_batches = (run.n_train + train_b - 1) / train_b;
        int64_t micro = cfg->micro_batch, rows = ct_dist_largest_share(dist, train_b);
        if (eval_b > rows) rows = eval_b;
        if (micro > 0 && micro < rows) rows = micro;
        int64_t shards = ct_backend_shards(b);
        max_batch = (int)((rows + shards - 1) / shards);
    }
    if ((s = ct_model_create(b, spec, in_c, in_h, in_w, max_batch, o.seed, &m)) != CT_OK) {
        char text[400]; /* (a preset by its name: "mobilenet_v2 for 1000 classes") */
        /* (the spec is the resumed or --init file's when o.model is o.model_resumed) */
        if (s == CT_ERR_INVALID && (o.resume_dir || o.model == o.model_resumed))
            cli_error("%s: its model %s cannot be built for these %dx%dx%d images: %s%s",
                      o.resume_dir ? ct_checkpoint_path(ck) : init.path,
                      ct_spec_text(o.model, 1, text, sizeof text), in_c, in_h, in_w,
                      ct_last_error(), o.resume_dir ? "" : " (--model with a last layer of "
                      "these classes fine-tunes from its weights: a preset's name, or its layers)");
        else if (s != CT_ERR_INVALID)
            cli_lib_error(s);
        else
            rc = cli_usage_error("train", "--%s: %s", is_mlp ? "hidden" : "model", ct_last_error());
        goto built;
    }
    run.m = m;
    /* a new torchvision preset's weights as torchvision draws them (convs kaiming_normal_) */
    tv_init = !ck && !o.init_path ? ct_model_preset_init(preset) : CT_INIT_DEFAULT;
    if ((s = ct_model_init_torchvision(m, tv_init, o.seed)) != CT_OK) {
        cli_lib_error(s);
        goto built;
    }
    /* RandomErasing's value 0 after Normalize: the normalize layer's mean before it */
    if (o.cfg.augment_erase_p > 0.0f)
        o.erase_to_mean = ct_model_input_mean(m, o.cfg.augment_erase_fill);
    if ((rc = train_load_init(&o, &init, m, &new_head, &grey)) != CLI_EXIT_OK ||
        (rc = train_freeze(&o, m, cli_find(flags, nflags, "freeze")->seen)) != CLI_EXIT_OK)
        goto built;
    rc = CLI_EXIT_ERROR;
    cli_close_model(&init); /* the weights are in the model: the file goes (its path stays) */
    if (ct_model_num_classes(m) < classes) { /* a label the model has no output for */
        if (ck || o.model == o.model_resumed) /* the resumed or --init file's own model */
            cli_error("%s: its model outputs %d classes, but the %s data has %d",
                      ck ? ct_checkpoint_path(ck) : init.path, ct_model_num_classes(m),
                      o.dataset, classes);
        else
            rc = cli_usage_error("train", "--model: its last layer outputs %d classes, but the "
                                 "%s data has %d (end it with linear(%d))",
                                 ct_model_num_classes(m), o.dataset, classes, classes);
        goto built;
    }
    run.history = calloc((size_t)total_epochs + 1, sizeof *run.history);
    if (!run.history) {
        cli_error("out of memory (history of %d epochs)", total_epochs);
        goto built;
    }
    if (ck) {
        /* other data would not continue the same run (absent in files of before 5 Dec 2026) */
        const char *fp = ct_checkpoint_meta(ck, "data_fingerprint");
        if (fp && strcmp(fp, run.data_fingerprint) != 0) {
            cli_error("%s: the %s training set in %s is not the data this run was trained on "
                      "(fingerprint %s, saved %.20s); resuming needs the same data",
                      ct_checkpoint_path(ck), o.dataset, run.data_dir, run.data_fingerprint, fp);
            goto built;
        }
        ct_train_config saved;
        ct_epoch_result *hist = NULL;
        if ((s = ct_checkpoint_load_train_state(ck, m, &saved, &run.before, &hist,
                                                &resumed_epochs)) != CT_OK) {
            cli_lib_error(s);
            goto built;
        }
        memcpy(run.history, hist, (size_t)resumed_epochs * sizeof *hist);
        free(hist);
        o.cfg.resume = saved.resume;
        ct_fit_position p = saved.resume; /* within this run (ct_fit checks it too, nameless) */
        if (p.epoch > total_epochs || p.batch > n_batches || (p.epoch == total_epochs && p.batch)) {
            cli_error("%s: position epoch %d batch %lld is outside this run (%d epochs of %lld "
                      "batches)", ct_checkpoint_path(ck), p.epoch, (long long)p.batch,
                      total_epochs, (long long)n_batches);
            goto built;
        }
    }
    if ((rc = train_class_weights(&o, train, train_idx, run.n_train, ct_model_num_classes(m))) !=
        CLI_EXIT_OK)
        goto built;
    rc = CLI_EXIT_ERROR;
    /* --class-names (else the resumed run's): kept in the model's metadata for eval, show and
     * predict, one a line */
    if (o.class_names_path) {
        if ((rc = cli_read_class_names("train", "class-names", o.class_names_path,
                                       ct_model_num_classes(m), &o.class_names_text)) !=
            CLI_EXIT_OK)
            goto built;
    } else if (ck && ct_checkpoint_meta(ck, "class_names")) {
        cli_names check; /* (malformed in the train state: said, naming the file) */
        if (cli_model_class_names(ck, NULL, ct_model_num_classes(m), "train", NULL, &check) !=
            CLI_EXIT_OK)
            goto built;
        cli_names_free(&check);
        if (!(o.class_names_text = strdup(ct_checkpoint_meta(ck, "class_names")))) {
            cli_error("out of memory (class names)");
            goto built;
        }
    } else if (!ck && folder_names) { /* --dataset folder: its class folders' names, one an
                                        * output (else eval, show and predict refuse the file) */
        if (ct_model_num_classes(m) != classes) {
            if (o.model == o.model_resumed) /* --init's own model */
                cli_error("%s: its model outputs %d classes, but the folder data has %d",
                          init.path, ct_model_num_classes(m), classes);
            else
                rc = cli_usage_error("train", "--model: its last layer outputs %d classes, but "
                                     "the folder data has %d class folders (end it with "
                                     "linear(%d))", ct_model_num_classes(m), classes, classes);
            goto built;
        }
        o.class_names_text = folder_names, folder_names = NULL;
    }
    rc = CLI_EXIT_OK;
built:
    if ((rc = cli_dist_agree(dist, rc)) != CLI_EXIT_OK) goto done;
    rc = CLI_EXIT_ERROR; /* until the end: each failure below says its own */
    /* Ctrl-C, SIGTERM and SIGUSR1 (which Open MPI's mpirun forwards to every rank) from here on
     * stop the run cleanly after its current step (and checkpoint); one during the validation
     * before training takes effect at the first step (every rank stops at the same step). Set
     * before the Plan line: a shell's background job ignores SIGINT until then. */
    if (!o.lr_find) signals_set = 1, catch_signals(old_sigs);
    if (!o.quiet) {
        long long params = (long long)ct_model_param_count(m);
        char from[sizeof init.path + 192] = "", summed[96] = ""; /* --init */
        if (grey)
            snprintf(summed, sizeof summed, ", the first conv's summed over its %d input "
                     "channels for grey images", grey);
        if (o.init_path)
            snprintf(from, sizeof from, ", weights from %s%s%s", init.path,
                     new_head ? " but the last layer's, new for these classes" : "", summed);
        if (is_mlp)
            printf("Model: %lld -> %d -> ReLU -> %d (%lld parameters%s)\n",
                   (long long)in_c * in_h * in_w, o.hidden, classes, params, from);
        else { /* "resnet18 for 3 classes, after normalize(0.5,0.25)", or the layers */
            char text[400];
            printf("Model: %s (%lld parameters%s%s)\n", ct_spec_text(spec, 0, text, sizeof text),
                   params, tv_init == CT_INIT_RESNET ? ", convs initialised as torchvision's ResNets"
                   : tv_init == CT_INIT_MOBILENET ? (strncmp(preset, "mobilenet_v3", 12)
                                                     ? ", initialised as torchvision's MobileNetV2"
                                                     : ", initialised as torchvision's MobileNetV3")
                   : tv_init == CT_INIT_EFFICIENTNET ? ", initialised as torchvision's EfficientNet"
                   : "", from);
        }
        if (cfg->frozen_layers > 0) {
            char what[160];
            train_frozen_text(m, cfg->frozen_layers, what, sizeof what);
            long long frozen = (long long)ct_model_frozen_params(m, cfg->frozen_layers);
            printf("Frozen: %s (%lld parameters; they run as at inference), %lld train\n", what,
                   frozen, params - frozen);
        }
        char why[256] = "";
        int on = ct_data_on_device_choice(m, train, cfg->data_on_device, why, sizeof why);
        char where[320];
        if (!why[0]) snprintf(why, sizeof why, "%s", on ? "resident on the device" : "host loader");
        if (on)
            snprintf(where, sizeof where, "%s", why);
        else if (cfg->workers == 0)
            snprintf(where, sizeof where, "%s, in the training thread (--workers 0)", why);
        else
            snprintf(where, sizeof where, "%s, %d worker%s", why, cfg->workers,
                     cfg->workers == 1 ? "" : "s");
        const int val_folder = ct_dataset_val_count(train) && run.n_val;
        char eval_tf[96] = ""; /* --val-resize: torchvision's evaluation transform */
        if (o.val_resize)
            snprintf(eval_tf, sizeof eval_tf, "; %s: Resize(%d), CenterCrop",
                     val_folder ? "val and test" : "test", o.val_resize);
        printf("Data: %lld train / %lld val%s / %lld test images (%dx%dx%d%s), %s\n",
               (long long)run.n_train, (long long)run.n_val, val_folder ? " (the val folder)" : "",
               (long long)ct_dataset_count(test), in_c, in_h, in_w, eval_tf, where);
        train_print_classes(&o, train); /* (--dataset folder) */
        if (!o.lr_find) train_print_plan(&o, total_epochs, run.n_train, run.save_dir);
    }
    fflush(stdout);
    if (o.lr_find) { /* a probe, not a run: nothing but its picture is written */
        rc = train_lr_find(&run, train, train_idx);
        goto done;
    }
    /* what ct_fit would refuse (under mpirun: any difference between the ranks, a resumed
     * state's included) is refused before --save, --plot and --log create anything */
    if ((s = ct_fit_check(m, train, train_idx, run.n_train, val_idx, run.n_val, cfg,
                          run.history)) != CT_OK)
        goto lib_error;
    /* rank 0's outputs (the others have none): a folder made here for them is taken away
     * again when a later one fails (--log in a folder that cannot be made, say); under mpirun
     * the ranks then stop together, without MPI_Abort */
    cli_dist_hold(dist);
    cli_made made_save = {0}, made_plot = {0};
    int outs_rc = CLI_EXIT_ERROR;
    if (run.save_dir && cli_mkdirs(run.save_dir, &made_save) != 0) {
    } else if (o.plot_dir && cli_mkdirs(o.plot_dir, &made_plot) != 0) {
    } else if (train_tb_prepare(&run, resumed_epochs) == 0 &&
               train_log_open(&run, resumed_epochs) == 0) {
        outs_rc = CLI_EXIT_OK;
    }
    /* best.safetensors: a replaced run's goes at this run's first checkpoint (a run that fails
     * before leaves that run's folder whole); one resumed in its own folder is kept */
    run.best_saved = run.best.epoch = run.last.epoch = run.restored = -1;
    const char *ckdir = o.save_dir ? o.save_dir : o.resume_dir; /* (every rank's: they restore) */
    if (ckdir && train_save_replaces(&o)) {
        run.stale_best = run.save_dir && o.overwrite;
        run.best_from = resumed_epochs;
    } else if (ckdir && resumed_epochs > 0) { /* its own folder: as it was saved */
        char best[PATH_MAX + 32];
        run.best_from = o.best_from_resumed <= resumed_epochs ? o.best_from_resumed : resumed_epochs;
        snprintf(best, sizeof best, "%s/best.safetensors", ckdir);
        if (o.save_best && access(best, F_OK) == 0)
            run.best_saved = train_best_epoch(&run, run.best_from, resumed_epochs - 1);
        /* --restore-best added now (or its file gone): the weights of the epochs before are
         * not at hand, so it weighs the epochs from here on (its best.safetensors too) */
        if (o.restore_best && run.best_saved < 0) run.best_from = resumed_epochs;
        if (outs_rc == CLI_EXIT_OK && train_best_resume(&run, ckdir) != 0) outs_rc = CLI_EXIT_ERROR;
    }
    if (outs_rc != CLI_EXIT_OK) { /* (rmdir: only while empty) */
        train_tb_unprepare(&run);
        cli_rmdirs(o.plot_dir, &made_plot);
        cli_rmdirs(run.save_dir, &made_save);
    }
    if ((rc = cli_dist_agree(dist, outs_rc)) != CLI_EXIT_OK) goto done;
    rc = CLI_EXIT_ERROR;

    /* 5. the tutorial's history = [evaluate(model, val_loader)]; a resumed run has it */
    ct_eval_result ev;
    if (ck) {
        ct_fit_position p = cfg->resume;
        if (!o.quiet)
            printf("Resumed from %s: epoch %d, batch %lld/%lld\n", o.resume_dir, p.epoch,
                   (long long)p.batch, (long long)n_batches);
        if (!o.quiet && p.epoch >= total_epochs)
            printf("Nothing to train: the run has done its %d epoch%s (--epochs N extends it); "
                   "testing it\n", total_epochs, total_epochs == 1 ? "" : "s");
        ct_checkpoint_free(ck);
        ck = NULL;
    } else if (run.n_val > 0) {
        if ((s = ct_evaluate_dist(m, train, val_idx, run.n_val, cfg->eval_batch_size,
                                  cfg->label_smoothing, dist, &ev)) != CT_OK)
            goto lib_error_restore;
        run.before = ev;
        printf("Before training: val_loss: %.4f, val_acc: %.4f\n", cli_metric(ev.loss),
               ev.accuracy);
    }
    fflush(stdout);
    train_tb_start(&run);

    /* 6. fit, a signal (above) turned into a clean stop (and a checkpoint) */
    fit_state st = {.epochs_done = 0, .run = &run, .test_stop_epoch = -1, .early_epoch = -1,
                    .pruned_epoch = -1, .diverged_epoch = -1};
    const char *stop_at = getenv("CTRAIN_TEST_INTERRUPT_AT");
    long long stop_batch = 0;
    if (stop_at && sscanf(stop_at, "%d:%lld", &st.test_stop_epoch, &stop_batch) == 2)
        st.test_stop_batch = stop_batch;
    else
        st.test_stop_epoch = -1;
    /* the bar: on stderr when it is a terminal (under mpirun it never is: Open MPI pipes the
     * ranks' stderr, and gives their stdout a terminal even when mpirun's goes to a file) */
    progress_init(&st.bar, !o.quiet && isatty(STDERR_FILENO) ? stderr : NULL, total_epochs);
    ct_callbacks cb = {.on_step = on_step, .on_epoch = on_epoch, .user = &st};
    double t0 = ct_time_s();
    s = ct_fit(m, train, train_idx, run.n_train, val_idx, run.n_val, cfg, &cb, run.history);
    double fit_s = ct_time_s() - t0;
    progress_clear(&st.bar);
    /* --patience: every rank decides alike (the val losses are all-reduced), whatever signal
     * reached which rank; a signal is still honoured after the test and the save below */
    if (s == CT_ERR_INTERRUPTED && st.early_epoch >= 0) {
        char by[48] = "";
        if (o.min_delta > 0.0f) snprintf(by, sizeof by, " by more than %g", (double)o.min_delta);
        printf("Early stopping after epoch %d (%d of %d epochs run): %s has not improved%s "
               "for %d epoch%s", st.early_epoch, st.early_epoch + 1, total_epochs,
               train_monitor_name(&o), by, o.patience, o.patience == 1 ? "" : "s");
        if (st.best_epoch >= 0)
            printf(" (best %.4f at epoch %d)\n", cli_metric(train_monitored(&run, st.best_epoch)),
                   st.best_epoch);
        else
            printf(" (it is NaN)\n");
        s = CT_OK;
    }
    if (s == CT_ERR_INTERRUPTED && st.pruned_epoch >= 0) { /* (sweep_report.c reads this line) */
        printf("Pruned after epoch %d (%d of %d epochs run): %s\n", st.pruned_epoch,
               st.pruned_epoch + 1, total_epochs, st.pruned_msg);
        s = CT_OK;
    }
    if (s == CT_ERR_INTERRUPTED && st.diverged_epoch >= 0) {
        report_divergence(&run, st.diverged_epoch, st.weights_msg, &made_save);
        rc = dist ? CLI_EXIT_ERROR_ALL : CLI_EXIT_ERROR; /* under mpirun: every rank alike */
        goto restore;
    }
    if (s == CT_ERR_INTERRUPTED && st.save_failed) { /* its message is printed: no retry */
        /* (best.safetensors failed: the run's checkpoint, other files, is still written) */
        int saved = st.save_failed == 2 && train_save(&run, NULL) == 0;
        if (ct_dist_rank(dist) == 0)
            fprintf(stderr, "ctrain: stopped after %d of %d epochs: a checkpoint could not be "
                    "written (above)%s%s\n", ct_model_fit_position(m).epoch, total_epochs,
                    saved ? "; the run is saved in " : "", saved ? run.save_dir : "");
        rc = CLI_EXIT_ERROR;
        goto restore;
    }
    if (s == CT_ERR_INTERRUPTED || (s == CT_OK && g_interrupted)) {
        int saved_ok = run.save_dir ? train_save(&run, NULL) == 0 : 0;
        report_interrupt(&run, saved_ok);
        rc = CLI_EXIT_INTERRUPTED;
        goto restore;
    }
    if (s != CT_OK) goto lib_error_restore;

    /* 7. the best weights (--restore-best), the test set, the time, and the final checkpoint */
    if (train_best_restore(&run, ct_model_fit_position(m).epoch - 1) != 0) {
        rc = CLI_EXIT_ERROR; /* (under mpirun, cli_dist_end ends the job) */
        goto restore;
    }
    if (cfg->swa && (s = train_swa_end(&run, train, train_idx, val_idx, dist)) != CT_OK)
        goto lib_error_restore;
    train_swa_outputs(&run, ct_model_fit_position(m).epoch);
    if ((s = ct_evaluate_dist(m, test, NULL, ct_dataset_count(test), cfg->eval_batch_size,
                              cfg->label_smoothing, dist, &ev)) != CT_OK)
        goto lib_error_restore;
    printf("test_loss: %.4f, test_acc: %.4f\n", cli_metric(ev.loss), ev.accuracy);
    train_tb_test(&run, &ev, ct_model_fit_position(m).epoch);
    printf("Training time: %.3f s (%.3f s/epoch)\n", fit_s,
           median_s(run.history + resumed_epochs, st.epochs_done, 0));
    if (!o.quiet && run.n_val > 0 && st.epochs_done > 0) {
        double val_total = 0.0;
        for (int i = 0; i < st.epochs_done; i++) val_total += run.history[resumed_epochs + i].val_s;
        printf("Validation time: %.3f s (%.3f s/pass)\n", val_total,
               median_s(run.history + resumed_epochs, st.epochs_done, 1));
    }
    if (!o.quiet && st.epochs_done > 0) { /* on a GPU: how the steps ran */
        long long replayed = 0;
        for (int i = 0; i < st.epochs_done; i++) replayed += run.history[resumed_epochs + i].graph_steps;
        const char *note = ct_model_step_graph(m);
        if (note[0]) printf("Step graphs: %s\n", note);
        else if (replayed > 0)
            printf("Step graphs: %lld training steps replayed from recorded CUDA graphs\n",
                   replayed);
        const char *fused = ct_model_fused_step(m);
        if (fused[0]) printf("Fused step: %s\n", fused);
    }
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
    if (rc == CLI_EXIT_OK) train_report_outputs(&run);
    goto restore;

lib_error_restore:
    rc = cli_dist_error(dist, s);
restore:
    /* a run that failed (or could not save) removes the --save folders it made and left empty
     * (only empty ones: rmdir); one with a checkpoint in it stays */
    if (rc != CLI_EXIT_OK && run.save_dir && made_save.n > 0) cli_rmdirs(run.save_dir, &made_save);
    goto done;
lib_error:
    rc = cli_dist_error(dist, s);
done:
    for (int k = 0; signals_set && k < 3; k++) sigaction(k_signals[k], &old_sigs[k], NULL);
    if (run.log) fclose(run.log);
    train_tb_close(&run);
    ct_checkpoint_free(ck);
    cli_close_model(&init);
    free(run.history);
    free(o.class_names_text);
    free(folder_names);
    train_best_free(&run);
    ct_model_free(m);
    ct_backend_free(b);
    free(train_idx);
    free(val_idx);
    ct_dataset_free(test);
    ct_dataset_free(train);
    rc = cli_dist_end(dist, rc); /* after an error on this rank only: ends the whole job */
    /* --log/--plot/--tensorboard (rank 0's) failed after a training that did not: exit 1, but no abort */
    return rc == CLI_EXIT_OK && run.outputs_failed ? CLI_EXIT_ERROR : rc;
}
