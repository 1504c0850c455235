/*
 * fuzz_idx.c — an IDX file (raw or gzip), as `--dataset idx` and MNIST read it: ct_idx_read
 * with the images' and the labels' magic. Every input must end in CT_OK or an error; a read
 * that succeeds must hold as many bytes as its header says.
 */
#include "fuzzlib.h"

#include "ctrain.h"
#include "data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, "");
    const uint32_t magics[] = {CT_IDX_MAGIC_IMAGES, CT_IDX_MAGIC_LABELS};
    for (int k = 0; k < 2; k++) {
        ct_idx x;
        memset(&x, 0, sizeof x);
        if (ct_idx_read(path, magics[k], &x) != CT_OK) {
            if (!ct_last_error()[0]) abort(); /* a failure always says why */
            continue;
        }
        size_t want = 1;
        for (int d = 0; d < x.ndims; d++) want *= x.dims[d];
        if (want != x.data_bytes) abort();
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < x.data_bytes; i++) sink ^= x.data[i]; /* all of it is readable */
        (void)sink;
        free(x.data);
    }
    return 0;
}
