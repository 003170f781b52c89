#include "ops.h"

static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    return g->be->relu_fwd(g->be, y->data, x->data, dnas_shape_numel(x->shape));
}

static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    return g->be->relu_bwd(g->be, dx, n->acc[0], y->grad, y->data, dnas_shape_numel(y->shape));
}

/* Backward reads the output (y > 0 mask), so the input may die early. */
static const dnas_op op_relu = {"relu", DNAS_OPF_SAVE_OUT, DNAS_KBIT(DNAS_K_RELU), fwd, bwd};

int dnas_op_relu(dnas_graph *g, const char *name, int x) {
    if (g->build_status || x < 0) return -1;
    int id = dnas_graph_node(g, &op_relu, name, &x, 1, g->vals[x].shape);
    return id < 0 ? -1 : g->nodes[id].out;
}
