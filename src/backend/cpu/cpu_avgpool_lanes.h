/* The average pool's vector loops, included by cpu_pool.c once per vector width (no include
 * guard): AV is the vector type of AV_W floats (8: every build; 16: the AVX-512 copy, picked
 * at run time), AV_LOAD_N / AV_STORE_N / AV_SET1 its helpers, AV_FN(name) the copy's name for
 * a function, AV_ATTR its target attribute. Each lane does the same operations in the same
 * order in either copy, so both give bit-identical results; channels left over after the full
 * vectors take a half vector (8, a literal width) and then a partial one. Needs geo, imin/imax,
 * interior, fast_rows, out_range and gather_interior from cpu_pool.c. */

/* Output pixel ow of one output row (valid input rows [hs, he)), channel chunk of width cw. */
static AV_ATTR DNAS_INLINE void AV_FN(avg_fwd_px)(float *yrow, const float *ximg, const float *inv, const geo *g,
                                   int hs, int he, int ow, int cw) {
    const size_t C = (size_t)g->C;
    int w0 = ow * g->s - g->pad, ws = imax(w0, 0), we = imin(w0 + g->k, g->W);
    AV a = {0};
    for (int ih = hs; ih < he; ih++) {
        const float *r = ximg + (size_t)ih * g->W * C;
        for (int iw = ws; iw < we; iw++) a += AV_LOAD_N(r + (size_t)iw * C, cw);
    }
    AV_STORE_N(yrow + (size_t)ow * C, a * AV_SET1(inv[ow]), cw);
}

/* sum of the nr (2 or 3) rows r0, r1, r2 at offset o */
static AV_ATTR DNAS_INLINE AV AV_FN(colsum)(const float *r0, const float *r1, const float *r2, int nr,
                                   size_t o, int cw) {
    AV t = AV_LOAD_N(r0 + o, cw) + AV_LOAD_N(r1 + o, cw);
    if (nr == 3) t += AV_LOAD_N(r2 + o, cw);
    return t;
}

/* Outputs [a, b) of a row whose 3x3 windows cover nr whole input rows r[]. (Everything the
 * loops use is copied into locals: through pointers the compiler reloads it every pass.) */
static AV_ATTR DNAS_INLINE void AV_FN(avg_fwd_fast)(float *yrow, const float *const *r, int nr, const float *inv,
                                     const geo *g, int a, int b, int cw) {
    const size_t C = (size_t)g->C;
    const float *r0 = r[0], *r1 = r[1], *r2 = r[2];
    const int s = g->s, pad = g->pad;
    if (s == 1) { /* slide: each column sum serves three outputs */
        size_t o = (size_t)(a - pad) * C; /* one offset walks all rows */
        AV c0 = AV_FN(colsum)(r0, r1, r2, nr, o, cw), c1 = AV_FN(colsum)(r0, r1, r2, nr, o + C, cw);
        float *yp = yrow + (size_t)a * C;
        for (int ow = a; ow < b; ow++, o += C, yp += C) {
            AV c2 = AV_FN(colsum)(r0, r1, r2, nr, o + 2 * C, cw);
            AV_STORE_N(yp, ((c0 + c1) + c2) * AV_SET1(inv[ow]), cw);
            c0 = c1;
            c1 = c2;
        }
    } else {
        for (int ow = a; ow < b; ow++) {
            size_t o = (size_t)(ow * s - pad) * C;
            AV t = (AV_FN(colsum)(r0, r1, r2, nr, o, cw) + AV_FN(colsum)(r0, r1, r2, nr, o + C, cw)) +
                         AV_FN(colsum)(r0, r1, r2, nr, o + 2 * C, cw);
            AV_STORE_N(yrow + (size_t)ow * C, t * AV_SET1(inv[ow]), cw);
        }
    }
}

/* One output row for one channel chunk; inv is the row's 1/divisor. */
static AV_ATTR DNAS_INLINE void AV_FN(avg_fwd_row)(float *yrow, const float *ximg, const float *inv, const geo *g,
                                    int hs, int he, int cw) {
    const float *r[3];
    int nr = fast_rows(ximg, g, hs, he, r), a = 0, b = 0;
    if (nr) interior(g, &a, &b);
    for (int ow = 0; ow < a; ow++) AV_FN(avg_fwd_px)(yrow, ximg, inv, g, hs, he, ow, cw);
    if (nr == 3) AV_FN(avg_fwd_fast)(yrow, r, 3, inv, g, a, b, cw);
    else if (nr == 2) AV_FN(avg_fwd_fast)(yrow, r, 2, inv, g, a, b, cw);
    for (int ow = b; ow < g->OW; ow++) AV_FN(avg_fwd_px)(yrow, ximg, inv, g, hs, he, ow, cw);
}

/* Output row oh of image n (ximg), all channel chunks. */
static AV_ATTR void AV_FN(avg_fwd_out_row)(float *yrow, const float *ximg, const float *inv, const geo *g,
                            int oh) {
    int h0 = oh * g->s - g->pad, hs = imax(h0, 0), he = imin(h0 + g->k, g->H);
    const float *ir = inv + (size_t)oh * g->OW;
    int c0 = 0;
    for (; c0 + AV_W <= g->C; c0 += AV_W)
        AV_FN(avg_fwd_row)(yrow + c0, ximg + c0, ir, g, hs, he, AV_W);
    if (AV_W > 8 && c0 + 8 <= g->C) { /* a half vector, still a literal width */
        AV_FN(avg_fwd_row)(yrow + c0, ximg + c0, ir, g, hs, he, 8);
        c0 += 8;
    }
    if (c0 < g->C) AV_FN(avg_fwd_row)(yrow + c0, ximg + c0, ir, g, hs, he, g->C - c0);
}

/* dx pixel iw of one dx row (contributing output rows [ohl, ohh)): gather dy * 1/divisor in
 * (oh, ow) order. */
static AV_ATTR DNAS_INLINE void AV_FN(avg_bwd_px)(float *dxrow, int acc, const float *dyimg, const float *inv,
                                   const geo *g, int ohl, int ohh, int iw, int cw) {
    const size_t C = (size_t)g->C;
    int owl, owh;
    out_range(iw, g->k, g->s, g->pad, g->OW, &owl, &owh);
    AV a = {0};
    for (int oh = ohl; oh < ohh; oh++)
        for (int ow = owl; ow < owh; ow++) {
            size_t o = (size_t)oh * g->OW + ow;
            a += AV_LOAD_N(dyimg + o * C, cw) * AV_SET1(inv[o]);
        }
    float *d = dxrow + (size_t)iw * C;
    if (acc) a += AV_LOAD_N(d, cw);
    AV_STORE_N(d, a, cw);
}

/* sum over the nr output rows d0.. (1/divisor rows i0..) of dy / divisor at column ow */
static AV_ATTR DNAS_INLINE AV AV_FN(dcolsum)(const float *d0, const float *d1, const float *d2,
                                    const float *i0, const float *i1, const float *i2, int nr,
                                    int ow, size_t C, int cw) {
    size_t o = (size_t)ow * C;
    /* From zero, one product per add: the build's -ffp-contract=fast can then fuse each term
     * only one way, the same in every copy of these loops (a * b + c * d may become either
     * fma(a, b, c * d) or fma(c, d, a * b), and did differ between copies). */
    AV t = {0};
    t += AV_LOAD_N(d0 + o, cw) * AV_SET1(i0[ow]);
    t += AV_LOAD_N(d1 + o, cw) * AV_SET1(i1[ow]);
    if (nr == 3) t += AV_LOAD_N(d2 + o, cw) * AV_SET1(i2[ow]);
    return t;
}

static AV_ATTR DNAS_INLINE void AV_FN(avg_bwd_fast)(float *dxrow, int acc, const float *const *d,
                                     const float *const *iv, int nr, const geo *g, int a, int b,
                                     int cw) {
    const size_t C = (size_t)g->C;
    const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *i0 = iv[0], *i1 = iv[1], *i2 = iv[2];
    int o = a + g->pad - 2;
    AV c0 = AV_FN(dcolsum)(d0, d1, d2, i0, i1, i2, nr, o, C, cw);
    AV c1 = AV_FN(dcolsum)(d0, d1, d2, i0, i1, i2, nr, o + 1, C, cw);
    float *p = dxrow + (size_t)a * C;
    for (int iw = a; iw < b; iw++, p += C) {
        AV c2 = AV_FN(dcolsum)(d0, d1, d2, i0, i1, i2, nr, iw - a + o + 2, C, cw);
        AV t = (c0 + c1) + c2;
        if (acc) t += AV_LOAD_N(p, cw);
        AV_STORE_N(p, t, cw);
        c0 = c1;
        c1 = c2;
    }
}

static AV_ATTR DNAS_INLINE void AV_FN(avg_bwd_row)(float *dxrow, int acc, const float *dyimg, const float *inv,
                                    const geo *g, int ohl, int ohh, int cw) {
    /* 3x3 stride 1 with 2 or 3 contributing output rows: sliding column sums. */
    const int nr = g->k == 3 && g->s == 1 ? ohh - ohl : 0;
    int a = 0, b = 0;
    if (nr == 2 || nr == 3) gather_interior(g, &a, &b);
    for (int iw = 0; iw < a; iw++) AV_FN(avg_bwd_px)(dxrow, acc, dyimg, inv, g, ohl, ohh, iw, cw);
    if (a < b) {
        const size_t rowlen = (size_t)g->OW * g->C;
        const float *d[3], *iv[3];
        for (int r = 0; r < 3; r++) {
            int oh = ohl + imin(r, nr - 1); /* nr == 2: the third is never read */
            d[r] = dyimg + (size_t)oh * rowlen;
            iv[r] = inv + (size_t)oh * g->OW;
        }
        if (nr == 3) AV_FN(avg_bwd_fast)(dxrow, acc, d, iv, 3, g, a, b, cw);
        else AV_FN(avg_bwd_fast)(dxrow, acc, d, iv, 2, g, a, b, cw);
    }
    for (int iw = b; iw < g->W; iw++) AV_FN(avg_bwd_px)(dxrow, acc, dyimg, inv, g, ohl, ohh, iw, cw);
}

/* dx row ih of one image (=/+= per acc) from dy image dyimg, all channel chunks. */
static AV_ATTR void AV_FN(avg_bwd_in_row)(float *dxrow, int acc, const float *dyimg, const float *inv,
                           const geo *g, int ih) {
    int ohl, ohh;
    out_range(ih, g->k, g->s, g->pad, g->OH, &ohl, &ohh);
    int c0 = 0;
    for (; c0 + AV_W <= g->C; c0 += AV_W)
        AV_FN(avg_bwd_row)(dxrow + c0, acc, dyimg + c0, inv, g, ohl, ohh, AV_W);
    if (AV_W > 8 && c0 + 8 <= g->C) {
        AV_FN(avg_bwd_row)(dxrow + c0, acc, dyimg + c0, inv, g, ohl, ohh, 8);
        c0 += 8;
    }
    if (c0 < g->C) AV_FN(avg_bwd_row)(dxrow + c0, acc, dyimg + c0, inv, g, ohl, ohh, g->C - c0);
}


#undef AV
#undef AV_W
#undef AV_LOAD_N
#undef AV_STORE_N
#undef AV_SET1
#undef AV_FN
#undef AV_ATTR
