/* Reference kernels in double precision: naive loops written for clarity, not speed.
 * They are the numerical oracle: tests gradcheck them by finite differences in double, and
 * check every fast backend kernel (CPU float, CUDA) against them. Same layouts and argument
 * conventions as backend.h (NHWC activations, OHWI conv weights, acc = add into dx). */
#ifndef DNAS_BACKEND_REF_H
#define DNAS_BACKEND_REF_H
#include <stddef.h>
#include "../backend.h"

void dnas_ref_conv2d_fwd(const dnas_conv_p *p, double *y, dnas_shape ys, const double *x,
                         dnas_shape xs, const double *w, const double *b);
void dnas_ref_conv2d_bwd_data(const dnas_conv_p *p, double *dx, int acc, dnas_shape xs,
                              const double *dy, dnas_shape ys, const double *w);
void dnas_ref_conv2d_bwd_weight(const dnas_conv_p *p, double *dw, double *db, const double *x,
                                dnas_shape xs, const double *dy, dnas_shape ys);

void dnas_ref_bn_fwd_train(const dnas_bn_p *p, double *y, double *save_mean, double *save_invstd,
                           double *running_mean, double *running_var, const double *x,
                           dnas_shape xs, const double *gamma, const double *beta);
void dnas_ref_bn_fwd_eval(const dnas_bn_p *p, double *y, const double *x, dnas_shape xs,
                          const double *running_mean, const double *running_var,
                          const double *gamma, const double *beta);
void dnas_ref_bn_bwd(double *dx, int acc, double *dgamma, double *dbeta, const double *dy,
                     const double *x, dnas_shape xs, const double *save_mean,
                     const double *save_invstd, const double *gamma);

void dnas_ref_relu_fwd(double *y, const double *x, size_t n);
void dnas_ref_relu_bwd(double *dx, int acc, const double *dy, const double *y, size_t n);

void dnas_ref_avgpool_fwd(const dnas_pool_p *p, double *y, dnas_shape ys, const double *x,
                          dnas_shape xs);
void dnas_ref_avgpool_bwd(const dnas_pool_p *p, double *dx, int acc, dnas_shape xs,
                          const double *dy, dnas_shape ys);
void dnas_ref_maxpool_fwd(const dnas_pool_p *p, double *y, dnas_shape ys, const double *x,
                          dnas_shape xs);
void dnas_ref_maxpool_bwd(const dnas_pool_p *p, double *dx, int acc, dnas_shape xs,
                          const double *x, const double *dy, dnas_shape ys);

void dnas_ref_wsum_fwd(double *y, size_t n, int k, const double *const *x, const double *m);
/* The lazy-BN weighted sum (backend.h wsum_affine_fwd); mean[i] NULL: a plain input. */
void dnas_ref_wsum_affine_fwd(double *y, size_t n, int C, int k, const double *const *x,
                              const double *m, const double *const *mean,
                              const double *const *a, const double *const *b);
void dnas_ref_wsum_bwd(double *const *dx, const int *acc, double *dm, size_t n, int k,
                       const double *dy, const double *const *x, const double *m);

void dnas_ref_gap_fwd(double *y, const double *x, dnas_shape xs);
void dnas_ref_gap_bwd(double *dx, int acc, dnas_shape xs, const double *dy);

void dnas_ref_linear_fwd(double *y, const double *x, const double *w, const double *b, int n,
                         int in, int out);
void dnas_ref_linear_bwd(double *dx, int acc, double *dw, double *db, const double *dy,
                         const double *x, const double *w, int n, int in, int out);

void dnas_ref_xent_fwd(double *probs, double *loss, int *correct, const double *logits,
                       const int *labels, int n, int k);
void dnas_ref_xent_bwd(double *dlogits, const double *probs, const int *labels, int n, int k,
                       double scale);

/* ReLU of a channel concat of k inputs (c[i] channels each), and its backward: dx[i] (=/+=
 * per acc[i]) block i of dy where y > 0 (dx[i] NULL: skipped). */
void dnas_ref_concat_relu_fwd(double *y, int k, const double *const *x, const int *c,
                              size_t npix);
void dnas_ref_concat_relu_bwd(double *const *dx, const int *acc, int k, const int *c,
                              const double *dy, const double *y, size_t npix);
void dnas_ref_chancopy(double *dst, int dst_c, int doff, int acc, const double *src, int src_c,
                       int soff, int count, size_t npix);

#endif
