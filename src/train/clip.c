#include "optim.h"
#include <math.h>

double dnas_sumsq(const float *x, size_t n) {
    /* All in double: each square is exact, and a float sum over ~1.7M weights would lose the
     * small terms next to the large ones. Four partial sums in a fixed order (they vectorise
     * without -ffast-math): the result depends only on x and n, never on threads. */
    double s[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) s[j] += (double)x[i + j] * (double)x[i + j];
    double total = (s[0] + s[2]) + (s[1] + s[3]);
    for (; i < n; i++) total += (double)x[i] * (double)x[i];
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
