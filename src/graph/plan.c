/* Memory planning: every activation, activation gradient and per-node saved buffer gets an
 * offset in one arena. Time runs over forward (0..n-1) then backward (n..2n-1, node i's
 * backward at 2n-1-i). A value read by some backward stays alive to the end; others die after
 * their last forward consumer. A gradient lives from its first writer's backward (its last
 * consumer) to its producer's backward. Offsets are assigned greedily, first fit, in order of
 * start time: simple, and within a few percent of optimal for chain-like graphs. */
#include "graph.h"
#include "../core/alloc.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    int start, end;
    size_t size;   /* floats, rounded to 16 (64 bytes) */
    size_t *off;   /* where to write the result */
} interval;

typedef struct {
    size_t off, size;
    int end;
} live;

static int by_start(const void *a, const void *b) {
    const interval *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return 0;
}

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* Returns the arena size in floats, or (size_t)-1 on allocation failure. */
static size_t assign(interval *iv, int n_iv) {
    qsort(iv, (size_t)n_iv, sizeof *iv, by_start);
    live *act = dnas_alloc((size_t)(n_iv + 1) * sizeof *act, "memory plan");
    if (!act) return (size_t)-1;
    int n_act = 0;
    size_t peak = 0;
    for (int i = 0; i < n_iv; i++) {
        int k = 0;
        for (int j = 0; j < n_act; j++)
            if (act[j].end >= iv[i].start) act[k++] = act[j];
        n_act = k;
        size_t cand = 0;
        int pos = n_act;
        for (int j = 0; j < n_act; j++) {
            if (act[j].off >= cand + iv[i].size) {
                pos = j;
                break;
            }
            if (act[j].off + act[j].size > cand) cand = act[j].off + act[j].size;
        }
        memmove(&act[pos + 1], &act[pos], (size_t)(n_act - pos) * sizeof *act);
        act[pos] = (live){cand, iv[i].size, iv[i].end};
        n_act++;
        *iv[i].off = cand;
        if (cand + iv[i].size > peak) peak = cand + iv[i].size;
    }
    dnas_free(act);
    return peak;
}

/* Gradient aliases (graph.h, DNAS_OPF_DY_SCALE): a value whose producer can scale its output
 * gradient and whose only reader is one input of a weighted sum gets no gradient buffer; it
 * reads the sum's output gradient times the input's weight. That saves the sum writing m_i*dy
 * per input (a full pass over each op's output in every backward) and the memory of it. */
/* Whether node p is an average pool that may be left unstored (see DNAS_OPF_LAZY_POOL):
 * only then may its output gradient be an alias, since only the lazy backward scales it. */
static int lazy_pool_ok(const dnas_graph *g, const dnas_node *p) {
    return (p->op->flags & DNAS_OPF_LAZY_POOL) && !g->no_lazy_pool && g->be->supports &&
           g->be->supports(g->be, DNAS_K_LAZY_POOL) && g->be->wsum_affine_fwd &&
           g->be->avgpool_bwd_mix;
}

static dnas_status plan_grad_aliases(dnas_graph *g) {
    if (g->no_grad_alias) return DNAS_OK;
    int *readers = dnas_calloc((size_t)g->n_vals * sizeof *readers, "memory plan");
    if (!readers) return DNAS_ERR_OOM;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) readers[g->nodes[i].in[j]]++;
    for (int i = 0; i < g->n_nodes; i++) {
        const dnas_node *w = &g->nodes[i];
        if (!(w->op->flags & DNAS_OPF_MIX_SUM)) continue;
        for (int j = 0; j < w->n_in; j++) {
            int v = w->in[j], p = g->vals[v].producer;
            if (p < 0 || readers[v] != 1 ||
                !((g->nodes[p].op->flags & DNAS_OPF_DY_SCALE) || lazy_pool_ok(g, &g->nodes[p])) ||
                v == g->loss || v == g->logits || g->nodes[p].train_only != w->train_only)
                continue;
            g->vals[v].grad_alias = w->out;
            g->vals[v].grad_mix = w->mix[j];
        }
    }
    dnas_free(readers);
    return DNAS_OK;
}

/* Lazy outputs (dnas_value.lazy). A BN output with a gradient alias (so a weighted sum is
 * its only reader) is not stored when the backend can normalise inside the sum. That saves
 * BN's pass writing it, the sum's backward reading it for the mixing-weight gradient (BN's
 * backward sums give that), and its memory, which was kept for the whole step. An average
 * pool's aliased output (aliased only when it can be lazy) is likewise left to the sum, which
 * pools the pool's input, kept for the step, in the same pass as its other inputs. Returns
 * the widest lazy BN's channel count (0: none). */
static int plan_lazy(dnas_graph *g) {
    int widest = 0;
    const int bn_ok = !g->no_lazy_bn && g->be->supports && g->be->supports(g->be, DNAS_K_LAZY_BN) &&
                      g->be->wsum_affine_fwd && g->be->bn_bwd_sums;
    for (int v = 0; v < g->n_vals; v++) {
        dnas_value *x = &g->vals[v];
        if (x->grad_alias < 0 || x->producer < 0) continue;
        dnas_node *p = &g->nodes[x->producer];
        if (lazy_pool_ok(g, p)) {
            x->lazy = DNAS_LAZY_POOL;
            g->vals[p->in[0]].keep = 1;
            continue;
        }
        if (!bn_ok || !(p->op->flags & DNAS_OPF_LAZY_AFFINE)) continue;
        x->lazy = DNAS_LAZY_BN;
        p->scratch_n = 5 * (size_t)x->shape.c; /* + the sum's mean, scale, shift */
        if (x->shape.c > widest) widest = x->shape.c;
    }
    return widest;
}

/* A lazy pool's input that the same sum also reads plainly (its skip): the pool's backward
 * takes that input's terms too (dnas_value.skip_in), where the backend can, the two have one
 * shape (a stride-1 pool), the input's gradient is its own and the sum reads it once. The
 * skip's gradient is then written when the pool's backward runs, not the sum's, so no node
 * between the two (in node order) may read the input: its backward would add into that
 * gradient in between, before it was written. */
static void plan_pool_skips(dnas_graph *g) {
    if (g->no_pool_skip || !g->be->avgpool_bwd_mix_skip) return;
    for (int wi = 0; wi < g->n_nodes; wi++) {
        const dnas_node *w = &g->nodes[wi];
        if (!(w->op->flags & DNAS_OPF_MIX_SUM)) continue;
        for (int j = 0; j < w->n_in; j++) {
            dnas_value *pv = &g->vals[w->in[j]];
            if (pv->lazy != DNAS_LAZY_POOL) continue;
            const int pi = pv->producer, x = g->nodes[pi].in[0];
            const dnas_value *xv = &g->vals[x];
            if (!dnas_shape_eq(xv->shape, pv->shape) || xv->lazy || xv->grad_alias >= 0) continue;
            int skip = -1, reads = 0;
            for (int i = 0; i < w->n_in; i++)
                if (w->in[i] == x) skip = i, reads++;
            for (int q = pi + 1; q < wi && reads == 1; q++)
                for (int i = 0; i < g->nodes[q].n_in; i++)
                    if (g->nodes[q].in[i] == x) reads++;
            if (reads == 1) pv->skip_in = skip;
        }
    }
}

dnas_status dnas_graph_plan(dnas_graph *g) {
    if (g->build_status) return g->build_status;
    if (g->planned) return dnas_fail(DNAS_ERR_INTERNAL, "graph planned twice");
    if (g->loss < 0) return dnas_fail(DNAS_ERR_INTERNAL, "graph has no loss node");
    int n = g->n_nodes, T = 2 * n;
    /* Refuse now, naming the node, rather than fail (or call a NULL kernel) mid-step: a
     * backend may fill only part of the vtable. */
    if (!g->be) return dnas_fail(DNAS_ERR_INTERNAL, "graph planned without a backend");
    for (int i = 0; i < n; i++) {
        const dnas_node *nd = &g->nodes[i];
        for (int k = 0; k < (int)DNAS_K_COUNT; k++)
            if ((nd->op->kernels & DNAS_KBIT(k)) &&
                !(g->be->supports && g->be->supports(g->be, (dnas_kernel_kind)k)))
                return dnas_fail(DNAS_ERR_UNSUPPORTED,
                                 "backend %s has no %s kernels, needed by node %s (op %s)",
                                 g->be->name ? g->be->name : "?",
                                 dnas_kernel_name((dnas_kernel_kind)k), nd->name, nd->op->name);
    }

    for (int v = 0; v < g->n_vals; v++) {
        g->vals[v].last_use = -1;
        g->vals[v].keep = g->vals[v].producer < 0;
    }
    for (int i = 0; i < n; i++) {
        dnas_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_in; j++) {
            dnas_value *v = &g->vals[nd->in[j]];
            if (i > v->last_use) v->last_use = i;
            if (nd->op->flags & DNAS_OPF_SAVE_IN) v->keep = 1;
        }
        if (nd->op->flags & DNAS_OPF_SAVE_OUT) g->vals[nd->out].keep = 1;
    }
    g->vals[g->loss].keep = 1;
    if (g->logits >= 0) g->vals[g->logits].keep = 1;

    DNAS_TRY(plan_grad_aliases(g));
    int lazy_c = plan_lazy(g);
    plan_pool_skips(g);

    int n_iv = 2 * g->n_vals + n;
    interval *iv = dnas_alloc((size_t)n_iv * sizeof *iv, "memory plan");
    /* alias_end[v]: the latest backward that reads v's gradient through an alias of it (the
     * aliasing value's producer's), -1 when none. */
    int *alias_end = dnas_alloc((size_t)g->n_vals * sizeof *alias_end, "memory plan");
    if (!iv || !alias_end) {
        dnas_free(iv);
        dnas_free(alias_end);
        return DNAS_ERR_OOM;
    }
    for (int v = 0; v < g->n_vals; v++) alias_end[v] = -1;
    for (int v = 0; v < g->n_vals; v++) {
        const dnas_value *x = &g->vals[v];
        if (x->grad_alias >= 0 && T - 1 - x->producer > alias_end[x->grad_alias])
            alias_end[x->grad_alias] = T - 1 - x->producer;
    }
    int k = 0;
    for (int v = 0; v < g->n_vals; v++) {
        dnas_value *x = &g->vals[v];
        size_t sz = round16(dnas_shape_numel(x->shape));
        int start = x->producer < 0 ? 0 : x->producer;
        int end = x->keep ? T : (x->last_use < 0 ? start : x->last_use);
        if (!x->lazy) iv[k++] = (interval){start, end, sz, &x->data_off};
        if (x->grad_alias >= 0) continue; /* shares its reader's output gradient */
        int gstart = x->last_use < 0 ? T - 1 - (x->producer < 0 ? 0 : x->producer) : T - 1 - x->last_use;
        int gend = x->producer < 0 ? T : T - 1 - x->producer;
        if (alias_end[v] > gend) gend = alias_end[v]; /* an aliased input still reads it */
        iv[k++] = (interval){gstart, gend, sz, &x->grad_off};
    }
    for (int i = 0; i < n; i++) {
        dnas_node *nd = &g->nodes[i];
        if (nd->scratch_n) iv[k++] = (interval){0, T, round16(nd->scratch_n), &nd->scratch_off};
    }
    size_t floats = assign(iv, k);
    dnas_free(iv);
    dnas_free(alias_end);
    if (floats == (size_t)-1) return DNAS_ERR_OOM;

    g->arena_floats = floats;
    g->peak_bytes = floats * sizeof(float);
    g->arena = dnas_alloc(floats * sizeof(float), "activation arena");
    g->w = dnas_calloc((g->n_weights ? g->n_weights : 1) * sizeof(float), "weights");
    g->gw = dnas_calloc((g->n_weights ? g->n_weights : 1) * sizeof(float), "weight gradients");
    g->bufs = dnas_calloc((g->n_bufs ? g->n_bufs : 1) * sizeof(float), "BN running statistics");
    g->mix = dnas_calloc((size_t)(g->n_mix ? g->n_mix : 1) * sizeof(float), "mixing weights");
    g->gmix = dnas_calloc((size_t)(g->n_mix ? g->n_mix : 1) * sizeof(float), "mixing-weight gradients");
    g->labels = dnas_calloc((size_t)(g->batch > 0 ? g->batch : 1) * sizeof(int), "labels");
    g->dm_tmp = dnas_calloc(DNAS_MAX_IN * sizeof(float), "mixing scratch");
    if (lazy_c) g->lazy_sums = dnas_calloc(2 * (size_t)lazy_c * sizeof(double), "lazy BN sums");
    if (!g->arena || !g->w || !g->gw || !g->bufs || !g->mix || !g->gmix || !g->labels ||
        !g->dm_tmp || (lazy_c && !g->lazy_sums))
        return DNAS_ERR_OOM;
    /* Activations are fully overwritten before being read; zeroing once keeps valgrind and
     * debugging honest and costs nothing per step. */
    memset(g->arena, 0, floats * sizeof(float));
    for (int v = 0; v < g->n_vals; v++) {
        dnas_value *x = &g->vals[v];
        if (x->grad_alias >= 0) x->grad_off = g->vals[x->grad_alias].grad_off;
        x->data = x->lazy ? NULL : g->arena + x->data_off;
        x->grad = g->arena + x->grad_off;
    }
    for (int i = 0; i < n; i++)
        if (g->nodes[i].scratch_n) g->nodes[i].scratch = g->arena + g->nodes[i].scratch_off;
    g->batch_now = g->batch;
    g->planned = 1;
    return DNAS_OK;
}
