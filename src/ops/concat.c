/* Channel concat and channel slice (DARTS cell outputs, partial channels). Both are block
 * copies between NHWC tensors, so forward and backward are the backend's chancopy. */
#include "ops.h"

static dnas_status cat_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *y = &g->vals[n->out];
    size_t npix = (size_t)y->shape.n * y->shape.h * y->shape.w;
    int off = 0;
    for (int i = 0; i < n->n_in; i++) {
        dnas_value *x = &g->vals[n->in[i]];
        DNAS_TRY(g->be->chancopy(g->be, y->data, y->shape.c, off, 0, x->data, x->shape.c, 0,
                                 x->shape.c, npix));
        off += x->shape.c;
    }
    return DNAS_OK;
}
static dnas_status cat_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *y = &g->vals[n->out];
    size_t npix = (size_t)y->shape.n * y->shape.h * y->shape.w;
    int off = 0;
    for (int i = 0; i < n->n_in; i++) {
        dnas_value *x = &g->vals[n->in[i]];
        float *dx = dnas_in_grad(g, n, i);
        if (dx)
            DNAS_TRY(g->be->chancopy(g->be, dx, x->shape.c, 0, n->acc[i], y->grad, y->shape.c,
                                     off, x->shape.c, npix));
        off += x->shape.c;
    }
    return DNAS_OK;
}
static const dnas_op op_concat = {"concat", 0, DNAS_KBIT(DNAS_K_CHANCOPY), cat_fwd, cat_bwd, dnas_flops_copy};

static int cat_node(dnas_graph *g, const dnas_op *op, const char *name, const int *x, int k) {
    if (g->build_status) return -1;
    int c = 0;
    for (int i = 0; i < k; i++) {
        if (x[i] < 0) return -1;
        dnas_shape a = g->vals[x[0]].shape, b = g->vals[x[i]].shape;
        if (a.n != b.n || a.h != b.h || a.w != b.w) {
            dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "concat %s: input %d has another N/H/W", name, i);
            return -1;
        }
        c += b.c;
    }
    dnas_shape s = g->vals[x[0]].shape;
    s.c = c;
    int id = dnas_graph_node(g, op, name, x, k, s);
    return id < 0 ? -1 : g->nodes[id].out;
}

int dnas_op_concat(dnas_graph *g, const char *name, const int *x, int k) {
    return cat_node(g, &op_concat, name, x, k);
}

/* Concat then ReLU in one node (DNAS_K_CONCAT_RELU): a DARTS cell's output is only ever read
 * through a ReLU (the next cells' preprocessing, the auxiliary head), so the raw concatenation
 * need not exist. Its backward reads the output for the mask, as the ReLU's does. */
static dnas_status catr_kinks_ok(const dnas_graph *g, const dnas_node *n) {
    if (g->kinks != DNAS_KINKS_FREE)
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "concat+ReLU %s: kink recording/freezing needs a "
                         "separate ReLU node", n->name);
    return DNAS_OK;
}
/* Inputs of one node, at most DNAS_MAX_IN (the graph's own bound on a node's inputs). */
static dnas_status catr_fwd(dnas_graph *g, dnas_node *n) {
    DNAS_TRY(catr_kinks_ok(g, n));
    dnas_value *y = &g->vals[n->out];
    const float *x[DNAS_MAX_IN];
    int c[DNAS_MAX_IN];
    for (int i = 0; i < n->n_in; i++) {
        x[i] = g->vals[n->in[i]].data;
        c[i] = g->vals[n->in[i]].shape.c;
    }
    return g->be->concat_relu_fwd(g->be, y->data, n->n_in, x, c,
                                  (size_t)y->shape.n * y->shape.h * y->shape.w);
}
static dnas_status catr_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    DNAS_TRY(catr_kinks_ok(g, n));
    dnas_value *y = &g->vals[n->out];
    float *dx[DNAS_MAX_IN];
    int c[DNAS_MAX_IN], acc[DNAS_MAX_IN], any = 0;
    for (int i = 0; i < n->n_in; i++) {
        dx[i] = dnas_in_grad(g, n, i);
        acc[i] = n->acc[i];
        c[i] = g->vals[n->in[i]].shape.c;
        any |= dx[i] != NULL;
    }
    if (!any) return DNAS_OK;
    return g->be->concat_relu_bwd(g->be, dx, acc, n->n_in, c, y->grad, y->data,
                                  (size_t)y->shape.n * y->shape.h * y->shape.w);
}
/* The same passes as the plain concat, one element op each (max / mask) on top. */
static double catr_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    double f = dnas_flops_copy(g, n, c);
    return f > 0.0 ? 2.0 * f : 0.0;
}
static const dnas_op op_concat_relu = {"concat_relu", DNAS_OPF_SAVE_OUT,
                                       DNAS_KBIT(DNAS_K_CONCAT_RELU), catr_fwd, catr_bwd,
                                       catr_flops};

int dnas_op_concat_relu(dnas_graph *g, const char *name, const char *relu_name, const int *x,
                        int k) {
    if (g->build_status) return -1;
    if (!(g->be->supports && g->be->supports(g->be, DNAS_K_CONCAT_RELU)))
        return dnas_op_relu(g, relu_name, dnas_op_concat(g, name, x, k));
    return cat_node(g, &op_concat_relu, name, x, k);
}

static dnas_status sl_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    size_t npix = (size_t)y->shape.n * y->shape.h * y->shape.w;
    return g->be->chancopy(g->be, y->data, y->shape.c, 0, 0, x->data, x->shape.c,
                           n->a.slice.off, n->a.slice.count, npix);
}
static dnas_status sl_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out];
    float *dx = dnas_in_grad(g, n, 0);
    if (!dx) return DNAS_OK;
    size_t npix = (size_t)y->shape.n * y->shape.h * y->shape.w;
    if (!n->acc[0]) {
        /* The slice covers only part of x: the rest of dx must be zero, not stale. */
        for (size_t p = 0; p < npix * (size_t)x->shape.c; p++) dx[p] = 0.0f;
    }
    return g->be->chancopy(g->be, dx, x->shape.c, n->a.slice.off, 1, y->grad, y->shape.c, 0,
                           n->a.slice.count, npix);
}
/* A copy; its backward always adds the slice into dx (zero-filled first when written). */
static double sl_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    return dnas_flop_dx(n, c, 0) ? (double)dnas_shape_numel(g->vals[n->out].shape) : 0.0;
}
static const dnas_op op_slice = {"slice", 0, DNAS_KBIT(DNAS_K_CHANCOPY), sl_fwd, sl_bwd, sl_flops};

int dnas_op_slice(dnas_graph *g, const char *name, int x, int off, int count) {
    if (g->build_status || x < 0) return -1;
    dnas_shape s = g->vals[x].shape;
    if (off < 0 || count <= 0 || off + count > s.c) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "slice %s: channels [%d,%d) of %d", name, off,
                         off + count, s.c);
        return -1;
    }
    s.c = count;
    int id = dnas_graph_node(g, &op_slice, name, &x, 1, s);
    if (id < 0) return -1;
    g->nodes[id].a.slice.off = off;
    g->nodes[id].a.slice.count = count;
    return g->nodes[id].out;
}
