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
        if (cli_load_dataset(o->dataset, o->data_dir, "train", shape, train, folder_names) != 0)
            return CLI_EXIT_ERROR; /* message printed (or held) */
        /* a folder's test images: the training set's channels, found once (not by reading
         * every training image's header again) */
        const int test_shape[3] = {ct_dataset_channels(*train), o->image_h, o->image_w};
        if (cli_load_dataset(o->dataset, o->data_dir, "test", test_shape, test, NULL) != 0)
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
    for (int64_t i = 0; i < ct_dataset_count(train); i++) count[labels[i]]++;
    const char *names = o->class_names_text ? o->class_names_text : "";
    printf("Classes: %d, training images each (before the split):", k);
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
    if (!o->resume_dir) {
        c->n_class_weights = n;
        memcpy(c->class_weights, w, (size_t)n * sizeof(float));
        o->class_weight_balanced = o->class_weight && strcmp(o->class_weight, "balanced") == 0;
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
    o->class_weight_balanced = o->class_weight && strcmp(o->class_weight, "balanced") == 0;
    return CLI_EXIT_OK;
}
