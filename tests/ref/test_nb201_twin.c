/* The NB201 supernet against our PyTorch twin (tests/ref/nb201_twin.py): the same logits,
 * loss and gradients of every weight tensor and of alpha, the same 5-step DARTS-V1 trajectory,
 * and the same second-order (DARTS-V2) alpha gradient. Max relative error printed per tensor. */
#include "test.h"
#include "fixture.h"
#include "search/search.h"
#include "core/alloc.h"
#include <math.h>

#define TOL_FWD 1e-4   /* logits, loss */
#define TOL_GRAD 2e-3  /* per-tensor gradients (float32 vs float32, different summation orders) */
#define TOL_TRAJ 2e-3  /* after 5 optimiser steps */

static fixture fx, fx2;
static int have_fx, have_fx2;

/* Builds a search of the fixture's configuration and loads its start state. */
static dnas_search *make_search(const fixture *f, const char *algo) {
    const fx_entry *cfg = fx_get(f, "config");
    if (!cfg || cfg->count < 7) return NULL;
    const int *c = cfg->data;
    dnas_search_config sc;
    dnas_search_config_default(&sc, algo);
    sc.channels = c[0];
    sc.cells = c[1];
    sc.batch = c[3];
    sc.image = c[4];
    sc.track_bn = c[5];
    sc.threads = 2;
    dnas_search *s = NULL;
    if (dnas_search_create(&sc, &s) != DNAS_OK) {
        printf("  create: %s\n", dnas_last_error());
        return NULL;
    }
    dnas_graph *g = s->g;
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        char name[200];
        snprintf(name, sizeof name, "param/%s", p->name);
        const fx_entry *e = fx_get(f, name);
        if (!e || e->count != dnas_shape_numel(p->shape)) {
            printf("  fixture lacks %s or its size differs\n", name);
            dnas_search_destroy(s);
            return NULL;
        }
        fx_nchw_to_nhwc(g->w + p->off, e->data, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
    }
    for (int i = 0; i < g->n_bufdesc; i++) {
        char name[200];
        snprintf(name, sizeof name, "buffer/%s", g->bufdesc[i].name);
        const fx_entry *e = fx_get(f, name);
        if (e && e->count == g->bufdesc[i].n)
            memcpy(g->bufs + g->bufdesc[i].off, e->data, e->count * sizeof(float));
    }
    const fx_entry *a = fx_get(f, "alpha");
    if (!a || a->count != s->n_alpha) {
        dnas_search_destroy(s);
        return NULL;
    }
    memcpy(s->alpha, a->data, s->n_alpha * sizeof(float));
    s->lr = 0.025f;
    return s;
}

/* A fixture batch (NCHW images) as an NHWC data batch; caller frees x. */
static int get_batch(const fixture *f, const char *xn, const char *yn, dnas_data_batch *b) {
    const fx_entry *x = fx_get(f, xn), *y = fx_get(f, yn);
    if (!x || !y || x->ndim != 4) return 0;
    float *buf = malloc(x->count * sizeof(float));
    fx_nchw_to_nhwc(buf, x->data, x->dims[0], x->dims[1], x->dims[2], x->dims[3]);
    b->n = x->dims[0];
    b->x = buf;
    b->y = y->data;
    return 1;
}

/* Compare every weight tensor of `ours` (NHWC/OHWI) against fixture entries prefix<name>. */
static void compare_params(dnas_search *s, const float *ours, const fixture *f, const char *prefix,
                           double tol, const char *what) {
    dnas_graph *g = s->g;
    double worst = 0;
    const char *worst_name = "";
    int n_checked = 0;
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        char name[200];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const fx_entry *e = fx_get(f, name);
        CHECK(e != NULL, "fixture lacks %s", name);
        if (!e) continue;
        float *ref = malloc(e->count * sizeof(float));
        fx_nchw_to_nhwc(ref, e->data, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
        double err = fx_relerr(ours + p->off, ref, e->count);
        /* A conv bias right before batch-statistics BN has an analytically zero gradient, so
         * its gradient (and what it adds to momentum) is rounding noise in both engines:
         * those tensors are compared with an absolute tolerance instead. */
        const char *bias = strstr(p->name, ".conv.bias");
        if (strstr(p->name, "edges.") && bias && bias[strlen(".conv.bias")] == 0) {
            double md = 0;
            for (size_t k = 0; k < e->count; k++) md = fmax(md, fabs(ours[p->off + k] - ref[k]));
            err = md < 1e-6 ? 0 : md;
        }
        free(ref);
        n_checked++;
        if (err > worst) {
            worst = err;
            worst_name = p->name;
        }
        if (err > tol) printf("  %s %s: max rel err %.3g\n", what, p->name, err);
        CHECK(err <= tol, "%s %s: relative error %.3g > %.1g", what, p->name, err, tol);
    }
    printf("  %s: %d tensors, worst max rel err %.3g (%s)\n", what, n_checked, worst, worst_name);
}

static void test_forward_backward(void) {
    if (!have_fx) SKIP_CASE("fixture tests/ref/nb201_fixture.bin missing");
    dnas_search *s = make_search(&fx, "darts1");
    CHECK(s != NULL, "cannot build the supernet of the fixture");
    if (!s) return;
    dnas_data_batch b;
    CHECK(get_batch(&fx, "x", "y", &b), "fixture batch");
    dnas_status st = dnas_search_fwd_bwd(s, &b, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH, NULL);
    CHECK(st == DNAS_OK, "fwd/bwd: %s", dnas_last_error());
    s->strat->mix_backward(s);
    const fx_entry *lg = fx_get(&fx, "out/logits"), *ls = fx_get(&fx, "out/loss");
    dnas_graph *g = s->g;
    double e_logits = fx_relerr(g->vals[g->logits].data, lg->data, lg->count);
    double e_loss = fabs(g->loss_value - ((float *)ls->data)[0]) / fabs(((float *)ls->data)[0]);
    printf("  logits max rel err %.3g, loss %.6f vs %.6f (rel %.3g)\n", e_logits,
           (double)g->loss_value, (double)((float *)ls->data)[0], e_loss);
    CHECK(e_logits < TOL_FWD, "logits differ: %.3g", e_logits);
    CHECK(e_loss < TOL_FWD, "loss differs: %.3g", e_loss);
    compare_params(s, g->gw, &fx, "grad/", TOL_GRAD, "weight grad");
    const fx_entry *ga = fx_get(&fx, "grad/alpha");
    double e_ga = fx_relerr(s->galpha, ga->data, ga->count);
    printf("  alpha grad max rel err %.3g\n", e_ga);
    CHECK(e_ga < TOL_GRAD, "alpha gradient differs: %.3g", e_ga);
    free((void *)b.x);
    dnas_search_destroy(s);
}

static void test_darts_v1_steps(void) {
    if (!have_fx) SKIP_CASE("fixture tests/ref/nb201_fixture.bin missing");
    dnas_search *s = make_search(&fx, "darts1");
    CHECK(s != NULL, "cannot build the supernet of the fixture");
    if (!s) return;
    const fx_entry *tl = fx_get(&fx, "v1/train_loss"), *vl = fx_get(&fx, "v1/valid_loss");
    int steps = ((const int *)fx_get(&fx, "config")->data)[6];
    for (int k = 0; k < steps; k++) {
        char n1[64], n2[64], n3[64], n4[64];
        snprintf(n1, sizeof n1, "v1/%d/xt", k);
        snprintf(n2, sizeof n2, "v1/%d/yt", k);
        snprintf(n3, sizeof n3, "v1/%d/xv", k);
        snprintf(n4, sizeof n4, "v1/%d/yv", k);
        dnas_data_batch tr, va;
        CHECK(get_batch(&fx, n1, n2, &tr) && get_batch(&fx, n3, n4, &va), "fixture step %d", k);
        dnas_meter t0 = s->train_m, v0 = s->valid_m;
        dnas_status st = dnas_search_step(s, &tr, &va);
        CHECK(st == DNAS_OK, "step %d: %s", k, dnas_last_error());
        double lt = (s->train_m.loss - t0.loss) / tr.n, lv = (s->valid_m.loss - v0.loss) / va.n;
        double rt = ((const float *)tl->data)[k], rv = ((const float *)vl->data)[k];
        printf("  step %d: train loss %.6f (torch %.6f)  valid loss %.6f (torch %.6f)\n", k, lt, rt, lv, rv);
        CHECK(fabs(lt - rt) / fabs(rt) < TOL_TRAJ, "step %d train loss %.6f vs %.6f", k, lt, rt);
        CHECK(fabs(lv - rv) / fabs(rv) < TOL_TRAJ, "step %d valid loss %.6f vs %.6f", k, lv, rv);
        free((void *)tr.x);
        free((void *)va.x);
    }
    const fx_entry *af = fx_get(&fx, "v1/alpha_final"), *a0 = fx_get(&fx, "alpha");
    /* alpha moves by ~1e-3 per step from ~1e-3: compare the change, relative to its size. */
    float d_ours[64], d_ref[64];
    for (size_t i = 0; i < s->n_alpha; i++) {
        d_ours[i] = s->alpha[i] - ((const float *)a0->data)[i];
        d_ref[i] = ((const float *)af->data)[i] - ((const float *)a0->data)[i];
    }
    double e_a = fx_relerr(d_ours, d_ref, s->n_alpha);
    printf("  alpha change after %d steps: max rel err %.3g\n", steps, e_a);
    CHECK(e_a < 1e-2, "alpha trajectory differs: %.3g", e_a);
    compare_params(s, s->g->w, &fx, "v1/param_final/", TOL_TRAJ, "weights after 5 steps");
    dnas_search_destroy(s);
}

static void test_darts_v2_gradient(void) {
    if (!have_fx2) SKIP_CASE("fixture tests/ref/nb201_fixture_v2.bin missing");
    dnas_search *s = make_search(&fx2, "darts2");
    CHECK(s != NULL, "cannot build the supernet of the fixture");
    if (!s) return;
    dnas_data_batch t0, tr, va;
    CHECK(get_batch(&fx2, "v2/xt0", "v2/yt0", &t0), "fixture batch");
    CHECK(get_batch(&fx2, "v2/xt", "v2/yt", &tr) && get_batch(&fx2, "v2/xv", "v2/yv", &va), "batches");
    CHECK(dnas_search_weight_step_sgd(s, &t0) == DNAS_OK, "weight step: %s", dnas_last_error());
    compare_params(s, s->g->w, &fx2, "v2/param_after_step0/", TOL_TRAJ, "weights after step 0");
    compare_params(s, s->wopt.buf, &fx2, "v2/momentum/", TOL_TRAJ, "momentum after step 0");
    dnas_status st = s->strat->arch_step(s, &tr, &va);
    CHECK(st == DNAS_OK, "arch step: %s", dnas_last_error());
    const fx_entry *ga = fx_get(&fx2, "v2/galpha");
    double e = fx_relerr(s->galpha, ga->data, ga->count);
    printf("  second-order alpha gradient: max rel err %.3g vs the twin's\n", e);
    CHECK(e < 2e-2, "DARTS-V2 alpha gradient differs: %.3g", e);
    free((void *)t0.x);
    free((void *)tr.x);
    free((void *)va.x);
    dnas_search_destroy(s);
}

int main(void) {
    have_fx = fx_load(&fx, "tests/ref/nb201_fixture.bin");
    have_fx2 = fx_load(&fx2, "tests/ref/nb201_fixture_v2.bin");
    RUN(test_forward_backward);
    RUN(test_darts_v1_steps);
    RUN(test_darts_v2_gradient);
    fx_free(&fx);
    fx_free(&fx2);
    TEST_EXIT();
}
