/*
 * cpu_winograd_impl.h — the tile transforms of cpu_winograd.c, included once per instruction set
 * with WNAME(f) giving each copy's function names (as kernels_impl.h) and WL its vector width in
 * floats: 16 (AVX-512, and the baseline's four SSE registers a vector), or 8 (AVX2, whose 16
 * registers hold a 16-float vector only as two halves: its 16x16 transposes went through memory,
 * and the transforms were 44% of a cnn epoch). Not a header to include elsewhere. Every
 * transform works on WL tiles at once, one tile per vector lane: each tile's rows are read with
 * vector loads and the WL tiles transposed into lanes in registers (on the input side a tile at
 * the plane's border reads its rows inside the plane as whole rows too, the columns outside
 * masked off: half the tiles of a 28x28 plane, all of a 7x7's; only where such a row would
 * leave the tensor does it go through a small stack buffer), transformed with whole-vector arithmetic and written
 * out as rows of the (position, channel, tile) matrices that the products read; the output side
 * is the same in reverse.
 */
#if WL == 16
#define WV v16
#define WVI v16i
#else
#define WV v8
#define WVI v8i
#endif
#define WINO_RPV (WL / 8)           /* rows of 8 floats in a vector */
#define WINO_NQ (WINO_A / WINO_RPV) /* vectors of a 6x8 input patch */
#define WINO_EG (16 / WL)           /* vectors of a 4x4 tile */

static inline WV WNAME(load)(const float *p) {
    WV v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void WNAME(store)(float *p, WV v) { memcpy(p, &v, sizeof v); }

/* WL floats from WL / 8 rows of 8 (p, p + ld, ...) */
static inline WV WNAME(rows8)(const float *p, size_t ld) {
#if WL == 16
    v8 a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, p + ld, sizeof b);
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    (void)ld;
    return WNAME(load)(p);
#endif
}

/* WL floats from WL / 4 rows of 4 */
static inline WV WNAME(rows4)(const float *p, size_t ld) {
    v4 r0, r1;
    memcpy(&r0, p, sizeof r0);
    memcpy(&r1, p + ld, sizeof r1);
    v8 a = __builtin_shufflevector(r0, r1, 0, 1, 2, 3, 4, 5, 6, 7);
#if WL == 16
    v4 r2, r3;
    memcpy(&r2, p + 2 * ld, sizeof r2);
    memcpy(&r3, p + 3 * ld, sizeof r3);
    v8 b = __builtin_shufflevector(r2, r3, 0, 1, 2, 3, 4, 5, 6, 7);
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    return a;
#endif
}

/* m (WL x WL) transposed in place: rounds that each swap the off-diagonal s x s blocks of every
 * 2s x 2s block (a permute of two rows per output row) */
static inline void WNAME(transpose)(WV *m) {
#define WINO_ROUND(s, LO, HI)                                                                  \
    for (int i = 0; i < WL; i++)                                                               \
        if (!(i & (s))) {                                                                      \
            WV a = m[i], b = m[i + (s)];                                                       \
            m[i] = __builtin_shuffle(a, b, (WVI)LO);                                           \
            m[i + (s)] = __builtin_shuffle(a, b, (WVI)HI);                                     \
        }
#if WL == 16
    WINO_ROUND(8, WINO_LO8, WINO_HI8)
    WINO_ROUND(4, WINO_LO4, WINO_HI4)
    WINO_ROUND(2, WINO_LO2, WINO_HI2)
    WINO_ROUND(1, WINO_LO1, WINO_HI1)
#else
    WINO_ROUND(4, WINO8_LO4, WINO8_HI4)
    WINO_ROUND(2, WINO8_LO2, WINO8_HI2)
    WINO_ROUND(1, WINO8_LO1, WINO8_HI1)
#endif
#undef WINO_ROUND
}

/* out (ro x ro) = L (ro x ri) · in (ri x ri) · L^T, elementwise over the WL lanes. L is a
 * constant table: after unrolling, the zero coefficients drop out and 1 / -1 need no multiply
 * (x * 0 cannot be folded away by the compiler, so they are skipped here). */
static inline void WNAME(sandwich)(int ro, int ri, const float *L, const WV *in, WV *out) {
    WV tmp[WINO_A * WINO_A];
#pragma GCC unroll 8
    for (int i = 0; i < ro; i++)
#pragma GCC unroll 8
        for (int l = 0; l < ri; l++) {
            WV acc = {0};
            int have = 0;
#pragma GCC unroll 8
            for (int k = 0; k < ri; k++) {
                float c = L[i * ri + k];
                if (c == 0.0f) continue;
                WV t = c == 1.0f ? in[k * ri + l] : c == -1.0f ? -in[k * ri + l] : c * in[k * ri + l];
                acc = have ? acc + t : t;
                have = 1;
            }
            tmp[i * ri + l] = acc;
        }
#pragma GCC unroll 8
    for (int i = 0; i < ro; i++)
#pragma GCC unroll 8
        for (int j = 0; j < ro; j++) {
            WV acc = {0};
            int have = 0;
#pragma GCC unroll 8
            for (int l = 0; l < ri; l++) {
                float c = L[j * ri + l];
                if (c == 0.0f) continue;
                WV t = c == 1.0f ? tmp[i * ri + l] : c == -1.0f ? -tmp[i * ri + l]
                                                               : c * tmp[i * ri + l];
                acc = have ? acc + t : t;
                have = 1;
            }
            out[i * ro + j] = acc;
        }
}

/* The WL tiles from t0 as lanes: for each, its first element's offset in a batch tensor of
 * planes (h, w) with ch channels, the window (e x e, from (oy - pad_h, ox - pad_w)) and whether
 * rows of `wide` floats from each window row can be read (or added to) without checks: the
 * window inside the plane and the wide reads inside the tensor. */
static void WNAME(lanes)(const wino_tile *tiles, int n, int ch, int h, int w, int pad_h,
                         int pad_w, int e, int wide, wino_lanes *ln) {
    const int64_t img = (int64_t)ch * h * w, total = (int64_t)n * img;
    for (int l = 0; l < WL; l++) {
        const wino_tile *t = &tiles[l];
        const int y0 = t->oy - pad_h, x0 = t->ox - pad_w;
        ln->off[l] = t->img < 0 ? 0 : t->img * img + (int64_t)y0 * w + x0;
        ln->fast[l] = t->img >= 0 && y0 >= 0 && x0 >= 0 && y0 + e <= h && x0 + e <= w &&
                      ln->off[l] + (int64_t)(ch - 1) * h * w + (int64_t)(e - 1) * w + wide <= total;
        if (wide != 8) { /* (the output side: its borders go through the stack buffer) */
            ln->edge[l] = 0;
            continue;
        }
        const int r0 = y0 < 0 ? -y0 : 0, s0 = x0 < 0 ? -x0 : 0;
        const int r1 = h - y0 < e ? h - y0 : e, s1 = w - x0 < e ? w - x0 : e;
        ln->r0[l] = r0, ln->r1[l] = r1;
        ln->edge[l] = t->img >= 0 && r0 < r1 && s0 < s1 && ln->off[l] + (int64_t)r0 * w >= 0 &&
                      ln->off[l] + (int64_t)(ch - 1) * h * w + (int64_t)(r1 - 1) * w + wide <= total;
        for (int s = 0; s < 8; s++) ln->cols[l][s] = s >= s0 && s < s1 ? -1 : 0;
    }
}

/* V[p][ch][t] = (BT · patch · B)[p] of tile t (t < tp, a multiple of 16) for every channel of
 * the input x (n, g->cin, g->hin, g->win); tiles with img < 0 (padding) give zeros. Each tile's
 * patch is read as 6 rows of 8 (two spare columns) and the WL tiles transposed into lanes. */
static void WNAME(input_tf)(const wino_geom *g, const float *x, const wino_tile *tiles, int tp,
                            float *V) {
    const size_t plane = (size_t)g->hin * g->win;
    const size_t pstride = pos_stride(g->cin, tp);
    WV q[WINO_NQ][WL], v[WINO_A * WINO_A];
    wino_lanes ln;
    for (int t0 = 0; t0 < tp; t0 += WL) {
        WNAME(lanes)(tiles + t0, g->n, g->cin, g->hin, g->win, g->pad_h, g->pad_w, WINO_A, 8, &ln);
        for (int ch = 0; ch < g->cin; ch++) {
            const float *xc = x + ch * plane;
            for (int l = 0; l < WL; l++) {
                if (ln.fast[l]) {
                    const float *p = xc + ln.off[l];
                    for (int k = 0; k < WINO_NQ; k++)
                        q[k][l] = WNAME(rows8)(p + WINO_RPV * k * g->win, g->win);
                    continue;
                }
                if (ln.edge[l]) { /* rows of 8, those outside the plane and their columns
                                   * outside it zero */
                    const float *p = xc + ln.off[l];
                    v8 row[WINO_A];
                    for (int r = 0; r < WINO_A; r++) {
                        v8 v = {0};
                        if (r >= ln.r0[l] && r < ln.r1[l]) {
                            memcpy(&v, p + (int64_t)r * g->win, sizeof v);
                            v = (v8)((v8i)v & ln.cols[l]);
                        }
                        row[r] = v;
                    }
                    for (int k = 0; k < WINO_NQ; k++)
#if WL == 16
                        q[k][l] = __builtin_shufflevector(row[2 * k], row[2 * k + 1], 0, 1, 2, 3, 4,
                                                          5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#else
                        q[k][l] = row[k];
#endif
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
                for (int k = 0; k < WINO_NQ; k++) q[k][l] = WNAME(load)(buf + WL * k);
            }
            for (int k = 0; k < WINO_NQ; k++) WNAME(transpose)(q[k]);
            WV d[WINO_A * WINO_A];
            for (int r = 0; r < WINO_A; r++)
                for (int s = 0; s < WINO_A; s++)
                    d[r * WINO_A + s] = q[r / WINO_RPV][(r % WINO_RPV) * 8 + s];
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
    WV m[WINO_A * WINO_A], o[16];
    wino_lanes ln;
    for (int t0 = 0; t0 < cnt; t0 += WL) {
        const int lanes = cnt - t0 < WL ? cnt - t0 : WL;
        WNAME(lanes)(tiles + t0, g->n, g->cout, g->hout, g->wout, 0, 0, WINO_M, WINO_M, &ln);
        for (int ch = 0; ch < g->cout; ch++) {
            const float *in = M + (size_t)ch * tp + t0;
            for (int e = 0; e < WINO_A * WINO_A; e++) m[e] = WNAME(load)(in + e * pstride);
            WNAME(sandwich)(WINO_M, WINO_A, &k_at[0][0], m, o);
            const float b = bias ? bias[ch] : 0.0f;
            for (int e = 0; e < 16; e++) o[e] += b;
            if (relu) /* the mask of o > 0 (false for NaN) keeps o's bits, else +0 */
                for (int e = 0; e < 16; e++) o[e] = (WV)((WVI)(o[e] > 0.0f) & (WVI)o[e]);
            for (int k = 0; k < WINO_EG; k++) /* o[k * WL + l]: lane l's elements k * WL .. */
                WNAME(transpose)(o + k * WL);
            float *yc = y + ch * plane;
            for (int l = 0; l < lanes; l++) {
                float *p = yc + ln.off[l], buf[16];
                for (int k = 0; k < WINO_EG; k++) WNAME(store)(buf + k * WL, o[k * WL + l]);
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
    WV d[16], v[WINO_A * WINO_A];
    wino_lanes ln;
    for (int t0 = 0; t0 < tp; t0 += WL) {
        WNAME(lanes)(tiles + t0, g->n, g->cout, g->hout, g->wout, 0, 0, WINO_M, WINO_M, &ln);
        for (int ch = 0; ch < g->cout; ch++) {
            const float *dc = dy + ch * plane;
            for (int l = 0; l < WL; l++) { /* d[k * WL + l]: lane l's elements k * WL .. */
                if (ln.fast[l]) {
                    for (int k = 0; k < WINO_EG; k++)
                        d[k * WL + l] = WNAME(rows4)(dc + ln.off[l] + (size_t)k * (WL / 4) * g->wout,
                                                     g->wout);
                    continue;
                }
                float buf[16] = {0};
                const wino_tile *t = &tiles[t0 + l];
                if (t->img >= 0)
                    for (int r = 0; r < WINO_M && t->oy + r < g->hout; r++)
                        for (int s = 0; s < WINO_M && t->ox + s < g->wout; s++)
                            buf[r * WINO_M + s] = dc[ln.off[l] + (int64_t)r * g->wout + s];
                for (int k = 0; k < WINO_EG; k++) d[k * WL + l] = WNAME(load)(buf + k * WL);
            }
            for (int k = 0; k < WINO_EG; k++) WNAME(transpose)(d + k * WL); /* d[e]: element e */
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
    WV m[WINO_A * WINO_A], o[WINO_A * WINO_A], q[WINO_NQ][WL];
    wino_lanes ln;
    const WV zero = {0};
    for (int t0 = 0; t0 < cnt; t0 += WL) {
        const int lanes = cnt - t0 < WL ? cnt - t0 : WL;
        WNAME(lanes)(tiles + t0, g->n, g->cin, g->hin, g->win, g->pad_h, g->pad_w, WINO_A, 8, &ln);
        for (int ch = 0; ch < g->cin; ch++) {
            const float *in = dV + (size_t)ch * tp + t0;
            for (int e = 0; e < WINO_A * WINO_A; e++) m[e] = WNAME(load)(in + e * pstride);
            WNAME(sandwich)(WINO_A, WINO_A, &k_b[0][0], m, o);
            for (int r = 0; r < WINO_A; r++)
                for (int s = 0; s < 8; s++)
                    q[r / WINO_RPV][(r % WINO_RPV) * 8 + s] = s < WINO_A ? o[r * WINO_A + s] : zero;
            for (int k = 0; k < WINO_NQ; k++) WNAME(transpose)(q[k]);
            float *xc = dx + ch * plane;
            for (int l = 0; l < lanes; l++) {
                if (ln.fast[l] || ln.edge[l]) { /* rows of 8 inside the tensor (a fast
                                                   * window's 6, its two spare columns adding 0;
                                                   * at the border, the window's columns
                                                   * outside the plane adding nothing) */
                    float *p = xc + ln.off[l];
                    for (int r = ln.r0[l]; r < ln.r1[l]; r++) {
#if WL == 16
                        v8 row, add = r % 2 ? __builtin_shufflevector(q[r / 2][l], q[r / 2][l], 8,
                                                                      9, 10, 11, 12, 13, 14, 15)
                                            : __builtin_shufflevector(q[r / 2][l], q[r / 2][l], 0,
                                                                      1, 2, 3, 4, 5, 6, 7);
#else
                        v8 row, add = q[r][l];
#endif
                        memcpy(&row, p + (int64_t)r * g->win, sizeof row);
                        row += (v8)((v8i)add & ln.cols[l]);
                        memcpy(p + (int64_t)r * g->win, &row, sizeof row);
                    }
                    continue;
                }
                const wino_tile *t = &tiles[t0 + l];
                float buf[48];
                for (int k = 0; k < WINO_NQ; k++) WNAME(store)(buf + WL * k, q[k][l]);
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

#undef WV
#undef WVI
#undef WINO_RPV
#undef WINO_NQ
#undef WINO_EG
