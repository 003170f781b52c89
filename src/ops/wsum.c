/* Weighted sum: the mixed edge, a whole cell node, and the residual addition.
 * Inputs produced by inactive nodes (sampling methods switch ops off per step) are left out
 * of the sum, exactly as if their weight were zero, and never read. */
#include "ops.h"

/* The active inputs: pointers and weights, for a lazy BN output (graph.h) its input and the
 * map to apply (mean NULL otherwise), for a lazy pool output the pool's input, parameters and
 * input shape (pool NULL otherwise). Returns their count; *n_lazy counts the lazy ones. */
typedef struct {
    const float *x[DNAS_MAX_IN], *mean[DNAS_MAX_IN], *a[DNAS_MAX_IN], *b[DNAS_MAX_IN];
    const dnas_pool_p *pool[DNAS_MAX_IN];
    dnas_shape pool_xs[DNAS_MAX_IN];
    float m[DNAS_MAX_IN];
    int idx[DNAS_MAX_IN];
} inputs;

static int gather(dnas_graph *g, dnas_node *n, inputs *in, int *n_lazy) {
    int k = 0;
    *n_lazy = 0;
    for (int i = 0; i < n->n_in; i++) {
        dnas_value *v = &g->vals[n->in[i]];
        if (v->producer >= 0 && !g->nodes[v->producer].active) continue;
        in->x[k] = v->data;
        in->mean[k] = in->a[k] = in->b[k] = NULL;
        in->pool[k] = NULL;
        if (v->lazy == DNAS_LAZY_BN) {
            dnas_bn_lazy_map(g, n->in[i], &in->x[k], &in->mean[k], &in->a[k], &in->b[k]);
        } else if (v->lazy == DNAS_LAZY_POOL) {
            const dnas_shape *xs;
            dnas_pool_lazy_src(g, n->in[i], &in->x[k], &in->pool[k], &xs);
            in->pool_xs[k] = *xs;
        }
        if (v->lazy) (*n_lazy)++;
        in->m[k] = n->mix[i] >= 0 ? g->mix[n->mix[i]] : 1.0f;
        in->idx[k] = i;
        k++;
    }
    return k;
}

static dnas_status fwd(dnas_graph *g, dnas_node *n) {
    inputs in;
    int n_lazy, k = gather(g, n, &in, &n_lazy);
    dnas_value *y = &g->vals[n->out];
    if (n_lazy)
        return g->be->wsum_affine_fwd(g->be, y->data, y->shape, k, in.x, in.m, in.mean, in.a,
                                      in.b, in.pool, in.pool_xs);
    return g->be->wsum_fwd(g->be, y->data, dnas_shape_numel(y->shape), k, in.x, in.m);
}

/* Whether the backward of lazy input v's producer runs in this call. */
static int producer_bwd_runs(const dnas_graph *g, const dnas_value *v) {
    return v->needs_grad && dnas_node_runs(g, &g->nodes[v->producer]);
}

/* Whether plain input i is the skip a lazy pool input's backward takes (dnas_value.skip_in):
 * where that backward runs. */
static int skip_taken_by_pool(const dnas_graph *g, const dnas_node *n, int i) {
    for (int j = 0; j < n->n_in; j++) {
        const dnas_value *v = &g->vals[n->in[j]];
        if (v->lazy == DNAS_LAZY_POOL && v->skip_in == i && producer_bwd_runs(g, v)) return 1;
    }
    return 0;
}

/* Lazy inputs are left out of the backend's backward: their gradient is an alias, and their
 * mixing-weight gradient comes from their producer's backward (BN's sums, the pool's gather),
 * taken here only when that backward does not run (nothing upstream of it wants a
 * gradient). */
static dnas_status bwd(dnas_graph *g, dnas_node *n, unsigned wants) {
    inputs in;
    float *dx[DNAS_MAX_IN];
    int acc[DNAS_MAX_IN], n_lazy;
    int k = gather(g, n, &in, &n_lazy);
    dnas_value *y = &g->vals[n->out];
    int want_dm = 0, kp = 0;
    for (int j = 0; j < k; j++) {
        int i = in.idx[j];
        int wants_m = (wants & DNAS_WANT_ARCH) && n->mix[i] >= 0;
        const dnas_value *v = &g->vals[n->in[i]];
        if (v->lazy) {
            if (wants_m && !producer_bwd_runs(g, v)) {
                double d;
                if (v->lazy == DNAS_LAZY_BN) DNAS_TRY(dnas_bn_lazy_dot(g, n->in[i], y->grad, &d));
                else DNAS_TRY(dnas_pool_lazy_dot(g, n->in[i], y->grad, &d));
                g->gmix[n->mix[i]] += (float)d;
            }
            continue;
        }
        if (skip_taken_by_pool(g, n, i)) continue;
        in.x[kp] = in.x[j];
        in.m[kp] = in.m[j];
        in.idx[kp] = i;
        dx[kp] = dnas_in_grad(g, n, i);
        acc[kp] = n->acc[i];
        if (wants_m) want_dm = 1;
        kp++;
    }
    DNAS_TRY(g->be->wsum_bwd(g->be, dx, acc, want_dm ? g->dm_tmp : NULL,
                             dnas_shape_numel(y->shape), kp, y->grad, in.x, in.m));
    if (want_dm)
        for (int j = 0; j < kp; j++)
            if (n->mix[in.idx[j]] >= 0) g->gmix[n->mix[in.idx[j]]] += g->dm_tmp[j];
    return DNAS_OK;
}

/* Over the k inputs that run (as gather): forward a multiply then k-1 multiply-adds per
 * element, and for a lazy BN input 2 more (the subtraction of its mean and the add of its
 * shift; a lazy pool's own work is the pool's count); backward a dot product per stored
 * input (2 per element) when a mixing-weight gradient is wanted, for a lazy input whose
 * producer's backward does not run what it takes itself (BN's two sums, 4; the pool's
 * gather and dot product), and m*dy per input gradient (+1 when added into). */
static double lazy_dot_flops(const dnas_graph *g, int v) {
    const dnas_value *x = &g->vals[v];
    const dnas_node *p = &g->nodes[x->producer];
    double ins = (double)dnas_shape_numel(g->vals[p->in[0]].shape);
    if (x->lazy == DNAS_LAZY_BN) return 4.0 * ins;
    double kk = (double)p->a.pool.k * p->a.pool.k;
    return (double)dnas_shape_numel(x->shape) * (kk + 1.0) + 2.0 * ins;
}

static double flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    double e = (double)dnas_shape_numel(g->vals[n->out].shape), f = 0.0;
    int k = 0, want_dm = 0, lazy = 0, plain_lazy = 0;
    for (int i = 0; i < n->n_in; i++) {
        const dnas_value *v = &g->vals[n->in[i]];
        if (v->producer >= 0 && !g->nodes[v->producer].active) continue;
        k++;
        int wants_m = (c->wants & DNAS_WANT_ARCH) && n->mix[i] >= 0;
        if (v->lazy) {
            lazy += v->lazy == DNAS_LAZY_BN;
            plain_lazy += v->lazy == DNAS_LAZY_POOL;
            if (c->backward && wants_m && !c->need[n->in[i]]) f += lazy_dot_flops(g, n->in[i]);
            continue;
        }
        if (wants_m) want_dm++;
        if (dnas_flop_dx(n, c, i) && v->grad_alias < 0) f += e + dnas_flop_acc(n, c, i, (size_t)e);
    }
    if (!c->backward) return k ? (2.0 * k - 1.0 + 2.0 * lazy) * e : 0.0;
    return f + (want_dm ? 2.0 * (k - lazy - plain_lazy) * e : 0.0);
}

static const dnas_op op_wsum = {"wsum", DNAS_OPF_SAVE_IN | DNAS_OPF_MIX_SUM, DNAS_KBIT(DNAS_K_WSUM), fwd, bwd, flops};

int dnas_op_wsum(dnas_graph *g, const char *name, const int *x, const int *mix, int k) {
    if (g->build_status) return -1;
    if (k <= 0) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "wsum %s: no inputs", name);
        return -1;
    }
    for (int i = 0; i < k; i++) {
        if (x[i] < 0) return -1;
        if (!dnas_shape_eq(g->vals[x[i]].shape, g->vals[x[0]].shape)) {
            dnas_shape a = g->vals[x[0]].shape, b = g->vals[x[i]].shape;
            dnas_graph_error(g, DNAS_ERR_INVALID_ARG,
                             "wsum %s: input %d shape (%d,%d,%d,%d) != (%d,%d,%d,%d)", name, i,
                             b.n, b.c, b.h, b.w, a.n, a.c, a.h, a.w);
            return -1;
        }
        if (mix && mix[i] >= g->n_mix) {
            dnas_graph_error(g, DNAS_ERR_INTERNAL, "wsum %s: mixing index %d out of range", name, mix[i]);
            return -1;
        }
    }
    int id = dnas_graph_node(g, &op_wsum, name, x, k, g->vals[x[0]].shape);
    if (id < 0) return -1;
    for (int i = 0; i < k; i++) g->nodes[id].mix[i] = mix ? mix[i] : -1;
    return g->nodes[id].out;
}

int dnas_op_add(dnas_graph *g, const char *name, int a, int b) {
    int x[2] = {a, b};
    return dnas_op_wsum(g, name, x, NULL, 2);
}
