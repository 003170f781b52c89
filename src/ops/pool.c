/* Average and max pooling (k x k, stride, symmetric padding). */
#include "ops.h"

static dnas_status avg_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    return g->be->avgpool_fwd(g->be, &n->a.pool, y->data, y->shape, x->data, x->shape);
}
static dnas_status avg_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    return g->be->avgpool_bwd(g->be, &n->a.pool, dx, n->acc[0], x->shape, y->grad, y->shape);
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

/* Average pooling's backward needs only shapes: its input may die early. */
/* Per output, over the full window: average k*k adds and a scale each way; max k*k
 * compares forward, and backward finds the maximum again and adds dy into it. */
static double pool_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c, int max) {
    double outs = (double)dnas_shape_numel(g->vals[n->out].shape), kk = (double)n->a.pool.k * n->a.pool.k;
    if (!c->backward) return outs * (max ? kk : kk + 1.0);
    if (!dnas_flop_dx(n, c, 0)) return 0.0;
    return outs * (kk + 1.0) + (max ? 0.0 : dnas_flop_acc(n, c, 0, dnas_shape_numel(g->vals[n->in[0]].shape)));
}
static double avg_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    return pool_flops(g, n, c, 0);
}
static double max_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    return pool_flops(g, n, c, 1);
}

static const dnas_op op_avgpool = {"avgpool", 0, DNAS_KBIT(DNAS_K_AVGPOOL), avg_fwd, avg_bwd, avg_flops};
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
