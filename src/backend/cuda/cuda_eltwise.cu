/* CUDA element-wise and small kernels: relu, weighted sum, global average pool, channel copy.
 * Simple grid-stride loops; every reduction is deterministic (fixed partition and order, no
 * float atomics) so that two runs of a step give the same bits, as on the CPU. */
#include "cuda_internal.cuh"

/* ---- relu ---- */
__global__ void k_relu_fwd(float *y, const float *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = x[i] > 0.f ? x[i] : 0.f;
}
/* Mask from the output, gradient 0 at the kink (PyTorch's threshold_backward). */
__global__ void k_relu_bwd(float *dx, int acc, const float *dy, const float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float v = y[i] > 0.f ? dy[i] : 0.f;
        dx[i] = acc ? dx[i] + v : v;
    }
}

dnas_status dnas_cuda_relu_fwd(dnas_backend *be, float *y, const float *x, size_t n) {
    if (!n) return DNAS_OK;
    k_relu_fwd<<<cu_blocks(n), CU_THREADS, 0, cu_impl(be)->stream>>>(y, x, n);
    CU_LAUNCHED("relu_fwd kernel launch");
    return DNAS_OK;
}
dnas_status dnas_cuda_relu_bwd(dnas_backend *be, float *dx, int acc, const float *dy,
                               const float *y, size_t n) {
    if (!n || !dx) return DNAS_OK;
    k_relu_bwd<<<cu_blocks(n), CU_THREADS, 0, cu_impl(be)->stream>>>(dx, acc, dy, y, n);
    CU_LAUNCHED("relu_bwd kernel launch");
    return DNAS_OK;
}

/* ---- weighted sum ----
 * The k input pointers travel by value in a fixed-size struct (kernel parameters), WSUM_CHUNK
 * at a time; k beyond that is done in chunks that add into y. */
#define WSUM_CHUNK 16
struct wsum_ptrs {
    const float *x[WSUM_CHUNK];
};
__global__ void k_wsum_fwd(float *y, int add, size_t n, int k, wsum_ptrs xs, const float *m) {
    float mm[WSUM_CHUNK];
    for (int i = 0; i < k; i++) mm[i] = m[i];
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < n;
         j += (size_t)gridDim.x * blockDim.x) {
        float s = add ? y[j] : 0.f;
        for (int i = 0; i < k; i++) s += mm[i] * xs.x[i][j];
        y[j] = s;
    }
}

dnas_status dnas_cuda_wsum_fwd(dnas_backend *be, float *y, size_t n, int k,
                               const float *const *x, const float *m) {
    if (k <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "cuda wsum_fwd: k must be > 0 (got %d)", k);
    if (!n) return DNAS_OK;
    for (int c0 = 0; c0 < k; c0 += WSUM_CHUNK) {
        const int kc = k - c0 < WSUM_CHUNK ? k - c0 : WSUM_CHUNK;
        wsum_ptrs p;
        for (int i = 0; i < WSUM_CHUNK; i++) p.x[i] = i < kc ? x[c0 + i] : NULL;
        k_wsum_fwd<<<cu_blocks(n), CU_THREADS, 0, cu_impl(be)->stream>>>(y, c0 > 0, n, kc, p,
                                                                         m + c0);
        CU_LAUNCHED("wsum_fwd kernel launch");
    }
    return DNAS_OK;
}

/* dm[i] = <dy, x[i]>: each of WSUM_BLOCKS blocks sums a fixed slice into part[i][block], then
 * one block per i adds the partials in order, in double. */
#define WSUM_BLOCKS 256
__device__ inline float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
__device__ inline double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
/* Sum of v over the block (blockDim.x a multiple of 32, <= 1024); valid in thread 0. */
__device__ inline float block_sum(float v) {
    __shared__ float sh[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* sh may still be read by a previous call */
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    v = threadIdx.x < (blockDim.x >> 5) ? sh[lane] : 0.f;
    if (wid == 0) v = warp_sum(v);
    return v;
}

__global__ void k_dot_partial(float *part, size_t n, const float *dy, const float *x) {
    float s = 0.f;
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < n;
         j += (size_t)gridDim.x * blockDim.x)
        s += dy[j] * x[j];
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}
__global__ void k_dot_final(float *dm, const float *part, int nparts) {
    double s = 0.0;
    for (int b = threadIdx.x; b < nparts; b += blockDim.x) s += part[b];
    s = warp_sum_d(s); /* launched with one warp */
    if (threadIdx.x == 0) *dm = (float)s;
}
__global__ void k_axpy_set(float *dx, int acc, const float *m, size_t n, const float *dy) {
    const float a = *m;
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < n;
         j += (size_t)gridDim.x * blockDim.x) {
        const float v = a * dy[j];
        dx[j] = acc ? dx[j] + v : v;
    }
}

dnas_status dnas_cuda_wsum_bwd(dnas_backend *be, float *const *dx, const int *acc, float *dm,
                               size_t n, int k, const float *dy, const float *const *x,
                               const float *m) {
    if (k <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "cuda wsum_bwd: k must be > 0 (got %d)", k);
    cudaStream_t s = cu_impl(be)->stream;
    if (dm) {
        if (!n) {
            CU_TRY(cudaMemsetAsync(dm, 0, (size_t)k * sizeof(float), s));
        } else {
            unsigned nb = cu_blocks(n);
            if (nb > WSUM_BLOCKS) nb = WSUM_BLOCKS;
            void *ws;
            DNAS_TRY(dnas_cuda_workspace(be, (size_t)k * WSUM_BLOCKS * sizeof(float), &ws));
            float *part = (float *)ws;
            for (int i = 0; i < k; i++) {
                k_dot_partial<<<nb, CU_THREADS, 0, s>>>(part + (size_t)i * WSUM_BLOCKS, n, dy,
                                                        x[i]);
                CU_LAUNCHED("wsum_bwd dot kernel launch");
                k_dot_final<<<1, 32, 0, s>>>(dm + i, part + (size_t)i * WSUM_BLOCKS, (int)nb);
                CU_LAUNCHED("wsum_bwd dot-final kernel launch");
            }
        }
    }
    if (dx && n)
        for (int i = 0; i < k; i++) {
            if (!dx[i]) continue;
            k_axpy_set<<<cu_blocks(n), CU_THREADS, 0, s>>>(dx[i], acc ? acc[i] : 0, m + i, n,
                                                            dy);
            CU_LAUNCHED("wsum_bwd dx kernel launch");
        }
    return DNAS_OK;
}

/* ---- global average pool: one thread per (n, c), coalesced across c ---- */
__global__ void k_gap_fwd(float *y, const float *x, int N, size_t hw, int C) {
    const size_t total = (size_t)N * C;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        const size_t n = t / C, c = t % C;
        float s = 0.f;
        for (size_t i = 0; i < hw; i++) s += x[(n * hw + i) * C + c];
        y[t] = s / (float)hw;
    }
}
__global__ void k_gap_bwd(float *dx, int acc, const float *dy, size_t total, size_t hw, int C) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        const size_t c = t % C, n = t / C / hw;
        const float v = dy[n * C + c] / (float)hw;
        dx[t] = acc ? dx[t] + v : v;
    }
}

dnas_status dnas_cuda_gap_fwd(dnas_backend *be, float *y, const float *x, dnas_shape xs) {
    const size_t hw = (size_t)xs.h * xs.w, nc = (size_t)xs.n * xs.c;
    if (!nc) return DNAS_OK;
    if (!hw) return dnas_fail(DNAS_ERR_INVALID_ARG, "cuda gap_fwd: empty image %dx%d", xs.h, xs.w);
    k_gap_fwd<<<cu_blocks(nc), CU_THREADS, 0, cu_impl(be)->stream>>>(y, x, xs.n, hw, xs.c);
    CU_LAUNCHED("gap_fwd kernel launch");
    return DNAS_OK;
}
dnas_status dnas_cuda_gap_bwd(dnas_backend *be, float *dx, int acc, dnas_shape xs,
                              const float *dy) {
    const size_t total = dnas_shape_numel(xs);
    if (!total || !dx) return DNAS_OK;
    k_gap_bwd<<<cu_blocks(total), CU_THREADS, 0, cu_impl(be)->stream>>>(
        dx, acc, dy, total, (size_t)xs.h * xs.w, xs.c);
    CU_LAUNCHED("gap_bwd kernel launch");
    return DNAS_OK;
}

/* ---- channel-block copy ---- */
__global__ void k_chancopy(float *dst, int dst_c, int doff, int acc, const float *src, int src_c,
                           int soff, int count, size_t total) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        const size_t p = t / count, i = t % count;
        float *d = &dst[p * dst_c + doff + i];
        const float v = src[p * src_c + soff + i];
        *d = acc ? *d + v : v;
    }
}

dnas_status dnas_cuda_chancopy(dnas_backend *be, float *dst, int dst_c, int doff, int acc,
                               const float *src, int src_c, int soff, int count, size_t npix) {
    if (count < 0 || doff < 0 || soff < 0 || doff + count > dst_c || soff + count > src_c)
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "cuda chancopy: block [%d,+%d) of %d / [%d,+%d) of %d out of range",
                         doff, count, dst_c, soff, count, src_c);
    const size_t total = npix * (size_t)count;
    if (!total) return DNAS_OK;
    k_chancopy<<<cu_blocks(total), CU_THREADS, 0, cu_impl(be)->stream>>>(
        dst, dst_c, doff, acc, src, src_c, soff, count, total);
    CU_LAUNCHED("chancopy kernel launch");
    return DNAS_OK;
}
