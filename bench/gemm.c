/*
 * gemm.c — single-threaded matrix products at the training step's shapes: the register-blocked
 * kernels (src/backend/cpu/kernels.c) against OpenBLAS, best of 5 runs each, with the largest
 * difference between the two results. Decides where cpu.c's use_small_gemm sends each shape.
 * Build: cmake --build build --target bench_gemm; run: build/bench_gemm
 */
#include "backend/cpu/kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern void openblas_set_num_threads(int num_threads);

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void run(int ta, int tb, int M, int N, int K, const char *what) {
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)N * K);
    float *C1 = malloc(sizeof(float) * (size_t)M * N), *C2 = malloc(sizeof(float) * (size_t)M * N);
    for (long i = 0; i < (long)M * K; i++) A[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (long i = 0; i < (long)N * K; i++) B[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    int lda = ta ? M : K, ldb = tb ? K : N;
    int reps = (int)(1e9 / (2.0 * M * N * K));
    if (reps < 3) reps = 3;
    double best_blas = 1e9, best_small = 1e9;
    for (int t = 0; t < 5; t++) {
        double t0 = now_s();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                        tb ? CblasTrans : CblasNoTrans, M, N, K, 1, A, lda, B, ldb, 0, C1, N);
        double d = (now_s() - t0) / reps;
        if (d < best_blas) best_blas = d;
        t0 = now_s();
        for (int r = 0; r < reps; r++) ct_small_gemm(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C2, N);
        d = (now_s() - t0) / reps;
        if (d < best_small) best_small = d;
    }
    double err = 0;
    for (long i = 0; i < (long)M * N; i++)
        if (fabs(C1[i] - C2[i]) > err) err = fabs(C1[i] - C2[i]);
    double flop = 2.0 * M * N * K;
    printf("| %-22s | %s%s | %5d x %5d x %5d | %8.1f | %6.1f | %8.1f | %6.1f | %.1e |\n", what,
           ta ? "T" : "N", tb ? "T" : "N", M, N, K, best_blas * 1e6, flop / best_blas / 1e9,
           best_small * 1e6, flop / best_small / 1e9, err);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

int main(void) {
    openblas_set_num_threads(1);
    printf("kernels: %s\n\n", ct_small_gemm_isa());
    float one = 1.0f, out = 0.0f;
    if (!ct_small_gemm(0, 1, 1, 1, 1, 1, &one, 1, &one, 1, 0, &out, 1)) {
        printf("no GEMM kernels for %s (kernels.c: they spill there); OpenBLAS does the "
               "products\n", ct_small_gemm_isa());
        return 0;
    }
    printf("| shape | op | M x N x K | OpenBLAS us | GFLOP/s | kernels us | GFLOP/s | max diff |\n");
    printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
    run(0, 1, 64, 32, 784, "forward, half batch");
    run(1, 0, 32, 784, 64, "dW, half batch");
    run(0, 0, 64, 32, 10, "dx layer 2");
    run(0, 1, 64, 10, 32, "forward layer 2");
    run(1, 0, 10, 32, 64, "dW layer 2");
    run(0, 1, 128, 32, 784, "forward, batch 128");
    run(1, 0, 32, 784, 128, "dW, batch 128");
    run(0, 1, 64, 512, 784, "forward, hidden 512");
    run(1, 0, 512, 784, 64, "dW, hidden 512");
    run(0, 1, 64, 2048, 784, "forward, hidden 2048");
    run(1, 0, 2048, 784, 64, "dW, hidden 2048");
    /* the cnn preset, one image (conv) or half a batch (dense) per thread */
    run(0, 0, 32, 676, 9, "cnn conv1 forward");
    run(0, 1, 32, 9, 676, "cnn conv1 dW");
    run(0, 0, 64, 576, 288, "cnn conv2 forward");
    run(1, 0, 288, 576, 64, "cnn conv2 dx (cols)");
    run(0, 1, 64, 288, 576, "cnn conv2 dW");
    run(0, 1, 64, 128, 9216, "cnn dense forward");
    run(1, 0, 128, 9216, 64, "cnn dense dW");
    run(0, 0, 64, 9216, 128, "cnn dense dx");
    /* resnet50 on 28x28, batch 64 (32 images a thread, cpu_nn.c's groups of images): 1x1 convs
     * of the 7x7, 2x2 and 1x1 stages, the last stage's 3x3 conv */
    run(0, 0, 256, 294, 64, "r50 7x7 1x1 forward");
    run(1, 0, 64, 294, 256, "r50 7x7 1x1 dx (cols)");
    run(0, 1, 256, 64, 294, "r50 7x7 1x1 dW");
    run(0, 0, 1024, 128, 256, "r50 2x2 1x1 forward");
    run(1, 0, 256, 128, 1024, "r50 2x2 1x1 dx (cols)");
    run(0, 1, 1024, 256, 128, "r50 2x2 1x1 dW");
    run(0, 0, 2048, 32, 512, "r50 1x1 1x1 forward");
    run(1, 0, 512, 32, 2048, "r50 1x1 1x1 dx (cols)");
    run(0, 1, 2048, 512, 32, "r50 1x1 1x1 dW");
    run(0, 0, 512, 32, 4608, "r50 1x1 3x3 forward");
    run(1, 0, 4608, 32, 512, "r50 1x1 3x3 dx (cols)");
    run(0, 1, 512, 4608, 32, "r50 1x1 3x3 dW");
    return 0;
}
