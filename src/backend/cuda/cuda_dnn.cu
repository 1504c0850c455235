/*
 * cuda_dnn.cu — convolutions through cuDNN, where it is found (issue 3: "cuDNN where it is the
 * better choice"; PyTorch's Conv2d runs on it too).
 *
 * - cuDNN is loaded with dlopen when the backend opens, not linked: a machine without
 *   libcudnn.so.9 still trains, its convolutions by im2col and cuBLAS (cuda_nn.cu), and the
 *   device line says why; so does one where a test convolution on it fails. CTRAIN_CUDNN=0
 *   chooses im2col too (to compare the two).
 * - One plan per convolution shape (the batch aside), made when the layer asks for its
 *   workspace (conv2d_workspace, at model creation: outside any recorded graph). Its three
 *   algorithms are cuDNN's heuristic choices among those that are deterministic (the same
 *   numbers on every run, as the rest of ctrain), plain FP32 (no TF32 tensor-core math: the
 *   results must agree with the CPU's) and need at most the larger of im2col's workspace and
 *   1 GiB (a sixteenth of a smaller GPU's memory) at the model's largest batch. The layer's
 *   workspace is then the larger of im2col's and the plan's, so either path can run any call.
 *   (Held to im2col's 256 MB, cuDNN 9.14 on an H200 had only its slower algorithms for the
 *   cnn preset's 32->64 layer at batch 1024; PyTorch's deterministic mode, unbounded, takes
 *   FFT ones.) A shape with no such algorithm keeps im2col, as does every shape once the table
 *   is full, and so does a call whose workspace is too small for the plan at its batch.
 * - The ops are the legacy convolution API (cudnnConvolutionForward and its two backward
 *   passes), queued on the compute stream like every other op: no allocation or host
 *   synchronisation, so they are recorded into CUDA graphs like the rest of a step.
 */
#include "backend/cuda/cuda_internal.h"

#include <cudnn.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CT_CUDNN_SONAME
#define CT_CUDNN_SONAME "libcudnn.so.9"
#endif
#define CT_DNN_PLANS 128 /* (distinct conv shapes: a model's first 128 get plans) */

typedef struct {
    ct_conv2d_desc shape; /* n = 0 */
    int ok;               /* cuDNN has algorithms for it (else: im2col) */
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int n;                /* the batch x and y describe now (-1: none) */
    size_t ws_bytes;      /* the workspace the algorithms need for it (when ok) */
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
} dnn_plan;

/* The cuDNN functions we call, resolved from CT_CUDNN_SONAME (fields named as the functions). */
#define DNN_FUNCTIONS(X)                                                                       \
    X(cudnnGetVersion) X(cudnnGetErrorString) X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream)  \
    X(cudnnCreateTensorDescriptor) X(cudnnSetTensor4dDescriptor)                               \
    X(cudnnDestroyTensorDescriptor) X(cudnnCreateFilterDescriptor)                             \
    X(cudnnSetFilter4dDescriptor) X(cudnnDestroyFilterDescriptor)                              \
    X(cudnnCreateConvolutionDescriptor) X(cudnnSetConvolution2dDescriptor)                     \
    X(cudnnSetConvolutionMathType) X(cudnnSetConvolutionGroupCount)                            \
    X(cudnnDestroyConvolutionDescriptor)                                                       \
    X(cudnnGetConvolutionForwardAlgorithm_v7) X(cudnnGetConvolutionBackwardDataAlgorithm_v7)   \
    X(cudnnGetConvolutionBackwardFilterAlgorithm_v7) X(cudnnGetConvolutionForwardWorkspaceSize) \
    X(cudnnGetConvolutionBackwardDataWorkspaceSize)                                            \
    X(cudnnGetConvolutionBackwardFilterWorkspaceSize) X(cudnnConvolutionForward)               \
    X(cudnnConvolutionBackwardData) X(cudnnConvolutionBackwardFilter) X(cudnnAddTensor)
#define DNN_TYPE(name) typedef decltype(&name) name##_fn;
DNN_FUNCTIONS(DNN_TYPE)
#undef DNN_TYPE

typedef struct {
    void *lib;
#define DNN_FIELD(name) name##_fn name;
    DNN_FUNCTIONS(DNN_FIELD)
#undef DNN_FIELD
    cudnnHandle_t h;
    dnn_plan plans[CT_DNN_PLANS];
    int n_plans;
} dnn_api;

static ct_status dnn_fail(dnn_api *a, cudnnStatus_t s, const char *file, int line,
                          const char *call) {
    return ct_fail(CT_ERR_DEVICE, "%s:%d: %s failed: %s (cuDNN status %d; hint: CTRAIN_CUDNN=0 "
                   "runs convolutions by im2col and cuBLAS instead)", file, line, call,
                   a->cudnnGetErrorString(s), (int)s);
}
#define DNN_CHECK(a, call)                                                                     \
    do {                                                                                       \
        cudnnStatus_t ct_dnn_s_ = (a)->call;                                                   \
        if (ct_dnn_s_ != CUDNN_STATUS_SUCCESS) return dnn_fail(a, ct_dnn_s_, __FILE__, __LINE__, #call); \
    } while (0)

static int same_shape(const ct_conv2d_desc *a, const ct_conv2d_desc *b) {
    /* field by field, not memcmp: the struct has padding (before ws_bytes) that designated
     * initializers leave as whatever the stack held, so equal shapes compared unequal and most
     * calls fell back to im2col (found in review: 2 of 10 forwards on cuDNN). The batch, the
     * fused ReLU (run after cuDNN's convolution) and the workspace are not the shape. */
    return a->c == b->c && a->h == b->h && a->w == b->w && a->oc == b->oc && a->kh == b->kh &&
           a->kw == b->kw && a->stride_h == b->stride_h && a->stride_w == b->stride_w &&
           a->pad_h == b->pad_h && a->pad_w == b->pad_w && a->oh == b->oh && a->ow == b->ow &&
           ct_conv_groups(a) == ct_conv_groups(b);
}

/* x and y for a batch of n, and (with its algorithms) the workspace they need: host-only
 * calls, allowed while a graph records */
static ct_status plan_batch(dnn_api *a, dnn_plan *p, int n) {
    if (p->n == n) return CT_OK;
    p->n = -1;
    const ct_conv2d_desc *d = &p->shape;
    DNN_CHECK(a, cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, d->c,
                                            d->h, d->w));
    DNN_CHECK(a, cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, d->oc,
                                            d->oh, d->ow));
    if (p->ok) {
        size_t f = 0, bd = 0, bf = 0;
        DNN_CHECK(a, cudnnGetConvolutionForwardWorkspaceSize(a->h, p->x, p->w, p->conv, p->y,
                                                             p->fwd, &f));
        DNN_CHECK(a, cudnnGetConvolutionBackwardDataWorkspaceSize(a->h, p->w, p->y, p->conv, p->x,
                                                                  p->bwd_data, &bd));
        DNN_CHECK(a, cudnnGetConvolutionBackwardFilterWorkspaceSize(a->h, p->x, p->y, p->conv,
                                                                    p->w, p->bwd_filter, &bf));
        p->ws_bytes = f > bd ? f : bd;
        if (bf > p->ws_bytes) p->ws_bytes = bf;
    }
    p->n = n;
    return CT_OK;
}

/* p's descriptors for d's shape (no algorithms yet: p->ok = 0) */
static ct_status plan_describe(dnn_api *a, const ct_conv2d_desc *d, dnn_plan *p) {
    memset(p, 0, sizeof *p);
    p->shape = *d;
    p->shape.n = 0;
    p->n = -1;
    DNN_CHECK(a, cudnnCreateTensorDescriptor(&p->x));
    DNN_CHECK(a, cudnnCreateTensorDescriptor(&p->y));
    DNN_CHECK(a, cudnnCreateTensorDescriptor(&p->bias));
    DNN_CHECK(a, cudnnCreateFilterDescriptor(&p->w));
    DNN_CHECK(a, cudnnCreateConvolutionDescriptor(&p->conv));
    DNN_CHECK(a, cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                            d->oc, 1, 1));
    DNN_CHECK(a, cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->oc,
                                            d->c / ct_conv_groups(d), d->kh, d->kw));
    /* torch.nn.Conv2d is a cross-correlation; FP32 accumulation; no tensor-core math */
    DNN_CHECK(a, cudnnSetConvolution2dDescriptor(p->conv, d->pad_h, d->pad_w, d->stride_h,
                                                 d->stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                                 CUDNN_DATA_FLOAT));
    DNN_CHECK(a, cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
    DNN_CHECK(a, cudnnSetConvolutionGroupCount(p->conv, ct_conv_groups(d)));
    return CT_OK;
}

static void plan_release(dnn_api *a, dnn_plan *p) {
    if (p->x) (void)a->cudnnDestroyTensorDescriptor(p->x);
    if (p->y) (void)a->cudnnDestroyTensorDescriptor(p->y);
    if (p->bias) (void)a->cudnnDestroyTensorDescriptor(p->bias);
    if (p->w) (void)a->cudnnDestroyFilterDescriptor(p->w);
    if (p->conv) (void)a->cudnnDestroyConvolutionDescriptor(p->conv);
    memset(p, 0, sizeof *p);
}

/* The first of cuDNN's ranked algorithms that runs, is deterministic, is plain FP32 and needs
 * at most ws bytes; -1 when none. (CUDNN_DEFAULT_MATH may mean TF32 on its own, but what runs
 * is the descriptor's math type, CUDNN_FMA_MATH; tensor-op entries are refused outright.) */
template <typename Perf> static int pick(const Perf *perf, int count, size_t ws) {
    for (int i = 0; i < count; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
            (perf[i].mathType == CUDNN_DEFAULT_MATH || perf[i].mathType == CUDNN_FMA_MATH) &&
            perf[i].memory <= ws)
            return (int)perf[i].algo;
    return -1;
}

/* Makes the plan of d's shape with at most ws bytes of workspace at d->n: descriptors and
 * algorithms; p->ok = 0 when cuDNN has none. */
static ct_status plan_make(dnn_api *a, const ct_conv2d_desc *d, size_t ws, dnn_plan *p) {
    CT_TRY(plan_describe(a, d, p));
    CT_TRY(plan_batch(a, p, d->n > 0 ? d->n : 1));
    enum { K = 16 };
    int got = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[K];
    cudnnConvolutionBwdDataAlgoPerf_t bwd_data[K];
    cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[K];
    DNN_CHECK(a, cudnnGetConvolutionForwardAlgorithm_v7(a->h, p->x, p->w, p->conv, p->y, K, &got,
                                                        fwd));
    int f = pick(fwd, got, ws);
    DNN_CHECK(a, cudnnGetConvolutionBackwardDataAlgorithm_v7(a->h, p->w, p->y, p->conv, p->x, K,
                                                             &got, bwd_data));
    int bd = pick(bwd_data, got, ws);
    DNN_CHECK(a, cudnnGetConvolutionBackwardFilterAlgorithm_v7(a->h, p->x, p->y, p->conv, p->w,
                                                               K, &got, bwd_filter));
    int bf = pick(bwd_filter, got, ws);
    p->fwd = (cudnnConvolutionFwdAlgo_t)f;
    p->bwd_data = (cudnnConvolutionBwdDataAlgo_t)bd;
    p->bwd_filter = (cudnnConvolutionBwdFilterAlgo_t)bf;
    p->ok = f >= 0 && bd >= 0 && bf >= 0;
    p->n = -1;
    return plan_batch(a, p, d->n > 0 ? d->n : 1); /* its workspace */
}

/* A convolution of 3x3 ones over a 4x4 image of ones on the compute stream (IMPLICIT_GEMM:
 * every shape, no workspace) must give 9s: cuDNN loads on machines where it cannot run (a
 * driver too old for it, a GPU it was not built for), and then im2col is the better choice. */
static ct_status dnn_probe(dnn_api *a, ct_cuda *cb) {
    /* n c h w, oc kh kw, strides, pads, out 2x2, groups 1, no ReLU, workspace */
    const ct_conv2d_desc d = {1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 2, 2, 1, 0, 0};
    float host[16], *dev = NULL; /* x (16), w (9), y (4) */
    for (int i = 0; i < 16; i++) host[i] = 1.0f;
    dnn_plan p;
    ct_status st = plan_describe(a, &d, &p);
    if (st == CT_OK) st = plan_batch(a, &p, 1);
    cudaError_t e = st == CT_OK ? cudaMalloc((void **)&dev, 29 * sizeof(float)) : cudaSuccess;
    if (st == CT_OK && e == cudaSuccess)
        e = cudaMemcpyAsync(dev, host, 16 * sizeof(float), cudaMemcpyHostToDevice, cb->compute);
    if (st == CT_OK && e == cudaSuccess)
        e = cudaMemcpyAsync(dev + 16, host, 9 * sizeof(float), cudaMemcpyHostToDevice, cb->compute);
    if (st == CT_OK && e == cudaSuccess) {
        const float one = 1.0f, zero = 0.0f;
        cudnnStatus_t r = a->cudnnConvolutionForward(a->h, &one, p.x, dev, p.w, dev + 16, p.conv,
                                                     CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                                     NULL, 0, &zero, p.y, dev + 25);
        if (r != CUDNN_STATUS_SUCCESS)
            st = ct_fail(CT_ERR_DEVICE, "a test convolution: %s", a->cudnnGetErrorString(r));
    }
    if (st == CT_OK && e == cudaSuccess)
        e = cudaMemcpyAsync(host, dev + 25, 4 * sizeof(float), cudaMemcpyDeviceToHost, cb->compute);
    if (st == CT_OK && e == cudaSuccess) e = cudaStreamSynchronize(cb->compute);
    if (st == CT_OK && e != cudaSuccess)
        st = ct_fail(CT_ERR_DEVICE, "a test convolution: %s", cudaGetErrorName(e));
    if (st == CT_OK && (host[0] != 9.0f || host[1] != 9.0f || host[2] != 9.0f || host[3] != 9.0f))
        st = ct_fail(CT_ERR_DEVICE, "a test convolution gave %g, %g, %g, %g instead of 9s",
                     (double)host[0], (double)host[1], (double)host[2], (double)host[3]);
    if (dev) (void)cudaFree(dev);
    (void)cudaGetLastError(); /* a failed probe leaves nothing behind for later checks */
    plan_release(a, &p);
    return st;
}

/* Loads cuDNN and binds a handle to the compute stream; on failure says why in why[] and
 * leaves cb->dnn NULL (convolutions then run by im2col): never an error of the backend. */
void ct_cuda_dnn_open(ct_cuda *cb, char *why, size_t why_len) {
    why[0] = 0;
    const char *env = getenv("CTRAIN_CUDNN");
    if (env && strcmp(env, "0") == 0) {
        snprintf(why, why_len, "CTRAIN_CUDNN=0");
        return;
    }
    void *lib = dlopen(CT_CUDNN_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(why, why_len, "%s", dlerror());
        return;
    }
    dnn_api *a = (dnn_api *)calloc(1, sizeof *a);
    if (!a) {
        dlclose(lib);
        snprintf(why, why_len, "out of memory");
        return;
    }
    a->lib = lib;
    const char *missing = NULL;
#define DNN_SYM(name)                                                                          \
    if (!missing && !(a->name = (name##_fn)dlsym(lib, #name))) missing = #name;
    DNN_FUNCTIONS(DNN_SYM)
#undef DNN_SYM
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    if (missing) snprintf(why, why_len, CT_CUDNN_SONAME " lacks %s", missing);
    else if ((s = a->cudnnCreate(&a->h)) != CUDNN_STATUS_SUCCESS)
        snprintf(why, why_len, "cudnnCreate failed: %s", a->cudnnGetErrorString(s));
    else if ((s = a->cudnnSetStream(a->h, cb->compute)) != CUDNN_STATUS_SUCCESS)
        snprintf(why, why_len, "cudnnSetStream failed: %s", a->cudnnGetErrorString(s));
    if (!why[0] && dnn_probe(a, cb) != CT_OK)
        snprintf(why, why_len, "it fails here, %s", ct_last_error());
    if (why[0]) {
        if (a->h) (void)a->cudnnDestroy(a->h); /* then the library stays (see the free) */
        else dlclose(lib);
        free(a);
        return;
    }
    size_t v = a->cudnnGetVersion(); /* major*10000 + minor*100 + patch since cuDNN 9 */
    snprintf(cb->dnn_name, sizeof cb->dnn_name, "cuDNN %d.%d.%d", (int)(v / 10000),
             (int)(v / 100 % 100), (int)(v % 100));
    cb->dnn = a;
}

void ct_cuda_dnn_free(ct_cuda *cb) {
    dnn_api *a = (dnn_api *)cb->dnn;
    if (!a) return;
    for (int i = 0; i < a->n_plans; i++) plan_release(a, &a->plans[i]);
    (void)a->cudnnDestroy(a->h);
    free(a); /* the library stays loaded: its threads and CUDA modules may outlive the handle */
    cb->dnn = NULL;
}

/* d's plan, when cuDNN has one for its shape; NULL: im2col for d */
static dnn_plan *plan_of(ct_cuda *cb, const ct_conv2d_desc *d) {
    dnn_api *a = (dnn_api *)cb->dnn;
    if (!a) return NULL;
    for (int i = 0; i < a->n_plans; i++)
        if (same_shape(&a->plans[i].shape, d)) return a->plans[i].ok ? &a->plans[i] : NULL;
    return NULL;
}

size_t ct_cuda_dnn_plan(ct_cuda *cb, const ct_conv2d_desc *d, size_t ws) {
    dnn_api *a = (dnn_api *)cb->dnn;
    if (!a) return 0;
    dnn_plan *p = NULL;
    for (int i = 0; i < a->n_plans && !p; i++)
        if (same_shape(&a->plans[i].shape, d)) p = &a->plans[i]; /* made for the first batch asked */
    if (!p) {
        if (a->n_plans == CT_DNN_PLANS) return 0;
        p = &a->plans[a->n_plans++]; /* kept even when it fails: its descriptors are freed */
        if (plan_make(a, d, ws, p) != CT_OK) p->ok = 0;
    }
    return p->ok && plan_batch(a, p, d->n > 0 ? d->n : 1) == CT_OK ? p->ws_bytes : 0;
}

int ct_cuda_dnn_planned(ct_cuda *cb, const ct_conv2d_desc *d, size_t ws) {
    dnn_plan *p = plan_of(cb, d);
    return p && plan_batch((dnn_api *)cb->dnn, p, d->n) == CT_OK && p->ws_bytes <= ws;
}

/* The three ops run only after ct_cuda_dnn_planned said yes for d (p->n is d->n). */
ct_status ct_cuda_dnn_forward(ct_cuda *cb, const ct_conv2d_desc *d, const float *x,
                              const float *weight, const float *bias, float *y, void *ws) {
    dnn_api *a = (dnn_api *)cb->dnn;
    dnn_plan *p = plan_of(cb, d);
    CT_TRY(plan_batch(a, p, d->n));
    size_t ws_bytes = p->ws_bytes;
    const float one = 1.0f, zero = 0.0f;
    DNN_CHECK(a, cudnnConvolutionForward(a->h, &one, p->x, x, p->w, weight, p->conv, p->fwd, ws,
                                         ws_bytes, &zero, p->y, y));
    if (bias) DNN_CHECK(a, cudnnAddTensor(a->h, &one, p->bias, bias, &one, p->y, y));
    return CT_OK;
}

ct_status ct_cuda_dnn_backward_data(ct_cuda *cb, const ct_conv2d_desc *d, const float *dy,
                                    const float *weight, float *dx, void *ws) {
    dnn_api *a = (dnn_api *)cb->dnn;
    dnn_plan *p = plan_of(cb, d);
    CT_TRY(plan_batch(a, p, d->n));
    size_t ws_bytes = p->ws_bytes;
    const float one = 1.0f, zero = 0.0f;
    DNN_CHECK(a, cudnnConvolutionBackwardData(a->h, &one, p->w, weight, p->y, dy, p->conv,
                                              p->bwd_data, ws, ws_bytes, &zero, p->x, dx));
    return CT_OK;
}

ct_status ct_cuda_dnn_backward_filter(ct_cuda *cb, const ct_conv2d_desc *d, const float *x,
                                      const float *dy, float *dweight, void *ws) {
    dnn_api *a = (dnn_api *)cb->dnn;
    dnn_plan *p = plan_of(cb, d);
    CT_TRY(plan_batch(a, p, d->n));
    size_t ws_bytes = p->ws_bytes;
    const float one = 1.0f, zero = 0.0f;
    DNN_CHECK(a, cudnnConvolutionBackwardFilter(a->h, &one, p->x, x, p->y, dy, p->conv,
                                                p->bwd_filter, ws, ws_bytes, &zero, p->w,
                                                dweight));
    return CT_OK;
}
