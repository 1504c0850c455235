/*
 * fashion.c — Fashion-MNIST (Zalando): 28x28 grey images of 10 kinds of clothing, in the same
 * IDX files as MNIST (train-images-idx3-ubyte, ..., raw or .gz). Debian's dataset-fashion-mnist
 * package installs them under /usr/share/datasets/fashion-mnist.
 */
#define _GNU_SOURCE
#include "data/data.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CT_FASHION_SYSTEM_DIR "/usr/share/datasets/fashion-mnist"

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* dir/name or dir/name.gz into path, else an error naming both and where to get them. */
static ct_status find_idx(const char *dir, const char *name, char *path, size_t bytes) {
    int len = snprintf(path, bytes, "%s/%s", dir, name);
    if (len < 0 || (size_t)len + 3 >= bytes)
        return ct_fail(CT_ERR_INVALID, "%s/%s: path too long", dir, name);
    if (exists(path)) return CT_OK;
    strcat(path, ".gz");
    if (exists(path)) return CT_OK;
    return ct_fail(CT_ERR_IO, "%s/%s: file not found (nor %s.gz); install Debian's "
                   "dataset-fashion-mnist package (files in " CT_FASHION_SYSTEM_DIR ") or give "
                   "the folder of the four IDX files", dir, name, name);
}

ct_status ct_dataset_load_fashion_mnist(const char *dir, const char *part, ct_dataset **out) {
    if (!out) return ct_fail(CT_ERR_INVALID, "ct_dataset_load_fashion_mnist: out is NULL");
    *out = NULL;
    const char *prefix;
    if (part && !strcmp(part, "train")) prefix = "train";
    else if (part && !strcmp(part, "test")) prefix = "t10k";
    else
        return ct_fail(CT_ERR_INVALID, "Fashion-MNIST part \"%s\" is unknown (expected train "
                       "or test)", part ? part : "(null)");
    char folder[PATH_MAX], name[64], images[PATH_MAX], labels[PATH_MAX];
    if (dir && dir[0]) {
        snprintf(folder, sizeof folder, "%s", dir);
    } else { /* the Debian package's folder, else ~/.cache/ctrain/fashion-mnist */
        snprintf(name, sizeof name, CT_FASHION_SYSTEM_DIR "/%s-images-idx3-ubyte.gz", prefix);
        if (exists(name)) snprintf(folder, sizeof folder, "%s", CT_FASHION_SYSTEM_DIR);
        else CT_TRY(ct_data_dir(NULL, "fashion-mnist", folder, sizeof folder));
    }
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    CT_TRY(find_idx(folder, name, images, sizeof images));
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    CT_TRY(find_idx(folder, name, labels, sizeof labels));
    return ct_dataset_load_idx(images, labels, 10, out);
}
