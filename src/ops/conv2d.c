#include "ops.h"
#include <stdio.h>

static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    return g->be->conv2d_fwd(g->be, &n->a.conv, y->data, y->shape, x->data, x->shape,
                             dnas_param_data(g, n->par[0]), dnas_param_data(g, n->par[1]));
}

static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (dx && (wants & DNAS_WANT_WEIGHTS) && g->be->conv2d_bwd)
        return g->be->conv2d_bwd(g->be, &n->a.conv, dx, n->acc[0], dnas_param_grad(g, n->par[0]),
                                 dnas_param_grad(g, n->par[1]), x->data, x->shape, y->grad,
                                 y->shape, dnas_param_data(g, n->par[0]));
    if (dx)
        DNAS_TRY(g->be->conv2d_bwd_data(g->be, &n->a.conv, dx, n->acc[0], x->shape, y->grad,
                                        y->shape, dnas_param_data(g, n->par[0])));
    if (wants & DNAS_WANT_WEIGHTS)
        DNAS_TRY(g->be->conv2d_bwd_weight(g->be, &n->a.conv, dnas_param_grad(g, n->par[0]),
                                          dnas_param_grad(g, n->par[1]), x->data, x->shape,
                                          y->grad, y->shape));
    return DNAS_OK;
}

/* Every kernel (forward, backward-data, backward-weight) runs the full k x k window, padded
 * taps included: 2 * outputs * (Cin/groups) * k * k each; a bias adds one per output. */
static double flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    const dnas_conv_p *p = &n->a.conv;
    dnas_shape ys = g->vals[n->out].shape;
    double outs = (double)dnas_shape_numel(ys);
    double mac = 2.0 * outs * (p->cin / p->groups) * p->kh * p->kw, bias = n->par[1] >= 0 ? outs : 0.0;
    if (!c->backward) return mac + bias;
    double f = 0.0;
    if (dnas_flop_dx(n, c, 0)) f += mac + dnas_flop_acc(n, c, 0, dnas_shape_numel(g->vals[n->in[0]].shape));
    if (c->wants & DNAS_WANT_WEIGHTS) f += mac + bias;
    return f;
}

static const dnas_op op_conv2d = {"conv2d", DNAS_OPF_SAVE_IN, DNAS_KBIT(DNAS_K_CONV2D), fwd, bwd, flops};

int dnas_op_conv2d(dnas_graph *g, const char *name, int x, int cout, int k, int stride, int pad,
                   int dil, int groups, int bias) {
    if (g->build_status || x < 0) return -1;
    dnas_shape xs = g->vals[x].shape;
    if (cout <= 0 || k <= 0 || stride <= 0 || dil <= 0 || groups <= 0 || xs.c % groups ||
        cout % groups) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG,
                         "conv %s: impossible configuration (cin %d, cout %d, k %d, stride %d, "
                         "dilation %d, groups %d)", name, xs.c, cout, k, stride, dil, groups);
        return -1;
    }
    int span = dil * (k - 1) + 1;
    /* pad < 0 crops |pad| at the top/left only (FactorizedReduce's x[:, :, 1:, 1:]). */
    int both = pad >= 0 ? 2 * pad : pad;
    int oh = (xs.h + both - span) / stride + 1, ow = (xs.w + both - span) / stride + 1;
    if (xs.h + both < span || xs.w + both < span) oh = ow = 0;
    int id = dnas_graph_node(g, &op_conv2d, name, &x, 1, dnas_shape4(xs.n, cout, oh, ow));
    if (id < 0) return -1;
    dnas_node *n = &g->nodes[id];
    n->a.conv = (dnas_conv_p){xs.c, cout, k, k, stride, pad, dil, groups};
    char pn[96];
    int fan_in = xs.c / groups * k * k;
    snprintf(pn, sizeof pn, "%s.weight", name);
    n->par[0] = dnas_graph_param(g, pn, dnas_shape4(cout, xs.c / groups, k, k), DNAS_INIT_UNIFORM_FAN_IN, fan_in);
    if (bias) {
        snprintf(pn, sizeof pn, "%s.bias", name);
        n->par[1] = dnas_graph_param(g, pn, dnas_shape4(cout, 1, 1, 1), DNAS_INIT_UNIFORM_FAN_IN, fan_in);
    }
    return g->build_status ? -1 : n->out;
}
