/* The parameter-free candidate ops as explicit nodes: identity (skip_connect) and zero
 * ('none', with an optional stride for reduction edges). Search spaces usually fold them away
 * (a wsum input can be the source value itself; 'none' can be left out of the sum), but
 * derived networks and masked supernets need them as real nodes. */
#include "ops.h"
#include <string.h>

static dnas_status id_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    memcpy(y->data, x->data, dnas_shape_numel(x->shape) * sizeof(float));
    return DNAS_OK;
}
static dnas_status id_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    size_t npix = (size_t)y->shape.n * y->shape.h * y->shape.w;
    return g->be->chancopy(g->be, dx, y->shape.c, 0, n->acc[0], y->grad, y->shape.c, 0,
                           y->shape.c, npix);
}
static const dnas_op op_identity = {"identity", 0, DNAS_KBIT(DNAS_K_CHANCOPY), id_fwd, id_bwd, dnas_flops_copy};

int dnas_op_identity(dnas_graph *g, const char *name, int x) {
    if (g->build_status || x < 0) return -1;
    int id = dnas_graph_node(g, &op_identity, name, &x, 1, g->vals[x].shape);
    return id < 0 ? -1 : g->nodes[id].out;
}

static dnas_status zero_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *y = &g->vals[n->out];
    memset(y->data, 0, dnas_shape_numel(y->shape) * sizeof(float));
    return DNAS_OK;
}
static dnas_status zero_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *x = &g->vals[n->in[0]];
    float *dx = dnas_in_grad(g, n, 0);
    /* The output does not depend on x: its gradient contribution is zero. */
    if (dx && !n->acc[0]) memset(dx, 0, dnas_shape_numel(x->shape) * sizeof(float));
    return DNAS_OK;
}
/* Fills only. */
static double zero_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    (void)g, (void)n, (void)c;
    return 0.0;
}
static const dnas_op op_zero = {"zero", 0, 0, zero_fwd, zero_bwd, zero_flops};

int dnas_op_zero(dnas_graph *g, const char *name, int x, int stride) {
    if (g->build_status || x < 0) return -1;
    if (stride <= 0) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "zero %s: stride %d", name, stride);
        return -1;
    }
    dnas_shape s = g->vals[x].shape;
    s.h = (s.h + stride - 1) / stride;
    s.w = (s.w + stride - 1) / stride;
    int id = dnas_graph_node(g, &op_zero, name, &x, 1, s);
    return id < 0 ? -1 : g->nodes[id].out;
}
