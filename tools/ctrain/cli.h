/*
 * cli.h — what the ctrain tool's files share: the commands and their help pages.
 *
 * Each command is `int cmd_x(int argc, char **argv)` with argv[0] the command's name; it returns
 * the process exit status (args.h: 0 ok, 1 library error, 2 usage, 130 interrupted) after
 * freeing everything it created. Only this tool prints and exits; the library returns statuses.
 */
#ifndef CTRAIN_CLI_H
#define CTRAIN_CLI_H

#include "args.h"

#include "ctrain.h"
#include "ctrain/io.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int cmd_train(int argc, char **argv);   /* train_cmd.c */
int cmd_eval(int argc, char **argv);    /* eval_cmd.c */
int cmd_predict(int argc, char **argv); /* eval_cmd.c */
int cmd_show(int argc, char **argv);    /* show_cmd.c */
int cmd_data(int argc, char **argv);    /* data_cmd.c */
int cmd_devices(int argc, char **argv); /* data_cmd.c */
int cmd_summary(int argc, char **argv); /* summary_cmd.c */
int cmd_export(int argc, char **argv);  /* export_cmd.c */
int cmd_sweep(int argc, char **argv);   /* sweep_cmd.c */

void train_help(FILE *f);
void eval_help(FILE *f);
void predict_help(FILE *f);
void show_help(FILE *f);
void data_help(FILE *f);
void devices_help(FILE *f);
void summary_help(FILE *f);
void export_help(FILE *f);
void sweep_help(FILE *f);

/* The per-image input shape and classes of a dataset: mnist and fashion-mnist 1x28x28,
 * cifar10 3x32x32 (10 classes); idx read from its files in data_dir (prints the error and
 * returns CLI_EXIT_ERROR when they cannot be read). */
int cli_dataset_shape(const char *dataset, const char *data_dir, int *in_c, int *in_h, int *in_w,
                      int *classes);

/* A saved model opened for use (model_io.c). */
typedef struct {
    char path[PATH_MAX]; /* the .safetensors file */
    ct_backend *b;
    ct_checkpoint *ck;   /* its metadata stays readable */
    ct_model *m;
} cli_model;

/* DIR → DIR/model.safetensors; a file stays as it is. */
void cli_model_file(const char *arg, char *out, size_t bytes);
/* Opens the model saved at arg (a folder or a file) on a device; spec (may be NULL) and the
 * input shape are used when the file does not record them. Prints the error and returns
 * CLI_EXIT_ERROR on failure. */
int cli_open_model(const char *arg, const char *device, int threads, const char *spec, int in_c,
                   int in_h, int in_w, int max_batch, cli_model *out);
void cli_close_model(cli_model *cm);
/* The two halves of cli_open_model: reading (and validating) the file, then building the model
 * (which cli_close_model frees, with the file, on failure). */
int cli_open_checkpoint(const char *arg, cli_model *out);
int cli_build_model(cli_model *cm, const char *device, int threads, const char *spec, int in_c,
                    int in_h, int in_w, int max_batch);
/* The layers --model MODEL stands for: "mlp" with HIDDEN units and CLASSES outputs written into
 * buf; another preset, whose last layer is linear(10), with linear(CLASSES) instead when CLASSES
 * is not 10 (into buf); layers (and a preset at 10 classes) as they are (the library refuses
 * one too long). */
const char *cli_model_spec(const char *model, int hidden, int classes, char *buf, size_t bytes);
#define MODEL_SPEC_BYTES 8192 /* buf's size: a spec of at most 8191 characters, as the library's */
/* The model takes ds's images (their shape) and has an output for every class of ds (dataset's
 * part, for the message)? Prints the error and returns CLI_EXIT_ERROR when not. */
int cli_check_data(const cli_model *cm, const ct_dataset *ds, const char *dataset,
                   const char *part);
#define CLI_DATASETS "mnist|fashion-mnist|cifar10|idx|folder" /* what eval and show read */
/* 1 when name is one of CLI_DATASETS. */
int cli_known_dataset(const char *name);
/* 1 for the datasets whose shape and classes only their files in --data say (idx, folder). */
int cli_dataset_from_files(const char *name);
/* A model's class names: those its metadata "class_names" records (one a line; ctrain train
 * --class-names), else the dataset's (fashion-mnist's and cifar10's: torchvision's .classes),
 * else none (n 0). */
#define CLI_MAX_CLASS_NAME 64 /* bytes of a name */
typedef struct {
    char *buf;                /* the metadata's copy, split into lines */
    const char *name[256];
    int n;
} cli_names;
/* Fills names for a model of `classes` outputs: command cmd's --class-names FILE when file is
 * not NULL (cli_read_class_names), else the model's metadata (ck may be NULL), else the
 * dataset's. Metadata that does not hold `classes` names of 1..CLI_MAX_CLASS_NAME bytes is an
 * error naming the file. Errors are printed; returns CLI_EXIT_OK, _USAGE or _ERROR. */
int cli_model_class_names(const ct_checkpoint *ck, const char *dataset, int classes,
                          const char *cmd, const char *file, cli_names *names);
void cli_names_free(cli_names *names);
/* Takes text (names one a line, malloc'd; freed here when not kept) as names' when it holds
 * `classes` of them and names has none yet (a folder's class folders, for ctrain show). */
void cli_names_take(cli_names *names, char *text, int classes);
/* A folder's class names (one a line) as a model keeps them (1..CLI_MAX_CLASS_NAME bytes):
 * CLI_EXIT_OK, or an error (printed) naming the folder. */
int cli_check_class_names(const char *data_dir, const char *names);
/* Reads --class-names FILE: one name a line (1..CLI_MAX_CLASS_NAME bytes, no control
 * characters; spaces, tabs and a CR around it trimmed, a UTF-8 BOM and blank lines at the end
 * dropped), exactly `classes` of them; *text receives them joined by newlines (malloc'd).
 * Prints the error (naming flag and file) and returns CLI_EXIT_USAGE or CLI_EXIT_ERROR. */
int cli_read_class_names(const char *cmd, const char *flag, const char *path, int classes,
                         char **text);
/* Loads part ("train" or "test") of a dataset: mnist (fetched when missing), fashion-mnist,
 * cifar10, idx, folder (see ct_dataset_load_*; data_dir NULL: their default folders; folder
 * has none). shape (may be NULL): {channels, height, width} a folder's images take (0: as
 * found, see ct_dataset_load_folder); resize: a folder's evaluation images' (train
 * --val-resize; 0: none). names (may be NULL): a folder's class names, one a line (malloc'd),
 * else NULL. Prints the error and returns non-zero on failure. */
int cli_load_dataset(const char *dataset, const char *data_dir, const char *part,
                     const int *shape, int resize, ct_dataset **out, char **names);
/* The channels, height and width of the images a saved model takes (its metadata's input
 * shape) into shape, returned; NULL when cm holds no model or its file records none.
 * --dataset folder's images are made so (eval, show). */
const int *cli_model_image_shape(const cli_model *cm, int shape[3]);
/* The evaluation images' resize a saved model was trained with (train --val-resize, its
 * metadata's val_resize) into *resize (0: none, or no model). Prints the error and returns
 * non-zero when the metadata's value is not one. */
int cli_model_val_resize(const cli_model *cm, int *resize);
/* The dataset to use: the flag's when given (seen), else the one the model's metadata names,
 * else the flag's default. */
const char *cli_dataset_of(const cli_model *cm, const char *given, int seen);
/* Images first..first+n of ds (idx given: images idx[first..first+n)) as model inputs
 * (pixel / 255), malloc'd; NULL (message printed) when out of memory. */
float *cli_dataset_inputs(const ct_dataset *ds, const int32_t *idx, int64_t first, int64_t n);

/* A loss or accuracy as printed: a NaN as "nan", as PyTorch prints it (glibc prints a NaN
 * with its sign bit set, which the arithmetic of a diverged run often leaves, as "-nan"). */
static inline double cli_metric(double x) { return isnan(x) ? (double)NAN : x; }

/* 1 when the four MNIST files (raw or .gz) are in dir. */
int mnist_files_present(const char *dir);
/* ct_data_fetch_mnist's log: one line on stderr. */
void cli_log_line(const char *line, void *user);

#endif /* CTRAIN_CLI_H */
