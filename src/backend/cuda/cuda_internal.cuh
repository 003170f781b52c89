/* What the CUDA backend's translation units share: the backend state, error helpers that turn
 * a failing CUDA / cuDNN / cuBLAS call into a dnas_status naming the call, launch sizes and
 * the kernel entry points that cuda_backend.cu puts in the vtable. */
#ifndef DNAS_BACKEND_CUDA_INTERNAL_CUH
#define DNAS_BACKEND_CUDA_INTERNAL_CUH
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cublas_v2.h>
#include <stddef.h>

/* backend.h is C11; its one C-only construct is _Static_assert. */
#ifndef _Static_assert
#define _Static_assert static_assert
#endif
extern "C" {
#include "../../core/status.h"
#include "cuda_backend.h"
}

struct dnas_cuda_impl {
    int device;
    int tf32;              /* DNAS_CUDA_TF32=1: tensor-core TF32 allowed in conv/linear */
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    void *ws;              /* device scratch, valid for one kernel call */
    size_t ws_bytes;
    int *labels;           /* device copy of the last xent labels */
    int labels_cap;
    float *rowloss;        /* xent_fwd: per-row loss and hit, read back on the host */
    int *rowhit;
    int rows_cap;
};

static inline dnas_cuda_impl *cu_impl(dnas_backend *be) { return (dnas_cuda_impl *)be->impl; }

dnas_status dnas_cuda_fail_rt(cudaError_t e, const char *call, const char *file, int line);
dnas_status dnas_cuda_fail_dnn(cudnnStatus_t e, const char *call, const char *file, int line);
dnas_status dnas_cuda_fail_blas(cublasStatus_t e, const char *call, const char *file, int line);

#define CU_TRY(call)                                                                 \
    do {                                                                             \
        cudaError_t e__ = (call);                                                    \
        if (e__ != cudaSuccess) return dnas_cuda_fail_rt(e__, #call, __FILE__, __LINE__); \
    } while (0)
#define DNN_TRY(call)                                                                \
    do {                                                                             \
        cudnnStatus_t e__ = (call);                                                  \
        if (e__ != CUDNN_STATUS_SUCCESS)                                             \
            return dnas_cuda_fail_dnn(e__, #call, __FILE__, __LINE__);               \
    } while (0)
#define BLAS_TRY(call)                                                               \
    do {                                                                             \
        cublasStatus_t e__ = (call);                                                 \
        if (e__ != CUBLAS_STATUS_SUCCESS)                                            \
            return dnas_cuda_fail_blas(e__, #call, __FILE__, __LINE__);              \
    } while (0)
/* A launch reports bad configurations only through cudaGetLastError. */
#define CU_LAUNCHED(what)                                                            \
    do {                                                                             \
        cudaError_t e__ = cudaGetLastError();                                        \
        if (e__ != cudaSuccess) return dnas_cuda_fail_rt(e__, what, __FILE__, __LINE__); \
    } while (0)

/* Grid-stride launches: enough blocks to fill the GPU, never more than the work needs. */
#define CU_THREADS 256
static inline unsigned cu_blocks(size_t n) {
    size_t b = (n + CU_THREADS - 1) / CU_THREADS;
    if (b < 1) b = 1;
    if (b > 65535u * 8u) b = 65535u * 8u;
    return (unsigned)b;
}

/* Flat NHWC index t -> (n, h, w, c) of an (N,H,W,C) tensor: the split every one-thread-per-
 * element kernel (pooling, conv's crop pack/scatter) starts with. */
__device__ inline void cu_nhwc_split(size_t t, int H, int W, int C, int *n, int *h, int *w,
                                     int *c) {
    *c = (int)(t % C);
    size_t r = t / C;
    *w = (int)(r % W);
    r /= W;
    *h = (int)(r % H);
    *n = (int)(r / H);
}

/* Scratch of at least `bytes`, grown on demand (old contents are not kept). */
dnas_status dnas_cuda_workspace(dnas_backend *be, size_t bytes, void **out);

/* Per-channel partial sums over pixels, deterministic (fixed partition, fixed order); shared
 * by BN and conv's bias gradient. See cuda_bn.cu. */
dnas_status dnas_cuda_chan_sum(dnas_backend *be, float *out, int acc, const float *x, size_t M,
                               int C);

/* ---- vtable entries ---- */
dnas_status dnas_cuda_conv2d_fwd(dnas_backend *be, const dnas_conv_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs, const float *w, const float *b);
dnas_status dnas_cuda_conv2d_bwd_data(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                                      dnas_shape xs, const float *dy, dnas_shape ys,
                                      const float *w);
dnas_status dnas_cuda_conv2d_bwd_weight(dnas_backend *be, const dnas_conv_p *p, float *dw,
                                        float *db, const float *x, dnas_shape xs, const float *dy,
                                        dnas_shape ys);
dnas_status dnas_cuda_bn_fwd_train(dnas_backend *be, const dnas_bn_p *p, float *y,
                                   float *save_mean, float *save_invstd, float *running_mean,
                                   float *running_var, const float *x, dnas_shape xs,
                                   const float *gamma, const float *beta);
dnas_status dnas_cuda_bn_fwd_eval(dnas_backend *be, const dnas_bn_p *p, float *y, const float *x,
                                  dnas_shape xs, const float *running_mean,
                                  const float *running_var, const float *gamma,
                                  const float *beta);
dnas_status dnas_cuda_bn_bwd(dnas_backend *be, float *dx, int acc, float *dgamma, float *dbeta,
                             const float *dy, float dy_scale, const float *relu_y,
                             const float *x, dnas_shape xs, const float *save_mean,
                             const float *save_invstd, const float *gamma);
dnas_status dnas_cuda_relu_fwd(dnas_backend *be, float *y, const float *x, size_t n);
dnas_status dnas_cuda_relu_bwd(dnas_backend *be, float *dx, int acc, const float *dy,
                               const float *y, size_t n);
dnas_status dnas_cuda_avgpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                  const float *x, dnas_shape xs);
dnas_status dnas_cuda_avgpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                  dnas_shape xs, const float *dy, dnas_shape ys);
dnas_status dnas_cuda_maxpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                  const float *x, dnas_shape xs);
dnas_status dnas_cuda_maxpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                  dnas_shape xs, const float *x, const float *dy, dnas_shape ys);
dnas_status dnas_cuda_wsum_fwd(dnas_backend *be, float *y, size_t n, int k,
                               const float *const *x, const float *m);
dnas_status dnas_cuda_wsum_bwd(dnas_backend *be, float *const *dx, const int *acc, float *dm,
                               size_t n, int k, const float *dy, const float *const *x,
                               const float *m);
dnas_status dnas_cuda_gap_fwd(dnas_backend *be, float *y, const float *x, dnas_shape xs);
dnas_status dnas_cuda_gap_bwd(dnas_backend *be, float *dx, int acc, dnas_shape xs,
                              const float *dy);
dnas_status dnas_cuda_linear_fwd(dnas_backend *be, float *y, const float *x, const float *w,
                                 const float *b, int n, int in, int out);
dnas_status dnas_cuda_linear_bwd(dnas_backend *be, float *dx, int acc, float *dw, float *db,
                                 const float *dy, const float *x, const float *w, int n, int in,
                                 int out);
dnas_status dnas_cuda_xent_fwd(dnas_backend *be, float *probs, float *loss, int *correct,
                               const float *logits, const int *labels, int n, int k);
dnas_status dnas_cuda_xent_bwd(dnas_backend *be, float *dlogits, const float *probs,
                               const int *labels, int n, int k, float scale);
dnas_status dnas_cuda_chancopy(dnas_backend *be, float *dst, int dst_c, int doff, int acc,
                               const float *src, int src_c, int soff, int count, size_t npix);

#endif
