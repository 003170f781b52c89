#include "ops.h"
#include <math.h>
#include <stdio.h>

/* Batch statistics whenever training, or whenever no running statistics are kept
 * (AutoDL's BN=0 setting: batch statistics in evaluation too). */
static int uses_batch_stats(const dnas_graph *g, const dnas_node *n) {
    return g->training || !n->a.bn.track;
}

/* The fused ReLU is not a kinked op: second-order products by finite differences need the
 * separate ReLU node (the graphs that use them never build the fused one). */
static dnas_status kinks_ok(const dnas_graph *g, const dnas_node *n) {
    if (n->a.bn.p.relu && g->kinks != DNAS_KINKS_FREE)
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "BN+ReLU %s: kink recording/freezing needs a "
                         "separate ReLU node", n->name);
    return DNAS_OK;
}

/* Lazy output (graph.h dnas_value.lazy): scratch holds save_mean, save_invstd, then the map
 * the weighted sum applies, y = (x - mean) * a + b per channel. Training: the batch
 * statistics only; evaluation: the running ones. */
static dnas_status fwd_lazy(dnas_graph *g, dnas_node *n, const float *gamma, const float *beta,
                            float *rm, float *rv) {
    dnas_value *x = &g->vals[n->in[0]];
    int c = x->shape.c;
    float *sm = n->scratch, *si = sm + c, *lm = si + c, *la = lm + c, *lb = la + c;
    int batch = uses_batch_stats(g, n);
    if (batch)
        DNAS_TRY(g->be->bn_fwd_train(g->be, &n->a.bn.p, NULL, sm, si, g->training ? rm : NULL,
                                     g->training ? rv : NULL, x->data, x->shape, gamma, beta));
    for (int k = 0; k < c; k++) {
        double gk = gamma ? gamma[k] : 1.0;
        lm[k] = batch ? sm[k] : rm[k];
        la[k] = (float)(batch ? gk * si[k] : gk / sqrt((double)rv[k] + n->a.bn.p.eps));
        lb[k] = beta ? beta[k] : 0.0f;
    }
    return DNAS_OK;
}

static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    DNAS_TRY(kinks_ok(g, n));
    int c = x->shape.c;
    const float *gamma = dnas_param_data(g, n->par[0]), *beta = dnas_param_data(g, n->par[1]);
    float *rm = dnas_buffer_data(g, n->buf[0]), *rv = dnas_buffer_data(g, n->buf[1]);
    if (y->lazy) return fwd_lazy(g, n, gamma, beta, rm, rv);
    if (uses_batch_stats(g, n))
        return g->be->bn_fwd_train(g->be, &n->a.bn.p, y->data, n->scratch, n->scratch + c,
                                   g->training ? rm : NULL, g->training ? rv : NULL, x->data,
                                   x->shape, gamma, beta);
    return g->be->bn_fwd_eval(g->be, &n->a.bn.p, y->data, x->data, x->shape, rm, rv, gamma, beta);
}

/* A backward that wants the mixing weight of the lazy output v: BN's sums give it. */
static int lazy_dot_wanted(const dnas_graph *g, int v, unsigned wants) {
    const dnas_value *y = &g->vals[v];
    return y->lazy && (wants & DNAS_WANT_ARCH) && y->grad_mix >= 0;
}
static double lazy_dot(const dnas_node *n, int c, const double *sums);

static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    if (!uses_batch_stats(g, n))
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "BN %s: backward in eval mode with running "
                         "statistics is not supported", n->name);
    DNAS_TRY(kinks_ok(g, n));
    int c = x->shape.c;
    int w = (wants & DNAS_WANT_WEIGHTS) != 0;
    float *dx = dnas_in_grad(g, n, 0), *dg = w ? dnas_param_grad(g, n->par[0]) : NULL;
    float *db = w ? dnas_param_grad(g, n->par[1]) : NULL, ds = dnas_grad_scale(g, n->out);
    const float *gamma = dnas_param_data(g, n->par[0]);
    if (!lazy_dot_wanted(g, n->out, wants))
        return g->be->bn_bwd(g->be, dx, n->acc[0], dg, db, y->grad, ds,
                             n->a.bn.p.relu ? y->data : NULL, x->data, x->shape, n->scratch,
                             n->scratch + c, gamma);
    /* The mixing-weight gradient of the unstored output, from the same pass's sums. */
    DNAS_TRY(g->be->bn_bwd_sums(g->be, dx, n->acc[0], dg, db, y->grad, ds, NULL, x->data,
                                x->shape, n->scratch, n->scratch + c, gamma, g->lazy_sums));
    g->gmix[y->grad_mix] += (float)lazy_dot(n, c, g->lazy_sums);
    return DNAS_OK;
}

/* <dy, y> for the lazy output y = (x - mean) * a + b from the sums of dy and of
 * dy * (x - mean) per channel: sum_c a[c] * Q[c] + b[c] * S[c]. */
static double lazy_dot(const dnas_node *n, int c, const double *sums) {
    const float *la = n->scratch + 3 * c, *lb = la + c;
    double d = 0.0;
    for (int k = 0; k < c; k++) d += (double)la[k] * sums[c + k] + (double)lb[k] * sums[k];
    return d;
}

void dnas_bn_lazy_map(const dnas_graph *g, int v, const float **x, const float **mean,
                      const float **a, const float **b) {
    const dnas_node *n = &g->nodes[g->vals[v].producer];
    int c = g->vals[v].shape.c;
    *x = g->vals[n->in[0]].data;
    *mean = n->scratch + 2 * c;
    *a = *mean + c;
    *b = *a + c;
}

dnas_status dnas_bn_lazy_dot(dnas_graph *g, int v, const float *dy, double *dot) {
    dnas_node *n = &g->nodes[g->vals[v].producer];
    const dnas_value *x = &g->vals[n->in[0]];
    int c = x->shape.c;
    const float *lm = n->scratch + 2 * c;
    DNAS_TRY(g->be->bn_bwd_sums(g->be, NULL, 0, NULL, NULL, dy, 1.0f, NULL, x->data, x->shape,
                                lm, lm + c, NULL, g->lazy_sums));
    *dot = lazy_dot(n, c, g->lazy_sums);
    return DNAS_OK;
}

/* Per element (cpu_bn.c): batch statistics 4 (shift, sum, multiply-add of the square), the
 * affine 3 (a lazy output's is counted by the weighted sum that applies it); backward: its two
 * sums 4 whenever anything is wanted (a lazy output's mixing weight included), dx 5 (+1 added
 * into). */
static double flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    size_t e = dnas_shape_numel(g->vals[n->in[0]].shape);
    int lazy = g->vals[n->out].lazy; /* the affine map is the weighted sum's */
    if (!c->backward) return (uses_batch_stats(g, n) ? 4.0 : 0.0) * (double)e + (lazy ? 0.0 : 3.0 * (double)e);
    int dx = dnas_flop_dx(n, c, 0), dgb = (c->wants & DNAS_WANT_WEIGHTS) && n->par[0] >= 0;
    if (!dx && !dgb && !lazy_dot_wanted(g, n->out, c->wants)) return 0.0;
    return 4.0 * (double)e + (dx ? 5.0 * (double)e + dnas_flop_acc(n, c, 0, e) : 0.0);
}

static const dnas_op op_bn = {"batchnorm", DNAS_OPF_SAVE_IN | DNAS_OPF_DY_SCALE | DNAS_OPF_LAZY_AFFINE,
                              DNAS_KBIT(DNAS_K_BN), fwd, bwd, flops};

/* BN then ReLU in one node: the ReLU's max and mask ride on BN's passes (one element op each
 * way more, counted); its backward reads the output for the mask. */
static double flops_relu(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    double f = flops(g, n, c), e = (double)dnas_shape_numel(g->vals[n->in[0]].shape);
    return f + (c->backward ? (f > 0.0 ? e : 0.0) : e);
}
static const dnas_op op_bn_relu = {"batchnorm_relu",
                                   DNAS_OPF_SAVE_IN | DNAS_OPF_SAVE_OUT | DNAS_OPF_DY_SCALE,
                                   DNAS_KBIT(DNAS_K_BN) | DNAS_KBIT(DNAS_K_BN_RELU), fwd, bwd,
                                   flops_relu};

static int bn_node(dnas_graph *g, const dnas_op *op, const char *name, int x, int affine,
                   int track);

int dnas_op_batchnorm(dnas_graph *g, const char *name, int x, int affine, int track) {
    return bn_node(g, &op_bn, name, x, affine, track);
}

int dnas_op_batchnorm_relu(dnas_graph *g, const char *name, const char *relu_name, int x,
                           int affine, int track) {
    if (g->build_status || x < 0) return -1;
    if (!(g->be->supports && g->be->supports(g->be, DNAS_K_BN_RELU)))
        return dnas_op_relu(g, relu_name, bn_node(g, &op_bn, name, x, affine, track));
    int y = bn_node(g, &op_bn_relu, name, x, affine, track);
    if (y >= 0) g->nodes[g->vals[y].producer].a.bn.p.relu = 1;
    return y;
}

static int bn_node(dnas_graph *g, const dnas_op *op, const char *name, int x, int affine,
                   int track) {
    if (g->build_status || x < 0) return -1;
    dnas_shape xs = g->vals[x].shape;
    int id = dnas_graph_node(g, op, name, &x, 1, xs);
    if (id < 0) return -1;
    dnas_node *n = &g->nodes[id];
    n->a.bn.p = (dnas_bn_p){1e-5f, 0.1f, 0}; /* PyTorch defaults */
    n->a.bn.affine = affine;
    n->a.bn.track = track;
    n->scratch_n = 2 * (size_t)xs.c;
    char pn[96];
    if (affine) {
        snprintf(pn, sizeof pn, "%s.weight", name);
        n->par[0] = dnas_graph_param(g, pn, dnas_shape4(xs.c, 1, 1, 1), DNAS_INIT_ONE, 0);
        snprintf(pn, sizeof pn, "%s.bias", name);
        n->par[1] = dnas_graph_param(g, pn, dnas_shape4(xs.c, 1, 1, 1), DNAS_INIT_ZERO, 0);
    }
    if (track) {
        snprintf(pn, sizeof pn, "%s.running_mean", name);
        n->buf[0] = dnas_graph_buffer(g, pn, (size_t)xs.c);
        snprintf(pn, sizeof pn, "%s.running_var", name);
        n->buf[1] = dnas_graph_buffer(g, pn, (size_t)xs.c);
    }
    return g->build_status ? -1 : n->out;
}
