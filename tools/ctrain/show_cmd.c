/*
 * show_cmd.c — `ctrain show`: a grid of dataset images as PNG, like torchvision's make_grid in
 * the tutorial, each with its label; with --model also the model's prediction, the wrong ones
 * framed and labelled in red ("7 → 2": label 7, predicted 2).
 */
#include "cli.h"
#include "train.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREDICT_CHUNK 4096

typedef struct {
    const char *dataset, *data_dir, *part, *model, *out, *device, *spec, *class_names, *augment,
        *image_size;
    int count, cols, scale, wrong, threads, epoch, batch_size;
    int64_t start;
    uint64_t seed;
    float mixup_alpha, cutmix_alpha;
} show_opts;

enum { NUM_SHOW_FLAGS = 21 };

static int show_flags(show_opts *o, cli_flag *f) {
    memset(o, 0, sizeof *o);
    o->dataset = "mnist";
    o->part = "test";
    o->out = "grid.png";
    o->device = "auto";
    o->count = 64;
    o->cols = 8;
    o->scale = 3;
    o->augment = "off";
    o->seed = 42;
    o->batch_size = 128;
    cli_flag t[NUM_SHOW_FLAGS] = {
        {.name = "dataset", .kind = CLI_CHOICE, .dst = &o->dataset, .metavar = "NAME",
         .choices = CLI_DATASETS, .help = "which images", .def = "the model's, else mnist"},
        {.name = "data", .kind = CLI_STR, .dst = &o->data_dir, .metavar = "DIR",
         .help = "the data folder (MNIST is fetched there when missing)",
         .def = "the dataset's usual folder; folder: required"},
        {.name = "image-size", .kind = CLI_STR, .dst = &o->image_size, .metavar = "SIZE",
         .help = "--dataset folder: resize every image to SIZE (HEIGHT,WIDTH or SIDE), as\n"
                 "ctrain train --image-size SIZE does (with --model: its input size)",
         .def = "none: all images of the first one's size"},
        {.name = "part", .kind = CLI_CHOICE, .dst = &o->part, .metavar = "PART",
         .choices = "test|train", .help = "the test or the training images",
         .def = "test; with --augment: train"},
        {.name = "start", .kind = CLI_I64, .range = CLI_NONNEG, .dst = &o->start,
         .metavar = "N", .help = "the first image shown"},
        {.name = "count", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->count,
         .metavar = "N", .help = "how many images (at most 1024)"},
        {.name = "cols", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->cols, .metavar = "N",
         .help = "images per row (make_grid's nrow)"},
        {.name = "scale", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->scale,
         .metavar = "N", .help = "pixels per image pixel (1..16)"},
        {.name = "model", .kind = CLI_STR, .dst = &o->model, .metavar = "PATH",
         .help = "also show this saved model's predictions", .def = "none"},
        {.name = "wrong", .kind = CLI_SWITCH, .dst = &o->wrong,
         .help = "show only images the model gets wrong (needs --model)"},
        {.name = "out", .kind = CLI_STR, .dst = &o->out, .metavar = "FILE",
         .help = "the PNG to write (/dev/stdout: to standard output); an existing file "
                 "that is not a PNG is refused"},
        {.name = "class-names", .kind = CLI_STR, .dst = &o->class_names, .metavar = "FILE",
         .help = "the classes' names, one a line",
         .def = "the model's (ctrain train --class-names), else the dataset's"},
        {.name = "spec", .kind = CLI_STR, .dst = &o->spec, .metavar = "SPEC",
         .help = "the model's layers, for a file that does not record them",
         .def = "the file's model_spec"},
        {.name = "device", .kind = CLI_CHOICE, .dst = &o->device, .metavar = "NAME",
         .choices = "auto|cpu|cuda|cuda:N", .help = "where to run the model"},
        {.name = "threads", .kind = CLI_INT, .range = CLI_NONNEG, .max = CT_MAX_THREADS,
         .dst = &o->threads,
         .metavar = "N", .help = "CPU threads (0 = all cores)"},
        {.name = "augment", .kind = CLI_STR, .dst = &o->augment, .metavar = "SPEC",
         .help = "show the images as ctrain train --augment SPEC --seed N feeds them to\n"
                 "the model in epoch --epoch (an image's draw depends on its place in the\n"
                 "epoch's shuffled order: here, its index); with --model, its predictions\n"
                 "of those images (erase: to the --model's normalize mean, else black)"},
        {.name = "mixup-alpha", .kind = CLI_FLOAT, .range = CLI_NONNEG,
         .dst = &o->mixup_alpha, .metavar = "A",
         .help = "show the images mixed as ctrain train --mixup-alpha A mixes them (after\n"
                 "--augment, if given): each labelled \"LABEL+PARTNER SHARE\", SHARE the\n"
                 "weight of its own label in the target (not with --model)",
         .def = "off"},
        {.name = "cutmix-alpha", .kind = CLI_FLOAT, .range = CLI_NONNEG,
         .dst = &o->cutmix_alpha, .metavar = "A",
         .help = "the same for --cutmix-alpha A (with --mixup-alpha: each batch one of\n"
                 "the two, as in training)", .def = "off"},
        {.name = "batch-size", .kind = CLI_INT, .range = CLI_POSITIVE,
         .dst = &o->batch_size, .metavar = "N",
         .help = "--mixup-alpha, --cutmix-alpha: the training run's --batch-size (images\n"
                 "are mixed within their batch, one draw a batch)"},
        {.name = "seed", .kind = CLI_U64, .range = CLI_NONNEG, .dst = &o->seed,
         .metavar = "N",
         .help = "--augment, --mixup-alpha, --cutmix-alpha: the training run's --seed"},
        {.name = "epoch", .kind = CLI_INT, .range = CLI_NONNEG, .max = CT_MAX_EPOCHS,
         .dst = &o->epoch, .metavar = "E",
         .help = "--augment, --mixup-alpha, --cutmix-alpha: the epoch (from 0)"},
    };
    memcpy(f, t, sizeof t);
    return NUM_SHOW_FLAGS;
}

void show_help(FILE *out) {
    show_opts o;
    cli_flag flags[NUM_SHOW_FLAGS];
    int n = show_flags(&o, flags);
    fputs("usage: ctrain show [flags]\n"
          "\n"
          "Writes a grid of dataset images (like torchvision's make_grid: black padding of 2\n"
          "pixels) as a PNG, each image with its label under it. With --model, each also gets\n"
          "the model's prediction: right ones are labelled in green, wrong ones framed in red\n"
          "and labelled \"LABEL → PREDICTION\" in red. fashion-mnist and cifar10 images are\n"
          "labelled with their class names (torchvision's classes), a folder's with its class\n"
          "folders' (a model's: those it was trained with) where a name fits under the image\n"
          "(a smaller --scale shows the numbers), a wrong one's on a second line.\n"
          "\n"
          "flags:\n",
          out);
    cli_print_flags(out, flags, n);
}

/* argmax of each of the n rows of probs (n, k) */
static void argmax_rows(const float *probs, int64_t n, int k, int *out) {
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            if (probs[i * k + c] > probs[i * k + best]) best = c;
        out[i] = best;
    }
}

/* --out FILE (cli_check_png_out): an existing file is replaced only when it is a PNG (a picture
 * of an earlier show, say): a checkpoint, a dataset's file or anything else there is not ours
 * to destroy. Standard output redirected to a file is written to as it stands. */
int cmd_show(int argc, char **argv) {
    show_opts o;
    cli_flag flags[NUM_SHOW_FLAGS];
    int nflags = show_flags(&o, flags);
    switch (cli_parse("show", flags, nflags, argc, argv, NULL, 0, NULL)) {
    case CLI_PARSE_HELP: show_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    if (o.count > 1024) return cli_usage_error("show", "--count: %d is more than 1024", o.count);
    if (o.scale > 16) return cli_usage_error("show", "--scale: %d is more than 16", o.scale);
    if (o.wrong && !o.model) return cli_usage_error("show", "--wrong: needs --model");
    long image_h = 0, image_w = 0;
    if (o.image_size && o.model)
        return cli_usage_error("show", "--image-size: not with --model (its images are resized "
                               "to the model's input)");
    if (o.image_size && cli_parse_image_size(o.image_size, &image_h, &image_w) != 0)
        return cli_usage_error("show", "--image-size: expected SIDE or HEIGHT,WIDTH, each 1 to "
                               "%d and at most %d pixels in all, got \"%s\"", CLI_MAX_IMAGE_SIDE,
                               CLI_MAX_IMAGE_PIXELS, o.image_size);
    cli_flag *part_flag = cli_find(flags, nflags, "part");
    ct_train_config aug;
    ct_train_config_default(&aug);
    aug.seed = o.seed;
    char err[256], aug_text[512];
    const int mixing = o.mixup_alpha > 0.0f || o.cutmix_alpha > 0.0f;
    if (!cli_find(flags, nflags, "augment")->seen && !mixing &&
        (cli_find(flags, nflags, "seed")->seen || cli_find(flags, nflags, "epoch")->seen))
        return cli_usage_error("show", "--seed and --epoch: need --augment, --mixup-alpha or "
                               "--cutmix-alpha");
    if (cli_find(flags, nflags, "batch-size")->seen && !mixing)
        return cli_usage_error("show", "--batch-size: needs --mixup-alpha or --cutmix-alpha");
    if (!(o.mixup_alpha <= CT_MAX_MIX_ALPHA) || !(o.cutmix_alpha <= CT_MAX_MIX_ALPHA))
        return cli_usage_error("show", "--%s: %g is more than %g",
                               o.mixup_alpha > CT_MAX_MIX_ALPHA ? "mixup-alpha" : "cutmix-alpha",
                               (double)(o.mixup_alpha > CT_MAX_MIX_ALPHA ? o.mixup_alpha
                                                                         : o.cutmix_alpha),
                               (double)CT_MAX_MIX_ALPHA);
    if (mixing && o.model)
        return cli_usage_error("show", "--%s: not with --model (a mixed image has two labels)",
                               o.mixup_alpha > 0.0f ? "mixup-alpha" : "cutmix-alpha");
    aug.mixup_alpha = o.mixup_alpha, aug.cutmix_alpha = o.cutmix_alpha;
    aug.batch_size = o.batch_size;
    if (train_parse_augment(o.augment, "", &aug, err, sizeof err) != 0) /* (before any file) */
        return cli_usage_error("show", "--augment: %s", err);
    int out_rc = cli_check_png_out("out", o.out);
    if (out_rc != CLI_EXIT_OK) return out_rc;
    cli_model cm;
    memset(&cm, 0, sizeof cm);
    int rc = o.model ? cli_open_checkpoint(o.model, &cm) : CLI_EXIT_OK; /* a bad file fails first */
    if (rc != CLI_EXIT_OK) return rc;
    o.dataset = cli_dataset_of(&cm, o.dataset, cli_find(flags, nflags, "dataset")->seen);
    if (train_parse_augment(o.augment, o.dataset, &aug, err, sizeof err) != 0) {
        cli_close_model(&cm);
        return cli_usage_error("show", "--augment: %s", err);
    }
    train_format_augment(&aug, aug_text, sizeof aug_text);
    int augmenting = strcmp(aug_text, "off") != 0 || mixing;
    if (augmenting && !part_flag->seen) o.part = "train"; /* (what augmentation is for) */
    ct_dataset *ds = NULL;
    int shape[3];
    char *folder_names = NULL; /* (a folder's classes, for the labels when no model names them) */
    if (o.image_size && strcmp(o.dataset, "folder") != 0) {
        cli_close_model(&cm);
        return cli_usage_error("show", "--image-size: only for --dataset folder (got %s)",
                               o.dataset);
    }
    const int *load_shape = cli_model_image_shape(&cm, shape);
    if (o.image_size) /* (the folder's channels, this size) */
        shape[0] = 0, shape[1] = (int)image_h, shape[2] = (int)image_w, load_shape = shape;
    int resize; /* (a model's: its evaluation images as it was validated on them) */
    if ((rc = cli_model_val_resize(&cm, &resize)) != CLI_EXIT_OK ||
        (rc = cli_load_dataset(o.dataset, o.data_dir, o.part, load_shape, resize, &ds,
                               o.model ? NULL : &folder_names)) != CLI_EXIT_OK) {
        cli_close_model(&cm);
        return rc;
    }
    int64_t n_all = ct_dataset_count(ds);
    int c = ct_dataset_channels(ds), h = ct_dataset_height(ds), w = ct_dataset_width(ds);
    size_t row = (size_t)c * h * w;
    if (o.start >= n_all) {
        ct_dataset_free(ds);
        cli_close_model(&cm);
        free(folder_names);
        return cli_usage_error("show", "--start: %lld is past the last image (%lld images)",
                               (long long)o.start, (long long)n_all);
    }
    if (o.model && (rc = cli_build_model(&cm, o.device, o.threads, o.spec, c, h, w, 256)) !=
                       CLI_EXIT_OK) {
        ct_dataset_free(ds);
        free(folder_names);
        return rc;
    }
    if (cm.m && aug.augment_erase_p > 0.0f) /* (erase: as train's) */
        ct_model_input_mean(cm.m, aug.augment_erase_fill);
    cli_names names; /* --class-names', the model's (its metadata), else the dataset's */
    if (cm.m && cli_check_data(&cm, ds, o.dataset, o.part) != CLI_EXIT_OK) rc = CLI_EXIT_ERROR;
    else
        rc = cli_model_class_names(cm.m ? cm.ck : NULL, o.dataset,
                                   cm.m ? ct_model_num_classes(cm.m) : ct_dataset_classes(ds),
                                   "show", o.class_names, &names);
    if (rc != CLI_EXIT_OK) {
        ct_dataset_free(ds);
        cli_close_model(&cm);
        free(folder_names);
        return rc;
    }
    if (!cm.m) cli_names_take(&names, folder_names, ct_dataset_classes(ds)); /* (folder's) */
    else free(folder_names);
    uint8_t *images = malloc((size_t)o.count * row);
    int *labels = malloc((size_t)o.count * sizeof *labels), *preds = NULL;
    int *chunk_pred = malloc(PREDICT_CHUNK * sizeof *chunk_pred);
    /* (the rows of a chunk: all of them with --wrong, else at most --count) */
    size_t x_rows = o.wrong || o.count > PREDICT_CHUNK ? PREDICT_CHUNK : (size_t)o.count;
    float *x = augmenting || cm.m ? malloc(x_rows * row * sizeof *x) : NULL;
    int k = cm.m ? ct_model_num_classes(cm.m) : 0;
    float *probs = cm.m ? malloc((size_t)PREDICT_CHUNK * k * sizeof *probs) : NULL;
    if (cm.m) preds = malloc((size_t)o.count * sizeof *preds);
    /* mixing: each chunk image's partner label and share, each shown one's caption */
    uint8_t *partner = mixing ? malloc(x_rows) : NULL;
    float *lam = mixing ? malloc(x_rows * sizeof *lam) : NULL;
    char (*caption)[32] = mixing ? malloc((size_t)o.count * sizeof *caption) : NULL;
    const char **captions = mixing ? malloc((size_t)o.count * sizeof *captions) : NULL;
    int n = 0, wrong = 0;
    rc = CLI_EXIT_ERROR;
    if (!images || !labels || !chunk_pred || (cm.m && (!preds || !probs)) ||
        ((augmenting || cm.m) && !x) || (mixing && (!partner || !lam || !caption || !captions))) {
        fprintf(stderr, "ctrain: out of memory\n");
        goto done;
    }
    /* walk the dataset from --start, a chunk at a time, taking the images to show */
    for (int64_t i0 = o.start; i0 < n_all && n < o.count; i0 += PREDICT_CHUNK) {
        int64_t len = n_all - i0 < PREDICT_CHUNK ? n_all - i0 : PREDICT_CHUNK;
        if (!o.wrong && len > o.count - n) len = o.count - n;
        const uint8_t *src = ct_dataset_images(ds) + (size_t)i0 * row;
        if (augmenting || cm.m) { /* the model's inputs: the images as training sees them */
            ct_status s =
                mixing ? ct_mix_images(&aug, ct_dataset_images(ds), ct_dataset_labels(ds), n_all,
                                       c, h, w, o.epoch, i0, len, x, partner, lam)
                       : ct_augment_images(&aug, src, len, c, h, w, o.epoch, i0, x);
            if (s == CT_OK && cm.m) s = ct_model_predict(cm.m, x, len, probs);
            if (s != CT_OK) {
                cli_lib_error(s);
                goto done;
            }
            if (cm.m) argmax_rows(probs, len, k, chunk_pred);
        }
        for (int64_t i = 0; i < len && n < o.count; i++) {
            int label = ct_dataset_labels(ds)[i0 + i], bad = cm.m && chunk_pred[i] != label;
            if (o.wrong && !bad) continue;
            uint8_t *img = images + (size_t)n * row;
            if (!augmenting) memcpy(img, src + (size_t)i * row, row);
            else
                for (size_t j = 0; j < row; j++) /* (bilinear values between bytes: rounded) */
                    img[j] = (uint8_t)lrintf(
                        fminf(fmaxf(x[(size_t)i * row + j], 0.0f), 1.0f) * 255.0f);
            labels[n] = label;
            if (mixing) { /* (a share of 1: a batch unmixed) */
                if (lam[i] < 1.0f)
                    snprintf(caption[n], sizeof caption[n], "%d+%d %.2f", label, partner[i],
                             (double)lam[i]);
                else snprintf(caption[n], sizeof caption[n], "%d", label);
                captions[n] = caption[n];
            }
            if (preds) preds[n] = chunk_pred[i];
            wrong += bad;
            n++;
        }
    }
    if (n == 0) {
        fprintf(stderr, "ctrain: no image to show (the model gets every image from %lld on right)\n",
                (long long)o.start);
        goto done;
    }
    char title[768];
    if (cm.m)
        snprintf(title, sizeof title, "%s %s: label%s (%d of %d wrong)", o.dataset, o.part,
                 " \u2192 prediction", wrong, n);
    else
        snprintf(title, sizeof title, "%s %s from %lld: labels", o.dataset, o.part,
                 (long long)o.start);
    size_t used = strlen(title);
    if (mixing) /* "labels" becomes what the captions say */
        snprintf(title + used - 6, sizeof title - (used - 6), "label+partner, label's share");
    used = strlen(title);
    if (strcmp(aug_text, "off") != 0)
        snprintf(title + used, sizeof title - used, ", augment %s", aug_text);
    used = strlen(title);
    if (o.mixup_alpha > 0.0f)
        snprintf(title + used, sizeof title - used, ", mixup %g", (double)o.mixup_alpha);
    used = strlen(title);
    if (o.cutmix_alpha > 0.0f)
        snprintf(title + used, sizeof title - used, ", cutmix %g", (double)o.cutmix_alpha);
    used = strlen(title);
    if (mixing)
        snprintf(title + used, sizeof title - used, ", batch %d, epoch %d", o.batch_size,
                 o.epoch);
    ct_status s = mixing ? ct_grid_png_captions(o.out, images, n, c, h, w, captions, o.cols,
                                                o.scale, title)
                         : ct_grid_png(o.out, images, n, c, h, w, labels, preds,
                                       names.n ? names.name : NULL, names.n, o.cols, o.scale,
                                       title);
    if (s != CT_OK) {
        cli_lib_error(s);
        goto done;
    }
    /* the summary line must not land in the picture: --out /dev/stdout gets it on stderr */
    struct stat st_out, st_stdout;
    FILE *say = stat(o.out, &st_out) == 0 && fstat(STDOUT_FILENO, &st_stdout) == 0 &&
                        st_out.st_dev == st_stdout.st_dev && st_out.st_ino == st_stdout.st_ino
                    ? stderr
                    : stdout;
    if (cm.m) fprintf(say, "Wrote %s: %d image%s, %d wrong\n", o.out, n, n == 1 ? "" : "s", wrong);
    else fprintf(say, "Wrote %s: %d image%s\n", o.out, n, n == 1 ? "" : "s");
    rc = CLI_EXIT_OK;
done:
    cli_names_free(&names);
    free(images);
    free(labels);
    free(preds);
    free(chunk_pred);
    free(probs);
    free(partner);
    free(lam);
    free(caption);
    free(captions);
    free(x);
    cli_close_model(&cm);
    ct_dataset_free(ds);
    return rc;
}
