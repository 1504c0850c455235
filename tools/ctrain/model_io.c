/*
 * model_io.c — what eval, predict and show share: finding a saved model (a checkpoint folder or
 * a .safetensors file), building it on a device, and loading a dataset's part (fetched first
 * when missing, as `ctrain train` does).
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_model_file(const char *arg, char *out, size_t bytes) {
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(out, bytes, "%s/model.safetensors", arg);
    else
        snprintf(out, bytes, "%s", arg);
}

int cli_open_checkpoint(const char *arg, cli_model *out) {
    memset(out, 0, sizeof *out);
    cli_model_file(arg, out->path, sizeof out->path);
    ct_status s = ct_checkpoint_open(out->path, &out->ck);
    return s == CT_OK ? CLI_EXIT_OK : cli_lib_error(s);
}

int cli_build_model(cli_model *cm, const char *device, int threads, const char *spec, int in_c,
                    int in_h, int in_w, int max_batch) {
    ct_status s = ct_backend_create(device, threads, &cm->b);
    if (s == CT_OK)
        s = ct_checkpoint_create_model(cm->ck, cm->b, spec, in_c, in_h, in_w, max_batch, &cm->m);
    if (s != CT_OK) {
        cli_close_model(cm);
        return cli_lib_error(s);
    }
    return CLI_EXIT_OK;
}

int cli_open_model(const char *arg, const char *device, int threads, const char *spec, int in_c,
                   int in_h, int in_w, int max_batch, cli_model *out) {
    int rc = cli_open_checkpoint(arg, out);
    if (rc == CLI_EXIT_OK) rc = cli_build_model(out, device, threads, spec, in_c, in_h, in_w, max_batch);
    return rc;
}

void cli_close_model(cli_model *cm) {
    ct_model_free(cm->m);
    ct_checkpoint_free(cm->ck);
    ct_backend_free(cm->b);
    cm->m = NULL;
    cm->ck = NULL;
    cm->b = NULL;
}

/* The 10 class names of a dataset that has them (fashion-mnist's and cifar10's, as
 * torchvision's .classes), or NULL (the digits, idx). */
static const char *const *dataset_class_names(const char *dataset) {
    static const char *const fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                            "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                            "Ankle boot"};
    static const char *const cifar[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                          "dog", "frog", "horse", "ship", "truck"};
    if (!dataset) return NULL;
    if (!strcmp(dataset, "fashion-mnist")) return fashion;
    if (!strcmp(dataset, "cifar10")) return cifar;
    return NULL;
}

/* Splits text (modified) into lines: at most max of them into name[], returns how many there
 * are (-1: a line empty, too long or with a control character). */
static int split_names(char *text, const char **name, int max) {
    int n = 0;
    for (char *line = text; line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        size_t len = strlen(line);
        if (len == 0 || len > CLI_MAX_CLASS_NAME) return -1;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) return -1;
        if (n < max) name[n] = line;
        n++;
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

int cli_model_class_names(const ct_checkpoint *ck, const char *dataset, int classes,
                          const char *cmd, const char *file, cli_names *names) {
    memset(names, 0, sizeof *names);
    if (file) {
        int rc = cli_read_class_names(cmd, "class-names", file, classes, &names->buf);
        if (rc != CLI_EXIT_OK) return rc;
        names->n = split_names(names->buf, names->name, 256);
        return CLI_EXIT_OK;
    }
    const char *meta = ck ? ct_checkpoint_meta(ck, "class_names") : NULL;
    if (!meta) {
        const char *const *known = classes == 10 ? dataset_class_names(dataset) : NULL;
        for (int i = 0; known && i < 10; i++) names->name[i] = known[i];
        names->n = known ? 10 : 0;
        return CLI_EXIT_OK;
    }
    if (!(names->buf = strdup(meta))) return cli_error("out of memory (class names)");
    int n = split_names(names->buf, names->name, 256);
    if (n != classes) {
        cli_names_free(names);
        return cli_error("%s: metadata \"class_names\" does not hold %d names of 1 to %d "
                         "printable bytes, one a line", ct_checkpoint_path(ck), classes,
                         CLI_MAX_CLASS_NAME);
    }
    names->n = n;
    return CLI_EXIT_OK;
}

int cli_check_class_names(const char *data_dir, const char *names) {
    for (const char *k = names; k && *k;) { /* as the model keeps them */
        size_t len = strcspn(k, "\n");
        if (len > CLI_MAX_CLASS_NAME)
            return cli_error("%s/train/%.*s: a class folder's name longer than %d bytes "
                             "(ctrain keeps class names of 1 to %d)", data_dir, (int)len, k,
                             CLI_MAX_CLASS_NAME, CLI_MAX_CLASS_NAME);
        k += len + (k[len] == '\n');
    }
    return CLI_EXIT_OK;
}

void cli_names_take(cli_names *names, char *text, int classes) {
    if (!text || names->n > 0 || names->buf) {
        free(text);
        return;
    }
    names->buf = text;
    names->n = split_names(text, names->name, 256);
    if (names->n != classes) cli_names_free(names);
}

void cli_names_free(cli_names *names) {
    free(names->buf);
    memset(names, 0, sizeof *names);
}

int cli_read_class_names(const char *cmd, const char *flag, const char *path, int classes,
                         char **text) {
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cli_error("--%s %s: cannot open: %s", flag, path, strerror(errno));
    /* the names with their line ends, and room for blank lines and spaces around them */
    const size_t cap = (size_t)classes * (CLI_MAX_CLASS_NAME + 8) + 65536;
    char *raw = malloc(cap + 1), *buf = malloc(cap + 1);
    if (!raw || !buf) {
        fclose(f);
        free(raw);
        free(buf);
        return cli_error("out of memory (--%s)", flag);
    }
    size_t len = fread(raw, 1, cap + 1, f);
    int read_error = ferror(f);
    fclose(f);
    int rc = CLI_EXIT_OK;
    if (read_error)
        rc = cli_error("--%s %s: cannot read: %s", flag, path, strerror(errno));
    else if (len > cap)
        rc = cli_usage_error(cmd, "--%s %s: longer than %zu bytes: not a list of %d class names",
                             flag, path, cap, classes);
    else if (memchr(raw, 0, len))
        rc = cli_usage_error(cmd, "--%s %s: holds a NUL byte: not a text file of class names",
                             flag, path);
    if (rc != CLI_EXIT_OK) {
        free(raw);
        free(buf);
        return rc;
    }
    /* each line without its CR and the spaces and tabs around it; a UTF-8 BOM (Notepad's) and
     * the blank lines at the end dropped */
    size_t i = len >= 3 && !memcmp(raw, "\xef\xbb\xbf", 3) ? 3 : 0, out = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && raw[j] != '\n') j++;
        size_t a = i, b = j;
        while (b > a && (raw[b - 1] == '\r' || raw[b - 1] == ' ' || raw[b - 1] == '\t')) b--;
        while (a < b && (raw[a] == ' ' || raw[a] == '\t')) a++;
        memcpy(buf + out, raw + a, b - a);
        out += b - a;
        buf[out++] = '\n';
        i = j + 1;
    }
    while (out > 0 && buf[out - 1] == '\n') out--;
    buf[out] = 0;
    free(raw);
    if (out == 0) {
        free(buf);
        return cli_usage_error(cmd, "--%s %s: holds no class names (one a line)", flag, path);
    }
    char *copy = strdup(buf);
    const char *name[256];
    int n = copy ? split_names(copy, name, 256) : -2;
    free(copy);
    if (n != classes) {
        free(buf);
        if (n == -2) return cli_error("out of memory (--%s)", flag);
        if (n < 0)
            return cli_usage_error(cmd, "--%s %s: a line is empty, longer than %d bytes or "
                                   "holds a control character (one class name a line)", flag,
                                   path, CLI_MAX_CLASS_NAME);
        return cli_usage_error(cmd, "--%s %s: holds %d class names, one a line, but there "
                               "are %d classes", flag, path, n, classes);
    }
    *text = buf;
    return CLI_EXIT_OK;
}

int cli_known_dataset(const char *name) {
    for (const char *k = CLI_DATASETS; *k;) { /* one of the '|'-separated names */
        size_t len = strcspn(k, "|");
        if (strlen(name) == len && strncmp(k, name, len) == 0) return 1;
        k += len + (k[len] == '|');
    }
    return 0;
}

const char *cli_dataset_of(const cli_model *cm, const char *given, int seen) {
    const char *saved = cm->ck ? ct_checkpoint_meta(cm->ck, "dataset") : NULL;
    return !seen && saved && cli_known_dataset(saved) ? saved : given;
}

const int *cli_model_image_shape(const cli_model *cm, int shape[3]) {
    if (!cm->ck || ct_checkpoint_input_shape(cm->ck, &shape[0], &shape[1], &shape[2]) != CT_OK)
        return NULL;
    return shape;
}

int cli_model_val_resize(const cli_model *cm, int *resize) {
    *resize = 0;
    const char *v = cm->ck ? ct_checkpoint_meta(cm->ck, "val_resize") : NULL;
    if (!v) return CLI_EXIT_OK;
    char *end;
    errno = 0;
    long r = strtol(v, &end, 10);
    if (!isdigit((unsigned char)*v) || *end || errno || r > CT_FOLDER_MAX_RESIZE)
        return cli_error("%s: metadata val_resize \"%.40s\" is not a size in 0..%d (0: none)",
                         cm->path, v, CT_FOLDER_MAX_RESIZE);
    *resize = (int)r;
    return CLI_EXIT_OK;
}

int cli_dataset_from_files(const char *name) {
    return strcmp(name, "idx") == 0 || strcmp(name, "folder") == 0;
}

int cli_load_dataset(const char *dataset, const char *data_dir, const char *part,
                     const int *shape, int resize, ct_dataset **out, char **names) {
    *out = NULL;
    if (names) *names = NULL;
    ct_status s;
    if (strcmp(dataset, "folder") == 0) {
        if (!data_dir)
            return cli_usage_error(NULL, "--dataset folder: needs --data DIR, the folder "
                                   "holding train/CLASS/IMAGE and test/CLASS/IMAGE (the "
                                   "model's dataset, when --dataset is not given)");
        s = ct_dataset_load_folder(data_dir, part, shape ? shape[0] : 0, shape ? shape[1] : 0,
                                   shape ? shape[2] : 0, resize, 0, out, names); /* (every core) */
        if (s != CT_OK) return cli_lib_error(s);
        return CLI_EXIT_OK;
    }
    if (strcmp(dataset, "fashion-mnist") == 0 || strcmp(dataset, "cifar10") == 0 ||
        strcmp(dataset, "idx") == 0) {
        s = dataset[0] == 'f'   ? ct_dataset_load_fashion_mnist(data_dir, part, out)
            : dataset[0] == 'c' ? ct_dataset_load_cifar10(data_dir, part, out)
                                : ct_dataset_load_idx_dir(data_dir, part, out);
        return s == CT_OK ? CLI_EXIT_OK : cli_lib_error(s);
    }
    if (strcmp(dataset, "mnist") != 0)
        return cli_usage_error(NULL, "--dataset: unknown dataset \"%s\" (available: %s)", dataset,
                               CLI_DATASETS);
    char dir[PATH_MAX];
    if ((s = ct_data_dir(data_dir, dataset, dir, sizeof dir)) != CT_OK) return cli_lib_error(s);
    if (!mnist_files_present(dir)) {
        fprintf(stderr, "MNIST not found in %s: fetching it\n", dir);
        if ((s = ct_data_fetch_mnist(dir, cli_log_line, NULL)) != CT_OK) return cli_lib_error(s);
    }
    if ((s = ct_dataset_load_mnist(dir, part, out)) != CT_OK) return cli_lib_error(s);
    return CLI_EXIT_OK;
}

float *cli_dataset_inputs(const ct_dataset *ds, const int32_t *idx, int64_t first, int64_t n) {
    int64_t row = (int64_t)ct_dataset_channels(ds) * ct_dataset_height(ds) * ct_dataset_width(ds);
    float *x = malloc((size_t)(n * row) * sizeof(float));
    if (!x) {
        cli_error("out of memory (%lld images)", (long long)n);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *px = ct_dataset_images(ds) + (idx ? idx[first + i] : first + i) * row;
        for (int64_t j = 0; j < row; j++) /* (as training) */
            x[i * row + j] = px[j] * (1.0f / 255.0f);
    }
    return x;
}

int cli_check_data(const cli_model *cm, const ct_dataset *ds, const char *dataset,
                   const char *part) {
    int mc, mh, mw, c = ct_dataset_channels(ds), h = ct_dataset_height(ds), w = ct_dataset_width(ds);
    ct_model_input_shape(cm->m, &mc, &mh, &mw);
    if (mc != c || mh != h || mw != w)
        return cli_error("%s: the model takes (%d, %d, %d) images, but %s's %s images are "
                         "(%d, %d, %d)", cm->path, mc, mh, mw, dataset, part, c, h, w);
    int k = ct_model_num_classes(cm->m), classes = ct_dataset_classes(ds);
    if (k >= classes) return CLI_EXIT_OK;
    return cli_error("%s: the model outputs %d classes, but %s's %s images have %d (labels 0..%d)",
                     cm->path, k, dataset, part, classes, classes - 1);
}

const char *cli_model_spec(const char *model, int hidden, int classes, char *buf, size_t bytes) {
    if (strcmp(model, "mlp") == 0) {
        snprintf(buf, bytes, "flatten,linear(%d),relu,linear(%d)", hidden, classes);
        return buf;
    }
    /* the other presets end in linear(10): for other data, linear(classes) (torchvision's
     * num_classes) */
    const char *preset = ct_model_preset(model), *tail = "linear(10)";
    size_t len = preset ? strlen(preset) : 0, tl = strlen(tail);
    if (!preset || classes == 10 || len < tl || strcmp(preset + len - tl, tail) != 0) return model;
    int n = snprintf(buf, bytes, "%.*slinear(%d)", (int)(len - tl), preset, classes);
    return n > 0 && (size_t)n < bytes ? buf : model;
}

/* (cli.h) */
int cli_dataset_shape(const char *dataset, const char *data_dir, int *in_c, int *in_h, int *in_w,
                      int *classes) {
    *in_c = 1, *in_h = 28, *in_w = 28, *classes = 10;
    if (strcmp(dataset, "cifar10") == 0) *in_c = 3, *in_h = 32, *in_w = 32;
    if (!cli_dataset_from_files(dataset)) return CLI_EXIT_OK;
    if (strcmp(dataset, "folder") == 0) { /* from the training images' headers */
        if (!data_dir)
            return cli_usage_error(NULL, "--dataset folder: needs --data DIR, the folder "
                                   "holding train/CLASS/IMAGE and test/CLASS/IMAGE");
        ct_status s = ct_dataset_folder_shape(data_dir, 0, 0, in_c, in_h, in_w, classes);
        return s == CT_OK ? CLI_EXIT_OK : cli_lib_error(s);
    }
    ct_dataset *ds = NULL, *test = NULL; /* its files say, as for ctrain train */
    int rc = cli_load_dataset(dataset, data_dir, "train", NULL, 0, &ds, NULL);
    if (rc == CLI_EXIT_OK) rc = cli_load_dataset(dataset, data_dir, "test", NULL, 0, &test, NULL);
    if (rc == CLI_EXIT_OK) {
        *in_c = ct_dataset_channels(ds), *in_h = ct_dataset_height(ds);
        *in_w = ct_dataset_width(ds), *classes = ct_dataset_classes(ds);
        if (ct_dataset_classes(test) > *classes) *classes = ct_dataset_classes(test);
    }
    ct_dataset_free(ds);
    ct_dataset_free(test);
    return rc;
}
