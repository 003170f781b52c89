/* The dominant eigenvalue of the validation loss' Hessian w.r.t. alpha (RobustDARTS' tracking,
 * ALGORITHMS.md §B9), by power iteration on Hessian-vector products in alpha space.
 *
 * H v is a central difference of d L_val / d alpha along v (arch-only backward passes):
 *   H v ~ [g(alpha + r v) - g(alpha - r v)] / (2 r),  r = DNAS_ALPHA_HVP_EPS / |v|,
 * plus arch_weight_decay * v for alpha's coupled L2 (the reference differentiates the loss with
 * that term). alpha enters through the softmax and the edges' weighted sums, which are smooth,
 * but the next cell's ReLU-conv-BN sees the mixed sum, so the loss is only piecewise smooth in
 * alpha: a move of r flips some ReLUs and the difference would count those gradient jumps,
 * which double backprop (the reference's exact Hessian) does not. So the ReLU patterns are
 * recorded at alpha and frozen for the differences (graph.h), as iDARTS does for the weights.
 * With kinks frozen the truncation error is O(r^2) and the float rounding error O(ulp/r);
 * r = 1e-3 gives an assembled Hessian symmetric to 4e-4 relative on the tiny supernet of
 * tests/unit/test_hessian.c (no sweep of other values was recorded).
 * The reference takes the exact eigenvalues of the full Hessian (numpy eigvals) and reports the
 * largest; power iteration gives the largest in magnitude, so a negative result is followed by
 * a run shifted by it, which then converges to the largest algebraic eigenvalue. */
#include "search.h"
#include "../core/alloc.h"
#include "../core/rng.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

dnas_status dnas_power_iteration(dnas_hvp_fn hvp, void *ctx, size_t n, double shift, float *v,
                                 int max_iters, double tol, double *lambda, int *iters, float *hv) {
    *lambda = 0.0;
    *iters = 0;
    double nv = sqrt(dot(v, v, n));
    if (!(nv > 0.0)) return DNAS_OK; /* nothing to iterate on: H restricted to {0} */
    for (size_t i = 0; i < n; i++) v[i] = (float)(v[i] / nv);
    double lam = 0.0, prev = 0.0;
    int it = 0;
    while (it < max_iters) {
        DNAS_TRY(hvp(ctx, v, hv));
        it++;
        for (size_t i = 0; i < n; i++) hv[i] -= (float)(shift * v[i]);
        lam = dot(v, hv, n); /* Rayleigh quotient of the unit v */
        double nh = sqrt(dot(hv, hv, n));
        if (!isfinite(nh)) return dnas_fail(DNAS_ERR_INTERNAL, "Hessian power iteration diverged");
        if (nh == 0.0) break; /* v is in the null space: the eigenvalue is `shift` */
        for (size_t i = 0; i < n; i++) v[i] = (float)(hv[i] / nh);
        if (it > 1 && fabs(lam - prev) <= tol * fabs(lam)) break;
        prev = lam;
    }
    *lambda = lam + shift;
    *iters = it;
    return DNAS_OK;
}

/* ---- H v in alpha space ------------------------------------------------------------------ */
dnas_status dnas_alpha_hvp_begin(dnas_search *s, const dnas_data_batch *b, dnas_alpha_hvp_ctx *h) {
    memset(h, 0, sizeof *h);
    h->s = s;
    dnas_graph *g = s->g;
    size_t na = s->n_alpha;
    h->a0 = dnas_alloc(na * sizeof(float), "Hessian alpha copy");
    h->gp = dnas_alloc(na * sizeof(float), "Hessian alpha gradient");
    h->bufs0 = dnas_alloc((g->n_bufs ? g->n_bufs : 1) * sizeof(float), "Hessian BN statistics copy");
    if (!h->a0 || !h->gp || !h->bufs0) {
        dnas_alpha_hvp_end(h);
        return DNAS_ERR_OOM;
    }
    memcpy(h->a0, s->alpha, na * sizeof(float));
    memcpy(h->bufs0, g->bufs, g->n_bufs * sizeof(float));
    /* The recording forward at alpha itself; it must not move the BN running statistics. */
    dnas_status st = dnas_search_set_batch(s, b);
    if (st == DNAS_OK) {
        dnas_search_mix(s);
        st = dnas_graph_set_kinks(g, DNAS_KINKS_RECORD);
    }
    if (st == DNAS_OK) st = dnas_graph_forward(g);
    if (st == DNAS_OK) st = dnas_graph_set_kinks(g, DNAS_KINKS_FROZEN);
    memcpy(g->bufs, h->bufs0, g->n_bufs * sizeof(float));
    if (st != DNAS_OK) dnas_alpha_hvp_end(h);
    return st;
}

void dnas_alpha_hvp_end(dnas_alpha_hvp_ctx *h) {
    dnas_search *s = h->s;
    if (s) {
        dnas_graph_set_kinks(s->g, DNAS_KINKS_FREE);
        if (h->a0) memcpy(s->alpha, h->a0, s->n_alpha * sizeof(float));
        if (h->bufs0) memcpy(s->g->bufs, h->bufs0, s->g->n_bufs * sizeof(float));
    }
    dnas_free(h->a0);
    dnas_free(h->gp);
    dnas_free(h->bufs0);
    memset(h, 0, sizeof *h);
}

/* d L_val / d alpha at alpha = a0 + r v into s->galpha (the batch and the kinks are set). */
static dnas_status grad_at(dnas_alpha_hvp_ctx *h, const float *v, float r) {
    dnas_search *s = h->s;
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = h->a0[i] + r * v[i];
    dnas_search_mix(s);
    DNAS_TRY(dnas_graph_forward(s->g));
    if (!isfinite(s->g->loss_value))
        return dnas_fail(DNAS_ERR_INTERNAL, "loss became %g inside the alpha Hessian (diverged?)",
                         (double)s->g->loss_value);
    dnas_graph_zero_grads(s->g, DNAS_WANT_ARCH);
    DNAS_TRY(dnas_graph_backward(s->g, DNAS_WANT_ARCH));
    dnas_search_mix_backward(s);
    return DNAS_OK;
}

dnas_status dnas_alpha_hvp(void *ctx, const float *v, float *out) {
    dnas_alpha_hvp_ctx *h = ctx;
    dnas_search *s = h->s;
    size_t na = s->n_alpha;
    double vv = dot(v, v, na);
    if (vv == 0.0) {
        memset(out, 0, na * sizeof(float));
        return DNAS_OK;
    }
    if (!isfinite(vv)) return dnas_fail(DNAS_ERR_INTERNAL, "alpha Hessian product of a non-finite vector");
    float r = (float)(DNAS_ALPHA_HVP_EPS / sqrt(vv));
    dnas_status st = grad_at(h, v, r);
    if (st == DNAS_OK) {
        memcpy(h->gp, s->galpha, na * sizeof(float));
        st = grad_at(h, v, -r);
    }
    memcpy(s->alpha, h->a0, na * sizeof(float));
    memcpy(s->g->bufs, h->bufs0, s->g->n_bufs * sizeof(float));
    if (st != DNAS_OK) return st;
    const float inv = 1.0f / (2.0f * r), wd = (float)s->cfg.arch_weight_decay;
    for (size_t i = 0; i < na; i++) {
        /* galpha is 0 on non-candidates and decided rows; the L2 term follows that mask. */
        int live = s->cand[i] && !(s->fixed && s->fixed[i / (size_t)s->space->cols] >= 0);
        out[i] = (h->gp[i] - s->galpha[i]) * inv + (live ? wd * v[i] : 0.0f);
    }
    return DNAS_OK;
}

/* A random start on the live entries (candidates of undecided rows), from seed and epoch. */
static void start_vector(const dnas_search *s, float *v, uint64_t stream) {
    dnas_rng r = dnas_rng_make(s->cfg.seed, stream);
    int cols = s->space->cols;
    for (size_t i = 0; i < s->n_alpha; i++) {
        float x = dnas_rng_normal(&r);
        int live = s->cand[i] && !(s->fixed && s->fixed[i / (size_t)cols] >= 0);
        v[i] = live ? x : 0.0f;
    }
}

dnas_status dnas_hessian_eigen(dnas_search *s, const dnas_data_batch *valid, double *value,
                               int *iters) {
    *value = 0.0;
    *iters = 0;
    size_t na = s->n_alpha;
    float *v = dnas_alloc(2 * na * sizeof(float), "Hessian power-iteration vectors");
    if (!v) return DNAS_ERR_OOM;
    float *hv = v + na;
    dnas_alpha_hvp_ctx h;
    dnas_status st = dnas_alpha_hvp_begin(s, valid, &h);
    uint64_t stream = 0xE16E000000000000ull + (uint64_t)s->epoch;
    int it1 = 0, it2 = 0;
    double lam = 0.0;
    if (st == DNAS_OK) {
        start_vector(s, v, stream);
        st = dnas_power_iteration(dnas_alpha_hvp, &h, na, 0.0, v, s->cfg.ev_iters, s->cfg.ev_tol,
                                  &lam, &it1, hv);
        if (st == DNAS_OK && lam < 0.0) {
            /* H - lam I is positive semi-definite: its dominant eigenvalue is max(eig) - lam. */
            start_vector(s, v, stream ^ 1u);
            st = dnas_power_iteration(dnas_alpha_hvp, &h, na, lam, v, s->cfg.ev_iters,
                                      s->cfg.ev_tol, &lam, &it2, hv);
        }
        dnas_alpha_hvp_end(&h);
    }
    dnas_free(v);
    if (st != DNAS_OK) return st;
    *value = lam;
    *iters = it1 + it2;
    return DNAS_OK;
}

dnas_status dnas_hessian_epoch_end(dnas_search *s, const dnas_data_batch *valid, const char *dir,
                                   const char *log_path, int *action) {
    *action = DNAS_EV_NONE;
    const dnas_search_config *c = &s->cfg;
    /* The reference: every ev_every-th epoch counted from 0, and the last. */
    if (!c->track_ev || !(s->epoch % c->ev_every == 0 || s->epoch == c->epochs - 1)) return DNAS_OK;
    double value = 0.0;
    int iters = 0;
    DNAS_TRY(dnas_hessian_eigen(s, valid, &value, &iters));
    char line[160];
    snprintf(line, sizeof line, "{\"kind\": \"eigenvalue\", \"epoch\": %d, \"value\": %.9g, "
             "\"iterations\": %d}", s->epoch, value, iters);
    DNAS_TRY(dnas_append_line(log_path, line));
    if (s->strat == &dnas_strategy_rdarts)
        return dnas_rdarts_epoch_end(s, value, dir, log_path, action);
    return DNAS_OK;
}
