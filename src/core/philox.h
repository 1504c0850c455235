/*
 * philox.h — Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"), one
 * definition for the host (core.c's ct_philox4x32) and CUDA device code (the kernels' draws,
 * augment.h's), so that every backend draws the same words from the same counter.
 */
#ifndef CT_PHILOX_H
#define CT_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define CT_HD __host__ __device__
#else
#define CT_HD
#endif

/* The block (key, counter (hi, lo)) into out[0..3]. */
static inline CT_HD void ct_philox_block(uint64_t key, uint64_t hi, uint64_t lo,
                                         uint32_t out[4]) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    uint32_t c0 = (uint32_t)lo, c1 = (uint32_t)(lo >> 32), c2 = (uint32_t)hi,
             c3 = (uint32_t)(hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)M0 * c0, p1 = (uint64_t)M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += W0;
        k1 += W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

#endif
