/*
 * nccl.h — the CUDA emulator's stand-in for NCCL (tests/cuda_emu): what cuda_coll.cu calls. The
 * functions are in libctrain_cuda_emu.so itself (emu_nccl.cpp), which cuda_coll.cu loads in
 * place of libnccl.so.2 (CT_NCCL_SONAME).
 */
#ifndef CT_EMU_NCCL_H
#define CT_EMU_NCCL_H

#include "cuda_runtime.h"

typedef enum {
    ncclSuccess = 0,
    ncclUnhandledCudaError = 1,
    ncclSystemError = 2,
    ncclInternalError = 3,
    ncclInvalidArgument = 4,
    ncclInvalidUsage = 5,
    ncclRemoteError = 6,
    ncclInProgress = 7,
} ncclResult_t;
typedef enum { ncclFloat32 = 7 } ncclDataType_t;
typedef enum { ncclSum = 0 } ncclRedOp_t;
#define NCCL_UNIQUE_ID_BYTES 128
typedef struct {
    char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;
typedef struct ct_emu_nccl_comm *ncclComm_t;

#define CT_EMU_NCCL_API extern "C" __attribute__((visibility("default")))
CT_EMU_NCCL_API ncclResult_t ncclGetVersion(int *version);
CT_EMU_NCCL_API ncclResult_t ncclGetUniqueId(ncclUniqueId *id);
CT_EMU_NCCL_API ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id,
                                              int rank);
CT_EMU_NCCL_API ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count,
                                           ncclDataType_t type, ncclRedOp_t op, ncclComm_t comm,
                                           cudaStream_t stream);
CT_EMU_NCCL_API ncclResult_t ncclCommDestroy(ncclComm_t comm);
CT_EMU_NCCL_API ncclResult_t ncclCommAbort(ncclComm_t comm);
CT_EMU_NCCL_API ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *async_error);
CT_EMU_NCCL_API const char *ncclGetErrorString(ncclResult_t r);

#endif /* CT_EMU_NCCL_H */
