/*
 * cpu_bn.c — the CPU's batch normalisation over x (n, c, inner), training (the batch's
 * statistics, the running ones updated) and inference (the running ones), and its backward
 * (see backend.h). Per channel the kernels' loops (kernels.c: its rows 16 float lanes at a time,
 * sums in double); planes under BN_SMALL positions every channel at once. And group
 * normalisation (GroupNorm, LayerNorm): a sample's group is one contiguous row, its sums the
 * same kernels'.
 */
#include "backend/cpu/cpu_nn.h"
#include "backend/cpu/kernels.h"
#include "core/core.h"

#include <math.h>
#include <stdlib.h>

/* Planes under BN_SMALL positions (a deep network's late layers: 4x4 to 1x1 on MNIST) go every
 * channel at once, each sample's channels in order, so that a pass reads memory front to back
 * once; a channel at a time reads a short row per sample, strided (1152 channels of 1x1 at
 * batch 64: a cache line for each float). Per channel the sums are the kernels' (ct_bn_sum ...
 * on rows under 16 floats), in double in the same order. */
#define BN_SMALL 16

/* forward: acc (c doubles, zeroed) gets each channel's sum, then (mean given) sum of squares
 * about it; ct_bn_sum sums a row in a double of its own first */
static void bn_small_sums(const float *x, int64_t n, int64_t c, int64_t inner,
                          const float *mean, double *acc) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            const float *r = x + (i * c + ch) * inner;
            if (mean) {
                for (int64_t k = 0; k < inner; k++) {
                    const float d = r[k] - mean[ch];
                    acc[ch] += (double)d * d;
                }
            } else {
                double s = 0.0;
                for (int64_t k = 0; k < inner; k++) s += r[k];
                acc[ch] += s;
            }
        }
}

/* y = (x - mean) * scale + shift, per channel */
static void bn_small_apply(const float *x, float *y, int64_t n, int64_t c, int64_t inner,
                           const float *mean, const float *scale, const float *shift) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            const float *r = x + (i * c + ch) * inner;
            float *o = y + (i * c + ch) * inner;
            for (int64_t k = 0; k < inner; k++) o[k] = (r[k] - mean[ch]) * scale[ch] + shift[ch];
        }
}

static ct_status cpu_batchnorm_forward(ct_backend *b, int train, const float *x, float *y,
                                       int64_t n, int64_t c, int64_t inner, const float *gamma,
                                       const float *beta, float eps, float momentum,
                                       float *running_mean, float *running_var, float *save_mean,
                                       float *save_invstd) {
    const int64_t m = n * inner, stride = c * inner;
    if (n < 0 || c <= 0 || inner <= 0 || (train && m == 0))
        return ct_fail(CT_ERR_INVALID, "batchnorm_forward: bad shape (%lld, %lld, %lld)",
                       (long long)n, (long long)c, (long long)inner);
    if (inner < BN_SMALL) {
        double *acc = calloc((size_t)c, sizeof *acc);
        float *mean = malloc((size_t)c * sizeof *mean), *scale = malloc((size_t)c * sizeof *scale);
        if (!acc || !mean || !scale) {
            free(acc), free(mean), free(scale);
            return ct_fail(CT_ERR_NOMEM, "batchnorm_forward: out of memory (%lld channels)",
                           (long long)c);
        }
        if (train) bn_small_sums(x, n, c, inner, NULL, acc);
        for (int64_t ch = 0; ch < c; ch++) {
            mean[ch] = train ? (float)(acc[ch] / (double)m) : running_mean[ch];
            acc[ch] = 0.0;
        }
        if (train) bn_small_sums(x, n, c, inner, mean, acc);
        for (int64_t ch = 0; ch < c; ch++) { /* (as the loop below) */
            float invstd_f;
            if (train) {
                const double var = acc[ch] / (double)m;
                invstd_f = (float)(1.0 / sqrt(var + (double)eps));
                save_mean[ch] = mean[ch];
                save_invstd[ch] = invstd_f;
                if (running_mean && running_var) {
                    float unbiased = (float)(m > 1 ? var * (double)m / (double)(m - 1) : var);
                    running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mean[ch];
                    running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
                }
            } else {
                invstd_f = (float)(1.0 / sqrt((double)running_var[ch] + (double)eps));
            }
            scale[ch] = invstd_f * gamma[ch];
        }
        bn_small_apply(x, y, n, c, inner, mean, scale, beta);
        free(acc), free(mean), free(scale);
        return CT_OK;
    }
    for (int64_t ch = 0; ch < c; ch++) {
        const float *xc = x + ch * inner;
        float mean_f, invstd_f;
        if (train) { /* two passes: the mean, then the squares about it */
            mean_f = (float)(ct_bn_sum(xc, n, stride, inner) / (double)m);
            double var = ct_bn_sqdev(xc, n, stride, inner, mean_f) / (double)m;
            invstd_f = (float)(1.0 / sqrt(var + (double)eps));
            save_mean[ch] = mean_f;
            save_invstd[ch] = invstd_f;
            if (running_mean && running_var) {
                float unbiased = (float)(m > 1 ? var * (double)m / (double)(m - 1) : var);
                running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mean_f;
                running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
            }
        } else {
            mean_f = running_mean[ch];
            invstd_f = (float)(1.0 / sqrt((double)running_var[ch] + (double)eps));
        }
        ct_bn_apply(xc, y + ch * inner, n, stride, inner, mean_f, invstd_f * gamma[ch], beta[ch]);
    }
    return CT_OK;
}

/* dgamma = sum dy * xhat, dbeta = sum dy, and dx = gamma * invstd / m * (m * dy - dbeta - xhat *
 * dgamma) with xhat = (x - mean) * invstd: dx = a * dy + b * (x - mean) + c. */
static ct_status cpu_batchnorm_backward(ct_backend *b, const float *x, const float *dy, float *dx,
                                        int64_t n, int64_t c, int64_t inner, const float *gamma,
                                        const float *save_mean, const float *save_invstd,
                                        float *dgamma, float *dbeta) {
    const int64_t m = n * inner, stride = c * inner;
    if (n <= 0 || c <= 0 || inner <= 0)
        return ct_fail(CT_ERR_INVALID, "batchnorm_backward: bad shape (%lld, %lld, %lld)",
                       (long long)n, (long long)c, (long long)inner);
    if (inner < BN_SMALL) { /* (every channel at once, as the forward's) */
        double *sums = calloc(2 * (size_t)c, sizeof *sums);
        float *k3 = malloc(3 * (size_t)c * sizeof *k3);
        if (!sums || !k3) {
            free(sums), free(k3);
            return ct_fail(CT_ERR_NOMEM, "batchnorm_backward: out of memory (%lld channels)",
                           (long long)c);
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t ch = 0; ch < c; ch++) {
                const float *r = x + (i * c + ch) * inner, *g = dy + (i * c + ch) * inner;
                for (int64_t k = 0; k < inner; k++) {
                    sums[ch] += g[k];
                    sums[c + ch] += (double)g[k] * (r[k] - save_mean[ch]);
                }
            }
        for (int64_t ch = 0; ch < c; ch++) {
            const double invstd = save_invstd[ch], sdy = sums[ch], sdyx = sums[c + ch] * invstd;
            dbeta[ch] = (float)sdy;
            dgamma[ch] = (float)sdyx;
            const double k1 = (double)gamma[ch] * invstd / (double)m;
            k3[ch] = (float)(k1 * (double)m);
            k3[c + ch] = (float)(-k1 * invstd * sdyx);
            k3[2 * c + ch] = (float)(-k1 * sdy);
        }
        for (int64_t i = 0; dx && i < n; i++)
            for (int64_t ch = 0; ch < c; ch++) {
                const int64_t at = (i * c + ch) * inner;
                const float *r = x + at, *g = dy + at, a = k3[ch], bb = k3[c + ch],
                            cc = k3[2 * c + ch], mu = save_mean[ch];
                float *o = dx + at;
                for (int64_t k = 0; k < inner; k++) o[k] = a * g[k] + bb * (r[k] - mu) + cc;
            }
        free(sums), free(k3);
        return CT_OK;
    }
    for (int64_t ch = 0; ch < c; ch++) {
        const float *xc = x + ch * inner, *gc = dy + ch * inner;
        const double invstd = save_invstd[ch];
        double sdy, sdxc;
        ct_bn_grad_sums(xc, gc, n, stride, inner, save_mean[ch], &sdy, &sdxc);
        const double sdyx = sdxc * invstd;
        dbeta[ch] = (float)sdy;
        dgamma[ch] = (float)sdyx;
        if (!dx) continue;
        const double k1 = (double)gamma[ch] * invstd / (double)m;
        ct_bn_grad_apply(xc, gc, dx + ch * inner, n, stride, inner, save_mean[ch],
                         (float)(k1 * (double)m), (float)(-k1 * invstd * sdyx), (float)(-k1 * sdy));
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* group normalisation: row r = (sample, group) is x[r m .. (r + 1) m), m = c / groups * inner */

static ct_status cpu_groupnorm_forward(ct_backend *b, const float *x, float *y, int64_t n,
                                       int64_t c, int64_t inner, int64_t groups,
                                       const float *gamma, const float *beta, float eps,
                                       float *save_mean, float *save_invstd) {
    CT_TRY(ct_groupnorm_check("groupnorm_forward", n, c, inner, groups));
    const int64_t cg = c / groups, m = cg * inner;
    for (int64_t r = 0; r < n * groups; r++) {
        const float *xr = x + r * m;
        float *yr = y + r * m;
        const float mean = (float)(ct_bn_sum(xr, 1, m, m) / (double)m);
        const double var = ct_bn_sqdev(xr, 1, m, m, mean) / (double)m;
        const float invstd = (float)(1.0 / sqrt(var + (double)eps));
        save_mean[r] = mean;
        save_invstd[r] = invstd;
        const int64_t ch0 = (r % groups) * cg;
        if (inner == 1) { /* (LayerNorm: a scale per feature) */
            for (int64_t k = 0; k < m; k++)
                yr[k] = (xr[k] - mean) * (invstd * gamma[ch0 + k]) + beta[ch0 + k];
            continue;
        }
        for (int64_t k = 0; k < cg; k++)
            ct_bn_apply(xr + k * inner, yr + k * inner, 1, inner, inner, mean,
                        invstd * gamma[ch0 + k], beta[ch0 + k]);
    }
    return CT_OK;
}

/* A layer norm's row (inner 1: a scale per feature) in the backward: s[0] = sum g, s[1] =
 * sum g (x - mean) with g = dy gamma, in 16 float lanes a block of 256 values, the blocks in
 * double (a wide row's sums as exact as element by element); acc (2m doubles) += dy and
 * dy (x - mean) invstd, feature by feature. The loops vectorise. */
static void ln_row_sums(const float *x, const float *dy, const float *gamma, int64_t m,
                        float mean, float invstd, double *acc, double s[2]) {
    double s1 = 0.0, S = 0.0;
    int64_t k = 0;
    while (k + 16 <= m) {
        float l1[16] = {0}, l2[16] = {0};
        const int64_t end = k + 256 < m ? k + 256 : m;
        for (; k + 16 <= end; k += 16)
            for (int j = 0; j < 16; j++) {
                const float g = dy[k + j] * gamma[k + j];
                l1[j] += g;
                l2[j] += g * (x[k + j] - mean);
            }
        for (int j = 0; j < 16; j++) s1 += l1[j], S += l2[j];
    }
    for (; k < m; k++) {
        const float g = dy[k] * gamma[k];
        s1 += g;
        S += (double)g * (x[k] - mean);
    }
    for (k = 0; k < m; k++) {
        acc[k] += dy[k];
        acc[m + k] += (double)(dy[k] * (x[k] - mean)) * invstd;
    }
    s[0] = s1, s[1] = S;
}

/* Per row: s1 = sum g, S = sum g (x - mean) with g = dy * gamma[ch] (in double; a layer
 * norm's rows by ln_row_sums), then dx = invstd gamma[ch] dy - invstd^3 S / m (x - mean) -
 * invstd s1 / m; per channel, over the rows: dbeta = sum dy, dgamma = sum invstd * (dy (x -
 * mean)) (acc, in double). */
static ct_status cpu_groupnorm_backward(ct_backend *b, const float *x, const float *dy, float *dx,
                                        int64_t n, int64_t c, int64_t inner, int64_t groups,
                                        const float *gamma, const float *save_mean,
                                        const float *save_invstd, float *dgamma, float *dbeta) {
    CT_TRY(ct_groupnorm_check("groupnorm_backward", n, c, inner, groups));
    const int64_t cg = c / groups, m = cg * inner;
    double *acc = calloc(2 * (size_t)c, sizeof *acc); /* sum dy, then sum dy * xhat */
    if (!acc)
        return ct_fail(CT_ERR_NOMEM, "groupnorm_backward: out of memory (%lld channels)",
                       (long long)c);
    for (int64_t r = 0; r < n * groups; r++) {
        const float *xr = x + r * m, *gr = dy + r * m, mean = save_mean[r];
        const double invstd = save_invstd[r];
        const int64_t ch0 = (r % groups) * cg;
        double s1 = 0.0, S = 0.0;
        if (inner == 1 && groups == 1) { /* a layer norm's row: its loops vectorise */
            double s[2];
            ln_row_sums(xr, gr, gamma, m, mean, (float)invstd, acc, s);
            if (!dx) continue;
            float *dr = dx + r * m;
            const float is = (float)invstd,
                        bb = (float)(-invstd * invstd * invstd * s[1] / (double)m),
                        cc = (float)(-invstd * s[0] / (double)m);
            for (int64_t k = 0; k < m; k++)
                dr[k] = is * gamma[k] * gr[k] + bb * (xr[k] - mean) + cc;
            continue;
        }
        for (int64_t k = 0; k < cg; k++) {
            double sdy = 0.0, sdxc = 0.0;
            if (inner >= BN_SMALL) {
                ct_bn_grad_sums(xr + k * inner, gr + k * inner, 1, inner, inner, mean, &sdy,
                                &sdxc);
            } else {
                for (int64_t j = k * inner; j < (k + 1) * inner; j++) {
                    sdy += gr[j];
                    sdxc += (double)gr[j] * (xr[j] - mean);
                }
            }
            acc[ch0 + k] += sdy;
            acc[c + ch0 + k] += sdxc * invstd;
            s1 += (double)gamma[ch0 + k] * sdy;
            S += (double)gamma[ch0 + k] * sdxc;
        }
        if (!dx) continue;
        float *dr = dx + r * m;
        const float bb = (float)(-invstd * invstd * invstd * S / (double)m),
                    cc = (float)(-invstd * s1 / (double)m);
        for (int64_t k = 0; k < cg; k++) {
            const float a = (float)(invstd * gamma[ch0 + k]);
            if (inner >= BN_SMALL) {
                ct_bn_grad_apply(xr + k * inner, gr + k * inner, dr + k * inner, 1, inner, inner,
                                 mean, a, bb, cc);
                continue;
            }
            for (int64_t j = k * inner; j < (k + 1) * inner; j++)
                dr[j] = a * gr[j] + bb * (xr[j] - mean) + cc;
        }
    }
    for (int64_t ch = 0; ch < c; ch++) {
        dbeta[ch] = (float)acc[ch];
        dgamma[ch] = (float)acc[c + ch];
    }
    free(acc);
    return CT_OK;
}

void ct_cpu_fill_bn_ops(ct_backend *b) {
    b->batchnorm_forward = cpu_batchnorm_forward;
    b->batchnorm_backward = cpu_batchnorm_backward;
    b->groupnorm_forward = cpu_groupnorm_forward;
    b->groupnorm_backward = cpu_groupnorm_backward;
}
