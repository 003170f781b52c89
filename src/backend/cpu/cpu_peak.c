/* Peak single-precision multiply-add throughput of this machine (`dnas bench peak`), the
 * denominator of the fraction of peak `dnas bench step` prints.
 *
 * Each thread updates NACC independent vector registers with acc = acc * m + c. With AVX2 +
 * FMA that is one FMA per register per iteration; 12 independent chains cover the FMA latency
 * (4-5 cycles) on both FMA ports. m < 1 and c > 0 keep every value bounded and normal (no
 * denormal slow path). Without FMA (ARCH=x86-64) the same code is a multiply and an add,
 * still 2 FLOPs per lane; fewer chains there, since 32-byte vectors take two SSE registers
 * each and 16 of them would spill.
 *
 * The machine's peak is that of the widest FMA it runs, whatever this build was compiled for:
 * on a CPU with AVX-512 (detected at run time) the 512-bit loop does twice the AVX2 loop's
 * work per cycle (Zen 5 here: 267 against 134 GFLOP/s per core), so a fraction of the AVX2
 * figure would overstate how close a kernel is to what the cores can do. */
#include "../../../include/dnas.h"
#include "../../core/clock.h"
#include "../../core/status.h"
#include "cpu_internal.h"
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86_512 1
#define NACC512 12
#define FLOP_PER_ITER512 (NACC512 * 16 * 2)
/* The 512-bit loop: compiled for AVX-512 whatever -march says, run only where the CPU has it. */
static __attribute__((noinline, target("avx512f"))) float fma_run512(long iters, float seed) {
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-3f);
    __m512 acc[NACC512];
    for (int j = 0; j < NACC512; j++) acc[j] = _mm512_set1_ps(seed + (float)j);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < NACC512; j++) acc[j] = _mm512_fmadd_ps(acc[j], m, c);
    __m512 all = acc[0];
    for (int j = 1; j < NACC512; j++) all = _mm512_add_ps(all, acc[j]);
    return _mm512_reduce_add_ps(all);
}
int dnas_cpu_runs_avx512(void) {
    static int have = -1;
    if (have < 0) { /* libgcc / compiler-rt also check that the OS saves the zmm state */
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") != 0;
    }
    return have;
}
#else
#define HAVE_X86_512 0
int dnas_cpu_runs_avx512(void) { return 0; }
#endif

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

static float run_isa(int wide, long iters, float seed) {
#if HAVE_X86_512
    if (wide) return fma_run512(iters, seed);
#endif
    (void)wide;
    return fma_run(iters, seed);
}

/* Wall seconds for `threads` threads to run `iters` iterations each. */
static double timed_run(int wide, int threads, long iters, volatile float *sink) {
    double t0 = dnas_now_s();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    sink[omp_get_thread_num()] = run_isa(wide, iters, (float)omp_get_thread_num());
#else
    (void)threads;
    sink[0] = run_isa(wide, iters, 0.0f);
#endif
    return dnas_now_s() - t0;
}

const char *dnas_cpu_simd(void) { return DNAS_CPU_SIMD; }
const char *dnas_bench_peak_isa(void) { return dnas_cpu_runs_avx512() ? "avx512" : DNAS_CPU_SIMD; }

dnas_status dnas_bench_peak_for(int threads, double seconds, const char *isa,
                                    double *gflops, int *used) {
    int wide = 0;
    if (!isa || !strcmp(isa, "best")) wide = dnas_cpu_runs_avx512();
    else if (!strcmp(isa, "avx512")) {
        if (!dnas_cpu_runs_avx512())
            return dnas_fail(DNAS_ERR_UNSUPPORTED, "peak: this CPU has no AVX-512");
        wide = 1;
    } else if (strcmp(isa, DNAS_CPU_SIMD))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "peak: unknown or unavailable ISA '%s' (%s, avx512, best)",
                         isa, DNAS_CPU_SIMD);
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
    while ((dt = timed_run(wide, 1, iters, sink)) < 0.01 && iters < (1L << 40)) iters *= 2;
    long per = (long)((double)iters * (seconds / 3.0) / (dt > 0 ? dt : 1e-3));
    if (per < 1024) per = 1024;
    double best = 0.0;
    for (int r = 0; r < 3; r++) {
        double t = timed_run(wide, threads, per, sink);
#if HAVE_X86_512
        const double fpi = wide ? FLOP_PER_ITER512 : FLOP_PER_ITER;
#else
        const double fpi = FLOP_PER_ITER;
#endif
        double g = (double)threads * (double)per * fpi / (t > 0 ? t : 1e-9) / 1e9;
        if (g > best) best = g; /* the best run: others are slowed by whatever else runs */
    }
    *gflops = best;
    if (used) *used = threads;
    return DNAS_OK;
}

dnas_status dnas_bench_peak(int threads, double seconds, double *gflops, int *used) {
    return dnas_bench_peak_for(threads, seconds, NULL, gflops, used);
}
