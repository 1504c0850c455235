/*
 * safetensors.c — writing and strictly reading safetensors files (see safetensors.h).
 *
 * The reader takes nothing on trust: the header length must fit the file, the header must be a
 * JSON object (parsed by jansson) whose entries have a known dtype, a shape of non-negative
 * integers and two data_offsets that lie inside the data, match the shape's size, and tile the
 * data without overlaps or holes. Every problem is one CT_ERR_FORMAT line naming the file.
 */
#define _GNU_SOURCE /* qsort_r */
#include "io/safetensors.h"

#include "io/atomic.h"
#include "io/json_out.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

static const struct { const char *name; int bytes; } k_dtypes[] = {
    {"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
    {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},    {"BOOL", 1},
    {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

int ct_st_dtype_size(const char *dtype) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (!strcmp(dtype, k_dtypes[i].name)) return k_dtypes[i].bytes;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* writing                                                                                     */

static ct_status tensor_bytes(const ct_st_tensor *t, const char *path, uint64_t *out) {
    int es = ct_st_dtype_size(t->dtype);
    if (!es) return ct_fail(CT_ERR_INVALID, "%s: tensor %s: unknown dtype %s", path, t->name, t->dtype);
    if (t->ndim < 0 || t->ndim > CT_TENSOR_MAX_DIMS)
        return ct_fail(CT_ERR_INVALID, "%s: tensor %s: %d dimensions", path, t->name, t->ndim);
    size_t n = (size_t)es;
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0 || !ct_mul_size(n, (size_t)t->shape[d], &n))
            return ct_fail(CT_ERR_INVALID, "%s: tensor %s: bad shape", path, t->name);
    *out = n;
    return CT_OK;
}

ct_status ct_st_write(const char *path, const ct_st_tensor *t, int n, const ct_meta *meta,
                      int n_meta) {
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !*t[i].name || !strcmp(t[i].name, "__metadata__"))
            return ct_fail(CT_ERR_INVALID, "%s: tensor %d has no usable name", path, i);
        for (int k = 0; k < i; k++)
            if (!strcmp(t[i].name, t[k].name))
                return ct_fail(CT_ERR_INVALID, "%s: two tensors named %s", path, t[i].name);
    }
    /* metadata a reader can read back: named, each name once (a caller's extra entry that
     * repeats a built-in one, "format" say, made a file no reader accepts) */
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !*meta[i].key || !meta[i].value)
            return ct_fail(CT_ERR_INVALID, "%s: metadata entry %d has no %s", path, i,
                           meta[i].key && *meta[i].key ? "value" : "name");
        for (int k = 0; k < i; k++)
            if (!strcmp(meta[i].key, meta[k].key))
                return ct_fail(CT_ERR_INVALID, "%s: metadata \"%s\" given twice (ctrain writes "
                               "some names itself)", path, meta[i].key);
    }
    /* the header */
    ct_jsonw j;
    ct_jw_init(&j);
    ct_jw_raw(&j, "{", 1);
    int first = 1;
    if (n_meta > 0) {
        ct_jw_key(&j, 1, "__metadata__");
        ct_jw_raw(&j, "{", 1);
        for (int i = 0; i < n_meta; i++) {
            ct_jw_key(&j, i == 0, meta[i].key);
            ct_jw_string(&j, meta[i].value);
        }
        ct_jw_raw(&j, "}", 1);
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t bytes;
        ct_status s = tensor_bytes(&t[i], path, &bytes);
        if (s) {
            ct_jw_free(&j);
            return s;
        }
        ct_jw_key(&j, first, t[i].name);
        first = 0;
        ct_jw_printf(&j, "{\"dtype\": \"%s\", \"shape\": [", t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            ct_jw_printf(&j, "%s%lld", d ? ", " : "", (long long)t[i].shape[d]);
        ct_jw_printf(&j, "], \"data_offsets\": [%llu, %llu]}", (unsigned long long)off,
                     (unsigned long long)(off + bytes));
        off += bytes;
    }
    ct_jw_raw(&j, "}", 1);
    while (!j.failed && j.len % 8) ct_jw_raw(&j, " ", 1); /* the data starts 8-byte aligned */
    if (j.failed) {
        ct_jw_free(&j);
        return ct_fail(CT_ERR_NOMEM, "%s: out of memory for the header", path);
    }
    if (j.len > CT_ST_MAX_HEADER_BYTES) { /* refused now, rather than a file no reader opens */
        size_t len = j.len;
        ct_jw_free(&j);
        return ct_fail(CT_ERR_INVALID, "%s: a header of %zu bytes, more than safetensors "
                       "readers accept (%u): too much metadata", path, len,
                       CT_ST_MAX_HEADER_BYTES);
    }
    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)j.len >> (8 * k));

    /* the file */
    ct_afile f;
    ct_status s = ct_afile_open(&f, path);
    if (s == CT_OK) s = ct_afile_write(&f, len8, 8);
    if (s == CT_OK) s = ct_afile_write(&f, j.buf, j.len);
    for (int i = 0; i < n && s == CT_OK; i++) {
        uint64_t bytes = 0;
        tensor_bytes(&t[i], path, &bytes);
        if (bytes) s = ct_afile_write(&f, t[i].data, (size_t)bytes);
    }
    if (s == CT_OK) s = ct_afile_commit(&f);
    else ct_afile_abort(&f);
    ct_jw_free(&j);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* reading                                                                                     */

void ct_checkpoint_free(ct_checkpoint *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->t[i].name);
    for (int i = 0; i < c->n_meta; i++) {
        free(c->meta_keys[i]);
        free(c->meta_values[i]);
    }
    free(c->meta_keys);
    free(c->meta_values);
    free(c->t);
    free(c->file);
    free(c->path);
    free(c);
}

/* Opens path and reads its header: the 8-byte length and the JSON after it, which parse()
 * checks against the file's size alone, so that the data (which may be gigabytes of something
 * else) is read only when the header describes it (read_data). When the first 9 bytes cannot
 * begin a safetensors header, only they are read, and parse() refuses the file from them. */
static ct_status read_header(ct_checkpoint *c, const char *path, FILE **out) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) /* before open(), which waits on a FIFO */
        return ct_fail(CT_ERR_IO, "%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return ct_fail(CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ct_fail(CT_ERR_IO, "%s: not a regular file", path);
    }
    c->size = (size_t)st.st_size;
    unsigned char head[9] = {0};
    size_t want = c->size < 9 ? c->size : 9, got = fread(head, 1, want, f);
    if (got != want) { /* shorter than fstat said: changed under us */
        fclose(f);
        return ct_fail(CT_ERR_IO, "%s: read %zu of %zu bytes", path, got, c->size);
    }
    uint64_t n = 0;
    for (int k = 0; k < 8; k++) n |= (uint64_t)head[k] << (8 * k);
    if (c->size >= 9 && n <= c->size - 8 && n <= CT_ST_MAX_HEADER_BYTES && n >= 2 && head[8] == '{')
        want = 8 + (size_t)n;
    c->file = ct_malloc(want > 9 ? want : 9, "checkpoint header");
    if (!c->file) {
        fclose(f);
        return CT_ERR_NOMEM;
    }
    memcpy(c->file, head, got);
    if (want > got) got += fread(c->file + got, 1, want - got, f);
    if (got != want || ferror(f)) {
        fclose(f);
        return ct_fail(CT_ERR_IO, "%s: read %zu of %zu bytes", path, got, c->size);
    }
    *out = f;
    return CT_OK;
}

/* After parse(): the whole file, the data after the header. */
static ct_status read_data(ct_checkpoint *c, FILE *f) {
    size_t have = (size_t)(c->data - c->file); /* the header: 8 + its length */
    uint8_t *all = realloc(c->file, c->size ? c->size : 1);
    if (!all) return ct_fail(CT_ERR_NOMEM, "out of memory (%zu bytes for %s)", c->size, c->path);
    c->file = all;
    c->data = all + have;
    size_t got = have + fread(all + have, 1, c->size - have, f);
    if (got != c->size || ferror(f))
        return ct_fail(CT_ERR_IO, "%s: read %zu of %zu bytes", c->path, got, c->size);
    return CT_OK;
}

#define BAD(...) ct_fail(CT_ERR_FORMAT, __VA_ARGS__)

/* A JSON integer >= 0 into *out. */
static int get_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static ct_status parse_metadata(ct_checkpoint *c, const json_t *meta) {
    const char *path = c->path;
    if (!json_is_object(meta)) return BAD("%s: __metadata__ is not a JSON object", path);
    size_t n = json_object_size(meta);
    c->meta_keys = ct_calloc(n ? n : 1, sizeof(char *), "checkpoint metadata");
    c->meta_values = ct_calloc(n ? n : 1, sizeof(char *), "checkpoint metadata");
    if (!c->meta_keys || !c->meta_values) return CT_ERR_NOMEM;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)meta, key, v) {
        if (!json_is_string(v))
            return BAD("%s: metadata value of \"%.60s\" is not a string", path, key);
        c->meta_keys[c->n_meta] = strdup(key);
        c->meta_values[c->n_meta] = strdup(json_string_value(v));
        if (!c->meta_keys[c->n_meta] || !c->meta_values[c->n_meta])
            return ct_fail(CT_ERR_NOMEM, "out of memory (checkpoint metadata)");
        c->n_meta++;
    }
    return CT_OK;
}

static ct_status parse_entry(ct_checkpoint *c, const char *name, const json_t *e, ct_st_entry *t) {
    const char *path = c->path;
    if (!*name) return BAD("%s: a tensor has an empty name", path);
    if (strlen(name) >= CT_TENSOR_NAME_BYTES)
        return BAD("%s: tensor name \"%.40s...\" is longer than %d bytes", path, name,
                   CT_TENSOR_NAME_BYTES - 1);
    if (!json_is_object(e)) return BAD("%s: tensor %s: entry is not a JSON object", path, name);
    t->name = strdup(name);
    if (!t->name) return ct_fail(CT_ERR_NOMEM, "out of memory (tensor names)");
    const json_t *dt = json_object_get(e, "dtype"), *sh = json_object_get(e, "shape"),
                 *of = json_object_get(e, "data_offsets");
    if (!dt || !sh || !of)
        return BAD("%s: tensor %s: missing \"%s\"", path, name,
                   !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!json_is_string(dt)) return BAD("%s: tensor %s: dtype is not a string", path, name);
    const char *dtype = json_string_value(dt);
    int es = ct_st_dtype_size(dtype);
    if (!es) return BAD("%s: tensor %s: unknown dtype \"%.20s\"", path, name, dtype);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    if (!json_is_array(sh)) return BAD("%s: tensor %s: shape is not an array", path, name);
    if (json_array_size(sh) > CT_TENSOR_MAX_DIMS)
        return BAD("%s: tensor %s: %zu dimensions (at most %d)", path, name, json_array_size(sh),
                   CT_TENSOR_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    size_t numel = 1, bytes;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t v;
        if (!get_u64(json_array_get(sh, (size_t)d), &v))
            return BAD("%s: tensor %s: shape[%d] is not a non-negative integer", path, name, d);
        if (v > INT64_MAX || !ct_mul_size(numel, (size_t)v, &numel))
            return BAD("%s: tensor %s: shape too large", path, name);
        t->shape[d] = (int64_t)v;
    }
    if (!ct_mul_size(numel, (size_t)es, &bytes) || numel > INT64_MAX)
        return BAD("%s: tensor %s: shape too large", path, name);
    t->numel = (int64_t)numel;
    if (!json_is_array(of) || json_array_size(of) != 2 ||
        !get_u64(json_array_get(of, 0), &t->begin) || !get_u64(json_array_get(of, 1), &t->end))
        return BAD("%s: tensor %s: data_offsets is not two non-negative integers", path, name);
    if (t->begin > t->end || t->end > c->data_bytes)
        return BAD("%s: tensor %s: data_offsets [%llu, %llu] out of bounds (the data is %zu "
                   "bytes)", path, name, (unsigned long long)t->begin,
                   (unsigned long long)t->end, c->data_bytes);
    if (t->end - t->begin != bytes)
        return BAD("%s: tensor %s: data_offsets [%llu, %llu] hold %llu bytes but shape and "
                   "dtype %s need %zu", path, name, (unsigned long long)t->begin,
                   (unsigned long long)t->end, (unsigned long long)(t->end - t->begin),
                   t->dtype, bytes);
    return CT_OK;
}

static int by_begin(const void *a, const void *b, void *base) {
    const ct_st_entry *t = base;
    const ct_st_entry *x = &t[*(const int *)a], *y = &t[*(const int *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors must tile the data: sorted by offset, each starts where the last ended. */
static ct_status check_tiling(ct_checkpoint *c) {
    if (c->n == 0) {
        if (c->data_bytes)
            return BAD("%s: %zu bytes of data but no tensors", c->path, c->data_bytes);
        return CT_OK;
    }
    int *order = ct_malloc((size_t)c->n * sizeof(int), "tensor order");
    if (!order) return CT_ERR_NOMEM;
    for (int i = 0; i < c->n; i++) order[i] = i;
    qsort_r(order, (size_t)c->n, sizeof(int), by_begin, c->t);
    ct_status s = CT_OK;
    uint64_t at = 0;
    for (int k = 0; k < c->n && s == CT_OK; k++) {
        const ct_st_entry *t = &c->t[order[k]];
        if (t->begin < at)
            s = BAD("%s: tensors %s and %s overlap (bytes %llu..%llu)", c->path,
                    c->t[order[k - 1]].name, t->name, (unsigned long long)t->begin,
                    (unsigned long long)at);
        else if (t->begin > at)
            s = BAD("%s: bytes %llu..%llu of the data belong to no tensor", c->path,
                    (unsigned long long)at, (unsigned long long)t->begin);
        at = t->end;
    }
    if (s == CT_OK && at != c->data_bytes)
        s = BAD("%s: the last %llu bytes of the data belong to no tensor", c->path,
                (unsigned long long)(c->data_bytes - at));
    free(order);
    return s;
}

static ct_status parse(ct_checkpoint *c) {
    const char *path = c->path;
    if (c->size < 8)
        return BAD("%s: %zu bytes: too short for the 8-byte header length (truncated?)", path,
                   c->size);
    uint64_t n = 0;
    for (int k = 0; k < 8; k++) n |= (uint64_t)c->file[k] << (8 * k);
    if (n > c->size - 8)
        return BAD("%s: header length %llu runs past the end of the file (%zu bytes; "
                   "truncated?)", path, (unsigned long long)n, c->size);
    if (n > CT_ST_MAX_HEADER_BYTES)
        return BAD("%s: header length %llu is too large", path, (unsigned long long)n);
    if (n < 2 || c->file[8] != '{')
        return BAD("%s: the header does not start with '{' (not a safetensors file?)", path);
    c->data = c->file + 8 + n;
    c->data_bytes = c->size - 8 - (size_t)n;
    json_error_t err;
    json_t *root = json_loadb((const char *)c->file + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return BAD("%s: malformed JSON header: %s (line %d, column %d)", path, err.text,
                   err.line, err.column);
    ct_status s = CT_OK;
    if (!json_is_object(root)) s = BAD("%s: the header is not a JSON object", path);
    size_t count = s ? 0 : json_object_size(root);
    if (s == CT_OK) {
        c->t = ct_calloc(count ? count : 1, sizeof *c->t, "checkpoint tensors");
        if (!c->t) s = CT_ERR_NOMEM;
    }
    const char *key;
    json_t *v;
    if (s == CT_OK) {
        json_object_foreach(root, key, v) {
            if (!strcmp(key, "__metadata__")) s = parse_metadata(c, v);
            else s = parse_entry(c, key, v, &c->t[c->n++]);
            if (s) break;
        }
    }
    json_decref(root);
    if (s == CT_OK) s = check_tiling(c);
    return s;
}

ct_status ct_checkpoint_open(const char *path, ct_checkpoint **out) {
    *out = NULL;
    ct_checkpoint *c = ct_calloc(1, sizeof *c, "checkpoint");
    if (!c) return CT_ERR_NOMEM;
    c->path = strdup(path);
    if (!c->path) {
        free(c);
        return ct_fail(CT_ERR_NOMEM, "out of memory (checkpoint path)");
    }
    FILE *f;
    ct_status s = read_header(c, path, &f);
    if (s == CT_OK) s = parse(c);
    if (s == CT_OK) s = read_data(c, f);
    if (f) fclose(f);
    if (s != CT_OK) {
        ct_checkpoint_free(c);
        return s;
    }
    *out = c;
    return CT_OK;
}

const char *ct_checkpoint_path(const ct_checkpoint *c) { return c->path; }

const char *ct_checkpoint_meta(const ct_checkpoint *c, const char *key) {
    for (int i = 0; i < c->n_meta; i++)
        if (!strcmp(c->meta_keys[i], key)) return c->meta_values[i];
    return NULL;
}

int ct_checkpoint_tensor_count(const ct_checkpoint *c) { return c->n; }

int ct_checkpoint_find(const ct_checkpoint *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->t[i].name, name)) return i;
    return -1;
}

ct_status ct_checkpoint_tensor(const ct_checkpoint *c, int i, const char **name,
                               const char **dtype, int *ndim, const int64_t **shape,
                               const void **data) {
    if (i < 0 || i >= c->n)
        return ct_fail(CT_ERR_INVALID, "%s: no tensor %d (%d tensors)", c->path, i, c->n);
    const ct_st_entry *t = &c->t[i];
    if (name) *name = t->name;
    if (dtype) *dtype = t->dtype;
    if (ndim) *ndim = t->ndim;
    if (shape) *shape = t->shape;
    if (data) *data = c->data + t->begin;
    return CT_OK;
}
