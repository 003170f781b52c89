/* Finite-difference Hessian-vector products (see hvp.h). */
#include "hvp.h"
#include <math.h>
#include <string.h>

static dnas_status grad_at(dnas_graph *g, unsigned wants) {
    DNAS_TRY(dnas_graph_forward(g));
    if (!isfinite(g->loss_value))
        return dnas_fail(DNAS_ERR_INTERNAL, "loss became %g inside a Hessian-vector product",
                         (double)g->loss_value);
    dnas_graph_zero_grads(g, wants);
    return dnas_graph_backward(g, wants);
}

dnas_status dnas_graph_fd_hvp(dnas_graph *g, const float *v, double eps, float *out_w,
                              float *out_mix, float *scratch) {
    size_t nw = g->n_weights, nm = (size_t)g->n_mix;
    unsigned wants = (out_w ? DNAS_WANT_WEIGHTS : 0u) | (out_mix ? DNAS_WANT_ARCH : 0u);
    double vv = 0.0;
    for (size_t i = 0; i < nw; i++) vv += (double)v[i] * v[i];
    if (!wants) return DNAS_OK;
    if (vv == 0.0) { /* H 0 = 0 */
        if (out_w) memset(out_w, 0, nw * sizeof(float));
        if (out_mix) memset(out_mix, 0, nm * sizeof(float));
        return DNAS_OK;
    }
    if (!isfinite(vv)) return dnas_fail(DNAS_ERR_INTERNAL, "Hessian-vector product of a non-finite vector");
    float *w0 = scratch, *b0 = scratch + nw;
    float r = (float)(eps / sqrt(vv));
    memcpy(w0, g->w, nw * sizeof(float));
    memcpy(b0, g->bufs, g->n_bufs * sizeof(float));

    dnas_status st;
    for (size_t i = 0; i < nw; i++) g->w[i] = w0[i] + r * v[i];
    if ((st = grad_at(g, wants)) != DNAS_OK) goto restore;
    if (out_w) memcpy(out_w, g->gw, nw * sizeof(float));
    if (out_mix) memcpy(out_mix, g->gmix, nm * sizeof(float));
    for (size_t i = 0; i < nw; i++) g->w[i] = w0[i] - r * v[i];
    if ((st = grad_at(g, wants)) != DNAS_OK) goto restore;
    const float inv = 1.0f / (2.0f * r);
    if (out_w)
        for (size_t i = 0; i < nw; i++) out_w[i] = (out_w[i] - g->gw[i]) * inv;
    if (out_mix)
        for (size_t i = 0; i < nm; i++) out_mix[i] = (out_mix[i] - g->gmix[i]) * inv;
restore:
    memcpy(g->w, w0, nw * sizeof(float));
    memcpy(g->bufs, b0, g->n_bufs * sizeof(float));
    return st;
}
