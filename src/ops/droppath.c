/* Drop path (DARTS NetworkCIFAR, ALGORITHMS.md §A3): in training, each sample's copy of an op
 * output is kept with probability 1 - p and scaled by 1/(1 - p), else zeroed. The draws are
 * a pure function of (g->rng_key, g->rng_step, the node's drop-path ordinal), so a resumed
 * run draws the same masks and the PyTorch twin can reproduce them. The per-sample factors
 * are kept as node scratch for backward, which multiplies by the same factors. */
#include "ops.h"
#include "../core/rng.h"

dnas_status dnas_droppath_scales(uint64_t key, uint64_t step, int ordinal, int n, float p,
                                 float *scale) {
    if (!(p >= 0.0f && p < 1.0f))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "drop path probability %g outside [0, 1)", (double)p);
    if (step >> 32 || ordinal < 0 || ordinal >= (1 << 16) || n < 0 || n > (1 << 18))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "drop path: step %llu, node ordinal %d or batch %d "
                         "outside the counter layout (step < 2^32, ordinal < 2^16, batch <= 2^18)",
                         (unsigned long long)step, ordinal, n);
    const float keep = 1.0f - p, inv = 1.0f / keep;
    uint32_t w[4];
    for (int i = 0; i < n; i++) {
        if (i % 4 == 0)
            dnas_philox(key ^ DNAS_DROPPATH_DOMAIN,
                        step << 32 | (uint64_t)ordinal << 16 | (uint64_t)(i / 4), w);
        const float u = (float)(w[i % 4] >> 8) * (1.0f / 16777216.0f);
        scale[i] = u < keep ? inv : 0.0f;
    }
    return DNAS_OK;
}

/* y (=/+=) s_i x over the `per` values of each sample i. A host loop, like noise.c: the
 * backends have no per-sample scale kernel, and one weighted-sum call per sample costs an
 * OpenMP region each (measured: as long as every convolution forward together, DARTS_V2
 * batch 16 on a busy 2-core machine; this loop: about the time of a ReLU);
 * right for the CPU backend, whose activations are host memory, while a device backend needs
 * a kernel computing the same thing. Each element is written by one thread: deterministic. */
static void scale_samples(float *y, int acc, const float *x, const float *s, int N, size_t per) {
#pragma omp parallel for schedule(static) if ((size_t)N * per > 32768)
    for (int i = 0; i < N; i++) {
        const float f = s[i], *xi = x + (size_t)i * per;
        float *yi = y + (size_t)i * per;
        if (acc)
            for (size_t j = 0; j < per; j++) yi[j] += f * xi[j];
        else
            for (size_t j = 0; j < per; j++) yi[j] = f * xi[j];
    }
}

/* Multiplying (rather than writing zeros) keeps the reference's NaN/inf behaviour. */
static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    int N = x->shape.n;
    float *s = n->scratch;
    if (g->training && g->drop_prob > 0.0f)
        DNAS_TRY(dnas_droppath_scales(g->rng_key, g->rng_step, n->a.droppath.ordinal, N,
                                      g->drop_prob, s));
    else
        for (int i = 0; i < N; i++) s[i] = 1.0f;
    scale_samples(y->data, 0, x->data, s, N, dnas_shape_numel(x->shape) / (size_t)N);
    return DNAS_OK;
}

static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    int N = x->shape.n;
    scale_samples(dx, n->acc[0], y->grad, n->scratch, N, dnas_shape_numel(x->shape) / (size_t)N);
    return DNAS_OK;
}

/* One multiply per element each way (+1 when added into); the draws are not counted. */
static double flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    size_t e = dnas_shape_numel(g->vals[n->in[0]].shape);
    if (!c->backward) return (double)e;
    return dnas_flop_dx(n, c, 0) ? (double)e + dnas_flop_acc(n, c, 0, e) : 0.0;
}

static const dnas_op op_droppath = {"droppath", 0, 0, fwd, bwd, flops};

int dnas_op_droppath(dnas_graph *g, const char *name, int x) {
    if (g->build_status || x < 0) return -1;
    int ordinal = 0;
    for (int i = 0; i < g->n_nodes; i++) ordinal += g->nodes[i].op == &op_droppath;
    if (ordinal >= (1 << 16)) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "drop path %s: more than 65536 drop-path nodes", name);
        return -1;
    }
    int id = dnas_graph_node(g, &op_droppath, name, &x, 1, g->vals[x].shape);
    if (id < 0) return -1;
    g->nodes[id].a.droppath.ordinal = ordinal;
    g->nodes[id].scratch_n = (size_t)g->vals[x].shape.n;
    return g->nodes[id].out;
}
