/* CUDA batch norm over (N,H,W) per channel, NHWC, PyTorch semantics exactly as backend.h
 * (biased variance normalises; running_var gets the unbiased one; M == 1 keeps the biased).
 *
 * Own kernels rather than cuDNN's: the running-statistics rule and the M == 1 case are ours
 * to state, and the sums stay deterministic. Per-channel sums run in two stages: a grid of
 * (channel tile of 32) x (P pixel slices) writes float partials, then one thread per channel
 * adds its P partials in order, in double. Variance is two-pass (mean first), like the
 * reference, so a large mean does not cancel the variance away. */
#include <math.h>
#include "cuda_internal.cuh"

#define TILE_C 32
#define ROWS 8
enum { SUM_X = 0, SUM_SQDEV = 1, SUM_BWD = 2 };

static int n_parts(size_t M) {
    size_t p = (M + 255) / 256;
    if (p < 1) p = 1;
    if (p > 256) p = 256;
    return (int)p;
}

/* part0[p*C + c] (and part1 for SUM_BWD): sum over pixel slice p of
 *   SUM_X: x;  SUM_SQDEV: (x - mean)^2;  SUM_BWD: dy and dy * (x - mean) * invstd. */
__global__ void k_chan_partial(int mode, float *part0, float *part1, const float *x,
                               const float *dy, const float *mean, const float *invstd,
                               size_t M, int C, size_t chunk) {
    __shared__ float sh0[ROWS][TILE_C], sh1[ROWS][TILE_C];
    const int c = blockIdx.x * TILE_C + threadIdx.x;
    const size_t p = blockIdx.y, start = p * chunk;
    size_t end = start + chunk;
    if (end > M) end = M;
    float a = 0.f, b = 0.f;
    if (c < C) {
        const float mu = mode != SUM_X ? mean[c] : 0.f;
        const float is = mode == SUM_BWD ? invstd[c] : 0.f;
        for (size_t i = start + threadIdx.y; i < end; i += ROWS) {
            const float v = x[i * C + c];
            if (mode == SUM_X) {
                a += v;
            } else if (mode == SUM_SQDEV) {
                const float d = v - mu;
                a += d * d;
            } else {
                const float g = dy[i * C + c];
                a += g;
                b += g * (v - mu) * is;
            }
        }
    }
    sh0[threadIdx.y][threadIdx.x] = a;
    sh1[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float s0 = 0.f, s1 = 0.f;
        for (int r = 0; r < ROWS; r++) {
            s0 += sh0[r][threadIdx.x];
            s1 += sh1[r][threadIdx.x];
        }
        part0[p * C + c] = s0;
        if (mode == SUM_BWD) part1[p * C + c] = s1;
    }
}

static dnas_status launch_partial(dnas_backend *be, int mode, float *part0, float *part1,
                                  const float *x, const float *dy, const float *mean,
                                  const float *invstd, size_t M, int C, int P) {
    const size_t chunk = (M + P - 1) / P;
    dim3 grid((unsigned)((C + TILE_C - 1) / TILE_C), (unsigned)P), block(TILE_C, ROWS);
    k_chan_partial<<<grid, block, 0, cu_impl(be)->stream>>>(mode, part0, part1, x, dy, mean,
                                                            invstd, M, C, chunk);
    CU_LAUNCHED("bn channel-sum kernel launch");
    return DNAS_OK;
}

__global__ void k_sum_parts(float *out, int acc, const float *part, int P, int C) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int p = 0; p < P; p++) s += part[(size_t)p * C + c];
        out[c] = acc ? (float)((double)out[c] + s) : (float)s;
    }
}

dnas_status dnas_cuda_chan_sum(dnas_backend *be, float *out, int acc, const float *x, size_t M,
                               int C) {
    if (C <= 0) return DNAS_OK;
    const int P = n_parts(M);
    void *ws;
    DNAS_TRY(dnas_cuda_workspace(be, (size_t)P * C * sizeof(float), &ws));
    if (M) DNAS_TRY(launch_partial(be, SUM_X, (float *)ws, NULL, x, NULL, NULL, NULL, M, C, P));
    else CU_TRY(cudaMemsetAsync(ws, 0, (size_t)P * C * sizeof(float), cu_impl(be)->stream));
    k_sum_parts<<<cu_blocks((size_t)C), CU_THREADS, 0, cu_impl(be)->stream>>>(
        out, acc, (const float *)ws, P, C);
    CU_LAUNCHED("channel-sum final kernel launch");
    return DNAS_OK;
}

__global__ void k_mean(float *mean, const float *part, int P, int C, size_t M) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int p = 0; p < P; p++) s += part[(size_t)p * C + c];
        mean[c] = (float)(s / (double)M);
    }
}
__global__ void k_var_finish(float *invstd, float *running_mean, float *running_var,
                             const float *mean, const float *part, int P, int C, size_t M,
                             float eps, float mom) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int p = 0; p < P; p++) s += part[(size_t)p * C + c];
        const double var = s / (double)M;
        invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
        if (running_mean)
            running_mean[c] = (float)((1.0 - mom) * running_mean[c] + (double)mom * mean[c]);
        if (running_var) {
            const double unb = M > 1 ? var * (double)M / (double)(M - 1) : var;
            running_var[c] = (float)((1.0 - mom) * running_var[c] + (double)mom * unb);
        }
    }
}
/* y = (x - mean) * invstd * gamma + beta, with eval's invstd computed from running_var here
 * when `var` is given (then invstd is NULL). */
__global__ void k_bn_apply(float *y, const float *x, size_t total, int C, const float *mean,
                           const float *invstd, const float *var, float eps,
                           const float *gamma, const float *beta) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        const int c = (int)(t % C);
        const float is = var ? rsqrtf(var[c] + eps) : invstd[c];
        const float g = gamma ? gamma[c] : 1.f, b = beta ? beta[c] : 0.f;
        y[t] = (x[t] - mean[c]) * is * g + b;
    }
}

dnas_status dnas_cuda_bn_fwd_train(dnas_backend *be, const dnas_bn_p *p, float *y,
                                   float *save_mean, float *save_invstd, float *running_mean,
                                   float *running_var, const float *x, dnas_shape xs,
                                   const float *gamma, const float *beta) {
    const size_t M = (size_t)xs.n * xs.h * xs.w;
    const int C = xs.c;
    if (p->relu) /* DNAS_K_BN_RELU is not among cuda_supports' kinds: graphs never ask */
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "cuda bn_fwd_train: fused ReLU not implemented");
    if (C <= 0 || M == 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "cuda bn_fwd_train: empty input %dx%dx%dx%d",
                         xs.n, xs.h, xs.w, xs.c);
    const int P = n_parts(M);
    void *ws;
    DNAS_TRY(dnas_cuda_workspace(be, ((size_t)P + 2) * C * sizeof(float), &ws));
    float *part = (float *)ws;
    float *mean = save_mean ? save_mean : part + (size_t)P * C;
    float *invstd = save_invstd ? save_invstd : part + (size_t)(P + 1) * C;
    cudaStream_t s = cu_impl(be)->stream;
    const unsigned cb = cu_blocks((size_t)C);
    DNAS_TRY(launch_partial(be, SUM_X, part, NULL, x, NULL, NULL, NULL, M, C, P));
    k_mean<<<cb, CU_THREADS, 0, s>>>(mean, part, P, C, M);
    CU_LAUNCHED("bn_fwd_train mean kernel launch");
    DNAS_TRY(launch_partial(be, SUM_SQDEV, part, NULL, x, NULL, mean, NULL, M, C, P));
    k_var_finish<<<cb, CU_THREADS, 0, s>>>(invstd, running_mean, running_var, mean, part, P, C,
                                           M, p->eps, p->momentum);
    CU_LAUNCHED("bn_fwd_train variance kernel launch");
    const size_t total = M * C;
    k_bn_apply<<<cu_blocks(total), CU_THREADS, 0, s>>>(y, x, total, C, mean, invstd, NULL, 0.f,
                                                       gamma, beta);
    CU_LAUNCHED("bn_fwd_train apply kernel launch");
    return DNAS_OK;
}

dnas_status dnas_cuda_bn_fwd_eval(dnas_backend *be, const dnas_bn_p *p, float *y, const float *x,
                                  dnas_shape xs, const float *running_mean,
                                  const float *running_var, const float *gamma,
                                  const float *beta) {
    const size_t total = dnas_shape_numel(xs);
    if (!total) return DNAS_OK;
    k_bn_apply<<<cu_blocks(total), CU_THREADS, 0, cu_impl(be)->stream>>>(
        y, x, total, xs.c, running_mean, NULL, running_var, p->eps, gamma, beta);
    CU_LAUNCHED("bn_fwd_eval kernel launch");
    return DNAS_OK;
}

/* sdy[c] = sum dy, sdyx[c] = sum dy*xhat (dy the scaled output gradient s * dy);
 * dgamma += sdyx, dbeta += sdy. */
__global__ void k_bwd_finish(float *sdy, float *sdyx, float *dgamma, float *dbeta,
                             const float *part0, const float *part1, int P, int C, float s) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
        double a = 0.0, b = 0.0;
        for (int p = 0; p < P; p++) {
            a += part0[(size_t)p * C + c];
            b += part1[(size_t)p * C + c];
        }
        a *= s;
        b *= s;
        sdy[c] = (float)a;
        sdyx[c] = (float)b;
        if (dgamma) dgamma[c] = (float)((double)dgamma[c] + b);
        if (dbeta) dbeta[c] = (float)((double)dbeta[c] + a);
    }
}
/* dx = invstd/M * (M*g - sum(g) - xhat*sum(g*xhat)), g = dy*gamma (see ref_bn.c). */
__global__ void k_bn_dx(float *dx, int acc, const float *dy, const float *x, size_t total, int C,
                        size_t M, const float *mean, const float *invstd, const float *gamma,
                        const float *sdy, const float *sdyx, float s) {
    const float fm = (float)M;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        const int c = (int)(t % C);
        const float gm = gamma ? gamma[c] : 1.f, is = invstd[c];
        const float xhat = (x[t] - mean[c]) * is;
        const float v = is / fm * (fm * s * dy[t] * gm - gm * sdy[c] - xhat * gm * sdyx[c]);
        dx[t] = acc ? dx[t] + v : v;
    }
}

dnas_status dnas_cuda_bn_bwd(dnas_backend *be, float *dx, int acc, float *dgamma, float *dbeta,
                             const float *dy, float dy_scale, const float *relu_y,
                             const float *x, dnas_shape xs, const float *save_mean,
                             const float *save_invstd, const float *gamma) {
    const size_t M = (size_t)xs.n * xs.h * xs.w;
    const int C = xs.c;
    if (relu_y) /* DNAS_K_BN_RELU is not among cuda_supports' kinds: graphs never ask */
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "cuda bn_bwd: fused ReLU not implemented");
    if (C <= 0 || M == 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "cuda bn_bwd: empty input %dx%dx%dx%d", xs.n,
                         xs.h, xs.w, xs.c);
    if (!dx && !dgamma && !dbeta) return DNAS_OK;
    const int P = n_parts(M);
    void *ws;
    DNAS_TRY(dnas_cuda_workspace(be, ((size_t)2 * P + 2) * C * sizeof(float), &ws));
    float *part0 = (float *)ws, *part1 = part0 + (size_t)P * C;
    float *sdy = part1 + (size_t)P * C, *sdyx = sdy + C;
    cudaStream_t s = cu_impl(be)->stream;
    DNAS_TRY(launch_partial(be, SUM_BWD, part0, part1, x, dy, save_mean, save_invstd, M, C, P));
    k_bwd_finish<<<cu_blocks((size_t)C), CU_THREADS, 0, s>>>(sdy, sdyx, dgamma, dbeta, part0,
                                                              part1, P, C, dy_scale);
    CU_LAUNCHED("bn_bwd sums kernel launch");
    if (dx) {
        const size_t total = M * C;
        k_bn_dx<<<cu_blocks(total), CU_THREADS, 0, s>>>(dx, acc, dy, x, total, C, M, save_mean,
                                                        save_invstd, gamma, sdy, sdyx, dy_scale);
        CU_LAUNCHED("bn_bwd dx kernel launch");
    }
    return DNAS_OK;
}
