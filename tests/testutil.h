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
#include "core/core.h"
#include "nn/model.h"

/* Writes bytes to a fresh file in a per-process temporary folder; returns its path (static
 * storage, valid until the next call with the same slot 0..7). */
const char *tu_write_file(int slot, const char *name, const void *bytes, size_t n);
/* The per-process temporary folder (created on first use, removed at exit). */
const char *tu_tmpdir(void);
/* tu_tmpdir()/name, in one of 8 rotating buffers (valid until 8 more calls). */
char *tu_tmp_path(const char *name);
/* The MNIST folder (CTRAIN_DATA or ~/.cache/ctrain/mnist) if its four files are there, else
 * NULL after printing "SKIP <test>: <why>". */
const char *tu_mnist_dir(const char *test);
/* ct_train_config_default's config; with one phase of epochs at lr, under schedule kind. */
ct_train_config tu_train_config(void);
ct_train_config tu_sched_config(ct_schedule_kind kind, int epochs, float lr);
/* Fails the test with the library's message when expr is not CT_OK. */
#define OK(expr)                                                                          \
    do {                                                                                  \
        ct_status ok_s_ = (expr);                                                         \
        if (ok_s_ != CT_OK)                                                               \
            fail_msg("%s -> %s: %s", #expr, ct_status_name(ok_s_), ct_last_error());      \
    } while (0)

/* Zeroed host memory (fails the test when out of memory); device buffers through backend b:
 * dalloc (uninitialised), dput (a copy of host[0..bytes)), dget (back to host), dgarbage (n
 * floats of TU_GARBAGE: an op's output pre-filled, so that "overwrites" is checked too). */
#define TU_GARBAGE 777.0f
void *hmalloc(size_t bytes);
void *dalloc(ct_backend *b, size_t bytes);
void *dput(ct_backend *b, const void *host, size_t bytes);
void dget(ct_backend *b, void *host, const void *dev, size_t bytes);
float *dgarbage(ct_backend *b, size_t n);
/* Rows idx[0..n) of src (rows of row bytes, host memory) gathered on b under the augmentation
 * aug into out and under plain into plain_out (host memory) */
void tu_gather_twice(ct_backend *b, const uint8_t *src, int64_t rows, const int32_t *idx,
                     int64_t n, int64_t row, float scale, const ct_augment *aug,
                     const ct_augment *plain, float *out, float *plain_out);

/* The test programs' backends: the CPU (or exit 1 with the reason) and CUDA (NULL after
 * "SKIP cuda: why"; exit 1 when cuda is required, tu_needed); first prints which CPU kernel
 * set runs ("CPU kernels: AVX2 (CTRAIN_CPU_ISA=avx2)"). */
void tu_open_backends(ct_backend **cpu, ct_backend **cuda);

/* Programs whose cases run once per backend: main opens tu_backends with tu_open_backends,
 * lists each case f as TU_ON_EACH(f) ("f (cpu)" and "f (cuda)"), and frees them with
 * tu_close_backends; a case gets its backend from tu_backend(state), which skips the case when
 * that backend could not be opened (the one "SKIP cuda: why" line is printed at the start). */
enum { TU_CPU, TU_CUDA, TU_NBACKENDS };
extern ct_backend *tu_backends[TU_NBACKENDS];
extern int tu_backend_ids[TU_NBACKENDS];
#define TU_ON_EACH(f)                                                                        \
    {#f " (cpu)", f, NULL, NULL, &tu_backend_ids[TU_CPU]},                                   \
    {#f " (cuda)", f, NULL, NULL, &tu_backend_ids[TU_CUDA]}
ct_backend *tu_backend(void **state);
void tu_close_backends(void);
/* Fails the test unless |got - ref| <= tol (NaN fails): "what [i]: got, expected, diff". */
void tu_near(const char *what, size_t i, double got, double ref, double tol);
/* p[0..n) uniform in [lo, hi) from r. */
void tu_fill(ct_rng *r, float *p, size_t n, float lo, float hi);
/* n noisy side x side images of 3 classes, a bright row, column or diagonal, drawn from seed:
 * a small task a model learns in a few epochs (the test fails if it cannot be made). */
ct_dataset *tu_lines_dataset(int n, int side, uint64_t seed);

/* Gradient checks: an activation in double with PyTorch's conventions (the f of ct_act), and
 * one pass of the library's model over (x, lab): forward in training mode when train, the loss,
 * and when g is not NULL the backward (the model's gradients are first filled with garbage,
 * since backward overwrites them) with the gradients copied to g. Returns the mean loss;
 * *correct (may be NULL) gets the argmax hits. */
double tu_act_ref(ct_act kind, double p, double x);
double tu_model_pass(ct_model *m, const float *x, const uint8_t *lab, int n, int train, float *g,
                     double *correct);

/* Is `name` required here (CTRAIN_TEST_NEED=name, as the CUDA emulator's runs of the tests set
 * CTRAIN_TEST_NEED=cuda)? Then what would be skipped fails instead. */
int tu_needed(const char *name);

/* Prints "SKIP name: why" and tells cmocka the test was skipped; fails it instead when name is
 * required (tu_needed). */
#define TU_SKIP(name, ...)                                                                   \
    do {                                                                                     \
        printf("%s %s: ", tu_needed(name) ? "FAIL (CTRAIN_TEST_NEED)" : "SKIP", name);    \
        printf(__VA_ARGS__);                                                                 \
        printf("\n");                                                                        \
        if (tu_needed(name)) fail();                                                         \
        skip();                                                                              \
    } while (0)

#endif
