/* Softmax cross-entropy loss (mean over the batch) against the graph's labels. */
#include "ops.h"

static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    int k = x->shape.c;
    /* Labels outside [0,k) are refused by the backend (dnas_labels_check, the one check). */
    DNAS_TRY(g->be->xent_fwd(g->be, n->scratch, y->data, &g->correct, x->data, g->labels,
                             x->shape.n, k));
    g->loss_value = y->data[0];
    return DNAS_OK;
}

static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    /* The logits feed only the loss, so the gradient is written, never accumulated. */
    return g->be->xent_bwd(g->be, dx, n->scratch, g->labels, x->shape.n, x->shape.c, y->grad[0]);
}

static const dnas_op op_xent = {"xent", 0, DNAS_KBIT(DNAS_K_XENT), fwd, bwd};

int dnas_op_xent(dnas_graph *g, const char *name, int logits) {
    if (g->build_status || logits < 0) return -1;
    dnas_shape xs = g->vals[logits].shape;
    if (xs.h != 1 || xs.w != 1) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "xent %s: logits must be (N,K,1,1)", name);
        return -1;
    }
    int id = dnas_graph_node(g, &op_xent, name, &logits, 1, dnas_shape4(1, 1, 1, 1));
    if (id < 0) return -1;
    g->nodes[id].scratch_n = (size_t)xs.n * (size_t)xs.c;
    g->logits = logits;
    g->loss = g->nodes[id].out;
    return g->loss;
}
