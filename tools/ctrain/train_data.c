/*
 * train_data.c — the data of `ctrain train`: the data folder (MNIST fetched there when missing;
 * under mpirun a missing one is an error, not one download per rank) and the training and
 * test sets, --dataset folder's at --image-size (train_parse.c parses it).
 */
#include "cli.h"
#include "dist_cli.h"
#include "train.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int train_load_data(const train_opts *o, ct_dist *dist, train_run *run, ct_dataset **train,
                    ct_dataset **test, char **folder_names) {
    ct_status s;
    if (strcmp(o->dataset, "mnist") != 0) {
        /* saved in the train state: absolute, so that a resume from elsewhere finds it */
        char abs_dir[PATH_MAX];
        const char *dir = o->data_dir && realpath(o->data_dir, abs_dir) ? abs_dir : o->data_dir;
        snprintf(run->data_dir, sizeof run->data_dir, "%s", dir ? dir : "(default)");
        const int shape[3] = {0, o->image_h, o->image_w}; /* (channels as the folder has) */
        if (cli_load_dataset(o->dataset, o->data_dir, "train", shape, o->val_resize, train,
                             folder_names) != 0)
            return CLI_EXIT_ERROR; /* message printed (or held) */
        if (folder_names && cli_check_class_names(o->data_dir, *folder_names) != CLI_EXIT_OK)
            return CLI_EXIT_ERROR; /* (the caller frees *train and *folder_names) */
        /* a folder's test images: the training set's channels, found once (not by reading
         * every training image's header again) */
        const int test_shape[3] = {ct_dataset_channels(*train), o->image_h, o->image_w};
        if (cli_load_dataset(o->dataset, o->data_dir, "test", test_shape, o->val_resize, test,
                             NULL) != 0)
            return CLI_EXIT_ERROR;
        return CLI_EXIT_OK;
    }
    if ((s = ct_data_dir(o->data_dir, "mnist", run->data_dir, sizeof run->data_dir)) != CT_OK)
        return cli_lib_error(s);
    if (!mnist_files_present(run->data_dir)) {
        if (dist) return cli_dist_missing_data(run->data_dir);
        fprintf(stderr, "MNIST not found in %s: fetching it\n", run->data_dir);
        if ((s = ct_data_fetch_mnist(run->data_dir, cli_log_line, NULL)) != CT_OK)
            return cli_lib_error(s);
    }
    /* saved in the train state: absolute, so that a resume from elsewhere finds it */
    char abs_dir[PATH_MAX];
    if (realpath(run->data_dir, abs_dir)) snprintf(run->data_dir, sizeof run->data_dir, "%s", abs_dir);
    /* train (60000) and test (10000); the training part is split into train/val later */
    if ((s = ct_dataset_load_mnist(run->data_dir, "train", train)) != CT_OK ||
        (s = ct_dataset_load_mnist(run->data_dir, "test", test)) != CT_OK)
        return cli_lib_error(s);
    return CLI_EXIT_OK;
}

void train_print_classes(const train_opts *o, const ct_dataset *train) {
    if (strcmp(o->dataset, "folder") != 0) return;
    int k = ct_dataset_classes(train);
    int64_t count[256] = {0};
    const uint8_t *labels = ct_dataset_labels(train);
    for (int64_t i = 0; i < ct_dataset_count(train) - ct_dataset_val_count(train); i++)
        count[labels[i]]++; /* (train/'s, not val/'s) */
    const char *names = o->class_names_text ? o->class_names_text : "";
    printf("Classes: %d, training images each%s:", k,
           ct_dataset_val_count(train) ? " (train/'s)" : " (before the split)");
    for (int i = 0; i < k && i < 8; i++) {
        size_t len = strcspn(names, "\n");
        printf("%s %.*s%s%lld", i ? "," : "", (int)len, names, len ? " " : "", (long long)count[i]);
        names += len + (names[len] == '\n');
    }
    if (k > 8) printf(" and %d more", k - 8);
    printf("\n");
}

int train_class_weights(train_opts *o, const ct_dataset *train, const int32_t *train_idx,
                        int64_t n_train, int classes) {
    float w[CT_MAX_CLASSES];
    int n = 0;
    char err[160];
    if (o->class_weight && train_parse_class_weight(o->class_weight, w, &n, err, sizeof err))
        return cli_usage_error("train", "--class-weight %.40s: %s", o->class_weight, err);
    if (n > 0 && n != classes)
        return cli_usage_error("train", "--class-weight: %d weights for %d classes (one per "
                               "class, or balanced)", n, classes);
    if (n < 0) { /* scikit-learn's compute_class_weight("balanced"): over the classes present */
        int64_t count[CT_MAX_CLASSES] = {0};
        const uint8_t *labels = ct_dataset_labels(train);
        int present = 0;
        for (int64_t i = 0; i < n_train; i++) count[labels[train_idx[i]]]++;
        for (int c = 0; c < classes; c++) present += count[c] > 0;
        for (int c = 0; c < classes; c++) /* (a class without images: 0, never used) */
            w[c] = count[c] ? (float)((double)n_train / ((double)present * (double)count[c]))
                            : 0.0f;
        n = classes;
    }
    ct_train_config *c = &o->cfg;
    o->class_weight_balanced = o->class_weight && strcmp(o->class_weight, "balanced") == 0;
    if (!o->resume_dir) {
        c->n_class_weights = n;
        memcpy(c->class_weights, w, (size_t)n * sizeof(float));
        return CLI_EXIT_OK;
    }
    /* a resumed run keeps its weights (the train state's, in o->cfg): a flag must give them */
    if (c->n_class_weights > 0 && c->n_class_weights != classes)
        return cli_error("%s/train_state.safetensors: config: %d class weights for the model's "
                         "%d classes", o->resume_dir, c->n_class_weights, classes);
    if (o->class_weight &&
        (n != c->n_class_weights || memcmp(w, c->class_weights, (size_t)n * sizeof(float)))) {
        char was[64] = "none";
        if (c->n_class_weights > 0)
            snprintf(was, sizeof was, "weights %g,%g%s", (double)c->class_weights[0],
                     (double)c->class_weights[c->n_class_weights > 1],
                     c->n_class_weights > 2 ? ",..." : "");
        return cli_usage_error("train", "--class-weight %.40s: the run in %s was saved with %s, "
                               "and a resumed run keeps the settings that change its results",
                               o->class_weight, o->resume_dir, was);
    }
    return CLI_EXIT_OK;
}

int train_split(train_opts *o, train_run *run, const ct_dataset *train, int32_t **train_idx,
                int32_t **val_idx) {
    const int64_t n_all = ct_dataset_count(train), n_folder = ct_dataset_val_count(train);
    if (n_folder > 0) { /* a folder's val/ (beside test/): the validation images as they are */
        const int64_t n_train = n_all - n_folder;
        if (o->resume_dir && o->val_size != 0 && o->val_size != n_folder)
            return cli_error("%s: the run holds out %lld validation images, but %s/val has %lld",
                             o->resume_dir, (long long)o->val_size, o->data_dir,
                             (long long)n_folder);
        if (o->val_size_text && (o->val_fraction > 0.0 || (!o->resume_dir && o->val_size != 0)))
            return cli_usage_error("train", "--val-size %s: %s has a val folder beside test, "
                                   "whose %lld images are the validation set (--val-size 0: "
                                   "none)", o->val_size_text, o->data_dir, (long long)n_folder);
        if (!o->resume_dir && !o->val_size_text) o->val_size = n_folder;
        run->n_val = o->val_size;
        run->n_train = n_train;
        *train_idx = malloc((size_t)n_train * sizeof(int32_t));
        *val_idx = malloc((size_t)(n_folder > 0 ? n_folder : 1) * sizeof(int32_t));
        if (!*train_idx || !*val_idx) return cli_error("out of memory (%lld indices)", (long long)n_all);
        for (int64_t i = 0; i < n_train; i++) (*train_idx)[i] = (int32_t)i;
        for (int64_t i = 0; i < n_folder; i++) (*val_idx)[i] = (int32_t)(n_train + i);
        return CLI_EXIT_OK;
    }
    if (o->val_fraction > 0.0) { /* --val-size F: of this training set */
        int64_t n = train_val_count(o->val_fraction, n_all);
        if (n == 0) /* (not "none": what watches val_loss was allowed, as for a count) */
            return cli_usage_error("train", "--val-size %s: 0 of the %lld training images (a "
                                   "fraction too small to hold out one; 0 means none)",
                                   o->val_size_text, (long long)n_all);
        if (o->resume_dir && n != o->val_size)
            return cli_usage_error("train", "--val-size %s: %lld of the %lld training images, "
                                   "but the run in %s holds out %lld, and a resumed run keeps "
                                   "the settings that change its results", o->val_size_text,
                                   (long long)n, (long long)n_all, o->resume_dir,
                                   (long long)o->val_size);
        o->val_size = n;
    }
    if (o->val_size >= n_all && o->resume_dir) /* the saved run's split, not a flag's */
        return cli_error("%s: the run holds out %lld validation images, but this training set "
                         "has only %lld images", o->resume_dir, (long long)o->val_size,
                         (long long)n_all);
    if (o->val_size >= n_all) {
        char frac[96] = "";
        if (o->val_fraction > 0.0) snprintf(frac, sizeof frac, "%s (", o->val_size_text);
        return cli_usage_error("train", "--val-size: %s%lld%s leaves no training images (the "
                               "training set has %lld)", frac, (long long)o->val_size,
                               *frac ? ")" : "", (long long)n_all);
    }
    run->n_val = o->val_size;
    run->n_train = n_all - o->val_size;
    ct_status s = ct_split_indices(n_all, run->n_val, o->seed, train_idx, val_idx);
    return s == CT_OK ? CLI_EXIT_OK : cli_lib_error(s);
}
