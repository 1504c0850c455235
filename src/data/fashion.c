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

#define CT_FASHION_SYSTEM_DIR "/usr/share/datasets/fashion-mnist"

ct_status ct_dataset_load_fashion_mnist(const char *dir, const char *part, ct_dataset **out) {
    char folder[PATH_MAX], name[PATH_MAX];
    if (dir && dir[0]) {
        snprintf(folder, sizeof folder, "%s", dir);
    } else { /* the Debian package's folder, else ~/.cache/ctrain/fashion-mnist */
        snprintf(name, sizeof name, CT_FASHION_SYSTEM_DIR "/%s-images-idx3-ubyte.gz",
                 part && !strcmp(part, "test") ? "t10k" : "train");
        if (ct_path_present(name)) snprintf(folder, sizeof folder, "%s", CT_FASHION_SYSTEM_DIR);
        else CT_TRY(ct_data_dir(NULL, "fashion-mnist", folder, sizeof folder));
    }
    return ct_idx_load_part(folder, part, "Fashion-MNIST", 10, 28,
                            "install Debian's dataset-fashion-mnist package (files in "
                            CT_FASHION_SYSTEM_DIR ") or give the folder of the four IDX files",
                            out);
}
