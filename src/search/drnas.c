/* DrNAS (Chen et al. 2021, ALGORITHMS.md §B10): each edge's mixing weights are a sample
 *   theta ~ Dir(beta),  beta = ELU(alpha) + 1,
 * drawn afresh for every forward, with the pathwise gradient d theta / d beta. Only the NB201
 * recipe is implemented: no partial channels (k = 1) and no progressive pruning/widening (the
 * DARTS-space script's stages), which §B10 says the NB201 results did not use.
 *
 * Sampling. theta_k = x_k / sum_j x_j with x_k ~ Gamma(beta_k, 1) by Marsaglia-Tsang (a >= 1;
 * a < 1 via x = Gamma(a + 1) * U^(1/a)), in double and in log space (ln x), so rows of tiny
 * concentrations cannot underflow to 0/0. Randomness: Philox at a key from the seed and a
 * stream from (total_steps, the forward's index within the step, the row), so a resumed
 * search draws the same samples with no extra checkpoint state.
 *
 * Pathwise gradient (implicit reparameterisation, Figurnov et al. 2018). A sample is x = F^-1(u; a)
 * with F = P(a, x) the regularised lower incomplete gamma; holding u fixed,
 *   dx/da = -(dP/da)(a, x) / p(x; a),   p = x^(a-1) e^-x / Gamma(a).
 * This does not depend on how x was drawn, so it holds for the Marsaglia-Tsang sample. With
 * the series P = x^a e^-x sum_n x^n / Gamma(a+n+1), term n's a-derivative is itself times
 * (ln x - psi(a+n+1)); dividing by p (x^a e^-x/Gamma(a+1) over p is x/a):
 *   d ln x / da = -(1/a) sum_n r_n (ln x - psi(a+n+1)),   r_0 = 1, r_n = r_(n-1) x/(a+n),
 * used for x < a + 1, where the r_n fall from the start. For x >= a + 1 the series cancels
 * badly; there dx/da = (dQ/da) / p with Q = 1 - P from its continued fraction, dQ/da by a
 * central difference (h = 1e-5 (1 + a): relative error ~1e-9, far below float).
 * Then d theta_k / d beta_j = theta_k (delta_kj - theta_j) d ln x_j / d beta_j, and
 * d beta / d alpha = ELU'(alpha) = 1 (alpha > 0) or e^alpha.
 *
 * Regulariser: l2 is alpha's Adam weight decay (--arch-weight-decay, 1e-3 = reg_scale);
 * kl adds reg_scale * sum_rows KL(Dir(beta) || Dir(1)) and turns that decay off. */
#include "search.h"
#include "../core/alloc.h"
#include "../core/rng.h"
#include <float.h>
#include <math.h>
#include <string.h>

/* ---- special functions (double) ------------------------------------------------------------ */
double dnas_digamma(double x) {
    double r = 0.0;
    while (x < 6.0) r -= 1.0 / x, x += 1.0;
    double f = 1.0 / (x * x);
    return r + log(x) - 0.5 / x -
           f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

double dnas_trigamma(double x) {
    double r = 0.0;
    while (x < 6.0) r += 1.0 / (x * x), x += 1.0;
    double f = 1.0 / (x * x);
    return r + 1.0 / x + f / 2 +
           f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30))));
}

/* Q(a, x) * Gamma(a) e^x x^-a, the continued fraction of the upper incomplete gamma (modified
 * Lentz), for x >= a + 1. */
static double gamma_cf(double a, double x) {
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-16) break;
    }
    return h;
}

double dnas_gamma_dlogx(double a, double x) {
    if (x <= 0.0) return 0.0;
    double lx = log(x);
    if (x < a + 1.0) {
        double psi = dnas_digamma(a + 1.0), r = 1.0, sum = 0.0;
        for (int n = 0; n < 100000; n++) {
            double t = r * (lx - psi);
            sum += t;
            if (n > 0 && r < 1e-17 * (1.0 + fabs(sum))) break;
            psi += 1.0 / (a + n + 1.0); /* psi(a+n+2) = psi(a+n+1) + 1/(a+n+1) */
            r *= x / (a + n + 1.0);
        }
        return -sum / a;
    }
    /* R(b) = Q(b, x) / p(x; a): dx/da = dR/db at b = a. */
    double h = 1e-5 * (1.0 + a), rr[2];
    for (int i = 0; i < 2; i++) {
        double b = a + (i ? h : -h);
        rr[i] = exp((b - a + 1.0) * lx - lgamma(b) + lgamma(a)) * gamma_cf(b, x);
    }
    return (rr[1] - rr[0]) / (2.0 * h) / x;
}

/* ---- sampling ------------------------------------------------------------------------------- */
/* Uniform in (0, 1) with 53 bits from two Philox words. */
static double unif53(dnas_rng *r) {
    uint64_t hi = dnas_rng_u32(r) >> 5, lo = dnas_rng_u32(r) >> 6;
    return ((double)(hi * 67108864u + lo) + 0.5) / 9007199254740992.0;
}

static double normal53(dnas_rng *r) {
    double u = unif53(r), v = unif53(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

double dnas_gamma_sample_log(dnas_rng *r, double a) {
    double boost = 0.0;
    if (a < 1.0) { /* Gamma(a) = Gamma(a + 1) U^(1/a) */
        boost = log(unif53(r)) / a;
        a += 1.0;
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double z = normal53(r), v = 1.0 + c * z;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = unif53(r);
        if (log(u) < 0.5 * z * z + d - d * v + d * log(v)) return log(d * v) + boost;
    }
}

void dnas_dirichlet_sample(dnas_rng *r, const double *beta, int n, double *theta, double *dlogx) {
    double lx[64], mx = -INFINITY, sum = 0.0;
    for (int k = 0; k < n; k++) {
        lx[k] = dnas_gamma_sample_log(r, beta[k]);
        if (lx[k] > mx) mx = lx[k];
    }
    for (int k = 0; k < n; k++) sum += theta[k] = exp(lx[k] - mx);
    for (int k = 0; k < n; k++) {
        theta[k] /= sum;
        if (dlogx) dlogx[k] = dnas_gamma_dlogx(beta[k], exp(lx[k]));
    }
}

void dnas_dirichlet_backward(const double *theta, const double *dlogx, const double *gtheta, int n,
                             double *gbeta) {
    double dot = 0.0;
    for (int k = 0; k < n; k++) dot += gtheta[k] * theta[k];
    for (int j = 0; j < n; j++) gbeta[j] = theta[j] * (gtheta[j] - dot) * dlogx[j];
}

double dnas_dirichlet_kl_uniform(const double *beta, int n, double *grad) {
    double A = 0.0, kl = 0.0;
    for (int k = 0; k < n; k++) A += beta[k];
    double psiA = dnas_digamma(A), triA = dnas_trigamma(A);
    kl = lgamma(A) - lgamma((double)n);
    for (int k = 0; k < n; k++) kl += -lgamma(beta[k]) + (beta[k] - 1.0) * (dnas_digamma(beta[k]) - psiA);
    if (grad)
        for (int k = 0; k < n; k++)
            grad[k] = (beta[k] - 1.0) * dnas_trigamma(beta[k]) - (A - n) * triA;
    return kl;
}

/* ---- the strategy --------------------------------------------------------------------------- */
typedef struct {
    double *theta, *dlogx;   /* the last forward's sample and d ln x / d beta, per alpha entry */
    long step;               /* total_steps of the last mix, and forwards drawn in it */
    int calls;
} drnas_priv;

static int n_rows(const dnas_search *s) { return s->space->groups * s->space->rows; }
static double elu1(double a) { return a > 0 ? a + 1.0 : exp(a); }      /* ELU(a) + 1 */
static double elu1_grad(double a) { return a > 0 ? 1.0 : exp(a); }

static dnas_status drnas_init(dnas_search *s) {
    if (s->space->cols > 64) return dnas_fail(DNAS_ERR_INTERNAL, "DrNAS: more than 64 ops per edge");
    drnas_priv *p = dnas_calloc(sizeof *p, "DrNAS state");
    if (!p) return DNAS_ERR_OOM;
    s->priv = p;
    p->theta = dnas_calloc(s->n_alpha * sizeof(double), "DrNAS sample");
    p->dlogx = dnas_calloc(s->n_alpha * sizeof(double), "DrNAS sample gradient");
    if (!p->theta || !p->dlogx) return DNAS_ERR_OOM;
    p->step = -1;
    if (strcmp(s->cfg.drnas_reg, "kl") == 0) s->aopt.weight_decay = 0.0f;
    return DNAS_OK;
}

static void drnas_destroy(dnas_search *s) {
    drnas_priv *p = s->priv;
    if (!p) return;
    dnas_free(p->theta);
    dnas_free(p->dlogx);
    dnas_free(p);
    s->priv = NULL;
}

/* Gathers a row's candidate concentrations; returns their count. */
static int row_beta(const dnas_search *s, int r, double *beta, int *col) {
    int cols = s->space->cols, n = 0;
    for (int k = 0; k < cols; k++)
        if (s->cand[r * cols + k]) {
            col[n] = k;
            beta[n++] = elu1(s->alpha[r * cols + k]);
        }
    return n;
}

/* The Dirichlet mean beta / sum(beta): what is logged and derived (its argmax is alpha's). */
static void drnas_weights(const dnas_search *s, float *out) {
    int cols = s->space->cols;
    for (int r = 0; r < n_rows(s); r++) {
        double beta[64], sum = 0.0;
        int col[64], n = row_beta(s, r, beta, col);
        for (int i = 0; i < n; i++) sum += beta[i];
        memset(out + r * cols, 0, (size_t)cols * sizeof(float));
        for (int i = 0; i < n; i++) out[r * cols + col[i]] = (float)(beta[i] / sum);
    }
}

static void drnas_mix(dnas_search *s) {
    drnas_priv *p = s->priv;
    if (p->step != s->total_steps) p->step = s->total_steps, p->calls = 0;
    uint64_t call = (uint64_t)p->calls++;
    int cols = s->space->cols, rows = n_rows(s);
    float *mix = s->g->mix;
    for (int r = 0; r < rows; r++) {
        double beta[64], theta[64], dl[64];
        int col[64], n = row_beta(s, r, beta, col);
        memset(mix + r * cols, 0, (size_t)cols * sizeof(float));
        if (!n) continue;
        uint64_t stream = ((uint64_t)s->total_steps * 64u + call) * (uint64_t)rows + (uint64_t)r;
        dnas_rng rng = dnas_rng_make(s->cfg.seed ^ 0xD121C4E7ull, stream);
        dnas_dirichlet_sample(&rng, beta, n, theta, dl);
        for (int i = 0; i < n; i++) {
            int k = r * cols + col[i];
            mix[k] = (float)theta[i];
            p->theta[k] = theta[i];
            p->dlogx[k] = dl[i];
        }
    }
}

static void drnas_mix_backward(dnas_search *s) {
    drnas_priv *p = s->priv;
    int cols = s->space->cols, kl = strcmp(s->cfg.drnas_reg, "kl") == 0;
    for (int r = 0; r < n_rows(s); r++) {
        double beta[64], theta[64], dl[64], gt[64], gb[64], gkl[64];
        int col[64], n = row_beta(s, r, beta, col);
        memset(s->galpha + r * cols, 0, (size_t)cols * sizeof(float));
        for (int i = 0; i < n; i++) {
            int k = r * cols + col[i];
            theta[i] = p->theta[k];
            dl[i] = p->dlogx[k];
            gt[i] = s->g->gmix[k];
        }
        dnas_dirichlet_backward(theta, dl, gt, n, gb);
        if (kl) dnas_dirichlet_kl_uniform(beta, n, gkl);
        for (int i = 0; i < n; i++) {
            int k = r * cols + col[i];
            double g = gb[i] + (kl ? s->cfg.reg_scale * gkl[i] : 0.0);
            s->galpha[k] = (float)(g * elu1_grad(s->alpha[k]));
        }
    }
}

/* First order; the arch step precedes the weight step, as in quark0's train loop that DrNAS's
 * train_search.py keeps. */
const dnas_strategy dnas_strategy_drnas = {
    "drnas", 1, drnas_init, drnas_destroy, drnas_mix, drnas_mix_backward, drnas_weights,
    dnas_search_weight_step_sgd, dnas_arch_step_first_order, dnas_strategy_no_epoch_end};
