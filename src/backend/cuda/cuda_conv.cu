/* CUDA 2-D convolution through cuDNN's legacy API: NHWC float activations, OHWI weights (which
 * is cuDNN's NHWC filter layout, KRSC), groups (depthwise included), dilation, stride.
 *
 * Negative padding (FactorizedReduce's shifted branch: input i = o*stride + crop + k*dil)
 * cannot be expressed in cuDNN. We copy the cropped window x[:, crop:crop+He, crop:crop+We, :]
 * into packed scratch and convolve that with pad 0; bwd-data computes the packed window's
 * gradient and scatters it back (zero on the cropped rows/columns). He/We are trimmed to the
 * rows the given output shape reads, so cuDNN's own output size equals ys.
 *
 * Every call builds its descriptors and asks cuDNN's heuristics (v7) for an algorithm:
 * correct first; a plan cache keyed by shape is the obvious next step for speed. Backward
 * algorithms are chosen deterministic when cuDNN offers one. */
#include "cuda_internal.cuh"

/* Descriptors that free themselves on every return path (the *_TRY macros return early). */
struct conv_desc {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t c = nullptr;
    ~conv_desc() {
        if (x) cudnnDestroyTensorDescriptor(x);
        if (y) cudnnDestroyTensorDescriptor(y);
        if (w) cudnnDestroyFilterDescriptor(w);
        if (c) cudnnDestroyConvolutionDescriptor(c);
    }
};

struct conv_geo {
    dnas_shape xe; /* the shape cuDNN sees (cropped when pad < 0) */
    int crop;      /* rows/cols cut from the top/left, 0 when pad >= 0 */
    int pad;       /* padding cuDNN applies (>= 0) */
};

static dnas_status geometry(const char *who, const dnas_conv_p *p, dnas_shape xs, dnas_shape ys,
                            conv_geo *g) {
    if (p->groups <= 0 || p->cin % p->groups || p->cout % p->groups || xs.c != p->cin ||
        ys.c != p->cout || xs.n != ys.n || p->stride <= 0 || p->dil <= 0 || p->kh <= 0 ||
        p->kw <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "cuda %s: bad conv cin=%d cout=%d groups=%d k=%dx%d stride=%d dil=%d "
                         "for x %dx%dx%dx%d y %dx%dx%dx%d",
                         who, p->cin, p->cout, p->groups, p->kh, p->kw, p->stride, p->dil, xs.n,
                         xs.h, xs.w, xs.c, ys.n, ys.h, ys.w, ys.c);
    g->xe = xs;
    g->crop = 0;
    g->pad = p->pad;
    if (p->pad < 0) {
        const int crop = -p->pad;
        /* rows the last output reads, counted from the crop */
        const int he = (ys.h - 1) * p->stride + p->dil * (p->kh - 1) + 1;
        const int we = (ys.w - 1) * p->stride + p->dil * (p->kw - 1) + 1;
        if (crop + he > xs.h || crop + we > xs.w)
            return dnas_fail(DNAS_ERR_UNSUPPORTED,
                             "cuda %s: crop %d with output %dx%d reads past the %dx%d input "
                             "(would need bottom/right zero padding, which this backend lacks)",
                             who, crop, ys.h, ys.w, xs.h, xs.w);
        g->crop = crop;
        g->pad = 0;
        g->xe.h = he;
        g->xe.w = we;
    }
    /* cuDNN pads both sides equally: the output it computes must be the one asked for. */
    const int oh = (g->xe.h + 2 * g->pad - p->dil * (p->kh - 1) - 1) / p->stride + 1;
    const int ow = (g->xe.w + 2 * g->pad - p->dil * (p->kw - 1) - 1) / p->stride + 1;
    if (oh != ys.h || ow != ys.w)
        return dnas_fail(DNAS_ERR_UNSUPPORTED,
                         "cuda %s: output %dx%d asked but symmetric pad %d gives %dx%d "
                         "(asymmetric padding is not supported on cuda)",
                         who, ys.h, ys.w, g->pad, oh, ow);
    return DNAS_OK;
}

static dnas_status describe(dnas_cuda_impl *im, const dnas_conv_p *p, const conv_geo &g,
                            dnas_shape ys, conv_desc *d) {
    DNN_TRY(cudnnCreateTensorDescriptor(&d->x));
    DNN_TRY(cudnnCreateTensorDescriptor(&d->y));
    DNN_TRY(cudnnCreateFilterDescriptor(&d->w));
    DNN_TRY(cudnnCreateConvolutionDescriptor(&d->c));
    DNN_TRY(cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g.xe.n, g.xe.c,
                                       g.xe.h, g.xe.w));
    DNN_TRY(cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, ys.n, ys.c,
                                       ys.h, ys.w));
    DNN_TRY(cudnnSetFilter4dDescriptor(d->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, p->cout,
                                       p->cin / p->groups, p->kh, p->kw));
    DNN_TRY(cudnnSetConvolution2dDescriptor(d->c, g.pad, g.pad, p->stride, p->stride, p->dil,
                                            p->dil, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DNN_TRY(cudnnSetConvolutionGroupCount(d->c, p->groups));
    /* FMA math forbids TF32 so the parity test can hold FP32 tolerances. */
    DNN_TRY(cudnnSetConvolutionMathType(d->c, im->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    return DNAS_OK;
}

static bool math_ok(const dnas_cuda_impl *im, cudnnMathType_t m) {
    return im->tf32 || m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
}

/* The first usable entry of cuDNN's ranked list (fwd / bwd-data / bwd-filter perf records share
 * these fields): it succeeded and its math is allowed; with det (the backward passes), a
 * deterministic one when cuDNN offers any, else any. -1 when none is usable. */
template <class Perf>
static int pick_algo(const dnas_cuda_impl *im, const Perf *perf, int got, bool det) {
    for (int pass = det ? 0 : 1; pass < 2; pass++)
        for (int i = 0; i < got; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(im, perf[i].mathType) &&
                (pass || perf[i].determinism == CUDNN_DETERMINISTIC))
                return i;
    return -1;
}

/* ---- crop helpers ---- */
__global__ void k_crop_pack(float *xc, const float *x, dnas_shape xs, dnas_shape xe, int crop,
                            size_t total) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        int n, h, w, c;
        cu_nhwc_split(t, xe.h, xe.w, xe.c, &n, &h, &w, &c);
        xc[t] = x[(((size_t)n * xs.h + h + crop) * xs.w + w + crop) * xs.c + c];
    }
}
__global__ void k_crop_scatter(float *dx, int acc, const float *dxc, dnas_shape xs, dnas_shape xe,
                               int crop, size_t total) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        int n, h, w, c;
        cu_nhwc_split(t, xs.h, xs.w, xs.c, &n, &h, &w, &c);
        const int hc = h - crop, wc = w - crop;
        float v = 0.f;
        if (hc >= 0 && hc < xe.h && wc >= 0 && wc < xe.w)
            v = dxc[(((size_t)n * xe.h + hc) * xe.w + wc) * xe.c + c];
        dx[t] = acc ? dx[t] + v : v;
    }
}
__global__ void k_add_bias(float *y, const float *b, size_t total, int C) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        y[t] += b[t % C];
}

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

/* One call's scratch: the packed crop of x first (pad < 0 only; 256-aligned), then cuDNN's
 * wsz bytes at *cuws. */
static dnas_status conv_scratch(dnas_backend *be, const conv_geo &g, size_t wsz, void **ws,
                                void **cuws) {
    const size_t crop_b = g.crop ? align256(dnas_shape_numel(g.xe) * sizeof(float)) : 0;
    DNAS_TRY(dnas_cuda_workspace(be, crop_b + wsz + 256, ws));
    *cuws = (char *)*ws + crop_b;
    return DNAS_OK;
}

/* x as cuDNN reads it (fwd and bwd-filter): x itself, or with pad < 0 its cropped window
 * packed into the front of the scratch ws. */
static dnas_status cudnn_input(dnas_cuda_impl *im, const conv_geo &g, const float *x,
                               dnas_shape xs, void *ws, const char *launch_what,
                               const float **xin) {
    *xin = x;
    if (!g.crop) return DNAS_OK;
    const size_t tot = dnas_shape_numel(g.xe);
    k_crop_pack<<<cu_blocks(tot), CU_THREADS, 0, im->stream>>>((float *)ws, x, xs, g.xe, g.crop,
                                                               tot);
    CU_LAUNCHED(launch_what);
    *xin = (const float *)ws;
    return DNAS_OK;
}

dnas_status dnas_cuda_conv2d_fwd(dnas_backend *be, const dnas_conv_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs, const float *w, const float *b) {
    conv_geo g;
    DNAS_TRY(geometry("conv2d_fwd", p, xs, ys, &g));
    if (!dnas_shape_numel(ys)) return DNAS_OK;
    dnas_cuda_impl *im = cu_impl(be);
    conv_desc d;
    DNAS_TRY(describe(im, p, g, ys, &d));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    DNN_TRY(cudnnGetConvolutionForwardAlgorithm_v7(im->dnn, d.x, d.w, d.c, d.y,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf));
    const int pick = pick_algo(im, perf, got, false);
    if (pick < 0)
        return dnas_fail(DNAS_ERR_UNSUPPORTED,
                         "cuda conv2d_fwd: cuDNN offers no algorithm for k=%dx%d groups=%d "
                         "stride=%d dil=%d",
                         p->kh, p->kw, p->groups, p->stride, p->dil);
    DNN_TRY(cudnnSetConvolutionMathType(d.c, perf[pick].mathType));
    size_t wsz = 0;
    DNN_TRY(cudnnGetConvolutionForwardWorkspaceSize(im->dnn, d.x, d.w, d.c, d.y, perf[pick].algo,
                                                    &wsz));
    void *ws, *cuws;
    DNAS_TRY(conv_scratch(be, g, wsz, &ws, &cuws));
    const float *xin;
    DNAS_TRY(cudnn_input(im, g, x, xs, ws, "conv2d_fwd crop kernel launch", &xin));
    const float one = 1.f, zero = 0.f;
    DNN_TRY(cudnnConvolutionForward(im->dnn, &one, d.x, xin, d.w, w, d.c, perf[pick].algo, cuws,
                                    wsz, &zero, d.y, y));
    if (b) {
        const size_t tot = dnas_shape_numel(ys);
        k_add_bias<<<cu_blocks(tot), CU_THREADS, 0, im->stream>>>(y, b, tot, ys.c);
        CU_LAUNCHED("conv2d_fwd bias kernel launch");
    }
    return DNAS_OK;
}

dnas_status dnas_cuda_conv2d_bwd_data(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                                      dnas_shape xs, const float *dy, dnas_shape ys,
                                      const float *w) {
    conv_geo g;
    DNAS_TRY(geometry("conv2d_bwd_data", p, xs, ys, &g));
    if (!dx || !dnas_shape_numel(xs)) return DNAS_OK;
    dnas_cuda_impl *im = cu_impl(be);
    if (!dnas_shape_numel(ys)) { /* nothing flows back: dx = 0 (or unchanged) */
        if (!acc) CU_TRY(cudaMemsetAsync(dx, 0, dnas_shape_numel(xs) * sizeof(float),
                                         im->stream));
        return DNAS_OK;
    }
    conv_desc d;
    DNAS_TRY(describe(im, p, g, ys, &d));
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int got = 0;
    DNN_TRY(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        im->dnn, d.w, d.y, d.c, d.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf));
    const int pick = pick_algo(im, perf, got, true);
    if (pick < 0)
        return dnas_fail(DNAS_ERR_UNSUPPORTED,
                         "cuda conv2d_bwd_data: cuDNN offers no algorithm for k=%dx%d groups=%d",
                         p->kh, p->kw, p->groups);
    DNN_TRY(cudnnSetConvolutionMathType(d.c, perf[pick].mathType));
    size_t wsz = 0;
    DNN_TRY(cudnnGetConvolutionBackwardDataWorkspaceSize(im->dnn, d.w, d.y, d.c, d.x,
                                                         perf[pick].algo, &wsz));
    void *ws, *cuws;
    DNAS_TRY(conv_scratch(be, g, wsz, &ws, &cuws));
    const float one = 1.f, zero = 0.f;
    /* Uncropped: cuDNN adds into dx itself (beta = 1) when acc. */
    float *dst = g.crop ? (float *)ws : dx;
    const float *beta = (!g.crop && acc) ? &one : &zero;
    DNN_TRY(cudnnConvolutionBackwardData(im->dnn, &one, d.w, w, d.y, dy, d.c, perf[pick].algo,
                                         cuws, wsz, beta, d.x, dst));
    if (g.crop) {
        const size_t tot = dnas_shape_numel(xs);
        k_crop_scatter<<<cu_blocks(tot), CU_THREADS, 0, im->stream>>>(dx, acc, (float *)ws, xs,
                                                                      g.xe, g.crop, tot);
        CU_LAUNCHED("conv2d_bwd_data crop kernel launch");
    }
    return DNAS_OK;
}

dnas_status dnas_cuda_conv2d_bwd_weight(dnas_backend *be, const dnas_conv_p *p, float *dw,
                                        float *db, const float *x, dnas_shape xs, const float *dy,
                                        dnas_shape ys) {
    conv_geo g;
    DNAS_TRY(geometry("conv2d_bwd_weight", p, xs, ys, &g));
    const size_t M = (size_t)ys.n * ys.h * ys.w;
    if (!M) return DNAS_OK;
    dnas_cuda_impl *im = cu_impl(be);
    if (dw) {
        conv_desc d;
        DNAS_TRY(describe(im, p, g, ys, &d));
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        int got = 0;
        DNN_TRY(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            im->dnn, d.x, d.y, d.c, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf));
        const int pick = pick_algo(im, perf, got, true);
        if (pick < 0)
            return dnas_fail(DNAS_ERR_UNSUPPORTED,
                             "cuda conv2d_bwd_weight: cuDNN offers no algorithm for k=%dx%d "
                             "groups=%d",
                             p->kh, p->kw, p->groups);
        DNN_TRY(cudnnSetConvolutionMathType(d.c, perf[pick].mathType));
        size_t wsz = 0;
        DNN_TRY(cudnnGetConvolutionBackwardFilterWorkspaceSize(im->dnn, d.x, d.y, d.c, d.w,
                                                               perf[pick].algo, &wsz));
        void *ws, *cuws;
        DNAS_TRY(conv_scratch(be, g, wsz, &ws, &cuws));
        const float *xin;
        DNAS_TRY(cudnn_input(im, g, x, xs, ws, "conv2d_bwd_weight crop kernel launch", &xin));
        const float one = 1.f;
        /* beta = 1: the contract adds into dw */
        DNN_TRY(cudnnConvolutionBackwardFilter(im->dnn, &one, d.x, xin, d.y, dy, d.c,
                                               perf[pick].algo, cuws, wsz, &one, d.w, dw));
    }
    /* After the filter gradient: chan_sum reuses the same scratch, in stream order. */
    if (db) DNAS_TRY(dnas_cuda_chan_sum(be, db, 1, dy, M, ys.c));
    return DNAS_OK;
}
