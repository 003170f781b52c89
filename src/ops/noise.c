/* RobustDARTS S4's 'noise' op (ALGORITHMS.md §A4): y = i.i.d. N(0,1) of x's (strided) shape,
 * independent of x's values, so no gradient reaches x. A mixed edge's d/dm of it is
 * <dy, noise>, which the weighted sum computes from its saved inputs (wsum keeps them alive
 * for backward), so this op needs to keep nothing itself.
 *
 * Reproducibility: element i of node `node` at step `rng_step` is a pure function of
 * (g->rng_key, node, rng_step, i): Philox with the key of stream `node` (dnas_rng_make) and
 * counter (rng_step << 32) + i / 4, one block giving 4 normals by Box-Muller. Distinct nodes
 * get distinct keys and distinct steps distinct counters, so no two draws share a block; a
 * resumed run that sets the same rng_step draws the same numbers, a smaller last batch draws
 * a prefix of the full batch's numbers, and the thread count changes nothing.
 *
 * The numbers are generated on the host inside forward (the backends have no random-fill
 * kernel): right for the CPU backend, whose activations are host memory; a device backend
 * needs a kernel computing the same function. */
#include "ops.h"
#include "../core/rng.h"
#include <math.h>
#include <string.h>

static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *y = &g->vals[n->out];
    size_t numel = dnas_shape_numel(y->shape);
    uint64_t key = dnas_rng_make(g->rng_key, (uint64_t)(n - g->nodes)).key;
    uint64_t base = g->rng_step << 32;
    float *out = y->data;
    long blocks = (long)((numel + 3) / 4);
#pragma omp parallel for schedule(static)
    for (long b = 0; b < blocks; b++) {
        uint32_t o[4];
        dnas_philox(key, base + (uint64_t)b, o);
        float z[4];
        for (int h = 0; h < 2; h++) {
            /* u1 in (0, 1] so log never sees 0. */
            double u1 = ((double)o[2 * h] + 1.0) * (1.0 / 4294967296.0);
            double t = 6.283185307179586 * (double)o[2 * h + 1] * (1.0 / 4294967296.0);
            double r = sqrt(-2.0 * log(u1));
            z[2 * h] = (float)(r * cos(t));
            z[2 * h + 1] = (float)(r * sin(t));
        }
        size_t i0 = (size_t)b * 4;
        for (size_t j = 0; j < 4 && i0 + j < numel; j++) out[i0 + j] = z[j];
    }
    return DNAS_OK;
}

static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    float *dx = dnas_in_grad(g, n, 0);
    /* The output does not depend on x: its contribution to dx is zero. */
    if (dx && !n->acc[0])
        memset(dx, 0, dnas_shape_numel(g->vals[n->in[0]].shape) * sizeof(float));
    return DNAS_OK;
}

/* Random numbers are not counted as FLOPs, and no gradient flows: 0 both ways. */
static double flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    (void)g, (void)n, (void)c;
    return 0.0;
}

static const dnas_op op_noise = {"noise", 0, 0, fwd, bwd, flops};

int dnas_op_noise(dnas_graph *g, const char *name, int x, int stride) {
    if (g->build_status || x < 0) return -1;
    if (stride <= 0) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "noise %s: stride %d", name, stride);
        return -1;
    }
    dnas_shape s = g->vals[x].shape;
    s.h = (s.h + stride - 1) / stride; /* as 'none' and the stride-s ops of the same edge */
    s.w = (s.w + stride - 1) / stride;
    if (dnas_shape_numel(s) / 4 >= ((size_t)1 << 32)) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "noise %s: %zu values exceed one step's "
                         "counter range (2^34)", name, dnas_shape_numel(s));
        return -1;
    }
    int id = dnas_graph_node(g, &op_noise, name, &x, 1, s);
    return id < 0 ? -1 : g->nodes[id].out;
}
