/* Softmax cross-entropy loss (mean over the batch) against the graph's labels, and the sum
 * of a main and an auxiliary loss (DARTS's auxiliary head: loss = main + w * aux).
 * The main xent is the one whose logits, correct count and loss the run reports; an
 * auxiliary xent computes its loss only, so it can run before or after the main one. */
#include "ops.h"

static const dnas_op op_xent, op_xent_aux;

static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    int k = x->shape.c, aux_correct;
    int main_loss = n->op == &op_xent;
    /* Labels outside [0,k) are refused by the backend (dnas_labels_check, the one check). */
    DNAS_TRY(g->be->xent_fwd(g->be, n->scratch, y->data, main_loss ? &g->correct : &aux_correct,
                             x->data, g->labels, x->shape.n, k));
    if (main_loss) g->loss_value = y->data[0];
    return DNAS_OK;
}

static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    /* The logits feed only the loss, so the gradient is written, never accumulated; the
     * loss's own gradient (1, or an auxiliary weight) scales it. */
    return g->be->xent_bwd(g->be, dx, n->scratch, g->labels, x->shape.n, x->shape.c, y->grad[0]);
}

/* Per logit: max, subtract, exp (counted as 1) and sum forward; (p - onehot) * scale back. */
static double flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    double e = (double)dnas_shape_numel(g->vals[n->in[0]].shape);
    if (!c->backward) return 4.0 * e;
    return dnas_flop_dx(n, c, 0) ? 2.0 * e : 0.0;
}

static const dnas_op op_xent = {"xent", 0, DNAS_KBIT(DNAS_K_XENT), fwd, bwd, flops};
static const dnas_op op_xent_aux = {"xent_aux", 0, DNAS_KBIT(DNAS_K_XENT), fwd, bwd, flops};

static int xent_node(dnas_graph *g, const dnas_op *op, const char *name, int logits) {
    if (g->build_status || logits < 0) return -1;
    dnas_shape xs = g->vals[logits].shape;
    if (xs.h != 1 || xs.w != 1) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "xent %s: logits must be (N,K,1,1)", name);
        return -1;
    }
    int id = dnas_graph_node(g, op, name, &logits, 1, dnas_shape4(1, 1, 1, 1));
    if (id < 0) return -1;
    g->nodes[id].scratch_n = (size_t)xs.n * (size_t)xs.c;
    g->vals[g->nodes[id].out].scalar = 1;
    return g->nodes[id].out;
}

int dnas_op_xent(dnas_graph *g, const char *name, int logits) {
    int loss = xent_node(g, &op_xent, name, logits);
    if (loss < 0) return -1;
    g->logits = logits;
    g->loss = loss;
    return loss;
}

int dnas_op_xent_aux(dnas_graph *g, const char *name, int logits) {
    return xent_node(g, &op_xent_aux, name, logits);
}

/* Inputs: 0 = the main loss (weight 1), 1 = the auxiliary loss (weight a.losssum.weight).
 * An input whose producer does not run this step (training-only in eval mode) adds 0. */
static int sum_gather(dnas_graph *g, dnas_node *n, const float **x, float *m, int *idx) {
    int k = 0;
    for (int i = 0; i < n->n_in; i++) {
        if (!dnas_value_live(g, n->in[i])) continue;
        x[k] = g->vals[n->in[i]].data;
        m[k] = i == 0 ? 1.0f : n->a.losssum.weight;
        idx[k++] = i;
    }
    return k;
}

static dnas_status sum_fwd(dnas_graph *g, dnas_node *n) {
    const float *x[2];
    float m[2];
    int idx[2];
    int k = sum_gather(g, n, x, m, idx);
    dnas_value *y = &g->vals[n->out];
    DNAS_TRY(g->be->wsum_fwd(g->be, y->data, 1, k, x, m));
    g->loss_value = y->data[0];
    return DNAS_OK;
}

static dnas_status sum_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    const float *x[2];
    float m[2], *dx[2];
    int idx[2], acc[2];
    int k = sum_gather(g, n, x, m, idx);
    for (int j = 0; j < k; j++) {
        dx[j] = dnas_in_grad(g, n, idx[j]);
        acc[j] = n->acc[idx[j]];
    }
    return g->be->wsum_bwd(g->be, dx, acc, NULL, 1, k, g->vals[n->out].grad, x, m);
}

/* Two scalars: a multiply-add forward, a multiply per input gradient. */
static double sum_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    (void)g;
    if (!c->backward) return 3.0;
    return (double)(dnas_flop_dx(n, c, 0) + dnas_flop_dx(n, c, 1));
}

static const dnas_op op_loss_sum = {"loss_sum", 0, DNAS_KBIT(DNAS_K_WSUM), sum_fwd, sum_bwd, sum_flops};

int dnas_op_loss_sum(dnas_graph *g, const char *name, int aux_loss, float weight) {
    if (g->build_status || aux_loss < 0) return -1;
    if (g->loss < 0) {
        dnas_graph_error(g, DNAS_ERR_INTERNAL, "loss sum %s: no main loss (dnas_op_xent) yet", name);
        return -1;
    }
    if (!(weight >= 0.0f) || !g->vals[aux_loss].scalar) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "loss sum %s: the auxiliary loss must be a "
                         "loss value with a weight >= 0 (got %g)", name, (double)weight);
        return -1;
    }
    int in[2] = {g->loss, aux_loss};
    int id = dnas_graph_node(g, &op_loss_sum, name, in, 2, dnas_shape4(1, 1, 1, 1));
    if (id < 0) return -1;
    g->nodes[id].a.losssum.weight = weight;
    g->loss = g->nodes[id].out;
    g->vals[g->loss].scalar = 1;
    return g->loss;
}
