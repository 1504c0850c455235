/*
 * predict.c — ct_model_predict: class probabilities for inputs given on the host.
 *
 * The inputs are cut into chunks of up to max_batch rows per shard; on the CPU every shard runs
 * its slice on the model's thread pool (one shard on a GPU). Each shard uploads its rows, runs
 * the layers in inference mode and copies its logits back; the softmax is taken on the host in
 * double precision.
 */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    ct_model *m;
    const float *x; /* (n, row) host */
    float *probs;   /* (n, classes) host: logits first, then probabilities */
    int64_t n;
    ct_status st[CT_MAX_SHARDS];
    char msg[CT_MAX_SHARDS][256]; /* a failed shard's message (the error text is per thread) */
} predict_job;

static void predict_shard(void *arg, int t, int S) {
    predict_job *j = arg;
    ct_model *m = j->m;
    ct_backend *b = m->b;
    int64_t r0 = j->n * t / S, r1 = j->n * (t + 1) / S, rows = r1 - r0;
    int64_t row = ct_model_input_size(m);
    ct_shard *sh = &m->shards[t];
    ct_status s = CT_OK;
    if (rows > 0) {
        s = b->h2d(b, sh->acts[0], j->x + r0 * row, (size_t)(rows * row) * sizeof(float));
        if (s == CT_OK) s = ct_model_forward_shard(m, t, (int)rows, 0);
        if (s == CT_OK)
            s = b->d2h(b, j->probs + r0 * m->classes, sh->acts[m->n_layers],
                       (size_t)(rows * m->classes) * sizeof(float));
    }
    if (s != CT_OK) snprintf(j->msg[t], sizeof j->msg[t], "%s", ct_last_error());
    j->st[t] = s;
}

/* In place: each row of logits (n, c) becomes its softmax. */
static void softmax_rows(float *p, int64_t n, int c) {
    for (int64_t i = 0; i < n; i++) {
        float *r = p + i * c; // (c)
        double mx = r[0], sum = 0.0;
        for (int k = 1; k < c; k++)
            if (r[k] > mx) mx = r[k];
        for (int k = 0; k < c; k++) sum += exp((double)r[k] - mx);
        for (int k = 0; k < c; k++) r[k] = (float)(exp((double)r[k] - mx) / sum);
    }
}

ct_status ct_model_predict(ct_model *m, const float *x, int64_t n, float *probs) {
    if (!m || n < 0 || (n > 0 && (!x || !probs)))
        return ct_fail(CT_ERR_INVALID, "predict: bad arguments (n = %lld)", (long long)n);
    int S = m->n_shards;
    int64_t chunk = (int64_t)m->max_batch * S, row = ct_model_input_size(m);
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        int64_t rows = n - i0 < chunk ? n - i0 : chunk;
        predict_job j;
        memset(&j, 0, sizeof j);
        j.m = m;
        j.x = x + i0 * row;
        j.probs = probs + i0 * m->classes;
        j.n = rows;
        ct_pool_run(m->pool, predict_shard, &j);
        for (int k = 0; k < S; k++)
            if (j.st[k] != CT_OK) return ct_fail(j.st[k], "%s", j.msg[k]); /* on this thread */
        softmax_rows(j.probs, rows, m->classes);
    }
    return CT_OK;
}
