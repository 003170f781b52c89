/* Private to the CPU backend: its state and the kernel functions that cpu_backend.c puts into
 * the dnas_backend vtable (signatures identical to the vtable entries in backend.h). */
#ifndef DNAS_BACKEND_CPU_INTERNAL_H
#define DNAS_BACKEND_CPU_INTERNAL_H
#include "../backend.h"

struct dnas_cpu_dnnl; /* cpu_conv_dnnl.c: oneDNN engine, stream and cached primitives */
typedef struct {
    int threads;      /* OpenMP threads for kernels (>= 1) */
    void *ws;         /* scratch workspace, grown on demand, reused across calls */
    size_t ws_bytes;
    struct dnas_cpu_dnnl *dnnl; /* NULL until a convolution first takes oneDNN's */
} dnas_cpu_impl;

/* Scratch memory of at least `bytes` (64-byte aligned); valid until the next call. Grows on
 * first use only, so steady-state steps do not allocate. */
dnas_status dnas_cpu_workspace(dnas_backend *be, size_t bytes, void **out);
static inline int dnas_cpu_threads(const dnas_backend *be) {
    return ((const dnas_cpu_impl *)be->impl)->threads;
}

/* cpu_conv.c */
dnas_status dnas_cpu_conv2d_fwd(dnas_backend *be, const dnas_conv_p *p, float *y, dnas_shape ys,
                                const float *x, dnas_shape xs, const float *w, const float *b);
dnas_status dnas_cpu_conv2d_bwd_data(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                                     dnas_shape xs, const float *dy, dnas_shape ys,
                                     const float *w);
dnas_status dnas_cpu_conv2d_bwd_weight(dnas_backend *be, const dnas_conv_p *p, float *dw,
                                       float *db, const float *x, dnas_shape xs, const float *dy,
                                       dnas_shape ys);
dnas_status dnas_cpu_conv2d_bwd(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                                float *dw, float *db, const float *x, dnas_shape xs,
                                const float *dy, dnas_shape ys, const float *w);

/* Convolution implementation choice (cpu_conv.c), from DNAS_CONV_IMPL (auto|ours|dnnl|blas|
 * old) on first use, or set directly by benchmarks that alternate implementations in one
 * process. AUTO: the measured per-shape choice; OURS: our kernels everywhere (no GEMM library);
 * OLD: as OURS but with the depthwise kernels as they were before the row-tiled ones. */
enum { DNAS_CONV_AUTO = 0, DNAS_CONV_OURS = 1, DNAS_CONV_DNNL = 2, DNAS_CONV_BLAS = 3,
       DNAS_CONV_OLD = 4 };
extern int dnas_cpu_conv_impl;

/* Vector width of the dense convolution kernels (cpu_conv.c), from DNAS_CPU_ISA (avx2|avx512)
 * on first use, or set directly by tests and benchmarks that compare both in one process.
 * AUTO and AVX512 take the 16-lane AVX-512 kernels when the build has them and the CPU runs
 * them, else the 8-lane ones; both give bit-identical results (same fused multiply-adds in the
 * same order per output), so checkpoints move between machines. */
enum { DNAS_ISA_AUTO = 0, DNAS_ISA_AVX2 = 1, DNAS_ISA_AVX512 = 2 };
extern int dnas_cpu_isa; /* -1: not yet read from DNAS_CPU_ISA */
/* The kernels that run now: DNAS_ISA_AVX512 or DNAS_ISA_AVX2 (the 8-lane kernels, which are
 * portable vector code on builds without AVX2). */
int dnas_cpu_isa_used(void);
/* 1 when this CPU (and OS) runs AVX-512F, whatever this build was compiled for (cpu_peak.c;
 * the peak loop measures the machine, the kernels need the build too). */
int dnas_cpu_runs_avx512(void);
/* 1 when this build has the AVX-512 kernels and this CPU (and OS) can run them. */
int dnas_cpu_has_avx512(void);

/* cpu_conv_dnnl.c: oneDNN's direct convolution for the dense 3x3 shapes where it was measured
 * faster than ours (dnas_cpu_dnnl_conv_ok: always 0 in a build without oneDNN). The backward
 * of the data writes dx (callers with acc take ours); the weights' adds into dw / db as ours
 * does. *used = 0 (and nothing done) where oneDNN has no jit kernel for the shape: the
 * caller runs ours. dnas_cpu_dnnl_free releases the backend's cache (NULL is fine). */
int dnas_cpu_dnnl_conv_ok(const dnas_conv_p *p, dnas_shape xs, dnas_shape ys);
void dnas_cpu_dnnl_free(struct dnas_cpu_dnnl *c);
dnas_status dnas_cpu_dnnl_conv_fwd(dnas_backend *be, const dnas_conv_p *p, float *y,
                                   dnas_shape ys, const float *x, dnas_shape xs, const float *w,
                                   const float *b, int *used);
dnas_status dnas_cpu_dnnl_conv_bwd_data(dnas_backend *be, const dnas_conv_p *p, float *dx,
                                        dnas_shape xs, const float *dy, dnas_shape ys,
                                        const float *w, int *used);
dnas_status dnas_cpu_dnnl_conv_bwd_weight(dnas_backend *be, const dnas_conv_p *p, float *dw,
                                          float *db, const float *x, dnas_shape xs,
                                          const float *dy, dnas_shape ys, int *used);

/* cpu_prof.c: DNAS_KPROF=1 wraps the vtable with per-kernel timers (install at create),
 * printed per family + shape on stderr by report (at destroy). */
void dnas_cpu_prof_install(dnas_backend *be);
void dnas_cpu_prof_report(void);
#endif
