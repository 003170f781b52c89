/* Graph construction: cheap appends into growable arrays. The first error is remembered in
 * build_status and turns later builder calls into no-ops, so a space builder can be written
 * straight-line and checks once at dnas_graph_plan. */
#include "graph.h"
#include "../core/alloc.h"
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void dnas_graph_init(dnas_graph *g, dnas_backend *be) {
    memset(g, 0, sizeof *g);
    g->be = be;
    g->training = 1;
    g->input = g->logits = g->loss = -1;
}

void dnas_graph_free(dnas_graph *g) {
    dnas_free(g->vals);
    dnas_free(g->nodes);
    dnas_free(g->params);
    dnas_free(g->bufdesc);
    dnas_free(g->w);
    dnas_free(g->gw);
    dnas_free(g->bufs);
    dnas_free(g->mix);
    dnas_free(g->gmix);
    dnas_free(g->labels);
    dnas_free(g->arena);
    dnas_free(g->dm_tmp);
    dnas_free(g->lazy_sums);
    dnas_free(g->kink_mask);
    memset(g, 0, sizeof *g);
}

dnas_status dnas_graph_error(dnas_graph *g, dnas_status st, const char *fmt, ...) {
    if (g->build_status != DNAS_OK) return g->build_status; /* keep the first error */
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g->build_status = dnas_fail(st, "%s", msg);
    return st;
}

/* Grow an array of `size`-byte elements to hold at least need elements. */
static int grow(dnas_graph *g, void **arr, int *cap, int need, size_t size, const char *what) {
    if (need <= *cap) return 1;
    if (*cap > INT_MAX / 2 || (size_t)*cap * 2 > SIZE_MAX / size) {
        /* doubling would overflow: no real network gets here */
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "graph too large: more than %d %s", *cap, what);
        return 0;
    }
    int ncap = *cap ? *cap * 2 : 64;
    while (ncap < need) ncap *= 2;
    void *p = dnas_alloc((size_t)ncap * size, what);
    if (!p) {
        g->build_status = DNAS_ERR_OOM;
        return 0;
    }
    if (*arr) memcpy(p, *arr, (size_t)*cap * size);
    dnas_free(*arr);
    *arr = p;
    *cap = ncap;
    return 1;
}

int dnas_graph_value(dnas_graph *g, dnas_shape s, int producer) {
    if (g->build_status) return -1;
    if (s.n <= 0 || s.c <= 0 || s.h <= 0 || s.w <= 0) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "impossible tensor shape (%d,%d,%d,%d)%s%s",
                         s.n, s.c, s.h, s.w, producer >= 0 ? " from node " : "",
                         producer >= 0 ? g->nodes[producer].name : "");
        return -1;
    }
    if (!grow(g, (void **)&g->vals, &g->cap_vals, g->n_vals + 1, sizeof(dnas_value), "graph values"))
        return -1;
    dnas_value *v = &g->vals[g->n_vals];
    memset(v, 0, sizeof *v);
    v->shape = s;
    v->producer = producer;
    v->last_use = -1;
    v->grad_alias = v->grad_mix = -1;
    v->skip_in = -1;
    return g->n_vals++;
}

int dnas_graph_input(dnas_graph *g, dnas_shape s) {
    int id = dnas_graph_value(g, s, -1);
    if (id >= 0) {
        g->input = id;
        g->batch = s.n;
    }
    return id;
}

int dnas_graph_param(dnas_graph *g, const char *name, dnas_shape s, int init, int fan_in) {
    if (g->build_status) return -1;
    if (!grow(g, (void **)&g->params, &g->cap_params, g->n_params + 1, sizeof(dnas_param), "graph parameters"))
        return -1;
    dnas_param *p = &g->params[g->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->shape = s;
    p->off = g->n_weights;
    p->init = init;
    p->fan_in = fan_in;
    g->n_weights += dnas_shape_numel(s);
    return g->n_params++;
}

int dnas_graph_buffer(dnas_graph *g, const char *name, size_t n) {
    if (g->build_status) return -1;
    if (!grow(g, (void **)&g->bufdesc, &g->cap_bufdesc, g->n_bufdesc + 1, sizeof(dnas_buffer), "graph buffers"))
        return -1;
    dnas_buffer *b = &g->bufdesc[g->n_bufdesc];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->off = g->n_bufs;
    b->n = n;
    g->n_bufs += n;
    return g->n_bufdesc++;
}

int dnas_graph_mix(dnas_graph *g, int n) {
    if (g->build_status) return -1;
    int first = g->n_mix;
    g->n_mix += n;
    return first;
}

int dnas_graph_node(dnas_graph *g, const dnas_op *op, const char *name, const int *in, int n_in,
                    dnas_shape out) {
    if (g->build_status) return -1;
    if (n_in > DNAS_MAX_IN) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "node %s has %d inputs (max %d)", name, n_in, DNAS_MAX_IN);
        return -1;
    }
    for (int i = 0; i < n_in; i++) {
        if (in[i] < 0 || in[i] >= g->n_vals) {
            dnas_graph_error(g, DNAS_ERR_INTERNAL, "node %s: input %d is not a value", name, i);
            return -1;
        }
    }
    if (!grow(g, (void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(dnas_node), "graph nodes"))
        return -1;
    int id = g->n_nodes;
    dnas_node *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    snprintf(n->name, sizeof n->name, "%s", name);
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        n->mix[i] = -1;
    }
    n->par[0] = n->par[1] = -1;
    n->buf[0] = n->buf[1] = -1;
    n->active = 1;
    g->n_nodes++;
    int v = dnas_graph_value(g, out, id);
    if (v < 0) {
        g->n_nodes--;
        return -1;
    }
    g->nodes[id].out = v;
    return id;
}

void dnas_graph_set_train_only(dnas_graph *g, int first, int end) {
    if (g->build_status) return;
    if (first < 0 || end > g->n_nodes || first > end) {
        dnas_graph_error(g, DNAS_ERR_INTERNAL, "training-only nodes [%d,%d) outside the %d nodes",
                         first, end, g->n_nodes);
        return;
    }
    for (int i = first; i < end; i++) g->nodes[i].train_only = 1;
}

dnas_status dnas_graph_set_kinks(dnas_graph *g, int mode) {
    if (mode == DNAS_KINKS_RECORD && !g->kink_mask) {
        /* Offsets at the planned batch: a smaller batch uses a prefix of each pattern. */
        size_t total = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            dnas_node *n = &g->nodes[i];
            if (!(n->op->flags & DNAS_OPF_KINK)) continue;
            n->kink_off = total;
            total += dnas_shape_numel(g->vals[n->out].shape);
        }
        g->kink_mask = dnas_alloc(total ? total : 1, "kink patterns");
        if (!g->kink_mask) return DNAS_ERR_OOM;
    }
    if (mode == DNAS_KINKS_FROZEN && !g->kink_mask)
        return dnas_fail(DNAS_ERR_INTERNAL, "kinks frozen before a recording forward");
    g->kinks = mode;
    return DNAS_OK;
}
