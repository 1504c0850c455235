/*
 * cifar.c — the CIFAR-10 binary format (https://www.cs.toronto.edu/~kriz/cifar.html, "binary
 * version"): data_batch_1.bin .. data_batch_5.bin (training) and test_batch.bin (test), each a
 * sequence of records of 1 label byte (0..9) followed by 3072 pixel bytes: the red, green and
 * blue 32x32 planes, i.e. one image (3, 32, 32) in row-major order. Nothing else is in a file.
 *
 * Validation is strict: a missing, empty or unreadable file, a size that is not a whole number
 * of records and a label >= 10 are each one error line naming the file (and the record).
 */
#define _GNU_SOURCE
#include "data/data.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CT_CIFAR_CLASSES 10
#define CT_CIFAR_C 3
#define CT_CIFAR_HW 32
#define CT_CIFAR_PIXELS (CT_CIFAR_C * CT_CIFAR_HW * CT_CIFAR_HW) /* 3072 */
#define CT_CIFAR_RECORD (1 + CT_CIFAR_PIXELS)                    /* 3073 bytes */
#define CT_CIFAR_TRAIN_FILES 5
#define CT_CIFAR_SUBDIR "cifar-10-batches-bin" /* the folder inside cifar-10-binary.tar.gz */
#define CT_CIFAR_READ_BYTES (1u << 20)

/* The size of path in bytes, or an error (missing, not a file, empty, not whole records). */
static ct_status cifar_file_records(const char *path, int64_t *records) {
    struct stat st;
    if (stat(path, &st) != 0)
        return ct_fail(CT_ERR_IO, "%s: %s (CIFAR-10 binary version: data_batch_1.bin .. "
                       "data_batch_5.bin, test_batch.bin)", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return ct_fail(CT_ERR_IO, "%s: not a regular file", path);
    if (st.st_size == 0) return ct_fail(CT_ERR_FORMAT, "%s: empty file", path);
    if (st.st_size % CT_CIFAR_RECORD != 0)
        return ct_fail(CT_ERR_FORMAT, "%s: %lld bytes is not a whole number of %d-byte records "
                       "(1 label + 3072 pixels); the file is truncated or not CIFAR-10 binary",
                       path, (long long)st.st_size, CT_CIFAR_RECORD);
    *records = st.st_size / CT_CIFAR_RECORD;
    return CT_OK;
}

/* Reads `records` records of path into images (records, 3072) and labels (records). */
static ct_status cifar_read(const char *path, int64_t records, uint8_t *images, uint8_t *labels) {
    FILE *f = fopen(path, "rb");
    if (!f) return ct_fail(CT_ERR_IO, "%s: %s", path, strerror(errno));
    uint8_t *rec = malloc(CT_CIFAR_RECORD);
    ct_status s = rec ? CT_OK : ct_fail(CT_ERR_NOMEM, "out of memory (CIFAR-10 record)");
    for (int64_t r = 0; s == CT_OK && r < records; r++) {
        size_t got = fread(rec, 1, CT_CIFAR_RECORD, f);
        if (got != CT_CIFAR_RECORD) {
            s = ferror(f) ? ct_fail(CT_ERR_IO, "%s: read error in record %lld: %s", path,
                                    (long long)r, strerror(errno))
                          : ct_fail(CT_ERR_FORMAT, "%s: ends inside record %lld (the file "
                                    "changed while being read?)", path, (long long)r);
            break;
        }
        if (rec[0] >= CT_CIFAR_CLASSES) {
            s = ct_fail(CT_ERR_FORMAT, "%s: record %lld has label %d (expected 0..9); not a "
                        "CIFAR-10 binary file (CIFAR-100 has 2 label bytes)", path, (long long)r,
                        rec[0]);
            break;
        }
        labels[r] = rec[0];
        memcpy(images + r * CT_CIFAR_PIXELS, rec + 1, CT_CIFAR_PIXELS); // (3, 32, 32)
    }
    if (s == CT_OK && fgetc(f) != EOF)
        s = ct_fail(CT_ERR_FORMAT, "%s: bytes after the last record (the file changed while "
                    "being read?)", path);
    free(rec);
    fclose(f);
    return s;
}

ct_status ct_dataset_load_cifar10(const char *dir, const char *part, ct_dataset **out) {
    if (!out) return ct_fail(CT_ERR_INVALID, "ct_dataset_load_cifar10: out is NULL");
    *out = NULL;
    int n_files;
    if (part && !strcmp(part, "train")) n_files = CT_CIFAR_TRAIN_FILES;
    else if (part && !strcmp(part, "test")) n_files = 1;
    else
        return ct_fail(CT_ERR_INVALID, "CIFAR-10 part \"%s\" is unknown (expected train or "
                       "test)", part ? part : "(null)");
    char folder[PATH_MAX], paths[CT_CIFAR_TRAIN_FILES][PATH_MAX + 32];
    if (dir && dir[0]) snprintf(folder, sizeof folder, "%s", dir);
    else CT_TRY(ct_data_dir(NULL, "cifar10", folder, sizeof folder));
    /* the folder of the .bin files, or the one holding the archive's cifar-10-batches-bin */
    char probe[PATH_MAX + 64];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/" CT_CIFAR_SUBDIR, folder);
    int sub = stat(probe, &st) == 0 && S_ISDIR(st.st_mode);
    int64_t counts[CT_CIFAR_TRAIN_FILES], total = 0;
    for (int i = 0; i < n_files; i++) {
        const char *sep = sub ? "/" CT_CIFAR_SUBDIR "/" : "/";
        if (n_files == 1) snprintf(paths[i], sizeof paths[i], "%s%stest_batch.bin", folder, sep);
        else snprintf(paths[i], sizeof paths[i], "%s%sdata_batch_%d.bin", folder, sep, i + 1);
        CT_TRY(cifar_file_records(paths[i], &counts[i]));
        total += counts[i];
    }
    if (total > INT32_MAX)
        return ct_fail(CT_ERR_FORMAT, "CIFAR-10 %s: %lld images is more than ctrain supports",
                       part, (long long)total);
    size_t image_bytes;
    if (!ct_mul_size((size_t)total, CT_CIFAR_PIXELS, &image_bytes))
        return ct_fail(CT_ERR_FORMAT, "CIFAR-10 %s: size overflows", part);
    ct_dataset *ds = ct_calloc(1, sizeof *ds, "dataset");
    if (!ds) return CT_ERR_NOMEM;
    ds->images = ct_malloc(image_bytes, "CIFAR-10 images");
    ds->labels = ds->images ? ct_malloc((size_t)total, "CIFAR-10 labels") : NULL;
    if (!ds->labels) {
        ct_dataset_free(ds);
        return CT_ERR_NOMEM;
    }
    int64_t at = 0;
    for (int i = 0; i < n_files; i++) {
        ct_status s = cifar_read(paths[i], counts[i], ds->images + at * CT_CIFAR_PIXELS,
                                 ds->labels + at);
        if (s != CT_OK) {
            ct_dataset_free(ds);
            return s;
        }
        at += counts[i];
    }
    ds->n = total;
    ds->c = CT_CIFAR_C;
    ds->h = ds->w = CT_CIFAR_HW;
    ds->classes = CT_CIFAR_CLASSES;
    *out = ds;
    return CT_OK;
}
