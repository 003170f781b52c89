/* Batch norm on NHWC floats.
 *
 * Layout: channels are innermost, so every pass walks pixel blocks and, inside a block, chunks
 * of 8 channels (one AVX2 register of floats) with the per-channel state held in registers;
 * with AVX-512 (dnas_cpu_isa_used) chunks of 16 first, the block functions' c0 = the channel
 * where the 8-lane code takes over (each channel's arithmetic is the same in either).
 * Per-channel reductions over N*H*W go to one partial per (block, channel) in double; the
 * partials are then summed in block order. The block partition depends only on the shape, so
 * results are bit-identical across runs and across thread counts (no atomics anywhere). */
#include "cpu_kernels.h"
#include <math.h>
#include "cpu_simd512.h"

/* A block is about this many floats (16 KiB) so that a pass that re-reads it per channel chunk
 * hits L1; at most BN_MAX_BLOCKS blocks bound the partials to BN_MAX_BLOCKS*C*2 doubles. */
#define BN_BLOCK_FLOATS 4096
#define BN_MAX_BLOCKS 256

typedef struct {
    size_t bp; /* pixels per block (last block may be shorter) */
    long nb;   /* number of blocks */
} bn_blocks;

static bn_blocks bn_partition(size_t npix, int C) {
    bn_blocks b;
    size_t bp = BN_BLOCK_FLOATS / (size_t)C;
    if (bp < 16) bp = 16;
    size_t minbp = (npix + BN_MAX_BLOCKS - 1) / BN_MAX_BLOCKS;
    if (bp < minbp) bp = minbp;
    b.bp = bp;
    b.nb = (long)((npix + bp - 1) / bp);
    return b;
}

/* For one block of np pixels: s[c] = sum(x - k[c]), q[c] = sum((x - k[c])^2) in double.
 * The shift k (a sample of the channel) keeps E[x^2] - E[x]^2 free of cancellation when
 * |mean| >> std. Two pixels per iteration with separate sums halve the add latency chain. */
static void stats_block(const float *x, size_t np, int C, const float *k, double *s, double *q,
                        int c0) {
    const size_t C2 = 2 * (size_t)C;
    for (; c0 + 8 <= C; c0 += 8) {
        const dnas_v4d kl = v4d_load_f(k + c0), kh = v4d_load_f(k + c0 + 4);
        dnas_v4d s0l = {0}, s0h = {0}, q0l = {0}, q0h = {0};
        dnas_v4d s1l = {0}, s1h = {0}, q1l = {0}, q1h = {0};
        const float *r = x + c0;
        size_t p = 0;
        for (; p + 2 <= np; p += 2, r += C2) {
            dnas_v4d a = v4d_load_f(r) - kl, b = v4d_load_f(r + 4) - kh;
            dnas_v4d c = v4d_load_f(r + C) - kl, d = v4d_load_f(r + C + 4) - kh;
            s0l += a;
            q0l += a * a;
            s0h += b;
            q0h += b * b;
            s1l += c;
            q1l += c * c;
            s1h += d;
            q1h += d * d;
        }
        if (p < np) {
            dnas_v4d a = v4d_load_f(r) - kl, b = v4d_load_f(r + 4) - kh;
            s0l += a;
            q0l += a * a;
            s0h += b;
            q0h += b * b;
        }
        s0l += s1l;
        s0h += s1h;
        q0l += q1l;
        q0h += q1h;
        memcpy(s + c0, &s0l, sizeof s0l);
        memcpy(s + c0 + 4, &s0h, sizeof s0h);
        memcpy(q + c0, &q0l, sizeof q0l);
        memcpy(q + c0 + 4, &q0h, sizeof q0h);
    }
    if (c0 + 4 <= C) { /* a 4-channel tail (C = 36, 20, ...) in one vector, not 4 scalar
                        * latency-bound walks of the block (most of the 36-channel time) */
        const dnas_v4d kl = v4d_load_f(k + c0);
        dnas_v4d s0 = {0}, q0 = {0}, s1 = {0}, q1 = {0};
        const float *r = x + c0;
        size_t p = 0;
        for (; p + 2 <= np; p += 2, r += C2) {
            dnas_v4d a = v4d_load_f(r) - kl, c = v4d_load_f(r + C) - kl;
            s0 += a;
            q0 += a * a;
            s1 += c;
            q1 += c * c;
        }
        if (p < np) {
            dnas_v4d a = v4d_load_f(r) - kl;
            s0 += a;
            q0 += a * a;
        }
        s0 += s1;
        q0 += q1;
        memcpy(s + c0, &s0, sizeof s0);
        memcpy(q + c0, &q0, sizeof q0);
        c0 += 4;
    }
    for (; c0 < C; c0++) { /* channels past the last multiple of 4 (e.g. C = 3) */
        double kk = k[c0], s0 = 0, q0 = 0;
        for (size_t p = 0; p < np; p++) {
            double d = (double)x[p * (size_t)C + c0] - kk;
            s0 += d;
            q0 += d * d;
        }
        s[c0] = s0;
        q[c0] = q0;
    }
}

/* For one block: s[c] = sum(dy), q[c] = sum(dy * (x - mean[c])) in double. Subtracting the
 * mean (in double, exact for a float mean) before multiplying avoids the cancellation of
 * sum(dy*x) - mean*sum(dy). With RELU, dy counts only where the fused ReLU's output ry > 0
 * (ry is laid out like dy). */
typedef int bn_v4i __attribute__((vector_size(16)));
static DNAS_INLINE dnas_v4f bn_mask4(dnas_v4f g, const float *ry) {
    dnas_v4f y;
    memcpy(&y, ry, sizeof y);
    const dnas_v4f z = {0};
    return (dnas_v4f)((bn_v4i)g & (bn_v4i)(y > z));
}
static DNAS_INLINE dnas_v4d bn_dy4(const int RELU, const float *g, const float *ry) {
    if (!RELU) return v4d_load_f(g);
    dnas_v4f v;
    memcpy(&v, g, sizeof v);
    v = bn_mask4(v, ry);
    return (dnas_v4d){v[0], v[1], v[2], v[3]};
}
static DNAS_INLINE void bwd_stats_impl(const int RELU, const float *dy, const float *ry,
                                       const float *x, size_t np, int C, const float *mean,
                                       double *s, double *q, int c0) {
    const size_t C2 = 2 * (size_t)C;
    const ptrdiff_t yo = RELU ? ry - dy : 0; /* ry's element at g is g[yo] */
    for (; c0 + 8 <= C; c0 += 8) {
        const dnas_v4d ml = v4d_load_f(mean + c0), mh = v4d_load_f(mean + c0 + 4);
        dnas_v4d s0l = {0}, s0h = {0}, q0l = {0}, q0h = {0};
        dnas_v4d s1l = {0}, s1h = {0}, q1l = {0}, q1h = {0};
        const float *g = dy + c0, *r = x + c0;
        size_t p = 0;
        for (; p + 2 <= np; p += 2, r += C2, g += C2) {
            dnas_v4d ga = bn_dy4(RELU, g, g + yo), gb = bn_dy4(RELU, g + 4, g + 4 + yo);
            dnas_v4d gc = bn_dy4(RELU, g + C, g + C + yo), gd = bn_dy4(RELU, g + C + 4, g + C + 4 + yo);
            s0l += ga;
            q0l += ga * (v4d_load_f(r) - ml);
            s0h += gb;
            q0h += gb * (v4d_load_f(r + 4) - mh);
            s1l += gc;
            q1l += gc * (v4d_load_f(r + C) - ml);
            s1h += gd;
            q1h += gd * (v4d_load_f(r + C + 4) - mh);
        }
        if (p < np) {
            dnas_v4d ga = bn_dy4(RELU, g, g + yo), gb = bn_dy4(RELU, g + 4, g + 4 + yo);
            s0l += ga;
            q0l += ga * (v4d_load_f(r) - ml);
            s0h += gb;
            q0h += gb * (v4d_load_f(r + 4) - mh);
        }
        s0l += s1l;
        s0h += s1h;
        q0l += q1l;
        q0h += q1h;
        memcpy(s + c0, &s0l, sizeof s0l);
        memcpy(s + c0 + 4, &s0h, sizeof s0h);
        memcpy(q + c0, &q0l, sizeof q0l);
        memcpy(q + c0 + 4, &q0h, sizeof q0h);
    }
    if (c0 + 4 <= C) { /* 4-channel tail as one vector (see stats_block) */
        const dnas_v4d ml = v4d_load_f(mean + c0);
        dnas_v4d s0 = {0}, q0 = {0}, s1 = {0}, q1 = {0};
        const float *g = dy + c0, *r = x + c0;
        size_t p = 0;
        for (; p + 2 <= np; p += 2, r += C2, g += C2) {
            dnas_v4d ga = bn_dy4(RELU, g, g + yo), gc = bn_dy4(RELU, g + C, g + C + yo);
            s0 += ga;
            q0 += ga * (v4d_load_f(r) - ml);
            s1 += gc;
            q1 += gc * (v4d_load_f(r + C) - ml);
        }
        if (p < np) {
            dnas_v4d ga = bn_dy4(RELU, g, g + yo);
            s0 += ga;
            q0 += ga * (v4d_load_f(r) - ml);
        }
        s0 += s1;
        q0 += q1;
        memcpy(s + c0, &s0, sizeof s0);
        memcpy(q + c0, &q0, sizeof q0);
        c0 += 4;
    }
    for (; c0 < C; c0++) {
        double s0 = 0, q0 = 0, mm = mean[c0];
        for (size_t p = 0; p < np; p++) {
            size_t i = p * (size_t)C + c0;
            const double g = RELU && !(ry[i] > 0.0f) ? 0.0 : (double)dy[i];
            s0 += g;
            q0 += g * ((double)x[i] - mm);
        }
        s[c0] = s0;
        q[c0] = q0;
    }
}
static void bwd_stats_block(const float *dy, const float *x, size_t np, int C, const float *mean,
                            double *s, double *q, int c0) {
    bwd_stats_impl(0, dy, NULL, x, np, C, mean, s, q, c0);
}
static void bwd_stats_relu_block(const float *dy, const float *ry, const float *x, size_t np,
                                 int C, const float *mean, double *s, double *q, int c0) {
    bwd_stats_impl(1, dy, ry, x, np, C, mean, s, q, c0);
}

static inline dnas_v4f v4f_ld(const float *p) {
    dnas_v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v4f_st(float *p, dnas_v4f v) { memcpy(p, &v, sizeof v); }

/* y = (x - m[c]) * a[c] + b[c] for one block, then max(0, .) when RELU (y == x is fine: each
 * vector is loaded before it is stored). */
static DNAS_INLINE void affine_block_impl(const int RELU, float *y, const float *x, size_t np,
                                          int C, const float *m, const float *a, const float *b,
                                          int c0) {
    for (; c0 + 8 <= C; c0 += 8) {
        const dnas_v8f mm = v8f_load(m + c0), aa = v8f_load(a + c0), bb = v8f_load(b + c0);
        const dnas_v8f z = {0};
        size_t o = (size_t)c0;
        for (size_t p = 0; p < np; p++, o += (size_t)C) {
            dnas_v8f v = (v8f_load(x + o) - mm) * aa + bb;
            v8f_store(y + o, RELU ? (dnas_v8f)((dnas_v8i)v & (dnas_v8i)(v > z)) : v);
        }
    }
    if (c0 + 4 <= C) { /* 4-channel tail as one 128-bit vector */
        const dnas_v4f mm = v4f_ld(m + c0), aa = v4f_ld(a + c0), bb = v4f_ld(b + c0);
        const dnas_v4f z = {0};
        size_t o = (size_t)c0;
        for (size_t p = 0; p < np; p++, o += (size_t)C) {
            dnas_v4f v = (v4f_ld(x + o) - mm) * aa + bb;
            v4f_st(y + o, RELU ? (dnas_v4f)((bn_v4i)v & (bn_v4i)(v > z)) : v);
        }
        c0 += 4;
    }
    if (c0 < C) {
        int cw = C - c0;
        for (size_t p = 0; p < np; p++) {
            size_t o = p * (size_t)C + c0;
            for (int j = 0; j < cw; j++) {
                float v = (x[o + j] - m[c0 + j]) * a[c0 + j] + b[c0 + j];
                y[o + j] = RELU ? (v > 0.0f ? v : 0.0f) : v;
            }
        }
    }
}
static void affine_block(float *y, const float *x, size_t np, int C, const float *m,
                         const float *a, const float *b, int c0) {
    affine_block_impl(0, y, x, np, C, m, a, b, c0);
}
static void affine_relu_block(float *y, const float *x, size_t np, int C, const float *m,
                              const float *a, const float *b, int c0) {
    affine_block_impl(1, y, x, np, C, m, a, b, c0);
}

/* dx (=/+=) dy*A[c] + (x - m[c])*B[c] + D[c] for one block: the whole BN backward once the
 * per-channel sums are known. With RELU, dy is taken as 0 where ry <= 0 (the fused ReLU). */
static DNAS_INLINE dnas_v8f bn_dy8(const int RELU, const float *g, const float *ry) {
    dnas_v8f v = v8f_load(g);
    if (!RELU) return v;
    const dnas_v8f z = {0};
    return (dnas_v8f)((dnas_v8i)v & (dnas_v8i)(v8f_load(ry) > z));
}
static DNAS_INLINE void bwd_dx_impl(const int RELU, float *dx, int acc, const float *dy,
                                    const float *ry, const float *x, size_t np, int C,
                                    const float *m, const float *A, const float *B,
                                    const float *D, int c0) {
    for (; c0 + 8 <= C; c0 += 8) {
        const dnas_v8f mm = v8f_load(m + c0), aa = v8f_load(A + c0), bb = v8f_load(B + c0),
                       dd = v8f_load(D + c0);
        size_t o = (size_t)c0;
        if (acc)
            for (size_t p = 0; p < np; p++, o += (size_t)C)
                v8f_store(dx + o, v8f_load(dx + o) + (bn_dy8(RELU, dy + o, ry + o) * aa + dd +
                                                      (v8f_load(x + o) - mm) * bb));
        else
            for (size_t p = 0; p < np; p++, o += (size_t)C)
                v8f_store(dx + o,
                          bn_dy8(RELU, dy + o, ry + o) * aa + dd + (v8f_load(x + o) - mm) * bb);
    }
    if (c0 + 4 <= C) { /* 4-channel tail as one 128-bit vector */
        const dnas_v4f mm = v4f_ld(m + c0), aa = v4f_ld(A + c0), bb = v4f_ld(B + c0),
                       dd = v4f_ld(D + c0);
        size_t o = (size_t)c0;
        for (size_t p = 0; p < np; p++, o += (size_t)C) {
            dnas_v4f g = v4f_ld(dy + o);
            if (RELU) g = bn_mask4(g, ry + o);
            dnas_v4f t = g * aa + dd + (v4f_ld(x + o) - mm) * bb;
            v4f_st(dx + o, acc ? v4f_ld(dx + o) + t : t);
        }
        c0 += 4;
    }
    if (c0 < C) {
        int cw = C - c0;
        for (size_t p = 0; p < np; p++) {
            size_t o = p * (size_t)C + c0;
            for (int j = 0; j < cw; j++) {
                int c = c0 + j;
                float g = RELU && !(ry[o + j] > 0.0f) ? 0.0f : dy[o + j];
                float t = g * A[c] + D[c] + (x[o + j] - m[c]) * B[c];
                dx[o + j] = acc ? dx[o + j] + t : t;
            }
        }
    }
}
static void bwd_dx_block(float *dx, int acc, const float *dy, const float *x, size_t np, int C,
                         const float *m, const float *A, const float *B, const float *D, int c0) {
    bwd_dx_impl(0, dx, acc, dy, dy, x, np, C, m, A, B, D, c0);
}
static void bwd_dx_relu_block(float *dx, int acc, const float *dy, const float *ry,
                              const float *x, size_t np, int C, const float *m, const float *A,
                              const float *B, const float *D, int c0) {
    bwd_dx_impl(1, dx, acc, dy, ry, x, np, C, m, A, B, D, c0);
}

/* ------------------------------------------------------------------------------------------
 * AVX-512 kernels, chosen at run time (dnas_cpu_isa_used): 16-channel chunks, one zmm of
 * floats or two of doubles (channels c0..c0+7, c0+8..c0+15), each returning the first channel
 * it left to the 8/4-lane and scalar code above. Every lane gets the operations of the 8-lane
 * code in the same order: the same even/odd pixel sums joined at the end, the same per-(block,
 * channel) partials. Products and sums are separate mul / add intrinsics written as the 8-lane
 * expressions are: GCC's are plain vector operators, so the build's -ffp-contract=fast fuses
 * both ISAs' code alike (into FMAs, as it does now), and a build without contraction fuses
 * neither. Explicit FMAs here would break that. */
#if DNAS_HAVE_AVX512
#define BN5_INLINE inline __attribute__((always_inline)) DNAS_T512

static BN5_INLINE __m512d bn5_lo(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static BN5_INLINE __m512d bn5_hi(__m512 v) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
static BN5_INLINE __m512d bn5_ld8(const float *p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
/* g where ry > 0, else +0 (the 8-lane bn_mask4 / bn_dy8: an AND with the compare mask) */
static BN5_INLINE __m512 bn5_dy(const int RELU, const float *g, const float *ry) {
    const __m512 v = _mm512_loadu_ps(g);
    if (!RELU) return v;
    return _mm512_maskz_mov_ps(
        _mm512_cmp_ps_mask(_mm512_loadu_ps(ry), _mm512_setzero_ps(), _CMP_GT_OQ), v);
}

/* stats_block's sums for the 16-channel chunks */
static DNAS_T512 int stats_block5(const float *x, size_t np, int C, const float *k, double *s,
                                  double *q) {
    const size_t C2 = 2 * (size_t)C;
    int c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) {
        const __m512d kl = bn5_ld8(k + c0), kh = bn5_ld8(k + c0 + 8);
        __m512d s0l = _mm512_setzero_pd(), s0h = s0l, q0l = s0l, q0h = s0l;
        __m512d s1l = s0l, s1h = s0l, q1l = s0l, q1h = s0l;
        const float *r = x + c0;
        size_t p = 0;
        for (; p + 2 <= np; p += 2, r += C2) {
            const __m512 u = _mm512_loadu_ps(r), v = _mm512_loadu_ps(r + C);
            const __m512d a = _mm512_sub_pd(bn5_lo(u), kl), b = _mm512_sub_pd(bn5_hi(u), kh);
            const __m512d c = _mm512_sub_pd(bn5_lo(v), kl), d = _mm512_sub_pd(bn5_hi(v), kh);
            s0l = _mm512_add_pd(s0l, a);
            q0l = _mm512_add_pd(q0l, _mm512_mul_pd(a, a));
            s0h = _mm512_add_pd(s0h, b);
            q0h = _mm512_add_pd(q0h, _mm512_mul_pd(b, b));
            s1l = _mm512_add_pd(s1l, c);
            q1l = _mm512_add_pd(q1l, _mm512_mul_pd(c, c));
            s1h = _mm512_add_pd(s1h, d);
            q1h = _mm512_add_pd(q1h, _mm512_mul_pd(d, d));
        }
        if (p < np) {
            const __m512 u = _mm512_loadu_ps(r);
            const __m512d a = _mm512_sub_pd(bn5_lo(u), kl), b = _mm512_sub_pd(bn5_hi(u), kh);
            s0l = _mm512_add_pd(s0l, a);
            q0l = _mm512_add_pd(q0l, _mm512_mul_pd(a, a));
            s0h = _mm512_add_pd(s0h, b);
            q0h = _mm512_add_pd(q0h, _mm512_mul_pd(b, b));
        }
        _mm512_storeu_pd(s + c0, _mm512_add_pd(s0l, s1l));
        _mm512_storeu_pd(s + c0 + 8, _mm512_add_pd(s0h, s1h));
        _mm512_storeu_pd(q + c0, _mm512_add_pd(q0l, q1l));
        _mm512_storeu_pd(q + c0 + 8, _mm512_add_pd(q0h, q1h));
    }
    return c0;
}

/* bwd_stats_impl's sums for the 16-channel chunks */
static BN5_INLINE int bwd_stats5_impl(const int RELU, const float *dy, const float *ry,
                                      const float *x, size_t np, int C, const float *mean,
                                      double *s, double *q) {
    const size_t C2 = 2 * (size_t)C;
    const ptrdiff_t yo = RELU ? ry - dy : 0; /* ry's element at g is g[yo] */
    int c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) {
        const __m512d ml = bn5_ld8(mean + c0), mh = bn5_ld8(mean + c0 + 8);
        __m512d s0l = _mm512_setzero_pd(), s0h = s0l, q0l = s0l, q0h = s0l;
        __m512d s1l = s0l, s1h = s0l, q1l = s0l, q1h = s0l;
        const float *g = dy + c0, *r = x + c0;
        size_t p = 0;
        for (; p + 2 <= np; p += 2, r += C2, g += C2) {
            const __m512 gu = bn5_dy(RELU, g, g + yo), gv = bn5_dy(RELU, g + C, g + C + yo);
            const __m512 u = _mm512_loadu_ps(r), v = _mm512_loadu_ps(r + C);
            const __m512d ga = bn5_lo(gu), gb = bn5_hi(gu), gc = bn5_lo(gv), gd = bn5_hi(gv);
            s0l = _mm512_add_pd(s0l, ga);
            q0l = _mm512_add_pd(q0l, _mm512_mul_pd(ga, _mm512_sub_pd(bn5_lo(u), ml)));
            s0h = _mm512_add_pd(s0h, gb);
            q0h = _mm512_add_pd(q0h, _mm512_mul_pd(gb, _mm512_sub_pd(bn5_hi(u), mh)));
            s1l = _mm512_add_pd(s1l, gc);
            q1l = _mm512_add_pd(q1l, _mm512_mul_pd(gc, _mm512_sub_pd(bn5_lo(v), ml)));
            s1h = _mm512_add_pd(s1h, gd);
            q1h = _mm512_add_pd(q1h, _mm512_mul_pd(gd, _mm512_sub_pd(bn5_hi(v), mh)));
        }
        if (p < np) {
            const __m512 gu = bn5_dy(RELU, g, g + yo), u = _mm512_loadu_ps(r);
            const __m512d ga = bn5_lo(gu), gb = bn5_hi(gu);
            s0l = _mm512_add_pd(s0l, ga);
            q0l = _mm512_add_pd(q0l, _mm512_mul_pd(ga, _mm512_sub_pd(bn5_lo(u), ml)));
            s0h = _mm512_add_pd(s0h, gb);
            q0h = _mm512_add_pd(q0h, _mm512_mul_pd(gb, _mm512_sub_pd(bn5_hi(u), mh)));
        }
        _mm512_storeu_pd(s + c0, _mm512_add_pd(s0l, s1l));
        _mm512_storeu_pd(s + c0 + 8, _mm512_add_pd(s0h, s1h));
        _mm512_storeu_pd(q + c0, _mm512_add_pd(q0l, q1l));
        _mm512_storeu_pd(q + c0 + 8, _mm512_add_pd(q0h, q1h));
    }
    return c0;
}
static DNAS_T512 int bwd_stats_block5(const float *dy, const float *x, size_t np, int C,
                                      const float *mean, double *s, double *q) {
    return bwd_stats5_impl(0, dy, NULL, x, np, C, mean, s, q);
}
static DNAS_T512 int bwd_stats_relu_block5(const float *dy, const float *ry, const float *x,
                                           size_t np, int C, const float *mean, double *s,
                                           double *q) {
    return bwd_stats5_impl(1, dy, ry, x, np, C, mean, s, q);
}

/* affine_block_impl for the 16-channel chunks */
static BN5_INLINE int affine5_impl(const int RELU, float *y, const float *x, size_t np, int C,
                                   const float *m, const float *a, const float *b) {
    int c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) {
        const __m512 mm = _mm512_loadu_ps(m + c0), aa = _mm512_loadu_ps(a + c0),
                     bb = _mm512_loadu_ps(b + c0);
        size_t o = (size_t)c0;
        for (size_t p = 0; p < np; p++, o += (size_t)C) {
            __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + o), mm), aa),
                                     bb);
            if (RELU)
                v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
            _mm512_storeu_ps(y + o, v);
        }
    }
    return c0;
}
static DNAS_T512 int affine_block5(float *y, const float *x, size_t np, int C, const float *m,
                                   const float *a, const float *b) {
    return affine5_impl(0, y, x, np, C, m, a, b);
}
static DNAS_T512 int affine_relu_block5(float *y, const float *x, size_t np, int C,
                                        const float *m, const float *a, const float *b) {
    return affine5_impl(1, y, x, np, C, m, a, b);
}

/* bwd_dx_impl for the 16-channel chunks: t = dy*A + D + (x - m)*B, in that order */
static BN5_INLINE int bwd_dx5_impl(const int RELU, float *dx, int acc, const float *dy,
                                   const float *ry, const float *x, size_t np, int C,
                                   const float *m, const float *A, const float *B,
                                   const float *D) {
    int c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) {
        const __m512 mm = _mm512_loadu_ps(m + c0), aa = _mm512_loadu_ps(A + c0),
                     bb = _mm512_loadu_ps(B + c0), dd = _mm512_loadu_ps(D + c0);
        size_t o = (size_t)c0;
        for (size_t p = 0; p < np; p++, o += (size_t)C) {
            const __m512 t = _mm512_add_ps(
                _mm512_add_ps(_mm512_mul_ps(bn5_dy(RELU, dy + o, ry + o), aa), dd),
                _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + o), mm), bb));
            _mm512_storeu_ps(dx + o, acc ? _mm512_add_ps(_mm512_loadu_ps(dx + o), t) : t);
        }
    }
    return c0;
}
static DNAS_T512 int bwd_dx_block5(float *dx, int acc, const float *dy, const float *x,
                                   size_t np, int C, const float *m, const float *A,
                                   const float *B, const float *D) {
    return bwd_dx5_impl(0, dx, acc, dy, dy, x, np, C, m, A, B, D);
}
static DNAS_T512 int bwd_dx_relu_block5(float *dx, int acc, const float *dy, const float *ry,
                                        const float *x, size_t np, int C, const float *m,
                                        const float *A, const float *B, const float *D) {
    return bwd_dx5_impl(1, dx, acc, dy, ry, x, np, C, m, A, B, D);
}
#endif /* DNAS_HAVE_AVX512 */

/* One block with the ISA the caller chose once per kernel call (w: the AVX-512 chunks first,
 * then the rest as above). */
static void stats_any(int w, const float *x, size_t np, int C, const float *k, double *s,
                      double *q) {
    int c0 = 0;
#if DNAS_HAVE_AVX512
    if (w) c0 = stats_block5(x, np, C, k, s, q);
#else
    (void)w;
#endif
    stats_block(x, np, C, k, s, q, c0);
}
static void affine_any(int w, int relu, float *y, const float *x, size_t np, int C,
                       const float *m, const float *a, const float *b) {
    int c0 = 0;
#if DNAS_HAVE_AVX512
    if (w) c0 = relu ? affine_relu_block5(y, x, np, C, m, a, b) : affine_block5(y, x, np, C, m, a, b);
#else
    (void)w;
#endif
    if (relu) affine_relu_block(y, x, np, C, m, a, b, c0);
    else affine_block(y, x, np, C, m, a, b, c0);
}
static void bwd_stats_any(int w, const float *dy, const float *ry, const float *x, size_t np,
                          int C, const float *mean, double *s, double *q) {
    int c0 = 0;
#if DNAS_HAVE_AVX512
    if (w)
        c0 = ry ? bwd_stats_relu_block5(dy, ry, x, np, C, mean, s, q)
                : bwd_stats_block5(dy, x, np, C, mean, s, q);
#else
    (void)w;
#endif
    if (ry) bwd_stats_relu_block(dy, ry, x, np, C, mean, s, q, c0);
    else bwd_stats_block(dy, x, np, C, mean, s, q, c0);
}
static void bwd_dx_any(int w, float *dx, int acc, const float *dy, const float *ry,
                       const float *x, size_t np, int C, const float *m, const float *A,
                       const float *B, const float *D) {
    int c0 = 0;
#if DNAS_HAVE_AVX512
    if (w)
        c0 = ry ? bwd_dx_relu_block5(dx, acc, dy, ry, x, np, C, m, A, B, D)
                : bwd_dx_block5(dx, acc, dy, x, np, C, m, A, B, D);
#else
    (void)w;
#endif
    if (ry) bwd_dx_relu_block(dx, acc, dy, ry, x, np, C, m, A, B, D, c0);
    else bwd_dx_block(dx, acc, dy, x, np, C, m, A, B, D, c0);
}
/* Once per kernel call, not per block: the choice reads a global that tests flip. */
static int bn_wide(void) { return dnas_cpu_isa_used() == DNAS_ISA_AVX512; }

static dnas_status bn_check(const char *who, dnas_shape xs) {
    if (xs.n <= 0 || xs.h <= 0 || xs.w <= 0 || xs.c <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: empty or negative shape (%d,%d,%d,%d)", who,
                         xs.n, xs.c, xs.h, xs.w);
    return DNAS_OK;
}

/* Sum the per-block partials of one channel in block order (fixed, so deterministic). */
static void reduce_partials(const double *s, const double *q, long nb, int C, double *S,
                            double *Q) {
    for (int c = 0; c < C; c++) {
        S[c] = 0;
        Q[c] = 0;
    }
    for (long b = 0; b < nb; b++)
        for (int c = 0; c < C; c++) {
            S[c] += s[(size_t)b * C + c];
            Q[c] += q[(size_t)b * C + c];
        }
}

/* For test_bn_isa: the per-(block, channel) partial sums, with the ISA in force, of the forward
 * statistics (dy NULL: shift = the first pixel, as dnas_cpu_bn_fwd_train) or of the backward
 * ones (about mean; ReLU mask ry or NULL). A change in their summation order almost never
 * reaches the float outputs, so the test compares these doubles. *nb = the block count; s and
 * q (nb*C doubles each) may be NULL to ask for it. Serial: the partials do not depend on the
 * thread count. */
dnas_status dnas_cpu_bn_partials(const float *x, const float *dy, const float *ry,
                                 const float *mean, dnas_shape xs, double *s, double *q,
                                 long *nb) {
    DNAS_TRY(bn_check("bn_partials", xs));
    const int C = xs.c;
    const size_t npix = (size_t)xs.n * xs.h * xs.w;
    const bn_blocks bk = bn_partition(npix, C);
    *nb = bk.nb;
    if (!s || !q) return DNAS_OK;
    const int w = bn_wide();
    for (long b = 0; b < bk.nb; b++) {
        size_t p0 = (size_t)b * bk.bp, np = npix - p0 < bk.bp ? npix - p0 : bk.bp;
        if (dy)
            bwd_stats_any(w, dy + p0 * C, ry ? ry + p0 * C : NULL, x + p0 * C, np, C, mean,
                          s + (size_t)b * C, q + (size_t)b * C);
        else
            stats_any(w, x + p0 * C, np, C, x, s + (size_t)b * C, q + (size_t)b * C);
    }
    return DNAS_OK;
}

dnas_status dnas_cpu_bn_fwd_train(dnas_backend *be, const dnas_bn_p *p, float *y,
                                  float *save_mean, float *save_invstd, float *running_mean,
                                  float *running_var, const float *x, dnas_shape xs,
                                  const float *gamma, const float *beta) {
    DNAS_TRY(bn_check("bn_fwd_train", xs));
    const int C = xs.c;
    const size_t npix = (size_t)xs.n * xs.h * xs.w, total = npix * C;
    const bn_blocks bk = bn_partition(npix, C);
    const int nt = dnas_cpu_threads(be);

    /* workspace: partial sums (2*nb*C doubles), then totals (2*C doubles), then the float
     * per-channel mean, scale, shift (3*C). */
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(double) * (2 * (size_t)bk.nb * C + 2 * (size_t)C) +
                                        sizeof(float) * 3 * (size_t)C,
                                &ws));
    double *ps = ws, *pq = ps + (size_t)bk.nb * C, *S = pq + (size_t)bk.nb * C, *Q = S + C;
    float *fm = (float *)(Q + C), *fa = fm + C, *fb = fa + C;

    const int w = bn_wide();
    DNAS_OMP_FOR(nt, total)
    for (long b = 0; b < bk.nb; b++) {
        size_t p0 = (size_t)b * bk.bp, np = npix - p0 < bk.bp ? npix - p0 : bk.bp;
        stats_any(w, x + p0 * C, np, C, x, ps + (size_t)b * C, pq + (size_t)b * C);
    }
    reduce_partials(ps, pq, bk.nb, C, S, Q);

    const double M = (double)npix, mom = p->momentum;
    for (int c = 0; c < C; c++) {
        double d = S[c] / M;
        double var = Q[c] / M - d * d; /* biased: what normalisation uses */
        if (var < 0) var = 0;
        double mean = (double)x[c] + d;
        double invstd = 1.0 / sqrt(var + (double)p->eps);
        double g = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
        fm[c] = (float)mean;
        fa[c] = (float)(g * invstd);
        fb[c] = (float)bt;
        if (save_mean) save_mean[c] = (float)mean;
        if (save_invstd) save_invstd[c] = (float)invstd;
        if (running_mean) running_mean[c] = (float)((1.0 - mom) * running_mean[c] + mom * mean);
        if (running_var) {
            /* PyTorch updates with the unbiased variance; with one sample it is undefined, so
             * keep the biased one (0) instead of writing inf/nan into the model. */
            double uvar = npix > 1 ? var * M / (M - 1.0) : var;
            running_var[c] = (float)((1.0 - mom) * running_var[c] + mom * uvar);
        }
    }

    if (!y) return DNAS_OK; /* statistics only: a weighted sum normalises (DNAS_K_LAZY_BN) */
    DNAS_OMP_FOR(nt, total)
    for (long b = 0; b < bk.nb; b++) {
        size_t p0 = (size_t)b * bk.bp, np = npix - p0 < bk.bp ? npix - p0 : bk.bp;
        affine_any(w, p->relu, y + p0 * C, x + p0 * C, np, C, fm, fa, fb);
    }
    return DNAS_OK;
}

dnas_status dnas_cpu_bn_fwd_eval(dnas_backend *be, const dnas_bn_p *p, float *y, const float *x,
                                 dnas_shape xs, const float *running_mean,
                                 const float *running_var, const float *gamma,
                                 const float *beta) {
    DNAS_TRY(bn_check("bn_fwd_eval", xs));
    const int C = xs.c;
    const size_t npix = (size_t)xs.n * xs.h * xs.w, total = npix * C;
    const bn_blocks bk = bn_partition(npix, C);
    const int nt = dnas_cpu_threads(be);
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(float) * 3 * (size_t)C, &ws));
    float *fm = ws, *fa = fm + C, *fb = fa + C;
    const int w = bn_wide();
    for (int c = 0; c < C; c++) {
        double g = gamma ? gamma[c] : 1.0;
        fm[c] = running_mean ? running_mean[c] : 0.0f;
        fa[c] = (float)(g / sqrt((double)(running_var ? running_var[c] : 1.0f) + p->eps));
        fb[c] = beta ? beta[c] : 0.0f;
    }
    DNAS_OMP_FOR(nt, total)
    for (long b = 0; b < bk.nb; b++) {
        size_t p0 = (size_t)b * bk.bp, np = npix - p0 < bk.bp ? npix - p0 : bk.bp;
        affine_any(w, p->relu, y + p0 * C, x + p0 * C, np, C, fm, fa, fb);
    }
    return DNAS_OK;
}

dnas_status dnas_cpu_bn_bwd(dnas_backend *be, float *dx, int acc, float *dgamma, float *dbeta,
                            const float *dy, float dy_scale, const float *relu_y, const float *x,
                            dnas_shape xs, const float *save_mean, const float *save_invstd,
                            const float *gamma) {
    return dnas_cpu_bn_bwd_sums(be, dx, acc, dgamma, dbeta, dy, dy_scale, relu_y, x, xs,
                                save_mean, save_invstd, gamma, NULL);
}

dnas_status dnas_cpu_bn_bwd_sums(dnas_backend *be, float *dx, int acc, float *dgamma,
                                 float *dbeta, const float *dy, float dy_scale,
                                 const float *relu_y, const float *x, dnas_shape xs,
                                 const float *save_mean, const float *save_invstd,
                                 const float *gamma, double *sums) {
    DNAS_TRY(bn_check("bn_bwd", xs));
    if (!dx && !dgamma && !dbeta && !sums) return DNAS_OK;
    const int C = xs.c;
    const size_t npix = (size_t)xs.n * xs.h * xs.w, total = npix * C;
    const bn_blocks bk = bn_partition(npix, C);
    const int nt = dnas_cpu_threads(be);

    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(double) * (2 * (size_t)bk.nb * C + 2 * (size_t)C) +
                                        sizeof(float) * 3 * (size_t)C,
                                &ws));
    double *ps = ws, *pq = ps + (size_t)bk.nb * C, *S = pq + (size_t)bk.nb * C, *Q = S + C;
    float *fA = (float *)(Q + C), *fB = fA + C, *fD = fB + C;
    const int w = bn_wide();

    DNAS_OMP_FOR(nt, total)
    for (long b = 0; b < bk.nb; b++) {
        size_t p0 = (size_t)b * bk.bp, np = npix - p0 < bk.bp ? npix - p0 : bk.bp;
        bwd_stats_any(w, dy + p0 * C, relu_y ? relu_y + p0 * C : NULL, x + p0 * C, np, C,
                      save_mean, ps + (size_t)b * C, pq + (size_t)b * C);
    }
    reduce_partials(ps, pq, bk.nb, C, S, Q); /* S = sum dy, Q = sum dy*(x-mean) */
    if (sums) {
        memcpy(sums, S, (size_t)C * sizeof *S);
        memcpy(sums + C, Q, (size_t)C * sizeof *Q);
    }

    /* The output gradient is dy_scale * dy: both sums scale by it, and so does dx's factor A. */
    const double M = (double)npix, ds = dy_scale;
    for (int c = 0; c < C; c++) {
        S[c] *= ds;
        Q[c] *= ds;
        double is = save_invstd[c], g = gamma ? gamma[c] : 1.0;
        if (dgamma) dgamma[c] += (float)(Q[c] * is); /* sum dy*xhat */
        if (dbeta) dbeta[c] += (float)S[c];
        /* dx = g*is*(dy - S/M - (x-mean)*is^2*Q/M) */
        double A = g * is;
        fA[c] = (float)(A * ds);
        fB[c] = (float)(-A * is * is * Q[c] / M);
        fD[c] = (float)(-A * S[c] / M);
    }
    if (!dx) return DNAS_OK;

    DNAS_OMP_FOR(nt, total)
    for (long b = 0; b < bk.nb; b++) {
        size_t p0 = (size_t)b * bk.bp, np = npix - p0 < bk.bp ? npix - p0 : bk.bp;
        bwd_dx_any(w, dx + p0 * C, acc, dy + p0 * C, relu_y ? relu_y + p0 * C : NULL,
                   x + p0 * C, np, C, save_mean, fA, fB, fD);
    }
    return DNAS_OK;
}
