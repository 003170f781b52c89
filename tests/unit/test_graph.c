/* The graph layer: a small network using every op, checked by finite differences at the level
 * of the whole graph (weights, mixing weights, input), the `wants` mask (an arch-only backward
 * touches no weight gradient, runs no conv weight kernel, skips the part upstream of the mix),
 * inactive nodes, the liveness plan (no two live regions share memory; results equal those with
 * private NaN-poisoned memory for everything), and running a smaller batch on a planned graph. */
#include "test.h"
#include "ops/ops.h"
#include "core/rng.h"

typedef struct {
    dnas_backend *be;
    dnas_graph g;
    int pool_node; /* node index of the avg-pool candidate */
} net;

static int no_alias; /* build: plan without gradient aliases (test_grad_alias) */
static int no_lazy;  /* build: store every BN and pool output (test_lazy_bn_matches_stored) */
static int skip_bn;  /* build: the skip op followed by an affine BN with running statistics */
/* build: the skip input is the pooled tensor itself, as in NB201's cells (else an identity
 * op's copy of it), so the pool's backward takes the skip's terms (dnas_value.skip_in) unless
 * no_pool_skip */
static int pair_skip, no_pool_skip;
/* build: the pool op made last before the mixed node, after the other readers of its input
 * (else before them: their backward would add into the input's gradient between the sum's
 * and the pool's, so the pool may not take the skip) */
static int late_pool;

static int build(net *t, int batch, int with_kinks) {
    dnas_graph *g = &t->g;
    dnas_graph_init(g, t->be);
    g->no_grad_alias = no_alias;
    g->no_lazy_bn = no_lazy;
    g->no_lazy_pool = no_lazy;
    g->no_pool_skip = no_pool_skip;
    int x = dnas_graph_input(g, dnas_shape4(batch, 3, 8, 8));
    int m = dnas_graph_mix(g, 6);
    x = dnas_op_conv2d(g, "stem.conv", x, 8, 3, 1, 1, 1, 1, 1);
    x = dnas_op_batchnorm(g, "stem.bn", x, 1, 1);
    int r = dnas_op_relu(g, "relu", x);
    int c1 = dnas_op_conv2d(g, "c1", r, 8, 1, 1, 0, 1, 1, 1);
    c1 = dnas_op_batchnorm(g, "c1.bn", c1, 0, 0);
    int dw = dnas_op_conv2d(g, "dw", r, 8, 3, 1, 2, 2, 8, 0);
    int p = late_pool ? -1 : dnas_op_avgpool(g, "pool", x, 3, 1, 1, 0);
    int id = pair_skip ? x : dnas_op_identity(g, "skip", x);
    /* c1.bn (no affine, no running statistics) and skip.bn (both) are read by the mixed node
     * only: lazy BN outputs (graph.h), unless no_lazy. skip.bn is not in the finite-difference
     * net: it makes the float differences cross ReLU kinks. */
    if (skip_bn) id = dnas_op_batchnorm(g, "skip.bn", id, 1, 1);
    int z = dnas_op_zero(g, "none", x, 1);
    int mp = with_kinks ? dnas_op_maxpool(g, "maxpool", x, 3, 1, 1) : dnas_op_identity(g, "skip2", r);
    if (late_pool) p = dnas_op_avgpool(g, "pool", x, 3, 1, 1, 0);
    t->pool_node = g->vals[p].producer;
    int in[6] = {z, id, c1, dw, p, mp}, mix[6] = {m, m + 1, m + 2, m + 3, m + 4, m + 5};
    int node = dnas_op_wsum(g, "node", in, mix, 6);
    int y = dnas_op_conv2d(g, "down", node, 16, 3, 2, 1, 1, 1, 0);
    y = dnas_op_batchnorm(g, "down.bn", y, 1, 0);
    y = dnas_op_relu(g, "relu2", y);
    int a = dnas_op_slice(g, "lo", y, 0, 6), b = dnas_op_slice(g, "hi", y, 6, 10);
    int cat[2] = {b, a};
    y = dnas_op_concat(g, "cat", cat, 2);
    int sh = dnas_op_avgpool(g, "down2", y, 2, 2, 0, 1);
    y = dnas_op_add(g, "res", sh, dnas_op_identity(g, "sh", sh));
    y = dnas_op_gap(g, "gap", y);
    y = dnas_op_linear(g, "fc", y, 5);
    dnas_op_xent(g, "loss", y);
    if (dnas_graph_plan(g) != DNAS_OK) {
        printf("  plan: %s\n", dnas_last_error());
        return 0;
    }
    dnas_graph_init_weights(g, 3);
    dnas_rng rng = dnas_rng_make(5, 1);
    dnas_value *in0 = &g->vals[g->input];
    for (size_t i = 0; i < dnas_shape_numel(in0->shape); i++) in0->data[i] = dnas_rng_normal(&rng);
    for (int i = 0; i < batch; i++) g->labels[i] = (int)dnas_rng_below(&rng, 5);
    for (int i = 0; i < 6; i++) g->mix[i] = 0.1f + 0.15f * (float)i;
    /* BN affine parameters away from their init so their gradients are not special. */
    for (int i = 0; i < g->n_params; i++)
        if (g->params[i].init != DNAS_INIT_UNIFORM_FAN_IN)
            for (size_t k = 0; k < dnas_shape_numel(g->params[i].shape); k++)
                g->w[g->params[i].off + k] += 0.2f * dnas_rng_normal(&rng);
    return 1;
}

static double loss_at(dnas_graph *g) {
    if (dnas_graph_forward(g) != DNAS_OK) return NAN;
    return g->loss_value;
}

/* 4-point central difference of the loss along one float (the float32 graph: the step trades
 * rounding noise against truncation error), compared with the analytic gradient. */
static int fd_check(dnas_graph *g, float *p, float analytic, double *worst, const char *what) {
    float keep = *p;
    double l[4], hs[4] = {-2, -1, 1, 2}, h = 3e-3;
    for (int i = 0; i < 4; i++) {
        *p = keep + (float)(hs[i] * h);
        l[i] = loss_at(g);
    }
    *p = keep;
    double num = (8 * (l[2] - l[1]) - (l[3] - l[0])) / (12 * h);
    double err = fabs(num - analytic) / fmax(fabs(num), 3e-3);
    if (err > *worst) *worst = err;
    if (err > 3e-2) {
        printf("  %s: analytic %.6g numeric %.6g (rel %.3g)\n", what, analytic, num, err);
        return 0;
    }
    return 1;
}

static void graph_finite_differences(void) {
    net t;
    CHECK(dnas_backend_cpu_create(1, &t.be) == DNAS_OK, "backend");
    CHECK(build(&t, 4, 0), "build");
    dnas_graph *g = &t.g;
    const int paired = g->vals[g->nodes[t.pool_node].out].skip_in >= 0;
    CHECK(paired == (pair_skip && late_pool), "pool paired with a skip: %d, want %d", paired,
          pair_skip && late_pool);
    CHECK(dnas_graph_forward(g) == DNAS_OK, "%s", dnas_last_error());
    dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH);
    CHECK(dnas_graph_backward(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH | DNAS_WANT_INPUTS) == DNAS_OK, "%s", dnas_last_error());
    size_t nw = g->n_weights;
    float *gw = malloc(nw * sizeof(float)), gm[6];
    memcpy(gw, g->gw, nw * sizeof(float));
    memcpy(gm, g->gmix, sizeof gm);
    dnas_value *in = &g->vals[g->input];
    size_t nin = dnas_shape_numel(in->shape);
    float *gx = malloc(nin * sizeof(float));
    memcpy(gx, in->grad, nin * sizeof(float));
    double worst = 0;
    int bad = 0, n = 0;
    /* Every mixing weight but 'none' (index 0, whose gradient is exactly 0). */
    CHECK(gm[0] == 0.0f, "d/dm of the zero op is %g, want exactly 0", (double)gm[0]);
    for (int i = 1; i < 6; i++, n++) bad += !fd_check(g, &g->mix[i], gm[i], &worst, "mix");
    /* Three entries of every parameter tensor. */
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        size_t cnt = dnas_shape_numel(p->shape);
        /* Conv biases right before batch-stat BN have a true gradient of zero: skip them. */
        if ((!strcmp(p->name, "c1.bias"))) continue;
        for (size_t k = 0; k < cnt; k += cnt / 3 + 1, n++)
            bad += !fd_check(g, &g->w[p->off + k], gw[p->off + k], &worst, p->name);
    }
    for (size_t k = 0; k < nin; k += nin / 7 + 1, n++) bad += !fd_check(g, &in->data[k], gx[k], &worst, "input");
    printf("  %d gradient entries (weights, mix, input) vs central differences in float%s: worst rel err %.3g\n",
           n, paired ? " (the skip taken by the pool's backward)" : "", worst);
    CHECK(bad == 0, "%d of %d entries disagree", bad, n);
    free(gw);
    free(gx);
    dnas_graph_free(g);
    dnas_backend_destroy(t.be);
}

static void test_graph_finite_differences(void) {
    graph_finite_differences();
    pair_skip = late_pool = 1;
    graph_finite_differences();
    pair_skip = late_pool = 0;
}

static void test_wants_mask(void) {
    net t;
    CHECK(dnas_backend_cpu_create(1, &t.be) == DNAS_OK, "backend");
    CHECK(build(&t, 4, 1), "build");
    dnas_graph *g = &t.g;
    CHECK(dnas_graph_forward(g) == DNAS_OK, "%s", dnas_last_error());
    dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH);
    CHECK(dnas_graph_backward(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH) == DNAS_OK, "%s", dnas_last_error());
    float gm_all[6];
    memcpy(gm_all, g->gmix, sizeof gm_all);
    dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH);
    dnas_graph_profile(g, 1);
    CHECK(dnas_graph_backward(g, DNAS_WANT_ARCH) == DNAS_OK, "%s", dnas_last_error());
    int nonzero = 0;
    for (size_t i = 0; i < g->n_weights; i++) nonzero += g->gw[i] != 0.0f;
    CHECK(nonzero == 0, "an arch-only backward wrote %d weight gradients", nonzero);
    CHECK(memcmp(gm_all, g->gmix, sizeof gm_all) == 0, "arch gradients differ with and without weight gradients");
    long conv_bwd = 0, bn_bwd = 0;
    for (int i = 0; i < g->n_prof; i++) {
        if (!strcmp(g->prof[i].op, "conv2d")) conv_bwd = g->prof[i].bwd_n;
        if (!strcmp(g->prof[i].op, "batchnorm")) bn_bwd = g->prof[i].bwd_n;
    }
    /* Only the conv and BN after the mixed node lie on a path from alpha to the loss. */
    printf("  arch-only backward: %ld conv and %ld BN backward calls (of 4 and 3), no weight gradient\n", conv_bwd, bn_bwd);
    CHECK(conv_bwd == 1 && bn_bwd == 1, "arch-only backward ran %ld conv / %ld BN backwards, want 1 / 1", conv_bwd, bn_bwd);
    dnas_graph_profile(g, 0);
    dnas_graph_free(g);
    dnas_backend_destroy(t.be);
}

static void test_inactive_node_equals_zero_weight(void) {
    net t;
    CHECK(dnas_backend_cpu_create(2, &t.be) == DNAS_OK, "backend");
    CHECK(build(&t, 4, 1), "build");
    dnas_graph *g = &t.g;
    float keep = g->mix[4];
    g->mix[4] = 0.0f;
    double l_zero = loss_at(g);
    g->mix[4] = keep;
    g->nodes[t.pool_node].active = 0;
    double l_off = loss_at(g);
    printf("  loss with the pool op's weight 0: %.9f, with the pool node switched off: %.9f\n", l_zero, l_off);
    CHECK(fabs(l_zero - l_off) < 1e-6, "switching a node off differs from a zero weight");
    dnas_graph_zero_grads(g, DNAS_WANT_ARCH);
    CHECK(dnas_graph_backward(g, DNAS_WANT_ARCH) == DNAS_OK, "%s", dnas_last_error());
    CHECK(g->gmix[4] == 0.0f, "an inactive op got a mixing gradient %g", (double)g->gmix[4]);
    g->nodes[t.pool_node].active = 1;
    dnas_graph_free(g);
    dnas_backend_destroy(t.be);
}

static void test_plan_reuses_memory(void) {
    net t;
    CHECK(dnas_backend_cpu_create(1, &t.be) == DNAS_OK, "backend");
    CHECK(build(&t, 16, 1), "build");
    dnas_graph *g = &t.g;
    size_t all = 0;
    for (int v = 0; v < g->n_vals; v++) all += 2 * dnas_shape_numel(g->vals[v].shape) * sizeof(float);
    printf("  planned arena %zu bytes for %zu bytes of values and gradients\n", g->peak_bytes, all);
    CHECK(g->peak_bytes < all, "the plan reuses no memory");
    dnas_graph_free(g);
    dnas_backend_destroy(t.be);
}

/* One planned region: [off, off + n) floats of the arena, in use over steps [t0, t1]. */
typedef struct {
    size_t off, n;
    int t0, t1;
    char what[80];
} region;

/* Every data, gradient and saved buffer with the steps it must survive, derived here from the
 * graph's structure (time: forward of node i at i, its backward at 2n-1-i): a value lives from
 * its producer's forward to its last forward reader, or to the end of the step when a backward
 * reads it (its consumer saves inputs, its producer saves outputs, or it is the input, loss or
 * logits); a gradient from its last consumer's backward (its first writer) to its producer's
 * backward; a node's saved buffer for the whole step. */
static int plan_regions(dnas_graph *g, region *r) {
    int n = g->n_nodes, T = 2 * n, k = 0;
    for (int v = 0; v < g->n_vals; v++) {
        dnas_value *x = &g->vals[v];
        int prod = x->producer, last = -1;
        int kept = prod < 0 || v == g->loss || v == g->logits ||
                   (prod >= 0 && (g->nodes[prod].op->flags & DNAS_OPF_SAVE_OUT));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < g->nodes[i].n_in; j++)
                if (g->nodes[i].in[j] == v) {
                    last = i;
                    if (g->nodes[i].op->flags & DNAS_OPF_SAVE_IN) kept = 1;
                }
        int start = prod < 0 ? 0 : prod;
        size_t numel = dnas_shape_numel(x->shape);
        /* A lazy BN output (graph.h) has no data: its reader reads the BN's input, which BN's
         * backward keeps alive anyway. */
        if (x->lazy) CHECK(x->data == NULL, "lazy value %d has data", v);
        if (!x->lazy) {
            r[k] = (region){(size_t)(x->data - g->arena), numel, start, kept ? T : (last < 0 ? start : last), ""};
            snprintf(r[k++].what, sizeof r[0].what, "value %d (%s)", v, prod < 0 ? "input" : g->nodes[prod].name);
        }
        /* A gradient alias (graph.h) has no region of its own: it keeps its target's alive
         * until the aliasing value's producer has run backward. */
        if (x->grad_alias >= 0) continue;
        int gend = prod < 0 ? T : T - 1 - prod;
        for (int a = 0; a < g->n_vals; a++)
            if (g->vals[a].grad_alias == v && T - 1 - g->vals[a].producer > gend) gend = T - 1 - g->vals[a].producer;
        r[k] = (region){(size_t)(x->grad - g->arena), numel, last < 0 ? T - 1 - start : T - 1 - last, gend, ""};
        snprintf(r[k++].what, sizeof r[0].what, "grad of value %d (%s)", v, prod < 0 ? "input" : g->nodes[prod].name);
    }
    for (int i = 0; i < n; i++)
        if (g->nodes[i].scratch_n) {
            r[k] = (region){(size_t)(g->nodes[i].scratch - g->arena), g->nodes[i].scratch_n, 0, T, ""};
            snprintf(r[k++].what, sizeof r[0].what, "saved buffer of %s", g->nodes[i].name);
        }
    return k;
}

/* No two regions alive at the same step may share a float of the arena (pairwise), and every
 * region lies inside the arena. Also checks the plan does reuse memory, so that the pairwise
 * check is not vacuous. */
static void test_plan_live_regions_disjoint(void) {
    net t;
    CHECK(dnas_backend_cpu_create(1, &t.be) == DNAS_OK, "backend");
    CHECK(build(&t, 16, 1), "build");
    dnas_graph *g = &t.g;
    region *r = malloc((size_t)(2 * g->n_vals + g->n_nodes) * sizeof *r);
    int nr = plan_regions(g, r), clashes = 0, reused = 0;
    for (int i = 0; i < nr; i++) {
        CHECK(r[i].off + r[i].n <= g->arena_floats, "%s lies outside the arena", r[i].what);
        for (int j = i + 1; j < nr; j++) {
            int mem = r[i].off < r[j].off + r[j].n && r[j].off < r[i].off + r[i].n;
            int time = r[i].t0 <= r[j].t1 && r[j].t0 <= r[i].t1;
            if (mem && !time) reused++;
            if (mem && time) {
                if (clashes++ < 5)
                    printf("  %s [steps %d..%d] and %s [steps %d..%d] share arena floats %zu..%zu\n",
                           r[i].what, r[i].t0, r[i].t1, r[j].what, r[j].t0, r[j].t1,
                           r[i].off > r[j].off ? r[i].off : r[j].off,
                           (r[i].off + r[i].n < r[j].off + r[j].n ? r[i].off + r[i].n : r[j].off + r[j].n) - 1);
            }
        }
    }
    printf("  %d planned regions: %d pairs share memory at disjoint times, %d pairs while both live\n", nr, reused, clashes);
    CHECK(clashes == 0, "%d pairs of live regions overlap in the arena", clashes);
    CHECK(reused > 0, "no region reuses another's memory: the check above proves nothing");
    free(r);
    dnas_graph_free(g);
    dnas_backend_destroy(t.be);
}

typedef struct {
    double loss;
    float *gw, *gx, gm[6], *logits;
} step_result;

/* Poison the whole arena with NaN but the input images, then forward and backward. */
static void poisoned_step(dnas_graph *g, float *arena, size_t n_arena, step_result *out) {
    dnas_value *in = &g->vals[g->input];
    size_t nin = dnas_shape_numel(in->shape);
    float *x = malloc(nin * sizeof(float));
    memcpy(x, in->data, nin * sizeof(float));
    for (size_t i = 0; i < n_arena; i++) arena[i] = NAN;
    memcpy(in->data, x, nin * sizeof(float));
    free(x);
    out->loss = loss_at(g);
    dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH);
    CHECK(dnas_graph_backward(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH | DNAS_WANT_INPUTS) == DNAS_OK, "%s", dnas_last_error());
    size_t nl = dnas_shape_numel(g->vals[g->logits].shape);
    out->gw = malloc(g->n_weights * sizeof(float));
    out->gx = malloc(nin * sizeof(float));
    out->logits = malloc(nl * sizeof(float));
    memcpy(out->gw, g->gw, g->n_weights * sizeof(float));
    memcpy(out->gx, in->grad, nin * sizeof(float));
    memcpy(out->gm, g->gmix, sizeof out->gm);
    memcpy(out->logits, g->vals[g->logits].data, nl * sizeof(float));
}

/* Releases k built nets and their step results. */
static void free_runs(net *t, step_result *r, int k) {
    for (int i = 0; i < k; i++) {
        free(r[i].gw), free(r[i].gx), free(r[i].logits);
        dnas_graph_free(&t[i].g);
        dnas_backend_destroy(t[i].be);
    }
}

/* The planned arena against private, NaN-filled memory for every value, gradient and saved
 * buffer (nothing shared): forward and backward must give bit-identical loss, logits and
 * gradients of the weights, mixing weights and input. Reusing memory that is still live, or
 * reading memory before this step wrote it, shows as a difference or a NaN. */
static void test_plan_matches_private_buffers(void) {
    net t;
    CHECK(dnas_backend_cpu_create(1, &t.be) == DNAS_OK, "backend");
    CHECK(build(&t, 16, 1), "build");
    dnas_graph *g = &t.g;
    step_result a, b;
    poisoned_step(g, g->arena, g->arena_floats, &a);
    /* Re-point everything at private memory (the same floats laid out without any sharing). */
    region *r = malloc((size_t)(2 * g->n_vals + g->n_nodes) * sizeof *r);
    int nr = plan_regions(g, r);
    size_t total = 0;
    for (int i = 0; i < nr; i++) total += r[i].n;
    free(r);
    float *priv = malloc(total * sizeof(float)), *arena = g->arena, *p = priv;
    dnas_value *in = &g->vals[g->input];
    const float *x0 = in->data;
    for (int v = 0; v < g->n_vals; v++) {
        size_t n = dnas_shape_numel(g->vals[v].shape);
        g->vals[v].data = g->vals[v].lazy ? NULL : p;
        p += g->vals[v].lazy ? 0 : n;
        if (g->vals[v].grad_alias >= 0) continue;
        g->vals[v].grad = p;
        p += n;
    }
    for (int v = 0; v < g->n_vals; v++)
        if (g->vals[v].grad_alias >= 0) g->vals[v].grad = g->vals[g->vals[v].grad_alias].grad;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].scratch_n) {
            g->nodes[i].scratch = p;
            p += g->nodes[i].scratch_n;
        }
    for (size_t i = 0; i < total; i++) priv[i] = NAN;
    memcpy(in->data, x0, dnas_shape_numel(in->shape) * sizeof(float));
    poisoned_step(g, priv, 0, &b);
    size_t nin = dnas_shape_numel(in->shape), nl = dnas_shape_numel(g->vals[g->logits].shape);
    printf("  planned arena vs private buffers: loss %.9f vs %.9f\n", a.loss, b.loss);
    CHECK(isfinite(a.loss) && a.loss == b.loss, "loss %.9g (planned) vs %.9g (private)", a.loss, b.loss);
    CHECK(memcmp(a.logits, b.logits, nl * sizeof(float)) == 0, "logits differ");
    CHECK(memcmp(a.gw, b.gw, g->n_weights * sizeof(float)) == 0, "weight gradients differ");
    CHECK(memcmp(a.gm, b.gm, sizeof a.gm) == 0, "mixing-weight gradients differ");
    CHECK(memcmp(a.gx, b.gx, nin * sizeof(float)) == 0, "input gradients differ");
    int nan = 0;
    for (size_t i = 0; i < g->n_weights; i++) nan += !isfinite(a.gw[i]);
    CHECK(nan == 0, "%d weight gradients are not finite", nan);
    (void)arena;
    free(priv);
    free(a.gw), free(a.gx), free(a.logits), free(b.gw), free(b.gx), free(b.logits);
    /* Put the planned pointers back before freeing (the arena owns them). */
    for (int v = 0; v < g->n_vals; v++) {
        g->vals[v].data = g->vals[v].lazy ? NULL : g->arena + g->vals[v].data_off;
        g->vals[v].grad = g->arena + g->vals[v].grad_off;
    }
    dnas_graph_free(g);
    dnas_backend_destroy(t.be);
}

static void test_smaller_batch(void) {
    net a, b;
    CHECK(dnas_backend_cpu_create(1, &a.be) == DNAS_OK, "backend");
    b.be = a.be;
    CHECK(build(&a, 8, 1) && build(&b, 3, 1), "build");
    /* Same weights and the first 3 examples: the 8-planned graph run at 3 equals the 3-graph. */
    memcpy(b.g.w, a.g.w, a.g.n_weights * sizeof(float));
    memcpy(b.g.bufs, a.g.bufs, a.g.n_bufs * sizeof(float));
    memcpy(b.g.vals[b.g.input].data, a.g.vals[a.g.input].data, 3 * 3 * 8 * 8 * sizeof(float));
    memcpy(b.g.labels, a.g.labels, 3 * sizeof(int));
    CHECK(dnas_graph_set_batch(&a.g, 3) == DNAS_OK, "%s", dnas_last_error());
    double la = loss_at(&a.g), lb = loss_at(&b.g);
    printf("  graph planned for 8 run at 3: loss %.9f, graph planned for 3: %.9f\n", la, lb);
    CHECK(fabs(la - lb) < 1e-6, "losses differ");
    CHECK(dnas_graph_set_batch(&a.g, 9) != DNAS_OK, "a batch above the plan was accepted");
    dnas_graph_free(&a.g);
    dnas_graph_free(&b.g);
    dnas_backend_destroy(a.be);
}

/* One value used twice by a node (add(h, h), concat(s, s)): its gradient is the sum of both
 * uses, so the weight gradients equal those of the same graph with the second use through an
 * identity copy (distinct values). */
static int build_dup(dnas_graph *g, dnas_backend *be, int dup) {
    dnas_graph_init(g, be);
    int x = dnas_graph_input(g, dnas_shape4(2, 3, 6, 6));
    int h = dnas_op_conv2d(g, "c", x, 4, 3, 1, 1, 1, 1, 1);
    int s = dnas_op_add(g, "add", h, dup ? h : dnas_op_identity(g, "id1", h));
    int cat[2] = {s, dup ? s : dnas_op_identity(g, "id2", s)};
    int y = dnas_op_concat(g, "cat", cat, 2);
    y = dnas_op_gap(g, "gap", y);
    y = dnas_op_linear(g, "fc", y, 3);
    dnas_op_xent(g, "loss", y);
    if (dnas_graph_plan(g) != DNAS_OK) return 0;
    dnas_graph_init_weights(g, 7);
    dnas_rng rng = dnas_rng_make(9, 1);
    dnas_value *in0 = &g->vals[g->input];
    for (size_t i = 0; i < dnas_shape_numel(in0->shape); i++) in0->data[i] = dnas_rng_normal(&rng);
    g->labels[0] = 1;
    g->labels[1] = 2;
    return dnas_graph_forward(g) == DNAS_OK && (dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS),
                                                dnas_graph_backward(g, DNAS_WANT_WEIGHTS) == DNAS_OK);
}

static void test_value_used_twice(void) {
    dnas_backend *be;
    CHECK(dnas_backend_cpu_create(1, &be) == DNAS_OK, "backend");
    dnas_graph a, b;
    CHECK(build_dup(&a, be, 1), "%s", dnas_last_error());
    CHECK(build_dup(&b, be, 0), "%s", dnas_last_error());
    CHECK(a.n_weights == b.n_weights, "weight counts %zu vs %zu", a.n_weights, b.n_weights);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < a.n_weights; i++) {
        worst = fmax(worst, fabs((double)a.gw[i] - b.gw[i]));
        scale = fmax(scale, fabs((double)b.gw[i]));
    }
    printf("  add(h,h) + concat(s,s) vs through copies: worst weight-gradient difference %.3g (max |g| %.3g)\n", worst, scale);
    CHECK(scale > 0 && worst <= 1e-6 * scale, "a value used twice lost a gradient: %.3g", worst);
    dnas_graph_free(&a);
    dnas_graph_free(&b);
    dnas_backend_destroy(be);
}

/* Gradient aliases (plan.c): c1.bn's output, read only by the weighted sum, shares the sum's
 * output gradient scaled by its weight inside BN's backward. Against the same graph planned
 * without aliases: every gradient equal to float rounding (BN's dx factor carries m instead
 * of the sum writing m*dy), the alias really planned, and the arena no larger. */
static void test_grad_alias_matches_unaliased(void) {
    net t[2];
    step_result r[2];
    no_lazy = 1; /* aliases alone: lazy BN outputs change the forward's rounding */
    for (int k = 0; k < 2; k++) {
        CHECK(dnas_backend_cpu_create(1, &t[k].be) == DNAS_OK, "backend");
        no_alias = k;
        CHECK(build(&t[k], 16, 1), "build");
        poisoned_step(&t[k].g, t[k].g.arena, t[k].g.arena_floats, &r[k]);
    }
    no_alias = 0;
    no_lazy = 0;
    dnas_graph *g = &t[0].g;
    int aliased = 0, aliased_off = 0;
    for (int v = 0; v < g->n_vals; v++) aliased += g->vals[v].grad_alias >= 0;
    for (int v = 0; v < t[1].g.n_vals; v++) aliased_off += t[1].g.vals[v].grad_alias >= 0;
    CHECK(aliased >= 1 && aliased_off == 0, "aliases planned: %d (unaliased graph: %d)", aliased, aliased_off);
    CHECK(g->arena_floats <= t[1].g.arena_floats, "arena %zu floats with aliases > %zu without",
          g->arena_floats, t[1].g.arena_floats);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < g->n_weights; i++) {
        double d = fabs((double)r[0].gw[i] - r[1].gw[i]);
        if (d > worst) worst = d;
        if (fabs(r[1].gw[i]) > scale) scale = fabs(r[1].gw[i]);
    }
    double wm = 0, sm = 0;
    for (int i = 0; i < 6; i++) {
        if (fabs((double)r[0].gm[i] - r[1].gm[i]) > wm) wm = fabs((double)r[0].gm[i] - r[1].gm[i]);
        if (fabs(r[1].gm[i]) > sm) sm = fabs(r[1].gm[i]);
    }
    printf("  %d aliased gradient(s), arena %zu vs %zu floats; max weight-gradient difference "
           "%.3g of max %.3g, mixing %.3g of %.3g\n", aliased, g->arena_floats, t[1].g.arena_floats,
           worst, scale, wm, sm);
    CHECK(r[0].loss == r[1].loss, "loss %.9g vs %.9g", r[0].loss, r[1].loss);
    CHECK(worst <= 1e-5 * scale && wm <= 1e-5 * sm, "gradients differ beyond rounding");
    free_runs(t, r, 2);
}

static double rel_diff(const float *a, const float *b, size_t n, double *scale) {
    double worst = 0;
    *scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst)) worst = d;
        if (fabs(b[i]) > *scale) *scale = fabs(b[i]);
    }
    return worst;
}

/* Lazy BN outputs (graph.h: the mixed node normalises c1.bn's and skip.bn's inputs itself and
 * their mixing-weight gradients come from BN's backward sums) and a lazy average pool (the
 * mixed node pools its input; the pool's backward gives its mixing-weight gradient) against
 * the same network with every output stored: a full step (both BN backwards run and give the
 * sums), an arch-only backward (they do not run: the sum takes the sums itself), an evaluation
 * forward (skip.bn's running statistics), the memory saved and the FLOP rule (each lazy BN
 * output moves BN's 3 per element affine into the sum at 2 per element; a lazy pool's forward
 * counts the same). */
static void test_lazy_bn_matches_stored(void) {
    net t[2];
    step_result r[2];
    float gm_arch[2][6], loss_eval[2];
    double fwd_flops[2];
    skip_bn = 1;
    for (int k = 0; k < 2; k++) {
        CHECK(dnas_backend_cpu_create(1, &t[k].be) == DNAS_OK, "backend");
        no_lazy = k;
        CHECK(build(&t[k], 16, 1), "build");
        dnas_graph *g = &t[k].g;
        poisoned_step(g, g->arena, g->arena_floats, &r[k]);
        fwd_flops[k] = dnas_graph_flops_forward(g);
        CHECK(dnas_graph_forward(g) == DNAS_OK, "%s", dnas_last_error());
        dnas_graph_zero_grads(g, DNAS_WANT_ARCH);
        CHECK(dnas_graph_backward(g, DNAS_WANT_ARCH) == DNAS_OK, "%s", dnas_last_error());
        memcpy(gm_arch[k], g->gmix, sizeof gm_arch[k]);
        g->training = 0;
        loss_eval[k] = (float)loss_at(g);
    }
    no_lazy = skip_bn = 0;
    dnas_graph *g = &t[0].g;
    int lazy = 0, lazy_pool = 0, lazy_off = 0;
    double lazy_numel = 0;
    for (int v = 0; v < g->n_vals; v++)
        if (g->vals[v].lazy == DNAS_LAZY_BN) {
            lazy++;
            lazy_numel += (double)dnas_shape_numel(g->vals[v].shape);
        } else if (g->vals[v].lazy == DNAS_LAZY_POOL) {
            lazy_pool++;
        }
    for (int v = 0; v < t[1].g.n_vals; v++) lazy_off += t[1].g.vals[v].lazy != 0;
    CHECK(lazy == 2 && lazy_pool == 1 && lazy_off == 0,
          "lazy BN outputs: %d (want 2), pools %d (want 1), with no_lazy_*: %d", lazy, lazy_pool,
          lazy_off);
    CHECK(g->arena_floats < t[1].g.arena_floats, "arena %zu floats lazy, %zu stored",
          g->arena_floats, t[1].g.arena_floats);
    CHECK(fwd_flops[1] - fwd_flops[0] == lazy_numel, "forward FLOPs %.0f lazy, %.0f stored "
          "(want a difference of %.0f)", fwd_flops[0], fwd_flops[1], lazy_numel);
    double sw, sx, sm, sa, sl;
    double dw = rel_diff(r[0].gw, r[1].gw, g->n_weights, &sw);
    double dx = rel_diff(r[0].gx, r[1].gx, dnas_shape_numel(g->vals[g->input].shape), &sx);
    double dm = rel_diff(r[0].gm, r[1].gm, 6, &sm);
    double da = rel_diff(gm_arch[0], gm_arch[1], 6, &sa);
    double dl = rel_diff(r[0].logits, r[1].logits, dnas_shape_numel(g->vals[g->logits].shape), &sl);
    printf("  %d lazy BN outputs, %d lazy pool, arena %zu vs %zu floats; loss %.9g vs %.9g, eval %.9g vs %.9g; "
           "max differences: logits %.3g of %.3g, weight grads %.3g of %.3g, input grads %.3g of "
           "%.3g, mixing %.3g of %.3g, arch-only mixing %.3g of %.3g\n", lazy, lazy_pool, g->arena_floats,
           t[1].g.arena_floats, r[0].loss, r[1].loss, loss_eval[0], loss_eval[1], dl, sl, dw, sw,
           dx, sx, dm, sm, da, sa);
    CHECK(fabs(r[0].loss - r[1].loss) <= 1e-6 * fabs(r[1].loss), "loss %.9g vs %.9g", r[0].loss, r[1].loss);
    CHECK(fabs(loss_eval[0] - loss_eval[1]) <= 1e-6 * fabs(loss_eval[1]), "eval loss %.9g vs %.9g",
          loss_eval[0], loss_eval[1]);
    CHECK(dl <= 1e-5 * sl && dw <= 1e-5 * sw && dx <= 1e-5 * sx, "gradients differ beyond rounding");
    CHECK(dm <= 1e-5 * sm && da <= 1e-5 * sa, "mixing-weight gradients differ beyond rounding");
    free_runs(t, r, 2);
}

/* The skip taken by the pool's backward (dnas_value.skip_in) against the sum's own backward
 * taking it (no_pool_skip), on NaN-poisoned arenas: the same loss and logits, bit-identical
 * weight and input gradients (the skip's term is rounded as before, then the pool's), mixing
 * gradients equal up to the order of the skip's dot product, in a full and an arch-only
 * backward (which runs no weight kernel and still wants both mixing gradients). */
static void test_pool_skip_matches_sum(void) {
    net t[3];
    step_result r[3];
    float gm_arch[3][6];
    pair_skip = 1;
    /* 0: taken by the pool; 1: not (no_pool_skip); 2: not, the other readers of the input
     * coming between pool and sum (their gradients would land before the skip's) */
    for (int k = 0; k < 3; k++) {
        CHECK(dnas_backend_cpu_create(2, &t[k].be) == DNAS_OK, "backend");
        no_pool_skip = k == 1;
        late_pool = k != 2;
        CHECK(build(&t[k], 16, 1), "build");
        dnas_graph *g = &t[k].g;
        const dnas_value *pv = &g->vals[g->nodes[t[k].pool_node].out];
        CHECK(pv->lazy == DNAS_LAZY_POOL && (pv->skip_in >= 0) == !k,
              "build %d: lazy %d, skip_in %d", k, pv->lazy, pv->skip_in);
        poisoned_step(g, g->arena, g->arena_floats, &r[k]);
        CHECK(dnas_graph_forward(g) == DNAS_OK, "%s", dnas_last_error());
        dnas_graph_zero_grads(g, DNAS_WANT_ARCH);
        CHECK(dnas_graph_backward(g, DNAS_WANT_ARCH) == DNAS_OK, "%s", dnas_last_error());
        memcpy(gm_arch[k], g->gmix, sizeof gm_arch[k]);
    }
    pair_skip = no_pool_skip = late_pool = 0;
    dnas_graph *g = &t[0].g;
    /* the third build's node order differs: its loss is all that compares with the first */
    CHECK(fabs(r[2].loss - r[0].loss) <= 1e-6 * fabs(r[0].loss), "loss %.9g vs %.9g", r[2].loss,
          r[0].loss);
    size_t nin = dnas_shape_numel(g->vals[g->input].shape);
    size_t nl = dnas_shape_numel(g->vals[g->logits].shape);
    CHECK(r[0].loss == r[1].loss, "loss %.9g vs %.9g", r[0].loss, r[1].loss);
    CHECK(!memcmp(r[0].logits, r[1].logits, nl * sizeof(float)), "logits differ");
    CHECK(!memcmp(r[0].gw, r[1].gw, g->n_weights * sizeof(float)), "weight gradients differ");
    CHECK(!memcmp(r[0].gx, r[1].gx, nin * sizeof(float)), "input gradients differ");
    double sm, sa, dm = rel_diff(r[0].gm, r[1].gm, 6, &sm), da = rel_diff(gm_arch[0], gm_arch[1], 6, &sa);
    printf("  skip in the pool's backward vs the sum's: weight and input gradients identical; "
           "mixing gradients differ by %.3g of %.3g (full), %.3g of %.3g (arch only); skip's "
           "%.9g vs %.9g\n", dm, sm, da, sa, (double)r[0].gm[1], (double)r[1].gm[1]);
    CHECK(r[0].gm[1] != 0.0f && dm <= 1e-6 * sm && da <= 1e-6 * sa,
          "mixing-weight gradients differ beyond rounding");
    free_runs(t, r, 3);
}

int main(void) {
    RUN(test_graph_finite_differences);
    RUN(test_wants_mask);
    RUN(test_inactive_node_equals_zero_weight);
    RUN(test_plan_reuses_memory);
    RUN(test_plan_live_regions_disjoint);
    RUN(test_plan_matches_private_buffers);
    RUN(test_smaller_batch);
    RUN(test_value_used_twice);
    RUN(test_grad_alias_matches_unaliased);
    RUN(test_lazy_bn_matches_stored);
    RUN(test_pool_skip_matches_sum);
    TEST_EXIT();
}
