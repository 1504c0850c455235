/*
 * tfevents.c — TensorBoard event files (ct_tfevents_*): what PyTorch's SummaryWriter and Keras'
 * TensorBoard callback write, for `tensorboard --logdir`.
 *
 * A file is a sequence of TFRecords, each: the payload's length (uint64, little-endian), the
 * masked CRC-32C of those 8 bytes, the payload, the masked CRC-32C of the payload (mask:
 * rotate right by 15, add 0xa282ead8). Each payload is one tensorboard.Event (tensorboard.proto
 * beside this file, TensorBoard's field numbers), serialised by protobuf-c; the CRC-32C is
 * ISA-L's crc32_iscsi (the SSE4.2/AVX-512 instruction where the CPU has it). The first event is
 * the file version, "brain.Event:2"; the second a SessionLog START at the first step the writer
 * will use, so that TensorBoard drops what earlier files in the folder hold from that step on.
 * Histograms are HistogramProto values (30 equal buckets from min to max, as
 * tf.summary.histogram's default).
 */
#include "core/core.h"
#include "io/checkpoint.h"
#include "tensorboard.pb-c.h"

#include <ctrain/io.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <isa-l/crc.h>

struct ct_tfevents {
    FILE *f;
    char *path;
    int failed; /* a write failed: the file may end in a torn record, so nothing more goes in */
};

/* CRC-32C (Castagnoli) as TFRecord's readers check it: crc32_iscsi without the usual final
 * inversion, so seeded with ~0 and inverted here */
static uint32_t crc32c(const void *p, size_t n) {
    return ~crc32_iscsi((unsigned char *)(uintptr_t)p, (int)n, 0xFFFFFFFFu);
}

static uint32_t masked_crc(const void *p, size_t n) {
    uint32_t c = crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void put_le32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static double wall_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One event as one record, flushed. */
static ct_status write_event(ct_tfevents *w, Tensorboard__Event *ev) {
    if (w->failed) return ct_fail(CT_ERR_IO, "%s: an earlier write failed", w->path);
    size_t n = tensorboard__event__get_packed_size(ev);
    unsigned char *buf = malloc(12 + n + 4);
    if (!buf) return ct_fail(CT_ERR_NOMEM, "out of memory (a TensorBoard event of %zu bytes)", n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    put_le32(buf + 8, masked_crc(buf, 8));
    tensorboard__event__pack(ev, buf + 12);
    put_le32(buf + 12 + n, masked_crc(buf + 12, n));
    errno = 0;
    int ok = fwrite(buf, 1, 12 + n + 4, w->f) == 12 + n + 4 && fflush(w->f) == 0;
    free(buf);
    if (ok) return CT_OK;
    w->failed = 1;
    return ct_fail(CT_ERR_IO, "%s: cannot write: %s", w->path,
                   errno ? strerror(errno) : "short write");
}

ct_status ct_tfevents_open(ct_tfevents **out, const char *dir, int64_t start_step) {
    *out = NULL;
    if (!dir || !dir[0]) return ct_fail(CT_ERR_INVALID, "TensorBoard: no folder given");
    if (start_step < 0)
        return ct_fail(CT_ERR_INVALID, "TensorBoard: start step %lld < 0", (long long)start_step);
    /* PyTorch's name: events.out.tfevents.TIME.HOST.PID.N, TIME and PID zero-padded so that
     * the names of later runs sort later (TensorBoard reads a folder's files in name order);
     * N makes the writers of one process in one second distinct; O_EXCL replaces no file */
    static atomic_int serial;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    size_t bytes = strlen(dir) + strlen(host) + 96;
    ct_tfevents *w = calloc(1, sizeof *w);
    char *path = malloc(bytes);
    if (!w || !path) {
        free(w);
        free(path);
        return ct_fail(CT_ERR_NOMEM, "out of memory (a TensorBoard writer)");
    }
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        snprintf(path, bytes, "%s/events.out.tfevents.%010lld.%s.%010ld.%d", dir,
                 (long long)time(NULL), host, (long)getpid(), atomic_fetch_add(&serial, 1));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
        ct_status s = ct_fail(CT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        free(path);
        free(w);
        return s;
    }
    w->path = path;
    Tensorboard__Event ev = TENSORBOARD__EVENT__INIT;
    ev.wall_time = wall_time_now();
    ev.what_case = TENSORBOARD__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    ct_status s = write_event(w, &ev);
    Tensorboard__SessionLog start = TENSORBOARD__SESSION_LOG__INIT;
    start.status = TENSORBOARD__SESSION_LOG__SESSION_STATUS__START;
    ev.step = start_step;
    ev.what_case = TENSORBOARD__EVENT__WHAT_SESSION_LOG;
    ev.session_log = &start;
    if (s == CT_OK) s = write_event(w, &ev);
    if (s != CT_OK) {
        fclose(w->f);
        unlink(w->path); /* (nothing of it is worth keeping) */
        free(w->path);
        free(w);
        return s;
    }
    *out = w;
    return CT_OK;
}

/* One event at step holding the n values pv, written and flushed. */
static ct_status write_summary(ct_tfevents *w, int64_t step, Tensorboard__Summary__Value **pv,
                               int n) {
    Tensorboard__Summary sum = TENSORBOARD__SUMMARY__INIT;
    sum.n_value = (size_t)n;
    sum.value = pv;
    Tensorboard__Event ev = TENSORBOARD__EVENT__INIT;
    ev.wall_time = wall_time_now();
    ev.step = step;
    ev.what_case = TENSORBOARD__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(w, &ev);
}

ct_status ct_tfevents_scalars(ct_tfevents *w, int64_t step, const char *const *tags,
                              const double *values, int n) {
    if (!w || n < 0 || n > 64 || (n > 0 && (!tags || !values)))
        return ct_fail(CT_ERR_INVALID, "TensorBoard: bad scalars (%d)", n);
    Tensorboard__Summary__Value vals[64], *pv[64];
    for (int i = 0; i < n; i++) {
        tensorboard__summary__value__init(&vals[i]);
        vals[i].tag = (char *)tags[i];
        vals[i].value_case = TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
        vals[i].simple_value = (float)values[i];
        pv[i] = &vals[i];
    }
    return write_summary(w, step, pv, n);
}

#define HISTOGRAM_BUCKETS 30 /* as tf.summary.histogram's default */

/* One tensor's histogram into h (limits, counts: HISTOGRAM_BUCKETS doubles each): its min,
 * max, count, sum and sum of squares, and 30 equal buckets from min to max (one when all
 * values are equal), each counting the values in [its lower limit, its limit), the last also
 * the max, as TensorFlow's histograms count them (upper_bound); NaNs and infinities are left
 * out of all of them. */
static void histogram(const float *v, int64_t n, Tensorboard__HistogramProto *h, double *limits,
                      double *counts) {
    double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0, num = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            double x = v[i];
            lo = x < lo ? x : lo, hi = x > hi ? x : hi;
            sum += x, sq += x * x, num += 1;
        }
    if (num == 0) lo = hi = 0;
    int k = hi > lo ? HISTOGRAM_BUCKETS : 1;
    for (int b = 0; b < k; b++) {
        limits[b] = b + 1 == k ? hi : lo + (hi - lo) * (b + 1) / k;
        counts[b] = 0;
    }
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            int b = k == 1 ? 0 : (int)((v[i] - lo) / (hi - lo) * k);
            b = b < 0 ? 0 : b >= k ? k - 1 : b;
            while (b > 0 && v[i] < limits[b - 1]) b--; /* (its limit's side, not rounding's) */
            while (b + 1 < k && v[i] >= limits[b]) b++;
            counts[b] += 1;
        }
    h->min = lo, h->max = hi, h->num = num, h->sum = sum, h->sum_squares = sq;
    h->n_bucket_limit = h->n_bucket = (size_t)k;
    h->bucket_limit = limits, h->bucket = counts;
}

ct_status ct_tfevents_model_histograms(ct_tfevents *w, int64_t step, const ct_model *m) {
    if (!w || !m) return ct_fail(CT_ERR_INVALID, "TensorBoard: no writer or model");
    ct_host_state hs;
    CT_TRY(ct_host_state_get(m, &hs));
    ct_tensor_list l = {0};
    ct_status s = ct_tensor_list_model(m, &hs, "", 0, &l);
    Tensorboard__Summary__Value *vals = NULL, **pv = NULL;
    Tensorboard__HistogramProto *hist = NULL;
    double *buf = NULL;
    int n = 0;
    if (s == CT_OK) {
        vals = calloc((size_t)l.n + 1, sizeof *vals);
        pv = calloc((size_t)l.n + 1, sizeof *pv);
        hist = calloc((size_t)l.n + 1, sizeof *hist);
        buf = calloc((size_t)(l.n + 1) * 2 * HISTOGRAM_BUCKETS, sizeof *buf);
        if (!vals || !pv || !hist || !buf)
            s = ct_fail(CT_ERR_NOMEM, "out of memory (TensorBoard histograms)");
    }
    for (int i = 0; s == CT_OK && i < l.n; i++) {
        if (strcmp(l.t[i].dtype, "F32") != 0) continue; /* (num_batches_tracked) */
        int64_t numel = 1;
        for (int d = 0; d < l.t[i].ndim; d++) numel *= l.t[i].shape[d];
        tensorboard__histogram_proto__init(&hist[n]);
        double *lim = buf + (size_t)n * 2 * HISTOGRAM_BUCKETS;
        histogram(l.t[i].data, numel, &hist[n], lim, lim + HISTOGRAM_BUCKETS);
        tensorboard__summary__value__init(&vals[n]);
        vals[n].tag = (char *)l.t[i].name;
        vals[n].value_case = TENSORBOARD__SUMMARY__VALUE__VALUE_HISTO;
        vals[n].histo = &hist[n];
        pv[n] = &vals[n];
        n++;
    }
    if (s == CT_OK) s = write_summary(w, step, pv, n);
    free(vals), free(pv), free(hist), free(buf);
    ct_tensor_list_free(&l);
    ct_host_state_free(&hs);
    return s;
}

const char *ct_tfevents_path(const ct_tfevents *w) { return w ? w->path : NULL; }

ct_status ct_tfevents_close(ct_tfevents *w) {
    if (!w) return CT_OK;
    ct_status s = CT_OK;
    if (fclose(w->f) != 0 && !w->failed)
        s = ct_fail(CT_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return s;
}
