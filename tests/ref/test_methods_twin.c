/* The seed methods against our PyTorch twin (tests/ref/methods_twin.py ->
 * tests/ref/methods_fixture.bin), on the small NB201 supernet of the other twin fixtures:
 *  - iDARTS: dL_val/dalpha, v0 = dL_val/dw, the Neumann part D = 2 H v0 + H v1 and the whole
 *    hypergradient of dnas_idarts_hypergradient (and its mixed term) against the twin's
 *    replay of the same finite-difference recipe; the gap to the exact (double-backprop)
 *    hypergradient is printed, not asserted (see the comment at TOL_ID_*);
 *  - GAEA: one step (EG theta step with its clamp, then the SGD weight step) without and with
 *    the entropic regulariser: theta, weights, BN statistics, losses, gradient norm;
 *  - DARTS-PT: the loss and accuracy of the supernet over 32 images with each (edge, op)
 *    weight set to 0 (one row decided), by dnas_select_accuracy and the graph forward, and
 *    the decision dnas_pt_decide takes from those accuracies.
 * Tolerances are small multiples (4-8x) of the worst error measured on the default build and
 * SAN=1 (1 thread; ARCH=x86-64 NO_OMP=1 did not build on this branch: cpu_conv.c's AVX2
 * intrinsics); measured values in the comments. Runs in about 1 s. */
#include "test.h"
#include "twin.h"
#include "graph/hvp.h"
#include "select/select.h"
#include "core/alloc.h"
#include <math.h>

/* iDARTS, against the twin's float32 replay of the C recipe (finite-difference H v with
 * eps 0.01). The replay and ours cross the same ReLU kinks, so they agree to float round-off.
 * The exact hypergradient (double-backprop H v and mixed term) is another quantity at this
 * eps: the twin's own float64 finite differences differ from it by 2.55x normwise on g, 5.9x
 * on the mixed term, 16x on D (cosine of g 0.78): a kink crossed by the +-r v perturbation
 * puts a jump into the gradient difference, and with ~10^5 ReLU inputs some lie within any
 * usable r (the error grows from eps 0.1 to 1e-4 and only vanishes at 1e-6 in float64, where
 * the machinery agrees with the exact products to 3e-10). idarts.c therefore freezes the ReLU
 * patterns for its Neumann products (graph.h, DNAS_KINKS_FROZEN), which gives the exact H v,
 * and keeps finite differences for the mixed term as the reference does: its hypergradient is
 * checked against the reference's recipe (idarts/galpha_ref: exact H v, finite-difference
 * mixed term, float64); the gap to the fully exact one is printed. */
#define TOL_ID_GA_VAL 8e-6   /* dL_val/dalpha: measured 1.3e-6 default, 1.6e-6 SAN=1 (5x) */
#define TOL_ID_V0 1.5e-5     /* dL_val/dw per tensor: measured 2.2e-6 (7x) */
#define TOL_ID_D 2e-4        /* 2 H v0 + H v1 per tensor: measured 4.3e-5 (5x; float32
                              * differences of gradients over r = 0.01/|v|: the twin's own
                              * float32 vs float64 gap is 3.4e-5) */
#define TOL_ID_D_FROZEN 2e-3 /* D with frozen kinks vs exact H v, per tensor: measured 3.7e-4 (5x) */
#define TOL_ID_MIXED 1e-4    /* mixed term vs the reference recipe: measured 2.0e-5 (5x) */
#define TOL_ID_G 1e-4        /* hypergradient vs the reference recipe: measured 2.1e-5 (5x) */
/* GAEA */
#define TOL_GA_THETA 1e-6    /* theta after, elementwise relative: measured 1.6e-7 (6x); no
                              * clamp gives 9.5e-3, arch step after the weight step 6e-3 */
#define TOL_GA_LOSS 1e-6     /* losses (relative): measured 1.3e-7 (one float ulp is 1.2e-7) */
#define TOL_GA_NORM 1e-6     /* gradient norm (relative): measured 2.9e-7 */
#define TOL_GA_W 5e-6        /* weights after, per tensor: measured 7.0e-7, 8.4e-7 SAN=1 (6x) */
#define TOL_GA_BUF 1e-5      /* BN running statistics after: measured 1.8e-6 (6x) */
#define TOL_DEAD_BIAS 1e-6   /* cell conv biases (zero gradient, absolute): measured 7.5e-9 */
/* DARTS-PT */
#define TOL_PT_LOSS 6e-7     /* loss table, relative: measured 8.6e-8 (7x; one ulp 1.2e-7) */
#define TOL_PT_DLOSS 4e-5    /* loss change by masking (loss - base), normwise: measured
                              * 7.4e-6, 5.6e-6 SAN=1 (5x; changes of 3e-2 on losses of 2.1) */
#define TOL_PT_MIX 1e-6      /* base mix = softmax(alpha): measured 3.0e-8 */

static fixture fx;
static int have_fx;
static char why_fx[400];

/* A search of the fixture's configuration with images of `image`, the start weights loaded
 * from param/NAME and fresh running statistics (mean 0, variance 1, as PyTorch's). */
static dnas_search *make_search(const char *algo, int image) {
    const int *c = twin_need_i(&fx, "config", 7);
    if (!c) return NULL;
    dnas_search_config sc;
    twin_nb201_config(&sc, algo, c);
    sc.image = image;
    return twin_nb201_search(&fx, &sc);
}

/* Every weight tensor of `ours` (graph layout) that the fixture holds as prefix<name>
 * (all of them when `all`), normwise per tensor; cell conv biases absolutely. Returns the
 * worst relative error. */
static double compare_params(dnas_search *s, const float *ours, const char *prefix, int all, double tol,
                             const char *what) {
    dnas_graph *g = s->g;
    double worst = 0, worst_dead = 0;
    const char *worst_name = "";
    int n = 0;
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        char name[200];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        if (!all && !fx_get(&fx, name)) continue;
        size_t cnt = dnas_shape_numel(p->shape);
        const float *e = twin_need_f(&fx, name, cnt);
        if (!e) continue;
        float *ref = malloc(cnt * sizeof(float));
        fx_nchw_to_nhwc(ref, e, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
        double err = fx_relerr(ours + p->off, ref, cnt);
        if (twin_is_dead_bias(p->name)) {
            double md = 0;
            for (size_t k = 0; k < cnt; k++) md = fmax(md, fabs(ours[p->off + k] - ref[k]));
            worst_dead = fmax(worst_dead, md);
            err = md <= TOL_DEAD_BIAS ? 0 : md;
        }
        free(ref);
        n++;
        if (err > worst || err != err) {
            worst = err != err ? 1e30 : err;
            worst_name = p->name;
        }
        CHECK(err <= tol, "%s %s: relative error %.3g > %.1g", what, p->name, err, tol);
    }
    CHECK(n > 0, "%s: no tensors in the fixture", what);
    printf("  %s: %d tensors, worst max rel err %.3g (%s)", what, n, worst, worst_name);
    if (worst_dead > 0) printf("; cell conv biases max abs err %.3g", worst_dead);
    printf("\n");
    return worst;
}

/* ---- iDARTS --------------------------------------------------------------------------------- */

static void test_idarts_hypergradient(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *hyper = twin_need_f(&fx, "idarts/hyper", 3), *alpha = twin_need_f(&fx, "idarts/alpha", 30);
    const float *ga_val = twin_need_f(&fx, "idarts/ga_val", 30), *mixed = twin_need_f(&fx, "idarts/mixed", 30);
    const float *galpha = twin_need_f(&fx, "idarts/galpha", 30);
    const float *mixed_ex = twin_need_f(&fx, "idarts/mixed_exact", 30);
    const float *galpha_ex = twin_need_f(&fx, "idarts/galpha_exact", 30);
    const float *galpha_ref = twin_need_f(&fx, "idarts/galpha_ref", 30);
    const float *mixed_ref = twin_need_f(&fx, "idarts/mixed_ref", 30);
    const int *cfg = twin_need_i(&fx, "config", 7);
    if (!hyper || !alpha || !ga_val || !mixed || !galpha || !mixed_ex || !galpha_ex || !galpha_ref ||
        !mixed_ref || !cfg)
        return;
    dnas_search *s = make_search("idarts", cfg[4]);
    if (!s) return;
    dnas_graph *g = s->g;
    size_t nw = g->n_weights;
    const float gamma = hyper[0];
    s->cfg.gamma = gamma;
    s->cfg.neumann_k = (int)hyper[1];
    memcpy(s->alpha, alpha, sizeof(float) * 30);
    dnas_data_batch tr = {0}, va = {0};
    float *v0 = malloc(nw * sizeof(float)), *v1 = malloc(nw * sizeof(float)), *h0 = malloc(nw * sizeof(float));
    float *h1 = malloc(nw * sizeof(float)), *scratch = malloc((nw + g->n_bufs) * sizeof(float));
    if (!twin_batch(&fx, "idarts/xt", "idarts/yt", &tr) || !twin_batch(&fx, "idarts/xv", "idarts/yv", &va)) goto out;

    /* dL_val/dalpha and v0 = dL_val/dw at the start weights */
    float ours_ga[30], ours_mixed[30];
    CHECK(dnas_search_fwd_bwd(s, &va, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH, NULL) == DNAS_OK, "valid fwd/bwd: %s",
          dnas_last_error());
    dnas_search_mix_backward(s);
    memcpy(ours_ga, s->galpha, sizeof ours_ga);
    memcpy(v0, g->gw, nw * sizeof(float));
    double e_ga = fx_relerr(ours_ga, ga_val, 30);
    printf("  dL_val/dalpha: max rel err %.3g\n", e_ga);
    CHECK(e_ga <= TOL_ID_GA_VAL, "dL_val/dalpha differs: %.3g", e_ga);
    compare_params(s, v0, "idarts/v0/", 0, TOL_ID_V0, "v0 = dL_val/dw");

    /* The Neumann part alone: D = 2 H v0 + H v1, v1 = v0 - gamma H v0, by the library's
     * finite-difference HVP at eps 0.01 on the train batch (what idarts.c runs). */
    CHECK(dnas_search_set_batch(s, &tr) == DNAS_OK, "set batch");
    dnas_search_mix(s);
    CHECK(dnas_graph_fd_hvp(g, v0, hyper[2], h0, NULL, scratch) == DNAS_OK, "hvp: %s", dnas_last_error());
    for (size_t i = 0; i < nw; i++) v1[i] = v0[i] - gamma * h0[i];
    CHECK(dnas_graph_fd_hvp(g, v1, hyper[2], h1, NULL, scratch) == DNAS_OK, "hvp: %s", dnas_last_error());
    for (size_t i = 0; i < nw; i++) h0[i] = 2.0f * h0[i] + h1[i];
    compare_params(s, h0, "idarts/D/", 0, TOL_ID_D, "D = 2 H v0 + H v1 vs the twin's finite differences");
    double gap_d = compare_params(s, h0, "idarts/D_exact/", 0, INFINITY, "(printed only) D vs exact H v");
    /* The same with the ReLU patterns frozen (what idarts.c runs): the exact H v. */
    float *bk = malloc((g->n_bufs + 1) * sizeof(float));
    memcpy(bk, g->bufs, g->n_bufs * sizeof(float));
    CHECK(dnas_graph_set_kinks(g, DNAS_KINKS_RECORD) == DNAS_OK && dnas_graph_forward(g) == DNAS_OK &&
          dnas_graph_set_kinks(g, DNAS_KINKS_FROZEN) == DNAS_OK, "recording the kinks");
    CHECK(dnas_graph_fd_hvp(g, v0, hyper[2], h0, NULL, scratch) == DNAS_OK, "hvp: %s", dnas_last_error());
    for (size_t i = 0; i < nw; i++) v1[i] = v0[i] - gamma * h0[i];
    CHECK(dnas_graph_fd_hvp(g, v1, hyper[2], h1, NULL, scratch) == DNAS_OK, "hvp: %s", dnas_last_error());
    dnas_graph_set_kinks(g, DNAS_KINKS_FREE);
    memcpy(g->bufs, bk, g->n_bufs * sizeof(float));
    free(bk);
    for (size_t i = 0; i < nw; i++) h0[i] = 2.0f * h0[i] + h1[i];
    compare_params(s, h0, "idarts/D_exact/", 0, TOL_ID_D_FROZEN, "D with frozen kinks vs exact H v");

    /* The hypergradient; its mixed term is (dL_val/dalpha - g) / gamma. The weights and the
     * running statistics must come back bit-identical (the reference leaves w shifted). */
    memcpy(v1, g->w, nw * sizeof(float));
    float *b0 = malloc((g->n_bufs + 1) * sizeof(float));
    memcpy(b0, g->bufs, g->n_bufs * sizeof(float));
    CHECK(dnas_idarts_hypergradient(s, &tr, &va) == DNAS_OK, "hypergradient: %s", dnas_last_error());
    CHECK(memcmp(v1, g->w, nw * sizeof(float)) == 0, "the hypergradient left the weights changed");
    for (int i = 0; i < 30; i++) ours_mixed[i] = (ours_ga[i] - s->galpha[i]) / gamma;
    double e_g = fx_relerr(s->galpha, galpha_ref, 30), e_m = fx_relerr(ours_mixed, mixed_ref, 30);
    printf("  hypergradient (gamma %g, K %d) vs the reference's recipe (exact H v, finite-"
           "difference mixed term, float64): max rel err %.3g; mixed term %.3g\n", (double)gamma,
           s->cfg.neumann_k, e_g, e_m);
    CHECK(e_g <= TOL_ID_G, "iDARTS hypergradient differs: %.3g", e_g);
    CHECK(e_m <= TOL_ID_MIXED, "iDARTS mixed term differs: %.3g", e_m);
    printf("  (printed only) vs the fully exact hypergradient (exact mixed term too): g %.3g, mixed "
           "term %.3g; free-kink finite differences (the twin's float32 replay, idarts/galpha): "
           "g %.3g; free-kink D vs exact %.3g\n",
           fx_relerr(s->galpha, galpha_ex, 30), fx_relerr(ours_mixed, mixed_ex, 30),
           fx_relerr(s->galpha, galpha, 30), gap_d);
    /* Its valid forward updates the statistics like any train-mode forward; the perturbed
     * ones must not: the same as one valid forward from b0. */
    float *b1 = malloc((g->n_bufs + 1) * sizeof(float));
    memcpy(b1, g->bufs, g->n_bufs * sizeof(float));
    memcpy(g->bufs, b0, g->n_bufs * sizeof(float));
    CHECK(dnas_search_fwd_bwd(s, &va, DNAS_WANT_ARCH, NULL) == DNAS_OK, "valid forward");
    CHECK(memcmp(b1, g->bufs, g->n_bufs * sizeof(float)) == 0,
          "the hypergradient's perturbed forwards left the running statistics changed");
    free(b0);
    free(b1);
out:
    free((void *)tr.x);
    free((void *)va.x);
    free(v0);
    free(v1);
    free(h0);
    free(h1);
    free(scratch);
    dnas_search_destroy(s);
}

/* ---- GAEA ----------------------------------------------------------------------------------- */

static void gaea_step(const char *tag, int reg) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *hyper = twin_need_f(&fx, "gaea/hyper", 7), *theta0 = twin_need_f(&fx, "gaea/theta", 30);
    const int *clamped = twin_need_i(&fx, "gaea/clamped", 30), *cfg = twin_need_i(&fx, "config", 7);
    char n1[96], n2[96], n3[96], n4[96];
    snprintf(n1, sizeof n1, "gaea/%s/theta_after", tag);
    snprintf(n2, sizeof n2, "gaea/%s/train_loss", tag);
    snprintf(n3, sizeof n3, "gaea/%s/valid_loss", tag);
    snprintf(n4, sizeof n4, "gaea/%s/grad_norm", tag);
    const float *theta1 = twin_need_f(&fx, n1, 30), *tl = twin_need_f(&fx, n2, 1);
    const float *vl = twin_need_f(&fx, n3, 1), *gn = twin_need_f(&fx, n4, 1);
    if (!hyper || !theta0 || !clamped || !cfg || !theta1 || !tl || !vl || !gn) return;
    dnas_search *s = make_search("gaea", cfg[4]);
    if (!s) return;
    /* GAEA's defaults are the fixture's settings (config.c, ALGORITHMS.md B4). */
    const dnas_search_config *c = &s->cfg;
    CHECK(fabs(c->lr - hyper[0]) < 1e-9 && fabs(c->momentum - hyper[1]) < 1e-7 &&
              fabs(c->weight_decay - hyper[2]) < 1e-9 && c->grad_clip == hyper[3] &&
              fabs(c->arch_lr - hyper[4]) < 1e-8 && c->nesterov == 0 && strcmp(c->ops, "no-none") == 0,
          "GAEA defaults differ from the fixture's (lr %g mom %g wd %g clip %g eta %g nesterov %d ops %s)",
          c->lr, c->momentum, c->weight_decay, c->grad_clip, c->arch_lr, c->nesterov, c->ops);
    s->cfg.entropy_reg = reg ? hyper[6] : 0.0;
    memcpy(s->alpha, theta0, sizeof(float) * 30);
    for (int r = 0; r < 6; r++) CHECK(s->cand[r * 5] == 0, "row %d: 'none' is a candidate", r);
    dnas_data_batch tr = {0}, va = {0};
    if (twin_batch(&fx, "gaea/xt", "gaea/yt", &tr) && twin_batch(&fx, "gaea/xv", "gaea/yv", &va)) {
        CHECK(dnas_search_step(s, &tr, &va) == DNAS_OK, "step: %s", dnas_last_error());
        /* EG is multiplicative: compare theta entry by entry, relative (the clamped 1e-5
         * entries included, which a normwise error would not see). */
        double worst = 0;
        int n_clamped = 0;
        for (int i = 0; i < 30; i++) {
            if (i % 5 == 0) {
                CHECK(s->alpha[i] == 0.0f && theta1[i] == 0.0f, "theta[%d] ('none') %g", i, (double)s->alpha[i]);
                continue;
            }
            double e = fabs(s->alpha[i] - theta1[i]) / theta1[i];
            worst = fmax(worst, e != e ? 1e30 : e);
            n_clamped += clamped[i] != 0;
        }
        printf("  %s: theta after the EG step: max elementwise rel err %.3g (the unregularised step clamps %d "
               "entries)\n", tag, worst, n_clamped);
        CHECK(worst <= TOL_GA_THETA, "%s: theta after differs: %.3g", tag, worst);
        CHECK(n_clamped >= 2, "the fixture's step clamps only %d entries", n_clamped);
        double et = fabs(s->train_m.loss / tr.n - tl[0]) / tl[0], ev = fabs(s->valid_m.loss / va.n - vl[0]) / vl[0];
        double en = fabs(s->last_grad_norm - gn[0]) / gn[0];
        printf("  %s: train loss %.7f (torch %.7f), valid loss %.7f (torch %.7f), grad norm %.6f (torch %.6f): "
               "rel errs %.3g %.3g %.3g\n", tag, s->train_m.loss / tr.n, (double)tl[0], s->valid_m.loss / va.n,
               (double)vl[0], s->last_grad_norm, (double)gn[0], et, ev, en);
        CHECK(et <= TOL_GA_LOSS && ev <= TOL_GA_LOSS, "%s: losses differ: %.3g %.3g", tag, et, ev);
        CHECK(en <= TOL_GA_NORM, "%s: gradient norm differs: %.3g", tag, en);
        char pre[96];
        snprintf(pre, sizeof pre, "gaea/%s/param_after/", tag);
        compare_params(s, s->g->w, pre, !reg, TOL_GA_W, "weights after the step");
        if (!reg) {
            dnas_graph *g = s->g;
            double wb = 0;
            for (int i = 0; i < g->n_bufdesc; i++) {
                char name[200];
                snprintf(name, sizeof name, "gaea/plain/buffer_after/%s", g->bufdesc[i].name);
                const float *e = twin_need_f(&fx, name, g->bufdesc[i].n);
                if (!e) continue;
                double err = fx_relerr(g->bufs + g->bufdesc[i].off, e, g->bufdesc[i].n);
                wb = fmax(wb, err != err ? 1e30 : err);
            }
            printf("  %s: %d running statistics after the step: worst max rel err %.3g\n", tag, g->n_bufdesc, wb);
            CHECK(wb <= TOL_GA_BUF, "running statistics differ: %.3g", wb);
        }
    }
    free((void *)tr.x);
    free((void *)va.x);
    dnas_search_destroy(s);
}

static void test_gaea_step(void) { gaea_step("plain", 0); }
static void test_gaea_step_entropic(void) { gaea_step("ent", 1); }

/* ---- DARTS-PT ------------------------------------------------------------------------------- */

typedef struct {
    dnas_cifar data;
    int idx[64], n;
    const float *acc, *loss, *base_loss; /* the twin's tables (6 x 5) */
    const float *base;                   /* the mix dnas_pt_decide starts from */
    int calls, rows_seen[6], bad_mix;
    double worst_loss;
} pt_ctx;

/* Mean loss over the image set with mixing weights `mix`: the batches dnas_select_accuracy
 * sees (eval loader, no augmentation), train-mode forwards, running statistics restored. */
static dnas_status pt_loss(dnas_search *s, pt_ctx *p, const float *mix, double *loss) {
    dnas_graph *g = s->g;
    float *b0 = malloc((g->n_bufs + 1) * sizeof(float));
    memcpy(b0, g->bufs, g->n_bufs * sizeof(float));
    dnas_loader_config lc;
    dnas_loader_config_eval(&lc, &p->data, s->cfg.batch);
    lc.idx = p->idx;
    lc.n_idx = p->n;
    dnas_loader *L = NULL;
    dnas_status st = dnas_loader_create(&lc, &L);
    double sum = 0, seen = 0;
    for (int i = 0; st == DNAS_OK && i < dnas_loader_steps(L); i++) {
        dnas_loader_batch b;
        st = dnas_loader_next(L, &b);
        if (st == DNAS_OK) st = dnas_search_set_batch(s, &b.train);
        if (st != DNAS_OK) break;
        memcpy(g->mix, mix, (size_t)g->n_mix * sizeof(float));
        st = dnas_graph_forward(g);
        sum += (double)g->loss_value * b.train.n;
        seen += b.train.n;
    }
    dnas_loader_destroy(L);
    memcpy(g->bufs, b0, g->n_bufs * sizeof(float));
    free(b0);
    *loss = seen > 0 ? sum / seen : NAN;
    return st;
}

/* The scorer handed to dnas_pt_decide: dnas_select_accuracy, and a check that the weights it
 * is asked to score are the base mix with exactly one entry zeroed (not renormalised), whose
 * loss and accuracy must be the twin's table entry. */
static dnas_status pt_score(void *ctx, dnas_search *s, const float *mix, double *acc) {
    pt_ctx *p = ctx;
    p->calls++;
    int masked = -1, n_masked = 0;
    for (int i = 0; i < 30; i++) {
        if (mix[i] == 0.0f && p->base[i] != 0.0f) {
            masked = i;
            n_masked++;
        }
    }
    DNAS_TRY(dnas_select_accuracy(s, &p->data, p->idx, p->n, mix, acc));
    if (n_masked != 1) {
        p->bad_mix++;
        return DNAS_OK;
    }
    p->rows_seen[masked / 5]++;
    double loss;
    DNAS_TRY(pt_loss(s, p, mix, &loss));
    double e = fabs(loss - p->loss[masked]) / p->loss[masked];
    p->worst_loss = fmax(p->worst_loss, e != e ? 1e30 : e);
    CHECK(fabs(*acc - p->acc[masked]) < 1e-3, "decision: accuracy without row %d op %d %.4f, twin %.4f",
          masked / 5, masked % 5, *acc, (double)p->acc[masked]);
    return DNAS_OK;
}

static void test_pt_score_table(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const int *pc = twin_need_i(&fx, "pt/config", 4), *choice = twin_need_i(&fx, "pt/choice", 6);
    const int *cfg = twin_need_i(&fx, "config", 7);
    const float *alpha = twin_need_f(&fx, "pt/alpha", 30), *mixref = twin_need_f(&fx, "pt/mix", 30);
    const float *acc_ref = twin_need_f(&fx, "pt/acc", 30), *loss_ref = twin_need_f(&fx, "pt/loss", 30);
    const float *base_acc = twin_need_f(&fx, "pt/base_acc", 1), *base_loss = twin_need_f(&fx, "pt/base_loss", 1);
    if (!pc || !choice || !cfg || !alpha || !mixref || !acc_ref || !loss_ref || !base_acc || !base_loss) return;
    const int image = pc[0], n = pc[1];
    const int *labels = twin_need_i(&fx, "pt/labels", (size_t)n);
    const int *packed = twin_need_i(&fx, "pt/pixels", (size_t)n * DNAS_CIFAR_PIXELS / 4);
    if (!labels || !packed) return;
    CHECK(image == DNAS_CIFAR_SIDE && n <= 64 && n % cfg[3] == 0, "pt config: image %d, %d images", image, n);
    if (image != DNAS_CIFAR_SIDE || n > 64 || n % cfg[3]) return;
    dnas_search *s = make_search("darts1", image);
    if (!s) return;
    pt_ctx p;
    memset(&p, 0, sizeof p);
    p.data.kind = DNAS_CIFAR10;
    p.data.n = n;
    p.data.classes = 10;
    p.data.pixels = malloc((size_t)n * DNAS_CIFAR_PIXELS);
    memcpy(p.data.pixels, packed, (size_t)n * DNAS_CIFAR_PIXELS); /* 4 pixel bytes per int32, little-endian */
    p.data.labels = (int *)labels;
    p.n = n;
    for (int i = 0; i < n; i++) p.idx[i] = i;
    p.acc = acc_ref;
    p.loss = loss_ref;
    p.base_loss = base_loss;

    memcpy(s->alpha, alpha, sizeof(float) * 30);
    CHECK(dnas_pt_begin(s) == DNAS_OK, "pt begin: %s", dnas_last_error());
    s->fixed[pc[2]] = pc[3];
    float base[30], w[30];
    dnas_search_weights(s, base);
    double e_mix = fx_relerr(base, mixref, 30);
    printf("  base mix (softmax, row %d one-hot): max rel err %.3g\n", pc[2], e_mix);
    CHECK(e_mix <= TOL_PT_MIX, "base mix differs: %.3g", e_mix);

    double acc, loss, e_loss = 0, dl_err = 0, dl_max = 0;
    int acc_bad = 0;
    CHECK(dnas_select_accuracy(s, &p.data, p.idx, n, base, &acc) == DNAS_OK, "accuracy: %s", dnas_last_error());
    CHECK(pt_loss(s, &p, base, &loss) == DNAS_OK, "loss: %s", dnas_last_error());
    printf("  unmasked: accuracy %.2f%% (torch %.2f%%), loss %.7f (torch %.7f)\n", acc, (double)base_acc[0], loss,
           (double)base_loss[0]);
    CHECK(fabs(acc - base_acc[0]) < 1e-3, "unmasked accuracy %.4f vs %.4f", acc, (double)base_acc[0]);
    e_loss = fabs(loss - base_loss[0]) / base_loss[0];
    const double loss0 = loss;
    for (int i = 0; i < 30; i++) {
        memcpy(w, base, sizeof w);
        w[i] = 0.0f;
        CHECK(dnas_select_accuracy(s, &p.data, p.idx, n, w, &acc) == DNAS_OK, "accuracy: %s", dnas_last_error());
        CHECK(pt_loss(s, &p, w, &loss) == DNAS_OK, "loss: %s", dnas_last_error());
        /* counts of correct predictions must agree exactly (the twin checked that no
         * prediction is within 3e-4 of a logit tie, relative) */
        if (fabs(acc - acc_ref[i]) >= 1e-3) {
            acc_bad++;
            printf("  row %d op %d: accuracy %.4f%%, torch %.4f%%\n", i / 5, i % 5, acc, (double)acc_ref[i]);
        }
        e_loss = fmax(e_loss, fabs(loss - loss_ref[i]) / loss_ref[i]);
        dl_err = fmax(dl_err, fabs((loss - loss0) - ((double)loss_ref[i] - base_loss[0])));
        dl_max = fmax(dl_max, fabs((double)loss_ref[i] - base_loss[0]));
    }
    double e_dl = dl_err / fmax(dl_max, 1e-30);
    printf("  30 masked supernets: %d accuracies differ; loss max rel err %.3g; loss change normwise rel err "
           "%.3g (max change %.3g)\n", acc_bad, e_loss, e_dl, dl_max);
    CHECK(acc_bad == 0, "%d masked accuracies differ from the twin's", acc_bad);
    CHECK(e_loss <= TOL_PT_LOSS, "loss table differs: %.3g", e_loss);
    CHECK(e_dl <= TOL_PT_DLOSS, "loss changes differ: %.3g", e_dl);

    /* One decision of dnas_pt_decide: a random undecided row, scored through pt_score. */
    p.base = base;
    CHECK(dnas_pt_decide(s, pt_score, &p, NULL, 0) == DNAS_OK, "decide: %s", dnas_last_error());
    int row = -1;
    for (int r = 0; r < 6; r++)
        if (p.rows_seen[r]) row = r;
    printf("  decision: row %d scored %d times (worst loss rel err %.3g), kept op %d, twin's argmin %d\n", row, p.calls,
           p.worst_loss, row >= 0 ? s->fixed[row] : -1, row >= 0 ? choice[row] : -1);
    CHECK(p.bad_mix == 0, "%d scored weight sets were not 'the base with one entry zeroed'", p.bad_mix);
    CHECK(row >= 0 && row != pc[2] && p.rows_seen[row] == 5 && p.calls == 5,
          "the decision scored row %d (%d calls); want one undecided row, 5 ops", row, p.calls);
    CHECK(p.worst_loss <= TOL_PT_LOSS, "scored loss differs: %.3g", p.worst_loss);
    if (row >= 0) CHECK(s->fixed[row] == choice[row], "row %d: kept op %d, the twin's argmin %d", row, s->fixed[row], choice[row]);
    free(p.data.pixels);
    dnas_search_destroy(s);
}

int main(void) {
    have_fx = twin_load(&fx, "tests/ref/methods_fixture.bin", why_fx, sizeof why_fx);
    if (!have_fx) snprintf(why_fx, sizeof why_fx, "%.300s (this fixture: tests/ref/methods_twin.py)", fx_why);
    RUN(test_idarts_hypergradient);
    RUN(test_gaea_step);
    RUN(test_gaea_step_entropic);
    RUN(test_pt_score_table);
    fx_free(&fx);
    TEST_EXIT();
}
