/*
 * cuda_gather.cu — the CUDA backend's uint8 row gather (backend.h's gather_u8; the reference is
 * backend/cpu/cpu.c): a grid-stride copy, or with augmentation (augment.h, autoaugment.h) a
 * kernel that takes an image a block, its draws made once by thread 0 into shared memory.
 * Launched on the compute stream; the automatic augmentation's workspace grows only outside
 * recorded graphs (aug_blocks).
 */
#include "backend/cuda/cuda_internal.h"

#include <limits.h>
#include <math.h>

/* ------------------------------------------------------------------------------------------ */
/* gather                                                                                      */

/* dst(n, row) = scale * src(idx[i], row) as float; labels_dst(n) = labels_src(idx[i]).
 * idx NULL: rows in order. With sv, idx starts sv->pos further on. */
__global__ void gather_u8_kernel(const uint8_t *src, const uint8_t *labels_src, const int32_t *idx,
                                 int64_t n, int64_t row, float scale, float *dst,
                                 uint8_t *labels_dst, const ct_step_vars *sv) {
    if (sv && idx) idx += sv->pos;
    GRID_STRIDE(e, n * row) {
        int64_t i = e / row, j = e - i * row;
        int64_t s = idx ? (int64_t)idx[i] : i;
        dst[e] = scale * (float)src[s * row + j];
    }
    if (labels_dst) GRID_STRIDE(i, n) labels_dst[i] = labels_src[idx ? (int64_t)idx[i] : i];
}


/* Chunk k of ColorJitter's contrast mean of an image under d (the CPU's jitter_row): the
 * pixels as gathered, before the erasing, adjusted up to the contrast */
__device__ static double jitter_part(const ct_augment *a, const ct_augment_draw *d,
                                     const uint8_t *img, int k, float scale) {
    const int64_t hw = (int64_t)a->h * a->w;
    const double bound = 255.0 * (double)scale;
    double part = 0.0, px[CT_JITTER_MAX_C];
    for (int64_t j = hw * k / CT_JITTER_CHUNKS; j < hw * (k + 1) / CT_JITTER_CHUNKS; j++) {
        const int y = (int)(j / a->w), x = (int)(j % a->w);
        for (int ch = 0; ch < a->c; ch++)
            px[ch] = (double)(scale * (float)ct_augment_pixel_raw(a, d, img, ch, y, x));
        ct_augment_jitter_apply(a, d, px, a->c, bound, 1); /* (pixel_raw: not erased) */
        part = CT_DADD(part, ct_augment_mean_term(px, a->c));
    }
    return part;
}

/* d's contrast mean from the chunks' sums, in order (thread 0) */
__device__ static void jitter_mean(const ct_augment *a, ct_augment_draw *d, const double *part) {
    double total = 0.0;
    for (int k = 0; k < CT_JITTER_CHUNKS; k++) total = CT_DADD(total, part[k]);
    const int64_t hw = (int64_t)a->h * a->w;
    d->jmean = total / (double)(a->c == 3 ? hw : hw * a->c);
}

/* Pixel (y, x) of an image under d, all its channels into out: jittered and greyed, or
 * erased */
__device__ static void jitter_pixel(const ct_augment *a, const ct_augment_draw *d,
                                    const uint8_t *img, int y, int x, float scale, float *out) {
    if (ct_augment_in_erased(d, y, x)) {
        for (int ch = 0; ch < a->c; ch++) out[ch] = scale * (float)ct_augment_erase_fill(a, ch);
        return;
    }
    double px[CT_JITTER_MAX_C];
    for (int ch = 0; ch < a->c; ch++)
        px[ch] = (double)(scale * (float)ct_augment_pixel(a, d, img, ch, y, x));
    ct_augment_jitter_apply(a, d, px, a->c, 255.0 * (double)scale, 0);
    for (int ch = 0; ch < a->c; ch++) out[ch] = (float)px[ch];
    ct_augment_grey_px(d, out, a->c); /* (RandomGrayscale: of the floats, as the CPU's) */
}

/* The automatic augmentation (autoaugment.h) of the images under d (and dp, the partner's,
 * when mix), by the block: the bytes before the ops into buf[0] (pbuf[0]), then each chain's
 * op j from buf[ct_aa_in(augmix, j)] into buf[ct_aa_out(augmix, j)], after the histograms it
 * needs (counted with shared-memory atomics: integers, the same in any order), AugMix's chains mixed into acc
 * (pacc) as each ends and its bytes into buf[1] at the end; the result is aa_result's. */
__device__ static void aa_image(const ct_augment *a, const ct_augment_draw *d,
                                const ct_augment_draw *dp, int mix, const uint8_t *img,
                                const uint8_t *pimg, uint8_t *const buf[3],
                                uint8_t *const pbuf[3], float *acc, float *pacc,
                                unsigned (*hist)[CT_TA_MAX_C + 1][256], ct_ta_stats *st,
                                ct_ta_stats *pst) {
    const int64_t hw = (int64_t)a->h * a->w, row = a->c * hw;
    const int augmix = a->aa == CT_AA_AUGMIX;
    for (int64_t e = threadIdx.x; e < row; e += blockDim.x) {
        const int ch = (int)(e / hw), y = (int)(e % hw / a->w), x = (int)(e % a->w);
        buf[0][e] = (uint8_t)ct_ta_byte(a, d, img, ch, y, x);
        if (mix) pbuf[0][e] = (uint8_t)ct_ta_byte(a, dp, pimg, ch, y, x);
    }
    __syncthreads();
    /* (d and dp are every thread's alike: all threads or none reach each barrier) */
    for (int c = 0, k = 0, pk = 0; c < d->aa_chains; c++) {
        const int depth = d->aa_depth[c], pdepth = mix ? dp->aa_depth[c] : 0;
        for (int j = 0; j < depth || j < pdepth; j++) {
            const ct_aa_op *o = j < depth ? &d->aa[k + j] : NULL;
            const ct_aa_op *po = j < pdepth ? &dp->aa[pk + j] : NULL;
            const int in = ct_aa_in(augmix, j), out = ct_aa_out(augmix, j);
            const int count = o && ct_ta_needs_hist(o->op), pcount = po && ct_ta_needs_hist(po->op);
            if (count || pcount) {
                for (int q = threadIdx.x; q < 2 * (CT_TA_MAX_C + 1) * 256; q += blockDim.x)
                    (&hist[0][0][0])[q] = 0u;
                __syncthreads();
                for (int64_t e = threadIdx.x; e < hw; e += blockDim.x) {
                    if (count) ct_ta_count(buf[in], a->c, hw, e, hist[0]);
                    if (pcount) ct_ta_count(pbuf[in], a->c, hw, e, hist[1]);
                }
                __syncthreads();
                if (threadIdx.x == 0) {
                    if (count) ct_ta_stats_of(a, o->op, hist[0], st);
                    if (pcount) ct_ta_stats_of(a, po->op, hist[1], pst);
                }
                __syncthreads();
            }
            for (int64_t e = threadIdx.x; e < hw; e += blockDim.x) {
                const int y = (int)(e / a->w), x = (int)(e % a->w);
                if (o) ct_aa_op_pixel(a, o, st, buf[in], y, x, buf[out]);
                if (po) ct_aa_op_pixel(a, po, pst, pbuf[in], y, x, pbuf[out]);
            }
            __syncthreads();
        }
        k += depth, pk += pdepth;
        if (!augmix) continue;
        const uint8_t *last = buf[ct_aa_last(1, depth)], *plast = pbuf[ct_aa_last(1, pdepth)];
        for (int64_t e = threadIdx.x; e < row; e += blockDim.x) {
            acc[e] = ct_augmix_add(d, c, c ? acc[e] : ct_augmix_start(d, buf[0][e]), last[e]);
            if (mix)
                pacc[e] = ct_augmix_add(dp, c, c ? pacc[e] : ct_augmix_start(dp, pbuf[0][e]),
                                        plast[e]);
        }
        __syncthreads();
    }
    if (!augmix) return;
    for (int64_t e = threadIdx.x; e < row; e += blockDim.x) {
        buf[1][e] = (uint8_t)ct_augmix_byte(acc[e]);
        if (mix) pbuf[1][e] = (uint8_t)ct_augmix_byte(pacc[e]);
    }
    __syncthreads();
}

/* The byte image aa_image leaves an image's result in */
__device__ static int aa_result(const ct_augment *a, const ct_augment_draw *d) {
    return a->aa == CT_AA_AUGMIX ? 1 : ct_aa_last(0, d->aa_depth[0]);
}

/* The workspace gather_u8_augment_kernel's block needs for an automatic augmentation of
 * images of row values: an image's part (AugMix's float sums, then ct_aa_images byte images,
 * 16-byte aligned), and another for the mixing partner's */
__host__ __device__ static int64_t aa_ws_part(const ct_augment *a, int64_t row) {
    const int64_t bytes = (a->aa == CT_AA_AUGMIX ? 4 * row : 0) + ct_aa_images(a) * row;
    return (bytes + 15) / 16 * 16;
}
__host__ __device__ static int64_t aa_ws_slot(const ct_augment *a, int64_t row) {
    return a->aa ? (a->mix ? 2 : 1) * aa_ws_part(a, row) : 0;
}

/* Pixel (y, x) of an image under d, all its channels into out: its automatic augmentation's
 * bytes from aa (when a has one), else jittered and greyed; or erased */
__device__ static void colour_pixel(const ct_augment *a, const ct_augment_draw *d,
                                    const uint8_t *aa, const uint8_t *img, int y, int x,
                                    float scale, float *out) {
    if (!a->aa) {
        jitter_pixel(a, d, img, y, x, scale, out);
        return;
    }
    const int64_t hw = (int64_t)a->h * a->w, j = (int64_t)y * a->w + x;
    const int erased = ct_augment_in_erased(d, y, x);
    for (int ch = 0; ch < a->c; ch++)
        out[ch] = scale * (float)(erased ? ct_augment_erase_fill(a, ch) : (double)aa[ch * hw + j]);
}

/* gather_u8_kernel with each image warped (or its box resized), cropped and flipped as
 * augment.h says (the CPU's augment_row): a block an image at a time; its thread 0 draws the
 * image (ct_augment_draw_at: sin, cos, tan in double) once into shared memory, its threads then
 * write the pixels.
 * With a.mix and a mixing step (sv's kind), each image is mixed with its partner as the CPU's
 * mix_rows does (the partner drawn beside it; its label into mix_labels_dst). With colour
 * jitter, pixel by pixel (its adjustments mix the channels), after the contrast's means; with
 * an automatic augmentation (autoaugment.h), pixel by pixel too, from the bytes aa_image
 * leaves in the block's ws (aa_ws_slot(a, row) bytes a block). */
__global__ void gather_u8_augment_kernel(const uint8_t *src, const uint8_t *labels_src,
                                         const int32_t *idx, int64_t n, int64_t row, float scale,
                                         ct_augment a, float *dst, uint8_t *mix_labels_dst,
                                         const ct_step_vars *sv, uint8_t *ws) {
    /* (one a declaration: the emulator poisons each such one at every block) */
    __shared__ ct_augment_draw d;
    __shared__ ct_augment_draw dp;
    __shared__ double part[CT_JITTER_CHUNKS];
    __shared__ double ppart[CT_JITTER_CHUNKS];
    __shared__ unsigned hist[2][CT_TA_MAX_C + 1][256];
    __shared__ ct_ta_stats st;
    __shared__ ct_ta_stats pst;
    const int jit = ct_augment_colours(&a); /* (pixel by pixel: all channels at once) */
    if (sv) {
        if (idx) idx += sv->pos;
        a.first += (uint64_t)sv->pos;
    }
    const int mix = a.mix && sv ? sv->mix_kind : 0;
    const float lam = mix ? sv->mix_lam : 1.0f, rest = 1.0f - lam;
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const int64_t q = mix ? ct_mix_partner(&a, i) : i;
        const int64_t ps = idx ? (int64_t)idx[q] : q;
        if (threadIdx.x == 0) {
            ct_augment_draw_at(&a, (uint64_t)i, &d);
            if (mix) ct_augment_draw_at(&a, (uint64_t)q, &dp);
            if (mix && mix_labels_dst && labels_src) mix_labels_dst[i] = labels_src[ps];
        }
        __syncthreads();
        const uint8_t *img = src + (idx ? (int64_t)idx[i] : i) * row, *pimg = src + ps * row;
        if (a.aa || jit) { /* pixel by pixel, every channel at once */
            const int64_t hw = (int64_t)a.h * a.w;
            /* the block's slot: the image's part, then the partner's (aa_ws_slot) */
            uint8_t *slot = ws + (int64_t)blockIdx.x * aa_ws_slot(&a, row);
            const int64_t half = aa_ws_part(&a, row), fl = a.aa == CT_AA_AUGMIX ? 4 * row : 0;
            const int three = ct_aa_images(&a) == 3; /* (AugMix's third byte image) */
            uint8_t *const buf[3] = {slot + fl, slot + fl + row,
                                     three ? slot + fl + 2 * row : NULL};
            uint8_t *const pbuf[3] = {mix ? slot + half + fl : NULL,
                                      mix ? slot + half + fl + row : NULL,
                                      mix && three ? slot + half + fl + 2 * row : NULL};
            const uint8_t *last = NULL, *plast = NULL; /* the ops' bytes */
            if (a.aa) {
                aa_image(&a, &d, &dp, mix, img, pimg, buf, pbuf, (float *)slot,
                         mix ? (float *)(slot + half) : NULL, hist, &st, &pst);
                last = buf[aa_result(&a, &d)], plast = mix ? pbuf[aa_result(&a, &dp)] : NULL;
            } else if (jit && a.jitter[1] > 0.0f) { /* the contrast's means */
                for (int k = threadIdx.x; k < CT_JITTER_CHUNKS; k += blockDim.x) {
                    part[k] = jitter_part(&a, &d, img, k, scale);
                    if (mix) ppart[k] = jitter_part(&a, &dp, pimg, k, scale);
                }
                __syncthreads();
                if (threadIdx.x == 0) {
                    jitter_mean(&a, &d, part);
                    if (mix) jitter_mean(&a, &dp, ppart);
                }
                __syncthreads();
            }
            for (int64_t j = threadIdx.x; j < hw; j += blockDim.x) {
                const int y = (int)(j / a.w), x = (int)(j % a.w);
                float v[CT_JITTER_MAX_C], pv[CT_JITTER_MAX_C];
                colour_pixel(&a, &d, last, img, y, x, scale, v);
                const int cut = mix == CT_MIX_CUTMIX && y >= sv->mix_y1 && y < sv->mix_y2 &&
                                x >= sv->mix_x1 && x < sv->mix_x2;
                if (mix == CT_MIX_MIXUP || cut) colour_pixel(&a, &dp, plast, pimg, y, x, scale, pv);
                for (int ch = 0; ch < a.c; ch++)
                    dst[i * row + ch * hw + j] =
                        mix == CT_MIX_MIXUP
                            ? __fadd_rn(__fmul_rn(lam, v[ch]), __fmul_rn(rest, pv[ch]))
                            : cut ? pv[ch] : v[ch];
            }
            __syncthreads(); /* (d is the next image's) */
            continue;
        }
        for (int64_t j = threadIdx.x; j < row; j += blockDim.x) {
            int x = (int)(j % a.w), y = (int)(j / a.w % a.h);
            int ch = (int)(j / ((int64_t)a.w * a.h));
            float v = scale * (float)ct_augment_pixel(&a, &d, img, ch, y, x);
            if (mix == CT_MIX_MIXUP) {
                v = __fadd_rn(__fmul_rn(lam, v),
                              __fmul_rn(rest, scale * (float)ct_augment_pixel(&a, &dp, pimg, ch,
                                                                              y, x)));
            } else if (mix == CT_MIX_CUTMIX && y >= sv->mix_y1 && y < sv->mix_y2 &&
                       x >= sv->mix_x1 && x < sv->mix_x2) {
                v = scale * (float)ct_augment_pixel(&a, &dp, pimg, ch, y, x);
            }
            dst[i * row + j] = v;
        }
        __syncthreads(); /* (d is the next image's) */
    }
}

#define CT_AUG_WS ((int64_t)64 << 20) /* aug_blocks' workspace at most (or one slot) */

/* The blocks gather_u8_augment_kernel runs for n images of row values under aug: one an image
 * up to 65535, and for an automatic augmentation as many as cb->aug_ws has slots for
 * (aa_ws_slot), at most CT_AUG_WS bytes of them (or one slot, when larger). The workspace grows
 * to them here, but not while a graph records: a training's steps are recorded after its first
 * step ran unrecorded, whose gathers are its largest (a later one uses what it left, its grid
 * smaller if need be), and its images keep their size, so no recorded graph outlives the
 * workspace it holds. */
static ct_status aug_blocks(ct_cuda *cb, const ct_augment *aug, int64_t n, int64_t row,
                            unsigned *blocks) {
    int64_t g = n < 65535 ? n : 65535;
    const int64_t slot = aa_ws_slot(aug, row);
    if (slot > 0) {
        const int64_t cap = CT_AUG_WS / slot > 0 ? CT_AUG_WS / slot : 1;
        const int64_t want = g < cap ? g : cap;
        if ((int64_t)cb->aug_ws_bytes / slot < want && !cb->recording) {
            if (cb->aug_ws) (void)cudaFree(cb->aug_ws); /* (after the work queued before) */
            cb->aug_ws = NULL, cb->aug_ws_bytes = 0;
            CT_TRY(cb->base.alloc(&cb->base, (size_t)(want * slot), (void **)&cb->aug_ws));
            cb->aug_ws_bytes = (size_t)(want * slot);
        }
        const int64_t have = (int64_t)cb->aug_ws_bytes / slot;
        if (have < 1)
            return ct_fail(CT_ERR_INVALID, "gather_u8: the augmentation's workspace must "
                           "grow to %lld bytes while a CUDA graph records", (long long)slot);
        if (g > have) g = have;
    }
    *blocks = (unsigned)g;
    return CT_OK;
}

static ct_status cuda_gather_u8(ct_backend *b, const uint8_t *src, const uint8_t *labels_src,
                                const int32_t *idx, int64_t n, int64_t row, float scale,
                                const ct_augment *aug, const ct_step_vars *sv, float *dst,
                                uint8_t *labels_dst, uint8_t *mix_labels_dst) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0 || row < 0)
        return ct_fail(CT_ERR_INVALID, "gather_u8: bad shape (%lld, %lld)", (long long)n,
                       (long long)row);
    if (labels_dst && !labels_src)
        return ct_fail(CT_ERR_INVALID, "gather_u8: labels_dst without labels_src");
    CT_TRY(ct_gather_u8_check(aug, row, sv));
    int64_t total = n * row > n ? n * row : n; /* the labels need n threads even if row == 0 */
    if (total == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    if (aug) {
        if (n * row > 0) {
            unsigned blocks = 0;
            CT_TRY(aug_blocks(cb, aug, n, row, &blocks));
            gather_u8_augment_kernel<<<blocks, CT_THREADS, 0, cb->compute>>>(
                src, labels_src, idx, n, row, scale, *aug, dst, mix_labels_dst, sv, cb->aug_ws);
            CT_CUDA_CHECK_LAUNCH("gather_u8_augment_kernel");
        }
        if (!labels_dst) return CT_OK;
        src = NULL, row = 0, dst = NULL, total = n; /* the labels only */
    }
    gather_u8_kernel<<<grid_for(cb, total), CT_THREADS, 0, cb->compute>>>(
        src, labels_src, idx, n, row, scale, dst, labels_dst, sv);
    CT_CUDA_CHECK_LAUNCH("gather_u8_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* table                                                                                       */

void ct_cuda_fill_gather_ops(ct_backend *b) { b->gather_u8 = cuda_gather_u8; }
