/*
 * emu_cudnn.cpp — the CUDA emulator's cuDNN: the legacy convolution API that cuda_dnn.cu calls,
 * computed on the CPU (im2col and OpenBLAS per image and group) in stream order, with the checks
 * cuDNN makes: descriptors that agree with each other (a filter of c / groups channels), NCHW
 * float cross-correlation, buffers inside device allocations, and a workspace of at least what
 * the algorithm asked for.
 *
 * Its heuristics rank first what ctrain must not take: a TF32 tensor-core algorithm for the
 * forward pass and non-deterministic ones (cuDNN's ALGO_0) for the two backward passes; the
 * ones after them are deterministic FP32, the forward one with a workspace that grows with the
 * batch (CTRAIN_CUDA_EMU_CUDNN_WS). With CTRAIN_CUDA_EMU_CUDNN_BROKEN=1 every forward pass fails,
 * as where cuDNN loads but cannot run. cudnnGetVersion says 0 (shown as "cuDNN 0.0.0": not a real
 * one).
 */
#include "cudnn.h"
#include "emu_internal.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

struct ct_emu_dnn_handle {
    cudaStream_t stream = nullptr;
};
struct ct_emu_dnn_tensor {
    int n = 0, c = 0, h = 0, w = 0;
    bool set = false;
};
struct ct_emu_dnn_conv {
    int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1, groups = 1;
    cudnnConvolutionMode_t mode = CUDNN_CONVOLUTION;
    bool set = false;
};

namespace {

/* One convolution's shape, checked: x (n, c, h, w), w (k, c / g, kh, kw), y (n, k, oh, ow).
 * group() is the shape of one group's convolution (c / g and k / g channels). */
struct Shape {
    int n, c, h, w, k, kh, kw, oh, ow, ph, pw, sh, sw, g;
    size_t K() const { return (size_t)c * kh * kw; }
    size_t P() const { return (size_t)oh * ow; }
    Shape group() const {
        Shape s = *this;
        s.c /= g;
        s.k /= g;
        s.g = 1;
        return s;
    }
};

bool shape_of(const ct_emu_dnn_tensor *x, const ct_emu_dnn_tensor *f, const ct_emu_dnn_conv *cv,
              const ct_emu_dnn_tensor *y, Shape *s) {
    if (!x || !f || !cv || !y || !x->set || !f->set || !cv->set || !y->set) return false;
    if (cv->mode != CUDNN_CROSS_CORRELATION || cv->dil_h != 1 || cv->dil_w != 1) return false;
    *s = Shape{x->n, x->c, x->h, x->w, f->n, f->h, f->w, 0, 0, cv->pad_h, cv->pad_w, cv->u, cv->v,
               cv->groups};
    s->oh = (x->h + 2 * cv->pad_h - f->h) / cv->u + 1;
    s->ow = (x->w + 2 * cv->pad_w - f->w) / cv->v + 1;
    return f->c * cv->groups == x->c && f->n % cv->groups == 0 && y->n == x->n && y->c == f->n && y->h == s->oh && y->w == s->ow &&
           s->oh > 0 && s->ow > 0;
}

/* the deterministic forward algorithm's workspace: CTRAIN_CUDA_EMU_CUDNN_WS bytes per image
 * (default 256; a large value makes ctrain keep im2col, whose workspace it must not exceed) */
size_t fwd_workspace(const Shape &s, int algo) {
    const char *v = getenv("CTRAIN_CUDA_EMU_CUDNN_WS");
    size_t per_image = v ? strtoull(v, nullptr, 10) : 256;
    return algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ? per_image * (size_t)s.n : 0;
}

/* cols (K, P) of image img (c, h, w) */
void im2col(const Shape &s, const float *img, float *cols) {
    for (int ci = 0; ci < s.c; ci++)
        for (int ki = 0; ki < s.kh; ki++)
            for (int kj = 0; kj < s.kw; kj++) {
                float *row = cols + (((size_t)ci * s.kh + ki) * s.kw + kj) * s.P();
                for (int oy = 0; oy < s.oh; oy++)
                    for (int ox = 0; ox < s.ow; ox++) {
                        int iy = oy * s.sh - s.ph + ki, ix = ox * s.sw - s.pw + kj;
                        row[(size_t)oy * s.ow + ox] =
                            iy >= 0 && iy < s.h && ix >= 0 && ix < s.w
                                ? img[((size_t)ci * s.h + iy) * s.w + ix] : 0.0f;
                    }
            }
}

/* img (c, h, w) += cols (K, P) folded back */
void col2im_add(const Shape &s, const float *cols, float *img) {
    for (int ci = 0; ci < s.c; ci++)
        for (int ki = 0; ki < s.kh; ki++)
            for (int kj = 0; kj < s.kw; kj++) {
                const float *row = cols + (((size_t)ci * s.kh + ki) * s.kw + kj) * s.P();
                for (int oy = 0; oy < s.oh; oy++)
                    for (int ox = 0; ox < s.ow; ox++) {
                        int iy = oy * s.sh - s.ph + ki, ix = ox * s.sw - s.pw + kj;
                        if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
                            img[((size_t)ci * s.h + iy) * s.w + ix] += row[(size_t)oy * s.ow + ox];
                    }
            }
}

bool buffers_ok(const Shape &s, const void *x, const void *w, const void *y) {
    size_t xs = (size_t)s.n * s.c * s.h * s.w, ws = (size_t)s.k * s.K() / s.g,
           ys = (size_t)s.n * s.k * s.P();
    return (xs == 0 || ct_emu_in_device(x, xs * 4)) && ct_emu_in_device(w, ws * 4) &&
           (ys == 0 || ct_emu_in_device(y, ys * 4));
}

bool workspace_ok(void *ws, size_t ws_bytes, size_t need) {
    return ws_bytes >= need && (ws_bytes == 0 || ct_emu_in_device(ws, ws_bytes));
}

} // namespace

size_t cudnnGetVersion(void) { return 0; }

const char *cudnnGetErrorString(cudnnStatus_t s) {
    switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    }
    return "CUDNN_STATUS_UNKNOWN";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *h) {
    *h = new ct_emu_dnn_handle;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
    if (!h) return CUDNN_STATUS_BAD_PARAM;
    delete h;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
    if (!h) return CUDNN_STATUS_BAD_PARAM;
    h->stream = s;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *t) {
    *t = new ct_emu_dnn_tensor;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t t, cudnnTensorFormat_t f,
                                         cudnnDataType_t dt, int n, int c, int h, int w) {
    if (!t || f != CUDNN_TENSOR_NCHW || dt != CUDNN_DATA_FLOAT || n <= 0 || c <= 0 || h <= 0 ||
        w <= 0)
        return CUDNN_STATUS_BAD_PARAM;
    *t = ct_emu_dnn_tensor{n, c, h, w, true};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t t) {
    delete t;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *f) {
    return cudnnCreateTensorDescriptor(f);
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t f, cudnnDataType_t dt,
                                         cudnnTensorFormat_t fm, int k, int c, int h, int w) {
    return cudnnSetTensor4dDescriptor(f, fm, dt, k, c, h, w);
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t f) {
    return cudnnDestroyTensorDescriptor(f);
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *c) {
    *c = new ct_emu_dnn_conv;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t c, int pad_h,
                                              int pad_w, int u, int v, int dil_h, int dil_w,
                                              cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute) {
    if (!c || pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dil_h <= 0 || dil_w <= 0 ||
        compute != CUDNN_DATA_FLOAT)
        return CUDNN_STATUS_BAD_PARAM;
    *c = ct_emu_dnn_conv{pad_h, pad_w, u, v, dil_h, dil_w, 1, mode, true};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t c, int groups) {
    if (!c || groups < 1) return CUDNN_STATUS_BAD_PARAM;
    c->groups = groups;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t c, cudnnMathType_t m) {
    (void)m;
    return c ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_BAD_PARAM;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t c) {
    delete c;
    return CUDNN_STATUS_SUCCESS;
}

/* two candidates: what ctrain must skip, then a deterministic FP32 one */
template <typename Perf, typename Algo>
static cudnnStatus_t rank2(int requested, int *returned, Perf *perf, Algo skip, bool skip_tf32,
                           Algo take, size_t take_memory) {
    if (requested < 1 || !returned || !perf) return CUDNN_STATUS_BAD_PARAM;
    Perf p[2];
    memset(p, 0, sizeof p);
    p[0].algo = skip;
    p[0].status = CUDNN_STATUS_SUCCESS;
    p[0].determinism = skip_tf32 ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
    p[0].mathType = skip_tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    p[1].algo = take;
    p[1].status = CUDNN_STATUS_SUCCESS;
    p[1].memory = take_memory;
    p[1].determinism = CUDNN_DETERMINISTIC;
    p[1].mathType = CUDNN_FMA_MATH;
    *returned = requested < 2 ? requested : 2;
    memcpy(perf, p, (size_t)*returned * sizeof *perf);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
    const cudnnConvolutionDescriptor_t c, const cudnnTensorDescriptor_t y, const int requested,
    int *returned, cudnnConvolutionFwdAlgoPerf_t *perf) {
    Shape s;
    if (!h || !shape_of(x, w, c, y, &s)) return CUDNN_STATUS_BAD_PARAM;
    return rank2(requested, returned, perf, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, true,
                 CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                 fwd_workspace(s, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM));
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t h, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t c, const cudnnTensorDescriptor_t dx, const int requested,
    int *returned, cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    Shape s;
    if (!h || !shape_of(dx, w, c, dy, &s)) return CUDNN_STATUS_BAD_PARAM;
    return rank2(requested, returned, perf, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, false,
                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, (size_t)0);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t c, const cudnnFilterDescriptor_t dw, const int requested,
    int *returned, cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    Shape s;
    if (!h || !shape_of(x, dw, c, dy, &s)) return CUDNN_STATUS_BAD_PARAM;
    return rank2(requested, returned, perf, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, false,
                 CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, (size_t)0);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
    const cudnnConvolutionDescriptor_t c, const cudnnTensorDescriptor_t y,
    cudnnConvolutionFwdAlgo_t algo, size_t *bytes) {
    Shape s;
    if (!h || !bytes || !shape_of(x, w, c, y, &s)) return CUDNN_STATUS_BAD_PARAM;
    *bytes = fwd_workspace(s, algo);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(
    cudnnHandle_t h, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t c, const cudnnTensorDescriptor_t dx,
    cudnnConvolutionBwdDataAlgo_t algo, size_t *bytes) {
    Shape s;
    (void)algo;
    if (!h || !bytes || !shape_of(dx, w, c, dy, &s)) return CUDNN_STATUS_BAD_PARAM;
    *bytes = 0;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t c, const cudnnFilterDescriptor_t dw,
    cudnnConvolutionBwdFilterAlgo_t algo, size_t *bytes) {
    Shape s;
    (void)algo;
    if (!h || !bytes || !shape_of(x, dw, c, dy, &s)) return CUDNN_STATUS_BAD_PARAM;
    *bytes = 0;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha,
                                      const cudnnTensorDescriptor_t xd, const void *x,
                                      const cudnnFilterDescriptor_t wd, const void *w,
                                      const cudnnConvolutionDescriptor_t c,
                                      cudnnConvolutionFwdAlgo_t algo, void *ws, size_t ws_bytes,
                                      const void *beta, const cudnnTensorDescriptor_t yd,
                                      void *y) {
    Shape s;
    if (!h || !shape_of(xd, wd, c, yd, &s) || !buffers_ok(s, x, w, y)) return CUDNN_STATUS_BAD_PARAM;
    if (algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM &&
        algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
        return CUDNN_STATUS_NOT_SUPPORTED;
    const char *broken = getenv("CTRAIN_CUDA_EMU_CUDNN_BROKEN"); /* as on a GPU it cannot run on */
    if (broken && strcmp(broken, "1") == 0) return CUDNN_STATUS_EXECUTION_FAILED;
    if (!workspace_ok(ws, ws_bytes, fwd_workspace(s, algo))) return CUDNN_STATUS_BAD_PARAM;
    float al = *(const float *)alpha, be = *(const float *)beta; /* read at the call */
    const float *X = (const float *)x, *W = (const float *)w;
    float *Y = (float *)y;
    ct_emu_enqueue(h->stream, [=]() {
        const Shape q = s.group(); /* group gi: its channels' planes, its filters' rows */
        std::vector<float> cols(q.K() * q.P());
        for (int j = 0; j < s.n; j++)
            for (int gi = 0; gi < s.g; gi++) {
                im2col(q, X + ((size_t)j * s.c + (size_t)gi * q.c) * s.h * s.w, cols.data());
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q.k, (int)q.P(),
                            (int)q.K(), al, W + (size_t)gi * q.k * q.K(), (int)q.K(), cols.data(),
                            (int)q.P(), be, Y + ((size_t)j * s.k + (size_t)gi * q.k) * s.P(),
                            (int)q.P());
            }
    });
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha,
                                           const cudnnFilterDescriptor_t wd, const void *w,
                                           const cudnnTensorDescriptor_t dyd, const void *dy,
                                           const cudnnConvolutionDescriptor_t c,
                                           cudnnConvolutionBwdDataAlgo_t algo, void *ws,
                                           size_t ws_bytes, const void *beta,
                                           const cudnnTensorDescriptor_t dxd, void *dx) {
    Shape s;
    if (!h || !shape_of(dxd, wd, c, dyd, &s) || !buffers_ok(s, dx, w, dy))
        return CUDNN_STATUS_BAD_PARAM;
    if (algo != CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 && algo != CUDNN_CONVOLUTION_BWD_DATA_ALGO_1)
        return CUDNN_STATUS_NOT_SUPPORTED;
    if (!workspace_ok(ws, ws_bytes, 0)) return CUDNN_STATUS_BAD_PARAM;
    float al = *(const float *)alpha, be = *(const float *)beta;
    const float *W = (const float *)w, *DY = (const float *)dy;
    float *DX = (float *)dx;
    ct_emu_enqueue(h->stream, [=]() {
        const Shape q = s.group();
        std::vector<float> cols(q.K() * q.P()), img((size_t)q.c * s.h * s.w);
        for (int j = 0; j < s.n; j++)
            for (int gi = 0; gi < s.g; gi++) {
                /* cols (K/g, P) = W_gi^T (K/g, k/g) . dy_j's group gi (k/g, P) */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)q.K(), (int)q.P(), q.k,
                            1.0f, W + (size_t)gi * q.k * q.K(), (int)q.K(),
                            DY + ((size_t)j * s.k + (size_t)gi * q.k) * s.P(), (int)q.P(), 0.0f,
                            cols.data(), (int)q.P());
                std::fill(img.begin(), img.end(), 0.0f);
                col2im_add(q, cols.data(), img.data());
                float *out = DX + ((size_t)j * s.c + (size_t)gi * q.c) * s.h * s.w;
                for (size_t i = 0; i < img.size(); i++)
                    out[i] = be == 0.0f ? al * img[i] : al * img[i] + be * out[i];
            }
    });
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha,
                                             const cudnnTensorDescriptor_t xd, const void *x,
                                             const cudnnTensorDescriptor_t dyd, const void *dy,
                                             const cudnnConvolutionDescriptor_t c,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void *ws,
                                             size_t ws_bytes, const void *beta,
                                             const cudnnFilterDescriptor_t dwd, void *dw) {
    Shape s;
    if (!h || !shape_of(xd, dwd, c, dyd, &s) || !buffers_ok(s, x, dw, dy))
        return CUDNN_STATUS_BAD_PARAM;
    if (algo != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 && algo != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1)
        return CUDNN_STATUS_NOT_SUPPORTED;
    if (!workspace_ok(ws, ws_bytes, 0)) return CUDNN_STATUS_BAD_PARAM;
    float al = *(const float *)alpha, be = *(const float *)beta;
    const float *X = (const float *)x, *DY = (const float *)dy;
    float *DW = (float *)dw;
    ct_emu_enqueue(h->stream, [=]() {
        const Shape q = s.group();
        std::vector<float> cols(q.K() * q.P());
        for (int j = 0; j < s.n; j++)
            for (int gi = 0; gi < s.g; gi++) {
                im2col(q, X + ((size_t)j * s.c + (size_t)gi * q.c) * s.h * s.w, cols.data());
                /* dW_gi (k/g, K/g) = al * sum_j dy_j's group gi . cols^T + be * dW_gi */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q.k, (int)q.K(), (int)q.P(),
                            al, DY + ((size_t)j * s.k + (size_t)gi * q.k) * s.P(), (int)q.P(),
                            cols.data(), (int)q.P(), j == 0 ? be : 1.0f,
                            DW + (size_t)gi * q.k * q.K(), (int)q.K());
            }
    });
    return CUDNN_STATUS_SUCCESS;
}

/* C = alpha * A + beta * C, A broadcast over C where its dimensions are 1 */
cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t ad,
                             const void *A, const void *beta, const cudnnTensorDescriptor_t cd,
                             void *C) {
    if (!h || !ad || !cd || !ad->set || !cd->set) return CUDNN_STATUS_BAD_PARAM;
    const ct_emu_dnn_tensor a = *ad, c = *cd;
    if ((a.n != 1 && a.n != c.n) || (a.c != 1 && a.c != c.c) || (a.h != 1 && a.h != c.h) ||
        (a.w != 1 && a.w != c.w))
        return CUDNN_STATUS_BAD_PARAM;
    size_t an = (size_t)a.n * a.c * a.h * a.w, cn = (size_t)c.n * c.c * c.h * c.w;
    if (!ct_emu_in_device(A, an * 4) || !ct_emu_in_device(C, cn * 4)) return CUDNN_STATUS_BAD_PARAM;
    float al = *(const float *)alpha, be = *(const float *)beta;
    const float *Av = (const float *)A;
    float *Cv = (float *)C;
    ct_emu_enqueue(h->stream, [=]() {
        for (int n = 0; n < c.n; n++)
            for (int ch = 0; ch < c.c; ch++)
                for (int y = 0; y < c.h; y++)
                    for (int x = 0; x < c.w; x++) {
                        size_t ci = (((size_t)n * c.c + ch) * c.h + y) * c.w + x;
                        size_t ai = (((size_t)(a.n == 1 ? 0 : n) * a.c + (a.c == 1 ? 0 : ch)) *
                                         a.h + (a.h == 1 ? 0 : y)) * a.w + (a.w == 1 ? 0 : x);
                        Cv[ci] = al * Av[ai] + be * Cv[ci];
                    }
    });
    return CUDNN_STATUS_SUCCESS;
}
