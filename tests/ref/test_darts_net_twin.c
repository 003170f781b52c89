/* The DARTS evaluation network (src/space/darts_net.c) against our PyTorch twin
 * (tests/ref/darts_net_twin.py, fixture from make_darts_net_fixture.py): DARTS_V2 at C 8,
 * L 6 (reductions at cells 2 and 4, the auxiliary head on cell 4's 8x8 output), batch 4,
 * 32x32 images, training mode:
 *   (a) no auxiliary head, no drop path: logits, loss, every weight gradient, running stats;
 *       and the same network built with drop-path nodes at p = 0 gives the same bits;
 *   (b) auxiliary head (weight 0.4) and drop path (p 0.2, the masks drawn by droppath.c at
 *       the fixture's key and step, reproduced by the twin's numpy Philox): the masks
 *       themselves, logits, auxiliary logits, main / auxiliary / total loss, every weight
 *       gradient, running statistics;
 *   (c) the evaluation-mode forward after (b): logits and loss, the auxiliary nodes not run.
 * Both sides start from the same state computed from each tensor's name (init_by_name in the
 * fixture script), so the fixture holds no weights.
 *
 * Tolerances are 4-10x the worst error measured on the default build (2 threads), SAN=1 and
 * ARCH=x86-64 NO_OMP=1; the measured value is beside each. */
#include "test.h"
#include "twin.h"
#include "space/darts.h"
#include "ops/ops.h"
#include "core/rng.h"
#include <math.h>
#include <stdint.h>

/* worst over the default build, SAN=1 and ARCH=x86-64 NO_OMP=1: */
#define TOL_LOGITS 1e-5  /* logits, aux softmax, eval logits: measured 2.0e-6 (5x) */
#define TOL_LOSS 3e-6    /* losses (relative): measured 4.1e-7 (7x) */
#define TOL_GRAD 8e-5    /* per-tensor weight gradients, max rel err: measured 1.4e-5 (6x; the
                          * twin's own float32-vs-float64 gap on that tensor is 1.2e-5) */
#define TOL_BUF 4e-6     /* running statistics after the forward: measured 5.0e-7 (8x) */

static fixture fx;
static int have_fx;
static const int *cfg; /* C, L, classes, batch, image, big-gradient sample stride */

/* ---- the start state, from names (make_darts_net_fixture.py init_by_name) ---------------- */
/* u[i] in [0,1) (24 bits) from Philox at key twin_fnv1a64(name), PyTorch element order. */
static void uniform_by_name(const char *name, size_t n, double *u) {
    uint64_t key = twin_fnv1a64(name);
    uint32_t w[4];
    for (size_t i = 0; i < n; i++) {
        if (i % 4 == 0) dnas_philox(key, i / 4, w);
        u[i] = (double)(w[i % 4] >> 8) / 16777216.0;
    }
}
static int find_buffer(const dnas_graph *g, const char *name) {
    for (int i = 0; i < g->n_bufdesc; i++)
        if (strcmp(g->bufdesc[i].name, name) == 0) return i;
    return -1;
}
static void init_by_name(dnas_graph *g) {
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        size_t n = dnas_shape_numel(p->shape);
        double *u = malloc(n * sizeof(double));
        float *t = malloc(n * sizeof(float));
        uniform_by_name(p->name, n, u);
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s", p->name);
        char *dot = strrchr(prefix, '.'), *leaf = dot + 1;
        *dot = 0;
        char rm[96];
        snprintf(rm, sizeof rm, "%s.running_mean", prefix);
        int is_bn = find_buffer(g, rm) >= 0;
        for (size_t k = 0; k < n; k++) {
            double v = 2.0 * u[k] - 1.0;
            if (is_bn) t[k] = (float)(strcmp(leaf, "weight") == 0 ? 1.0 + 0.25 * v : 0.25 * v);
            else if (strcmp(leaf, "weight") == 0) t[k] = (float)(v / sqrt((double)(n / (size_t)p->shape.n)));
            else t[k] = (float)(0.1 * v);
        }
        fx_nchw_to_nhwc(g->w + p->off, t, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
        free(u);
        free(t);
    }
    for (int b = 0; b < g->n_bufdesc; b++) {
        dnas_buffer *d = &g->bufdesc[b];
        double *u = malloc(d->n * sizeof(double));
        uniform_by_name(d->name, d->n, u);
        int var = strstr(d->name, "running_var") != NULL;
        for (size_t k = 0; k < d->n; k++)
            g->bufs[d->off + k] = (float)(var ? 1.0 + 0.5 * u[k] : 0.1 * (2.0 * u[k] - 1.0));
        free(u);
    }
}

/* OHWI (ours) -> OIHW (PyTorch), the inverse of fx_nchw_to_nhwc. */
static void nhwc_to_nchw(float *dst, const float *src, int n, int c, int h, int w) {
    for (int a = 0; a < n; a++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    dst[(((size_t)a * c + ch) * h + y) * w + x] = src[(((size_t)a * h + y) * w + x) * c + ch];
}

/* ---- building and running --------------------------------------------------------------- */
static dnas_backend *be;

static int no_lazy; /* build: every BN output stored (graph.h dnas_value.lazy) */

static int build(dnas_graph *g, int aux, int drop) {
    dnas_net_config c = {0};
    c.channels = cfg[0];
    c.cells = cfg[1];
    c.classes = cfg[2];
    c.batch = cfg[3];
    c.image = cfg[4];
    c.auxiliary = aux;
    c.aux_weight = twin_need_f(&fx, "dp/p_auxw", 2)[1];
    c.drop_path = drop;
    dnas_graph_init(g, be);
    g->no_lazy_bn = no_lazy;
    dnas_status st = dnas_darts_build_net(g, &c, "DARTS_V2");
    if (st == DNAS_OK) st = dnas_graph_plan(g);
    CHECK(st == DNAS_OK, "build: %s", dnas_last_error());
    if (st != DNAS_OK) {
        dnas_graph_free(g);
        return 0;
    }
    init_by_name(g);
    const fx_entry *x = fx_get(&fx, "x"), *y = fx_get(&fx, "y");
    dnas_shape s = g->vals[g->input].shape;
    CHECK(x && y && x->count == dnas_shape_numel(s) && y->count == (size_t)s.n, "fixture x / y");
    if (!x || !y || x->count != dnas_shape_numel(s)) return 1;
    fx_nchw_to_nhwc(g->vals[g->input].data, x->data, s.n, s.c, s.h, s.w);
    memcpy(g->labels, y->data, (size_t)s.n * sizeof(int));
    return 1;
}

static int node_out(const dnas_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return g->nodes[i].out;
    CHECK(0, "no node named %s", name);
    return -1;
}

static double cmp(const char *what, const float *ours, const char *ref_name, size_t n, double tol) {
    const float *ref = twin_need_f(&fx, ref_name, n);
    if (!ref || !ours) return 1e30;
    double e = fx_relerr(ours, ref, n);
    CHECK(e <= tol, "%s: max rel err %.3g > %.1g", what, e, tol);
    return e;
}

static double cmp_loss(const char *what, float ours, const char *ref_name) {
    const float *ref = twin_need_f(&fx, ref_name, 1);
    if (!ref) return 1e30;
    double e = fabs(ours - (double)ref[0]) / fabs((double)ref[0]);
    CHECK(e <= TOL_LOSS, "%s: %.9g vs twin %.9g (rel %.3g)", what, (double)ours, (double)ref[0], e);
    return e;
}

/* Every weight gradient against <prefix>grad/<name> (the sampled large one against
 * grad_sample/ and grad_norm/); every running statistic against <prefix>buffer/<name>. */
static void compare_state(dnas_graph *g, const char *prefix) {
    double worst = 0, worst_buf = 0;
    const char *wn = "", *wb = "";
    int stride = cfg[5];
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        char name[200];
        double e;
        snprintf(name, sizeof name, "%sgrad/%s", prefix, p->name);
        if (fx_get(&fx, name)) {
            if (!twin_param_relerr(&fx, name, p, g->gw + p->off, &e)) continue;
        } else {
            /* the auxiliary head's 768x128x2x2 weight: a strided sample and the norm */
            size_t n = dnas_shape_numel(p->shape), m = (n + (size_t)stride - 1) / (size_t)stride;
            snprintf(name, sizeof name, "%sgrad_sample/%s", prefix, p->name);
            const float *r = twin_need_f(&fx, name, m);
            snprintf(name, sizeof name, "%sgrad_norm/%s", prefix, p->name);
            const float *rn = twin_need_f(&fx, name, 1);
            if (!r || !rn) continue;
            float *ref = malloc(n * sizeof(float));
            nhwc_to_nchw(ref, g->gw + p->off, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
            double s2 = 0;
            for (size_t k = 0; k < n; k++) s2 += (double)ref[k] * ref[k];
            for (size_t k = 0; k < m; k++) ref[k] = ref[k * (size_t)stride];
            e = fx_relerr(ref, r, m);
            e = fmax(e, fabs(sqrt(s2) - rn[0]) / rn[0]);
            free(ref);
        }
        twin_worst(&worst, &wn, e, p->name);
        CHECK(e <= TOL_GRAD, "%sgrad %s: max rel err %.3g > %.1g", prefix, p->name, e, TOL_GRAD);
    }
    for (int b = 0; b < g->n_bufdesc; b++) {
        char name[200];
        snprintf(name, sizeof name, "%sbuffer/%s", prefix, g->bufdesc[b].name);
        const float *r = twin_need_f(&fx, name, g->bufdesc[b].n);
        if (!r) continue;
        double e = fx_relerr(g->bufs + g->bufdesc[b].off, r, g->bufdesc[b].n);
        twin_worst(&worst_buf, &wb, e, g->bufdesc[b].name);
        CHECK(e <= TOL_BUF, "%sbuffer %s: max rel err %.3g > %.1g", prefix, g->bufdesc[b].name, e, TOL_BUF);
    }
    /* The twin has no tensor we lack: as many gradient and buffer entries as we have. */
    int n_grad = 0, n_buf = 0;
    char pg[3][40];
    snprintf(pg[0], sizeof pg[0], "%sgrad/", prefix);
    snprintf(pg[1], sizeof pg[1], "%sgrad_sample/", prefix);
    snprintf(pg[2], sizeof pg[2], "%sbuffer/", prefix);
    for (int i = 0; i < fx.n; i++) {
        n_grad += strncmp(fx.e[i].name, pg[0], strlen(pg[0])) == 0 ||
                  strncmp(fx.e[i].name, pg[1], strlen(pg[1])) == 0;
        n_buf += strncmp(fx.e[i].name, pg[2], strlen(pg[2])) == 0;
    }
    CHECK(n_grad == g->n_params && n_buf == g->n_bufdesc, "%s: the twin has %d weight tensors and "
          "%d buffers, we have %d and %d", prefix, n_grad, n_buf, g->n_params, g->n_bufdesc);
    printf("  %s: %d gradients, worst %.3g (%s); %d buffers, worst %.3g (%s)\n", prefix,
           g->n_params, worst, wn, g->n_bufdesc, worst_buf, wb);
}

static dnas_status train_step(dnas_graph *g) {
    g->training = 1;
    DNAS_TRY(dnas_graph_forward(g));
    dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS);
    return dnas_graph_backward(g, DNAS_WANT_WEIGHTS);
}

/* The twin's numpy Philox masks are ours, bit for bit (this also checks its Philox against
 * src/core/rng.c on 34 x 4 draws). */
static void test_masks_match_twin(void) {
    TWIN_NEED_FX(have_fx, fx_why);
    const fx_entry *m = fx_get(&fx, "b/masks"), *ks = fx_get(&fx, "dp/key_step");
    CHECK(m && ks && m->ndim == 2 && ks->count == 4, "fixture masks / key");
    if (!m || !ks || m->ndim != 2 || ks->count != 4) return;
    const uint32_t *k = ks->data;
    uint64_t key = (uint64_t)k[1] << 32 | k[0], step = (uint64_t)k[3] << 32 | k[2];
    float p = twin_need_f(&fx, "dp/p_auxw", 2)[0];
    int dropped = 0;
    float s[64];
    for (int o = 0; o < m->dims[0]; o++) {
        CHECK(dnas_droppath_scales(key, step, o, m->dims[1], p, s) == DNAS_OK, "scales: %s", dnas_last_error());
        const float *r = (const float *)m->data + (size_t)o * m->dims[1];
        for (int i = 0; i < m->dims[1]; i++) {
            CHECK(s[i] == r[i], "drop path %d sample %d: scale %.9g, twin %.9g", o, i, (double)s[i], (double)r[i]);
            dropped += s[i] == 0;
        }
    }
    printf("  %d drop-path nodes x %d samples, %d dropped, all equal\n", m->dims[0], m->dims[1], dropped);
    CHECK(dropped > 0 && dropped < m->dims[0] * m->dims[1], "the masks test nothing");
}

/* (a), and the drop-path build at p = 0 giving the same bits. */
static void test_plain_network(void) {
    TWIN_NEED_FX(have_fx, fx_why);
    dnas_graph g, h;
    if (!build(&g, 0, 0)) return;
    dnas_status st = train_step(&g);
    CHECK(st == DNAS_OK, "step: %s", dnas_last_error());
    if (st == DNAS_OK) {
        size_t nl = dnas_shape_numel(g.vals[g.logits].shape);
        double el = cmp("a logits", g.vals[g.logits].data, "a/logits", nl, TOL_LOGITS);
        double e = cmp_loss("a loss", g.loss_value, "a/loss");
        printf("  a: logits %.3g, loss %.3g\n", el, e);
        compare_state(&g, "a/");
        /* Against the plain network with its BN outputs stored: a node with drop path sums
         * stored inputs, while the plain node's sum normalises its BN inputs itself (lazy BN
         * outputs), which rounds differently. */
        dnas_graph k;
        no_lazy = 1;
        int built = build(&k, 0, 0);
        no_lazy = 0;
        if (built && build(&h, 0, 1)) {
            h.drop_prob = 0.0f;
            h.rng_key = 1234;
            CHECK(dnas_graph_forward(&h) == DNAS_OK && dnas_graph_forward(&k) == DNAS_OK,
                  "forward: %s", dnas_last_error());
            CHECK(memcmp(h.vals[h.logits].data, k.vals[k.logits].data, nl * sizeof(float)) == 0 &&
                  h.loss_value == k.loss_value, "drop path at p = 0 changed the logits");
            dnas_graph_free(&h);
        }
        if (built) dnas_graph_free(&k);
    }
    dnas_graph_free(&g);
}

/* (b) and (c). */
static void test_aux_and_droppath_then_eval(void) {
    TWIN_NEED_FX(have_fx, fx_why);
    dnas_graph g;
    if (!build(&g, 1, 1)) return;
    const uint32_t *k = fx_get(&fx, "dp/key_step")->data;
    g.rng_key = (uint64_t)k[1] << 32 | k[0];
    g.rng_step = (uint64_t)k[3] << 32 | k[2];
    g.drop_prob = twin_need_f(&fx, "dp/p_auxw", 2)[0];
    int la = node_out(&g, "auxiliary_loss"), lm = node_out(&g, "loss");
    /* Values that backward does not read share memory with gradients: look at them between
     * forward and backward. */
    dnas_status st = dnas_graph_forward(&g);
    CHECK(st == DNAS_OK, "forward: %s", dnas_last_error());
    if (st != DNAS_OK || la < 0 || lm < 0) {
        dnas_graph_free(&g);
        return;
    }
    size_t nl = dnas_shape_numel(g.vals[g.logits].shape);
    double e1 = cmp("b logits", g.vals[g.logits].data, "b/logits", nl, TOL_LOGITS);
    /* The aux logits die (their memory is reused) once the aux loss has read them; that
     * node keeps their softmax as scratch, so compare softmax(twin's aux logits) with it. */
    double e2 = 1e30;
    const float *ra = twin_need_f(&fx, "b/aux_logits", nl);
    int K = g.vals[g.logits].shape.c;
    if (ra) {
        float *pr = malloc(nl * sizeof(float));
        for (size_t r = 0; r < nl / (size_t)K; r++) {
            double mx = -1e30, z = 0;
            for (int j = 0; j < K; j++) mx = fmax(mx, ra[r * K + j]);
            for (int j = 0; j < K; j++) z += exp(ra[r * K + j] - mx);
            for (int j = 0; j < K; j++) pr[r * K + j] = (float)(exp(ra[r * K + j] - mx) / z);
        }
        e2 = fx_relerr(g.nodes[g.vals[la].producer].scratch, pr, nl);
        CHECK(e2 <= TOL_LOGITS, "b aux softmax: max rel err %.3g > %.1g", e2, TOL_LOGITS);
        free(pr);
    }
    double e3 = cmp_loss("b main loss", g.vals[lm].data[0], "b/loss_main");
    double e4 = cmp_loss("b aux loss", g.vals[la].data[0], "b/loss_aux");
    double e5 = cmp_loss("b total loss", g.loss_value, "b/loss");
    printf("  b: logits %.3g, aux softmax %.3g, losses main %.3g aux %.3g total %.3g\n", e1, e2, e3, e4, e5);
    dnas_graph_zero_grads(&g, DNAS_WANT_WEIGHTS);
    st = dnas_graph_backward(&g, DNAS_WANT_WEIGHTS);
    CHECK(st == DNAS_OK, "backward: %s", dnas_last_error());
    compare_state(&g, "b/");

    /* (c): eval mode; the auxiliary nodes' saved buffers (kept for the whole step, never
     * shared) must keep a sentinel, as they would not if those nodes ran. */
    for (int i = 0; i < g.n_nodes; i++)
        if (g.nodes[i].train_only && g.nodes[i].scratch_n)
            for (size_t j = 0; j < g.nodes[i].scratch_n; j++) g.nodes[i].scratch[j] = -7.0f;
    g.training = 0;
    st = dnas_graph_forward(&g);
    CHECK(st == DNAS_OK, "eval forward: %s", dnas_last_error());
    if (st == DNAS_OK) {
        double e6 = cmp("eval logits", g.vals[g.logits].data, "eval/logits", nl, TOL_LOGITS);
        double e7 = cmp_loss("eval loss", g.loss_value, "eval/loss");
        printf("  eval: logits %.3g, loss %.3g\n", e6, e7);
        int untouched = 1, n_aux = 0;
        for (int i = 0; i < g.n_nodes; i++)
            if (g.nodes[i].train_only && g.nodes[i].scratch_n) {
                n_aux++;
                for (size_t j = 0; j < g.nodes[i].scratch_n; j++) untouched &= g.nodes[i].scratch[j] == -7.0f;
            }
        CHECK(n_aux >= 3 && untouched, "an auxiliary node ran in eval mode (%d checked)", n_aux);
    }
    dnas_graph_free(&g);
}

int main(void) {
    have_fx = fx_load(&fx, t_src_path("tests/ref/darts_net_fixture.bin"));
    const fx_entry *c = have_fx ? fx_get(&fx, "config") : NULL;
    if (have_fx && (!c || c->dtype != 1 || c->count < 6)) {
        have_fx = 0;
        snprintf(fx_why, sizeof fx_why, "config entry missing or malformed");
    }
    cfg = c ? c->data : NULL;
    if (dnas_backend_cpu_create(2, &be) != DNAS_OK) {
        printf("FAIL backend: %s\n", dnas_last_error());
        return 1;
    }
    RUN(test_masks_match_twin);
    RUN(test_plain_network);
    RUN(test_aux_and_droppath_then_eval);
    dnas_backend_destroy(be);
    fx_free(&fx);
    TEST_EXIT();
}
