/* Reference pooling in double. x (N,H,W,C), y (N,OH,OW,C); the output shape is given.
 * Window of output o covers inputs o*stride - pad + [0,k). */
#include <math.h>
#include "ref.h"

static size_t nhwc(dnas_shape s, int n, int h, int w, int c) {
    return (((size_t)n * (size_t)s.h + (size_t)h) * (size_t)s.w + (size_t)w) * (size_t)s.c +
           (size_t)c;
}
static void zero_unless(double *dx, int acc, dnas_shape xs) {
    if (!acc)
        for (size_t i = 0; i < dnas_shape_numel(xs); i++) dx[i] = 0.0;
}

/* PyTorch's divisor (avg_pool2d, ceil_mode off): with count_include_pad the window is clipped
 * only to the padded extent [-pad, H+pad); without it, to the image [0,H). */
static double avg_divisor(const dnas_pool_p *p, dnas_shape xs, int oh, int ow) {
    const int h0 = oh * p->stride - p->pad, w0 = ow * p->stride - p->pad;
    int h1 = h0 + p->k, w1 = w0 + p->k;
    if (p->count_include_pad) {
        if (h1 > xs.h + p->pad) h1 = xs.h + p->pad;
        if (w1 > xs.w + p->pad) w1 = xs.w + p->pad;
        return (double)(h1 - h0) * (double)(w1 - w0);
    }
    const int hs = h0 < 0 ? 0 : h0, ws = w0 < 0 ? 0 : w0;
    if (h1 > xs.h) h1 = xs.h;
    if (w1 > xs.w) w1 = xs.w;
    return (double)(h1 - hs) * (double)(w1 - ws);
}

void dnas_ref_avgpool_fwd(const dnas_pool_p *p, double *y, dnas_shape ys, const double *x,
                          dnas_shape xs) {
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++) {
                const double div = avg_divisor(p, xs, oh, ow);
                for (int c = 0; c < ys.c; c++) {
                    double s = 0.0;
                    for (int kh = 0; kh < p->k; kh++) {
                        const int ih = oh * p->stride - p->pad + kh;
                        if (ih < 0 || ih >= xs.h) continue;
                        for (int kw = 0; kw < p->k; kw++) {
                            const int iw = ow * p->stride - p->pad + kw;
                            if (iw < 0 || iw >= xs.w) continue;
                            s += x[nhwc(xs, n, ih, iw, c)];
                        }
                    }
                    y[nhwc(ys, n, oh, ow, c)] = s / div;
                }
            }
}

void dnas_ref_avgpool_bwd(const dnas_pool_p *p, double *dx, int acc, dnas_shape xs,
                          const double *dy, dnas_shape ys) {
    zero_unless(dx, acc, xs);
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++) {
                const double div = avg_divisor(p, xs, oh, ow);
                for (int c = 0; c < ys.c; c++) {
                    const double d = dy[nhwc(ys, n, oh, ow, c)] / div;
                    for (int kh = 0; kh < p->k; kh++) {
                        const int ih = oh * p->stride - p->pad + kh;
                        if (ih < 0 || ih >= xs.h) continue;
                        for (int kw = 0; kw < p->k; kw++) {
                            const int iw = ow * p->stride - p->pad + kw;
                            if (iw < 0 || iw >= xs.w) continue;
                            dx[nhwc(xs, n, ih, iw, c)] += d;
                        }
                    }
                }
            }
}

/* Index into x of the window maximum, or (size_t)-1 if the window holds no input pixel.
 * Padding is -inf, so it never wins; strict '>' keeps the first maximum in row-major order. */
static size_t max_index(const dnas_pool_p *p, const double *x, dnas_shape xs, int n, int oh,
                        int ow, int c) {
    size_t best = (size_t)-1;
    double bv = -INFINITY;
    for (int kh = 0; kh < p->k; kh++) {
        const int ih = oh * p->stride - p->pad + kh;
        if (ih < 0 || ih >= xs.h) continue;
        for (int kw = 0; kw < p->k; kw++) {
            const int iw = ow * p->stride - p->pad + kw;
            if (iw < 0 || iw >= xs.w) continue;
            const size_t i = nhwc(xs, n, ih, iw, c);
            if (best == (size_t)-1 || x[i] > bv) {
                best = i;
                bv = x[i];
            }
        }
    }
    return best;
}

void dnas_ref_maxpool_fwd(const dnas_pool_p *p, double *y, dnas_shape ys, const double *x,
                          dnas_shape xs) {
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int c = 0; c < ys.c; c++) {
                    const size_t i = max_index(p, x, xs, n, oh, ow, c);
                    y[nhwc(ys, n, oh, ow, c)] = i == (size_t)-1 ? -INFINITY : x[i];
                }
}

void dnas_ref_maxpool_bwd(const dnas_pool_p *p, double *dx, int acc, dnas_shape xs,
                          const double *x, const double *dy, dnas_shape ys) {
    zero_unless(dx, acc, xs);
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int c = 0; c < ys.c; c++) {
                    const size_t i = max_index(p, x, xs, n, oh, ow, c);
                    if (i != (size_t)-1) dx[i] += dy[nhwc(ys, n, oh, ow, c)];
                }
}
