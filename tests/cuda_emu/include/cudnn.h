/*
 * cudnn.h — the CUDA emulator's stand-in for cuDNN (tests/cuda_emu): the legacy convolution API
 * that cuda_dnn.cu calls, with cuDNN's names, types and values. The functions are in
 * libctrain_cuda_emu.so itself (emu_cudnn.cpp), which cuda_dnn.cu loads in place of
 * libcudnn.so.9 (CT_CUDNN_SONAME).
 */
#ifndef CT_EMU_CUDNN_H
#define CT_EMU_CUDNN_H

#include "cuda_runtime.h"

typedef enum {
    CUDNN_STATUS_SUCCESS = 0,
    CUDNN_STATUS_NOT_INITIALIZED = 1001,
    CUDNN_STATUS_BAD_PARAM = 2000,
    CUDNN_STATUS_NOT_SUPPORTED = 3000,
    CUDNN_STATUS_INTERNAL_ERROR = 4000,
    CUDNN_STATUS_EXECUTION_FAILED = 5000,
} cudnnStatus_t;
typedef enum { CUDNN_DATA_FLOAT = 0 } cudnnDataType_t;
typedef enum { CUDNN_TENSOR_NCHW = 0 } cudnnTensorFormat_t;
typedef enum { CUDNN_CONVOLUTION = 0, CUDNN_CROSS_CORRELATION = 1 } cudnnConvolutionMode_t;
typedef enum {
    CUDNN_DEFAULT_MATH = 0,
    CUDNN_TENSOR_OP_MATH = 1,
    CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
    CUDNN_FMA_MATH = 3,
} cudnnMathType_t;
typedef enum { CUDNN_NON_DETERMINISTIC = 0, CUDNN_DETERMINISTIC = 1 } cudnnDeterminism_t;
typedef enum {
    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM = 0,
    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM = 1,
    CUDNN_CONVOLUTION_FWD_ALGO_GEMM = 2,
} cudnnConvolutionFwdAlgo_t;
typedef enum {
    CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 = 0, /* non-deterministic */
    CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 = 1,
} cudnnConvolutionBwdDataAlgo_t;
typedef enum {
    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 = 0, /* non-deterministic */
    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 = 1,
} cudnnConvolutionBwdFilterAlgo_t;

#define CT_EMU_DNN_PERF(name, algo_t)                                                           \
    typedef struct {                                                                           \
        algo_t algo;                                                                           \
        cudnnStatus_t status;                                                                  \
        float time;                                                                            \
        size_t memory;                                                                         \
        cudnnDeterminism_t determinism;                                                        \
        cudnnMathType_t mathType;                                                              \
        int reserved[3];                                                                       \
    } name
CT_EMU_DNN_PERF(cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t);
CT_EMU_DNN_PERF(cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t);
CT_EMU_DNN_PERF(cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t);
#undef CT_EMU_DNN_PERF

typedef struct ct_emu_dnn_handle *cudnnHandle_t;
typedef struct ct_emu_dnn_tensor *cudnnTensorDescriptor_t;
typedef struct ct_emu_dnn_tensor *cudnnFilterDescriptor_t; /* (k, c, h, w) as (n, c, h, w) */
typedef struct ct_emu_dnn_conv *cudnnConvolutionDescriptor_t;

#define CT_EMU_DNN_API extern "C" __attribute__((visibility("default")))
CT_EMU_DNN_API size_t cudnnGetVersion(void);
CT_EMU_DNN_API const char *cudnnGetErrorString(cudnnStatus_t s);
CT_EMU_DNN_API cudnnStatus_t cudnnCreate(cudnnHandle_t *h);
CT_EMU_DNN_API cudnnStatus_t cudnnDestroy(cudnnHandle_t h);
CT_EMU_DNN_API cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s);
CT_EMU_DNN_API cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *t);
CT_EMU_DNN_API cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t t,
                                                        cudnnTensorFormat_t f, cudnnDataType_t dt,
                                                        int n, int c, int h, int w);
CT_EMU_DNN_API cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t t);
CT_EMU_DNN_API cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *f);
CT_EMU_DNN_API cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t f,
                                                        cudnnDataType_t dt, cudnnTensorFormat_t fm,
                                                        int k, int c, int h, int w);
CT_EMU_DNN_API cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t f);
CT_EMU_DNN_API cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *c);
CT_EMU_DNN_API cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t c,
                                                             int pad_h, int pad_w, int u, int v,
                                                             int dil_h, int dil_w,
                                                             cudnnConvolutionMode_t mode,
                                                             cudnnDataType_t compute);
CT_EMU_DNN_API cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t c,
                                                            int groups);
CT_EMU_DNN_API cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t c,
                                                         cudnnMathType_t m);
CT_EMU_DNN_API cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t c);
CT_EMU_DNN_API cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
    const cudnnConvolutionDescriptor_t c, const cudnnTensorDescriptor_t y, const int requested,
    int *returned, cudnnConvolutionFwdAlgoPerf_t *perf);
CT_EMU_DNN_API cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t h, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t c, const cudnnTensorDescriptor_t dx, const int requested,
    int *returned, cudnnConvolutionBwdDataAlgoPerf_t *perf);
CT_EMU_DNN_API cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t c, const cudnnFilterDescriptor_t dw, const int requested,
    int *returned, cudnnConvolutionBwdFilterAlgoPerf_t *perf);
CT_EMU_DNN_API cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
    const cudnnConvolutionDescriptor_t c, const cudnnTensorDescriptor_t y,
    cudnnConvolutionFwdAlgo_t algo, size_t *bytes);
CT_EMU_DNN_API cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(
    cudnnHandle_t h, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t c, const cudnnTensorDescriptor_t dx,
    cudnnConvolutionBwdDataAlgo_t algo, size_t *bytes);
CT_EMU_DNN_API cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t c, const cudnnFilterDescriptor_t dw,
    cudnnConvolutionBwdFilterAlgo_t algo, size_t *bytes);
CT_EMU_DNN_API cudnnStatus_t cudnnConvolutionForward(
    cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t xd, const void *x,
    const cudnnFilterDescriptor_t wd, const void *w, const cudnnConvolutionDescriptor_t c,
    cudnnConvolutionFwdAlgo_t algo, void *ws, size_t ws_bytes, const void *beta,
    const cudnnTensorDescriptor_t yd, void *y);
CT_EMU_DNN_API cudnnStatus_t cudnnConvolutionBackwardData(
    cudnnHandle_t h, const void *alpha, const cudnnFilterDescriptor_t wd, const void *w,
    const cudnnTensorDescriptor_t dyd, const void *dy, const cudnnConvolutionDescriptor_t c,
    cudnnConvolutionBwdDataAlgo_t algo, void *ws, size_t ws_bytes, const void *beta,
    const cudnnTensorDescriptor_t dxd, void *dx);
CT_EMU_DNN_API cudnnStatus_t cudnnConvolutionBackwardFilter(
    cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t xd, const void *x,
    const cudnnTensorDescriptor_t dyd, const void *dy, const cudnnConvolutionDescriptor_t c,
    cudnnConvolutionBwdFilterAlgo_t algo, void *ws, size_t ws_bytes, const void *beta,
    const cudnnFilterDescriptor_t dwd, void *dw);
CT_EMU_DNN_API cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void *alpha,
                                            const cudnnTensorDescriptor_t ad, const void *A,
                                            const void *beta, const cudnnTensorDescriptor_t cd,
                                            void *C);

#endif /* CT_EMU_CUDNN_H */
