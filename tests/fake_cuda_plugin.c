/*
 * fake_cuda_plugin.c — a CUDA plugin of another build of ctrain, for tests/cli_cuda_emu.sh: its
 * three entry points, its op table a pointer larger than this build's, so that the loader
 * (src/backend/registry.c) must refuse it rather than call it.
 */
#include "backend/backend.h"

__attribute__((visibility("default"))) ct_status ct_cuda_backend_open(int device,
                                                                      ct_backend **out) {
    (void)device;
    *out = NULL;
    return CT_ERR_DEVICE;
}

__attribute__((visibility("default"))) int ct_cuda_list_devices(char *buf, size_t buf_bytes) {
    if (buf && buf_bytes) buf[0] = 0;
    return 1;
}

__attribute__((visibility("default"))) size_t ct_cuda_backend_bytes(void) {
    return sizeof(ct_backend) + sizeof(void *);
}
