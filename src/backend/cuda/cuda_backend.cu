/* The CUDA backend object: device check, stream + cuDNN + cuBLAS handles, scratch, vtable. */
#include <stdlib.h>
#include <string.h>
#include "cuda_internal.cuh"

extern "C" {
#include "../../core/alloc.h"
}

/* Keep only the file's base name: the message is for users, the path is noise. */
static const char *base(const char *f) {
    const char *s = strrchr(f, '/');
    return s ? s + 1 : f;
}

dnas_status dnas_cuda_fail_rt(cudaError_t e, const char *call, const char *file, int line) {
    /* Clear the sticky "last error" so that one failure is not reported twice. */
    (void)cudaGetLastError();
    return dnas_fail(DNAS_ERR_INTERNAL, "cuda: %s failed: %s (%s) at %s:%d", call,
                     cudaGetErrorString(e), cudaGetErrorName(e), base(file), line);
}
dnas_status dnas_cuda_fail_dnn(cudnnStatus_t e, const char *call, const char *file, int line) {
    return dnas_fail(e == CUDNN_STATUS_NOT_SUPPORTED ? DNAS_ERR_UNSUPPORTED : DNAS_ERR_INTERNAL,
                     "cuda: %s failed: %s at %s:%d", call, cudnnGetErrorString(e), base(file),
                     line);
}
dnas_status dnas_cuda_fail_blas(cublasStatus_t e, const char *call, const char *file, int line) {
    return dnas_fail(DNAS_ERR_INTERNAL, "cuda: %s failed: %s (%s) at %s:%d", call,
                     cublasGetStatusString(e), cublasGetStatusName(e), base(file), line);
}

dnas_status dnas_cuda_workspace(dnas_backend *be, size_t bytes, void **out) {
    dnas_cuda_impl *im = cu_impl(be);
    *out = NULL;
    if (bytes > im->ws_bytes) {
        /* Grow in 1 MiB steps so a sequence of slightly larger requests does not reallocate
         * each time. cudaFree synchronises, so no kernel still reads the old block. */
        size_t want = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
        if (im->ws) CU_TRY(cudaFree(im->ws));
        im->ws = NULL;
        im->ws_bytes = 0;
        cudaError_t e = cudaMalloc(&im->ws, want);
        if (e != cudaSuccess) {
            im->ws = NULL;
            (void)cudaGetLastError();
            return dnas_fail(DNAS_ERR_OOM, "cuda: cudaMalloc of a %zu-byte workspace failed: %s",
                             want, cudaGetErrorString(e));
        }
        im->ws_bytes = want;
    }
    *out = im->ws;
    return DNAS_OK;
}

extern "C" void *dnas_cuda_stream(dnas_backend *be) {
    return be && be->impl ? (void *)cu_impl(be)->stream : NULL;
}

extern "C" dnas_status dnas_cuda_sync(dnas_backend *be, const char *who) {
    cudaError_t e = cudaStreamSynchronize(cu_impl(be)->stream);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return dnas_fail(DNAS_ERR_INTERNAL, "cuda: %s: cudaStreamSynchronize failed: %s (%s)",
                         who ? who : "sync", cudaGetErrorString(e), cudaGetErrorName(e));
    }
    return DNAS_OK;
}

/* Every family is implemented; `supports` still checks the range so that a newer kernel kind
 * added to the enum is refused here until this backend implements it. */
static int cuda_supports(const dnas_backend *be, dnas_kernel_kind k) {
    (void)be;
    return (int)k >= 0 && (int)k <= (int)DNAS_K_CHANCOPY;
}

static void cuda_destroy(dnas_backend *be) {
    if (!be) return;
    dnas_cuda_impl *im = cu_impl(be);
    if (im) {
        /* Errors here cannot be reported (destroy returns void); free what we can. */
        if (im->stream) (void)cudaStreamSynchronize(im->stream);
        if (im->ws) (void)cudaFree(im->ws);
        if (im->labels) (void)cudaFree(im->labels);
        if (im->rowloss) (void)cudaFree(im->rowloss);
        if (im->rowhit) (void)cudaFree(im->rowhit);
        if (im->blas) (void)cublasDestroy(im->blas);
        if (im->dnn) (void)cudnnDestroy(im->dnn);
        if (im->stream) (void)cudaStreamDestroy(im->stream);
        (void)cudaGetLastError();
        dnas_free(im);
    }
    dnas_free(be);
}

static dnas_status cuda_init(dnas_cuda_impl *im, int device) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "0 devices";
        (void)cudaGetLastError();
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "cuda: no CUDA device (cudaGetDeviceCount: %s)",
                         why);
    }
    if (device < 0 || device >= count)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "cuda: device %d does not exist (%d device%s)",
                         device, count, count == 1 ? "" : "s");
    im->device = device;
    CU_TRY(cudaSetDevice(device));
    CU_TRY(cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking));
    DNN_TRY(cudnnCreate(&im->dnn));
    DNN_TRY(cudnnSetStream(im->dnn, im->stream));
    BLAS_TRY(cublasCreate(&im->blas));
    BLAS_TRY(cublasSetStream(im->blas, im->stream));
    const char *tf = getenv("DNAS_CUDA_TF32");
    im->tf32 = tf && tf[0] == '1';
    BLAS_TRY(cublasSetMathMode(im->blas, im->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                  : CUBLAS_DEFAULT_MATH));
    return DNAS_OK;
}

extern "C" dnas_status dnas_backend_cuda_create(int device, dnas_backend **out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_backend_cuda_create: out is NULL");
    *out = NULL;
    dnas_backend *be = (dnas_backend *)dnas_calloc(sizeof *be, "cuda backend");
    if (!be) return DNAS_ERR_OOM;
    dnas_cuda_impl *im = (dnas_cuda_impl *)dnas_calloc(sizeof *im, "cuda backend state");
    if (!im) {
        dnas_free(be);
        return DNAS_ERR_OOM;
    }
    be->name = "cuda";
    be->impl = im;
    be->supports = cuda_supports;
    be->destroy = cuda_destroy;
    dnas_status st = cuda_init(im, device);
    if (st != DNAS_OK) {
        cuda_destroy(be);
        return st;
    }
    be->conv2d_fwd = dnas_cuda_conv2d_fwd;
    be->conv2d_bwd_data = dnas_cuda_conv2d_bwd_data;
    be->conv2d_bwd_weight = dnas_cuda_conv2d_bwd_weight;
    be->bn_fwd_train = dnas_cuda_bn_fwd_train;
    be->bn_fwd_eval = dnas_cuda_bn_fwd_eval;
    be->bn_bwd = dnas_cuda_bn_bwd;
    be->relu_fwd = dnas_cuda_relu_fwd;
    be->relu_bwd = dnas_cuda_relu_bwd;
    be->avgpool_fwd = dnas_cuda_avgpool_fwd;
    be->avgpool_bwd = dnas_cuda_avgpool_bwd;
    be->maxpool_fwd = dnas_cuda_maxpool_fwd;
    be->maxpool_bwd = dnas_cuda_maxpool_bwd;
    be->wsum_fwd = dnas_cuda_wsum_fwd;
    be->wsum_bwd = dnas_cuda_wsum_bwd;
    be->gap_fwd = dnas_cuda_gap_fwd;
    be->gap_bwd = dnas_cuda_gap_bwd;
    be->linear_fwd = dnas_cuda_linear_fwd;
    be->linear_bwd = dnas_cuda_linear_bwd;
    be->xent_fwd = dnas_cuda_xent_fwd;
    be->xent_bwd = dnas_cuda_xent_bwd;
    be->chancopy = dnas_cuda_chancopy;
    *out = be;
    return DNAS_OK;
}
