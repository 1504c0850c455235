/*
 * train.h — what the files of `ctrain train` share: its options, and the state of a run that
 * the epoch callback and the checkpoint code (train_save.c) use.
 */
#ifndef CTRAIN_CLI_TRAIN_H
#define CTRAIN_CLI_TRAIN_H

#include "args.h"
#include "cli.h"

#include "ctrain.h"
#include "ctrain/io.h"

#include <limits.h>
#include <stdio.h>

#define SCHEDULE_BYTES 512
#define MAX_TOTAL_EPOCHS CT_MAX_EPOCHS /* a sanity bound: history holds one entry per epoch */
#define MAX_LR 1e30f /* --lr and --schedule's learning rates */
#define NUM_TRAIN_FLAGS 99       /* the entries of train_make_flags' table */
#define TRAIN_MAX_VAL_SIZE 2147483647LL /* --val-size N (a sample's index is an int32) */

typedef struct {
    const char *data_dir;
    const char *dataset;     /* mnist, fashion-mnist, cifar10 */
    int64_t val_size;        /* images held out (-1: val_fraction of them, once counted) */
    const char *val_size_text; /* --val-size as typed: a count, or a fraction in (0, 1) */
    double val_fraction;     /* --val-size F (0: a count) */
    const char *model;
    int hidden;
    const char *schedule;
    int epochs;
    float lr;
    int batch_size, eval_batch_size;
    int micro_batch;         /* --micro-batch N: gradient accumulation (0: whole batches) */
    float momentum, weight_decay;
    float bias_weight_decay, norm_weight_decay; /* --bias-weight-decay, --norm-weight-decay */
    int bias_wd_set, norm_wd_set;               /* (given, or a resumed run's) */
    int nesterov;
    uint64_t seed;
    const char *device;
    int threads, workers, prefetch;
    const char *data_on_device;
    float dist_timeout;      /* under mpirun: seconds a collective may wait (0: forever) */
    int quiet;
    const char *save_dir, *resume_dir, *plot_dir, *log_path;
    const char *tensorboard_dir; /* --tensorboard DIR (train_tensorboard.c) */
    int histograms;          /* --histograms: the weights' histograms there after each epoch */
    int tensorboard_every;   /* --tensorboard-every N: the running train loss every N steps (0) */
    const char *init_path;   /* --init: the saved model whose weights a new run starts from */
    const char *freeze;      /* --freeze: off, backbone or a layer's name (train_init.c) */
    int frozen_resumed;      /* the resumed run's frozen layers (-1: not a resume) */
    int save_every;
    int patience;            /* early stopping: epochs without a better --monitor (0: off) */
    float min_delta;         /* early stopping: by how much better counts (Keras' min_delta; 0) */
    const char *monitor;     /* --monitor: val_loss (lower is better) or val_acc (higher);
                              * cfg.plateau_max says which once parsed (and saves it) */
    int save_best;           /* also keep SAVE/best.safetensors, the lowest val_loss's weights */
    int restore_best;        /* end with the lowest val_loss's weights (train_best.c) */
    int snapshots;           /* keep SAVE/epoch_E.safetensors at every --save-every */
    const char *class_names_path; /* --class-names FILE */
    char *class_names_text;  /* its names (or the resumed run's), one a line, malloc'd */
    int lr_find;             /* run the lr range test instead of training (lr_find.c) */
    const char *lr_find_range; /* "START,END" */
    int lr_find_steps;
    float lr_find_start, lr_find_end; /* (train_finish_options parses the range) */
    int overwrite;           /* --save may replace another run's checkpoint */
    char schedule_default[SCHEDULE_BYTES];
    char schedule_resumed[SCHEDULE_BYTES]; /* the schedule a resumed run follows */
    char model_resumed[MODEL_SPEC_BYTES];  /* --model of the run being resumed, or --init's */
    char model_normalized[MODEL_SPEC_BYTES]; /* --model with --normalize's layer in front */
    char device_resumed[16];               /* and its --device */
    /* optimizer, lr schedule, warm-up, clipping (train_finish_options puts them into cfg) */
    const char *optimizer;   /* sgd, adam, adamw, ... (train_parse.c's k_optimizers) */
    const char *betas;       /* "B1,B2" or NULL */
    float beta1, beta2, eps;
    float alpha;             /* RMSprop's (0.99) */
    int centered;            /* RMSprop */
    int amsgrad;             /* Adam, AdamW: --amsgrad */
    float momentum_decay;    /* NAdam's (0.004) */
    float lr_decay, initial_accumulator; /* Adagrad's (0, 0) */
    const char *lr_schedule; /* phases, step, cosine, ... (k_schedules) */
    int step_size;
    const char *milestones;  /* multistep: "E1,E2,..." (NULL: not given) */
    char milestones_resumed[CT_MAX_MILESTONES * 8];
    float power;             /* polynomial: PolynomialLR's power (1) */
    float base_lr;           /* cyclic: CyclicLR's base_lr (required) */
    float step_size_up, step_size_down; /* cyclic: steps (2000; down 0: as up) */
    const char *cyclic_mode; /* cyclic: triangular, triangular2 or exp_range */
    float gamma, eta_min, pct_start;
    int t0, t_mult;          /* cosine-restarts: T_0 (required), T_mult (1) */
    float div_factor, final_div_factor; /* onecycle (0: 25, 1e4) */
    int three_phase;
    const char *anneal;      /* onecycle: cos or linear */
    const char *cycle_momentum; /* onecycle, cyclic: on, off or "BASE,MAX" */
    char cycle_momentum_resumed[64];
    int lr_patience;         /* plateau: PyTorch's patience, >= 0 (10) */
    float lr_threshold;      /* plateau: PyTorch's threshold, >= 0 (1e-4) */
    const char *lr_threshold_mode; /* plateau: rel or abs */
    int lr_cooldown;         /* plateau: PyTorch's cooldown, >= 0 (0) */
    float min_lr;            /* plateau: PyTorch's min_lr, >= 0 (0) */
    int warmup_epochs;
    const char *warmup_method; /* linear (LinearLR) or constant (ConstantLR) */
    int warmup_sequential;     /* the schedule after the warm-up (SequentialLR) */
    const char *lr_step;       /* step or epoch: when the per-step schedules move */
    float warmup_start_factor, clip_norm, clip_value;
    float label_smoothing;   /* the loss's, in [0, 1] (0) */
    const char *class_weight; /* --class-weight: off, balanced or W0,W1,... (NULL: not given) */
    float mixup_alpha, cutmix_alpha; /* --mixup-alpha, --cutmix-alpha (0: off) */
    int class_weight_balanced; /* the run's weights are balanced's (the Plan line says so) */
    int erase_to_mean;       /* --augment erase: to the model's normalize mean (not black) */
    float ema_decay;         /* --ema: the moving average's decay, in [0, 1) (0: none) */
    int ema_warmup;          /* --ema-warmup */
    int repeated_aug;        /* --repeated-aug R (0: off) */
    const char *swa_start;   /* --swa-start E|F (NULL or "off": no SWA; train_swa.c) */
    float swa_lr;            /* --swa-lr (0: the schedule's lr) */
    int swa_anneal_epochs;   /* --swa-anneal-epochs (10) */
    const char *swa_anneal;  /* --swa-anneal: cos or linear */
    char swa_start_resumed[16];
    const char *augment;     /* auto, off, or parts: "rotate=D,...,crop[=PAD],flip" or
                              * "resized-crop[=A:B],ratio=R:S,flip", then "erase[=P]" */
    const char *normalize;   /* off, auto, or "MEAN,STD" / "M1,...,MC,S1,...,SC" */
    const char *image_size;  /* --dataset folder: "SIDE" or "HEIGHT,WIDTH" (NULL: as found) */
    int image_h, image_w;    /* its numbers (0: none) */
    int val_resize;          /* --val-resize: the evaluation images' shorter edge (0: none) */
    char image_size_saved[32]; /* a resumed folder run's: its model's input "H,W" */
    char augment_resumed[512]; /* (every part at 9 digits: about 260 characters) */
    char betas_resumed[64];
    char dataset_resumed[32];
    char data_dir_resumed[PATH_MAX]; /* --data of the run being resumed */
    int best_from_resumed;   /* the resumed run's first epoch its best.safetensors weighs */
    ct_train_config cfg; /* the library's defaults, then the flags */
} train_opts;

/* The metric --monitor names: 1 for val_acc (higher is better), 0 for val_loss. */
static inline int train_monitor_acc(const train_opts *o) { return o->cfg.plateau_max; }
static inline const char *train_monitor_name(const train_opts *o) {
    return o->cfg.plateau_max ? "val_acc" : "val_loss";
}

/* train_parse.c: --val-size's text into o->val_size or o->val_fraction (prints the error and
 * returns 2); the count a fraction holds out of n images (Keras' validation_split: n minus
 * the floor of n * (1 - F)). */
int train_parse_val_size(train_opts *o);
int64_t train_val_count(double fraction, int64_t n);
/* train_flags.c: the defaults; the flag table pointing into o (returns NUM_TRAIN_FLAGS).
 * train_opts.c: the checks of the parsed flags against each other, which fill o->cfg (prints
 * the error and returns CLI_EXIT_USAGE). */
void train_opts_init(train_opts *o);
int train_make_flags(train_opts *o, cli_flag *flags);
int train_finish_options(train_opts *o, cli_flag *flags, int nflags);
/* train_swa.c: the --swa-* flags into o->cfg (prints the error and returns CLI_EXIT_USAGE);
 * a resumed run's (the saved ones; a flag given must say the same: else the error, and
 * CLI_EXIT_USAGE); the end of a run with SWA: the average into the model and its "SWA:" line
 * (returns a library status; the line is rank 0's). */
int train_swa_options(train_opts *o, cli_flag *flags, int nflags);
int train_swa_resumed(train_opts *o, cli_flag *flags, int nflags, const ct_train_config *saved,
                      const char *dir);
void train_format_schedule(const ct_phase *ph, int n, char *out, size_t out_bytes);
/* "X,Y" → two numbers (cli_parse_double's); -1 when malformed. */
int train_parse_pair(const char *s, double *x, double *y);
/* --cycle-momentum SPEC into c's cycle_momentum, base_momentum and max_momentum (-1: not
 * on, off or BASE,MAX); the SPEC of c's setting ("on", "off" or "BASE,MAX"); whether two
 * settings cycle alike (on is 0.85,0.95). */
int train_parse_cycle_momentum(const char *spec, ct_train_config *c);
void train_format_cycle_momentum(const ct_train_config *c, char *out, size_t out_bytes);
int train_same_cycle_momentum(const ct_train_config *a, const ct_train_config *b);
/* train_parse.c: "5@0.5,5@0.1" into phases; "B1,B2" into the betas (each in (0, 1)). On error
 * -1 (train_parse_schedule: a message in err). */
int train_parse_schedule(const char *s, ct_phase *ph, int *n_out, char *err, size_t err_bytes);
int train_parse_betas(const char *s, float *b1, float *b2);
/* --milestones "E1,E2,..." into c's milestones (whole epochs 1..CT_MAX_EPOCHS, increasing, at
 * most CT_MAX_MILESTONES); -1 with a message in err when malformed. Their text, as given. */
int train_parse_milestones(const char *s, ct_train_config *c, char *err, size_t err_bytes);
void train_format_milestones(const ct_train_config *c, char *out, size_t out_bytes);
/* --class-weight SPEC: off (*n = 0), balanced (*n = -1) or W0,W1,... (each finite and >= 0,
 * at most CT_MAX_CLASSES, into w; *n of them). -1 with a message in err when malformed. */
int train_parse_class_weight(const char *spec, float *w, int *n, char *err, size_t err_bytes);
/* --augment SPEC for dataset into c's augment_* fields (auto: crop=4,flip for cifar10, off
 * otherwise); -1 with a message in err when malformed. */
int train_parse_augment(const char *spec, const char *dataset, ct_train_config *c, char *err,
                        size_t err_bytes);
/* --normalize ARG (off, auto: the training images' per-channel mean and std, or MEAN,STD or
 * M1,...,MC,S1,...,SC) as spec with a normalize(...) layer in front, into out; "off": spec as
 * it is. -1 with a message in err when ARG is malformed or spec already starts with one.
 * train NULL: checks ARG's syntax alone (the channels and auto's values need the data). */
int train_normalize_spec(const char *arg, const ct_dataset *train, const char *spec, char *out,
                         size_t out_bytes, char *err, size_t err_bytes);
/* The canonical --augment text of c's: "off", or its parts in the order they apply
 * ("rotate=10,translate=0.1,scale=0.9:1.1,shear=5,bilinear,crop=4,flip"). */
void train_format_augment(const ct_train_config *c, char *out, size_t out_bytes);

/* A host copy of a model's weights: parameters, buffers and batch norm's num_batches_tracked
 * (one per counter tensor), those of `epoch` (-1: none). */
typedef struct {
    float *params, *buffers;
    int64_t *tracked;
    int epoch;
} train_weights;

/* The folders cli_mkdirs made, as the lengths of their paths' prefixes of its dir, outermost
 * first. */
#define CLI_MADE_MAX (PATH_MAX / 2) /* a path's components at most */
typedef struct {
    int n;
    int len[CLI_MADE_MAX];
} cli_made;

#define TRAIN_TB_RUNS 5 /* --tensorboard's DIR/train, DIR/validation, DIR/test, DIR/swa,
                         * DIR/train_batch */

/* A run in progress, for the callbacks and for saving. */
typedef struct {
    train_opts *o;
    ct_model *m;
    const char *save_dir;        /* where checkpoints go (NULL: none) */
    int save_lock;               /* its lock's descriptor (cli_lock_dir), or < 0: none */
    char data_dir[PATH_MAX];     /* the resolved data folder */
    char data_fingerprint[24];   /* the training part's (ct_dataset_fingerprint), in hex */
    int64_t n_train, n_val;
    int total_epochs;
    ct_epoch_result *history;    /* (total_epochs) */
    ct_eval_result before;       /* validation before training */
    FILE *log;                   /* --log, or NULL */
    ct_tfevents *tb[TRAIN_TB_RUNS]; /* --tensorboard's files, each opened at its first value */
    cli_made tb_made[2];         /* the train and validation folders train_tb_prepare made */
    int tb_start;                /* the step of the files' SessionLog START */
    int64_t tb_batch_start;      /* DIR/train_batch's (its steps are training steps) */
    int64_t tb_batch_last;       /* the last training step written there (-1: none) */
    int tb_history;              /* the resumed epochs to write first (their DIR lacks them) */
    int tb_opened;               /* this run's files are open (at its first value) */
    int outputs_failed;          /* could not be written: a --log line (1), a --plot picture
                                  * (2), a --tensorboard value (4) */
    int saved_epochs;            /* the epochs done at this run's last checkpoint (0: none) */
    /* --save-best: best.safetensors holds the epoch of the lowest val_loss among best_from..
     * (0, or the epochs done before when resumed into another folder: as Keras' ModelCheckpoint,
     * the best since saving there began); best_saved: the epoch it holds (-1: none, or not
     * this run's); stale_best: it is a replaced run's (--overwrite), removed by this run's first
     * checkpoint, not before */
    int best_from, best_saved, stale_best;
    /* --restore-best: the weights of the best epoch so far (best.epoch, -1: none); once
     * restored (restored: that epoch, -1: not), the model holds them and last the last
     * epoch's, which train_save puts in the train state */
    train_weights best, last;
    int restored;
    /* --swa-start: the epochs averaged into the model at the run's end (0: none yet) and the
     * average's validation (train_swa.c), which the final model file's metadata give */
    int64_t swa_averaged;
    ct_eval_result swa_val;
} train_run;

/* With --resume: reads DIR/train_state.safetensors' options and checks the flags given against
 * them (a flag that changes the results must match; --epochs/--schedule may extend the run).
 * Fills the unset options from the checkpoint. Returns CLI_EXIT_OK, CLI_EXIT_USAGE or
 * CLI_EXIT_ERROR (message printed); *ck receives the opened train state. */
int train_resume_options(train_opts *o, cli_flag *flags, int nflags, ct_checkpoint **ck);
/* Checks a resumed schedule against the saved one (same lr for every epoch already run). */
int train_resume_check_schedule(const train_opts *o, const ct_checkpoint *ck);

/* train_init.c, fine-tuning. --init: opens the file (its model o->model, unless --model or
 * --hidden is given); the spec to build for `classes` classes (of folder data: exactly), the
 * file's with a new last linear layer when its outputs cannot serve them (then o->model too,
 * saved as the run's);
 * loads its weights into m (all but a last linear layer of other outputs than the file's:
 * torchvision's fine-tuning recipe, model.fc replaced). --freeze (or the resumed run's
 * frozen layers) into o->cfg.frozen_layers. Each prints its error and returns CLI_EXIT_USAGE
 * or CLI_EXIT_ERROR. */
int train_open_init(train_opts *o, cli_flag *flags, int nflags, cli_model *init);
const char *train_init_spec(train_opts *o, const char *spec, int classes, int folder);
int train_load_init(const train_opts *o, cli_model *init, ct_model *m, ct_backbone_fit *fit);
int train_freeze(train_opts *o, const ct_model *m, int given);
/* "the layers up to NAME" (NAME: the last with weights of m's first n), or "no layer". */
void train_frozen_text(const ct_model *m, int n, char *out, size_t bytes);

/* Writes SAVE/model.safetensors and SAVE/train_state.safetensors for the model's current
 * position; test (may be NULL) adds the test results to the model's metadata. Prints the error
 * and returns non-zero on failure. */
int train_save(train_run *r, const ct_eval_result *test);
/* Writes SAVE/best.safetensors (the model's weights now, with the metadata of epoch, whose
 * val_loss is the lowest so far). Prints the error and returns non-zero on failure. */
int train_save_best(train_run *r, int epoch);
/* --snapshots: writes SAVE/epoch_E.safetensors, the model after E epochs (the weights now),
 * as model.safetensors. Prints the error and returns non-zero on failure. */
int train_save_snapshot(train_run *r, int epochs_done);
/* train_best.c. The epoch of the best --monitor (the lowest val_loss, or the highest val_acc)
 * among from..epoch of the history (a resumed run's included): the first of equals, strictly
 * better improves, NaN never does; -1 when all are NaN. train_monitored: epoch's value.
 * _by: better by more than min_delta (Keras' EarlyStopping's rule: the best moves only then). */
int train_best_epoch(const train_run *run, int from, int epoch);
int train_best_epoch_by(const train_run *run, int from, int epoch, double min_delta);
double train_monitored(const train_run *run, int epoch);
/* After epoch `epoch`'s validation: when it is the best since run->best_from, --restore-best
 * copies its weights and --save-best writes best.safetensors. Returns 0; 1 when the
 * checkpoint that must come first (--overwrite) failed, 2 when best.safetensors did, 3 when
 * the copy did (each printed). */
int train_best_after_epoch(train_run *run, int epoch);
/* A resumed --restore-best run: the best weights so far from DIR/best.safetensors (when
 * run->best_saved says it holds them; on every rank). Prints the error and returns non-zero
 * on failure. */
int train_best_resume(train_run *run, const char *dir);
/* At the end of training (last_epoch: the run's last, -1: none): --restore-best puts the best
 * epoch's weights into the model (and says so, on stdout). Non-zero on failure (printed). */
int train_best_restore(train_run *run, int last_epoch);
/* After a restore: the last epoch's weights into the model (want_last), or the best's back. */
int train_best_swap(train_run *run, int want_last);
void train_best_free(train_run *run);
/* train_swa.c: see train_swa_options. */
ct_status train_swa_end(train_run *run, const ct_dataset *train, const int32_t *train_idx,
                        const int32_t *val_idx, ct_dist *dist);
/* The final model file's metadata of SWA's average (swa_start, swa_epochs; into meta, their
 * text in buf; returns how many) and the validation its val_loss and val_acc are (NULL: the
 * last epoch's), when the model holds the average. */
int train_swa_meta(const train_run *run, ct_meta *meta, char buf[2][24]);
const ct_eval_result *train_swa_val(const train_run *run);
/* A trial of ctrain sweep --prune median (CTRAIN_SWEEP_PRUNE names the sweep's medians): 1
 * when its best objective over epochs 0..epoch is worse than the finished trials' median at
 * epoch, and why in msg ("its best val_loss 0.5123 is worse than 0.4012, the median of 5
 * finished trials of the sweep there"); else 0. */
int train_sweep_pruned(const train_run *run, int epoch, char *msg, size_t bytes);
/* lr_find.c: --lr-find on the run's model (its initial weights) and training images (the
 * first run->n_train of train_idx); prints the curve and the suggestion, draws --plot's
 * DIR/lr_find.png. Returns CLI_EXIT_OK or CLI_EXIT_ERROR (printed). */
int train_lr_find(train_run *run, const ct_dataset *ds, const int32_t *train_idx);
/* train_curves.c. After each epoch: the --log line, the --plot pictures and the TensorBoard
 * values (errors printed, the first of each kind, and remembered in outputs_failed: not fatal
 * to the training, but to the exit status); after train_swa_end, its average's validation in
 * the pictures and DIR/swa (nothing without it). */
void train_epoch_outputs(train_run *r, int n_epochs);
void train_swa_outputs(train_run *r, int n_epochs);
/* train_data.c: the data folder (MNIST fetched there when missing) and the training and test
 * sets into run->data_dir (absolute), *train and *test; folder_names: --dataset folder's class
 * names. Prints the error; returns CLI_EXIT_OK or an error status. */
int train_load_data(const train_opts *o, ct_dist *dist, train_run *run, ct_dataset **train,
                    ct_dataset **test, char **folder_names);
/* The training and validation images of train (both malloc'd): a seeded split of --val-size
 * (a count, or a fraction of them), or a folder's val/ images (ct_dataset_val_count; then
 * --val-size may only be 0, no validation); run->n_train and run->n_val. Prints the error;
 * returns CLI_EXIT_OK or an error status. */
int train_split(train_opts *o, train_run *run, const ct_dataset *train, int32_t **train_idx,
                int32_t **val_idx);
/* --class-weight into o->cfg for a model of `classes` outputs (balanced: over the training
 * split's labels); a resumed run keeps the saved weights, which a flag given must match.
 * Prints the error; returns CLI_EXIT_OK or CLI_EXIT_USAGE. */
int train_class_weights(train_opts *o, const ct_dataset *train, const int32_t *train_idx,
                        int64_t n_train, int classes);
/* --dataset folder: the Classes line, the classes' names and training images (stdout). */
void train_print_classes(const train_opts *o, const ct_dataset *train);
/* --image-size into o->image_h and o->image_w (a resumed folder run: its saved size, which a
 * given one must equal). Prints the error and returns CLI_EXIT_USAGE when malformed. */
int train_parse_image_size(train_opts *o);
/* train_tensorboard.c, --tensorboard DIR (o->tensorboard_dir; nothing when NULL): makes
 * DIR/train and DIR/validation and chooses the first step (prints the error and returns
 * non-zero on failure); takes the folders it made away again while empty (unprepare); writes
 * the validation before training (start), an epoch's values (epoch: the n_epochs-th), the test
 * results, SWA's average's validation; closes the files. Write errors are printed once and set
 * outputs_failed's 4. */
int train_tb_prepare(train_run *r, int resumed_epochs);
void train_tb_unprepare(train_run *r);
void train_tb_start(train_run *r);
void train_tb_epoch(train_run *r, int n_epochs);
void train_tb_test(train_run *r, const ct_eval_result *test, int epochs_done);
/* --tensorboard-every N: after training step done of total in epoch (on_step), every N steps
 * and at the epoch's last, the running train loss and accuracy into DIR/train_batch */
void train_tb_batch(train_run *r, int epoch, int64_t done, int64_t total);
void train_tb_swa(train_run *r, const ct_eval_result *val, int epochs_done);
void train_tb_close(train_run *r);
/* After a training that finished: which of --log, --plot and --tensorboard could not be
 * written (outputs_failed), on stderr; nothing when all were. */
void train_report_outputs(const train_run *r);
/* Before anything is written (train_outputs.c): refuses (message printed) a --save folder
 * other than --resume's that holds a checkpoint, unless --overwrite (CLI_EXIT_USAGE), and a
 * --log that would destroy a file that is not a log of ctrain's, or a checkpoint or picture of
 * this run (CLI_EXIT_ERROR). Creates and removes nothing. */
int train_check_outputs(const train_opts *o);
/* NAME is one that --snapshots writes: epoch_E.safetensors, E a count from 1 as %d gives it. */
int train_is_snapshot_name(const char *name);
/* The Plan line: epochs, schedule, batch, optimizer and the settings beside the defaults. */
void train_print_plan(const train_opts *o, int total_epochs, int64_t n_train,
                      const char *save_dir);
/* --log FILE ending in .csv (any case): CSV rows under a header, else JSON lines. */
int train_log_is_csv(const char *path);
/* --save names a folder other than --resume's (then --overwrite may replace what is there). */
int train_save_replaces(const train_opts *o);
/* Opens --log (truncated) and writes the n_epochs lines already in the history (a resume). */
int train_log_open(train_run *r, int n_epochs);

/* --optimizer / --lr-schedule names <-> the library's kinds (-1: unknown name). */
int train_optimizer_kind(const char *name);
int train_schedule_kind(const char *name);
const char *train_optimizer_name(int kind);
const char *train_schedule_name(int kind);

/* mkdir -p, and a probe that the folder can be written in; made receives the folders it created.
 * Prints the error and returns non-zero on failure (the folders it created removed again). */
int cli_mkdirs(const char *dir, cli_made *made);
/* Removes the folders of made (cli_mkdirs' of dir), innermost first, while they are empty;
 * made is emptied. */
void cli_rmdirs(const char *dir, cli_made *made);
/* Takes the lock of folder dir for this process (flock on the folder: held until the returned
 * descriptor is closed or the process ends, however it ends): two runs saving into one folder
 * would leave one's model beside the other's train state. -1 when another process holds it
 * (said, naming flag and dir); CLI_NO_LOCK where the folder's filesystem takes no lock on a
 * folder (NFS: the run goes on unlocked, as before there were locks). */
#define CLI_NO_LOCK (-2)
int cli_lock_dir(const char *dir, const char *flag);

/* --lr-patience's number for a config's plateau_patience (0: 10, CT_PATIENCE_NONE: 0), and back. */
static inline int train_patience_flag(int plateau_patience) {
    return plateau_patience > 0 ? plateau_patience : plateau_patience == CT_PATIENCE_NONE ? 0 : 10;
}
static inline int train_patience_config(int flag) { return flag > 0 ? flag : CT_PATIENCE_NONE; }

#endif /* CTRAIN_CLI_TRAIN_H */
