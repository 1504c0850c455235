/*
 * data.h — internal interface of the data module: the dataset struct, the IDX reader, SHA-256
 * helpers and the verified install step used by the MNIST fetcher (exposed for the tests).
 */
#ifndef CT_DATA_H
#define CT_DATA_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

/* One dataset: three allocations (this struct, the images, the labels), one free each. */
struct ct_dataset {
    int64_t n;        /* number of samples */
    int c, h, w;      /* image shape: channels, height, width */
    int classes;      /* every label is < classes */
    uint8_t *images;  /* (N, C, H, W), owned */
    uint8_t *labels;  /* (N), owned */
    int64_t n_val;    /* the last n_val samples are a validation set of their own (a folder's
                       * val/); 0: none */
    /* ct_dataset_hashes', computed at its first call (images and labels never change) */
    uint64_t images_hash, labels_hash;
    int hashed;
};

/* Fingerprints (ct_hash64) of ds's images and of its labels, computed once: the ranks of a job
 * compare them at start-up, several times. Call it from one thread at a time. */
void ct_dataset_hashes(const ct_dataset *ds, uint64_t *images, uint64_t *labels);

/* ------------------------------------------------------------------------------------------ */
/* IDX files (idx.c)                                                                           */

enum {
    CT_IDX_MAGIC_LABELS = 0x00000801, /* unsigned byte, 1 dimension:  N */
    CT_IDX_MAGIC_IMAGES = 0x00000803, /* unsigned byte, 3 dimensions: N x H x W */
    CT_IDX_MAX_DIMS = 3,
};

/* The content of one IDX file. */
typedef struct {
    int ndims;                     /* 1 for labels, 3 for images */
    uint32_t dims[CT_IDX_MAX_DIMS]; /* as stored in the header */
    uint8_t *data;                 /* dims[0] * ... * dims[ndims-1] bytes, malloc'ed */
    size_t data_bytes;
} ct_idx;

/* Reads an unsigned-byte IDX file with the given magic (CT_IDX_MAGIC_*), raw or gzip, strictly:
 * missing/empty file, wrong magic, truncated header or data, trailing bytes, zero or
 * overflowing dimensions and corrupt gzip are errors naming path (after a gzip stream, bytes
 * that are not another gzip member are skipped, as gunzip does with a warning; another member
 * is more data, and then trailing bytes). On success the caller frees
 * out->data. Memory grows with the data actually read, never from the header alone. */
ct_status ct_idx_read(const char *path, uint32_t magic, ct_idx *out);

/* Part "train" or "test" of a dataset stored as MNIST is: dir's train-images-idx3-ubyte and
 * train-labels-idx1-ubyte, or t10k-*, each optionally .gz, every label < classes, images of
 * side x side pixels (side 0: any). what names the dataset in errors; hint ends a missing
 * file's message (where to get it). */
ct_status ct_idx_load_part(const char *dir, const char *part, const char *what, int classes,
                           int side, const char *hint, ct_dataset **out);

/* Copies src (raw or gzip, decompressed on the way) to dst, a new file (mode 0644; an error when
 * anything, a link included, is already there), and fsyncs it. On failure dst is removed. */
ct_status ct_gunzip_file(const char *src, const char *dst);

/* ------------------------------------------------------------------------------------------ */
/* SHA-256 and verified install (fetch.c)                                                      */

#define CT_SHA256_HEX_BYTES 65 /* 64 hex digits + NUL */

/* SHA-256 of a file's content as lowercase hex. */
ct_status ct_sha256_file(const char *path, char hex[CT_SHA256_HEX_BYTES]);

/* Checks that tmp_path's SHA-256 is expected_hex; if so fsyncs it, renames it to dir/name and
 * fsyncs dir. If not (or on any error) tmp_path is deleted and CT_ERR_FORMAT names the file,
 * the expected and the actual hash. Nothing is ever left in dir under name unless it matched. */
ct_status ct_install_verified(const char *dir, const char *name, const char *tmp_path,
                              const char *expected_hex);

/* Base URLs tried in order for the MNIST .gz files, unless $CTRAIN_MNIST_MIRRORS (base URLs
 * separated by spaces; "none" = skip the mirrors) says otherwise. */
#define CT_MNIST_MIRRORS                                \
    "https://ossci-datasets.s3.amazonaws.com/mnist/ " \
    "http://yann.lecun.com/exdb/mnist/"

#endif /* CT_DATA_H */
