/*
 * dataset.c — datasets in host memory: loading IDX image/label pairs (MNIST and generic),
 * creating one from memory, the accessors, the seeded train/validation split and the data
 * folder lookup.
 */
#define _GNU_SOURCE
#include "data/data.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_MAX_CLASSES 256 /* labels are uint8 */

/* ------------------------------------------------------------------------------------------ */
/* creating and freeing                                                                        */

/* Finds the first label >= classes; returns -1 when all are valid. */
static int64_t first_bad_label(const uint8_t *labels, int64_t n, int classes) {
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= classes) return i;
    return -1;
}

static ct_status check_classes(int classes) {
    if (classes < 1 || classes > CT_MAX_CLASSES)
        return ct_fail(CT_ERR_INVALID, "number of classes %d is out of range (1..%d)", classes,
                       CT_MAX_CLASSES);
    return CT_OK;
}

void ct_dataset_free(ct_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    free(ds);
}

void ct_dataset_hashes(const ct_dataset *ds, uint64_t *images, uint64_t *labels) {
    if (!ds->hashed) {
        ct_dataset *cache = (ct_dataset *)ds; /* the fingerprints only; the data stays as it is */
        size_t n_pixels = (size_t)ds->n * (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
        cache->images_hash = ct_hash64(ds->images, n_pixels, 0);
        cache->labels_hash = ct_hash64(ds->labels, (size_t)ds->n, 0);
        cache->hashed = 1;
    }
    *images = ds->images_hash;
    *labels = ds->labels_hash;
}

int64_t ct_dataset_val_count(const ct_dataset *ds) { return ds->n_val; }

uint64_t ct_dataset_fingerprint(const ct_dataset *ds) {
    uint64_t images, labels;
    ct_dataset_hashes(ds, &images, &labels);
    const int64_t shape[5] = {ds->n, ds->c, ds->h, ds->w, ds->classes};
    return ct_hash64(shape, sizeof shape, images ^ (labels * 0x9e3779b97f4a7c15ULL));
}

ct_status ct_dataset_create(int64_t n, int c, int h, int w, int classes, const uint8_t *images,
                            const uint8_t *labels, ct_dataset **out) {
    if (!out) return ct_fail(CT_ERR_INVALID, "ct_dataset_create: out is NULL");
    *out = NULL;
    if (!images || !labels)
        return ct_fail(CT_ERR_INVALID, "ct_dataset_create: images or labels is NULL");
    if (n < 1 || n > INT32_MAX || c < 1 || h < 1 || w < 1)
        return ct_fail(CT_ERR_INVALID,
                       "ct_dataset_create: bad shape (%lld, %d, %d, %d): every size must be >= 1 "
                       "and the count <= %d",
                       (long long)n, c, h, w, INT32_MAX);
    CT_TRY(check_classes(classes));
    size_t image_bytes = 0;
    if (!ct_mul_size((size_t)n, (size_t)c, &image_bytes) ||
        !ct_mul_size(image_bytes, (size_t)h, &image_bytes) ||
        !ct_mul_size(image_bytes, (size_t)w, &image_bytes))
        return ct_fail(CT_ERR_INVALID, "ct_dataset_create: shape (%lld, %d, %d, %d) overflows",
                       (long long)n, c, h, w);
    int64_t bad = first_bad_label(labels, n, classes);
    if (bad >= 0)
        return ct_fail(CT_ERR_INVALID,
                       "ct_dataset_create: label %lld is %d but there are only %d classes",
                       (long long)bad, labels[bad], classes);

    ct_dataset *ds = ct_calloc(1, sizeof *ds, "dataset");
    if (!ds) return CT_ERR_NOMEM;
    ds->images = ct_malloc(image_bytes, "dataset images");
    ds->labels = ds->images ? ct_malloc((size_t)n, "dataset labels") : NULL;
    if (!ds->labels) {
        ct_dataset_free(ds);
        return CT_ERR_NOMEM;
    }
    memcpy(ds->images, images, image_bytes);
    memcpy(ds->labels, labels, (size_t)n);
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->classes = classes;
    *out = ds;
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* loading IDX pairs                                                                           */

ct_status ct_dataset_load_idx(const char *images_path, const char *labels_path, int num_classes,
                              ct_dataset **out) {
    if (!out) return ct_fail(CT_ERR_INVALID, "ct_dataset_load_idx: out is NULL");
    *out = NULL;
    if (!images_path || !labels_path)
        return ct_fail(CT_ERR_INVALID, "ct_dataset_load_idx: a path is NULL");
    CT_TRY(check_classes(num_classes));

    ct_idx img = {0}, lab = {0};
    ct_status s = ct_idx_read(images_path, CT_IDX_MAGIC_IMAGES, &img);
    if (s != CT_OK) return s;
    s = ct_idx_read(labels_path, CT_IDX_MAGIC_LABELS, &lab);
    if (s != CT_OK) goto fail;

    if (img.dims[0] != lab.dims[0]) {
        s = ct_fail(CT_ERR_FORMAT, "%s holds %u images but %s holds %u labels", images_path,
                    img.dims[0], labels_path, lab.dims[0]);
        goto fail;
    }
    if (img.dims[0] > INT32_MAX || img.dims[1] > INT_MAX || img.dims[2] > INT_MAX) {
        s = ct_fail(CT_ERR_FORMAT, "%s: %u images of %ux%u is more than ctrain supports",
                    images_path, img.dims[0], img.dims[1], img.dims[2]);
        goto fail;
    }
    int64_t n = img.dims[0];
    int64_t bad = first_bad_label(lab.data, n, num_classes);
    if (bad >= 0) {
        s = ct_fail(CT_ERR_FORMAT, "%s: label %lld is %d but there are only %d classes (0..%d)",
                    labels_path, (long long)bad, lab.data[bad], num_classes, num_classes - 1);
        goto fail;
    }

    ct_dataset *ds = ct_calloc(1, sizeof *ds, "dataset");
    if (!ds) {
        s = CT_ERR_NOMEM;
        goto fail;
    }
    ds->n = n;
    ds->c = 1;
    ds->h = (int)img.dims[1];
    ds->w = (int)img.dims[2];
    ds->classes = num_classes;
    ds->images = img.data; /* (N, 1, H, W) */
    ds->labels = lab.data; /* (N) */
    *out = ds;
    return CT_OK;
fail:
    free(img.data);
    free(lab.data);
    return s;
}

/* dir/name if it exists, else dir/name.gz if that exists, else an error ending in hint. */
static ct_status find_file(const char *dir, const char *name, char *path, size_t bytes,
                           const char *hint) {
    int len = snprintf(path, bytes, "%s/%s", dir, name);
    if (len < 0 || (size_t)len + 3 >= bytes)
        return ct_fail(CT_ERR_INVALID, "%s/%s: path too long", dir, name);
    if (ct_path_present(path)) return CT_OK;
    strcat(path, ".gz");
    if (ct_path_present(path)) return CT_OK;
    return ct_fail(CT_ERR_IO, "%s/%s: file not found (nor %s.gz); %s", dir, name, name, hint);
}

ct_status ct_idx_load_part(const char *dir, const char *part, const char *what, int classes,
                           int side, const char *hint, ct_dataset **out) {
    if (!out) return ct_fail(CT_ERR_INVALID, "loading %s: out is NULL", what);
    *out = NULL;
    const char *prefix;
    if (part && strcmp(part, "train") == 0) prefix = "train";
    else if (part && strcmp(part, "test") == 0) prefix = "t10k";
    else
        return ct_fail(CT_ERR_INVALID, "%s part \"%s\" is unknown (expected train or test)", what,
                       part ? part : "(null)");
    char name[64], images[PATH_MAX], labels[PATH_MAX];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    CT_TRY(find_file(dir, name, images, sizeof images, hint));
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    CT_TRY(find_file(dir, name, labels, sizeof labels, hint));
    CT_TRY(ct_dataset_load_idx(images, labels, classes, out));
    if (side && ((*out)->h != side || (*out)->w != side)) {
        ct_status s = ct_fail(CT_ERR_FORMAT, "%s: images of %dx%d pixels, not %s's %dx%d (other "
                              "IDX data loads as the idx dataset)", images, (*out)->h,
                              (*out)->w, what, side, side);
        ct_dataset_free(*out);
        *out = NULL;
        return s;
    }
    return CT_OK;
}

ct_status ct_dataset_load_idx_dir(const char *dir, const char *part, ct_dataset **out) {
    char default_dir[PATH_MAX];
    if (!dir) {
        CT_TRY(ct_data_dir(NULL, "idx", default_dir, sizeof default_dir));
        dir = default_dir;
    }
    CT_TRY(ct_idx_load_part(dir, part, "IDX dataset", CT_MAX_CLASSES, 0,
                            "the idx dataset is a folder of train-images-idx3-ubyte, "
                            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                            "t10k-labels-idx1-ubyte (each may be .gz), given with --data DIR",
                            out));
    int top = 0; /* the classes are the labels seen: 0 .. the largest */
    for (int64_t i = 0; i < (*out)->n; i++)
        if ((*out)->labels[i] > top) top = (*out)->labels[i];
    (*out)->classes = top + 1;
    return CT_OK;
}

ct_status ct_dataset_load_mnist(const char *dir, const char *part, ct_dataset **out) {
    char default_dir[PATH_MAX];
    if (!dir) {
        CT_TRY(ct_data_dir(NULL, "mnist", default_dir, sizeof default_dir));
        dir = default_dir;
    }
    return ct_idx_load_part(dir, part, "MNIST", 10, 28,
                            "fetch MNIST with `ctrain data fetch mnist`", out);
}

/* ------------------------------------------------------------------------------------------ */
/* accessors                                                                                   */

int64_t ct_dataset_count(const ct_dataset *ds) { return ds ? ds->n : 0; }
int ct_dataset_channels(const ct_dataset *ds) { return ds ? ds->c : 0; }
int ct_dataset_height(const ct_dataset *ds) { return ds ? ds->h : 0; }
int ct_dataset_width(const ct_dataset *ds) { return ds ? ds->w : 0; }
int ct_dataset_classes(const ct_dataset *ds) { return ds ? ds->classes : 0; }
const uint8_t *ct_dataset_images(const ct_dataset *ds) { return ds ? ds->images : NULL; }
const uint8_t *ct_dataset_labels(const ct_dataset *ds) { return ds ? ds->labels : NULL; }

/* ------------------------------------------------------------------------------------------ */
/* split                                                                                       */

ct_status ct_split_indices(int64_t n, int64_t val_size, uint64_t seed, int32_t **train_idx,
                           int32_t **val_idx) {
    if (!train_idx || !val_idx)
        return ct_fail(CT_ERR_INVALID, "ct_split_indices: output pointer is NULL");
    *train_idx = NULL;
    *val_idx = NULL;
    if (n < 1 || n > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "cannot split %lld samples (need 1..%d)", (long long)n,
                       INT32_MAX);
    if (val_size < 0 || val_size >= n)
        return ct_fail(CT_ERR_INVALID,
                       "validation size %lld is out of range: it must be between 0 and %lld for "
                       "%lld samples",
                       (long long)val_size, (long long)(n - 1), (long long)n);

    /* A random permutation of [0, n), like torch.randperm; train takes the first part. */
    int32_t *perm = ct_malloc((size_t)n * sizeof *perm, "split permutation");
    if (!perm) return CT_ERR_NOMEM;
    int32_t *val = val_size ? ct_malloc((size_t)val_size * sizeof *val, "validation indices")
                            : NULL;
    if (val_size && !val) {
        free(perm);
        return CT_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    ct_rng rng;
    ct_rng_init(&rng, seed, CT_STREAM_SPLIT);
    ct_rng_shuffle_i32(&rng, perm, n);

    int64_t n_train = n - val_size;
    if (val) memcpy(val, perm + n_train, (size_t)val_size * sizeof *val);
    int32_t *train = realloc(perm, (size_t)n_train * sizeof *train); /* shrink: cannot fail */
    *train_idx = train ? train : perm;
    *val_idx = val;
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* data folder                                                                                 */

ct_status ct_data_dir(const char *dir, const char *dataset, char *out, size_t out_bytes) {
    if (!out || out_bytes == 0) return ct_fail(CT_ERR_INVALID, "ct_data_dir: no output buffer");
    out[0] = 0;
    if (!dataset || !dataset[0] || strchr(dataset, '/'))
        return ct_fail(CT_ERR_INVALID, "dataset name \"%s\" is not valid",
                       dataset ? dataset : "(null)");
    int len;
    const char *env = strcmp(dataset, "mnist") == 0 ? getenv("CTRAIN_DATA") : NULL; /* MNIST's */
    const char *home = getenv("HOME");
    if (dir && dir[0])
        len = snprintf(out, out_bytes, "%s", dir);
    else if (env && env[0])
        len = snprintf(out, out_bytes, "%s", env);
    else if (home && home[0])
        len = snprintf(out, out_bytes, "%s/.cache/ctrain/%s", home, dataset);
    else
        return ct_fail(CT_ERR_INVALID,
                       "no data folder for %s: HOME is not set; give a folder or set "
                       "CTRAIN_DATA",
                       dataset);
    if (len < 0 || (size_t)len >= out_bytes) {
        out[0] = 0;
        return ct_fail(CT_ERR_INVALID,
                       "data folder path for %s is too long (%d bytes, room for %zu)", dataset,
                       len, out_bytes - 1);
    }
    return CT_OK;
}
