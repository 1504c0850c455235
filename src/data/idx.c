/*
 * idx.c — the IDX file reader (raw or gzip, through zlib) with strict validation, and a small
 * zlib copy helper (decompress-or-copy a file) used by the MNIST fetcher.
 *
 * IDX layout (big-endian): magic 0x000008NN (0x08 = unsigned byte, NN = number of dimensions),
 * then NN uint32 sizes, then the product of the sizes in bytes, and nothing after that.
 */
#define _GNU_SOURCE
#include "data/data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CT_IDX_GZ_BUFFER_BYTES (128u << 10)  /* zlib's internal buffer */
#define CT_IDX_FIRST_ALLOC_BYTES (1u << 20)  /* gzip: start here, double as data arrives */
#define CT_IDX_MAX_READ_BYTES (1u << 30)     /* one gzread call (its length is an int) */

/* ------------------------------------------------------------------------------------------ */
/* reading helpers                                                                             */

/* After a short read: turns zlib's error state into a message, or returns CT_OK when the file
 * simply ended. */
static ct_status gz_status(gzFile gz, const char *path, int saved_errno) {
    int err = Z_OK;
    const char *msg = gzerror(gz, &err);
    /* zlib prefixes "<fd:3>: " or "path: "; we name the file ourselves */
    size_t path_len = strlen(path);
    const char *fd_prefix = msg[0] == '<' ? strstr(msg, ">: ") : NULL;
    if (fd_prefix) msg = fd_prefix + 3;
    else if (strncmp(msg, path, path_len) == 0 && strncmp(msg + path_len, ": ", 2) == 0)
        msg += path_len + 2;
    switch (err) {
    case Z_OK:
    case Z_STREAM_END:
        return CT_OK;
    case Z_ERRNO:
        return ct_fail(CT_ERR_IO, "%s: read error: %s", path, strerror(saved_errno));
    case Z_MEM_ERROR:
        return ct_fail(CT_ERR_NOMEM, "%s: out of memory while decompressing", path);
    case Z_BUF_ERROR:
        return ct_fail(CT_ERR_FORMAT,
                       "%s: corrupt gzip: the compressed stream ends early (%s); the .gz file is "
                       "truncated",
                       path, msg);
    default:
        return ct_fail(CT_ERR_FORMAT, "%s: corrupt gzip: %s", path, msg);
    }
}

/* Reads up to want bytes (fewer only at the end of the file); *got says how many. */
static ct_status gz_read_full(gzFile gz, const char *path, void *buf, size_t want, size_t *got) {
    uint8_t *p = buf;
    *got = 0;
    while (*got < want) {
        size_t chunk = want - *got;
        if (chunk > CT_IDX_MAX_READ_BYTES) chunk = CT_IDX_MAX_READ_BYTES;
        errno = 0;
        int n = gzread(gz, p + *got, (unsigned)chunk);
        int saved_errno = errno;
        if (n < 0) {
            ct_status s = gz_status(gz, path, saved_errno);
            return s != CT_OK ? s : ct_fail(CT_ERR_IO, "%s: read error", path);
        }
        if (n == 0) return gz_status(gz, path, saved_errno);
        *got += (size_t)n;
    }
    return CT_OK;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const char *magic_kind(uint32_t magic) {
    switch (magic) {
    case CT_IDX_MAGIC_LABELS: return "an IDX label file";
    case CT_IDX_MAGIC_IMAGES: return "an IDX image file";
    default: return "not an IDX file of unsigned bytes";
    }
}

/* "60000 images of 28x28" / "60000 labels" / "4 x 5 x 6 values". */
static void describe(const ct_idx *x, char *buf, size_t bytes) {
    if (x->ndims == 3)
        snprintf(buf, bytes, "%u images of %ux%u", x->dims[0], x->dims[1], x->dims[2]);
    else if (x->ndims == 1)
        snprintf(buf, bytes, "%u labels", x->dims[0]);
    else
        snprintf(buf, bytes, "%d dimensions", x->ndims);
}

/* Counts the bytes left in the stream (to report trailing garbage). */
static ct_status count_rest(gzFile gz, const char *path, uint64_t *count) {
    uint8_t buf[4096];
    *count = 0;
    for (;;) {
        size_t got = 0;
        CT_TRY(gz_read_full(gz, path, buf, sizeof buf, &got));
        *count += got;
        if (got < sizeof buf) return CT_OK;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* the reader                                                                                  */

/* Header and sizes: fills x->ndims, x->dims and x->data_bytes. */
static ct_status read_header(gzFile gz, const char *path, uint32_t magic, ct_idx *x,
                             size_t *header_bytes) {
    uint8_t head[4 + 4 * CT_IDX_MAX_DIMS];
    size_t got = 0;
    CT_TRY(gz_read_full(gz, path, head, 4, &got));
    if (got == 0)
        return ct_fail(CT_ERR_FORMAT, "%s: empty file (no data after decompression)", path);
    if (got < 4)
        return ct_fail(CT_ERR_FORMAT,
                       "%s: truncated header: the file holds %zu bytes, an IDX magic number "
                       "needs 4",
                       path, got);
    uint32_t found = be32(head);
    if (found != magic)
        return ct_fail(CT_ERR_FORMAT, "%s: wrong magic 0x%08x (%s); expected 0x%08x (%s)", path,
                       found, magic_kind(found), magic, magic_kind(magic));

    x->ndims = (int)(magic & 0xff);
    size_t dims_bytes = 4 * (size_t)x->ndims;
    CT_TRY(gz_read_full(gz, path, head + 4, dims_bytes, &got));
    *header_bytes = 4 + dims_bytes;
    if (got < dims_bytes)
        return ct_fail(CT_ERR_FORMAT,
                       "%s: truncated header: %zu bytes, an IDX file with %d dimension%s needs "
                       "%zu",
                       path, 4 + got, x->ndims, x->ndims == 1 ? "" : "s", *header_bytes);

    static const char *const image_dim_names[] = {"image count", "height", "width"};
    size_t total = 1;
    for (int d = 0; d < x->ndims; d++) {
        x->dims[d] = be32(head + 4 + 4 * d);
        if (x->dims[d] == 0)
            return ct_fail(CT_ERR_FORMAT, "%s: the header's %s is 0", path,
                           x->ndims == 3 ? image_dim_names[d] : "label count");
        if (!ct_mul_size(total, x->dims[d], &total)) {
            char what[96];
            describe(x, what, sizeof what);
            return ct_fail(CT_ERR_FORMAT, "%s: header says %s, a size that overflows size_t",
                           path, what);
        }
    }
    x->data_bytes = total;
    return CT_OK;
}

/* Reads exactly x->data_bytes, then checks that nothing follows. Unless the size was already
 * checked against a raw file's length, the buffer grows as the data arrives, so a lying header
 * on a small gzip file cannot make us allocate gigabytes. */
static ct_status read_data(gzFile gz, const char *path, ct_idx *x, bool direct,
                           bool size_checked) {
    size_t need = x->data_bytes;
    size_t cap = need;
    if (!size_checked && cap > CT_IDX_FIRST_ALLOC_BYTES) cap = CT_IDX_FIRST_ALLOC_BYTES;
    uint8_t *buf = ct_malloc(cap, "IDX data");
    if (!buf) return ct_fail_context(CT_ERR_NOMEM, "%s", path);
    ct_advise_huge(buf, cap);
    size_t have = 0;
    ct_status s = CT_OK;
    while (have < need) {
        if (have == cap) {
            size_t grown = cap > need / 2 ? need : 2 * cap;
            uint8_t *bigger = realloc(buf, grown);
            if (!bigger) {
                s = ct_fail(CT_ERR_NOMEM, "%s: out of memory (%zu bytes for IDX data)", path,
                            grown);
                goto fail;
            }
            buf = bigger;
            cap = grown;
            ct_advise_huge(buf, cap);
        }
        size_t got = 0;
        s = gz_read_full(gz, path, buf + have, cap - have, &got);
        if (s != CT_OK) goto fail;
        have += got;
        if (have < cap) break; /* end of file */
    }
    if (have < need) {
        char what[96];
        describe(x, what, sizeof what);
        s = ct_fail(CT_ERR_FORMAT,
                    "%s: truncated data: header says %s (%zu bytes) but the file holds only %zu "
                    "bytes of data%s",
                    path, what, need, have, direct ? "" : " (after decompression)");
        goto fail;
    }
    /* Nothing may follow; reading on also makes zlib check the gzip trailer's CRC. */
    uint64_t rest = 0;
    s = count_rest(gz, path, &rest);
    if (s != CT_OK) goto fail;
    if (rest > 0) {
        char what[96];
        describe(x, what, sizeof what);
        s = ct_fail(CT_ERR_FORMAT,
                    "%s: trailing garbage: %llu bytes after the data (header says %s, %zu bytes)",
                    path, (unsigned long long)rest, what, need);
        goto fail;
    }
    x->data = buf;
    return CT_OK;
fail:
    free(buf);
    return s;
}

ct_status ct_idx_read(const char *path, uint32_t magic, ct_idx *out) {
    if (!path || !out) return ct_fail(CT_ERR_INVALID, "ct_idx_read: NULL argument");
    memset(out, 0, sizeof *out);

    int fd = ct_open_read(path);
    if (fd < 0) {
        if (errno == ENOENT) return ct_fail(CT_ERR_IO, "%s: file not found", path);
        return ct_fail(CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ct_fail(CT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return ct_fail(CT_ERR_IO, "%s: is a directory, not an IDX file", path);
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        close(fd);
        return ct_fail(CT_ERR_FORMAT, "%s: empty file (0 bytes)", path);
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return ct_fail(CT_ERR_NOMEM, "%s: cannot open through zlib (out of memory)", path);
    }
    gzbuffer(gz, CT_IDX_GZ_BUFFER_BYTES);

    ct_idx x = {0};
    size_t header_bytes = 0;
    ct_status s = read_header(gz, path, magic, &x, &header_bytes);
    if (s != CT_OK) goto done;

    bool direct = gzdirect(gz) != 0, size_checked = direct && S_ISREG(st.st_mode);
    if (size_checked) {
        /* Raw file: compare with its size before allocating anything. */
        uint64_t body = (uint64_t)st.st_size - header_bytes;
        char what[96];
        describe(&x, what, sizeof what);
        if (body < x.data_bytes) {
            s = ct_fail(CT_ERR_FORMAT,
                        "%s: truncated data: header says %s (%zu bytes) but the file holds "
                        "%llu bytes after its %zu-byte header",
                        path, what, x.data_bytes, (unsigned long long)body, header_bytes);
            goto done;
        }
        if (body > x.data_bytes) {
            s = ct_fail(CT_ERR_FORMAT,
                        "%s: trailing garbage: %llu bytes after the data (header says %s, %zu "
                        "bytes)",
                        path, (unsigned long long)(body - x.data_bytes), what, x.data_bytes);
            goto done;
        }
    }
    s = read_data(gz, path, &x, direct, size_checked);
    if (s == CT_OK) *out = x;

done:;
    int close_err = gzclose_r(gz);
    if (s == CT_OK && close_err != Z_OK) {
        free(out->data);
        memset(out, 0, sizeof *out);
        s = ct_fail(CT_ERR_IO, "%s: error while closing (zlib error %d)", path, close_err);
    }
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* decompress-or-copy                                                                          */

static ct_status write_all(int fd, const char *path, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return ct_fail(CT_ERR_IO, "%s: write error: %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return CT_OK;
}

ct_status ct_gunzip_file(const char *src, const char *dst) {
    enum { CHUNK_BYTES = 1 << 20 };
    gzFile gz = gzopen(src, "rb");
    if (!gz) {
        if (errno == ENOENT) return ct_fail(CT_ERR_IO, "%s: file not found", src);
        return ct_fail(CT_ERR_IO, "%s: cannot open: %s", src,
                       errno ? strerror(errno) : "out of memory");
    }
    gzbuffer(gz, CT_IDX_GZ_BUFFER_BYTES);
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        gzclose_r(gz);
        return ct_fail(CT_ERR_IO, "%s: cannot create: %s", dst, strerror(e));
    }
    uint8_t *buf = ct_malloc(CHUNK_BYTES, "decompression buffer");
    ct_status s = buf ? CT_OK : CT_ERR_NOMEM;
    while (s == CT_OK) {
        size_t got = 0;
        s = gz_read_full(gz, src, buf, CHUNK_BYTES, &got);
        if (s == CT_OK) s = write_all(fd, dst, buf, got);
        if (got < CHUNK_BYTES) break;
    }
    free(buf);
    if (s == CT_OK && fsync(fd) != 0)
        s = ct_fail(CT_ERR_IO, "%s: fsync failed: %s", dst, strerror(errno));
    if (close(fd) != 0 && s == CT_OK)
        s = ct_fail(CT_ERR_IO, "%s: close failed: %s", dst, strerror(errno));
    gzclose_r(gz);
    if (s != CT_OK) unlink(dst);
    return s;
}
