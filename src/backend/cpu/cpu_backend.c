/* The CPU backend object: vtable, thread count and the grow-on-demand scratch workspace. */
#include "cpu_kernels.h"
#include "../../core/alloc.h"
#ifdef _OPENMP
#include <omp.h>
#endif

dnas_status dnas_cpu_workspace(dnas_backend *be, size_t bytes, void **out) {
    dnas_cpu_impl *im = be->impl;
    if (bytes > im->ws_bytes) {
        /* Round up so that a sequence of slightly growing requests does not reallocate each
         * time; the old contents need not survive (scratch is valid for one call only). */
        size_t want = (bytes + 65535) & ~(size_t)65535;
        if (want < bytes) want = bytes; /* overflow of the rounding */
        dnas_free(im->ws);
        im->ws = NULL;
        im->ws_bytes = 0;
        void *p = dnas_alloc(want, "cpu workspace");
        if (!p) {
            *out = NULL;
            return dnas_fail(DNAS_ERR_OOM,
                             "cpu backend: out of memory growing the workspace to %zu bytes",
                             want);
        }
        im->ws = p;
        im->ws_bytes = want;
    }
    *out = im->ws;
    return DNAS_OK;
}

static int cpu_supports(const dnas_backend *be, dnas_kernel_kind k) {
    (void)be;
    return (int)k >= 0 && (int)k < (int)DNAS_K_COUNT;
}

static void cpu_destroy(dnas_backend *be) {
    dnas_cpu_impl *im = be->impl;
    dnas_cpu_prof_report();
    if (im) {
        dnas_free(im->ws);
        dnas_cpu_dnnl_free(im->dnnl);
        dnas_free(im);
    }
    dnas_free(be);
}

dnas_status dnas_backend_cpu_create(int threads, dnas_backend **out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_backend_cpu_create: out is NULL");
    *out = NULL;
#ifdef _OPENMP
    if (threads <= 0) threads = omp_get_max_threads();
#else
    threads = 1; /* built without OpenMP: kernels are serial whatever was asked */
#endif
    if (threads < 1) threads = 1;

    dnas_backend *be = dnas_calloc(sizeof *be, "cpu backend");
    if (!be) return DNAS_ERR_OOM;
    dnas_cpu_impl *im = dnas_calloc(sizeof *im, "cpu backend state");
    if (!im) {
        dnas_free(be);
        return DNAS_ERR_OOM;
    }
    im->threads = threads;
    be->name = "cpu";
    be->impl = im;
    be->supports = cpu_supports;
    be->destroy = cpu_destroy;

    be->conv2d_fwd = dnas_cpu_conv2d_fwd;
    be->conv2d_bwd_data = dnas_cpu_conv2d_bwd_data;
    be->conv2d_bwd_weight = dnas_cpu_conv2d_bwd_weight;
    be->conv2d_bwd = dnas_cpu_conv2d_bwd;
    be->bn_fwd_train = dnas_cpu_bn_fwd_train;
    be->bn_fwd_eval = dnas_cpu_bn_fwd_eval;
    be->bn_bwd = dnas_cpu_bn_bwd;
    be->bn_bwd_sums = dnas_cpu_bn_bwd_sums;
    be->relu_fwd = dnas_cpu_relu_fwd;
    be->relu_bwd = dnas_cpu_relu_bwd;
    be->avgpool_fwd = dnas_cpu_avgpool_fwd;
    be->avgpool_bwd = dnas_cpu_avgpool_bwd;
    be->avgpool_bwd_mix = dnas_cpu_avgpool_bwd_mix;
    be->avgpool_bwd_mix_skip = dnas_cpu_avgpool_bwd_mix_skip;
    be->maxpool_fwd = dnas_cpu_maxpool_fwd;
    be->maxpool_bwd = dnas_cpu_maxpool_bwd;
    be->wsum_fwd = dnas_cpu_wsum_fwd;
    be->wsum_bwd = dnas_cpu_wsum_bwd;
    be->wsum_affine_fwd = dnas_cpu_wsum_affine_fwd;
    be->gap_fwd = dnas_cpu_gap_fwd;
    be->gap_bwd = dnas_cpu_gap_bwd;
    be->linear_fwd = dnas_cpu_linear_fwd;
    be->linear_bwd = dnas_cpu_linear_bwd;
    be->xent_fwd = dnas_cpu_xent_fwd;
    be->xent_bwd = dnas_cpu_xent_bwd;
    be->chancopy = dnas_cpu_chancopy;
    be->concat_relu_fwd = dnas_cpu_concat_relu_fwd;
    be->concat_relu_bwd = dnas_cpu_concat_relu_bwd;
    dnas_cpu_prof_install(be);
    *out = be;
    return DNAS_OK;
}

void dnas_backend_destroy(dnas_backend *be) {
    if (be && be->destroy) be->destroy(be);
}
