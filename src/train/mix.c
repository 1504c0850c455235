/*
 * mix.c — the draws of MixUp and CutMix for each training batch, as torchvision's classification
 * reference (references/classification/transforms.py: RandomMixup and RandomCutmix with p=1,
 * RandomChoice between the two when both alphas are set) makes them:
 *   lam ~ Beta(alpha, alpha);
 *   MixUp:  x = lam * x + (1 - lam) * x.roll(1, 0), the target lam * onehot(y) + (1 - lam) *
 *           onehot(y.roll(1, 0));
 *   CutMix: a box of the image centred at (r_x, r_y) (uniform pixels) with half sides
 *           int(0.5 sqrt(1 - lam) * W) and int(... * H), clipped to the image, takes the rolled
 *           batch's pixels; lam becomes 1 - box area / image area.
 * The gather op mixes the pixels and the xent op the targets (backend.h, ct_step_vars' mix_*).
 *
 * The draws are ctrain's own, from Philox blocks (key seed, counter (CT_STREAM_MIX << 56 |
 * epoch, batch << 16 | block)), so they are the same on every device, thread count, rank count
 * and resume: u = (w + 0.5) / 2^32 in (0, 1); RandomChoice: MixUp when the first u < 0.5;
 * Beta(a, a) = X / (X + Y) with X, Y ~ Gamma(a) by Marsaglia and Tsang's method (a < 1:
 * Gamma(a + 1) * u^(1/a)), its normals by Box-Muller (one a pair of u); r_x, r_y =
 * floor(u * W), floor(u * H). tests/torch_parity.py draws the same numbers in Python (the same
 * libm; this file is built without contracted multiply-adds).
 */
#include "train/feeder.h"

#include <math.h>

typedef struct {
    uint64_t key, hi, lo;
    uint32_t buf[4];
    int left;
} mix_rng;

static double uniform(mix_rng *r) {
    if (!r->left) {
        ct_philox4x32(r->key, r->hi, r->lo++, r->buf);
        r->left = 4;
    }
    return ((double)r->buf[4 - r->left--] + 0.5) * 0x1p-32;
}

static double normal(mix_rng *r) {
    double u1 = uniform(r), u2 = uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Gamma(a, 1) (Marsaglia and Tsang; a rejection loop, cut at 1000 tries) */
static double gamma_draw(mix_rng *r, double a) {
    if (a < 1.0) {
        double g = gamma_draw(r, a + 1.0);
        return g * pow(uniform(r), 1.0 / a);
    }
    const double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (int k = 0; k < 1000; k++) {
        double x = normal(r), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = uniform(r);
        if (u < 1.0 - 0.0331 * (x * x) * (x * x) || log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
    return d; /* (the mode, after 1000 rejections: never in practice) */
}

int ct_mix_on(const ct_train_config *cfg) {
    return cfg->mixup_alpha > 0.0f || cfg->cutmix_alpha > 0.0f;
}

void ct_mix_draw(const ct_train_config *cfg, int epoch, int64_t batch, int h, int w,
                 ct_step_vars *sv) {
    sv->mix_kind = 0, sv->mix_lam = 1.0f;
    sv->mix_y1 = sv->mix_y2 = sv->mix_x1 = sv->mix_x2 = 0;
    if (!ct_mix_on(cfg)) return;
    mix_rng r = {.key = cfg->seed,
                 .hi = (uint64_t)CT_STREAM_MIX << 56 | (uint64_t)epoch,
                 .lo = (uint64_t)batch << 16};
    int cutmix = cfg->cutmix_alpha > 0.0f;
    if (cfg->mixup_alpha > 0.0f && cutmix) cutmix = uniform(&r) >= 0.5; /* RandomChoice */
    const double alpha = cutmix ? cfg->cutmix_alpha : cfg->mixup_alpha;
    double x = gamma_draw(&r, alpha), y = gamma_draw(&r, alpha);
    double lam = x + y > 0.0 ? x / (x + y) : 0.5; /* (both underflowed: a tiny alpha) */
    sv->mix_kind = cutmix ? CT_MIX_CUTMIX : CT_MIX_MIXUP;
    if (cutmix) {
        int rx = (int)(uniform(&r) * w), ry = (int)(uniform(&r) * h);
        double half = 0.5 * sqrt(1.0 - lam);
        int hw = (int)(half * w), hh = (int)(half * h);
        sv->mix_x1 = rx - hw > 0 ? rx - hw : 0;
        sv->mix_y1 = ry - hh > 0 ? ry - hh : 0;
        sv->mix_x2 = rx + hw < w ? rx + hw : w;
        sv->mix_y2 = ry + hh < h ? ry + hh : h;
        lam = 1.0 - (double)(sv->mix_x2 - sv->mix_x1) * (double)(sv->mix_y2 - sv->mix_y1) /
                        ((double)w * (double)h);
    }
    sv->mix_lam = (float)lam;
}
