/* Alpha -> mixing-weight transforms shared by strategies, and the decided-row overrides that
 * selection (DARTS-PT) lays on top of any strategy's mix. */
#include "search.h"
#include "../space/space.h"
#include <math.h>
#include <string.h>

static int n_rows(const dnas_search *s) { return s->space->groups * s->space->rows; }

/* Softmax of one row over its candidate columns; 0 elsewhere. */
static void softmax_row(const float *a, const uint8_t *cand, int cols, float *m) {
    float mx = -INFINITY, sum = 0.0f;
    for (int k = 0; k < cols; k++)
        if (cand[k] && a[k] > mx) mx = a[k];
    for (int k = 0; k < cols; k++) sum += m[k] = cand[k] ? expf(a[k] - mx) : 0.0f;
    for (int k = 0; k < cols; k++) m[k] /= sum;
}

void dnas_weights_softmax(const dnas_search *s, float *out) {
    int cols = s->space->cols;
    for (int r = 0; r < n_rows(s); r++)
        softmax_row(s->alpha + r * cols, s->cand + r * cols, cols, out + r * cols);
}

void dnas_mix_softmax(dnas_search *s) { dnas_weights_softmax(s, s->g->mix); }

void dnas_mix_softmax_backward(dnas_search *s) {
    int cols = s->space->cols;
    for (int r = 0; r < n_rows(s); r++) {
        const float *m = s->g->mix + r * cols, *gm = s->g->gmix + r * cols;
        float *ga = s->galpha + r * cols;
        float dot = 0.0f;
        for (int k = 0; k < cols; k++) dot += m[k] * gm[k];
        for (int k = 0; k < cols; k++) ga[k] = m[k] * (gm[k] - dot);
    }
}

static void one_hot_fixed(const dnas_search *s, float *w) {
    if (!s->fixed) return;
    int cols = s->space->cols;
    for (int r = 0; r < n_rows(s); r++) {
        if (s->fixed[r] < 0) continue;
        memset(w + r * cols, 0, (size_t)cols * sizeof(float));
        w[r * cols + s->fixed[r]] = 1.0f;
    }
}

void dnas_search_mix(dnas_search *s) {
    s->strat->mix(s);
    one_hot_fixed(s, s->g->mix);
}

void dnas_search_mix_backward(dnas_search *s) {
    s->strat->mix_backward(s);
    int cols = s->space->cols;
    for (int r = 0; r < n_rows(s); r++)
        for (int k = 0; k < cols; k++)
            if (!s->cand[r * cols + k] || (s->fixed && s->fixed[r] >= 0)) s->galpha[r * cols + k] = 0.0f;
}

void dnas_search_adam_alpha(dnas_search *s) {
    if (s->cfg.fix_alpha) return;
    dnas_adam_step(&s->aopt, s->alpha, s->galpha);
}

void dnas_search_weights(const dnas_search *s, float *out) {
    s->strat->weights(s, out);
    one_hot_fixed(s, out);
}

dnas_status dnas_search_genotype(const dnas_search *s, char *out, size_t cap) {
    float w[DNAS_MAX_ARCH];
    if (s->n_alpha > DNAS_MAX_ARCH)
        return dnas_fail(DNAS_ERR_INTERNAL, "architecture of %zu weights exceeds %d", s->n_alpha,
                         DNAS_MAX_ARCH);
    dnas_search_weights(s, w);
    if (strcmp(s->cfg.derive, "edge_all") == 0) /* SNAS: every edge, 'none' included */
        return dnas_space_derive_edge_all(s->space, w, s->cand, out, cap);
    if (s->cfg.derive_threshold > 0) /* FairDARTS: weights are independent sigmoids */
        return dnas_space_derive_threshold(s->space, w, s->cand, (float)s->cfg.derive_threshold,
                                           out, cap);
    return s->space->derive(w, s->cand, out, cap);
}
