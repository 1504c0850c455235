/*
 * cpu_winograd_impl.h — the tile transforms of cpu_winograd.c, included once per instruction set
 * with WNAME(f) giving each copy's function names (as kernels_impl.h). Not a header to include
 * elsewhere. Every transform works on 16 tiles at once, one tile per vector lane: each tile's
 * rows are read with vector loads and the 16 tiles transposed into lanes in registers (a tile
 * at the border goes through a small stack buffer instead), transformed with whole-vector
 * arithmetic and written out as rows of the (position, channel, tile) matrices that the
 * products read; the output side is the same in reverse.
 */

static inline v16 WNAME(load)(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void WNAME(store)(float *p, v16 v) { memcpy(p, &v, sizeof v); }

/* 16 floats from two rows of 8 (p and p + ld) */
static inline v16 WNAME(rows8)(const float *p, size_t ld) {
    v8 a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, p + ld, sizeof b);
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/* 16 floats from four rows of 4 */
static inline v16 WNAME(rows4)(const float *p, size_t ld) {
    v4 r0, r1, r2, r3;
    memcpy(&r0, p, sizeof r0);
    memcpy(&r1, p + ld, sizeof r1);
    memcpy(&r2, p + 2 * ld, sizeof r2);
    memcpy(&r3, p + 3 * ld, sizeof r3);
    v8 a = __builtin_shufflevector(r0, r1, 0, 1, 2, 3, 4, 5, 6, 7);
    v8 b = __builtin_shufflevector(r2, r3, 0, 1, 2, 3, 4, 5, 6, 7);
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/* m (16 x 16) transposed in place: four rounds, each swapping the off-diagonal s x s blocks of
 * every 2s x 2s block (a permute of two rows per output row) */
static inline void WNAME(transpose16)(v16 *m) {
#define WINO_ROUND(s, LO, HI)                                                                  \
    for (int i = 0; i < 16; i++)                                                               \
        if (!(i & (s))) {                                                                      \
            v16 a = m[i], b = m[i + (s)];                                                      \
            m[i] = __builtin_shuffle(a, b, (v16i)LO);                                          \
            m[i + (s)] = __builtin_shuffle(a, b, (v16i)HI);                                    \
        }
    WINO_ROUND(8, WINO_LO8, WINO_HI8)
    WINO_ROUND(4, WINO_LO4, WINO_HI4)
    WINO_ROUND(2, WINO_LO2, WINO_HI2)
    WINO_ROUND(1, WINO_LO1, WINO_HI1)
#undef WINO_ROUND
}

/* out (ro x ro) = L (ro x ri) · in (ri x ri) · L^T, elementwise over the 16 lanes. L is a
 * constant table: after unrolling, the zero coefficients drop out and 1 / -1 need no multiply
 * (x * 0 cannot be folded away by the compiler, so they are skipped here). */
static inline void WNAME(sandwich)(int ro, int ri, const float *L, const v16 *in, v16 *out) {
    v16 tmp[WINO_A * WINO_A];
#pragma GCC unroll 8
    for (int i = 0; i < ro; i++)
#pragma GCC unroll 8
        for (int l = 0; l < ri; l++) {
            v16 acc = {0};
            int have = 0;
#pragma GCC unroll 8
            for (int k = 0; k < ri; k++) {
                float c = L[i * ri + k];
                if (c == 0.0f) continue;
                v16 t = c == 1.0f ? in[k * ri + l] : c == -1.0f ? -in[k * ri + l] : c * in[k * ri + l];
                acc = have ? acc + t : t;
                have = 1;
            }
            tmp[i * ri + l] = acc;
        }
#pragma GCC unroll 8
    for (int i = 0; i < ro; i++)
#pragma GCC unroll 8
        for (int j = 0; j < ro; j++) {
            v16 acc = {0};
            int have = 0;
#pragma GCC unroll 8
            for (int l = 0; l < ri; l++) {
                float c = L[j * ri + l];
                if (c == 0.0f) continue;
                v16 t = c == 1.0f ? tmp[i * ri + l] : c == -1.0f ? -tmp[i * ri + l]
                                                               : c * tmp[i * ri + l];
                acc = have ? acc + t : t;
                have = 1;
            }
            out[i * ro + j] = acc;
        }
}

/* The 16 tiles from t0 as lanes: for each, its first element's offset in a batch tensor of
 * planes (h, w) with ch channels, the window (e x e, from (oy - pad_h, ox - pad_w)) and whether
 * rows of `wide` floats from each window row can be read (or added to) without checks: the
 * window inside the plane and the wide reads inside the tensor. */
static void WNAME(lanes)(const wino_tile *tiles, int n, int ch, int h, int w, int pad_h,
                         int pad_w, int e, int wide, wino_lanes *ln) {
    const int64_t img = (int64_t)ch * h * w, total = (int64_t)n * img;
    for (int l = 0; l < 16; l++) {
        const wino_tile *t = &tiles[l];
        const int y0 = t->oy - pad_h, x0 = t->ox - pad_w;
        ln->off[l] = t->img < 0 ? 0 : t->img * img + (int64_t)y0 * w + x0;
        ln->fast[l] = t->img >= 0 && y0 >= 0 && x0 >= 0 && y0 + e <= h && x0 + e <= w &&
                      ln->off[l] + (int64_t)(ch - 1) * h * w + (int64_t)(e - 1) * w + wide <= total;
    }
}

/* V[p][ch][t] = (BT · patch · B)[p] of tile t (t < tp, a multiple of 16) for every channel of
 * the input x (n, g->cin, g->hin, g->win); tiles with img < 0 (padding) give zeros. Each tile's
 * patch is read as 6 rows of 8 (two spare columns) and the 16 tiles transposed into lanes. */
static void WNAME(input_tf)(const wino_geom *g, const float *x, const wino_tile *tiles, int tp,
                            float *V) {
    const size_t plane = (size_t)g->hin * g->win;
    const size_t pstride = pos_stride(g->cin, tp);
    v16 q[3][16], v[WINO_A * WINO_A];
    wino_lanes ln;
    for (int t0 = 0; t0 < tp; t0 += 16) {
        WNAME(lanes)(tiles + t0, g->n, g->cin, g->hin, g->win, g->pad_h, g->pad_w, WINO_A, 8, &ln);
        for (int ch = 0; ch < g->cin; ch++) {
            const float *xc = x + ch * plane;
            for (int l = 0; l < 16; l++) {
                if (ln.fast[l]) {
                    const float *p = xc + ln.off[l];
                    for (int k = 0; k < 3; k++) q[k][l] = WNAME(rows8)(p + 2 * k * g->win, g->win);
                    continue;
                }
                float buf[48] = {0};
                const wino_tile *t = &tiles[t0 + l];
                if (t->img >= 0)
                    for (int r = 0; r < WINO_A; r++)
                        for (int s = 0; s < WINO_A; s++) {
                            int iy = t->oy - g->pad_h + r, ix = t->ox - g->pad_w + s;
                            if (iy >= 0 && iy < g->hin && ix >= 0 && ix < g->win)
                                buf[r * 8 + s] = xc[ln.off[l] + (int64_t)r * g->win + s];
                        }
                for (int k = 0; k < 3; k++) q[k][l] = WNAME(load)(buf + 16 * k);
            }
            for (int k = 0; k < 3; k++) WNAME(transpose16)(q[k]);
            v16 d[WINO_A * WINO_A];
            for (int r = 0; r < WINO_A; r++)
                for (int s = 0; s < WINO_A; s++) d[r * WINO_A + s] = q[r / 2][(r % 2) * 8 + s];
            WNAME(sandwich)(WINO_A, WINO_A, &k_bt[0][0], d, v);
            float *out = V + (size_t)ch * tp + t0;
            for (int e = 0; e < WINO_A * WINO_A; e++) WNAME(store)(out + e * pstride, v[e]);
        }
    }
}

/* y (n, g->cout, g->hout, g->wout) at the first cnt tiles = (AT · M · A) + bias[ch] (bias may be
 * NULL), then max(., 0) with relu (NaN: 0, as relu_forward), M[p][ch][t] from the products; only
 * the part of each tile inside the output is written. */
static void WNAME(output_tf)(const wino_geom *g, const float *M, const wino_tile *tiles, int cnt,
                             int tp, const float *bias, int relu, float *y) {
    const size_t plane = (size_t)g->hout * g->wout;
    const size_t pstride = pos_stride(g->cout, tp);
    v16 m[WINO_A * WINO_A], o[16];
    wino_lanes ln;
    for (int t0 = 0; t0 < cnt; t0 += 16) {
        const int lanes = cnt - t0 < 16 ? cnt - t0 : 16;
        WNAME(lanes)(tiles + t0, g->n, g->cout, g->hout, g->wout, 0, 0, WINO_M, WINO_M, &ln);
        for (int ch = 0; ch < g->cout; ch++) {
            const float *in = M + (size_t)ch * tp + t0;
            for (int e = 0; e < WINO_A * WINO_A; e++) m[e] = WNAME(load)(in + e * pstride);
            WNAME(sandwich)(WINO_M, WINO_A, &k_at[0][0], m, o);
            const float b = bias ? bias[ch] : 0.0f;
            for (int e = 0; e < 16; e++) o[e] += b;
            if (relu) /* the mask of o > 0 (false for NaN) keeps o's bits, else +0 */
                for (int e = 0; e < 16; e++) o[e] = (v16)((v16i)(o[e] > 0.0f) & (v16i)o[e]);
            WNAME(transpose16)(o); /* o[l]: lane l's 4x4 tile */
            float *yc = y + ch * plane;
            for (int l = 0; l < lanes; l++) {
                float *p = yc + ln.off[l], buf[16];
                WNAME(store)(buf, o[l]);
                if (ln.fast[l]) {
                    for (int r = 0; r < WINO_M; r++)
                        memcpy(p + (size_t)r * g->wout, buf + WINO_M * r, WINO_M * sizeof(float));
                    continue;
                }
                const wino_tile *t = &tiles[t0 + l];
                const int rows = g->hout - t->oy < WINO_M ? g->hout - t->oy : WINO_M;
                const int cols = g->wout - t->ox < WINO_M ? g->wout - t->ox : WINO_M;
                for (int r = 0; r < rows; r++)
                    for (int s = 0; s < cols; s++) p[(size_t)r * g->wout + s] = buf[r * WINO_M + s];
            }
        }
    }
}

/* dM[p][ch][t] = (A · dY · AT)[p], the adjoint of output_tf: dY is tile t of dy (n, g->cout,
 * g->hout, g->wout), zero outside the output and for padding tiles. */
static void WNAME(output_adj)(const wino_geom *g, const float *dy, const wino_tile *tiles, int tp,
                              float *dM) {
    const size_t plane = (size_t)g->hout * g->wout;
    const size_t pstride = pos_stride(g->cout, tp);
    v16 d[16], v[WINO_A * WINO_A];
    wino_lanes ln;
    for (int t0 = 0; t0 < tp; t0 += 16) {
        WNAME(lanes)(tiles + t0, g->n, g->cout, g->hout, g->wout, 0, 0, WINO_M, WINO_M, &ln);
        for (int ch = 0; ch < g->cout; ch++) {
            const float *dc = dy + ch * plane;
            for (int l = 0; l < 16; l++) {
                if (ln.fast[l]) {
                    d[l] = WNAME(rows4)(dc + ln.off[l], g->wout);
                    continue;
                }
                float buf[16] = {0};
                const wino_tile *t = &tiles[t0 + l];
                if (t->img >= 0)
                    for (int r = 0; r < WINO_M && t->oy + r < g->hout; r++)
                        for (int s = 0; s < WINO_M && t->ox + s < g->wout; s++)
                            buf[r * WINO_M + s] = dc[ln.off[l] + (int64_t)r * g->wout + s];
                d[l] = WNAME(load)(buf);
            }
            WNAME(transpose16)(d); /* d[e]: element e of the 16 tiles */
            WNAME(sandwich)(WINO_A, WINO_M, &k_a[0][0], d, v);
            float *out = dM + (size_t)ch * tp + t0;
            for (int e = 0; e < WINO_A * WINO_A; e++) WNAME(store)(out + e * pstride, v[e]);
        }
    }
}

/* dx (n, g->cin, g->hin, g->win) += (B · dV · BT) of each of the first cnt tiles, the part of
 * its 6x6 patch inside the plane: the adjoint of input_tf (patches of neighbouring tiles
 * overlap by two rows and columns, so this adds; the fast path adds rows of 8 whose two spare
 * columns are zeros). dV[p][ch][t] from the products. */
static void WNAME(input_adj)(const wino_geom *g, const float *dV, const wino_tile *tiles, int cnt,
                             int tp, float *dx) {
    const size_t plane = (size_t)g->hin * g->win;
    const size_t pstride = pos_stride(g->cin, tp);
    v16 m[WINO_A * WINO_A], o[WINO_A * WINO_A], q[3][16];
    wino_lanes ln;
    const v16 zero = {0};
    for (int t0 = 0; t0 < cnt; t0 += 16) {
        const int lanes = cnt - t0 < 16 ? cnt - t0 : 16;
        WNAME(lanes)(tiles + t0, g->n, g->cin, g->hin, g->win, g->pad_h, g->pad_w, WINO_A, 8, &ln);
        for (int ch = 0; ch < g->cin; ch++) {
            const float *in = dV + (size_t)ch * tp + t0;
            for (int e = 0; e < WINO_A * WINO_A; e++) m[e] = WNAME(load)(in + e * pstride);
            WNAME(sandwich)(WINO_A, WINO_A, &k_b[0][0], m, o);
            for (int r = 0; r < WINO_A; r++)
                for (int s = 0; s < 8; s++)
                    q[r / 2][(r % 2) * 8 + s] = s < WINO_A ? o[r * WINO_A + s] : zero;
            for (int k = 0; k < 3; k++) WNAME(transpose16)(q[k]);
            float *xc = dx + ch * plane;
            for (int l = 0; l < lanes; l++) {
                if (ln.fast[l]) {
                    float *p = xc + ln.off[l];
                    for (int r = 0; r < WINO_A; r++) {
                        v8 row, add = r % 2 ? __builtin_shufflevector(q[r / 2][l], q[r / 2][l], 8,
                                                                      9, 10, 11, 12, 13, 14, 15)
                                            : __builtin_shufflevector(q[r / 2][l], q[r / 2][l], 0,
                                                                      1, 2, 3, 4, 5, 6, 7);
                        memcpy(&row, p + (size_t)r * g->win, sizeof row);
                        row += add;
                        memcpy(p + (size_t)r * g->win, &row, sizeof row);
                    }
                    continue;
                }
                const wino_tile *t = &tiles[t0 + l];
                float buf[48];
                for (int k = 0; k < 3; k++) WNAME(store)(buf + 16 * k, q[k][l]);
                const int y0 = t->oy - g->pad_h, x0 = t->ox - g->pad_w;
                const int r0 = y0 < 0 ? -y0 : 0, s0 = x0 < 0 ? -x0 : 0;
                const int r1 = g->hin - y0 < WINO_A ? g->hin - y0 : WINO_A;
                const int s1 = g->win - x0 < WINO_A ? g->win - x0 : WINO_A;
                for (int r = r0; r < r1; r++)
                    for (int s = s0; s < s1; s++)
                        xc[ln.off[l] + (int64_t)r * g->win + s] += buf[r * 8 + s];
            }
        }
    }
}
