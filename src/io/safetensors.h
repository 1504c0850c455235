/*
 * safetensors.h — the safetensors format, inside the io module.
 *
 *     [8 bytes: N, little-endian u64][N bytes: JSON header, padded with spaces][data]
 *     header: {"__metadata__": {"key": "value", ...},
 *              "NAME": {"dtype": "F32", "shape": [32, 784], "data_offsets": [BEGIN, END]}, ...}
 * Offsets count from the start of the data; the tensors tile it exactly (no holes, no
 * overlaps); data is little-endian, row-major (C order), as PyTorch stores contiguous tensors.
 *
 * Writing: ct_st_write (atomic, see atomic.h). Reading: ct_checkpoint_open (ctrain/io.h), whose
 * handle this header describes for the rest of the module.
 */
#ifndef CT_IO_SAFETENSORS_H
#define CT_IO_SAFETENSORS_H

#include "core/core.h"
#include "ctrain/io.h"

#define CT_ST_MAX_HEADER_BYTES 100000000u /* as the reference implementation */
#define CT_ST_DTYPE_BYTES 12

typedef struct {
    const char *name;
    const char *dtype;    /* "F32", "I64" */
    int ndim;
    const int64_t *shape; /* (ndim) */
    const void *data;     /* numel * dtype size bytes */
} ct_st_tensor;

/* Writes the tensors (names unique) with the metadata to path, atomically. */
ct_status ct_st_write(const char *path, const ct_st_tensor *t, int n, const ct_meta *meta,
                      int n_meta);

/* Bytes per element of a dtype name, 0 when unknown. */
int ct_st_dtype_size(const char *dtype);

typedef struct {
    char *name;
    char dtype[CT_ST_DTYPE_BYTES];
    int ndim;
    int64_t shape[CT_TENSOR_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;  /* within the data */
} ct_st_entry;

struct ct_checkpoint {
    char *path;
    uint8_t *file;        /* the whole file */
    size_t size;
    const uint8_t *data;  /* file + 8 + N */
    size_t data_bytes;
    ct_st_entry *t;       /* header order */
    int n;
    char **meta_keys, **meta_values;
    int n_meta;
};

/* Index of the tensor called name, -1 when absent. */
int ct_checkpoint_find(const ct_checkpoint *c, const char *name);

#endif /* CT_IO_SAFETENSORS_H */
