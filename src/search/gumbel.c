/* Gumbel-softmax pieces shared by SNAS (§B5) and GDAS (§B6), per alpha row over its candidate
 * columns (non-candidates get weight 0 and gradient 0):
 *   noise    G_k = -log(-log U_k), U_k uniform in (0,1) from Philox at (key, counter);
 *   soft     z = softmax((a + G) / tau)                                  (SNAS, a = logits);
 *   hard     p = softmax((log_softmax(a) + G) / tau), k = argmax p, h = onehot(k)
 *            with the straight-through gradient dL/dp = dL/dh              (GDAS);
 *   temperature schedules, and SNAS' resource penalty of the relaxed child. */
#include "search.h"
#include "../core/rng.h"
#include <math.h>

/* (step, forward within the step, row, try) -> Philox counter: 4 blocks per try (16 ops),
 * 16 tries per row, 8 forwards per step. */
uint64_t dnas_gumbel_counter(long step, int call, int rows, int row, int attempt) {
    return ((((uint64_t)step * 8u + (uint64_t)(call & 7)) * (uint64_t)rows + (uint64_t)row) * 16u +
            (uint64_t)attempt) * 4u;
}

void dnas_gumbel_noise(uint64_t key, uint64_t counter, const uint8_t *cand, int cols, float *G) {
    uint32_t u[4];
    for (int k = 0; k < cols; k++) {
        if (k % 4 == 0) dnas_philox(key, counter + (uint64_t)(k / 4), u);
        /* 24 bits, centred in their cell: U in (0,1), never 0 or 1, so G is always finite. */
        double U = ((double)(u[k % 4] >> 8) + 0.5) * (1.0 / 16777216.0);
        G[k] = cand[k] ? (float)-log(-log(U)) : 0.0f;
    }
}

/* Softmax of x over the candidates into y. */
static void softmax_c(const float *x, const uint8_t *cand, int cols, float *y) {
    float mx = -INFINITY, sum = 0.0f;
    for (int k = 0; k < cols; k++)
        if (cand[k] && x[k] > mx) mx = x[k];
    for (int k = 0; k < cols; k++) sum += y[k] = cand[k] ? expf(x[k] - mx) : 0.0f;
    for (int k = 0; k < cols; k++) y[k] /= sum;
}

/* dL/dx of y = softmax(x / tau) given dL/dy. */
static void softmax_back(const float *y, const float *dy, const uint8_t *cand, int cols,
                         float tau, float *dx) {
    float dot = 0.0f;
    for (int k = 0; k < cols; k++) dot += cand[k] ? y[k] * dy[k] : 0.0f;
    for (int k = 0; k < cols; k++) dx[k] = cand[k] ? y[k] * (dy[k] - dot) / tau : 0.0f;
}

void dnas_gumbel_soft_row(const float *a, const float *G, const uint8_t *cand, int cols,
                          float tau, float *z) {
    float x[DNAS_GUMBEL_MAX_COLS] = {0};
    for (int k = 0; k < cols; k++) x[k] = cand[k] ? (a[k] + G[k]) / tau : 0.0f;
    softmax_c(x, cand, cols, z);
}

void dnas_gumbel_soft_row_backward(const float *z, const float *dz, const uint8_t *cand,
                                   int cols, float tau, float *da) {
    softmax_back(z, dz, cand, cols, tau, da);
}

int dnas_gumbel_hard_row(const float *a, const float *G, const uint8_t *cand, int cols,
                         float tau, float *p) {
    float x[DNAS_GUMBEL_MAX_COLS] = {0}, mx = -INFINITY, sum = 0.0f;
    for (int k = 0; k < cols; k++)
        if (cand[k] && a[k] > mx) mx = a[k];
    for (int k = 0; k < cols; k++) sum += cand[k] ? expf(a[k] - mx) : 0.0f;
    float lse = mx + logf(sum); /* log_softmax(a) = a - lse */
    for (int k = 0; k < cols; k++) x[k] = cand[k] ? (a[k] - lse + G[k]) / tau : 0.0f;
    softmax_c(x, cand, cols, p);
    int best = -1;
    for (int k = 0; k < cols; k++) {
        if (!cand[k]) continue;
        if (!isfinite(p[k])) return -1;
        if (best < 0 || p[k] > p[best]) best = k;
    }
    return best;
}

void dnas_gumbel_hard_row_backward(const float *a, const float *p, const float *dh,
                                   const uint8_t *cand, int cols, float tau, float *da) {
    float sm[DNAS_GUMBEL_MAX_COLS] = {0}, dls[DNAS_GUMBEL_MAX_COLS] = {0}, sum = 0.0f;
    /* Straight through: dL/dp = dL/dh; then back through softmax(./tau) and log_softmax. */
    softmax_back(p, dh, cand, cols, tau, dls);
    softmax_c(a, cand, cols, sm);
    for (int k = 0; k < cols; k++) sum += cand[k] ? dls[k] : 0.0f;
    for (int k = 0; k < cols; k++) da[k] = cand[k] ? dls[k] - sm[k] * sum : 0.0f;
}

float dnas_snas_temperature(const dnas_search_config *c, int epoch) {
    /* SNAS utils.Temp_Scheduler: linear from tau_max at epoch 0 to tau_min at its total, then
     * held (the reference hard-codes total = 150 whatever the epochs). */
    int T = c->tau_epochs > 0 ? c->tau_epochs : c->epochs;
    double t = (1.0 - (double)epoch / T) * (c->tau_max - c->tau_min) + c->tau_min;
    return (float)(t < c->tau_min ? c->tau_min : t);
}

float dnas_gdas_temperature(const dnas_search_config *c, int epoch) {
    /* AutoDL GDAS.py: tau_max - (tau_max - tau_min) * epoch / (total - 1), set per epoch. */
    int T = c->tau_epochs > 0 ? c->tau_epochs : c->epochs;
    if (T <= 1) return (float)c->tau_max;
    double t = c->tau_max - (c->tau_max - c->tau_min) * (double)epoch / (T - 1);
    return (float)(t < c->tau_min ? c->tau_min : t);
}

double dnas_resource_penalty(const float *z, const float *cost, const uint8_t *cand, int groups,
                             int rows, int cols, double ratio, int log_scale, double lambda,
                             float *dz) {
    double P = 0.0;
    for (int g = 0; g < groups; g++) {
        double w = g ? ratio : 1.0;
        for (int i = g * rows * cols; i < (g + 1) * rows * cols; i++)
            if (cand[i]) P += w * (double)z[i] * cost[i];
    }
    if (log_scale && !(P > 0)) P = 1e-12; /* an all-free child: log stays finite */
    double scale = lambda * (log_scale ? 1.0 / P : 1.0);
    if (dz)
        for (int g = 0; g < groups; g++) {
            double w = g ? ratio : 1.0;
            for (int i = g * rows * cols; i < (g + 1) * rows * cols; i++)
                if (cand[i]) dz[i] += (float)(scale * w * cost[i]);
        }
    return lambda * (log_scale ? log(P) : P);
}
