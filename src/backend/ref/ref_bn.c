/* Reference batch norm in double, PyTorch semantics. x (N,H,W,C) NHWC, so channel c of pixel
 * p is x[p*C + c] with M = N*H*W pixels per channel. */
#include <math.h>
#include "ref.h"

void dnas_ref_bn_fwd_train(const dnas_bn_p *p, double *y, double *save_mean, double *save_invstd,
                           double *running_mean, double *running_var, const double *x,
                           dnas_shape xs, const double *gamma, const double *beta) {
    const size_t M = (size_t)xs.n * (size_t)xs.h * (size_t)xs.w, C = (size_t)xs.c;
    const double mom = (double)p->momentum;
    for (size_t c = 0; c < C; c++) {
        /* Two passes (mean, then squared deviations): exact enough to be an oracle. */
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < M; i++) mean += x[i * C + c];
        mean /= (double)M;
        for (size_t i = 0; i < M; i++) {
            const double d = x[i * C + c] - mean;
            var += d * d;
        }
        var /= (double)M; /* biased: what normalises the batch */
        const double invstd = 1.0 / sqrt(var + (double)p->eps);
        if (save_mean) save_mean[c] = mean;
        if (save_invstd) save_invstd[c] = invstd;
        /* Running variance uses the unbiased estimate, as PyTorch does. M == 1 has none
         * (PyTorch refuses it in training); keep the biased value rather than divide by 0. */
        if (running_mean) running_mean[c] = (1.0 - mom) * running_mean[c] + mom * mean;
        if (running_var) {
            const double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            running_var[c] = (1.0 - mom) * running_var[c] + mom * unbiased;
        }
        const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
        for (size_t i = 0; i < M; i++) y[i * C + c] = (x[i * C + c] - mean) * invstd * g + b;
    }
}

void dnas_ref_bn_fwd_eval(const dnas_bn_p *p, double *y, const double *x, dnas_shape xs,
                          const double *running_mean, const double *running_var,
                          const double *gamma, const double *beta) {
    const size_t M = (size_t)xs.n * (size_t)xs.h * (size_t)xs.w, C = (size_t)xs.c;
    for (size_t c = 0; c < C; c++) {
        const double invstd = 1.0 / sqrt(running_var[c] + (double)p->eps);
        const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
        for (size_t i = 0; i < M; i++)
            y[i * C + c] = (x[i * C + c] - running_mean[c]) * invstd * g + b;
    }
}

/* With xhat = (x-mean)*invstd and g = dy*gamma, the batch statistics depend on x, giving
 * dx = invstd/M * (M*g - sum(g) - xhat*sum(g*xhat)). */
void dnas_ref_bn_bwd(double *dx, int acc, double *dgamma, double *dbeta, const double *dy,
                     const double *x, dnas_shape xs, const double *save_mean,
                     const double *save_invstd, const double *gamma) {
    const size_t M = (size_t)xs.n * (size_t)xs.h * (size_t)xs.w, C = (size_t)xs.c;
    for (size_t c = 0; c < C; c++) {
        const double mean = save_mean[c], invstd = save_invstd[c];
        const double gm = gamma ? gamma[c] : 1.0;
        double sdy = 0.0, sdyx = 0.0; /* sum(dy), sum(dy*xhat) */
        for (size_t i = 0; i < M; i++) {
            const double xhat = (x[i * C + c] - mean) * invstd;
            sdy += dy[i * C + c];
            sdyx += dy[i * C + c] * xhat;
        }
        if (dgamma) dgamma[c] += sdyx;
        if (dbeta) dbeta[c] += sdy;
        if (!dx) continue;
        const double sg = gm * sdy, sgx = gm * sdyx; /* sum(g), sum(g*xhat) */
        for (size_t i = 0; i < M; i++) {
            const double xhat = (x[i * C + c] - mean) * invstd;
            const double g = dy[i * C + c] * gm;
            const double v = invstd / (double)M * ((double)M * g - sg - xhat * sgx);
            dx[i * C + c] = acc ? dx[i * C + c] + v : v;
        }
    }
}
