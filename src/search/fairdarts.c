/* FairDARTS (Chu et al. 2020, ALGORITHMS.md §B8): every op's mixing weight is its own
 * sigmoid(alpha), so ops do not compete through a softmax (the paper's "exclusive
 * competition" that lets skip connections crowd out the rest). The arch objective adds the
 * zero-one loss
 *   L01 = -w01 * mean_i (sigmoid(alpha_i) - 0.5)^2      (over every candidate weight, all groups)
 * which pushes each weight towards 0 or 1, so the threshold derivation (0.85,
 * space/derive_threshold.c, chosen by --derive-threshold) has clear-cut weights to cut.
 * w01 = 10 from the first step: §B8 gives no warm-up. L01 depends on alpha only, so the
 * weight step (the reference uses the same total loss there) is plain cross-entropy. Its
 * arch step is DARTS-V1's first-order step, taken before the weight step as in quark0's train
 * loop that FairDARTS's train_search.py keeps. */
#include "search.h"
#include <math.h>

static float sigmoid(float a) { return 1.0f / (1.0f + expf(-a)); }

static void fair_weights(const dnas_search *s, float *out) {
    for (size_t i = 0; i < s->n_alpha; i++) out[i] = s->cand[i] ? sigmoid(s->alpha[i]) : 0.0f;
}

static void fair_mix(dnas_search *s) { fair_weights(s, s->g->mix); }

double dnas_zero_one_loss(const float *alpha, const uint8_t *cand, size_t n, double w01,
                          float *grad) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += cand[i] != 0;
    if (!m) return 0.0;
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!cand[i]) continue;
        double sg = 1.0 / (1.0 + exp(-(double)alpha[i])), d = sg - 0.5;
        loss += d * d;
        /* d/dalpha of -w01 (sg - 0.5)^2 / m, with dsg/dalpha = sg (1 - sg) */
        if (grad) grad[i] += (float)(-w01 * 2.0 * d * sg * (1.0 - sg) / (double)m);
    }
    return -w01 * loss / (double)m;
}

static void fair_mix_backward(dnas_search *s) {
    for (size_t i = 0; i < s->n_alpha; i++) {
        float m = sigmoid(s->alpha[i]); /* not g->mix: decided rows are one-hot there */
        s->galpha[i] = s->cand[i] ? s->g->gmix[i] * m * (1.0f - m) : 0.0f;
    }
    if (s->cfg.zero_one_weight > 0)
        dnas_zero_one_loss(s->alpha, s->cand, s->n_alpha, s->cfg.zero_one_weight, s->galpha);
}

const dnas_strategy dnas_strategy_fairdarts = {
    "fairdarts", 1, dnas_strategy_no_init, dnas_strategy_no_destroy, fair_mix, fair_mix_backward,
    fair_weights, dnas_search_weight_step_sgd, dnas_arch_step_first_order,
    dnas_strategy_no_epoch_end};
