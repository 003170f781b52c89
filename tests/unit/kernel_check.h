/* Helpers shared by the kernel tests that compare the CPU backend with the double reference
 * and one ISA with another (test_cpu_conv, test_conv_isa, test_bn_isa). Each test defines
 * KC_SEED before including this, so its data stay what its tolerances were measured on. */
#ifndef DNAS_TESTS_KERNEL_CHECK_H
#define DNAS_TESTS_KERNEL_CHECK_H
#include <math.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long rng_state = KC_SEED;
static float frand(void) { /* xorshift64*, uniform in [-1, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    unsigned long long r = rng_state * 2685821657736338717ull;
    return (float)((double)(r >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static float *dup(const float *a, size_t n) {
    float *d = malloc((n ? n : 1) * sizeof *d);
    if (n) memcpy(d, a, n * sizeof *d);
    return d;
}
/* max |got - ref| relative to max |ref|; NaN propagates as a failure */
static double scaled_err(const float *got, const double *ref, size_t n) {
    double md = 0.0, mr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= md)) md = d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return md / (mr + 1e-6);
}
/* index of the first float whose bits differ, or -1 */
static inline long first_diff(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a)) return (long)i;
    return -1;
}
#endif
