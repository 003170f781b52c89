/* The kernel contract between ops and backends.
 *
 * Every activation is float32 NHWC (see core/tensor.h); shapes are passed as dnas_shape
 * (logical N,C,H,W). Conventions, after llm.c:
 *   - outputs first, then what backward saved, then inputs and parameters, then sizes;
 *   - a backward kernel ADDS into parameter gradients (dw, db, dgamma, dbeta);
 *   - it writes an activation gradient dx when acc == 0 and adds into it when acc == 1
 *     (acc == 1 only where several paths meet, e.g. a node feeding several edges);
 *   - a NULL gradient pointer means "not wanted": skip that work.
 * Conv weights are OHWI: (Cout, KH, KW, Cin/groups). Linear weights are (out, in).
 * A backend fills what it supports; `supports` lets callers fall back or refuse clearly. */
#ifndef DNAS_BACKEND_H
#define DNAS_BACKEND_H
#include "../core/status.h"
#include "../core/tensor.h"

typedef struct {
    int cin, cout;   /* channels */
    int kh, kw;      /* kernel */
    int stride;      /* same in h and w */
    int pad;         /* zero padding before row 0 / col 0; negative = crop (FactorizedReduce shift) */
    int dil;         /* dilation */
    int groups;      /* cin % groups == 0, cout % groups == 0; groups == cin is depthwise */
} dnas_conv_p;
/* Output size for symmetric padding: (H + 2*pad - dil*(k-1) - 1)/stride + 1. The op layer
 * passes the output shape explicitly so that asymmetric cases (pad < 0) work too. */

typedef struct {
    int k, stride, pad;
    int count_include_pad; /* avg pool only */
} dnas_pool_p;
/* The skip input folded into a lazy average pool's backward (avgpool_bwd_mix_skip). */
typedef struct {
    float m;     /* the skip input's weight in the sum */
    int acc;     /* its gradient is added into dx (else dx is overwritten) */
    double *dot; /* NULL, or where <dy, x> goes: the skip weight's gradient */
} dnas_pool_skip;

typedef struct {
    float eps, momentum; /* PyTorch semantics: running = (1-momentum)*running + momentum*batch */
    int relu;            /* 1: y = max(0, BN(x)) in the same pass (backends supporting DNAS_K_BN_RELU) */
} dnas_bn_p;

/* Kernel families, one per group of vtable entries (fwd + bwd). An op declares the families
 * it calls (a mask of DNAS_KBIT) and graph planning refuses a graph whose backend's
 * `supports` says no to one of them, naming the node. */
typedef enum {
    DNAS_K_CONV2D, DNAS_K_BN, DNAS_K_RELU, DNAS_K_AVGPOOL, DNAS_K_MAXPOOL, DNAS_K_WSUM,
    DNAS_K_GAP, DNAS_K_LINEAR, DNAS_K_XENT, DNAS_K_CHANCOPY,
    DNAS_K_BN_RELU, /* BN with its ReLU fused: dnas_bn_p.relu and bn_bwd's relu_y */
    DNAS_K_CONCAT_RELU, /* concat with its ReLU fused: concat_relu_fwd / concat_relu_bwd */
    /* BN whose normalisation the weighted sum reading it applies (the BN output is never
     * stored): bn_fwd_train with y NULL, wsum_affine_fwd, bn_bwd_sums */
    DNAS_K_LAZY_BN,
    /* Average pool whose output the weighted sum reading it computes from the pool's input
     * (never stored): wsum_affine_fwd's pool inputs, avgpool_bwd_mix */
    DNAS_K_LAZY_POOL,
    DNAS_K_COUNT
} dnas_kernel_kind;
#define DNAS_KBIT(k) (1u << (k))
_Static_assert(DNAS_K_COUNT <= 32, "kernel masks are 32-bit");
/* "conv2d", "bn", ... for messages; "?" outside the enum. */
const char *dnas_kernel_name(dnas_kernel_kind k);
/* The one label check (every backend's xent_fwd/xent_bwd runs it on the host labels before
 * indexing with them): n >= 0, k > 0 and every label in [0,k), else DNAS_ERR_INVALID_ARG
 * with "<who>: label L of row R outside [0,k)". */
dnas_status dnas_labels_check(const char *who, const int *labels, int n, int k);

typedef struct dnas_backend dnas_backend;
struct dnas_backend {
    const char *name;
    void *impl;
    /* 1 if the backend has every kernel of family k; graph planning asks it per node. */
    int (*supports)(const dnas_backend *be, dnas_kernel_kind k);
    void (*destroy)(dnas_backend *be);

    /* y(N,OH,OW,Cout) = conv(x(N,H,W,Cin), w) + b   (b may be NULL) */
    dnas_status (*conv2d_fwd)(dnas_backend *be, const dnas_conv_p *p, float *y, dnas_shape ys,
                              const float *x, dnas_shape xs, const float *w, const float *b);
    /* dx (=/+=) conv^T(dy, w) */
    dnas_status (*conv2d_bwd_data)(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                                   dnas_shape xs, const float *dy, dnas_shape ys, const float *w);
    /* dw += x (*) dy ; db += sum dy (db may be NULL) */
    dnas_status (*conv2d_bwd_weight)(dnas_backend *be, const dnas_conv_p *p, float *dw, float *db,
                                     const float *x, dnas_shape xs, const float *dy, dnas_shape ys);
    /* Optional (NULL: not offered): both of the above in one call, dx (=/+= per acc) and
     * dw += (db may be NULL), so a backend can read dy once for the two products. */
    dnas_status (*conv2d_bwd)(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                              float *dw, float *db, const float *x, dnas_shape xs,
                              const float *dy, dnas_shape ys, const float *w);

    /* Batch norm over (N,H,W) per channel. Training mode: batch statistics; saves mean and
     * invstd = 1/sqrt(var_biased + eps) (C each) for backward; if running_mean != NULL, updates
     * running stats with the unbiased variance (PyTorch). gamma/beta NULL = affine off.
     * y NULL (backends with DNAS_K_LAZY_BN): the statistics only. */
    dnas_status (*bn_fwd_train)(dnas_backend *be, const dnas_bn_p *p, float *y, float *save_mean,
                                float *save_invstd, float *running_mean, float *running_var,
                                const float *x, dnas_shape xs, const float *gamma,
                                const float *beta);
    /* Eval mode with running statistics. */
    dnas_status (*bn_fwd_eval)(dnas_backend *be, const dnas_bn_p *p, float *y, const float *x,
                               dnas_shape xs, const float *running_mean, const float *running_var,
                               const float *gamma, const float *beta);
    /* Backward of training-mode BN for the output gradient dy_scale * dy (a weighted sum's
     * m_i * dy without materialising it; 1 otherwise). dx may be NULL; dgamma/dbeta NULL when
     * affine off or not wanted. relu_y: NULL, or the output of a forward with p->relu, whose
     * positive entries are where the ReLU passed the gradient (DNAS_K_BN_RELU). */
    dnas_status (*bn_bwd)(dnas_backend *be, float *dx, int acc, float *dgamma, float *dbeta,
                          const float *dy, float dy_scale, const float *relu_y, const float *x,
                          dnas_shape xs,
                          const float *save_mean, const float *save_invstd, const float *gamma);
    /* bn_bwd that also writes, in double, sums[c] = sum of dy and sums[C + c] = sum of
     * dy * (x - save_mean) over channel c's N*H*W values, of dy itself (before dy_scale); the
     * sums are taken even when dx, dgamma and dbeta are all NULL (DNAS_K_LAZY_BN: the
     * mixing-weight gradient <dy, BN(x)> of a BN output that was never stored). */
    dnas_status (*bn_bwd_sums)(dnas_backend *be, float *dx, int acc, float *dgamma, float *dbeta,
                               const float *dy, float dy_scale, const float *relu_y,
                               const float *x, dnas_shape xs, const float *save_mean,
                               const float *save_invstd, const float *gamma, double *sums);

    dnas_status (*relu_fwd)(dnas_backend *be, float *y, const float *x, size_t n);
    /* dx (=/+=) dy * (y > 0) */
    dnas_status (*relu_bwd)(dnas_backend *be, float *dx, int acc, const float *dy, const float *y,
                            size_t n);

    dnas_status (*avgpool_fwd)(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                               const float *x, dnas_shape xs);
    dnas_status (*avgpool_bwd)(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                               dnas_shape xs, const float *dy, dnas_shape ys);
    /* Average pool backward for the output gradient dy_scale * dy of a pool output a weighted
     * sum reads (DNAS_K_LAZY_POOL): dx (=/+= per acc; may be NULL) and, when dot != NULL, the
     * mixing-weight gradient <dy, pool(x)> (of dy itself, before dy_scale) in double. */
    dnas_status (*avgpool_bwd_mix)(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                   dnas_shape xs, const float *x, const float *dy,
                                   float dy_scale, dnas_shape ys, double *dot);
    /* avgpool_bwd_mix with the same sum's skip input of x folded in (optional, NULL = none):
     * with dy and x of one shape (a stride-1 pool), dx = (skip->acc ? dx : 0) + skip->m * dy,
     * then the pool's term added as avgpool_bwd_mix's, rounded as the two calls in that order
     * would; skip->dot (if not NULL) = <dy, x> in double. One pass instead of the sum's
     * backward reading dy, x and dx again. */
    dnas_status (*avgpool_bwd_mix_skip)(dnas_backend *be, const dnas_pool_p *p, float *dx,
                                        dnas_shape xs, const float *x, const float *dy,
                                        float dy_scale, dnas_shape ys, double *dot,
                                        const dnas_pool_skip *skip);
    /* Max pool pads with -inf; ties go to the first maximum in window order (row-major). */
    dnas_status (*maxpool_fwd)(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                               const float *x, dnas_shape xs);
    dnas_status (*maxpool_bwd)(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                               dnas_shape xs, const float *x, const float *dy, dnas_shape ys);

    /* Weighted sum of k same-shaped tensors of n floats: y = sum_i m[i]*x[i].
     * Backward: dm[i] = <dy, x[i]> (written, not accumulated; dm may be NULL);
     * dx[i] (=/+= per acc[i]) m[i]*dy for each dx[i] != NULL. */
    dnas_status (*wsum_fwd)(dnas_backend *be, float *y, size_t n, int k, const float *const *x,
                            const float *m);
    dnas_status (*wsum_bwd)(dnas_backend *be, float *const *dx, const int *acc, float *dm,
                            size_t n, int k, const float *dy, const float *const *x,
                            const float *m);
    /* The weighted sum y (NHWC, shape ys) whose inputs may be BN outputs left unstored
     * (DNAS_K_LAZY_BN): input i contributes m[i] * ((x[i] - mean[i][c]) * a[i][c] + b[i][c])
     * where mean[i] != NULL (x[i] the BN's input, a and b its per-channel scale and shift), or
     * average-pool outputs left unstored (DNAS_K_LAZY_POOL): m[i] * avgpool(x[i]) where
     * pool != NULL and pool[i] != NULL (x[i] the pool's input, of shape pool_xs[i]);
     * m[i] * x[i] otherwise. mean and pool may be NULL (no input of that kind). */
    dnas_status (*wsum_affine_fwd)(dnas_backend *be, float *y, dnas_shape ys, int k,
                                   const float *const *x, const float *m,
                                   const float *const *mean, const float *const *a,
                                   const float *const *b, const dnas_pool_p *const *pool,
                                   const dnas_shape *pool_xs);

    /* Global average pool: y(N,C) = mean over H,W. */
    dnas_status (*gap_fwd)(dnas_backend *be, float *y, const float *x, dnas_shape xs);
    dnas_status (*gap_bwd)(dnas_backend *be, float *dx, int acc, dnas_shape xs, const float *dy);

    /* y(N,out) = x(N,in) w^T + b */
    dnas_status (*linear_fwd)(dnas_backend *be, float *y, const float *x, const float *w,
                              const float *b, int n, int in, int out);
    dnas_status (*linear_bwd)(dnas_backend *be, float *dx, int acc, float *dw, float *db,
                              const float *dy, const float *x, const float *w, int n, int in,
                              int out);

    /* Mean softmax cross-entropy over n rows of k logits. Writes probs (n,k), *loss and the
     * number of rows whose argmax equals the label. Labels must lie in [0,k). */
    dnas_status (*xent_fwd)(dnas_backend *be, float *probs, float *loss, int *correct,
                            const float *logits, const int *labels, int n, int k);
    /* dlogits = scale * (probs - onehot(labels)) / n   (overwrites) */
    dnas_status (*xent_bwd)(dnas_backend *be, float *dlogits, const float *probs,
                            const int *labels, int n, int k, float scale);

    /* Channel-block copy between NHWC tensors with npix = N*H*W pixels:
     * dst[p, doff + i] (=/+=) src[p, soff + i] for i < count. Concat, slice and their
     * backward are all this. */
    dnas_status (*chancopy)(dnas_backend *be, float *dst, int dst_c, int doff, int acc,
                            const float *src, int src_c, int soff, int count, size_t npix);
    /* ReLU of a channel concat (backends with DNAS_K_CONCAT_RELU), k inputs of c[i] channels,
     * npix pixels, one pass over memory each way. Forward: y = max(0, concat(x_0..x_k-1)).
     * Backward: dx[i] (=/+= per acc[i]) block i of dy where y > 0, else 0 (dx[i] NULL: none). */
    dnas_status (*concat_relu_fwd)(dnas_backend *be, float *y, int k, const float *const *x,
                                   const int *c, size_t npix);
    dnas_status (*concat_relu_bwd)(dnas_backend *be, float *const *dx, const int *acc, int k,
                                   const int *c, const float *dy, const float *y, size_t npix);
};

/* The CPU backend (always built). threads <= 0: use OpenMP's default. */
dnas_status dnas_backend_cpu_create(int threads, dnas_backend **out);
void dnas_backend_destroy(dnas_backend *be);

#endif
