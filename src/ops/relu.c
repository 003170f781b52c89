#include "ops.h"

/* Frozen kinks (graph.h) run on the host: only second-order products use them. */
static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    size_t numel = dnas_shape_numel(x->shape);
    uint8_t *m = g->kink_mask ? g->kink_mask + n->kink_off : NULL;
    if (g->kinks == DNAS_KINKS_FROZEN) {
        for (size_t i = 0; i < numel; i++) y->data[i] = m[i] ? x->data[i] : 0.0f;
        return DNAS_OK;
    }
    DNAS_TRY(g->be->relu_fwd(g->be, y->data, x->data, numel));
    if (g->kinks == DNAS_KINKS_RECORD)
        for (size_t i = 0; i < numel; i++) m[i] = y->data[i] > 0.0f;
    return DNAS_OK;
}

static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    if (g->kinks == DNAS_KINKS_FROZEN) {
        const uint8_t *m = g->kink_mask + n->kink_off;
        size_t numel = dnas_shape_numel(y->shape);
        for (size_t i = 0; i < numel; i++)
            dx[i] = (n->acc[0] ? dx[i] : 0.0f) + (m[i] ? y->grad[i] : 0.0f);
        return DNAS_OK;
    }
    return g->be->relu_bwd(g->be, dx, n->acc[0], y->grad, y->data, dnas_shape_numel(y->shape));
}

/* Backward reads the output (y > 0 mask), so the input may die early. */
/* One compare per element each way (+1 when the input gradient is added into). */
static double flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    size_t e = dnas_shape_numel(g->vals[n->out].shape);
    if (!c->backward) return (double)e;
    return dnas_flop_dx(n, c, 0) ? (double)e + dnas_flop_acc(n, c, 0, e) : 0.0;
}

static const dnas_op op_relu = {"relu", DNAS_OPF_SAVE_OUT | DNAS_OPF_KINK, DNAS_KBIT(DNAS_K_RELU), fwd, bwd, flops};

int dnas_op_relu(dnas_graph *g, const char *name, int x) {
    if (g->build_status || x < 0) return -1;
    int id = dnas_graph_node(g, &op_relu, name, &x, 1, g->vals[x].shape);
    return id < 0 ? -1 : g->nodes[id].out;
}
