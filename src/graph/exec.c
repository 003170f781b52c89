/* Running a planned graph: forward in node order, backward in reverse with a `wants` mask.
 * Which values need a gradient is derived per call from `wants`, so an arch step
 * (DNAS_WANT_ARCH) never runs weight-gradient kernels nor backpropagates into the part of the
 * network upstream of the first mixed node. */
#include "graph.h"
#include "../core/clock.h"
#include "../core/rng.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static int prof_slot(dnas_graph *g, const char *op) {
    for (int i = 0; i < g->n_prof; i++)
        if (g->prof[i].op == op) return i;
    if (g->n_prof == 32) return 31;
    g->prof[g->n_prof].op = op;
    return g->n_prof++;
}

void dnas_graph_profile(dnas_graph *g, int on) {
    g->profile = on;
    g->n_prof = 0;
    memset(g->prof, 0, sizeof g->prof);
}

void dnas_graph_profile_print(const dnas_graph *g, void *file) {
    FILE *f = file;
    double tf = 0, tb = 0;
    for (int i = 0; i < g->n_prof; i++) {
        tf += g->prof[i].fwd_s;
        tb += g->prof[i].bwd_s;
    }
    fprintf(f, "%-12s %10s %8s %10s %8s\n", "op", "fwd ms", "calls", "bwd ms", "calls");
    for (int i = 0; i < g->n_prof; i++)
        fprintf(f, "%-12s %10.1f %8ld %10.1f %8ld\n", g->prof[i].op, 1e3 * g->prof[i].fwd_s,
                g->prof[i].fwd_n, 1e3 * g->prof[i].bwd_s, g->prof[i].bwd_n);
    fprintf(f, "%-12s %10.1f %8s %10.1f\n", "total", 1e3 * tf, "", 1e3 * tb);
}

dnas_status dnas_graph_forward(dnas_graph *g) {
    if (!g->planned) return dnas_fail(DNAS_ERR_INTERNAL, "graph run before planning");
    if (g->count_flops) g->flops_done += dnas_graph_flops_forward(g);
    for (int i = 0; i < g->n_nodes; i++) {
        dnas_node *n = &g->nodes[i];
        if (!dnas_node_runs(g, n)) continue;
        if (g->profile) {
            double t = dnas_now_s();
            DNAS_TRY(n->op->forward(g, n));
            int k = prof_slot(g, n->op->name);
            g->prof[k].fwd_s += dnas_now_s() - t;
            g->prof[k].fwd_n++;
            continue;
        }
        DNAS_TRY(n->op->forward(g, n));
    }
    return DNAS_OK;
}

static int node_has_wanted(const dnas_graph *g, const dnas_node *n, unsigned wants) {
    if ((wants & DNAS_WANT_WEIGHTS) && (n->par[0] >= 0 || n->par[1] >= 0)) return 1;
    if (wants & DNAS_WANT_ARCH)
        for (int i = 0; i < n->n_in; i++)
            if (n->mix[i] >= 0) return 1;
    (void)g;
    return 0;
}

/* g->gmix_out (graph.h): the node's output-gradient sum, to every mixing weight it reads. */
static void add_out_grad_sum(dnas_graph *g, const dnas_node *n) {
    int reads = 0;
    for (int j = 0; j < n->n_in; j++) reads |= n->mix[j] >= 0;
    if (!reads) return;
    const dnas_value *out = &g->vals[n->out];
    size_t len = dnas_shape_numel(out->shape);
    double sum = 0.0;
    for (size_t b = 0; b < len; b += 4096) {
        float part = 0.0f;
        for (size_t i = b; i < len && i < b + 4096; i++) part += out->grad[i];
        sum += part;
    }
    for (int j = 0; j < n->n_in; j++)
        if (n->mix[j] >= 0) g->gmix_out[n->mix[j]] += (float)sum;
}

dnas_status dnas_graph_backward(dnas_graph *g, unsigned wants) {
    if (!g->planned) return dnas_fail(DNAS_ERR_INTERNAL, "graph run before planning");
    if (g->count_flops) {
        double f;
        DNAS_TRY(dnas_graph_flops_backward(g, wants, &f));
        g->flops_done += f;
    }
    for (int v = 0; v < g->n_vals; v++) {
        g->vals[v].needs_grad = 0;
        g->vals[v].grad_written = 0;
    }
    if (g->input >= 0) g->vals[g->input].needs_grad = (wants & DNAS_WANT_INPUTS) ? 1 : 0;
    for (int i = 0; i < g->n_nodes; i++) {
        dnas_node *n = &g->nodes[i];
        if (!dnas_node_runs(g, n)) continue;
        int need = node_has_wanted(g, n, wants);
        for (int j = 0; j < n->n_in && !need; j++) need = g->vals[n->in[j]].needs_grad;
        g->vals[n->out].needs_grad = (uint8_t)need;
    }
    dnas_value *loss = &g->vals[g->loss];
    if (!loss->needs_grad) return DNAS_OK; /* nothing wanted depends on the loss */
    loss->grad[0] = 1.0f;
    loss->grad_written = 1;

    for (int i = g->n_nodes - 1; i >= 0; i--) {
        dnas_node *n = &g->nodes[i];
        dnas_value *out = &g->vals[n->out];
        if (!dnas_node_runs(g, n) || !out->needs_grad) continue;
        if (!out->grad_written) {
            /* Needed by the wanted set but no consumer reached the loss: its gradient is zero. */
            memset(out->grad, 0, dnas_shape_numel(out->shape) * sizeof(float));
            out->grad_written = 1;
        }
        /* A value used twice by one node (add(x, x): a skip_connect pair on one state) must
         * have its second gradient added to the first: ops write their inputs in index order. */
        for (int j = 0; j < n->n_in; j++) {
            int acc = g->vals[n->in[j]].grad_written;
            for (int k = 0; k < j && !acc; k++) acc = n->in[k] == n->in[j];
            n->acc[j] = acc;
        }
        if (g->gmix_out && (wants & DNAS_WANT_ARCH)) add_out_grad_sum(g, n);
        if (g->profile) {
            double t = dnas_now_s();
            DNAS_TRY(n->op->backward(g, n, wants));
            int k = prof_slot(g, n->op->name);
            g->prof[k].bwd_s += dnas_now_s() - t;
            g->prof[k].bwd_n++;
        } else {
            DNAS_TRY(n->op->backward(g, n, wants));
        }
        for (int j = 0; j < n->n_in; j++)
            if (g->vals[n->in[j]].needs_grad) g->vals[n->in[j]].grad_written = 1;
    }
    return DNAS_OK;
}

void dnas_graph_zero_grads(dnas_graph *g, unsigned wants) {
    if ((wants & DNAS_WANT_WEIGHTS) && g->gw) memset(g->gw, 0, g->n_weights * sizeof(float));
    if ((wants & DNAS_WANT_ARCH) && g->gmix) memset(g->gmix, 0, (size_t)g->n_mix * sizeof(float));
    if ((wants & DNAS_WANT_ARCH) && g->gmix_out) memset(g->gmix_out, 0, (size_t)g->n_mix * sizeof(float));
}

void dnas_graph_init_weights(dnas_graph *g, uint64_t seed) {
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        float *w = g->w + p->off;
        size_t n = dnas_shape_numel(p->shape);
        /* One Philox stream per parameter: adding a layer elsewhere does not change this one. */
        dnas_rng r = dnas_rng_make(seed, 0x1000u + (uint64_t)i);
        switch (p->init) {
        case DNAS_INIT_ZERO: memset(w, 0, n * sizeof(float)); break;
        case DNAS_INIT_ONE:
            for (size_t k = 0; k < n; k++) w[k] = 1.0f;
            break;
        case DNAS_INIT_UNIFORM_FAN_IN: {
            float bound = 1.0f / sqrtf((float)(p->fan_in > 0 ? p->fan_in : 1));
            for (size_t k = 0; k < n; k++) w[k] = (2.0f * dnas_rng_uniform(&r) - 1.0f) * bound;
            break;
        }
        }
    }
    /* BN running statistics: mean 0, var 1 (buffers are registered as mean then var). */
    for (int b = 0; b < g->n_bufdesc; b++) {
        dnas_buffer *d = &g->bufdesc[b];
        float v = strstr(d->name, "running_var") ? 1.0f : 0.0f;
        for (size_t k = 0; k < d->n; k++) g->bufs[d->off + k] = v;
    }
}

dnas_status dnas_graph_set_batch(dnas_graph *g, int n) {
    if (n <= 0 || n > g->batch)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "batch of %d images, the graph is planned for 1..%d",
                         n, g->batch);
    if (n == g->batch_now) return DNAS_OK;
    for (int v = 0; v < g->n_vals; v++)
        if (v != g->loss && !g->vals[v].scalar) g->vals[v].shape.n = n;
    g->batch_now = n;
    return DNAS_OK;
}
