/* Private to the CPU backend: whether this build carries the AVX-512 convolution kernels, and
 * the attribute that compiles one function for AVX-512 inside the -march=x86-64-v3 build.
 *
 * The kernels exist only beside the AVX2 ones (cpu_simd.h's AVX2 branch) on x86-64 with GCC or
 * Clang: they are picked at run time (dnas_cpu_isa_used), so one portable binary uses 512-bit
 * FMAs where the CPU has them, and ARCH=x86-64, DNAS_SIMD_PORTABLE and other targets build
 * without them. */
#ifndef DNAS_BACKEND_CPU_SIMD512_H
#define DNAS_BACKEND_CPU_SIMD512_H
#include "cpu_simd.h"

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__) && defined(__FMA__) && \
    !defined(DNAS_SIMD_PORTABLE) && !defined(DNAS_NO_AVX512)
#define DNAS_HAVE_AVX512 1
#include <immintrin.h>
/* Everything the kernels use is AVX-512F (zmm, k-mask loads and stores); cpu_conv.c checks
 * exactly these features before calling them. */
#define DNAS_T512 __attribute__((target("avx512f,avx2,fma")))
#else
#define DNAS_HAVE_AVX512 0
#endif

#endif
