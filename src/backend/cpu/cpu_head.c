/* The classifier head: global average pool, linear layer, softmax cross-entropy.
 * These tensors are small (64 x C, C <= a few hundred, 10 classes), so the aim is accuracy
 * (double accumulation, fixed order) with simple loops; only GAP touches a large activation. */
#include "cpu_kernels.h"
#include <math.h>

/* One image, channel chunk [c0, c0+cw): y = mean over the hw pixels, summed in double. */
static DNAS_INLINE void gap_chunk(float *y, const float *x, size_t hw, int C, double inv,
                                  int cw) {
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t p = 0; p < hw; p++)
        for (int j = 0; j < cw; j++) a[j] += x[p * (size_t)C + j];
    for (int j = 0; j < cw; j++) y[j] = (float)(a[j] * inv);
}

dnas_status dnas_cpu_gap_fwd(dnas_backend *be, float *y, const float *x, dnas_shape xs) {
    if (xs.n < 0 || xs.c <= 0 || xs.h <= 0 || xs.w <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "gap_fwd: bad shape (%d,%d,%d,%d)", xs.n, xs.c,
                         xs.h, xs.w);
    const int C = xs.c, nt = dnas_cpu_threads(be);
    const size_t hw = (size_t)xs.h * xs.w;
    const double inv = 1.0 / (double)hw;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs))
    for (int n = 0; n < xs.n; n++) {
        const float *xi = x + (size_t)n * hw * C;
        float *yi = y + (size_t)n * C;
        int c0 = 0;
        for (; c0 + 8 <= C; c0 += 8) gap_chunk(yi + c0, xi + c0, hw, C, inv, 8);
        if (c0 < C) gap_chunk(yi + c0, xi + c0, hw, C, inv, C - c0);
    }
    return DNAS_OK;
}

dnas_status dnas_cpu_gap_bwd(dnas_backend *be, float *dx, int acc, dnas_shape xs,
                             const float *dy) {
    if (xs.n < 0 || xs.c <= 0 || xs.h <= 0 || xs.w <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "gap_bwd: bad shape (%d,%d,%d,%d)", xs.n, xs.c,
                         xs.h, xs.w);
    const int C = xs.c, nt = dnas_cpu_threads(be);
    const size_t hw = (size_t)xs.h * xs.w;
    const float inv = (float)(1.0 / (double)hw);
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs))
    for (int n = 0; n < xs.n; n++) {
        const float *g = dy + (size_t)n * C;
        float *d = dx + (size_t)n * hw * C;
        for (size_t p = 0; p < hw; p++, d += C) {
            if (acc)
                for (int c = 0; c < C; c++) d[c] += g[c] * inv;
            else
                for (int c = 0; c < C; c++) d[c] = g[c] * inv;
        }
    }
    return DNAS_OK;
}

static dnas_status linear_check(const char *who, int n, int in, int out) {
    if (n < 0 || in <= 0 || out <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: bad sizes n=%d in=%d out=%d", who, n, in,
                         out);
    return DNAS_OK;
}

dnas_status dnas_cpu_linear_fwd(dnas_backend *be, float *y, const float *x, const float *w,
                                const float *b, int n, int in, int out) {
    DNAS_TRY(linear_check("linear_fwd", n, in, out));
    const int nt = dnas_cpu_threads(be);
    DNAS_OMP_FOR(nt, (size_t)n * in * out)
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = dnas_cpu_dot_f64(x + (size_t)i * in, w + (size_t)o * in, (size_t)in);
            y[(size_t)i * out + o] = (float)(s + (b ? b[o] : 0.0));
        }
    return DNAS_OK;
}

dnas_status dnas_cpu_linear_bwd(dnas_backend *be, float *dx, int acc, float *dw, float *db,
                                const float *dy, const float *x, const float *w, int n, int in,
                                int out) {
    DNAS_TRY(linear_check("linear_bwd", n, in, out));
    const int nt = dnas_cpu_threads(be);
    const size_t IN = (size_t)in, OUT = (size_t)out;
    /* Double rows for the sums: out*in for dw, n*in for dx, indexed by the loop variable so
     * threads never share one. */
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(double) * IN * (OUT + (size_t)n), &ws));
    double *tw = ws, *tx = tw + OUT * IN;

    if (db)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += dy[(size_t)i * OUT + o];
            db[o] += (float)s;
        }
    if (dw) {
        DNAS_OMP_FOR(nt, (size_t)n * IN * OUT)
        for (int o = 0; o < out; o++) {
            double *t = tw + (size_t)o * IN;
            for (size_t j = 0; j < IN; j++) t[j] = 0;
            for (int i = 0; i < n; i++) {
                double g = dy[(size_t)i * OUT + o];
                const float *xi = x + (size_t)i * IN;
                for (size_t j = 0; j < IN; j++) t[j] += g * (double)xi[j];
            }
            float *d = dw + (size_t)o * IN;
            for (size_t j = 0; j < IN; j++) d[j] += (float)t[j];
        }
    }
    if (dx) {
        DNAS_OMP_FOR(nt, (size_t)n * IN * OUT)
        for (int i = 0; i < n; i++) {
            double *t = tx + (size_t)i * IN;
            for (size_t j = 0; j < IN; j++) t[j] = 0;
            for (int o = 0; o < out; o++) {
                double g = dy[(size_t)i * OUT + o];
                const float *wo = w + (size_t)o * IN;
                for (size_t j = 0; j < IN; j++) t[j] += g * (double)wo[j];
            }
            float *d = dx + (size_t)i * IN;
            if (acc)
                for (size_t j = 0; j < IN; j++) d[j] = (float)((double)d[j] + t[j]);
            else
                for (size_t j = 0; j < IN; j++) d[j] = (float)t[j];
        }
    }
    return DNAS_OK;
}

dnas_status dnas_cpu_xent_fwd(dnas_backend *be, float *probs, float *loss, int *correct,
                              const float *logits, const int *labels, int n, int k) {
    (void)be;
    /* Labels outside [0,k) would index out of bounds: refuse them before reading anything. */
    DNAS_TRY(dnas_labels_check("xent_fwd", labels, n, k));
    double total = 0;
    int right = 0;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * k;
        float *pr = probs + (size_t)i * k;
        /* Subtract the row max before exp so nothing overflows; the max is also the argmax
         * (first one on ties) for the accuracy count. */
        int am = 0;
        for (int j = 1; j < k; j++)
            if (l[j] > l[am]) am = j;
        double mx = l[am], s = 0;
        for (int j = 0; j < k; j++) s += exp((double)l[j] - mx);
        double inv = 1.0 / s;
        for (int j = 0; j < k; j++) pr[j] = (float)(exp((double)l[j] - mx) * inv);
        total += log(s) - ((double)l[labels[i]] - mx);
        right += am == labels[i];
    }
    if (loss) *loss = n > 0 ? (float)(total / n) : 0.0f; /* empty batch: 0, not 0/0 */
    if (correct) *correct = right;
    return DNAS_OK;
}

dnas_status dnas_cpu_xent_bwd(dnas_backend *be, float *dlogits, const float *probs,
                              const int *labels, int n, int k, float scale) {
    (void)be;
    DNAS_TRY(dnas_labels_check("xent_bwd", labels, n, k));
    if (n == 0) return DNAS_OK;
    const double f = (double)scale / n;
    for (int i = 0; i < n; i++) {
        const float *pr = probs + (size_t)i * k;
        float *d = dlogits + (size_t)i * k;
        for (int j = 0; j < k; j++) d[j] = (float)(f * ((double)pr[j] - (j == labels[i])));
    }
    return DNAS_OK;
}
