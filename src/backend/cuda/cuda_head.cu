/* CUDA classifier head: linear (cuBLAS SGEMM) and softmax cross-entropy (one warp per row).
 *
 * cuBLAS is column-major; a row-major (r, c) matrix is the column-major (c, r) matrix with
 * leading dimension c, i.e. its transpose. With that, y = x w^T (row-major) is
 * Y^T = W^T-as-stored * X^T-as-stored: gemm(T, N) below; likewise for the gradients. */
#include <math.h>
#include <stdlib.h>
#include "cuda_internal.cuh"

__global__ void k_bias_rows(float *y, const float *b, int n, int out) {
    const size_t total = (size_t)n * out;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        y[t] = b[t % out];
}
/* db[o] += sum over rows of dy[r, o]: one thread per column, rows in order (deterministic). */
__global__ void k_col_sum_add(float *db, const float *dy, int n, int out) {
    for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < out; o += gridDim.x * blockDim.x) {
        float s = 0.f;
        for (int r = 0; r < n; r++) s += dy[(size_t)r * out + o];
        db[o] += s;
    }
}

dnas_status dnas_cuda_linear_fwd(dnas_backend *be, float *y, const float *x, const float *w,
                                 const float *b, int n, int in, int out) {
    if (n < 0 || in <= 0 || out <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "cuda linear_fwd: bad sizes n=%d in=%d out=%d", n,
                         in, out);
    if (!n) return DNAS_OK;
    dnas_cuda_impl *im = cu_impl(be);
    float beta = 0.f;
    if (b) {
        /* y = b broadcast, then the GEMM adds into it (beta = 1). */
        const size_t total = (size_t)n * out;
        k_bias_rows<<<cu_blocks(total), CU_THREADS, 0, im->stream>>>(y, b, n, out);
        CU_LAUNCHED("linear_fwd bias kernel launch");
        beta = 1.f;
    }
    const float one = 1.f;
    BLAS_TRY(cublasSgemm(im->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in,
                         &beta, y, out));
    return DNAS_OK;
}

dnas_status dnas_cuda_linear_bwd(dnas_backend *be, float *dx, int acc, float *dw, float *db,
                                 const float *dy, const float *x, const float *w, int n, int in,
                                 int out) {
    if (n < 0 || in <= 0 || out <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "cuda linear_bwd: bad sizes n=%d in=%d out=%d", n,
                         in, out);
    dnas_cuda_impl *im = cu_impl(be);
    const float one = 1.f, zero = 0.f;
    if (dx && n) /* dx(n,in) = dy(n,out) w(out,in) */
        BLAS_TRY(cublasSgemm(im->blas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in, dy, out,
                             acc ? &one : &zero, dx, in));
    if (dw && n) /* dw(out,in) += dy^T x */
        BLAS_TRY(cublasSgemm(im->blas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out,
                             &one, dw, in));
    if (db && n) {
        k_col_sum_add<<<cu_blocks((size_t)out), CU_THREADS, 0, im->stream>>>(db, dy, n, out);
        CU_LAUNCHED("linear_bwd bias kernel launch");
    }
    return DNAS_OK;
}

/* ---- softmax cross-entropy: one warp per row ---- */
__global__ void k_xent_fwd(float *probs, float *rowloss, int *rowhit, const float *logits,
                           const int *labels, int n, int k) {
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= n) return; /* whole warps leave together: n is per warp */
    const float *l = logits + (size_t)row * k;
    float *pr = probs + (size_t)row * k;
    /* argmax with ties to the lowest index (torch.argmax), then the max for stability */
    float bv = -INFINITY;
    int bi = -1;
    for (int j = lane; j < k; j += 32)
        if (bi < 0 || l[j] > bv) {
            bv = l[j];
            bi = j;
        }
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_down_sync(0xffffffffu, bv, o);
        const int oi = __shfl_down_sync(0xffffffffu, bi, o);
        if (oi >= 0 && (bi < 0 || ov > bv || (ov == bv && oi < bi))) {
            bv = ov;
            bi = oi;
        }
    }
    bv = __shfl_sync(0xffffffffu, bv, 0);
    bi = __shfl_sync(0xffffffffu, bi, 0);
    float se = 0.f;
    for (int j = lane; j < k; j += 32) se += expf(l[j] - bv);
    for (int o = 16; o > 0; o >>= 1) se += __shfl_down_sync(0xffffffffu, se, o);
    se = __shfl_sync(0xffffffffu, se, 0);
    const float inv = 1.f / se;
    for (int j = lane; j < k; j += 32) pr[j] = expf(l[j] - bv) * inv;
    if (lane == 0) {
        const int lab = labels[row];
        rowloss[row] = logf(se) + bv - l[lab];
        rowhit[row] = bi == lab;
    }
}

__global__ void k_xent_bwd(float *dl, const float *probs, const int *labels, int n, int k,
                           float scale) {
    const size_t total = (size_t)n * k;
    const float f = scale / (float)n;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        const int r = (int)(t / k), j = (int)(t % k);
        dl[t] = f * (probs[t] - (j == labels[r] ? 1.f : 0.f));
    }
}

/* Checks the host labels and copies them to the backend's device buffer. */
static dnas_status upload_labels(dnas_backend *be, const char *who, const int *labels, int n,
                                 int k) {
    DNAS_TRY(dnas_labels_check(who, labels, n, k));
    dnas_cuda_impl *im = cu_impl(be);
    if (n > im->labels_cap) {
        if (im->labels) CU_TRY(cudaFree(im->labels));
        im->labels = NULL;
        im->labels_cap = 0;
        CU_TRY(cudaMalloc(&im->labels, (size_t)n * sizeof(int)));
        im->labels_cap = n;
    }
    /* Pageable host memory: the copy is staged before the call returns, so the caller may
     * reuse `labels` at once. */
    if (n) CU_TRY(cudaMemcpyAsync(im->labels, labels, (size_t)n * sizeof(int),
                                  cudaMemcpyHostToDevice, im->stream));
    return DNAS_OK;
}

dnas_status dnas_cuda_xent_fwd(dnas_backend *be, float *probs, float *loss, int *correct,
                               const float *logits, const int *labels, int n, int k) {
    DNAS_TRY(upload_labels(be, "cuda xent_fwd", labels, n, k));
    dnas_cuda_impl *im = cu_impl(be);
    if (!n) {
        if (loss) *loss = 0.f;
        if (correct) *correct = 0;
        return DNAS_OK;
    }
    if (n > im->rows_cap) {
        if (im->rowloss) CU_TRY(cudaFree(im->rowloss));
        if (im->rowhit) CU_TRY(cudaFree(im->rowhit));
        im->rowloss = NULL;
        im->rowhit = NULL;
        im->rows_cap = 0;
        CU_TRY(cudaMalloc(&im->rowloss, (size_t)n * sizeof(float)));
        CU_TRY(cudaMalloc(&im->rowhit, (size_t)n * sizeof(int)));
        im->rows_cap = n;
    }
    const int warps = 4; /* rows per block */
    k_xent_fwd<<<(n + warps - 1) / warps, 32 * warps, 0, im->stream>>>(
        probs, im->rowloss, im->rowhit, logits, im->labels, n, k);
    CU_LAUNCHED("xent_fwd kernel launch");
    if (!loss && !correct) return DNAS_OK;
    /* The mean is taken on the host in double, rows in order: deterministic and exact enough;
     * n is a batch (hundreds of rows), so the copy is small. */
    float *hl = (float *)malloc((size_t)n * sizeof(float));
    int *hh = (int *)malloc((size_t)n * sizeof(int));
    if (!hl || !hh) {
        free(hl);
        free(hh);
        return dnas_fail(DNAS_ERR_OOM, "cuda xent_fwd: out of host memory for %d rows", n);
    }
    dnas_status st = DNAS_OK;
    cudaError_t e = cudaMemcpyAsync(hl, im->rowloss, (size_t)n * sizeof(float),
                                    cudaMemcpyDeviceToHost, im->stream);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(hh, im->rowhit, (size_t)n * sizeof(int), cudaMemcpyDeviceToHost,
                            im->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(im->stream);
    if (e != cudaSuccess) {
        st = dnas_cuda_fail_rt(e, "xent_fwd: cudaMemcpyAsync/cudaStreamSynchronize of the loss",
                               __FILE__, __LINE__);
    } else {
        double tot = 0.0;
        int hits = 0;
        for (int r = 0; r < n; r++) {
            tot += hl[r];
            hits += hh[r];
        }
        if (loss) *loss = (float)(tot / n);
        if (correct) *correct = hits;
    }
    free(hl);
    free(hh);
    return st;
}

dnas_status dnas_cuda_xent_bwd(dnas_backend *be, float *dlogits, const float *probs,
                               const int *labels, int n, int k, float scale) {
    DNAS_TRY(upload_labels(be, "cuda xent_bwd", labels, n, k));
    const size_t total = (size_t)n * k;
    if (!total) return DNAS_OK;
    dnas_cuda_impl *im = cu_impl(be);
    k_xent_bwd<<<cu_blocks(total), CU_THREADS, 0, im->stream>>>(dlogits, probs, im->labels, n, k,
                                                                scale);
    CU_LAUNCHED("xent_bwd kernel launch");
    return DNAS_OK;
}
