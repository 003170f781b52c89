#include "optim.h"
#include <math.h>

double dnas_sumsq(const float *x, size_t n) {
    /* Fixed 4096-element blocks summed in a fixed order: deterministic for any thread count. */
    double total = 0.0;
    for (size_t b = 0; b < n; b += 4096) {
        size_t e = b + 4096 < n ? b + 4096 : n;
        float s = 0.0f;
        for (size_t i = b; i < e; i++) s += x[i] * x[i];
        total += s;
    }
    return total;
}

double dnas_clip_grad_norm(float *g, size_t n, double max_norm) {
    double norm = sqrt(dnas_sumsq(g, n));
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        for (size_t i = 0; i < n; i++) g[i] *= c;
    }
    return norm;
}
