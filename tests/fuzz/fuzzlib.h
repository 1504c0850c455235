/*
 * fuzzlib.h — what the fuzz targets share (tests/fuzz).
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput: one input, as bytes, through a reader of files
 * that users hand to ctrain (IDX datasets, safetensors checkpoints, images, model specs). Built
 * two ways: with replay.c (gcc, every build) to run the committed corpus as a test, and with
 * clang's libFuzzer (`make fuzz`, CTRAIN_FUZZ=ON) to search for new crashing inputs.
 * The readers take paths, so an input is first written to a file of this process.
 */
#ifndef CT_FUZZLIB_H
#define CT_FUZZLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path_[256];
static inline void fuzz_unlink_(void) { unlink(fuzz_path_); }

/* Writes the input to this process's file (suffix: ".gz", ".png" ... or "", the same at every
 * call), replacing the last input, and returns its path; aborts when it cannot (the harness's
 * fault, not the input's). */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    char *path = fuzz_path_;
    if (!path[0]) { /* created once, exclusively (mkstemps), removed at a normal exit */
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof fuzz_path_, "%s/ctrain-fuzz-XXXXXX%s", dir && *dir ? dir : "/tmp",
                 suffix);
        int fd = mkstemps(path, (int)strlen(suffix));
        if (fd < 0) {
            perror(path);
            abort();
        }
        close(fd);
        atexit(fuzz_unlink_);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* The input as a NUL-terminated string (malloc'd; the caller frees it). */
static inline char *fuzz_string(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* One CPU device (1 thread) for the whole run; aborts when it cannot be opened. */
static inline ct_backend *fuzz_cpu(void) {
    static ct_backend *b;
    if (!b && ct_backend_create("cpu", 1, &b) != CT_OK) {
        fprintf(stderr, "fuzz: cpu: %s\n", ct_last_error());
        abort();
    }
    return b;
}

#endif /* CT_FUZZLIB_H */
