/*
 * eval_cmd.c — `ctrain eval` (a saved model on the test set, or --part train the training set:
 * loss, accuracy, per-class accuracy,
 * confusion matrix) and `ctrain predict` (class probabilities of image files).
 *
 * eval's result line is train's test line, from the same code path (with the label smoothing the
 * model was trained with, which its metadata records; then the plain cross-entropy follows):
 *     test_loss: 0.0912, test_acc: 0.9712
 * predict prints one line per image:
 *     digit.png: 7 (0.9812)  top 3: 7 0.9812, 2 0.0101, 3 0.0050
 */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EVAL_BATCH 256
#define MNIST_C 1 /* the input shape assumed for a file that records none (predict) */
#define MNIST_HW 28

/* ------------------------------------------------------------------------------------------ */
/* ctrain eval                                                                                 */

#define PREDICTIONS_HEAD "index,label,label_name,predicted,predicted_name,"

/* A CSV field: as it is, or quoted (quotes doubled) when it holds a comma, quote or line end. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Class c's name (its number when the model has none), into buf. */
static const char *class_name(const cli_names *names, int c, char *buf, size_t bytes) {
    if (c < names->n) return names->name[c];
    snprintf(buf, bytes, "%d", c);
    return buf;
}

typedef struct {
    const char *model, *dataset, *data_dir, *device, *spec, *confusion, *part, *class_names;
    const char *predictions; /* --predictions FILE: each image's, as CSV */
    int threads, batch_size, top_k;
    float label_smoothing;
} eval_opts;

enum { NUM_EVAL_FLAGS = 13 };

static int eval_flags(eval_opts *o, cli_flag *f) {
    memset(o, 0, sizeof *o);
    o->dataset = "mnist";
    o->part = "test";
    o->device = "auto";
    o->batch_size = EVAL_BATCH;
    o->top_k = 5;
    cli_flag t[NUM_EVAL_FLAGS] = {
        {.name = "model", .kind = CLI_STR, .dst = &o->model, .metavar = "PATH",
         .help = "a checkpoint folder (its model.safetensors) or a .safetensors file",
         .def = "required"},
        {.name = "dataset", .kind = CLI_CHOICE, .dst = &o->dataset, .metavar = "NAME",
         .choices = CLI_DATASETS, .help = "whose images", .def = "the model's, else mnist"},
        {.name = "part", .kind = CLI_CHOICE, .dst = &o->part, .metavar = "PART",
         .choices = "test|train|val",
         .help = "the test images; all the training images (validation split\n"
                 "included: Keras' model.evaluate(x_train, y_train)); or the run's\n"
                 "validation split (--val-size and --seed, from the model's\n"
                 "metadata). The lines then say train_loss or val_loss"},
        {.name = "data", .kind = CLI_STR, .dst = &o->data_dir, .metavar = "DIR",
         .help = "the data folder (MNIST is fetched there when missing)",
         .def = "the dataset's usual folder; folder: required"},
        {.name = "class-names", .kind = CLI_STR, .dst = &o->class_names, .metavar = "FILE",
         .help = "the classes' names, one a line (for a model that records none,\n"
                 "a PyTorch state_dict say)",
         .def = "the model's (ctrain train --class-names), else the dataset's"},
        {.name = "spec", .kind = CLI_STR, .dst = &o->spec, .metavar = "SPEC",
         .help = "the model's layers, for a file that does not record them\n"
                 "(a chain of linear layers, linearN's or an nn.Sequential's\n"
                 "\"1.weight\"..., is read as an MLP with ReLU)",
         .def = "the file's model_spec"},
        {.name = "batch-size", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->batch_size,
         .metavar = "N", .help = "evaluation batch size"},
        {.name = "top-k", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->top_k,
         .metavar = "K", .max = 255,
         .help = "also the top-K accuracy when the model has more than K classes: the\n"
                 "share of images whose label is among the K most probable classes\n"
                 "(torchvision's Acc@5, Keras' TopKCategoricalAccuracy)"},
        {.name = "label-smoothing", .kind = CLI_FLOAT, .range = CLI_NONNEG,
         .dst = &o->label_smoothing, .metavar = "X",
         .help = "the loss is cross-entropy with label smoothing X in [0, 1]\n"
                 "(as ctrain train --label-smoothing); above 0, the plain\n"
                 "cross-entropy is printed after it",
         .def = "the model's (metadata label_smoothing), else 0"},
        {.name = "device", .kind = CLI_CHOICE, .dst = &o->device, .metavar = "NAME",
         .choices = "auto|cpu|cuda|cuda:N", .help = "where to run"},
        {.name = "threads", .kind = CLI_INT, .range = CLI_NONNEG, .max = CT_MAX_THREADS,
         .dst = &o->threads,
         .metavar = "N", .help = "CPU threads (0 = all cores)"},
        {.name = "confusion", .kind = CLI_STR, .dst = &o->confusion, .metavar = "FILE",
         .help = "also draw the confusion matrix as a PNG, like scikit-learn's\n"
                 "ConfusionMatrixDisplay: cells coloured by their share of the row\n"
                 "(normalize='true', with a colour bar), labelled with their counts;\n"
                 "an existing file is replaced only when it is a PNG",
         .def = "none"},
        {.name = "predictions", .kind = CLI_STR, .dst = &o->predictions, .metavar = "FILE",
         .help = "also write each image's prediction as CSV (Keras' model.predict,\n"
                 "kept for a look at the mistakes): index (the image's place in the\n"
                 "set's file: the test file's, the training file's for --part train\n"
                 "and val; a folder's in ImageFolder's order), label, label_name,\n"
                 "predicted, predicted_name, confidence (the predicted class's\n"
                 "probability), correct (1 or 0), then p_NAME, each class's\n"
                 "probability; written whole or not at all (/dev/stdout: after the\n"
                 "report), and an existing file is replaced only when it is one of\n"
                 "these",
         .def = "none"},
    };
    memcpy(f, t, sizeof t);
    return NUM_EVAL_FLAGS;
}

void eval_help(FILE *out) {
    eval_opts o;
    cli_flag flags[NUM_EVAL_FLAGS];
    int n = eval_flags(&o, flags);
    fputs("usage: ctrain eval --model PATH [flags]\n"
          "\n"
          "Evaluates a saved model (ctrain train --save DIR, or any safetensors file with the\n"
          "model's tensors under PyTorch state_dict names) on the test set (--part train: the\n"
          "training set; --part val: the run's validation split, or a folder's val/ beside\n"
          "test/), and prints:\n"
          "  Model: SPEC (N parameters) from FILE\n"
          "  Data: DATASET test set, N images       (--part train: training set; val: its split)\n"
          "  test_loss: L, test_acc: A                 (as ctrain train prints it)\n"
          "  test_loss is cross-entropy with label smoothing S; without it: L\n"
          "                                 (a model trained with --label-smoothing S > 0)\n"
          "  top-5 accuracy: A (N of M)              (more than --top-k classes)\n"
          "  each class's accuracy (its recall), precision and F1, their macro averages (as\n"
          "  scikit-learn's classification_report), and the confusion matrix (rows: true class,\n"
          "  columns: predicted class)\n"
          "\n"
          "flags:\n",
          out);
    cli_print_flags(out, flags, n);
}

/* Each class's accuracy (its recall: the share of its images predicted as it), precision (the
 * share of the images predicted as it that are it) and F1, as scikit-learn's
 * classification_report (0 where a share has no images); then their macro averages over the
 * classes in the test set or predicted (scikit-learn's labels). */
static void print_confusion(const int64_t *cm, int k, const cli_names *names) {
    printf("Per-class accuracy (recall), precision and F1:\n");
    double sum_r = 0.0, sum_p = 0.0, sum_f = 0.0;
    int present = 0;
    for (int t = 0; t < k; t++) {
        int64_t total = 0, predicted = 0, hits = cm[t * k + t];
        for (int p = 0; p < k; p++) total += cm[t * k + p];
        for (int s = 0; s < k; s++) predicted += cm[s * k + t];
        double r = total ? (double)hits / (double)total : 0.0;
        double p = predicted ? (double)hits / (double)predicted : 0.0;
        double f = r + p > 0.0 ? 2.0 * p * r / (p + r) : 0.0;
        if (total > 0 || predicted > 0) sum_r += r, sum_p += p, sum_f += f, present++;
        const char *name = t < names->n ? names->name[t] : NULL;
        printf("  class %d%s%s%s: %.4f (%lld/%lld), precision %.4f (%lld/%lld), F1 %.4f\n", t,
               name ? " (" : "", name ? name : "", name ? ")" : "", r, (long long)hits,
               (long long)total, p, (long long)hits, (long long)predicted, f);
    }
    if (present < k && present > 0)
        printf("  macro average over the %d classes present or predicted: accuracy (recall) "
               "%.4f, precision %.4f, F1 %.4f\n", present, sum_r / present, sum_p / present,
               sum_f / present);
    else
        printf("  macro average: accuracy (recall) %.4f, precision %.4f, F1 %.4f\n", sum_r / k,
               sum_p / k, sum_f / k);
    printf("Confusion matrix (rows: true class, columns: predicted class):\n     ");
    for (int p = 0; p < k; p++) printf(" %5d", p);
    printf("\n");
    for (int t = 0; t < k; t++) {
        printf("  %2d ", t);
        for (int p = 0; p < k; p++) printf(" %5lld", (long long)cm[t * k + p]);
        printf("\n");
    }
}

/* The run's split of its training images (--part val): metadata val_size and seed, as
 * ctrain train saves them in model.safetensors (a train state: val_size, and the seed in its
 * config). Prints the error. */
static int run_split(const cli_model *cm, long long *n_val, unsigned long long *seed) {
    const char *v = ct_checkpoint_meta(cm->ck, "val_size"), *sd = ct_checkpoint_meta(cm->ck, "seed");
    ct_train_config cfg;
    int from_cfg = !sd && *ct_checkpoint_prefix(cm->ck) &&
                   ct_checkpoint_train_config(cm->ck, &cfg) == CT_OK;
    if (!v || (!sd && !from_cfg))
        return cli_error("%s: --part val needs the run's split, but the file has no metadata "
                         "\"%s\" (ctrain train writes val_size and seed)", cm->path,
                         v ? "seed" : "val_size");
    uint64_t n = 0, s = from_cfg ? cfg.seed : 0;
    if (cli_parse_u64(v, &n) != 0 || n > INT32_MAX)
        return cli_error("%s: metadata \"val_size\" is \"%.40s\", not a number of images",
                         cm->path, v);
    if (sd && cli_parse_u64(sd, &s) != 0)
        return cli_error("%s: metadata \"seed\" is \"%.40s\", not a seed", cm->path, sd);
    if (n == 0)
        return cli_error("%s: the run held out no validation images (--val-size 0): --part val has "
                         "nothing to evaluate", cm->path);
    *n_val = (long long)n;
    *seed = s;
    return CLI_EXIT_OK;
}

int cmd_eval(int argc, char **argv) {
    eval_opts o;
    cli_flag flags[NUM_EVAL_FLAGS];
    int nflags = eval_flags(&o, flags);
    switch (cli_parse("eval", flags, nflags, argc, argv, NULL, 0, NULL)) {
    case CLI_PARSE_HELP: eval_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    if (!o.model) return cli_usage_error("eval", "--model: missing (the model to evaluate)");
    if (o.confusion) { /* (before any work: a file that is not a picture is never replaced) */
        int crc = cli_check_png_out("confusion", o.confusion);
        if (crc != CLI_EXIT_OK) return crc;
    }
    if (o.predictions) { /* (the same: only an earlier predictions file is replaced) */
        int crc = cli_check_out("predictions", o.predictions, PREDICTIONS_HEAD,
                                strlen(PREDICTIONS_HEAD), "a predictions file of ctrain eval");
        if (crc != CLI_EXIT_OK) return crc;
    }
    if (!(o.label_smoothing <= 1.0f))
        return cli_usage_error("eval", "--label-smoothing: %g is not in [0, 1]",
                               (double)o.label_smoothing);
    cli_model cm;
    int rc = cli_open_checkpoint(o.model, &cm); /* a bad file fails before any data is read */
    if (rc != CLI_EXIT_OK) return rc;
    const char *ls = ct_checkpoint_meta(cm.ck, "label_smoothing"); /* what the model trained on */
    if (ls && !cli_find(flags, nflags, "label-smoothing")->seen) {
        char *end;
        double v = strtod(ls, &end);
        if (end == ls || *end || !(v >= 0.0 && v <= 1.0)) {
            cli_error("%s: metadata \"label_smoothing\" is \"%.40s\", not a number in [0, 1]",
                      cm.path, ls);
            cli_close_model(&cm);
            return CLI_EXIT_ERROR;
        }
        o.label_smoothing = (float)v;
    }
    /* --part val: the run's split of the training images, from its --val-size and --seed */
    const int val = strcmp(o.part, "val") == 0;
    long long n_val = 0;
    unsigned long long seed = 0;
    int32_t *val_idx = NULL;
    if (val && (rc = run_split(&cm, &n_val, &seed)) != CLI_EXIT_OK) {
        cli_close_model(&cm);
        return rc;
    }
    ct_dataset *test = NULL;
    o.dataset = cli_dataset_of(&cm, o.dataset, cli_find(flags, nflags, "dataset")->seen);
    const char *load = val ? "train" : o.part;
    int shape[3], resize;
    if ((rc = cli_model_val_resize(&cm, &resize)) != CLI_EXIT_OK ||
        (rc = cli_load_dataset(o.dataset, o.data_dir, load, cli_model_image_shape(&cm, shape),
                               resize, &test, NULL)) != CLI_EXIT_OK) {
        cli_close_model(&cm);
        return rc;
    }
    int64_t n_all = ct_dataset_count(test); /* a batch above it is all of them */
    const char *fp = val ? ct_checkpoint_meta(cm.ck, "data_fingerprint") : NULL;
    char mine[24];
    if (fp)
        snprintf(mine, sizeof mine, "%016llx", (unsigned long long)ct_dataset_fingerprint(test));
    if (fp && strcmp(fp, mine) != 0) {
        cli_error("%s: the run's validation split is of other training images (fingerprint "
                  "%.20s; %s's in %s: %s): --part val needs the data it trained on", cm.path, fp,
                  o.dataset, o.data_dir ? o.data_dir : "the default folder", mine);
        ct_dataset_free(test);
        cli_close_model(&cm);
        return CLI_EXIT_ERROR;
    }
    if (val && n_val >= n_all) {
        cli_error("%s: the run held out %lld validation images, but this training set has only "
                  "%lld", cm.path, n_val, (long long)n_all);
        ct_dataset_free(test);
        cli_close_model(&cm);
        return CLI_EXIT_ERROR;
    }
    const int64_t n_folder = ct_dataset_val_count(test); /* a folder's val/: its images, last */
    if (val && n_folder > 0 && n_val != n_folder) {
        cli_error("%s: the run held out %lld validation images, but %s/val has %lld", cm.path,
                  n_val, o.data_dir, (long long)n_folder);
        ct_dataset_free(test);
        cli_close_model(&cm);
        return CLI_EXIT_ERROR;
    }
    if (n_folder > 0) { /* --part val: val/'s images, last; train: train/'s, before them */
        int64_t lo = val ? n_all - n_folder : 0, hi = val ? n_all : n_all - n_folder;
        if (!(val_idx = malloc((size_t)(hi - lo) * sizeof(int32_t)))) {
            ct_dataset_free(test);
            cli_close_model(&cm);
            return cli_error("out of memory (%lld indices)", (long long)(hi - lo));
        }
        for (int64_t i = lo; i < hi; i++) val_idx[i - lo] = (int32_t)i;
    } else if (val) {
        int32_t *train_idx = NULL;
        ct_status split = ct_split_indices(n_all, n_val, seed, &train_idx, &val_idx);
        free(train_idx);
        if (split != CT_OK) {
            ct_dataset_free(test);
            cli_close_model(&cm);
            return cli_lib_error(split);
        }
    }
    rc = cli_build_model(&cm, o.device, o.threads, o.spec, ct_dataset_channels(test),
                         ct_dataset_height(test), ct_dataset_width(test),
                         o.batch_size < n_all ? o.batch_size : (int)n_all);
    if (rc != CLI_EXIT_OK) {
        ct_dataset_free(test);
        free(val_idx);
        return rc;
    }
    if ((rc = cli_check_data(&cm, test, o.dataset, load)) != CLI_EXIT_OK) {
        ct_dataset_free(test);
        free(val_idx);
        cli_close_model(&cm);
        return rc;
    }
    ct_model *m = cm.m;
    int k = ct_model_num_classes(m);
    cli_names names; /* the model's (its metadata), else the dataset's */
    if ((rc = cli_model_class_names(cm.ck, o.dataset, k, "eval", o.class_names, &names)) !=
        CLI_EXIT_OK) {
        ct_dataset_free(test);
        free(val_idx);
        cli_close_model(&cm);
        return rc;
    }
    int64_t n = val ? n_val : ct_dataset_count(test) - n_folder;
    char text[400];
    printf("Model: %s (%lld parameters) from %s\n", ct_spec_text(ct_model_spec(m), 0, text,
           sizeof text), (long long)ct_model_param_count(m), cm.path);
    const char *ema = ct_checkpoint_meta(cm.ck, "ema_decay"); /* (train --ema: a number) */
    char *ema_end = NULL;
    double decay = ema ? strtod(ema, &ema_end) : 0.0;
    if (ema && ema_end != ema && !*ema_end && decay > 0.0 && decay < 1.0)
        printf("Weights: the moving average of training's (train --ema %g)\n", decay);
    else if (strcmp(ct_checkpoint_prefix(cm.ck), "ema.") == 0) /* a train state's */
        printf("Weights: the moving average of training's (the train state's ema.* tensors)\n");
    const char *swa_start = ct_checkpoint_meta(cm.ck, "swa_start");
    const char *swa_epochs = ct_checkpoint_meta(cm.ck, "swa_epochs");
    if (swa_start && swa_epochs) /* (train --swa-start: model.safetensors) */
        printf("Weights: SWA's average of the weights after %.12s epoch%s from epoch %.12s (train "
               "--swa-start)\n", swa_epochs, strcmp(swa_epochs, "1") ? "s" : "", swa_start);
    else if (ct_checkpoint_meta(cm.ck, "swa_updates")) /* a train state's */
        printf("Weights: the trained weights (the train state's model.* tensors; SWA's "
               "average, once the run ends, is its model.safetensors)\n");
    const char *part = val ? "val" : strcmp(o.part, "train") == 0 ? "train" : "test";
    char set[160];
    if (val && n_folder > 0)
        snprintf(set, sizeof set, "%s validation images (the val folder)", o.dataset);
    else if (val)
        snprintf(set, sizeof set, "%s validation split (--val-size %lld of the %lld training "
                 "images, seed %llu)", o.dataset, n_val, (long long)n_all, seed);
    else
        snprintf(set, sizeof set, "%s %s set", o.dataset,
                 strcmp(part, "train") ? "test" : "training");
    printf("Data: %s, %lld image%s\n", set, (long long)n, n == 1 ? "" : "s");
    ct_eval_result ev, plain;
    ct_status s = ct_evaluate_dist(m, test, val_idx, n, o.batch_size, o.label_smoothing, NULL, &ev);
    if (s == CT_OK && o.label_smoothing > 0.0f)
        s = ct_evaluate(m, test, val_idx, n, o.batch_size, &plain);
    float *probs = NULL, *x = NULL;
    char nb[2][16], *csv = NULL; /* --predictions: the CSV, built in memory, then written whole */
    size_t csv_bytes = 0;
    FILE *pf = NULL;
    int64_t *conf = calloc((size_t)k * k, sizeof *conf);
    if (s != CT_OK) {
        rc = cli_lib_error(s);
        goto done;
    }
    printf("%s_loss: %.4f, %s_acc: %.4f\n", part, cli_metric(ev.loss), part, ev.accuracy);
    if (o.label_smoothing > 0.0f)
        printf("%s_loss is cross-entropy with label smoothing %g; without it: %.4f\n", part,
               (double)o.label_smoothing, cli_metric(plain.loss));
    /* per-sample predictions, a chunk at a time */
    int64_t chunk = 4096, top_hits = 0;
    probs = malloc((size_t)chunk * k * sizeof *probs);
    if (!probs || !conf) {
        fprintf(stderr, "ctrain: out of memory\n");
        rc = CLI_EXIT_ERROR;
        goto done;
    }
    const uint8_t *labels = ct_dataset_labels(test);
    /* (its place in the set's file: a folder's val/ counts from its first image) */
    const int64_t idx_off = val && n_folder > 0 ? n_all - n_folder : 0;
    if (o.predictions) {
        if (!(pf = open_memstream(&csv, &csv_bytes))) {
            rc = cli_error("eval: out of memory");
            goto done;
        }
        fputs(PREDICTIONS_HEAD "confidence,correct", pf);
        for (int c = 0; c < k; c++) {
            char col[CLI_MAX_CLASS_NAME + 8];
            snprintf(col, sizeof col, "p_%s", class_name(&names, c, nb[0], sizeof nb[0]));
            fputc(',', pf);
            csv_field(pf, col);
        }
        fputc('\n', pf);
    }
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        int64_t len = n - i0 < chunk ? n - i0 : chunk;
        if (!(x = cli_dataset_inputs(test, val_idx, i0, len))) {
            rc = CLI_EXIT_ERROR;
            goto done;
        }
        if ((s = ct_model_predict(m, x, len, probs)) != CT_OK) {
            rc = cli_lib_error(s);
            goto done;
        }
        for (int64_t i = 0; i < len; i++) {
            const float *p = probs + i * k;
            int best = 0, above = 0; /* above: classes more probable than the label */
            for (int c = 1; c < k; c++)
                if (p[c] > p[best]) best = c;
            uint8_t y = labels[val_idx ? val_idx[i0 + i] : i0 + i];
            for (int c = 0; c < k && y < k; c++) above += p[c] > p[y];
            if (y < k) conf[y * k + best]++;
            top_hits += y < k && above < o.top_k;
            if (pf) {
                fprintf(pf, "%lld,%d,",
                        (long long)((val_idx ? val_idx[i0 + i] : i0 + i) - idx_off), y);
                csv_field(pf, class_name(&names, y, nb[0], sizeof nb[0]));
                fprintf(pf, ",%d,", best);
                csv_field(pf, class_name(&names, best, nb[1], sizeof nb[1]));
                fprintf(pf, ",%.9g,%d", (double)p[best], y == best); /* (floats as they are) */
                for (int c = 0; c < k; c++) fprintf(pf, ",%.9g", (double)p[c]);
                fputc('\n', pf);
            }
        }
        free(x);
        x = NULL;
    }
    if (k > o.top_k)
        printf("top-%d accuracy: %.4f (%lld of %lld)\n", o.top_k,
               n ? (double)top_hits / (double)n : 0.0, (long long)top_hits, (long long)n);
    print_confusion(conf, k, &names);
    rc = CLI_EXIT_OK;
    if (pf) {
        const int failed = ferror(pf), closed = fclose(pf); /* (closed either way) */
        pf = NULL;
        const int bad = failed || closed != 0;
        if (bad) {
            rc = cli_error("eval: out of memory for --predictions' CSV");
            goto done;
        }
        fflush(stdout); /* (the report first, when FILE is this output) */
        if ((s = ct_file_write_atomic(o.predictions, csv, csv_bytes)) != CT_OK) {
            rc = cli_lib_error(s);
            goto done;
        }
        if (strncmp(o.predictions, "/dev/", 5) != 0 && strncmp(o.predictions, "/proc/", 6) != 0)
            printf("Wrote %s: the %lld images' predictions\n", o.predictions, (long long)n);
    }
    if (o.confusion) {
        char title[160];
        snprintf(title, sizeof title, "%s %s: %lld images, accuracy %.4f", o.dataset,
                 val ? "validation split" : strcmp(part, "train") ? "test set" : "training set",
                 (long long)n, ev.accuracy);
        fflush(stdout);
        s = ct_confusion_png(o.confusion, conf, k, names.n ? names.name : NULL, names.n, title);
        if (s != CT_OK) rc = cli_lib_error(s);
        else printf("Wrote %s: the confusion matrix\n", o.confusion);
    }
done:
    fflush(stdout);
    if (pf) fclose(pf);
    free(csv);
    cli_names_free(&names);
    free(x);
    free(probs);
    free(conf);
    cli_close_model(&cm);
    ct_dataset_free(test);
    free(val_idx);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* ctrain predict                                                                              */

typedef struct {
    const char *model, *device, *spec, *invert, *fit, *class_names;
    int threads, top;
    int as_trained; /* a --dataset folder model, no --fit or --invert: read as training read */
    int resize;     /* with as_trained: its evaluation images' (train --val-resize; 0: none) */
} predict_opts;

enum { NUM_PREDICT_FLAGS = 8 };

static int predict_flags(predict_opts *o, cli_flag *f) {
    memset(o, 0, sizeof *o);
    o->device = "auto";
    o->invert = "auto";
    o->fit = "pad";
    o->top = 3;
    cli_flag t[NUM_PREDICT_FLAGS] = {
        {.name = "model", .kind = CLI_STR, .dst = &o->model, .metavar = "PATH",
         .help = "a checkpoint folder (its model.safetensors) or a .safetensors file",
         .def = "required"},
        {.name = "invert", .kind = CLI_CHOICE, .dst = &o->invert, .metavar = "WHEN",
         .choices = "auto|yes|no",
         .help = "make dark-on-light pictures light-on-dark like MNIST;\n"
                 "auto: when the picture's border is mostly light and the\n"
                 "model takes one channel (never for a colour model)"},
        {.name = "fit", .kind = CLI_CHOICE, .dst = &o->fit, .metavar = "HOW",
         .choices = "pad|stretch|digit",
         .help = "pad: keep the aspect ratio, pad with the background, then\n"
                 "scale (area averaging); stretch: scale to the input size;\n"
                 "digit: as MNIST was made (crop to the ink, scale it into a\n"
                 "20x20 box of 28x28, centre of mass at the centre; for\n"
                 "one-channel models)"},
        {.name = "top", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->top, .metavar = "K",
         .help = "how many of the most probable classes to print"},
        {.name = "class-names", .kind = CLI_STR, .dst = &o->class_names, .metavar = "FILE",
         .help = "the classes' names, one a line (for a model that records none,\n"
                 "a PyTorch state_dict say)",
         .def = "the model's (ctrain train --class-names), else the dataset's"},
        {.name = "spec", .kind = CLI_STR, .dst = &o->spec, .metavar = "SPEC",
         .help = "the model's layers, for a file that does not record them",
         .def = "the file's model_spec"},
        {.name = "device", .kind = CLI_CHOICE, .dst = &o->device, .metavar = "NAME",
         .choices = "auto|cpu|cuda|cuda:N", .help = "where to run"},
        {.name = "threads", .kind = CLI_INT, .range = CLI_NONNEG, .max = CT_MAX_THREADS,
         .dst = &o->threads,
         .metavar = "N", .help = "CPU threads (0 = all cores)"},
    };
    memcpy(f, t, sizeof t);
    return NUM_PREDICT_FLAGS;
}

void predict_help(FILE *out) {
    predict_opts o;
    cli_flag flags[NUM_PREDICT_FLAGS];
    int n = predict_flags(&o, flags);
    fputs("usage: ctrain predict --model PATH [flags] IMAGE|FOLDER...\n"
          "\n"
          "Classifies images with a saved model; a FOLDER's images one by one (its\n"
          "sub-folders' too, in ImageFolder's order: .png, .jpg, .jpeg, .pgm, .ppm). Images:\n"
          "PNG (read with libpng), JPEG\n"
          "(libjpeg-turbo) or PBM, PGM, PPM, PAM (libnetpbm), greyscale or colour (made grey\n"
          "by luminance 0.299 R + 0.587 G + 0.114 B for a one-channel model; transparency\n"
          "over white), any size (fitted to the model's input, see --fit). Pixels are scaled\n"
          "to [0, 1] as in training. MNIST digits are light on a dark background: for a\n"
          "one-channel model, a picture whose border is mostly light (a dark digit on paper)\n"
          "is inverted first, unless --invert no. A model trained on --dataset folder reads\n"
          "each image as training read the folder's test images (resized as --image-size, or\n"
          "as --val-resize and cropped; channels as its, never inverted), unless --fit or\n"
          "--invert is given.\n"
          "\n"
          "output, one line per image (stdout):\n"
          "  IMAGE: CLASS (P)  top K: CLASS P, CLASS P, ...\n"
          "An image that cannot be read is reported on stderr; the others are still classified\n"
          "and the exit status is 1.\n"
          "\n"
          "flags:\n",
          out);
    cli_print_flags(out, flags, n);
}

/* Classifies one image; prints its line. 0 on success. */
static int predict_one(cli_model *cm, const predict_opts *o, const cli_names *names,
                       const char *path, float *x, float *probs) {
    int c, h, w, k = ct_model_num_classes(cm->m), inverted = 0;
    ct_model_input_shape(cm->m, &c, &h, &w);
    ct_image img;
    ct_status s = ct_image_load(path, &img);
    /* auto: digits and Fashion-MNIST's items are light on black; colour pictures are as shot */
    int invert = !strcmp(o->invert, "yes") ? 1 : !strcmp(o->invert, "no") || c != 1 ? 0 : -1;
    ct_image_fit fit = !strcmp(o->fit, "stretch") ? CT_FIT_STRETCH
                       : !strcmp(o->fit, "digit") ? CT_FIT_DIGIT : CT_FIT_PAD;
    uint8_t *u8 = s == CT_OK && o->as_trained ? malloc((size_t)c * h * w) : NULL;
    if (s == CT_OK && o->as_trained) { /* resized and converted as the folder's images were */
        s = u8 ? ct_image_to_planes(&img, c, h, w, o->resize, u8) : CT_ERR_NOMEM;
        for (size_t i = 0; s == CT_OK && i < (size_t)c * h * w; i++) x[i] = u8[i] * (1.0f / 255.0f);
    } else if (s == CT_OK) {
        s = ct_image_to_input(&img, c, h, w, invert, fit, x, &inverted);
    }
    free(u8);
    ct_image_free(&img);
    if (s == CT_OK) s = ct_model_predict(cm->m, x, 1, probs);
    if (s != CT_OK) {
        cli_lib_error(s);
        return 1;
    }
    for (int i = 0; i < k; i++) /* (finite weights can still overflow: 3e38 of them) */
        if (!isfinite(probs[i])) {
            cli_error("%s: the model's output for %s is not a number (NaN): its weights are "
                      "damaged or too large", cm->path, path);
            return 1;
        }
    int top = o->top < k ? o->top : k, order[256] = {0};
    for (int i = 0; i < k && i < 256; i++) order[i] = i;
    for (int i = 0; i < top; i++) /* partial selection sort: the top classes first */
        for (int j = i + 1; j < k && j < 256; j++)
            if (probs[order[j]] > probs[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    const char *name = order[0] < names->n ? names->name[order[0]] : NULL;
    printf("%s: %d%s%s (%.4f)  top %d:", path, order[0], name ? " " : "", name ? name : "",
           (double)probs[order[0]], top);
    for (int i = 0; i < top; i++) printf("%s %d %.4f", i ? "," : "", order[i], (double)probs[order[i]]);
    printf("%s\n", inverted ? "  [inverted]" : "");
    fflush(stdout);
    return 0;
}

int cmd_predict(int argc, char **argv) {
    predict_opts o;
    cli_flag flags[NUM_PREDICT_FLAGS];
    int nflags = predict_flags(&o, flags), npos = 0;
    const char **pos = calloc((size_t)(argc > 0 ? argc : 1), sizeof *pos);
    if (!pos) return CLI_EXIT_ERROR;
    int rc = CLI_EXIT_OK;
    switch (cli_parse("predict", flags, nflags, argc, argv, pos, argc, &npos)) {
    case CLI_PARSE_HELP: predict_help(stdout); free(pos); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: free(pos); return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    if (!o.model) rc = cli_usage_error("predict", "--model: missing (the model to use)");
    else if (npos == 0) rc = cli_usage_error("predict", "no IMAGE given");
    if (rc != CLI_EXIT_OK) {
        free(pos);
        return rc;
    }
    cli_model cm;
    rc = cli_open_model(o.model, o.device, o.threads, o.spec, MNIST_C, MNIST_HW, MNIST_HW, 1, &cm);
    if (rc != CLI_EXIT_OK) {
        free(pos);
        return rc;
    }
    int c, h, w;
    ct_model_input_shape(cm.m, &c, &h, &w);
    const char *trained_on = ct_checkpoint_meta(cm.ck, "dataset");
    o.as_trained = trained_on && !strcmp(trained_on, "folder") &&
                   !cli_find(flags, nflags, "fit")->seen && !cli_find(flags, nflags, "invert")->seen;
    if ((rc = cli_model_val_resize(&cm, &o.resize)) != CLI_EXIT_OK) {
        cli_close_model(&cm);
        free(pos);
        return rc;
    }    if (c != 1 && !strcmp(o.fit, "digit")) {
        cli_close_model(&cm);
        free(pos);
        return cli_usage_error("predict", "--fit digit: centres a digit as MNIST's were, for a "
                               "one-channel model; this one takes %d channels", c);
    }
    cli_names names; /* the model's (its metadata), else its dataset's */
    if ((rc = cli_model_class_names(cm.ck, ct_checkpoint_meta(cm.ck, "dataset"),
                                    ct_model_num_classes(cm.m), "predict", o.class_names,
                                    &names)) != CLI_EXIT_OK) {
        cli_close_model(&cm);
        free(pos);
        return rc;
    }
    float *x = malloc((size_t)c * h * w * sizeof *x);
    float *probs = malloc((size_t)ct_model_num_classes(cm.m) * sizeof *probs);
    if (!x || !probs) {
        fprintf(stderr, "ctrain: out of memory\n");
        rc = CLI_EXIT_ERROR;
    }
    for (int i = 0; i < npos && x && probs; i++) {
        struct stat st;
        if (stat(pos[i], &st) != 0 || !S_ISDIR(st.st_mode)) { /* (a file's error: its load's) */
            if (predict_one(&cm, &o, &names, pos[i], x, probs) != 0) rc = CLI_EXIT_ERROR;
            continue;
        }
        char **paths = NULL; /* a folder: its images, in ImageFolder's order */
        int64_t n = 0;
        ct_status s = ct_folder_image_paths(pos[i], &paths, &n);
        if (s != CT_OK) rc = cli_lib_error(s);
        else if (n == 0) rc = cli_error("%s: no images in this folder (.png, .jpg, .jpeg, .pgm, "
                                        ".ppm, in it or its sub-folders)", pos[i]);
        for (int64_t j = 0; j < n; j++) {
            if (predict_one(&cm, &o, &names, paths[j], x, probs) != 0) rc = CLI_EXIT_ERROR;
            free(paths[j]);
        }
        free(paths);
    }
    cli_names_free(&names);
    free(x);
    free(probs);
    cli_close_model(&cm);
    free(pos);
    return rc;
}
