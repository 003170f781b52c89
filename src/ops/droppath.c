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

/* This step's factors of stream `ordinal` into s[0..N); all 1 in eval mode, at p = 0 or for
 * ordinal < 0 (an input a fused addition keeps). */
static dnas_status stream_scales(const dnas_graph *g, int ordinal, int N, float *s) {
    if (ordinal >= 0 && g->training && g->drop_prob > 0.0f)
        return dnas_droppath_scales(g->rng_key, g->rng_step, ordinal, N, g->drop_prob, s);
    for (int i = 0; i < N; i++) s[i] = 1.0f;
    return DNAS_OK;
}

/* Multiplying (rather than writing zeros) keeps the reference's NaN/inf behaviour. */
static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    int N = x->shape.n;
    float *s = n->scratch;
    DNAS_TRY(stream_scales(g, n->a.droppath.ordinal, N, s));
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

/* ---- drop path fused into a node's addition ---- */

static dnas_status add_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *a = &g->vals[n->in[0]], *b = &g->vals[n->in[1]], *y = &g->vals[n->out];
    const int N = a->shape.n;
    float *sa = n->scratch, *sb = n->scratch + N;
    DNAS_TRY(stream_scales(g, n->a.droppath.ord[0], N, sa));
    DNAS_TRY(stream_scales(g, n->a.droppath.ord[1], N, sb));
    const size_t per = dnas_shape_numel(a->shape) / (size_t)N;
    const float *xa = a->data, *xb = b->data;
    float *yd = y->data;
#pragma omp parallel for schedule(static) if ((size_t)N * per > 32768)
    for (int i = 0; i < N; i++) {
        const float fa = sa[i], fb = sb[i], *pa = xa + (size_t)i * per, *pb = xb + (size_t)i * per;
        float *py = yd + (size_t)i * per;
        for (size_t j = 0; j < per; j++) py[j] = fa * pa[j] + fb * pb[j];
    }
    return DNAS_OK;
}

static dnas_status add_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *y = &g->vals[n->out];
    const int N = y->shape.n;
    const size_t per = dnas_shape_numel(y->shape) / (size_t)N;
    for (int i = 0; i < 2; i++) {
        float *dx = dnas_in_grad(g, n, i);
        if (dx) scale_samples(dx, n->acc[i], y->grad, n->scratch + (size_t)i * N, N, per);
    }
    return DNAS_OK;
}

/* A multiply and a multiply-add per element forward; a multiply per input gradient (+1 when
 * added into). */
static double add_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    size_t e = dnas_shape_numel(g->vals[n->out].shape);
    if (!c->backward) return 3.0 * (double)e;
    double f = 0.0;
    for (int i = 0; i < 2; i++)
        if (dnas_flop_dx(n, c, i)) f += (double)e + dnas_flop_acc(n, c, i, e);
    return f;
}

static const dnas_op op_droppath_add = {"droppath_add", 0, 0, add_fwd, add_bwd, add_flops};

/* Streams drawn so far (one per droppath node, one per dropped input of a fused addition),
 * when `need` more still fit the counter's 16 ordinal bits; -1 (graph error) otherwise. */
static int next_ordinal(dnas_graph *g, const char *name, int need) {
    int o = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const dnas_node *n = &g->nodes[i];
        if (n->op == &op_droppath) o++;
        if (n->op == &op_droppath_add) o += (n->a.droppath.ord[0] >= 0) + (n->a.droppath.ord[1] >= 0);
    }
    if (o + need > (1 << 16)) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "drop path %s: more than 65536 drop-path streams",
                         name);
        return -1;
    }
    return o;
}

int dnas_op_droppath_add(dnas_graph *g, const char *name, int a, int drop_a, int b, int drop_b) {
    if (g->build_status || a < 0 || b < 0) return -1;
    if (!dnas_shape_eq(g->vals[a].shape, g->vals[b].shape)) {
        dnas_shape p = g->vals[a].shape, q = g->vals[b].shape;
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "droppath_add %s: shapes (%d,%d,%d,%d) and "
                         "(%d,%d,%d,%d) differ", name, p.n, p.c, p.h, p.w, q.n, q.c, q.h, q.w);
        return -1;
    }
    int o = next_ordinal(g, name, (drop_a != 0) + (drop_b != 0));
    if (o < 0) return -1;
    int x[2] = {a, b};
    int id = dnas_graph_node(g, &op_droppath_add, name, x, 2, g->vals[a].shape);
    if (id < 0) return -1;
    dnas_node *n = &g->nodes[id];
    n->a.droppath.ordinal = -1;
    n->a.droppath.ord[0] = drop_a ? o++ : -1;
    n->a.droppath.ord[1] = drop_b ? o : -1;
    n->scratch_n = 2 * (size_t)g->vals[a].shape.n;
    return n->out;
}

int dnas_op_droppath(dnas_graph *g, const char *name, int x) {
    if (g->build_status || x < 0) return -1;
    int ordinal = next_ordinal(g, name, 1);
    if (ordinal < 0) return -1;
    int id = dnas_graph_node(g, &op_droppath, name, &x, 1, g->vals[x].shape);
    if (id < 0) return -1;
    g->nodes[id].a.droppath.ordinal = ordinal;
    g->nodes[id].scratch_n = (size_t)g->vals[x].shape.n;
    return g->nodes[id].out;
}
