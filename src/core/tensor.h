/* Shapes. A tensor is logically (N,C,H,W) float32; in memory it is stored channels-last
 * (NHWC: c fastest). Why: C=16 is two AVX2 / one AVX-512 register per pixel, cuDNN's fast path
 * is NHWC, and a sequence (N, L, D) maps to (N, C=D, H=L, W=1) with features contiguous, which
 * is what attention and layer norm want. Kernels index x[((n*H + h)*W + w)*C + c]. */
#ifndef DNAS_CORE_TENSOR_H
#define DNAS_CORE_TENSOR_H
#include <stddef.h>

typedef struct {
    int n, c, h, w;
} dnas_shape;

static inline size_t dnas_shape_numel(dnas_shape s) {
    return (size_t)s.n * (size_t)s.c * (size_t)s.h * (size_t)s.w;
}
static inline int dnas_shape_eq(dnas_shape a, dnas_shape b) {
    return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w;
}
static inline dnas_shape dnas_shape4(int n, int c, int h, int w) {
    dnas_shape s = {n, c, h, w};
    return s;
}

#endif
