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

/* Writes bytes to a fresh file in a per-process temporary folder; returns its path (static
 * storage, valid until the next call with the same slot 0..7). */
const char *tu_write_file(int slot, const char *name, const void *bytes, size_t n);
/* The per-process temporary folder (created on first use, removed at exit). */
const char *tu_tmpdir(void);
/* The MNIST folder (CTRAIN_DATA or ~/.cache/ctrain/mnist) if its four files are there, else
 * NULL after printing "SKIP <test>: <why>". */
const char *tu_mnist_dir(const char *test);
/* Prints "SKIP name: why" and tells cmocka the test was skipped. */
#define TU_SKIP(name, ...) do { printf("SKIP %s: ", name); printf(__VA_ARGS__); printf("\n"); skip(); } while (0)

#endif
