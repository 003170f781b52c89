/* Reference 2-D convolution (cross-correlation, as PyTorch) in double: direct loops.
 * x (N,H,W,Cin) NHWC, w (Cout,KH,KW,Cin/groups) OHWI, y (N,OH,OW,Cout).
 * Output o reads input i = o*stride - pad + k*dil; a negative pad crops the top/left edge
 * (FactorizedReduce's shifted branch). Reads outside [0,H) x [0,W) are zero padding. */
#include <assert.h>
#include "ref.h"

static size_t nhwc(dnas_shape s, int n, int h, int w, int c) {
    return (((size_t)n * (size_t)s.h + (size_t)h) * (size_t)s.w + (size_t)w) * (size_t)s.c +
           (size_t)c;
}
static size_t ohwi(const dnas_conv_p *p, int co, int kh, int kw, int ci) {
    return (((size_t)co * (size_t)p->kh + (size_t)kh) * (size_t)p->kw + (size_t)kw) *
               (size_t)(p->cin / p->groups) +
           (size_t)ci;
}
static void check_p(const dnas_conv_p *p, dnas_shape xs, dnas_shape ys) {
    assert(p->groups > 0 && p->cin % p->groups == 0 && p->cout % p->groups == 0);
    assert(xs.c == p->cin && ys.c == p->cout && xs.n == ys.n);
    (void)p; (void)xs; (void)ys;
}

void dnas_ref_conv2d_fwd(const dnas_conv_p *p, double *y, dnas_shape ys, const double *x,
                         dnas_shape xs, const double *w, const double *b) {
    check_p(p, xs, ys);
    const int cin_g = p->cin / p->groups, cout_g = p->cout / p->groups;
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int co = 0; co < ys.c; co++) {
                    const int g = co / cout_g;
                    double s = b ? b[co] : 0.0;
                    for (int kh = 0; kh < p->kh; kh++) {
                        const int ih = oh * p->stride - p->pad + kh * p->dil;
                        if (ih < 0 || ih >= xs.h) continue;
                        for (int kw = 0; kw < p->kw; kw++) {
                            const int iw = ow * p->stride - p->pad + kw * p->dil;
                            if (iw < 0 || iw >= xs.w) continue;
                            for (int ci = 0; ci < cin_g; ci++)
                                s += x[nhwc(xs, n, ih, iw, g * cin_g + ci)] *
                                     w[ohwi(p, co, kh, kw, ci)];
                        }
                    }
                    y[nhwc(ys, n, oh, ow, co)] = s;
                }
}

/* Scatter form of the transpose: every (output, tap) pair that the forward read adds
 * dy * w back into the input pixel it read. */
void dnas_ref_conv2d_bwd_data(const dnas_conv_p *p, double *dx, int acc, dnas_shape xs,
                              const double *dy, dnas_shape ys, const double *w) {
    check_p(p, xs, ys);
    if (!acc)
        for (size_t i = 0; i < dnas_shape_numel(xs); i++) dx[i] = 0.0;
    const int cin_g = p->cin / p->groups, cout_g = p->cout / p->groups;
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int co = 0; co < ys.c; co++) {
                    const int g = co / cout_g;
                    const double d = dy[nhwc(ys, n, oh, ow, co)];
                    for (int kh = 0; kh < p->kh; kh++) {
                        const int ih = oh * p->stride - p->pad + kh * p->dil;
                        if (ih < 0 || ih >= xs.h) continue;
                        for (int kw = 0; kw < p->kw; kw++) {
                            const int iw = ow * p->stride - p->pad + kw * p->dil;
                            if (iw < 0 || iw >= xs.w) continue;
                            for (int ci = 0; ci < cin_g; ci++)
                                dx[nhwc(xs, n, ih, iw, g * cin_g + ci)] +=
                                    d * w[ohwi(p, co, kh, kw, ci)];
                        }
                    }
                }
}

void dnas_ref_conv2d_bwd_weight(const dnas_conv_p *p, double *dw, double *db, const double *x,
                                dnas_shape xs, const double *dy, dnas_shape ys) {
    check_p(p, xs, ys);
    const int cin_g = p->cin / p->groups, cout_g = p->cout / p->groups;
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int co = 0; co < ys.c; co++) {
                    const int g = co / cout_g;
                    const double d = dy[nhwc(ys, n, oh, ow, co)];
                    if (db) db[co] += d;
                    if (!dw) continue;
                    for (int kh = 0; kh < p->kh; kh++) {
                        const int ih = oh * p->stride - p->pad + kh * p->dil;
                        if (ih < 0 || ih >= xs.h) continue;
                        for (int kw = 0; kw < p->kw; kw++) {
                            const int iw = ow * p->stride - p->pad + kw * p->dil;
                            if (iw < 0 || iw >= xs.w) continue;
                            for (int ci = 0; ci < cin_g; ci++)
                                dw[ohwi(p, co, kh, kw, ci)] +=
                                    d * x[nhwc(xs, n, ih, iw, g * cin_g + ci)];
                        }
                    }
                }
}
