/* Average and max pooling (k x k, stride, symmetric padding). */
#include "ops.h"

/* A lazy output (graph.h DNAS_LAZY_POOL) is pooled by the weighted sum reading it. */
static dnas_status avg_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    if (y->lazy) return DNAS_OK;
    return g->be->avgpool_fwd(g->be, &n->a.pool, y->data, y->shape, x->data, x->shape);
}
/* The lazy output's mixing weight is wanted in this backward. */
static int pool_dot_wanted(const dnas_graph *g, int v, unsigned wants) {
    const dnas_value *y = &g->vals[v];
    return y->lazy && (wants & DNAS_WANT_ARCH) && y->grad_mix >= 0;
}
/* The pool's backward with the sum's skip input of x (dnas_value.skip_in) folded in: x's
 * gradient gets the skip's term, as the sum's backward would have written it (its acc), then
 * the pool's; the skip weight's gradient <dy, x> comes from the same pass. */
static dnas_status avg_bwd_skip(dnas_graph *g, dnas_node *n, float *dx, int dot, unsigned wants) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    const dnas_node *w = &g->nodes[g->vals[y->grad_alias].producer];
    const int i = y->skip_in, mi = w->mix[i];
    const int sdot = (wants & DNAS_WANT_ARCH) && mi >= 0;
    double d = 0.0, sd = 0.0;
    dnas_pool_skip sk = {mi >= 0 ? g->mix[mi] : 1.0f, w->acc[i], sdot ? &sd : NULL};
    DNAS_TRY(g->be->avgpool_bwd_mix_skip(g->be, &n->a.pool, dx, x->shape, x->data, y->grad,
                                         dnas_grad_scale(g, n->out), y->shape, dot ? &d : NULL,
                                         &sk));
    if (dot) g->gmix[y->grad_mix] += (float)d;
    if (sdot) g->gmix[mi] += (float)sd;
    return DNAS_OK;
}

static dnas_status avg_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!y->lazy) {
        if (!dx) return DNAS_OK;
        return g->be->avgpool_bwd(g->be, &n->a.pool, dx, n->acc[0], x->shape, y->grad, y->shape);
    }
    /* The output gradient is the sum's times this input's weight; the weight's own gradient
     * <dy, pool(x)> comes from the same pass. */
    double d = 0.0;
    int dot = pool_dot_wanted(g, n->out, wants);
    if (y->skip_in >= 0) return avg_bwd_skip(g, n, dx, dot, wants);
    if (!dx && !dot) return DNAS_OK;
    DNAS_TRY(g->be->avgpool_bwd_mix(g->be, &n->a.pool, dx, n->acc[0], x->shape, x->data, y->grad,
                                    dnas_grad_scale(g, n->out), y->shape, dot ? &d : NULL));
    if (dot) g->gmix[y->grad_mix] += (float)d;
    return DNAS_OK;
}

void dnas_pool_lazy_src(const dnas_graph *g, int v, const float **x, const dnas_pool_p **p,
                        const dnas_shape **xs) {
    const dnas_node *n = &g->nodes[g->vals[v].producer];
    *x = g->vals[n->in[0]].data;
    *p = &n->a.pool;
    *xs = &g->vals[n->in[0]].shape;
}

dnas_status dnas_pool_lazy_dot(dnas_graph *g, int v, const float *dy, double *dot) {
    const dnas_node *n = &g->nodes[g->vals[v].producer];
    const dnas_value *x = &g->vals[n->in[0]];
    return g->be->avgpool_bwd_mix(g->be, &n->a.pool, NULL, 0, x->shape, x->data, dy, 1.0f,
                                  g->vals[v].shape, dot);
}
static dnas_status max_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    return g->be->maxpool_fwd(g->be, &n->a.pool, y->data, y->shape, x->data, x->shape);
}
static dnas_status max_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    return g->be->maxpool_bwd(g->be, &n->a.pool, dx, n->acc[0], x->shape, x->data, y->grad,
                              y->shape);
}

/* Average pooling's backward needs only shapes: its input may die early (unless lazy). */
/* Per output, over the full window: average k*k adds and a scale each way (a lazy output's
 * forward too: the weighted sum pools); max k*k compares forward, and backward finds the
 * maximum again and adds dy into it. A lazy average's backward gathers as well when only its
 * mixing weight is wanted, and adds the scale of dx and the dot product with x (2 each per
 * input element, the dot only when wanted). */
static double pool_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c, int max) {
    double outs = (double)dnas_shape_numel(g->vals[n->out].shape), kk = (double)n->a.pool.k * n->a.pool.k;
    if (!c->backward) return outs * (max ? kk : kk + 1.0);
    size_t ins = dnas_shape_numel(g->vals[n->in[0]].shape);
    int dx = dnas_flop_dx(n, c, 0);
    if (!max && g->vals[n->out].lazy) {
        int dot = pool_dot_wanted(g, n->out, c->wants);
        if (!dx && !dot) return 0.0;
        return outs * (kk + 1.0) + (dx ? (double)ins + dnas_flop_acc(n, c, 0, ins) : 0.0) +
               (dot ? 2.0 * (double)ins : 0.0);
    }
    if (!dx) return 0.0;
    return outs * (kk + 1.0) + (max ? 0.0 : dnas_flop_acc(n, c, 0, ins));
}
static double avg_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    return pool_flops(g, n, c, 0);
}
static double max_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    return pool_flops(g, n, c, 1);
}

static const dnas_op op_avgpool = {"avgpool", DNAS_OPF_LAZY_POOL, DNAS_KBIT(DNAS_K_AVGPOOL), avg_fwd,
                                   avg_bwd, avg_flops};
static const dnas_op op_maxpool = {"maxpool", DNAS_OPF_SAVE_IN, DNAS_KBIT(DNAS_K_MAXPOOL), max_fwd, max_bwd,
                                   max_flops};

static int pool(dnas_graph *g, const dnas_op *op, const char *name, int x, int k, int stride,
                int pad, int cip) {
    if (g->build_status || x < 0) return -1;
    dnas_shape xs = g->vals[x].shape;
    if (k <= 0 || stride <= 0 || pad < 0 || 2 * pad > k) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "pool %s: impossible k %d stride %d pad %d",
                         name, k, stride, pad);
        return -1;
    }
    int oh = (xs.h + 2 * pad - k) / stride + 1, ow = (xs.w + 2 * pad - k) / stride + 1;
    int id = dnas_graph_node(g, op, name, &x, 1, dnas_shape4(xs.n, xs.c, oh, ow));
    if (id < 0) return -1;
    g->nodes[id].a.pool = (dnas_pool_p){k, stride, pad, cip};
    return g->nodes[id].out;
}

int dnas_op_avgpool(dnas_graph *g, const char *name, int x, int k, int stride, int pad,
                    int count_include_pad) {
    return pool(g, &op_avgpool, name, x, k, stride, pad, count_include_pad);
}
int dnas_op_maxpool(dnas_graph *g, const char *name, int x, int k, int stride, int pad) {
    return pool(g, &op_maxpool, name, x, k, stride, pad, 0);
}
