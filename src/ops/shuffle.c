/* Channel shuffle of a channel concatenation (PC-DARTS' partial-channel edge, ALGORITHMS.md
 * §B7): y = shuffle(concat(x_0, .., x_{k-1}), G). Shuffle is ShuffleNet's view (N, G, C/G,
 * H, W) -> transpose(1, 2) -> (N, C, H, W): concat channel s = g*(C/G) + j goes to output
 * channel j*G + g. Concat and shuffle are one node so that the edge keeps one C-channel
 * buffer, not two. A permutation, so backward is the inverse gather.
 *
 * A host loop, like drop path: one chancopy per channel would read the whole tensor C times;
 * right for the CPU backend (host activations), a device backend needs a kernel computing the
 * same permutation. Each output element is written by one thread: deterministic. */
#include "ops.h"

/* Output channel of concat channel s (C channels, G groups). */
static inline int dest_channel(int s, int C, int G) {
    int cpg = C / G;
    return (s % cpg) * G + s / cpg;
}

static dnas_status shuf_fwd(dnas_graph *g, dnas_node *n) {
    dnas_value *y = &g->vals[n->out];
    const int C = y->shape.c, G = n->a.slice.count;
    const long npix = (long)y->shape.n * y->shape.h * y->shape.w;
    int off = 0;
    for (int i = 0; i < n->n_in; i++) {
        dnas_value *x = &g->vals[n->in[i]];
        const int ci = x->shape.c;
        const float *xs = x->data;
        float *ys = y->data;
#pragma omp parallel for schedule(static) if (npix * ci > 32768)
        for (long p = 0; p < npix; p++)
            for (int c = 0; c < ci; c++)
                ys[p * C + dest_channel(off + c, C, G)] = xs[p * ci + c];
        off += ci;
    }
    return DNAS_OK;
}

static dnas_status shuf_bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    (void)wants;
    dnas_value *y = &g->vals[n->out];
    const int C = y->shape.c, G = n->a.slice.count;
    const long npix = (long)y->shape.n * y->shape.h * y->shape.w;
    int off = 0;
    for (int i = 0; i < n->n_in; i++) {
        dnas_value *x = &g->vals[n->in[i]];
        const int ci = x->shape.c, acc = n->acc[i];
        float *dx = dnas_in_grad(g, n, i);
        const float *dy = y->grad;
        if (dx) {
#pragma omp parallel for schedule(static) if (npix * ci > 32768)
            for (long p = 0; p < npix; p++)
                for (int c = 0; c < ci; c++) {
                    float v = dy[p * C + dest_channel(off + c, C, G)];
                    dx[p * ci + c] = acc ? dx[p * ci + c] + v : v;
                }
        }
        off += ci;
    }
    return DNAS_OK;
}

static const dnas_op op_shuffle = {"shuffle", 0, 0, shuf_fwd, shuf_bwd, dnas_flops_copy};

int dnas_op_shuffle(dnas_graph *g, const char *name, const int *x, int k, int groups) {
    if (g->build_status) return -1;
    if (k <= 0) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "shuffle %s: no inputs", name);
        return -1;
    }
    int c = 0;
    for (int i = 0; i < k; i++) {
        if (x[i] < 0) return -1;
        dnas_shape a = g->vals[x[0]].shape, b = g->vals[x[i]].shape;
        if (a.n != b.n || a.h != b.h || a.w != b.w) {
            dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "shuffle %s: input %d has another N/H/W",
                             name, i);
            return -1;
        }
        c += b.c;
    }
    if (groups < 1 || c % groups) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "shuffle %s: %d channels do not split into %d "
                         "groups", name, c, groups);
        return -1;
    }
    dnas_shape s = g->vals[x[0]].shape;
    s.c = c;
    int id = dnas_graph_node(g, &op_shuffle, name, x, k, s);
    if (id < 0) return -1;
    g->nodes[id].a.slice.count = groups; /* the group count G */
    return g->nodes[id].out;
}
