/* The classifier head: global average pool and linear layer. */
#include "ops.h"
#include <stdio.h>

static dnas_status gap_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    return g->be->gap_fwd(g->be, y->data, x->data, x->shape);
}
static dnas_status gap_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    return g->be->gap_bwd(g->be, dx, n->acc[0], x->shape, y->grad);
}
/* A sum per input element and a scale per output; backward a scaled copy (+1 added into). */
static double gap_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    size_t e = dnas_shape_numel(g->vals[n->in[0]].shape);
    if (!c->backward) return (double)e + (double)dnas_shape_numel(g->vals[n->out].shape);
    return dnas_flop_dx(n, c, 0) ? (double)e + dnas_flop_acc(n, c, 0, e) : 0.0;
}
static const dnas_op op_gap = {"gap", 0, DNAS_KBIT(DNAS_K_GAP), gap_fwd, gap_bwd, gap_flops};

int dnas_op_gap(dnas_graph *g, const char *name, int x) {
    if (g->build_status || x < 0) return -1;
    dnas_shape xs = g->vals[x].shape;
    int id = dnas_graph_node(g, &op_gap, name, &x, 1, dnas_shape4(xs.n, xs.c, 1, 1));
    return id < 0 ? -1 : g->nodes[id].out;
}

static dnas_status lin_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    return g->be->linear_fwd(g->be, y->data, x->data, dnas_param_data(g, n->par[0]),
                             dnas_param_data(g, n->par[1]), x->shape.n, n->a.linear.in,
                             n->a.linear.out);
}
static dnas_status lin_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    int w = (wants & DNAS_WANT_WEIGHTS) != 0;
    return g->be->linear_bwd(g->be, dnas_in_grad(g, n, 0), n->acc[0],
                             w ? dnas_param_grad(g, n->par[0]) : NULL,
                             w ? dnas_param_grad(g, n->par[1]) : NULL, y->grad, x->data,
                             dnas_param_data(g, n->par[0]), x->shape.n, n->a.linear.in,
                             n->a.linear.out);
}
/* 2 * N * in * out per product (forward, dx, dw); the bias one add per output each way. */
static double lin_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    double N = g->vals[n->in[0]].shape.n, in = n->a.linear.in, out = n->a.linear.out;
    double mac = 2.0 * N * in * out;
    if (!c->backward) return mac + N * out;
    double f = 0.0;
    if (dnas_flop_dx(n, c, 0)) f += mac + dnas_flop_acc(n, c, 0, (size_t)(N * in));
    if (c->wants & DNAS_WANT_WEIGHTS) f += mac + N * out;
    return f;
}
static const dnas_op op_linear = {"linear", DNAS_OPF_SAVE_IN, DNAS_KBIT(DNAS_K_LINEAR), lin_fwd, lin_bwd, lin_flops};

int dnas_op_linear(dnas_graph *g, const char *name, int x, int out) {
    if (g->build_status || x < 0) return -1;
    dnas_shape xs = g->vals[x].shape;
    int in = xs.c * xs.h * xs.w;
    if (out <= 0) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "linear %s: %d outputs", name, out);
        return -1;
    }
    int id = dnas_graph_node(g, &op_linear, name, &x, 1, dnas_shape4(xs.n, out, 1, 1));
    if (id < 0) return -1;
    dnas_node *n = &g->nodes[id];
    n->a.linear.in = in;
    n->a.linear.out = out;
    char pn[96];
    snprintf(pn, sizeof pn, "%s.weight", name);
    n->par[0] = dnas_graph_param(g, pn, dnas_shape4(out, in, 1, 1), DNAS_INIT_UNIFORM_FAN_IN, in);
    snprintf(pn, sizeof pn, "%s.bias", name);
    n->par[1] = dnas_graph_param(g, pn, dnas_shape4(out, 1, 1, 1), DNAS_INIT_UNIFORM_FAN_IN, in);
    return g->build_status ? -1 : n->out;
}
