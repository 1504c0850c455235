/*
 * cuda_optim.cu — the CUDA backend's optimizer updates (semantics: backend.h; the reference is
 * backend/cpu/cpu.c's and cpu_nn.c's): PyTorch's SGD (momentum, Nesterov, weight decay), the
 * weights' exponential moving average (--ema, --swa), and Adam's family (Adam, AdamW, NAdam,
 * RAdam, Adamax, Adagrad: one kernel, the variant a parameter) and RMSprop. Each is one
 * grid-stride kernel over the parameters; the learning rate and momentum are read on the device
 * from the step's variables when a CUDA graph replays the step (ct_step_vars).
 */
#include "backend/cuda/cuda_internal.h"

#include <math.h>

/* ------------------------------------------------------------------------------------------ */
/* SGD and the weights' average                                                                */


/* PyTorch SGD over w(n), g(n), m(n): d = g + wd*w; with momentum (m != NULL and, for this
 * step, momentum != 0: PyTorch leaves the buffer alone at 0, which a cycled momentum can be)
 * m = first ? d : momentum*m + d and d = nesterov ? d + momentum*m : m; then w -= lr*d. */
__global__ void sgd_step_kernel(float *w, const float *g, float *m, int64_t n, float lr,
                                float momentum, float weight_decay, int nesterov, int first_step,
                                const ct_step_vars *sv) {
    if (sv) {
        lr = sv->lr;
        first_step = sv->first;
        momentum = sv->momentum;
    }
    GRID_STRIDE(i, n) {
        float wi = w[i];
        float d = g[i] + weight_decay * wi;
        if (m && momentum != 0.0f) {
            float v = first_step ? d : momentum * m[i] + d;
            m[i] = v;
            d = nesterov ? d + momentum * v : v;
        }
        w[i] = wi - lr * d;
    }
}

static ct_status cuda_sgd_step(ct_backend *b, float *w, const float *g, float *m, int64_t n,
                               float lr, float momentum, float weight_decay, int nesterov,
                               int first_step, const ct_step_vars *sv) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0) return ct_fail(CT_ERR_INVALID, "sgd_step: negative size %lld", (long long)n);
    if (momentum != 0.0f && !m)
        return ct_fail(CT_ERR_INVALID, "sgd_step: momentum %g needs a momentum buffer",
                       (double)momentum);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    sgd_step_kernel<<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(
        w, g, momentum != 0.0f ? m : NULL, n, lr, momentum, weight_decay, nesterov, first_step,
        sv);
    CT_CUDA_CHECK_LAUNCH("sgd_step_kernel");
    return CT_OK;
}

/* avg = decay * avg + (1 - decay) * x (decay: sv's when sv is given), as the CPU's. */
__global__ void ema_update_kernel(float *avg, const float *x, int64_t n, float decay,
                                  const ct_step_vars *sv) {
    if (sv) decay = sv->ema_decay;
    float keep = 1.0f - decay;
    GRID_STRIDE(i, n) { avg[i] = __fadd_rn(__fmul_rn(decay, avg[i]), __fmul_rn(keep, x[i])); }
}

static ct_status cuda_ema_update(ct_backend *b, float *avg, const float *x, int64_t n,
                                 float decay, const ct_step_vars *sv) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0) return ct_fail(CT_ERR_INVALID, "ema_update: negative size %lld", (long long)n);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    ema_update_kernel<<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(avg, x, n, decay, sv);
    CT_CUDA_CHECK_LAUNCH("ema_update_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Adam / AdamW                                                                                */

__global__ void adam_kernel(float *w, const float *g, float *m, float *v, float *vmax, int64_t n,
                            float beta1, float beta2, float omb1, float omb2, float eps,
                            float decay, float l2, float step_size, float bc2_sqrt,
                            float grad_size, const ct_step_vars *sv, float wd, int variant) {
    const int nadam = variant == CT_ADAM_NADAM;
    if (sv) { /* this step's factors, as cuda_adam_step computes them from its arguments */
        beta1 = sv->momentum;
        omb1 = 1.0f - beta1;
        step_size = sv->adam_step_size;
        bc2_sqrt = sv->adam_bc2_sqrt;
        if (nadam) grad_size = sv->nadam_grad_size;
        if (variant == CT_ADAM_DECOUPLED) /* no FMA: as the host */
            decay = __fsub_rn(1.0f, __fmul_rn(sv->lr, wd));
    }
    if (variant >= CT_ADAM_RADAM) { /* (as cpu_nn.c's cpu_adam_other; l2 is wd) */
        GRID_STRIDE(i, n) {
            float gi = g[i] + l2 * w[i];
            if (variant == CT_ADAM_ADAGRAD) {
                float vi = v[i] + gi * gi;
                v[i] = vi;
                w[i] -= step_size * (gi / (sqrtf(vi) + eps));
                continue;
            }
            float mi = beta1 * m[i] + omb1 * gi;
            m[i] = mi;
            if (variant == CT_ADAM_ADAMAX) {
                float vi = fmaxf(beta2 * v[i], fabsf(gi) + eps);
                v[i] = vi;
                w[i] -= step_size * (mi / vi);
                continue;
            }
            float vi = beta2 * v[i] + omb2 * gi * gi;
            v[i] = vi;
            if (bc2_sqrt > 0.0f) w[i] -= step_size * mi * (bc2_sqrt / (sqrtf(vi) + eps));
            else w[i] -= step_size * mi; /* (RAdam's first updates) */
        }
        return;
    }
    GRID_STRIDE(i, n) {
        float w0 = w[i];
        float wi = w0 * decay;
        float gi = g[i] + l2 * w0;
        float mi = beta1 * m[i] + omb1 * gi;
        float vi = beta2 * v[i] + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (vmax) { /* AMSGrad (torch.maximum: a NaN kept) */
            vi = vi > vmax[i] || vi != vi ? vi : vmax[i];
            vmax[i] = vi;
        }
        float d = sqrtf(vi) / bc2_sqrt + eps;
        if (nadam) wi = wi - grad_size * (gi / d);
        w[i] = wi - step_size * (mi / d);
    }
}

static ct_status cuda_adam_step(ct_backend *b, float *w, const float *g, float *m, float *v,
                                float *vmax, int64_t n, float lr, float beta1, float beta2,
                                float eps, float wd, int variant, float extra, int64_t t,
                                const ct_step_vars *sv) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0 || t < 1 || variant < CT_ADAM_L2 || variant > CT_ADAM_ADAGRAD ||
        (vmax && variant > CT_ADAM_DECOUPLED))
        return ct_fail(CT_ERR_INVALID, "adam_step: bad size %lld, step %lld or variant %d%s",
                       (long long)n, (long long)t, variant, vmax ? " (with AMSGrad)" : "");
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    float step_size, bc2_sqrt, grad_size = 0.0f;
    if (!sv) /* (with sv: the step table's) */
        ct_adam_variant_factors(variant, lr, beta1, beta2, extra, t, &grad_size, &step_size,
                                &bc2_sqrt);
    else
        step_size = bc2_sqrt = 0.0f; /* (the kernel reads sv's) */
    const int decoupled = variant == CT_ADAM_DECOUPLED;
    const float decay = decoupled ? 1.0f - lr * wd : 1.0f, l2 = decoupled ? 0.0f : wd;
    adam_kernel<<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(
        w, g, m, v, vmax, n, beta1, beta2, 1.0f - beta1, 1.0f - beta2, eps, decay, l2, step_size,
        bc2_sqrt, grad_size, sv, wd, variant);
    CT_CUDA_CHECK_LAUNCH("adam_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* RMSprop                                                                                     */

__global__ void rmsprop_kernel(float *w, const float *g, float *m, float *v, float *ga,
                               int64_t n, float lr, float alpha, float oma, float eps, float wd,
                               float momentum, int centered, const ct_step_vars *sv) {
    if (sv) {
        lr = sv->lr;
        if (m) momentum = sv->momentum;
    }
    GRID_STRIDE(i, n) {
        float gi = g[i] + wd * w[i];
        float vi = alpha * v[i] + oma * gi * gi;
        v[i] = vi;
        float d;
        if (centered) {
            float gai = alpha * ga[i] + oma * gi;
            ga[i] = gai;
            d = sqrtf(vi - gai * gai) + eps;
        } else {
            d = sqrtf(vi) + eps;
        }
        if (m && momentum != 0.0f) {
            float mi = momentum * m[i] + gi / d;
            m[i] = mi;
            w[i] -= lr * mi;
        } else {
            w[i] -= lr * (gi / d);
        }
    }
}

static ct_status cuda_rmsprop_step(ct_backend *b, float *w, const float *g, float *m, float *v,
                                   float *ga, int64_t n, float lr, float alpha, float eps,
                                   float wd, float momentum, int centered,
                                   const ct_step_vars *sv) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0) return ct_fail(CT_ERR_INVALID, "rmsprop_step: negative size %lld", (long long)n);
    if ((centered && !ga) || (momentum != 0.0f && !m))
        return ct_fail(CT_ERR_INVALID, "rmsprop_step: %s needs its buffer",
                       centered && !ga ? "centered" : "momentum");
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    rmsprop_kernel<<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(
        w, g, m, v, ga, n, lr, alpha, 1.0f - alpha, eps, wd, momentum, centered, sv);
    CT_CUDA_CHECK_LAUNCH("rmsprop_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */

void ct_cuda_fill_optim_ops(ct_backend *b) {
    b->sgd_step = cuda_sgd_step;
    b->ema_update = cuda_ema_update;
    b->adam_step = cuda_adam_step;
    b->rmsprop_step = cuda_rmsprop_step;
}
