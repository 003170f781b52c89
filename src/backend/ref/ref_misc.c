/* Reference element-wise, reduction and head kernels in double: relu, weighted sum, global
 * average pool, linear, softmax cross-entropy and channel-block copy. */
#include <math.h>
#include "ref.h"

void dnas_ref_relu_fwd(double *y, const double *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0 ? x[i] : 0.0;
}

/* Mask from the output: y > 0 exactly where x > 0, and the kink x == 0 gets gradient 0
 * (PyTorch's threshold_backward). */
void dnas_ref_relu_bwd(double *dx, int acc, const double *dy, const double *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const double v = y[i] > 0.0 ? dy[i] : 0.0;
        dx[i] = acc ? dx[i] + v : v;
    }
}

void dnas_ref_wsum_fwd(double *y, size_t n, int k, const double *const *x, const double *m) {
    for (size_t j = 0; j < n; j++) {
        double s = 0.0;
        for (int i = 0; i < k; i++) s += m[i] * x[i][j];
        y[j] = s;
    }
}

void dnas_ref_wsum_affine_fwd(double *y, size_t n, int C, int k, const double *const *x,
                              const double *m, const double *const *mean,
                              const double *const *a, const double *const *b) {
    for (size_t j = 0; j < n; j++) {
        const size_t c = j % (size_t)C;
        double s = 0.0;
        for (int i = 0; i < k; i++)
            s += mean[i] ? m[i] * ((x[i][j] - mean[i][c]) * a[i][c] + b[i][c]) : m[i] * x[i][j];
        y[j] = s;
    }
}

void dnas_ref_wsum_bwd(double *const *dx, const int *acc, double *dm, size_t n, int k,
                       const double *dy, const double *const *x, const double *m) {
    for (int i = 0; i < k; i++) {
        if (dm) {
            double s = 0.0;
            for (size_t j = 0; j < n; j++) s += dy[j] * x[i][j];
            dm[i] = s; /* written: a mixing weight has exactly one consumer */
        }
        if (dx && dx[i]) {
            for (size_t j = 0; j < n; j++) {
                const double v = m[i] * dy[j];
                dx[i][j] = acc[i] ? dx[i][j] + v : v;
            }
        }
    }
}

void dnas_ref_gap_fwd(double *y, const double *x, dnas_shape xs) {
    const size_t hw = (size_t)xs.h * (size_t)xs.w, C = (size_t)xs.c;
    for (size_t n = 0; n < (size_t)xs.n; n++)
        for (size_t c = 0; c < C; c++) {
            double s = 0.0;
            for (size_t i = 0; i < hw; i++) s += x[(n * hw + i) * C + c];
            y[n * C + c] = s / (double)hw;
        }
}

void dnas_ref_gap_bwd(double *dx, int acc, dnas_shape xs, const double *dy) {
    const size_t hw = (size_t)xs.h * (size_t)xs.w, C = (size_t)xs.c;
    for (size_t n = 0; n < (size_t)xs.n; n++)
        for (size_t i = 0; i < hw; i++)
            for (size_t c = 0; c < C; c++) {
                const double v = dy[n * C + c] / (double)hw;
                double *d = &dx[(n * hw + i) * C + c];
                *d = acc ? *d + v : v;
            }
}

/* y(n,out) = x(n,in) w(out,in)^T + b(out) */
void dnas_ref_linear_fwd(double *y, const double *x, const double *w, const double *b, int n,
                         int in, int out) {
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) s += x[(size_t)r * in + i] * w[(size_t)o * in + i];
            y[(size_t)r * out + o] = s;
        }
}

void dnas_ref_linear_bwd(double *dx, int acc, double *dw, double *db, const double *dy,
                         const double *x, const double *w, int n, int in, int out) {
    for (int r = 0; r < n; r++) {
        if (dx)
            for (int i = 0; i < in; i++) {
                double s = 0.0;
                for (int o = 0; o < out; o++) s += dy[(size_t)r * out + o] * w[(size_t)o * in + i];
                double *d = &dx[(size_t)r * in + i];
                *d = acc ? *d + s : s;
            }
        for (int o = 0; o < out; o++) {
            const double g = dy[(size_t)r * out + o];
            if (db) db[o] += g;
            if (dw)
                for (int i = 0; i < in; i++) dw[(size_t)o * in + i] += g * x[(size_t)r * in + i];
        }
    }
}

/* Per row: subtract the max before exp (no overflow), loss_r = log(sum exp) - logit[label].
 * Argmax ties go to the lowest index, as torch.argmax. loss and correct may be NULL. */
void dnas_ref_xent_fwd(double *probs, double *loss, int *correct, const double *logits,
                       const int *labels, int n, int k) {
    double total = 0.0;
    int right = 0;
    for (int r = 0; r < n; r++) {
        const double *l = logits + (size_t)r * k;
        double *pr = probs + (size_t)r * k;
        int am = 0;
        for (int j = 1; j < k; j++)
            if (l[j] > l[am]) am = j;
        const double mx = l[am];
        double se = 0.0;
        for (int j = 0; j < k; j++) se += exp(l[j] - mx);
        for (int j = 0; j < k; j++) pr[j] = exp(l[j] - mx) / se;
        total += log(se) + mx - l[labels[r]];
        right += am == labels[r];
    }
    if (loss) *loss = n > 0 ? total / n : 0.0;
    if (correct) *correct = right;
}

void dnas_ref_xent_bwd(double *dlogits, const double *probs, const int *labels, int n, int k,
                       double scale) {
    for (int r = 0; r < n; r++)
        for (int j = 0; j < k; j++) {
            const size_t i = (size_t)r * k + j;
            dlogits[i] = scale * (probs[i] - (j == labels[r] ? 1.0 : 0.0)) / n;
        }
}

void dnas_ref_chancopy(double *dst, int dst_c, int doff, int acc, const double *src, int src_c,
                       int soff, int count, size_t npix) {
    for (size_t p = 0; p < npix; p++)
        for (int i = 0; i < count; i++) {
            double *d = &dst[p * (size_t)dst_c + (size_t)doff + (size_t)i];
            const double s = src[p * (size_t)src_c + (size_t)soff + (size_t)i];
            *d = acc ? *d + s : s;
        }
}

void dnas_ref_concat_relu_fwd(double *y, int k, const double *const *x, const int *c,
                              size_t npix) {
    int ct = 0;
    for (int i = 0; i < k; i++) ct += c[i];
    for (size_t p = 0; p < npix; p++)
        for (int i = 0, off = 0; i < k; off += c[i], i++)
            for (int j = 0; j < c[i]; j++) {
                const double v = x[i][p * (size_t)c[i] + (size_t)j];
                y[p * (size_t)ct + (size_t)(off + j)] = v > 0.0 ? v : 0.0;
            }
}

void dnas_ref_concat_relu_bwd(double *const *dx, const int *acc, int k, const int *c,
                              const double *dy, const double *y, size_t npix) {
    int ct = 0;
    for (int i = 0; i < k; i++) ct += c[i];
    for (size_t p = 0; p < npix; p++)
        for (int i = 0, off = 0; i < k; off += c[i], i++)
            for (int j = 0; dx[i] && j < c[i]; j++) {
                const size_t o = p * (size_t)ct + (size_t)(off + j);
                double *d = &dx[i][p * (size_t)c[i] + (size_t)j];
                *d = (acc[i] ? *d : 0.0) + (y[o] > 0.0 ? dy[o] : 0.0);
            }
}
