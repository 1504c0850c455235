/*
 * testutil.h — helpers shared by the cmocka tests: temporary files, the data folder, SKIP.
 */
#ifndef CT_TESTUTIL_H
#define CT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctrain.h"
#include "backend/backend.h"

/* Writes bytes to a fresh file in a per-process temporary folder; returns its path (static
 * storage, valid until the next call with the same slot 0..7). */
const char *tu_write_file(int slot, const char *name, const void *bytes, size_t n);
/* The per-process temporary folder (created on first use, removed at exit). */
const char *tu_tmpdir(void);
/* The MNIST folder (CTRAIN_DATA or ~/.cache/ctrain/mnist) if its four files are there, else
 * NULL after printing "SKIP <test>: <why>". */
const char *tu_mnist_dir(const char *test);
/* Fails the test with the library's message when expr is not CT_OK. */
#define OK(expr)                                                                          \
    do {                                                                                  \
        ct_status ok_s_ = (expr);                                                         \
        if (ok_s_ != CT_OK)                                                               \
            fail_msg("%s -> %s: %s", #expr, ct_status_name(ok_s_), ct_last_error());      \
    } while (0)

/* Zeroed host memory (fails the test when out of memory); device buffers through backend b:
 * dalloc (uninitialised), dput (a copy of host[0..bytes)), dget (back to host). */
void *hmalloc(size_t bytes);
void *dalloc(ct_backend *b, size_t bytes);
void *dput(ct_backend *b, const void *host, size_t bytes);
void dget(ct_backend *b, void *host, const void *dev, size_t bytes);

/* Prints "SKIP name: why" and tells cmocka the test was skipped. */
#define TU_SKIP(name, ...) do { printf("SKIP %s: ", name); printf(__VA_ARGS__); printf("\n"); skip(); } while (0)

#endif
