/* Peak single-precision multiply-add throughput of this machine (`dnas bench peak`), the
 * denominator of the fraction of peak `dnas bench step` prints.
 *
 * Each thread updates NACC independent 8-float registers with acc = acc * m + c. With AVX2 +
 * FMA that is one FMA per register per iteration; 12 independent chains cover the FMA latency
 * (4-5 cycles) on both FMA ports. m < 1 and c > 0 keep every value bounded and normal (no
 * denormal slow path). Without FMA (ARCH=x86-64) the same code is a multiply and an add,
 * still 2 FLOPs per lane; fewer chains there, since 32-byte vectors take two SSE registers
 * each and 16 of them would spill. */
#include "../../../include/dnas.h"
#include "../../core/clock.h"
#include "../../core/status.h"
#include "cpu_simd.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX2__) && defined(__FMA__) && !defined(DNAS_SIMD_PORTABLE)
#define NACC 12
#else
#define NACC 6
#endif
#define FLOP_PER_ITER (NACC * 8 * 2)
#define MAX_THREADS 256

/* noinline: the loop must stay a loop, not be folded into its caller's constants. */
static __attribute__((noinline)) float fma_run(long iters, float seed) {
    const float mf = 0.999999f, cf = 1e-3f;
    const f8 m = f8_bcast(&mf), c = f8_bcast(&cf);
    f8 acc[NACC];
    for (int j = 0; j < NACC; j++) {
        float v = seed + (float)j;
        acc[j] = f8_bcast(&v);
    }
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < NACC; j++) acc[j] = f8_fmadd(acc[j], m, c);
    /* every chain feeds the result, or the compiler may drop the unused ones */
    f8 all = acc[0];
    for (int j = 1; j < NACC; j++) all = f8_add(all, acc[j]);
    float out[8], s = 0.0f;
    f8_storeu(out, all);
    for (int k = 0; k < 8; k++) s += out[k];
    return s;
}

/* Wall seconds for `threads` threads to run `iters` iterations each. */
static double timed_run(int threads, long iters, volatile float *sink) {
    double t0 = dnas_now_s();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    sink[omp_get_thread_num()] = fma_run(iters, (float)omp_get_thread_num());
#else
    (void)threads;
    sink[0] = fma_run(iters, 0.0f);
#endif
    return dnas_now_s() - t0;
}

dnas_status dnas_bench_peak(int threads, double seconds, double *gflops, int *used) {
    if (threads < 1 || threads > MAX_THREADS)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "peak: %d threads (1..%d)", threads, MAX_THREADS);
    if (!(seconds > 0 && seconds <= 60))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "peak: %g seconds (more than 0, at most 60)", seconds);
#ifndef _OPENMP
    threads = 1; /* built without OpenMP: the kernels run on one thread, so does this */
#endif
    static volatile float sink[MAX_THREADS];
    /* Calibrate on one thread to ~10 ms, then size each of the 3 timed runs to seconds / 3. */
    long iters = 1 << 14;
    double dt;
    while ((dt = timed_run(1, iters, sink)) < 0.01 && iters < (1L << 40)) iters *= 2;
    long per = (long)((double)iters * (seconds / 3.0) / (dt > 0 ? dt : 1e-3));
    if (per < 1024) per = 1024;
    double best = 0.0;
    for (int r = 0; r < 3; r++) {
        double t = timed_run(threads, per, sink);
        double g = (double)threads * (double)per * FLOP_PER_ITER / (t > 0 ? t : 1e-9) / 1e9;
        if (g > best) best = g; /* the best run: others are slowed by whatever else runs */
    }
    *gflops = best;
    if (used) *used = threads;
    return DNAS_OK;
}
