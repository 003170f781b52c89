/* Private to the CPU backend: the 8-float SIMD vocabulary of the convolution kernels.
 *
 * With AVX2 + FMA (the default -march=x86-64-v3) every name is the AVX2 intrinsic itself, so
 * the kernels compile to exactly the instructions they were written for. Without them
 * (ARCH=x86-64, other targets) the same names are portable GCC vector-extension code: same
 * results up to rounding (a*b + c is not fused), slower, but the library builds and its tests
 * (which compare against the double reference backend) run. */
#ifndef DNAS_BACKEND_CPU_SIMD_H
#define DNAS_BACKEND_CPU_SIMD_H
#include <string.h>

/* -DDNAS_SIMD_PORTABLE forces the portable form on an AVX2 machine, to test it there. */
#if defined(__AVX2__) && defined(__FMA__) && !defined(DNAS_SIMD_PORTABLE)
#include <immintrin.h>
#define DNAS_CPU_SIMD "avx2"
typedef __m256 f8;   /* 8 floats */
typedef __m256i m8;  /* 8 lane masks (all-ones = on) */
#define f8_zero _mm256_setzero_ps
#define f8_load _mm256_load_ps   /* 32-byte aligned */
#define f8_loadu _mm256_loadu_ps
#define f8_store _mm256_store_ps /* 32-byte aligned */
#define f8_storeu _mm256_storeu_ps
#define f8_bcast _mm256_broadcast_ss
#define f8_add _mm256_add_ps
#define f8_fmadd _mm256_fmadd_ps /* a*b + c */
#define f8_maskload _mm256_maskload_ps   /* off lanes read as 0 and are never touched */
#define f8_maskstore _mm256_maskstore_ps /* only on lanes are written */
#define m8_zero _mm256_setzero_si256
/* lanes < n are on */
static inline m8 m8_first(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}
/* 4 floats: channel tails of exactly 4 (36 = 4*8 + 4) without masked loads/stores, whose
 * stores are slow on AMD cores */
typedef __m128 f4;
#define f4_zero _mm_setzero_ps
#define f4_loadu _mm_loadu_ps
#define f4_storeu _mm_storeu_ps
#define f4_add _mm_add_ps
#define f4_fmadd _mm_fmadd_ps
#else
#define DNAS_CPU_SIMD "portable"
#if defined(__GNUC__) && !defined(__clang__)
/* 32-byte vectors without AVX: GCC warns that passing them changes the ABI; these helpers
 * are static and inlined, so there is no ABI to keep. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float f8 __attribute__((vector_size(32)));
typedef int m8 __attribute__((vector_size(32)));
static inline f8 f8_zero(void) { return (f8){0}; }
static inline f8 f8_loadu(const float *p) {
    f8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void f8_storeu(float *p, f8 v) { memcpy(p, &v, sizeof v); }
#define f8_load f8_loadu
#define f8_store f8_storeu
static inline f8 f8_bcast(const float *p) {
    const float a = *p;
    return (f8){a, a, a, a, a, a, a, a};
}
static inline f8 f8_add(f8 a, f8 b) { return a + b; }
static inline f8 f8_fmadd(f8 a, f8 b, f8 c) { return a * b + c; }
static inline f8 f8_maskload(const float *p, m8 m) {
    f8 v = {0};
    for (int i = 0; i < 8; i++)
        if (m[i] < 0) v[i] = p[i];
    return v;
}
static inline void f8_maskstore(float *p, m8 m, f8 v) {
    for (int i = 0; i < 8; i++)
        if (m[i] < 0) p[i] = v[i];
}
static inline m8 m8_zero(void) { return (m8){0}; }
typedef float f4 __attribute__((vector_size(16)));
static inline f4 f4_zero(void) { return (f4){0}; }
static inline f4 f4_loadu(const float *p) {
    f4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void f4_storeu(float *p, f4 v) { memcpy(p, &v, sizeof v); }
static inline f4 f4_add(f4 a, f4 b) { return a + b; }
static inline f4 f4_fmadd(f4 a, f4 b, f4 c) { return a * b + c; }
static inline m8 m8_first(int n) {
    const m8 idx = {0, 1, 2, 3, 4, 5, 6, 7};
    return idx < (m8){n, n, n, n, n, n, n, n}; /* -1 where true */
}
#endif

#endif
