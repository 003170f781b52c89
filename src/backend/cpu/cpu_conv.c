/* CPU convolution: forward, backward-data and backward-weight in NHWC with AVX2 + FMA
 * (cpu_simd.h: the same code in portable vector form on targets without them).
 *
 * One "gather" engine serves forward and backward-data. Every destination pixel reads a
 * source pixel at base(i) + tap offsets, where per spatial axis
 *     base = floor((i*mul + add) / div),  phase = (i*mul + add) mod div
 * and the list of taps depends on the phase:
 *   forward:       mul = stride, add = -pad, div = 1       taps k -> offset k*dil
 *   backward-data: mul = 1, add = pad, div = stride        taps k with k*dil = phase (mod
 *                  stride) -> offset -(k*dil - phase)/stride
 * So backward-data is a forward-style gather over dy (no atomics, no scatter), for any
 * stride / dilation / padding, with stride 1 being a plain flipped-kernel convolution.
 *
 * Work is split into bands of destination rows of one image. The source rows a band needs
 * come from a zero-padded per-thread copy (the whole image when it fits in L2, filled once
 * per image; else the band's rows), or from the tensor itself when no padding is needed, so
 * the inner loops never test bounds. The micro-kernel keeps a strip of up to 6 destination
 * pixels x 16 destination channels in 12 ymm accumulators and walks (tap, k): 2 weight
 * loads + 6 broadcasts feed 12 FMAs. Pixels of a strip may come from different rows: each
 * has its own pointer, so row ends do not waste lanes.
 *
 * Backward-weight is the GEMM dW[tap,ci][co] += sum_p x[p + off(tap,ci)] * dy[p][co]: a strip
 * of 6 (tap,ci) rows x 16 output channels in registers, walking the pixels of a band.
 *
 * Where the CPU has AVX-512 (detected at run time, DNAS_CPU_ISA=avx2|avx512 overrides) the
 * dense paths use 16-lane versions of both micro-kernels (kd5, kw5): channel blocks of 16
 * (Dpad, Cpad multiples of 16), taken in pairs, 12-pixel / 12-16-row strips. They do per
 * output the same FMAs in the same order as the 8-lane ones, so results are bit-identical
 * whichever runs (test_conv_isa). Depthwise convolutions have 16-lane kernels too (kdw5,
 * kdww5; Dpad, Cpad multiples of 16), likewise bit-identical.
 *
 * Threads and determinism: forward and backward-data hand out bands dynamically (each output
 * is computed by one thread in a fixed order, so the schedule cannot change it). The weight
 * gradient is cut into 4*T fixed chunks (T = dnas_cpu_threads()), each summed into its own
 * partial buffer, handed out dynamically, then added in chunk order: bit-identical results
 * for a given T, and no thread waits on a core that another process has taken.
 * Depthwise convolutions (groups == cin == cout) have their own paths vectorised over
 * channels (a 4-channel tail in 128-bit vectors). Pointwise 1x1 stride-1 convolutions go to
 * oneDNN's sgemm when built with it (see pw_gemm). Kernels larger than MAXK or strides larger
 * than MAXS take a scalar fallback. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/status.h"
#include "cpu_internal.h"
#include "cpu_simd.h"
#include "cpu_simd512.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef DNAS_HAVE_DNNL
#include <dnnl.h>
#endif
#ifdef DNAS_HAVE_BLAS
#include <cblas.h>
#endif

#define MR 6    /* pixels (forward) or (tap,ci) rows (weight grad) per micro-kernel strip */
#define MAXK 16 /* largest kernel extent per axis on the fast paths */
#define MAXS 8  /* largest stride on the fast paths (backward-data has `stride` phases) */
#define DWT 8   /* taps per depthwise weight-grad chunk */

/* OpenMP pragmas only when OpenMP is on (NO_OMP=1 builds must not warn). */
#ifdef _OPENMP
#define OMP(x) _Pragma(#x)
#else
#define OMP(x)
#endif

/* Destination pixels per band: the band's source rows, its dy rows and the weights of one
 * output-channel block should stay in L1/L2 while the strips walk them. WHOLE_IMG_BYTES: the
 * largest padded image kept whole in a thread's buffer. */
#ifndef BAND_PX_FWD
#define BAND_PX_FWD 96
#endif
#ifndef BAND_PX_WGT
#define BAND_PX_WGT 128
#endif
#ifndef WHOLE_IMG_BYTES
#define WHOLE_IMG_BYTES (256 * 1024)
#endif

#define NOINLINE __attribute__((noinline))
#define ALWAYS_INLINE inline __attribute__((always_inline))

static int conv_impl(void);
/* DNAS_CONV_IMPL=old: the kernels as before this file's 4-lane depthwise tails and GEMM 1x1
 * path, kept reachable for old-vs-new comparisons in one process (bench_kernels conv). */
static inline int dnas_conv_old(void) { return conv_impl() == DNAS_CONV_OLD; }
static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int floordiv(int a, int b) {
    int q = a / b;
    if ((a % b) != 0 && ((a < 0) != (b < 0))) q--;
    return q;
}
static inline int round8(int c) { return (c + 7) & ~7; }
static inline int round16(int c) { return (c + 15) & ~15; }
static inline size_t align64(size_t b) { return (b + 63) & ~(size_t)63; }

/* ------------------------------------------------------------------------------------------
 * Geometry of one spatial axis */
typedef struct {
    int mul, add, div;
    int nt[MAXS];       /* taps per phase */
    int tk[MAXS][MAXK]; /* kernel index of each tap */
    int to[MAXS][MAXK]; /* source offset (pixels) of each tap, relative to base */
    int mn[MAXS];       /* smallest offset of the phase (0 when no taps) */
} axis_t;

static void axis_fwd(axis_t *a, int k, int s, int p, int d) {
    memset(a, 0, sizeof *a);
    a->mul = s;
    a->add = -p;
    a->div = 1;
    a->nt[0] = k;
    for (int kk = 0; kk < k; kk++) {
        a->tk[0][kk] = kk;
        a->to[0][kk] = kk * d;
    }
}

static void axis_bwd(axis_t *a, int k, int s, int p, int d) {
    memset(a, 0, sizeof *a);
    a->mul = 1;
    a->add = p;
    a->div = s;
    for (int ph = 0; ph < s; ph++) {
        int n = 0, mn = INT_MAX;
        for (int kk = 0; kk < k; kk++) {
            int v = kk * d - ph;
            if (v < 0 || v % s) continue;
            a->tk[ph][n] = kk;
            a->to[ph][n] = -(v / s);
            mn = imin(mn, a->to[ph][n]);
            n++;
        }
        a->nt[ph] = n;
        a->mn[ph] = n ? mn : 0;
    }
}

static inline void axis_pos(const axis_t *a, int i, int *base, int *ph) {
    int v = i * a->mul + a->add;
    if (a->div == 1) { /* forward: no division in the pixel loops */
        *base = v;
        *ph = 0;
        return;
    }
    int b = floordiv(v, a->div);
    *base = b;
    *ph = v - b * a->div;
}

/* Source index range read by destination indices [i0, i1). Returns 0 if nothing is read. */
static int axis_range(const axis_t *a, int i0, int i1, int *lo, int *hi) {
    int l = INT_MAX, h = INT_MIN;
    for (int i = i0; i < i1; i++) {
        int b, ph;
        axis_pos(a, i, &b, &ph);
        for (int t = 0; t < a->nt[ph]; t++) {
            l = imin(l, b + a->to[ph][t]);
            h = imax(h, b + a->to[ph][t]);
        }
    }
    *lo = l;
    *hi = h;
    return h >= l;
}

/* ------------------------------------------------------------------------------------------
 * Plan: source grid, destination grid, bands, and the padded source buffer */
typedef struct {
    int N;
    int DH, DW, DC; /* destination rows, cols, channel stride */
    int SH, SW, SC; /* source rows, cols, channel stride */
    int KH, KW;
    axis_t ah, aw;
    int direct;    /* read the source tensor in place (no padding needed anywhere) */
    int clo;       /* first source column held by a buffer row */
    int ncols;     /* source columns per buffer row */
    ptrdiff_t rs;  /* row stride (floats) of the buffer or of the source */
    int band_rows, nbands, max_rows;
    int band_px;   /* band_rows * DW */
    int whole;     /* the buffer holds a whole padded image (rows rlo_all..), filled once */
    int rlo_all;
} plan_t;

static void plan_init(plan_t *P, int N, int DH, int DW, int DC, int SH, int SW, int SC, int KH,
                      int KW, int target_px) {
    P->N = N;
    P->DH = DH;
    P->DW = DW;
    P->DC = DC;
    P->SH = SH;
    P->SW = SW;
    P->SC = SC;
    P->KH = KH;
    P->KW = KW;
    P->band_rows = imax(1, imin(DH, (target_px + DW - 1) / DW));
    P->nbands = (DH + P->band_rows - 1) / P->band_rows;
    P->band_px = P->band_rows * DW;
    int rlo, rhi, clo, chi;
    int hr = axis_range(&P->ah, 0, DH, &rlo, &rhi);
    int hc = axis_range(&P->aw, 0, DW, &clo, &chi);
    if (!hr || !hc) { /* nothing is ever read: every destination is zero/bias */
        P->direct = 1;
    } else {
        P->direct = rlo >= 0 && rhi < SH && clo >= 0 && chi < SW;
    }
    if (P->direct) {
        P->clo = 0;
        P->ncols = SW;
        P->rs = (ptrdiff_t)SW * SC;
        P->max_rows = 0;
    } else {
        P->clo = clo;
        P->ncols = chi - clo + 1;
        P->rs = (ptrdiff_t)P->ncols * SC;
        P->max_rows = 0;
        /* A whole padded image per worker, when it fits in L2 comfortably: each source row
         * is copied once instead of once per band that reads it (bands overlap by the
         * kernel's halo). Otherwise, one band's rows at a time. */
        P->whole = (size_t)(rhi - rlo + 1) * (size_t)P->rs * sizeof(float) <= WHOLE_IMG_BYTES;
        P->rlo_all = rlo;
        if (P->whole) {
            P->max_rows = rhi - rlo + 1;
        } else {
            for (int b = 0; b < P->nbands; b++) {
                int lo, hi;
                if (axis_range(&P->ah, b * P->band_rows, imin(DH, (b + 1) * P->band_rows), &lo,
                               &hi))
                    P->max_rows = imax(P->max_rows, hi - lo + 1);
            }
        }
    }
}

static size_t plan_buf_floats(const plan_t *P) {
    return P->direct ? 0 : (size_t)P->max_rows * (size_t)P->rs;
}

/* Copies source rows lo..hi of one image into buf with zero padding around. */
static void fill_rows(const plan_t *P, const float *img, float *buf, int lo, int hi) {
    const int SC = P->SC, SW = P->SW, c0 = P->clo, c1 = P->clo + P->ncols;
    const int a = imax(c0, 0), e = imin(c1, SW);
    for (int r = lo; r <= hi; r++) {
        float *row = buf + (size_t)(r - lo) * P->rs;
        if (r < 0 || r >= P->SH || a >= e) {
            memset(row, 0, sizeof(float) * (size_t)P->rs);
            continue;
        }
        if (a > c0) memset(row, 0, sizeof(float) * (size_t)(a - c0) * SC);
        memcpy(row + (size_t)(a - c0) * SC, img + ((size_t)r * SW + a) * SC,
               sizeof(float) * (size_t)(e - a) * SC);
        if (c1 > e) memset(row + (size_t)(e - c0) * SC, 0, sizeof(float) * (size_t)(c1 - e) * SC);
    }
}

/* Source view for dst rows [i0,i1) of image n: the tensor itself or a padded copy in buf.
 * *cached is the image the worker's buffer holds in whole-image mode (-1: none). */
static const float *plan_source(const plan_t *P, const float *src, int n, int i0, int i1,
                                float *buf, int *cached, int *rlo_out) {
    const float *img = src + (size_t)n * P->SH * P->SW * P->SC;
    if (P->direct) {
        *rlo_out = 0;
        return img;
    }
    if (P->whole) {
        if (*cached != n) {
            fill_rows(P, img, buf, P->rlo_all, P->rlo_all + P->max_rows - 1);
            *cached = n;
        }
        *rlo_out = P->rlo_all;
        return buf;
    }
    int lo, hi;
    if (!axis_range(&P->ah, i0, i1, &lo, &hi)) {
        *rlo_out = 0;
        return buf;
    }
    fill_rows(P, img, buf, lo, hi);
    *rlo_out = lo;
    return buf;
}

/* ------------------------------------------------------------------------------------------
 * Micro-kernels. R (pixels or rows) and NV (8-lane vectors) are compile-time constants in
 * each instantiation so the accumulators live in registers. */

/* Dense gather: dst[r][0..NV*8) (=|+=) bias + sum_t sum_k src[r][toff[t] + k] * w[t][k][:]. */
static ALWAYS_INLINE void kd_impl(const int R, const int NV, const float *sb,
                                  const ptrdiff_t *so, float *db, const ptrdiff_t *dof,
                                  const int *toff, const int *tidx, int nt, int K,
                                  const float *w, const float *bias, int add, int nvalid) {
    f8 a[MR][2];
    const float *sp[MR];
    float *dp[MR];
    const int L = NV * 8;
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) sp[r] = sb + so[r];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        a[r][0] = f8_zero();
        a[r][1] = f8_zero();
    }
    for (int t = 0; t < nt; t++) {
        const float *wt = w + (size_t)tidx[t] * K * L;
        const float *s[MR];
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) s[r] = sp[r] + toff[t];
        for (int k = 0; k < K; k++) {
            const f8 w0 = f8_load(wt + (size_t)k * L);
            const f8 w1 = NV == 2 ? f8_load(wt + (size_t)k * L + 8) : w0;
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                const f8 b = f8_bcast(s[r] + k);
                a[r][0] = f8_fmadd(b, w0, a[r][0]);
                if (NV == 2) a[r][1] = f8_fmadd(b, w1, a[r][1]);
            }
        }
    }
    /* destination pointers only now: during the loop the registers hold the sources */
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) dp[r] = db + dof[r];
    /* every loop touching a[][] is fully unrolled so that the array stays in registers */
    if (nvalid == L) {
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                float *y = dp[r] + 8 * v;
                f8 o = a[r][v];
                if (add) o = f8_add(o, f8_loadu(y));
                else if (bias) o = f8_add(o, f8_load(bias + 8 * v));
                f8_storeu(y, o);
            }
        }
    } else {
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            const int nv = nvalid - 8 * v;
            const m8 m = m8_first(nv); /* all off when nv <= 0 */
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                float *y = dp[r] + 8 * v;
                f8 o = a[r][v];
                if (add) o = f8_add(o, f8_maskload(y, m));
                else if (bias) o = f8_add(o, f8_load(bias + 8 * v));
                f8_maskstore(y, m, o);
            }
        }
    }
}

/* Arguments of a dense gather call: ns strips of R pixels; pixel q of the call reads
 * sb + so[q] and writes db + dof[q]. Looping over strips inside the call lets one strip's
 * stores overlap the next strip's FMAs and keeps call overhead off short (1x1) strips. */
typedef struct {
    const float *sb;
    float *db;
    const ptrdiff_t *so, *dof;
    const int *toff, *tidx;
    int nt, K;
    const float *w, *bias;
    int add, nvalid;
    ptrdiff_t wnext; /* AVX-512 kernels: floats from one 16-channel weight block to the next */
} kd_args;
typedef void (*kd_fn)(const kd_args *, int);

#define KD_INST(R, NV)                                                                         \
    static NOINLINE void kd_##R##_##NV(const kd_args *A, int ns) {                             \
        for (int s_ = 0; s_ < ns; s_++) {                                                      \
            kd_impl(R, NV, A->sb, A->so + s_ * R, A->db, A->dof + s_ * R, A->toff, A->tidx,    \
                    A->nt, A->K, A->w, A->bias, A->add, A->nvalid);                            \
        }                                                                                      \
    }
KD_INST(1, 1) KD_INST(2, 1) KD_INST(3, 1) KD_INST(4, 1) KD_INST(5, 1) KD_INST(6, 1)
KD_INST(1, 2) KD_INST(2, 2) KD_INST(3, 2) KD_INST(4, 2) KD_INST(5, 2) KD_INST(6, 2)
static const kd_fn kd_tab[2][MR] = {
    {kd_1_1, kd_2_1, kd_3_1, kd_4_1, kd_5_1, kd_6_1},
    {kd_1_2, kd_2_2, kd_3_2, kd_4_2, kd_5_2, kd_6_2},
};

/* Dense weight gradient: part[r][0..NV*8) += sum over band pixels p of
 * src(p)[off[r]] * dy(p)[:]. Band pixels: nrows rows of ncols, src steps pstep per pixel and
 * rstep per row, dy is contiguous with stride dys per pixel. */
static ALWAYS_INLINE void kw_impl(const int R, const int NV, const int MASKED,
                                  const float *srow, int nrows, int ncols, ptrdiff_t rstep,
                                  ptrdiff_t pstep, const float *dy, ptrdiff_t dys,
                                  const int *off, float *part, ptrdiff_t cpad, int nvalid) {
    f8 a[MR][2];
    ptrdiff_t o[MR];
    m8 m0 = m8_zero(), m1 = m8_zero();
    if (MASKED) {
        m0 = m8_first(nvalid);
        m1 = m8_first(nvalid - 8);
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        o[r] = off[r];
        a[r][0] = f8_load(part + r * cpad);
        a[r][1] = NV == 2 ? f8_load(part + r * cpad + 8) : f8_zero();
    }
    for (int i = 0; i < nrows; i++) {
        const float *s = srow + i * rstep;
        for (int j = 0; j < ncols; j++) {
            const f8 d0 = MASKED ? f8_maskload(dy, m0) : f8_loadu(dy);
            const f8 d1 = NV == 2 ? (MASKED ? f8_maskload(dy + 8, m1)
                                                : f8_loadu(dy + 8))
                                      : d0;
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                const f8 b = f8_bcast(s + o[r]);
                a[r][0] = f8_fmadd(b, d0, a[r][0]);
                if (NV == 2) a[r][1] = f8_fmadd(b, d1, a[r][1]);
            }
            s += pstep;
            dy += dys;
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        f8_store(part + r * cpad, a[r][0]);
        if (NV == 2) f8_store(part + r * cpad + 8, a[r][1]);
    }
}

typedef void (*kw_fn)(const float *, int, int, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                      const int *, float *, ptrdiff_t, int);
#define KW_INST(R, NV, M)                                                                      \
    static NOINLINE void kw_##R##_##NV##_##M(const float *srow, int nrows, int ncols,          \
                                             ptrdiff_t rstep, ptrdiff_t pstep,                 \
                                             const float *dy, ptrdiff_t dys, const int *off,   \
                                             float *part, ptrdiff_t cpad, int nvalid) {        \
        kw_impl(R, NV, M, srow, nrows, ncols, rstep, pstep, dy, dys, off, part, cpad, nvalid); \
    }
#define KW_INST_R(NV, M)                                                                       \
    KW_INST(1, NV, M) KW_INST(2, NV, M) KW_INST(3, NV, M) KW_INST(4, NV, M) KW_INST(5, NV, M) \
    KW_INST(6, NV, M)
KW_INST_R(1, 0) KW_INST_R(2, 0) KW_INST_R(1, 1) KW_INST_R(2, 1)
static const kw_fn kw_tab[2][2][MR] = {
    {{kw_1_1_0, kw_2_1_0, kw_3_1_0, kw_4_1_0, kw_5_1_0, kw_6_1_0},
     {kw_1_2_0, kw_2_2_0, kw_3_2_0, kw_4_2_0, kw_5_2_0, kw_6_2_0}},
    {{kw_1_1_1, kw_2_1_1, kw_3_1_1, kw_4_1_1, kw_5_1_1, kw_6_1_1},
     {kw_1_2_1, kw_2_2_1, kw_3_2_1, kw_4_2_1, kw_5_2_1, kw_6_2_1}},
};

/* ------------------------------------------------------------------------------------------
 * AVX-512 dense micro-kernels, chosen at run time (dnas_cpu_isa_used). One zmm holds a
 * 16-channel block, and with 32 zmm registers a strip keeps up to 12 pixels x NB = 2 blocks
 * (24 accumulators) or 16 rows x 1 block: enough independent FMA chains to cover the FMA
 * latency on two pipes, with one broadcast feeding NB FMAs. Channel tails use k-masks.
 * Every output lane gets the FMAs of the 8-lane kernels in the same order (kd: tap, then k;
 * kw: band pixels in order, onto the same partial buffer), then the same final add, so both
 * ISAs give bit-identical results. */
#if DNAS_HAVE_AVX512
#define MR5 16 /* most rows per weight-gradient strip (one block); 12 with two blocks */
#define MD5 12 /* most pixels per gather strip */

static ALWAYS_INLINE DNAS_T512 __mmask16 k16_first(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* As kd_impl for R pixels x NB 16-channel blocks; block 1's weights lie A->wnext floats after
 * block 0's, and A->nvalid counts the valid channels of both. */
static ALWAYS_INLINE DNAS_T512 void kd5_impl(const int R, const int NB, const kd_args *A,
                                             const ptrdiff_t *so, const ptrdiff_t *dof) {
    __m512 a[MD5][2];
    const float *sp[MD5];
    const int K = A->K;
    const ptrdiff_t wn = A->wnext;
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        sp[r] = A->sb + so[r];
        a[r][0] = _mm512_setzero_ps();
        a[r][1] = _mm512_setzero_ps();
    }
    for (int t = 0; t < A->nt; t++) {
        const float *wt = A->w + (size_t)A->tidx[t] * K * 16;
        const float *s[MD5];
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) s[r] = sp[r] + A->toff[t];
        for (int k = 0; k < K; k++) {
            const __m512 w0 = _mm512_load_ps(wt + (size_t)k * 16);
            const __m512 w1 = NB == 2 ? _mm512_load_ps(wt + wn + (size_t)k * 16) : w0;
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                const __m512 b = _mm512_set1_ps(s[r][k]);
                a[r][0] = _mm512_fmadd_ps(b, w0, a[r][0]);
                if (NB == 2) a[r][1] = _mm512_fmadd_ps(b, w1, a[r][1]);
            }
        }
    }
    float *dp[MD5];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) dp[r] = A->db + dof[r];
#pragma GCC unroll 2
    for (int v = 0; v < NB; v++) {
        const int nv = A->nvalid - 16 * v;
        const float *bias = A->bias ? A->bias + 16 * v : NULL;
        if (nv >= 16) {
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                float *y = dp[r] + 16 * v;
                __m512 o = a[r][v];
                if (A->add) o = _mm512_add_ps(o, _mm512_loadu_ps(y));
                else if (bias) o = _mm512_add_ps(o, _mm512_load_ps(bias));
                _mm512_storeu_ps(y, o);
            }
        } else {
            const __mmask16 m = k16_first(nv);
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                float *y = dp[r] + 16 * v;
                __m512 o = a[r][v];
                if (A->add) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(m, y));
                else if (bias) o = _mm512_add_ps(o, _mm512_load_ps(bias));
                _mm512_mask_storeu_ps(y, m, o);
            }
        }
    }
}

#define KD5_INST(R, NB)                                                                        \
    static NOINLINE DNAS_T512 void kd5_##R##_##NB(const kd_args *A, int ns) {                  \
        for (int s_ = 0; s_ < ns; s_++) kd5_impl(R, NB, A, A->so + s_ * R, A->dof + s_ * R);   \
    }
#define KD5_INST_R(NB)                                                                         \
    KD5_INST(1, NB) KD5_INST(2, NB) KD5_INST(3, NB) KD5_INST(4, NB) KD5_INST(5, NB)            \
    KD5_INST(6, NB) KD5_INST(7, NB) KD5_INST(8, NB) KD5_INST(9, NB) KD5_INST(10, NB)           \
    KD5_INST(11, NB) KD5_INST(12, NB)
KD5_INST_R(1) KD5_INST_R(2)
static const kd_fn kd5_tab[2][MD5] = {
    {kd5_1_1, kd5_2_1, kd5_3_1, kd5_4_1, kd5_5_1, kd5_6_1, kd5_7_1, kd5_8_1, kd5_9_1, kd5_10_1,
     kd5_11_1, kd5_12_1},
    {kd5_1_2, kd5_2_2, kd5_3_2, kd5_4_2, kd5_5_2, kd5_6_2, kd5_7_2, kd5_8_2, kd5_9_2, kd5_10_2,
     kd5_11_2, kd5_12_2},
};

/* As kw_impl for R rows x NB 16-channel blocks, where row r reads src(p)[r] (consecutive
 * input channels of one tap: srow already points at the first); nvalid counts the valid
 * channels of both blocks (the others are read as 0). */
static ALWAYS_INLINE DNAS_T512 void kw5_impl(const int R, const int NB, const float *srow,
                                             int nrows, int ncols, ptrdiff_t rstep,
                                             ptrdiff_t pstep, const float *dy, ptrdiff_t dys,
                                             float *part, ptrdiff_t cpad, int nvalid) {
    __m512 a[MR5][2];
    const __mmask16 m0 = k16_first(nvalid), m1 = k16_first(nvalid - 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        a[r][0] = _mm512_load_ps(part + r * cpad);
        a[r][1] = NB == 2 ? _mm512_load_ps(part + r * cpad + 16) : _mm512_setzero_ps();
    }
    for (int i = 0; i < nrows; i++) {
        const float *s = srow + i * rstep;
        for (int j = 0; j < ncols; j++) {
            const __m512 d0 = _mm512_maskz_loadu_ps(m0, dy);
            const __m512 d1 = NB == 2 ? _mm512_maskz_loadu_ps(m1, dy + 16) : d0;
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                const __m512 b = _mm512_set1_ps(s[r]);
                a[r][0] = _mm512_fmadd_ps(b, d0, a[r][0]);
                if (NB == 2) a[r][1] = _mm512_fmadd_ps(b, d1, a[r][1]);
            }
            s += pstep;
            dy += dys;
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        _mm512_store_ps(part + r * cpad, a[r][0]);
        if (NB == 2) _mm512_store_ps(part + r * cpad + 16, a[r][1]);
    }
}

typedef void (*kw5_fn)(const float *, int, int, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                       float *, ptrdiff_t, int);
#define KW5_INST(R, NB)                                                                        \
    static NOINLINE DNAS_T512 void kw5_##R##_##NB(const float *srow, int nrows, int ncols,     \
                                                  ptrdiff_t rstep, ptrdiff_t pstep,            \
                                                  const float *dy, ptrdiff_t dys, float *part, \
                                                  ptrdiff_t cpad, int nvalid) {                \
        kw5_impl(R, NB, srow, nrows, ncols, rstep, pstep, dy, dys, part, cpad, nvalid);        \
    }
#define KW5_INST_R(NB)                                                                         \
    KW5_INST(1, NB) KW5_INST(2, NB) KW5_INST(3, NB) KW5_INST(4, NB) KW5_INST(5, NB)            \
    KW5_INST(6, NB) KW5_INST(7, NB) KW5_INST(8, NB) KW5_INST(9, NB) KW5_INST(10, NB)           \
    KW5_INST(11, NB) KW5_INST(12, NB)
KW5_INST_R(1) KW5_INST_R(2)
KW5_INST(13, 1) KW5_INST(14, 1) KW5_INST(15, 1) KW5_INST(16, 1)
static const kw5_fn kw5_tab[2][MR5] = {
    {kw5_1_1, kw5_2_1, kw5_3_1, kw5_4_1, kw5_5_1, kw5_6_1, kw5_7_1, kw5_8_1, kw5_9_1, kw5_10_1,
     kw5_11_1, kw5_12_1, kw5_13_1, kw5_14_1, kw5_15_1, kw5_16_1},
    {kw5_1_2, kw5_2_2, kw5_3_2, kw5_4_2, kw5_5_2, kw5_6_2, kw5_7_2, kw5_8_2, kw5_9_2, kw5_10_2,
     kw5_11_2, kw5_12_2, NULL, NULL, NULL, NULL},
};

/* Longest strips, per number of 16-channel blocks (bench_kernels isa, Zen 5: pairs of blocks
 * were 10-15% faster than single blocks; 6 to 12 pixels per pair made no measurable
 * difference; with one block, 8 to 16 rows/pixels neither, being limited by one broadcast load
 * per FMA rather than by the number of chains). */
static const int kd5_rmax[2] = {MD5, MD5}, kw5_rmax[2] = {MR5, 12};
#endif

/* Depthwise gather over one 8-channel block: dst[r] (=|+=) bias + sum_t src[r][toff[t]] *
 * w[tidx[t]]. MASKED: only nvalid lanes are read or written (last block of a channel count
 * that is not a multiple of 8). */
typedef struct {
    const float *sb;
    float *db;
    const ptrdiff_t *so, *dof;
    const int *toff, *tidx;
    int nt;
    const float *w;     /* packed [tap][wstride] */
    ptrdiff_t wstride;
    const float *bias;  /* [channels] or NULL */
    int add, nvalid;
    int nblk;           /* 8-channel blocks per pixel, looped inside the call */
} kdw_args;

/* Depthwise gather: for each strip of R pixels and each 8-channel block,
 * dst[r][c] (=|+=) bias[c] + sum_t src[r][toff[t] + c] * w[tidx[t]][c]. MASKED: one block with
 * only nvalid lanes read or written (the tail of a channel count that is not a multiple
 * of 8). */
static ALWAYS_INLINE void kdw_impl(const int R, const int MASKED, const kdw_args *A,
                                   const ptrdiff_t *so, const ptrdiff_t *dof) {
    const float *sp[MR];
    float *dp[MR];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) sp[r] = A->sb + so[r];
    const m8 m = MASKED ? m8_first(A->nvalid) : m8_zero();
    for (int b = 0; b < A->nblk; b++) {
        const int c0 = 8 * b;
        const float *w = A->w + c0;
        f8 a[MR];
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) a[r] = f8_zero();
        for (int t = 0; t < A->nt; t++) {
            const f8 wv = f8_load(w + (ptrdiff_t)A->tidx[t] * A->wstride);
            const int o = A->toff[t] + c0;
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                const f8 xv = MASKED ? f8_maskload(sp[r] + o, m)
                                         : f8_loadu(sp[r] + o);
                a[r] = f8_fmadd(xv, wv, a[r]);
            }
        }
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) dp[r] = A->db + dof[r] + c0;
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            f8 v = a[r];
            if (A->add)
                v = f8_add(v, MASKED ? f8_maskload(dp[r], m)
                                            : f8_loadu(dp[r]));
            else if (A->bias)
                v = f8_add(v, f8_load(A->bias + c0));
            if (MASKED) f8_maskstore(dp[r], m, v);
            else f8_storeu(dp[r], v);
        }
    }
}

/* As kdw_impl for one block of exactly 4 channels (the tail of 36, 20, 12 ...), in 128-bit
 * vectors: plain loads and stores instead of masked ones. */
static ALWAYS_INLINE void kdw4_impl(const int R, const kdw_args *A, const ptrdiff_t *so,
                                    const ptrdiff_t *dof) {
    const float *sp[MR];
    f4 a[MR];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        sp[r] = A->sb + so[r];
        a[r] = f4_zero();
    }
    for (int t = 0; t < A->nt; t++) {
        const f4 wv = f4_loadu(A->w + (ptrdiff_t)A->tidx[t] * A->wstride);
        const int o = A->toff[t];
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) a[r] = f4_fmadd(f4_loadu(sp[r] + o), wv, a[r]);
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        float *d = A->db + dof[r];
        f4 v = a[r];
        if (A->add) v = f4_add(v, f4_loadu(d));
        else if (A->bias) v = f4_add(v, f4_loadu(A->bias));
        f4_storeu(d, v);
    }
}

typedef void (*kdw_fn)(const kdw_args *, int);
#define KDW4_INST(R)                                                                           \
    static NOINLINE void kdw4_##R(const kdw_args *A, int ns) {                                 \
        for (int s_ = 0; s_ < ns; s_++) kdw4_impl(R, A, A->so + s_ * R, A->dof + s_ * R);      \
    }
KDW4_INST(1) KDW4_INST(2) KDW4_INST(3) KDW4_INST(4) KDW4_INST(5) KDW4_INST(6)
static const kdw_fn kdw4_tab[MR] = {kdw4_1, kdw4_2, kdw4_3, kdw4_4, kdw4_5, kdw4_6};
#define KDW_INST(R, M)                                                                         \
    static NOINLINE void kdw_##R##_##M(const kdw_args *A, int ns) {                            \
        for (int s_ = 0; s_ < ns; s_++) kdw_impl(R, M, A, A->so + s_ * R, A->dof + s_ * R);    \
    }
KDW_INST(1, 0) KDW_INST(2, 0) KDW_INST(3, 0) KDW_INST(4, 0) KDW_INST(5, 0) KDW_INST(6, 0)
KDW_INST(1, 1) KDW_INST(2, 1) KDW_INST(3, 1) KDW_INST(4, 1) KDW_INST(5, 1) KDW_INST(6, 1)
static const kdw_fn kdw_tab[2][MR] = {
    {kdw_1_0, kdw_2_0, kdw_3_0, kdw_4_0, kdw_5_0, kdw_6_0},
    {kdw_1_1, kdw_2_1, kdw_3_1, kdw_4_1, kdw_5_1, kdw_6_1},
};

/* Depthwise weight gradient over one 8-channel block and NT taps:
 * part[t][:] += sum_p src(p)[toff[t]] * dy(p)[:]. */
static ALWAYS_INLINE void kdww_impl(const int NT, const int MASKED, const float *srow,
                                    int nrows, int ncols, ptrdiff_t rstep, ptrdiff_t pstep,
                                    const float *dy, ptrdiff_t dys, const int *toff,
                                    float *part, ptrdiff_t cpad, int nvalid) {
    f8 a[DWT];
    ptrdiff_t o[DWT];
    const m8 m = MASKED ? m8_first(nvalid) : m8_zero();
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        a[t] = f8_load(part + t * cpad);
        o[t] = toff[t];
    }
    for (int i = 0; i < nrows; i++) {
        const float *s = srow + i * rstep;
        for (int j = 0; j < ncols; j++) {
            const f8 d = MASKED ? f8_maskload(dy, m) : f8_loadu(dy);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                const f8 xv = MASKED ? f8_maskload(s + o[t], m)
                                         : f8_loadu(s + o[t]);
                a[t] = f8_fmadd(xv, d, a[t]);
            }
            s += pstep;
            dy += dys;
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) f8_store(part + t * cpad, a[t]);
}

/* As kdww_impl for a block of exactly 4 channels, in 128-bit vectors (part stays 8-wide). */
static ALWAYS_INLINE void kdww4_impl(const int NT, const float *srow, int nrows, int ncols,
                                     ptrdiff_t rstep, ptrdiff_t pstep, const float *dy,
                                     ptrdiff_t dys, const int *toff, float *part, ptrdiff_t cpad) {
    f4 a[DWT];
    ptrdiff_t o[DWT];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        a[t] = f4_loadu(part + t * cpad);
        o[t] = toff[t];
    }
    for (int i = 0; i < nrows; i++) {
        const float *s = srow + i * rstep;
        for (int j = 0; j < ncols; j++) {
            const f4 d = f4_loadu(dy);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) a[t] = f4_fmadd(f4_loadu(s + o[t]), d, a[t]);
            s += pstep;
            dy += dys;
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) f4_storeu(part + t * cpad, a[t]);
}

typedef void (*kdww_fn)(const float *, int, int, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                        const int *, float *, ptrdiff_t, int);
#define KDWW4_INST(NT)                                                                         \
    static NOINLINE void kdww4_##NT(const float *srow, int nrows, int ncols, ptrdiff_t rstep,  \
                                    ptrdiff_t pstep, const float *dy, ptrdiff_t dys,           \
                                    const int *toff, float *part, ptrdiff_t cpad, int nv) {    \
        (void)nv;                                                                              \
        kdww4_impl(NT, srow, nrows, ncols, rstep, pstep, dy, dys, toff, part, cpad);           \
    }
KDWW4_INST(1) KDWW4_INST(2) KDWW4_INST(3) KDWW4_INST(4) KDWW4_INST(5) KDWW4_INST(6)
KDWW4_INST(7) KDWW4_INST(8)
static const kdww_fn kdww4_tab[DWT] = {kdww4_1, kdww4_2, kdww4_3, kdww4_4,
                                       kdww4_5, kdww4_6, kdww4_7, kdww4_8};
#define KDWW_INST(NT, M)                                                                       \
    static NOINLINE void kdww_##NT##_##M(const float *srow, int nrows, int ncols,              \
                                         ptrdiff_t rstep, ptrdiff_t pstep, const float *dy,    \
                                         ptrdiff_t dys, const int *toff, float *part,          \
                                         ptrdiff_t cpad, int nvalid) {                         \
        kdww_impl(NT, M, srow, nrows, ncols, rstep, pstep, dy, dys, toff, part, cpad, nvalid); \
    }
#define KDWW_INST_NT(M)                                                                        \
    KDWW_INST(1, M) KDWW_INST(2, M) KDWW_INST(3, M) KDWW_INST(4, M) KDWW_INST(5, M)           \
    KDWW_INST(6, M) KDWW_INST(7, M) KDWW_INST(8, M)
KDWW_INST_NT(0) KDWW_INST_NT(1)
static const kdww_fn kdww_tab[2][DWT] = {
    {kdww_1_0, kdww_2_0, kdww_3_0, kdww_4_0, kdww_5_0, kdww_6_0, kdww_7_0, kdww_8_0},
    {kdww_1_1, kdww_2_1, kdww_3_1, kdww_4_1, kdww_5_1, kdww_6_1, kdww_7_1, kdww_8_1},
};

#if DNAS_HAVE_AVX512
/* AVX-512 depthwise kernels (dnas_cpu_isa_used): 16-channel blocks, Dpad / Cpad multiples of
 * 16. Each output lane gets the FMAs of kdw_impl / kdww_impl in the same order (taps in
 * order; band pixels in order onto the same partial), then the same final add, so results are
 * bit-identical to the 8-lane kernels. Tails of exactly 8 or 4 channels (72, 36) use 256- /
 * 128-bit vectors (plain loads and stores), other tails a k-masked 16-lane block. Pixels are
 * 4*C bytes apart, so with C = 36 or 72 most 64-byte loads straddle cache lines: the gain
 * over AVX2 is smaller there than at C = 144 (bench_kernels isa). */
#define MDW5 8  /* most pixels per depthwise gather strip */
#define DWT5 9  /* most taps per depthwise weight-gradient call (a 3x3 kernel in one pass) */

/* TAIL: the channels after the nblk 16-channel blocks, in the same pass over the strip (a
 * second pass would re-walk the pixels and touch their cache lines again): 0 none, 4 or 8 in
 * 128- / 256-bit vectors, 16: nvalid (< 16) lanes of a masked block. */
/* One 16-channel block at channel c0 of a strip; MASKED: only the lanes of m. */
static ALWAYS_INLINE DNAS_T512 void kdw5_blk(const int R, const int MASKED, const kdw_args *A,
                                             const float *const *sp, float *const *dp, int c0,
                                             __mmask16 m) {
    const float *w = A->w + c0;
    __m512 a[MDW5];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) a[r] = _mm512_setzero_ps();
    for (int t = 0; t < A->nt; t++) {
        const __m512 wv = _mm512_loadu_ps(w + (ptrdiff_t)A->tidx[t] * A->wstride);
        const int o = A->toff[t] + c0;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 xv = MASKED ? _mm512_maskz_loadu_ps(m, sp[r] + o)
                                     : _mm512_loadu_ps(sp[r] + o);
            a[r] = _mm512_fmadd_ps(xv, wv, a[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        float *d = dp[r] + c0;
        __m512 v = a[r];
        if (A->add)
            v = _mm512_add_ps(v, MASKED ? _mm512_maskz_loadu_ps(m, d) : _mm512_loadu_ps(d));
        else if (A->bias)
            v = _mm512_add_ps(v, _mm512_loadu_ps(A->bias + c0));
        if (MASKED) _mm512_mask_storeu_ps(d, m, v);
        else _mm512_storeu_ps(d, v);
    }
}

static ALWAYS_INLINE DNAS_T512 void kdw5_impl(const int R, const int TAIL, const kdw_args *A,
                                              const ptrdiff_t *so, const ptrdiff_t *dof) {
    const float *sp[MDW5];
    float *dp[MDW5];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        sp[r] = A->sb + so[r];
        dp[r] = A->db + dof[r];
    }
    const int nb = A->nblk;
    for (int b = 0; b < nb; b++) kdw5_blk(R, 0, A, sp, dp, 16 * b, (__mmask16)0xFFFF);
    if (TAIL == 16) kdw5_blk(R, 1, A, sp, dp, 16 * nb, k16_first(A->nvalid));
    if (TAIL == 8) {
        const int c0 = 16 * nb;
        __m256 a[MDW5];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) a[r] = _mm256_setzero_ps();
        for (int t = 0; t < A->nt; t++) {
            const __m256 wv = _mm256_loadu_ps(A->w + c0 + (ptrdiff_t)A->tidx[t] * A->wstride);
            const int o = A->toff[t] + c0;
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(sp[r] + o), wv, a[r]);
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            float *d = dp[r] + c0;
            __m256 v = a[r];
            if (A->add) v = _mm256_add_ps(v, _mm256_loadu_ps(d));
            else if (A->bias) v = _mm256_add_ps(v, _mm256_loadu_ps(A->bias + c0));
            _mm256_storeu_ps(d, v);
        }
    }
    if (TAIL == 4) {
        const int c0 = 16 * nb;
        __m128 a[MDW5];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) a[r] = _mm_setzero_ps();
        for (int t = 0; t < A->nt; t++) {
            const __m128 wv = _mm_loadu_ps(A->w + c0 + (ptrdiff_t)A->tidx[t] * A->wstride);
            const int o = A->toff[t] + c0;
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) a[r] = _mm_fmadd_ps(_mm_loadu_ps(sp[r] + o), wv, a[r]);
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            float *d = dp[r] + c0;
            __m128 v = a[r];
            if (A->add) v = _mm_add_ps(v, _mm_loadu_ps(d));
            else if (A->bias) v = _mm_add_ps(v, _mm_loadu_ps(A->bias + c0));
            _mm_storeu_ps(d, v);
        }
    }
}

#define KDW5_INST(R, TL)                                                                       \
    static NOINLINE DNAS_T512 void kdw5_##R##_##TL(const kdw_args *A, int ns) {                \
        for (int s_ = 0; s_ < ns; s_++) kdw5_impl(R, TL, A, A->so + s_ * R, A->dof + s_ * R);  \
    }
#define KDW5_INST_R(TL)                                                                        \
    KDW5_INST(1, TL) KDW5_INST(2, TL) KDW5_INST(3, TL) KDW5_INST(4, TL) KDW5_INST(5, TL)      \
    KDW5_INST(6, TL) KDW5_INST(7, TL) KDW5_INST(8, TL)
KDW5_INST_R(0) KDW5_INST_R(4) KDW5_INST_R(8) KDW5_INST_R(16)
#define KDW5_ROW(TL)                                                                           \
    {kdw5_1_##TL, kdw5_2_##TL, kdw5_3_##TL, kdw5_4_##TL,                                       \
     kdw5_5_##TL, kdw5_6_##TL, kdw5_7_##TL, kdw5_8_##TL}
/* by tail: none, 4, 8, masked */
static const kdw_fn kdw5_tab[4][MDW5] = {KDW5_ROW(0), KDW5_ROW(4), KDW5_ROW(8), KDW5_ROW(16)};

/* As kdww_impl over one 16-channel block and NT taps; part rows are 16-aligned (Cpad). */
static ALWAYS_INLINE DNAS_T512 void kdww5_impl(const int NT, const int MASKED, const float *srow,
                                               int nrows, int ncols, ptrdiff_t rstep,
                                               ptrdiff_t pstep, const float *dy, ptrdiff_t dys,
                                               const int *toff, float *part, ptrdiff_t cpad,
                                               int nvalid) {
    __m512 a[DWT5];
    ptrdiff_t o[DWT5];
    const __mmask16 m = MASKED ? k16_first(nvalid) : (__mmask16)0xFFFF;
#pragma GCC unroll 9
    for (int t = 0; t < NT; t++) {
        a[t] = _mm512_load_ps(part + t * cpad);
        o[t] = toff[t];
    }
    for (int i = 0; i < nrows; i++) {
        const float *s = srow + i * rstep;
        for (int j = 0; j < ncols; j++) {
            const __m512 d = MASKED ? _mm512_maskz_loadu_ps(m, dy) : _mm512_loadu_ps(dy);
#pragma GCC unroll 9
            for (int t = 0; t < NT; t++) {
                const __m512 xv = MASKED ? _mm512_maskz_loadu_ps(m, s + o[t])
                                         : _mm512_loadu_ps(s + o[t]);
                a[t] = _mm512_fmadd_ps(xv, d, a[t]);
            }
            s += pstep;
            dy += dys;
        }
    }
#pragma GCC unroll 9
    for (int t = 0; t < NT; t++) _mm512_store_ps(part + t * cpad, a[t]);
}

#define KDWW5_INST(NT, M)                                                                      \
    static NOINLINE DNAS_T512 void kdww5_##NT##_##M(                                           \
        const float *srow, int nrows, int ncols, ptrdiff_t rstep, ptrdiff_t pstep,             \
        const float *dy, ptrdiff_t dys, const int *toff, float *part, ptrdiff_t cpad,          \
        int nvalid) {                                                                          \
        kdww5_impl(NT, M, srow, nrows, ncols, rstep, pstep, dy, dys, toff, part, cpad,         \
                   nvalid);                                                                    \
    }
#define KDWW5_INST_NT(M)                                                                       \
    KDWW5_INST(1, M) KDWW5_INST(2, M) KDWW5_INST(3, M) KDWW5_INST(4, M) KDWW5_INST(5, M)      \
    KDWW5_INST(6, M) KDWW5_INST(7, M) KDWW5_INST(8, M) KDWW5_INST(9, M)
KDWW5_INST_NT(0) KDWW5_INST_NT(1)
static const kdww_fn kdww5_tab[2][DWT5] = {
    {kdww5_1_0, kdww5_2_0, kdww5_3_0, kdww5_4_0, kdww5_5_0, kdww5_6_0, kdww5_7_0, kdww5_8_0,
     kdww5_9_0},
    {kdww5_1_1, kdww5_2_1, kdww5_3_1, kdww5_4_1, kdww5_5_1, kdww5_6_1, kdww5_7_1, kdww5_8_1,
     kdww5_9_1},
};
#endif

/* ------------------------------------------------------------------------------------------
 * Workspace carving: sizes are summed first, then one dnas_cpu_workspace call. */
typedef struct {
    size_t off;
} carve_t;
static size_t carve(carve_t *c, size_t bytes) {
    size_t o = c->off;
    c->off += align64(bytes);
    return o;
}

/* Contiguous split of `ntask` tasks into nparts parts; part i is [*t0, *t1). */
static inline void split(long ntask, int i, int nparts, long *t0, long *t1) {
    *t0 = ntask * i / nparts;
    *t1 = ntask * (i + 1) / nparts;
}
static inline int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* ------------------------------------------------------------------------------------------
 * Gather engine (forward and backward-data) */
typedef struct {
    const plan_t *P;
    const float *src;
    float *dst;
    int G, K, Dg, Dpad; /* groups, reduction channels per tap, dst channels per group, padded */
    int depthwise;      /* G == channels, K == Dg == 1 */
    const float *wpk;   /* dense: [g][block][tap][k][L]; depthwise: [tap][Dpad] */
    const float *bpk;   /* [g][Dpad] or NULL */
    int add;
    const int *ttoff, *ttidx, *ttcnt; /* per phase combination: taps */
    int ttmax;                        /* KH*KW: stride of ttoff/ttidx */
    int isa512;                       /* AVX-512 kernels (Dpad a multiple of 16) */
    int flat;                         /* depthwise: pixels per flat group (0: off), dw_flat */
    const float *wrep, *brep;         /* depthwise flat: weights [tap][flat*C], bias [flat*C] */
} gather_t;

/* Tap tables per phase combination (ph_h * div_w + ph_w): element offsets relative to the
 * pixel pointer (which already includes the phase's smallest offset) and kernel tap index. */
static void build_taps(const plan_t *P, int *ttoff, int *ttidx, int *ttcnt) {
    const axis_t *ah = &P->ah, *aw = &P->aw;
    const int tt = P->KH * P->KW;
    for (int ph = 0; ph < ah->div; ph++)
        for (int pw = 0; pw < aw->div; pw++) {
            int c = ph * aw->div + pw, n = 0;
            for (int a = 0; a < ah->nt[ph]; a++)
                for (int b = 0; b < aw->nt[pw]; b++) {
                    ttoff[c * tt + n] = (int)((ah->to[ph][a] - ah->mn[ph]) * P->rs +
                                              (ptrdiff_t)(aw->to[pw][b] - aw->mn[pw]) * P->SC);
                    ttidx[c * tt + n] = ah->tk[ph][a] * P->KW + aw->tk[pw][b];
                    n++;
                }
            ttcnt[c] = n;
        }
}

#if DNAS_HAVE_AVX512
/* Dense gather of one band with the AVX-512 kernels: per group, 32-channel block pairs (one
 * broadcast feeds two FMAs) and a last 16-channel block; each phase's pixels cut into strips
 * of as equal length as possible (64 pixels: 11,11,11,11,10,10 rather than 12 x 5 + 4), so
 * every strip has many independent accumulators. */
static void gather_dense512(const gather_t *A, const float *base, const int *seg, int nph,
                            const ptrdiff_t *soff, const ptrdiff_t *doff) {
    const plan_t *P = A->P;
    const size_t tk = (size_t)P->KH * P->KW * A->K; /* packed rows per lane */
    for (int g = 0; g < A->G; g++) {
        for (int co0 = 0; co0 < A->Dpad;) {
            const int NB = A->Dpad - co0 >= 32 ? 2 : 1;
            const float *w = A->wpk + ((size_t)g * A->Dpad + co0) * tk;
            const float *bias = A->bpk ? A->bpk + (size_t)g * A->Dpad + co0 : NULL;
            kd_args ka = {base + (size_t)g * A->K, A->dst + (size_t)g * A->Dg + co0,
                          NULL, NULL, NULL, NULL, 0, A->K, w, bias, A->add,
                          imin(16 * NB, A->Dg - co0), (ptrdiff_t)(16 * tk)};
            const int rmax = kd5_rmax[NB - 1];
            for (int c = 0; c < nph; c++) {
                const int k0 = seg[c], cnt = seg[c + 1] - k0;
                if (!cnt) continue;
                const int ns = (cnt + rmax - 1) / rmax, rs = cnt / ns, nbig = cnt % ns;
                ka.toff = A->ttoff + c * A->ttmax;
                ka.tidx = A->ttidx + c * A->ttmax;
                ka.nt = A->ttcnt[c];
                ka.so = soff + k0;
                ka.dof = doff + k0;
                if (nbig) { /* nbig strips of rs + 1, then ns - nbig of rs */
                    kd5_tab[NB - 1][rs](&ka, nbig);
                    ka.so += nbig * (rs + 1);
                    ka.dof += nbig * (rs + 1);
                }
                kd5_tab[NB - 1][rs - 1](&ka, ns - nbig);
            }
            co0 += 16 * NB;
        }
    }
}

/* Runs ka over cnt pixels (from ka->so / ka->dof) in strips of at most rmax pixels, of as
 * equal length as possible. */
static void dw_strips(const kdw_fn *tab, int rmax, kdw_args *ka, int cnt) {
    const int ns = (cnt + rmax - 1) / rmax, rs = cnt / ns, nbig = cnt % ns;
    if (nbig) { /* nbig strips of rs + 1, then ns - nbig of rs */
        tab[rs](ka, nbig);
        ka->so += nbig * (rs + 1);
        ka->dof += nbig * (rs + 1);
    }
    tab[rs - 1](ka, ns - nbig);
}

/* Depthwise gather of one band with the AVX-512 kernels: per strip of pixels, the 16-channel
 * blocks and the tail (see kdw5_impl). */
static void gather_dw512(const gather_t *A, const float *base, const int *seg, int nph,
                         const ptrdiff_t *soff, const ptrdiff_t *doff) {
    const int C = A->G, tail = C & 15;
    const kdw_fn *tab = kdw5_tab[!tail ? 0 : tail == 4 ? 1 : tail == 8 ? 2 : 3];
    for (int c = 0; c < nph; c++) {
        const int k0 = seg[c], cnt = seg[c + 1] - k0;
        if (!cnt) continue;
        kdw_args ka = {base, A->dst, soff + k0, doff + k0, A->ttoff + c * A->ttmax,
                       A->ttidx + c * A->ttmax, A->ttcnt[c], A->wpk, A->Dpad, A->bpk,
                       A->add, tail, C / 16};
        dw_strips(tab, MDW5, &ka, cnt);
    }
}

/* Depthwise convolutions whose channel count is not a multiple of 16 (36, 72, 20 ...) waste
 * lanes per pixel (36 = 16 + 16 + 4). Where consecutive destination pixels of a row read
 * consecutive source pixels (stride 1 in W, one phase) and both tensors are dense (pixel stride
 * C), `flat` pixels of a row are one vector of flat*C channels, a multiple of 16 (4 x 36 = 9
 * full vectors instead of 12 partly empty ones), with the weights and bias repeated `flat`
 * times. Each output still gets its taps' FMAs in order, then the same add: bit-identical to
 * the per-pixel kernels. A row's last W mod flat pixels take the per-pixel kernels.
 * Returns the group size for a convolution, 0 when it does not apply. */
static int dw_flat(const gather_t *A, const plan_t *P) {
    const int C = A->G;
    if (!A->depthwise || !A->isa512 || dnas_conv_old() || C % 4 || !(C % 16)) return 0;
    if (P->ah.div != 1 || P->aw.div != 1 || P->aw.mul != 1 || P->SC != C || P->DC != C)
        return 0;
    const int flat = C % 8 ? 4 : 2;
    return P->DW >= flat ? flat : 0;
}

/* One band (all pixels in phase 0, rows in order, DW each) in flat groups, then the rows'
 * leftover pixels. gso/gdo, lso/ldo: space for band_px offsets each. */
static void gather_dw512_flat(const gather_t *A, const float *base, int np, const ptrdiff_t *soff,
                              const ptrdiff_t *doff, ptrdiff_t *gso, ptrdiff_t *gdo,
                              ptrdiff_t *lso, ptrdiff_t *ldo) {
    const int DW = A->P->DW, F = A->flat, FC = F * A->G, full = DW - DW % F;
    int ng = 0, nl = 0;
    for (int r0 = 0; r0 < np; r0 += DW) {
        for (int j = 0; j < full; j += F, ng++) {
            gso[ng] = soff[r0 + j];
            gdo[ng] = doff[r0 + j];
        }
        for (int j = full; j < DW; j++, nl++) {
            lso[nl] = soff[r0 + j];
            ldo[nl] = doff[r0 + j];
        }
    }
    if (ng) {
        kdw_args ka = {base, A->dst, gso, gdo, A->ttoff, A->ttidx, A->ttcnt[0], A->wrep, FC,
                       A->brep, A->add, 0, FC / 16};
        dw_strips(kdw5_tab[0], MDW5, &ka, ng);
    }
    if (nl) { /* the leftovers as one phase of the per-pixel path */
        const int seg[2] = {0, nl};
        gather_dw512(A, base, seg, 1, lso, ldo);
    }
}
#endif

/* Runs inside a parallel region: bands are handed out dynamically (whole images at a time
 * when there are enough, so the image buffer is filled once); each output is written by one
 * thread in a fixed order, so the schedule does not change the result. Dynamic scheduling
 * keeps both cores busy when the machine is shared. */
static void gather_worker(const gather_t *A, int T, float *buf, ptrdiff_t *soff,
                          ptrdiff_t *doff, ptrdiff_t *flat_off) {
    const plan_t *P = A->P;
    const axis_t *ah = &P->ah, *aw = &P->aw;
    const int nph_w = aw->div, nph = ah->div * nph_w, DH = P->DH, DW = P->DW, SC = P->SC;
    const ptrdiff_t rs = P->rs, DC = P->DC;
    int seg[MAXS * MAXS + 1];
    int cached = -1;
    const long ntask = (long)P->N * P->nbands;
    const int chunk = P->N >= 2 * T ? P->nbands : 1;
    (void)chunk;
    (void)flat_off; /* AVX-512 builds only */
    OMP(omp for schedule(dynamic, chunk))
    for (long task = 0; task < ntask; task++) {
        const int n = (int)(task / P->nbands), band = (int)(task % P->nbands);
        const int i0 = band * P->band_rows, i1 = imin(DH, i0 + P->band_rows);
        int rlo;
        const float *base = plan_source(P, A->src, n, i0, i1, buf, &cached, &rlo);

        /* Destination pixels of the band grouped by phase, as offsets from the source view
         * and from the destination tensor (locals only: the stores must not alias them). */
        int np = 0;
        for (int c = 0; c < nph; c++) {
            const int phh = c / nph_w, phw = c % nph_w, has = A->ttcnt[c] > 0;
            seg[c] = np;
            for (int i = i0; i < i1; i++) {
                int bh, qh;
                axis_pos(ah, i, &bh, &qh);
                if (qh != phh) continue;
                const ptrdiff_t srow = has ? (ptrdiff_t)(bh + ah->mn[phh] - rlo) * rs : 0;
                const ptrdiff_t drow = ((ptrdiff_t)n * DH + i) * DW * DC;
                const int mnw = aw->mn[phw] - P->clo;
                if (aw->div == 1) { /* columns advance by mul source pixels */
                    const ptrdiff_t step = has ? (ptrdiff_t)aw->mul * SC : 0;
                    ptrdiff_t so = has ? srow + (ptrdiff_t)(aw->add + mnw) * SC : 0;
                    for (int j = 0; j < DW; j++, np++, so += step) {
                        soff[np] = so;
                        doff[np] = drow + j * DC;
                    }
                    continue;
                }
                for (int j = 0; j < DW; j++) {
                    int bw, qw;
                    axis_pos(aw, j, &bw, &qw);
                    if (qw != phw) continue;
                    soff[np] = has ? srow + (ptrdiff_t)(bw + mnw) * SC : 0;
                    doff[np] = drow + j * DC;
                    np++;
                }
            }
        }
        seg[nph] = np;

#if DNAS_HAVE_AVX512
        if (A->depthwise && A->isa512) {
            const size_t bp = (size_t)P->band_px;
            if (A->flat)
                gather_dw512_flat(A, base, np, soff, doff, flat_off, flat_off + bp,
                                  flat_off + 2 * bp, flat_off + 3 * bp);
            else
                gather_dw512(A, base, seg, nph, soff, doff);
            continue;
        }
#endif
        if (A->depthwise) {
            const int C = A->G, C8 = C & ~7;
            for (int c = 0; c < nph; c++) {
                const int k0 = seg[c], cnt = seg[c + 1] - k0, full = cnt / MR;
                kdw_args ka = {base, A->dst, soff + k0, doff + k0, A->ttoff + c * A->ttmax,
                               A->ttidx + c * A->ttmax, A->ttcnt[c], A->wpk, A->Dpad, A->bpk,
                               A->add, 8, C8 / 8};
                for (int pass = 0; pass < 2; pass++) { /* full 8-channel blocks, then tail */
                    if (pass == 1) {
                        if (C8 == C) break;
                        ka.sb = base + C8;
                        ka.db = A->dst + C8;
                        ka.w = A->wpk + C8;
                        ka.bias = A->bpk ? A->bpk + C8 : NULL;
                        ka.nvalid = C - C8;
                        ka.nblk = 1;
                    } else if (!C8) {
                        continue;
                    }
                    ka.so = soff + k0;
                    ka.dof = doff + k0;
                    const kdw_fn *tab = kdw_tab[pass];
                    if (pass == 1 && ka.nvalid == 4 && !dnas_conv_old()) tab = kdw4_tab;
                    if (full) tab[MR - 1](&ka, full);
                    if (cnt % MR) {
                        ka.so += full * MR;
                        ka.dof += full * MR;
                        tab[cnt % MR - 1](&ka, 1);
                    }
                }
            }
            continue;
        }
#if DNAS_HAVE_AVX512
        if (A->isa512) {
            gather_dense512(A, base, seg, nph, soff, doff);
            continue;
        }
#endif
        const size_t tk = (size_t)P->KH * P->KW * A->K; /* packed rows per lane */
        for (int g = 0; g < A->G; g++) {
            for (int co0 = 0; co0 < A->Dpad; co0 += 16) {
                const int L = A->Dpad - co0 >= 16 ? 16 : 8;
                const int nvalid = imin(L, A->Dg - co0);
                const float *w = A->wpk + ((size_t)g * A->Dpad + co0) * tk;
                const float *bias = A->bpk ? A->bpk + (size_t)g * A->Dpad + co0 : NULL;
                const kd_fn *tab = kd_tab[L / 8 - 1];
                kd_args ka = {base + (size_t)g * A->K, A->dst + (size_t)g * A->Dg + co0,
                              NULL, NULL, NULL, NULL, 0, A->K, w, bias, A->add, nvalid, 0};
                for (int c = 0; c < nph; c++) {
                    const int k0 = seg[c], cnt = seg[c + 1] - k0, full = cnt / MR;
                    ka.toff = A->ttoff + c * A->ttmax;
                    ka.tidx = A->ttidx + c * A->ttmax;
                    ka.nt = A->ttcnt[c];
                    ka.so = soff + k0;
                    ka.dof = doff + k0;
                    if (full) tab[MR - 1](&ka, full);
                    if (cnt % MR) {
                        ka.so += full * MR;
                        ka.dof += full * MR;
                        tab[cnt % MR - 1](&ka, 1);
                    }
                }
            }
        }
    }
}

/* Packs weights (with `pack`) and bias into the workspace, builds the tap tables, runs the
 * workers. */
static dnas_status gather_run(dnas_backend *be, gather_t *A, plan_t *P,
                              void (*pack)(const dnas_conv_p *, const float *, float *, int, int),
                              const dnas_conv_p *p, const float *w, const float *b) {
    const int T = imax(1, dnas_cpu_threads(be));
    const int tt = P->KH * P->KW, nph = P->ah.div * P->aw.div;
    const size_t wfloats = A->depthwise ? (size_t)tt * A->Dpad
                                        : (size_t)A->G * A->Dpad * tt * A->K;
    carve_t c = {0};
    size_t o_w = carve(&c, wfloats * sizeof(float));
    size_t o_b = carve(&c, (size_t)A->G * A->Dpad * sizeof(float));
    size_t o_to = carve(&c, (size_t)nph * tt * sizeof(int));
    size_t o_ti = carve(&c, (size_t)nph * tt * sizeof(int));
    size_t o_tc = carve(&c, (size_t)nph * sizeof(int));
    A->P = P;
#if DNAS_HAVE_AVX512
    A->flat = dw_flat(A, P);
#endif
    const size_t fc = (size_t)A->flat * A->G; /* flat group width, floats */
    size_t o_wr = carve(&c, (size_t)tt * fc * sizeof(float));
    size_t o_br = carve(&c, fc * sizeof(float));
    const size_t bufb = align64(plan_buf_floats(P) * sizeof(float));
    const size_t pxb = align64((size_t)P->band_px * sizeof(ptrdiff_t));
    const size_t perw = bufb + (A->flat ? 6 : 2) * pxb;
    size_t o_wk = carve(&c, perw * T);
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, c.off, &ws));
    char *wsb = ws;
    float *wpk = (float *)(wsb + o_w);
    pack(p, w, wpk, A->Dpad, A->depthwise);
    A->wpk = wpk;
    A->bpk = NULL;
    if (b) {
        float *bp = (float *)(wsb + o_b);
        memset(bp, 0, (size_t)A->G * A->Dpad * sizeof(float));
        if (A->depthwise) /* one channel per group: a flat [Dpad] vector */
            for (int k = 0; k < A->G; k++) bp[k] = b[k];
        else
            for (int g = 0; g < A->G; g++)
                for (int k = 0; k < A->Dg; k++)
                    bp[(size_t)g * A->Dpad + k] = b[(size_t)g * A->Dg + k];
        A->bpk = bp;
    }
    if (A->flat) { /* weights and bias repeated once per pixel of a flat group */
        float *wr = (float *)(wsb + o_wr), *br = (float *)(wsb + o_br);
        for (int t = 0; t < tt; t++)
            for (int f = 0; f < A->flat; f++)
                memcpy(wr + (size_t)t * fc + (size_t)f * A->G, wpk + (size_t)t * A->Dpad,
                       sizeof(float) * (size_t)A->G);
        if (A->bpk)
            for (int f = 0; f < A->flat; f++)
                memcpy(br + (size_t)f * A->G, A->bpk, sizeof(float) * (size_t)A->G);
        A->wrep = wr;
        A->brep = A->bpk ? br : NULL;
    }
    int *ttoff = (int *)(wsb + o_to), *ttidx = (int *)(wsb + o_ti), *ttcnt = (int *)(wsb + o_tc);
    build_taps(P, ttoff, ttidx, ttcnt);
    A->ttoff = ttoff;
    A->ttidx = ttidx;
    A->ttcnt = ttcnt;
    A->ttmax = tt;
    OMP(omp parallel num_threads(T))
    {
        char *mine = wsb + o_wk + perw * thread_id();
        gather_worker(A, T, (float *)mine, (ptrdiff_t *)(mine + bufb),
                      (ptrdiff_t *)(mine + bufb + pxb), (ptrdiff_t *)(mine + bufb + 2 * pxb));
    }
    return DNAS_OK;
}

/* Forward weights: dense packed[g][co0 block][tap][ci][lane] = W[g*Cog + co0 + lane][tap][ci];
 * depthwise packed[tap][c] = W[c][tap][0]. Lanes past Cog are zero. */
static void pack_fwd(const dnas_conv_p *p, const float *w, float *out, int Dpad, int depthwise) {
    const int tt = p->kh * p->kw, G = p->groups, Cig = p->cin / G, Cog = p->cout / G;
    if (depthwise) {
        memset(out, 0, sizeof(float) * (size_t)tt * Dpad);
        for (int c = 0; c < p->cout; c++)
            for (int t = 0; t < tt; t++) out[(size_t)t * Dpad + c] = w[(size_t)c * tt + t];
        return;
    }
    const size_t tk = (size_t)tt * Cig;
    for (int g = 0; g < G; g++)
        for (int co0 = 0; co0 < Dpad; co0 += 16) {
            const int L = Dpad - co0 >= 16 ? 16 : 8;
            float *blk = out + ((size_t)g * Dpad + co0) * tk;
            for (size_t r = 0; r < tk; r++)
                for (int l = 0; l < L; l++) {
                    const int co = co0 + l;
                    blk[r * L + l] = co < Cog ? w[((size_t)g * Cog + co) * tk + r] : 0.0f;
                }
        }
}

/* Backward-data weights: dense packed[g][ci0 block][tap][co][lane] = W[g*Cog+co][tap][ci0+lane]
 * (the tap offsets, not the packing, do the spatial flip); depthwise as forward. */
static void pack_bwd(const dnas_conv_p *p, const float *w, float *out, int Dpad, int depthwise) {
    if (depthwise) {
        pack_fwd(p, w, out, Dpad, depthwise);
        return;
    }
    const int tt = p->kh * p->kw, G = p->groups, Cig = p->cin / G, Cog = p->cout / G;
    for (int g = 0; g < G; g++)
        for (int ci0 = 0; ci0 < Dpad; ci0 += 16) {
            const int L = Dpad - ci0 >= 16 ? 16 : 8;
            float *blk = out + ((size_t)g * Dpad + ci0) * tt * Cog;
            for (int t = 0; t < tt; t++)
                for (int co = 0; co < Cog; co++) {
                    const float *src = w + (((size_t)g * Cog + co) * tt + t) * Cig;
                    float *d = blk + ((size_t)t * Cog + co) * L;
                    for (int l = 0; l < L; l++) d[l] = ci0 + l < Cig ? src[ci0 + l] : 0.0f;
                }
        }
}

/* ------------------------------------------------------------------------------------------
 * Scalar fallback for what the fast paths do not cover (huge kernels or strides). */
static void naive_fwd(const dnas_conv_p *p, float *y, dnas_shape ys, const float *x,
                      dnas_shape xs, const float *w, const float *b, int T) {
    const int G = p->groups, Cig = p->cin / G, Cog = p->cout / G;
    (void)T; /* used by OpenMP only */
    OMP(omp parallel for num_threads(T) schedule(static))
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int co = 0; co < ys.c; co++) {
                    const int g = co / Cog;
                    float s = b ? b[co] : 0.0f;
                    for (int kh = 0; kh < p->kh; kh++) {
                        const int ih = oh * p->stride - p->pad + kh * p->dil;
                        if (ih < 0 || ih >= xs.h) continue;
                        for (int kw = 0; kw < p->kw; kw++) {
                            const int iw = ow * p->stride - p->pad + kw * p->dil;
                            if (iw < 0 || iw >= xs.w) continue;
                            const float *xp = x + (((size_t)n * xs.h + ih) * xs.w + iw) * xs.c +
                                              (size_t)g * Cig;
                            const float *wp = w + (((size_t)co * p->kh + kh) * p->kw + kw) * Cig;
                            for (int ci = 0; ci < Cig; ci++) s += xp[ci] * wp[ci];
                        }
                    }
                    y[(((size_t)n * ys.h + oh) * ys.w + ow) * ys.c + co] = s;
                }
}

static void naive_bwd_data(const dnas_conv_p *p, float *dx, int acc, dnas_shape xs,
                           const float *dy, dnas_shape ys, const float *w, int T) {
    const int G = p->groups, Cig = p->cin / G, Cog = p->cout / G;
    const size_t img = (size_t)xs.h * xs.w * xs.c;
    (void)T;
    OMP(omp parallel for num_threads(T) schedule(static))
    for (int n = 0; n < xs.n; n++) {
        float *dxn = dx + (size_t)n * img;
        if (!acc) memset(dxn, 0, img * sizeof(float));
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int co = 0; co < ys.c; co++) {
                    const int g = co / Cog;
                    const float d = dy[(((size_t)n * ys.h + oh) * ys.w + ow) * ys.c + co];
                    for (int kh = 0; kh < p->kh; kh++) {
                        const int ih = oh * p->stride - p->pad + kh * p->dil;
                        if (ih < 0 || ih >= xs.h) continue;
                        for (int kw = 0; kw < p->kw; kw++) {
                            const int iw = ow * p->stride - p->pad + kw * p->dil;
                            if (iw < 0 || iw >= xs.w) continue;
                            float *xp = dxn + ((size_t)ih * xs.w + iw) * xs.c + (size_t)g * Cig;
                            const float *wp = w + (((size_t)co * p->kh + kh) * p->kw + kw) * Cig;
                            for (int ci = 0; ci < Cig; ci++) xp[ci] += d * wp[ci];
                        }
                    }
                }
    }
}

/* ------------------------------------------------------------------------------------------
 * Argument checks */
static dnas_status check_args(const char *who, const dnas_conv_p *p, dnas_shape xs,
                              dnas_shape ys) {
    if (!p || p->groups < 1 || p->kh < 1 || p->kw < 1 || p->stride < 1 || p->dil < 1 ||
        p->cin < 1 || p->cout < 1 || p->cin % p->groups || p->cout % p->groups)
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "%s: bad conv params (cin %d cout %d k %dx%d stride %d dil %d groups %d)",
                         who, p ? p->cin : 0, p ? p->cout : 0, p ? p->kh : 0, p ? p->kw : 0,
                         p ? p->stride : 0, p ? p->dil : 0, p ? p->groups : 0);
    if (xs.c != p->cin || ys.c != p->cout || xs.n != ys.n || xs.n < 0 || xs.h < 0 ||
        xs.w < 0 || ys.h < 0 || ys.w < 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "%s: shapes x(%d,%d,%d,%d) y(%d,%d,%d,%d) do not match cin %d cout %d",
                         who, xs.n, xs.c, xs.h, xs.w, ys.n, ys.c, ys.h, ys.w, p->cin, p->cout);
    return DNAS_OK;
}

static int fast_ok(const dnas_conv_p *p) {
    return p->kh <= MAXK && p->kw <= MAXK && p->stride <= MAXS;
}
static int is_depthwise(const dnas_conv_p *p) {
    return p->groups == p->cin && p->groups == p->cout;
}
/* Whether a convolution runs the AVX-512 kernels; DNAS_CONV_IMPL=old keeps the depthwise
 * kernels it names (8-lane) for old-vs-new comparisons. */
static int isa512_for(int depthwise) {
    return dnas_cpu_isa_used() == DNAS_ISA_AVX512 && !(depthwise && dnas_conv_old());
}

/* ------------------------------------------------------------------------------------------
 * Pointwise (1x1, stride 1, no padding, one group) convolutions are plain GEMMs over the
 * N*H*W pixels of the NHWC tensors, with the OHWI weights a row-major [cout][cin] matrix:
 *   forward  Y[P,co]   = X[P,ci] W^T          backward-data  dX[P,ci] (+)= dY[P,co] W
 *   backward-weight  dW[co,ci] += dY^T X
 * At the DARTS evaluation network's shapes (P = 6144..98304, 36..576 channels) oneDNN's
 * tuned sgemm beats our gather engine (bench_kernels conv), whose
 * 6-pixel x 16-channel strips reload the weights for every strip and cannot block K.
 * dnas_cpu_conv_impl selects the implementation (benchmarks flip it to compare in one process).*/
int dnas_cpu_conv_impl = -1; /* -1: not yet read from DNAS_CONV_IMPL */

static int conv_impl(void) {
    if (dnas_cpu_conv_impl < 0) {
        const char *e = getenv("DNAS_CONV_IMPL");
        int v = DNAS_CONV_AUTO;
        if (e && !strcmp(e, "ours")) v = DNAS_CONV_OURS;
        else if (e && !strcmp(e, "dnnl")) v = DNAS_CONV_DNNL;
        else if (e && !strcmp(e, "blas")) v = DNAS_CONV_BLAS;
        else if (e && !strcmp(e, "old")) v = DNAS_CONV_OLD;
        dnas_cpu_conv_impl = v;
    }
    return dnas_cpu_conv_impl;
}

int dnas_cpu_isa = -1; /* -1: not yet read from DNAS_CPU_ISA */

int dnas_cpu_has_avx512(void) {
#if DNAS_HAVE_AVX512
    return dnas_cpu_runs_avx512();
#else
    return 0;
#endif
}

int dnas_cpu_isa_used(void) {
    if (dnas_cpu_isa < 0) {
        const char *e = getenv("DNAS_CPU_ISA");
        int v = DNAS_ISA_AUTO;
        if (e && !strcmp(e, "avx2")) v = DNAS_ISA_AVX2;
        else if (e && !strcmp(e, "avx512")) v = DNAS_ISA_AVX512;
        dnas_cpu_isa = v;
    }
    /* AVX512 asked of a CPU without it: the 8-lane kernels, same results */
    return dnas_cpu_isa != DNAS_ISA_AVX2 && dnas_cpu_has_avx512() ? DNAS_ISA_AVX512
                                                                   : DNAS_ISA_AVX2;
}

const char *dnas_cpu_conv_isa(void) {
    return dnas_cpu_isa_used() == DNAS_ISA_AVX512 ? "avx512" : DNAS_CPU_SIMD;
}

static int is_pointwise(const dnas_conv_p *p, dnas_shape xs, dnas_shape ys) {
    return p->kh == 1 && p->kw == 1 && p->stride == 1 && p->pad == 0 && p->groups == 1 &&
           xs.h == ys.h && xs.w == ys.w;
}

/* Which GEMM runs a pointwise conv; 0: our gather engine. */
static int pw_gemm(void) {
    /* AUTO: oneDNN at every pointwise shape, a fixed rule from bench_kernels conv (batch 96,
     * 1 and 2 threads, alternating rounds): oneDNN's sgemm was 1.3-3.5x faster than ours in
     * all three directions at 36..576 channels; OpenBLAS was at best even with ours (and
     * 2x slower at some), so without oneDNN our engine stays. */
    const int v = conv_impl();
#ifdef DNAS_HAVE_DNNL
    if (v == DNAS_CONV_AUTO || v == DNAS_CONV_DNNL) return DNAS_CONV_DNNL;
#endif
#ifdef DNAS_HAVE_BLAS
    if (v == DNAS_CONV_BLAS) return DNAS_CONV_BLAS;
#endif
    (void)v;
    return 0;
}

/* pw_gemm for the forward and the weights' gradient, where oneDNN's sgemm loses at NB201's
 * small channel counts: at most 16 channels each way, AUTO keeps our engine for the weights'
 * gradient, and for a forward with a bias, which oneDNN's path adds as a separate pass over y
 * (bench_kernels conv, batch 64, cold caches, 2 threads, 15 alternating rounds on the Zen 4
 * host, medians ours / oneDNN: 16->16 @32 forward with a bias 0.39 / 0.53 ms, without 0.50 /
 * 0.37; weights 0.43 / 0.61; 8->8 weights 0.23 / 0.39; at 32 channels even or mixed). The
 * backward of the data stays oneDNN's (0.51 / 0.56 at 16, 0.25 / 0.36 at 8). With the bias
 * rows written on the threads (below) ours still wins or ties the biased forward: 16->16
 * 0.48-0.56 / 0.52-0.56, 8->8 0.32-0.40 / 0.50-0.51. fwd: 1 for the forward, b: its bias. */
static int pw_gemm_small(const dnas_conv_p *p, int fwd, const float *b) {
    if (conv_impl() == DNAS_CONV_AUTO && p->cin <= 16 && p->cout <= 16 && (!fwd || b)) return 0;
    return pw_gemm();
}

/* Whether this dense convolution runs on oneDNN's direct convolution (cpu_conv_dnnl.c): the
 * measured shapes, unless DNAS_CONV_IMPL asks for another engine. */
static int direct_dnnl(const dnas_conv_p *p, dnas_shape xs, dnas_shape ys) {
    const int v = conv_impl();
    return (v == DNAS_CONV_AUTO || v == DNAS_CONV_DNNL) && dnas_cpu_dnnl_conv_ok(p, xs, ys);
}

/* Row-major C[M,N] = A' B' + beta C with A' = A or A^T ('N'/'T'), on T threads. */
static void gemm_rm(int which, int T, char ta, char tb, long M, long N, long K, const float *A,
                    long lda, const float *B, long ldb, float beta, float *C, long ldc) {
#ifdef DNAS_HAVE_DNNL
    if (which == DNAS_CONV_DNNL) {
        /* oneDNN runs on the same OpenMP runtime with omp_get_max_threads() threads */
#ifdef _OPENMP
        const int prev = omp_get_max_threads();
        omp_set_num_threads(T);
#endif
        dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
#ifdef _OPENMP
        omp_set_num_threads(prev);
#endif
        return;
    }
#endif
#ifdef DNAS_HAVE_BLAS
    if (which == DNAS_CONV_BLAS) {
        openblas_set_num_threads(T);
        cblas_sgemm(CblasRowMajor, ta == 'T' ? CblasTrans : CblasNoTrans,
                    tb == 'T' ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A,
                    (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    (void)which, (void)T, (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda;
    (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
}

/* ------------------------------------------------------------------------------------------
 * Public kernels */
dnas_status dnas_cpu_conv2d_fwd(dnas_backend *be, const dnas_conv_p *p, float *y, dnas_shape ys,
                                const float *x, dnas_shape xs, const float *w, const float *b) {
    DNAS_TRY(check_args("conv2d_fwd", p, xs, ys));
    if (dnas_shape_numel(ys) == 0) return DNAS_OK;
    const int T = imax(1, dnas_cpu_threads(be));
    if (!fast_ok(p) || xs.h == 0 || xs.w == 0) {
        naive_fwd(p, y, ys, x, xs, w, b, T);
        return DNAS_OK;
    }
    if (direct_dnnl(p, xs, ys)) {
        int used;
        DNAS_TRY(dnas_cpu_dnnl_conv_fwd(be, p, y, ys, x, xs, w, b, &used));
        if (used) return DNAS_OK;
    }
    const int dw = is_depthwise(p), G = p->groups;
    const int gk = is_pointwise(p, xs, ys) ? pw_gemm_small(p, 1, b) : 0;
    if (gk) {
        const long P = (long)ys.n * ys.h * ys.w;
        float beta = 0.0f;
        if (b) { /* bias rows first (on the threads: a serial pass cost as much as the
                  * GEMM at 16 channels), then accumulate the product onto them */
            OMP(omp parallel for num_threads(T) schedule(static) if (T > 1))
            for (long q = 0; q < P; q++) memcpy(y + q * p->cout, b, sizeof(float) * p->cout);
            beta = 1.0f;
        }
        gemm_rm(gk, T, 'N', 'T', P, p->cout, p->cin, x, p->cin, w, p->cin, beta, y, p->cout);
        return DNAS_OK;
    }
    plan_t P;
    axis_fwd(&P.ah, p->kh, p->stride, p->pad, p->dil);
    axis_fwd(&P.aw, p->kw, p->stride, p->pad, p->dil);
    plan_init(&P, ys.n, ys.h, ys.w, ys.c, xs.h, xs.w, xs.c, p->kh, p->kw, BAND_PX_FWD);
    gather_t A = {0};
    A.src = x;
    A.dst = y;
    A.G = G;
    A.depthwise = dw;
    A.K = p->cin / G;
    A.Dg = p->cout / G;
    A.isa512 = isa512_for(dw);
    A.Dpad = A.isa512 ? round16(A.Dg * (dw ? G : 1)) : round8(A.Dg * (dw ? G : 1));
    A.add = 0;
    return gather_run(be, &A, &P, pack_fwd, p, w, b);
}

dnas_status dnas_cpu_conv2d_bwd_data(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                                     dnas_shape xs, const float *dy, dnas_shape ys,
                                     const float *w) {
    DNAS_TRY(check_args("conv2d_bwd_data", p, xs, ys));
    if (!dx || dnas_shape_numel(xs) == 0) return DNAS_OK;
    const int T = imax(1, dnas_cpu_threads(be));
    if (!fast_ok(p) || ys.h == 0 || ys.w == 0) {
        naive_bwd_data(p, dx, acc, xs, dy, ys, w, T);
        return DNAS_OK;
    }
    if (!acc && direct_dnnl(p, xs, ys)) {
        int used;
        DNAS_TRY(dnas_cpu_dnnl_conv_bwd_data(be, p, dx, xs, dy, ys, w, &used));
        if (used) return DNAS_OK;
    }
    const int dw = is_depthwise(p), G = p->groups;
    const int gk = is_pointwise(p, xs, ys) ? pw_gemm() : 0;
    if (gk) {
        const long P = (long)ys.n * ys.h * ys.w;
        gemm_rm(gk, T, 'N', 'N', P, p->cin, p->cout, dy, p->cout, w, p->cin, acc ? 1.0f : 0.0f,
                dx, p->cin);
        return DNAS_OK;
    }
    plan_t P;
    axis_bwd(&P.ah, p->kh, p->stride, p->pad, p->dil);
    axis_bwd(&P.aw, p->kw, p->stride, p->pad, p->dil);
    plan_init(&P, xs.n, xs.h, xs.w, xs.c, ys.h, ys.w, ys.c, p->kh, p->kw, BAND_PX_FWD);
    gather_t A = {0};
    A.src = dy;
    A.dst = dx;
    A.G = G;
    A.depthwise = dw;
    A.K = p->cout / G;
    A.Dg = p->cin / G;
    A.isa512 = isa512_for(dw);
    A.Dpad = A.isa512 ? round16(A.Dg * (dw ? G : 1)) : round8(A.Dg * (dw ? G : 1));
    A.add = acc != 0;
    return gather_run(be, &A, &P, pack_bwd, p, w, NULL);
}

/* ------------------------------------------------------------------------------------------
 * Backward-weight */
typedef struct {
    const plan_t *P;
    const float *x, *dy;
    int G, Cig, Cog, Cpad, KK; /* KK = taps * Cig rows per group */
    int stride, pad, depthwise;
    const int *offs;           /* dense: [g][KK]; depthwise: [tap] */
    int want_w, want_b;
    int old;                   /* DNAS_CONV_IMPL=old: the kernels before the 4-lane tails */
    int isa512;                /* AVX-512 kernels (Cpad a multiple of 16) */
} wgrad_t;

#if DNAS_HAVE_AVX512
/* Dense weight gradient of one band with the AVX-512 kernels: per group, 32-channel block
 * pairs and a last 16-channel block; per tap, the Cig rows cut into strips of consecutive
 * input channels of as equal length as possible (one source pointer per strip, no offset
 * table in registers). */
static void wgrad_dense512(const wgrad_t *A, const float *srow, int nrows, int ncols,
                           ptrdiff_t rstep, ptrdiff_t pstep, const float *dyb, float *part) {
    const int tt = A->P->KH * A->P->KW, Cig = A->Cig, Cpad = A->Cpad, C = A->P->DC;
    for (int g = 0; g < A->G; g++) {
        const int *offs = A->offs + (size_t)g * A->KK;
        float *pg = part + (size_t)g * A->KK * Cpad;
        for (int co0 = 0; co0 < Cpad;) {
            const int NB = Cpad - co0 >= 32 ? 2 : 1;
            const int nvalid = imin(16 * NB, A->Cog - co0), rmax = kw5_rmax[NB - 1];
            const int ns = (Cig + rmax - 1) / rmax;
            const float *dyc = dyb + (size_t)g * A->Cog + co0;
            for (int t = 0; t < tt; t++)
                for (int q = 0, ci = 0; q < ns; q++) {
                    const int R = (Cig - ci) / (ns - q), r = t * Cig + ci;
                    kw5_tab[NB - 1][R - 1](srow + offs[r], nrows, ncols, rstep, pstep, dyc, C,
                                           pg + (size_t)r * Cpad + co0, Cpad, nvalid);
                    ci += R;
                }
            co0 += 16 * NB;
        }
    }
}

/* Depthwise weight gradient of one band with the AVX-512 kernels: 16-channel blocks (a tail
 * of 8 or 4 channels by the 8- / 4-lane kernels, any other masked), taps in balanced chunks
 * (a 3x3 kernel in one pass, 5x5 as 9 + 8 + 8). */
static void wgrad_dw512(const wgrad_t *A, const float *srow, int nrows, int ncols,
                        ptrdiff_t rstep, ptrdiff_t pstep, const float *dyb, float *part) {
    const int tt = A->P->KH * A->P->KW, C = A->P->DC;
    for (int c0 = 0; c0 < C; c0 += 16) {
        const int nvalid = imin(16, C - c0), narrow = nvalid == 8 || nvalid == 4;
        const kdww_fn *tab = nvalid == 16 ? kdww5_tab[0]
                             : nvalid == 8 ? kdww_tab[0]
                             : nvalid == 4 ? kdww4_tab
                                           : kdww5_tab[1];
        const int maxt = narrow ? DWT : DWT5, nchunk = (tt + maxt - 1) / maxt;
        for (int q = 0, t = 0; q < nchunk; q++) {
            const int nt = (tt - t) / (nchunk - q);
            tab[nt - 1](srow + c0, nrows, ncols, rstep, pstep, dyb + c0, C, A->offs + t,
                        part + (size_t)t * A->Cpad + c0, A->Cpad, nvalid);
            t += nt;
        }
    }
}
#endif

/* pdb[c] += sum over npx rows of dy[q*C + c]: a bias gradient's column sums, in registers.
 * pdb is 32-byte aligned with round8(C) floats. */
static void colsum_add(const float *dy, long npx, int C, float *pdb) {
    for (int c0 = 0; c0 < C; c0 += 8) {
        const m8 m = m8_first(C - c0);
        const int full = C - c0 >= 8;
        f8 s0 = f8_zero(), s1 = s0, s2 = s0, s3 = s0;
        const float *d = dy + c0;
        long q = 0;
        if (full) /* four chains hide the add latency */
            for (; q + 4 <= npx; q += 4, d += 4 * C) {
                s0 = f8_add(s0, f8_loadu(d));
                s1 = f8_add(s1, f8_loadu(d + C));
                s2 = f8_add(s2, f8_loadu(d + 2 * C));
                s3 = f8_add(s3, f8_loadu(d + 3 * C));
            }
        for (; q < npx; q++, d += C) s0 = f8_add(s0, f8_maskload(d, m));
        const f8 t = f8_add(f8_add(s0, s1), f8_add(s2, s3));
        f8_store(pdb + c0, f8_add(f8_load(pdb + c0), t));
    }
}

/* Bands [t0, t1) summed into one chunk's partials part / pdb. buf and *cached are the
 * calling thread's source buffer and the image it holds. */
static void wgrad_chunk(const wgrad_t *A, long t0, long t1, float *buf, int *cached, float *part,
                        float *pdb) {
    const plan_t *P = A->P;
    const int OW = P->DW, C = P->DC; /* dy grid: DH x DW, channels DC = cout */
    for (long task = t0; task < t1; task++) {
        const int n = (int)(task / P->nbands), band = (int)(task % P->nbands);
        const int i0 = band * P->band_rows, i1 = imin(P->DH, i0 + P->band_rows);
        const float *dyb = A->dy + (((size_t)n * P->DH + i0) * OW) * C;
        const int npx = (i1 - i0) * OW;
        if (A->want_b) colsum_add(dyb, npx, C, pdb); /* the bias gradient */
        if (!A->want_w) continue;
        int rlo;
        const float *base = plan_source(P, A->x, n, i0, i1, buf, cached, &rlo);
        /* pixel (i0, 0) reads source row i0*s - pad and column -pad (taps add k*dil) */
        const float *srow = base + (ptrdiff_t)(i0 * A->stride - A->pad - rlo) * P->rs +
                            (ptrdiff_t)(-A->pad - P->clo) * P->SC;
        const ptrdiff_t rstep = A->stride * P->rs, pstep = (ptrdiff_t)A->stride * P->SC;
#if DNAS_HAVE_AVX512
        if (A->depthwise && A->isa512) {
            wgrad_dw512(A, srow, i1 - i0, OW, rstep, pstep, dyb, part);
            continue;
        }
#endif
        if (A->depthwise) {
            const int tt = P->KH * P->KW;
            for (int c0 = 0; c0 < C; c0 += 8) {
                const int nvalid = imin(8, C - c0), masked = nvalid < 8;
                const int nchunk = (tt + DWT - 1) / DWT; /* balanced: 9 taps = 5 + 4 */
                for (int q = 0, t = 0; q < nchunk; q++) {
                    const int nt = (tt - t) / (nchunk - q);
                    const kdww_fn *tab = nvalid == 4 && !A->old ? kdww4_tab : kdww_tab[masked];
                    tab[nt - 1](srow + c0, i1 - i0, OW, rstep, pstep, dyb + c0, C,
                                             A->offs + t, part + (size_t)t * A->Cpad + c0,
                                             A->Cpad, nvalid);
                    t += nt;
                }
            }
            continue;
        }
#if DNAS_HAVE_AVX512
        if (A->isa512) {
            wgrad_dense512(A, srow, i1 - i0, OW, rstep, pstep, dyb, part);
            continue;
        }
#endif
        for (int g = 0; g < A->G; g++) {
            const int *offs = A->offs + (size_t)g * A->KK;
            float *pg = part + (size_t)g * A->KK * A->Cpad;
            for (int co0 = 0; co0 < A->Cpad; co0 += 16) {
                const int L = A->Cpad - co0 >= 16 ? 16 : 8;
                const int nvalid = imin(L, A->Cog - co0), masked = nvalid < L;
                const kw_fn *tab = kw_tab[masked][L / 8 - 1];
                const float *dyc = dyb + (size_t)g * A->Cog + co0;
                for (int r0 = 0; r0 < A->KK; r0 += MR) {
                    const int R = imin(MR, A->KK - r0);
                    tab[R - 1](srow, i1 - i0, OW, rstep, pstep, dyc, C, offs + r0,
                               pg + (size_t)r0 * A->Cpad + co0, A->Cpad, nvalid);
                }
            }
        }
    }
}

/* Fallback: images [n0, n1) into one chunk's partials (OHWI like dw). */
static void naive_wgrad_chunk(const dnas_conv_p *p, const float *x, dnas_shape xs,
                              const float *dy, dnas_shape ys, long n0, long n1, float *part,
                              float *pdb, int want_w, int want_b) {
    const int G = p->groups, Cig = p->cin / G, Cog = p->cout / G;
    for (long n = n0; n < n1; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int co = 0; co < ys.c; co++) {
                    const float d = dy[(((size_t)n * ys.h + oh) * ys.w + ow) * ys.c + co];
                    if (want_b) pdb[co] += d;
                    if (!want_w) continue;
                    const int g = co / Cog;
                    for (int kh = 0; kh < p->kh; kh++) {
                        const int ih = oh * p->stride - p->pad + kh * p->dil;
                        if (ih < 0 || ih >= xs.h) continue;
                        for (int kw = 0; kw < p->kw; kw++) {
                            const int iw = ow * p->stride - p->pad + kw * p->dil;
                            if (iw < 0 || iw >= xs.w) continue;
                            const float *xp = x + (((size_t)n * xs.h + ih) * xs.w + iw) * xs.c +
                                              (size_t)g * Cig;
                            float *wp = part + (((size_t)co * p->kh + kh) * p->kw + kw) * Cig;
                            for (int ci = 0; ci < Cig; ci++) wp[ci] += d * xp[ci];
                        }
                    }
                }
}

dnas_status dnas_cpu_conv2d_bwd_weight(dnas_backend *be, const dnas_conv_p *p, float *dw,
                                       float *db, const float *x, dnas_shape xs, const float *dy,
                                       dnas_shape ys) {
    DNAS_TRY(check_args("conv2d_bwd_weight", p, xs, ys));
    if ((!dw && !db) || dnas_shape_numel(ys) == 0) return DNAS_OK;
    const int T = imax(1, dnas_cpu_threads(be));
    if (direct_dnnl(p, xs, ys)) {
        int used;
        DNAS_TRY(dnas_cpu_dnnl_conv_bwd_weight(be, p, dw, db, x, xs, dy, ys, &used));
        if (used) return DNAS_OK;
    }
    const int gk = dw && is_pointwise(p, xs, ys) ? pw_gemm_small(p, 0, NULL) : 0;
    if (gk) { /* the bias gradient (if wanted) by our column sums below */
        const long P = (long)ys.n * ys.h * ys.w;
        gemm_rm(gk, T, 'T', 'N', p->cout, p->cin, P, dy, p->cout, x, p->cin, 1.0f, dw, p->cin);
        if (!db) return DNAS_OK;
        dw = NULL;
    }
    const int G = p->groups, Cig = p->cin / G, Cog = p->cout / G, tt = p->kh * p->kw;
    const int depthwise = is_depthwise(p);
    const int fast = fast_ok(p) && xs.h > 0 && xs.w > 0;
    /* AVX-512 for depthwise convolutions and for dense ones with at least 8 input channels
     * per group (fewer make too short strips: the 8-lane kernels' strips cross taps) */
    const int isa512 = (depthwise || Cig >= 8) && isa512_for(depthwise);
    const int Cpad = isa512 ? round16(depthwise ? p->cout : Cog)
                            : round8(depthwise ? p->cout : Cog);
    const int KK = tt * Cig;
    /* partial layout: fast dense [g][tap*Cig+ci][Cpad]; fast depthwise [tap][Cpad];
     * fallback OHWI as dw itself */
    const size_t wfl = !dw ? 0
                       : !fast    ? (size_t)p->cout * KK
                       : depthwise ? (size_t)tt * Cpad
                                   : (size_t)G * KK * Cpad;
    const size_t dbfl = (size_t)round8(p->cout);

    plan_t P;
    memset(&P, 0, sizeof P);
    if (fast) { /* the tap tables hold at most MAXK taps per axis */
        axis_fwd(&P.ah, p->kh, p->stride, p->pad, p->dil);
        axis_fwd(&P.aw, p->kw, p->stride, p->pad, p->dil);
        plan_init(&P, ys.n, ys.h, ys.w, ys.c, xs.h, xs.w, xs.c, p->kh, p->kw, BAND_PX_WGT);
    }

    /* Work is cut into nch fixed chunks, each summed into its own partial buffer and handed
     * out dynamically; the partials are then added in chunk order. The result depends only
     * on nch (fixed by T and the shape), not on which thread ran what, so it is bit-identical
     * from run to run, and a core stolen by another process does not stall the other. */
    const long ntask = fast ? (long)P.N * P.nbands : (long)ys.n;
    const int nch = (int)(ntask < 4L * T ? ntask : 4L * T);
    carve_t c = {0};
    const size_t bufb = fast ? align64(plan_buf_floats(&P) * sizeof(float)) : 0;
    const size_t partb = align64(wfl * sizeof(float)), dbb = align64(dbfl * sizeof(float));
    const size_t perch = partb + dbb;
    size_t o_buf = carve(&c, bufb * T);
    size_t o_ch = carve(&c, perch * nch);
    size_t o_off = carve(&c, (size_t)(depthwise ? tt : G * KK) * sizeof(int));
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, c.off, &ws));
    char *wsb = ws;

    wgrad_t A = {0};
    A.P = &P;
    A.x = x;
    A.dy = dy;
    A.G = G;
    A.Cig = Cig;
    A.Cog = Cog;
    A.Cpad = Cpad;
    A.KK = KK;
    A.stride = p->stride;
    A.pad = p->pad;
    A.depthwise = depthwise;
    A.want_w = dw != NULL;
    A.want_b = db != NULL;
    A.old = dnas_conv_old();
    A.isa512 = isa512;
    if (fast) {
        int *offs = (int *)(wsb + o_off);
        if (depthwise) {
            for (int t = 0; t < tt; t++)
                offs[t] = (int)((t / p->kw) * p->dil * P.rs +
                                (ptrdiff_t)(t % p->kw) * p->dil * P.SC);
        } else {
            for (int g = 0; g < G; g++)
                for (int t = 0; t < tt; t++)
                    for (int ci = 0; ci < Cig; ci++)
                        offs[(size_t)g * KK + t * Cig + ci] =
                            (int)((t / p->kw) * p->dil * P.rs +
                                  (ptrdiff_t)(t % p->kw) * p->dil * P.SC + g * Cig + ci);
        }
        A.offs = offs;
    }

    OMP(omp parallel num_threads(T))
    {
        float *buf = (float *)(wsb + o_buf + bufb * thread_id());
        int cached = -1;
        OMP(omp for schedule(dynamic, 1))
        for (int ch = 0; ch < nch; ch++) {
            float *part = (float *)(wsb + o_ch + perch * ch), *pdb = part + partb / sizeof(float);
            long t0, t1;
            split(ntask, ch, nch, &t0, &t1);
            memset(part, 0, wfl * sizeof(float));
            memset(pdb, 0, dbfl * sizeof(float));
            if (fast) wgrad_chunk(&A, t0, t1, buf, &cached, part, pdb);
            else naive_wgrad_chunk(p, x, xs, dy, ys, t0, t1, part, pdb, dw != NULL, db != NULL);
        }
        /* (implicit barrier) add the chunk partials in chunk order into dw (OHWI), in the
         * same parallel region to save a fork/join */
#define PART(ch) ((const float *)(wsb + o_ch + perch * (size_t)(ch)))
        const int red = dw ? p->cout : 0;
        OMP(omp for schedule(static))
        for (int co = 0; co < red; co++) {
            const int g = co / Cog, cl = co % Cog;
            for (int r = 0; r < KK; r++) {
                size_t src;
                if (!fast) src = (size_t)co * KK + r;
                else if (depthwise) src = (size_t)r * Cpad + co; /* KK == tt here */
                else src = ((size_t)g * KK + r) * Cpad + cl;
                float sum = PART(0)[src];
                for (int ch = 1; ch < nch; ch++) sum += PART(ch)[src];
                dw[(size_t)co * KK + r] += sum;
            }
        }
    }
    if (db) {
        for (int co = 0; co < p->cout; co++) {
            float sum = PART(0)[partb / sizeof(float) + co];
            for (int ch = 1; ch < nch; ch++) sum += PART(ch)[partb / sizeof(float) + co];
            db[co] += sum;
        }
    }
#undef PART
    return DNAS_OK;
}

/* ------------------------------------------------------------------------------------------
 * Both backward products of a pointwise convolution with dy read once from memory.
 * Separately, backward-data streams dy once and backward-weight (a GEMM with K = all the
 * pixels and a tiny M x N) streams dy and x again, and oneDNN threads that long-K product
 * poorly. Here the pixels are cut into chunks whose dy, x and dx rows fit in L2; each chunk
 * gets its dx rows and its own dW partial from two single-threaded GEMMs while its dy is
 * cached, chunks are handed out dynamically, and the partials are added in chunk order. The
 * chunking depends on the shape only, so dW is bit-identical at any thread count.
 * (Measured at 36->36 channels, 32x32, batch 96, caches cold, 2 threads: 3.0 ms as two
 * 2-thread GEMMs, 1.9-2.1 ms chunked.) */
#ifdef DNAS_HAVE_DNNL /* oneDNN only: see dnas_cpu_conv2d_bwd */
#define PW_CHUNK_BYTES (1536L * 1024)

static long pw_chunk_px(int cin, int cout) {
    const long per = 4L * (cout + 2L * cin); /* dy, x and dx row bytes of one pixel */
    long px = PW_CHUNK_BYTES / per;
    px = px < 1024 ? 1024 : px & ~15L;
    return px;
}

static dnas_status pw_bwd_chunked(dnas_backend *be, int gk, int T, const dnas_conv_p *p,
                                  float *dx, int acc, float *dw, float *db, const float *x,
                                  const float *dy, const float *w, long P) {
    const long px = pw_chunk_px(p->cin, p->cout), nch = (P + px - 1) / px;
    const int co = p->cout;
    /* a chunk's partial: dW (cout x cin), then from a 64-byte boundary its bias gradient
     * (round8(cout), colsum_add's layout) when wanted */
    const size_t wn = (size_t)co * p->cin, wnb = align64(wn * sizeof(float)) / sizeof(float);
    const size_t partb = align64((wnb + (db ? (size_t)round8(co) : 0)) * sizeof(float));
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, partb * (size_t)nch, &ws));
    char *wsb = ws;
    const float beta = acc ? 1.0f : 0.0f;
    OMP(omp parallel num_threads(T))
    {
        OMP(omp for schedule(dynamic, 1))
        for (long ch = 0; ch < nch; ch++) {
            const long p0 = ch * px, np = p0 + px <= P ? px : P - p0;
            const float *dyc = dy + (size_t)p0 * p->cout;
            gemm_rm(gk, 1, 'N', 'N', np, p->cin, p->cout, dyc, p->cout, w, p->cin, beta,
                    dx + (size_t)p0 * p->cin, p->cin);
            float *part = (float *)(wsb + partb * (size_t)ch);
            gemm_rm(gk, 1, 'T', 'N', co, p->cin, np, dyc, co, x + (size_t)p0 * p->cin, p->cin,
                    0.0f, part, p->cin);
            if (db) {
                memset(part + wnb, 0, sizeof(float) * (size_t)round8(co));
                colsum_add(dyc, np, co, part + wnb);
            }
        }
        /* dW entries, then the bias entries, each summed over the chunks in chunk order */
        const long nw = (long)wn, nall = nw + (db ? co : 0);
        OMP(omp for schedule(static))
        for (long i = 0; i < nall; i++) {
            const size_t at = i < nw ? (size_t)i : wnb + (size_t)(i - nw);
            float s = ((const float *)wsb)[at];
            for (long ch = 1; ch < nch; ch++)
                s += ((const float *)(wsb + partb * (size_t)ch))[at];
            if (i < nw) dw[i] += s;
            else db[i - nw] += s;
        }
    }
    return DNAS_OK;
}
#endif

dnas_status dnas_cpu_conv2d_bwd(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                                float *dw, float *db, const float *x, dnas_shape xs,
                                const float *dy, dnas_shape ys, const float *w) {
    DNAS_TRY(check_args("conv2d_bwd", p, xs, ys));
    const long P = (long)ys.n * ys.h * ys.w;
#ifdef DNAS_HAVE_DNNL
    /* oneDNN only: its sgemm runs single-threaded inside our threads (OpenBLAS's thread count
     * is process-wide, so it cannot) */
    if (dx && dw && P > 0 && is_pointwise(p, xs, ys) &&
        pw_gemm_small(p, 0, NULL) == DNAS_CONV_DNNL)
        return pw_bwd_chunked(be, DNAS_CONV_DNNL, imax(1, dnas_cpu_threads(be)), p, dx, acc, dw,
                              db, x, dy, w, P);
#endif
    (void)P;
    DNAS_TRY(dnas_cpu_conv2d_bwd_data(be, p, dx, acc, xs, dy, ys, w));
    return dnas_cpu_conv2d_bwd_weight(be, p, dw, db, x, xs, dy, ys);
}
