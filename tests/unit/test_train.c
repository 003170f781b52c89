/* The training pieces of src/train against torch's own classes (tests/ref/optim_fixture.bin,
 * written by tests/ref/make_fixtures.py): SGD (plain, momentum, Nesterov, weight decay), Adam
 * (with and without its coupled weight decay), clip_grad_norm_ (above and below the limit) and
 * CosineAnnealingLR. Each comparison also checks that the fixture tells the variants apart
 * (e.g. Adam with and without weight decay), so a tolerance can never hide such a bug.
 *
 * Tolerances are multiples of the measured errors (default build and SAN=1), stated below. */
#include "test.h"
#include "twin.h"
#include "train/optim.h"

#define TOL_SGD 1e-6    /* weights and momentum buffer: measured <= 1.2e-7 (8x; float32 ulp 1.2e-7) */
#define TOL_ADAM 1e-6   /* weights and first moment: measured <= 1.1e-7 (9x) */
/* Second moment: measured 1.3e-5. Not noise but the float hyperparameter: (1 - 0.999f) is
 * 1.29e-5 away from torch's 1 - 0.999 (double). It cancels against the same factor in the bias
 * correction, so the weights still agree to float precision (TOL_ADAM). */
#define TOL_ADAM_V 5e-5
#define TOL_CLIP 1e-6   /* clipped gradient and norm: measured <= 1.2e-7 (8x) */
#define TOL_COSINE 1e-6 /* learning rate, relative: measured <= 1.2e-7 (8x) */

static fixture fx;
static int have_fx;
static char why_fx[400];

/* The fixture's start vector and gradient sequence. */
static int optim_inputs(const float **w0, const float **grads, size_t *n, int *steps) {
    const fx_entry *g = fx_get(&fx, "grads");
    CHECK(g && g->ndim == 2 && g->dtype == 0, "fixture entry grads");
    if (!g || g->ndim != 2 || g->dtype != 0) return 0;
    *steps = g->dims[0];
    *n = (size_t)g->dims[1];
    *grads = g->data;
    *w0 = twin_need_f(&fx, "w0", *n);
    CHECK(*n <= 64, "fixture vector of %zu values, the test holds 64", *n);
    return *w0 != NULL && *n <= 64;
}

static void test_sgd_matches_torch(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *w0, *grads;
    size_t n;
    int steps;
    if (!optim_inputs(&w0, &grads, &n, &steps)) return;
    const char *cases[] = {"plain", "momentum", "nesterov"};
    float finals[3][64];
    for (int c = 0; c < 3; c++) {
        char name[80];
        snprintf(name, sizeof name, "sgd/%s/hyper", cases[c]);
        const float *h = twin_need_f(&fx, name, 4);
        snprintf(name, sizeof name, "sgd/%s/w", cases[c]);
        const float *ref = twin_need_f(&fx, name, (size_t)steps * n);
        if (!h || !ref) return;
        dnas_sgd o;
        CHECK(dnas_sgd_init(&o, n, h[0], h[1], h[2], h[3] != 0) == DNAS_OK, "%s", dnas_last_error());
        float w[64];
        memcpy(w, w0, n * sizeof(float));
        double worst = 0;
        for (int k = 0; k < steps; k++) {
            dnas_sgd_step(&o, w, grads + (size_t)k * n);
            double e = fx_relerr(w, ref + (size_t)k * n, n);
            worst = fmax(worst, e);
            CHECK(e <= TOL_SGD, "SGD %s step %d: weights differ by %.3g", cases[c], k, e);
        }
        memcpy(finals[c], w, n * sizeof(float));
        if (h[1] > 0) {
            snprintf(name, sizeof name, "sgd/%s/buf", cases[c]);
            const float *buf = twin_need_f(&fx, name, n);
            if (buf) {
                double e = fx_relerr(o.buf, buf, n);
                worst = fmax(worst, e);
                CHECK(e <= TOL_SGD, "SGD %s: momentum buffer differs by %.3g", cases[c], e);
            }
        }
        printf("  SGD %-8s (lr %g, momentum %g, wd %g, nesterov %d): %d steps, max rel err %.3g\n",
               cases[c], (double)h[0], (double)h[1], (double)h[2], h[3] != 0, steps, worst);
        dnas_sgd_free(&o);
    }
    /* The three variants must end far apart, or the checks above could not tell them apart. */
    double d_mom = fx_relerr(finals[1], finals[0], n), d_nest = fx_relerr(finals[2], finals[1], n);
    printf("  variants apart: momentum vs plain %.3g, nesterov vs momentum %.3g\n", d_mom, d_nest);
    CHECK(d_mom > 1000 * TOL_SGD && d_nest > 1000 * TOL_SGD, "the SGD cases are too close to tell apart");
}

/* Runs Adam over the fixture's gradients with the given hyperparameters. */
static void adam_run(const float *h, const float *w0, const float *grads, size_t n, int steps,
                     float *w, const float *ref, double *worst, const char *what, dnas_adam *o) {
    CHECK(dnas_adam_init(o, n, h[0], h[1], h[2], h[3], h[4]) == DNAS_OK, "%s", dnas_last_error());
    memcpy(w, w0, n * sizeof(float));
    for (int k = 0; k < steps; k++) {
        dnas_adam_step(o, w, grads + (size_t)k * n);
        if (ref) {
            double e = fx_relerr(w, ref + (size_t)k * n, n);
            *worst = fmax(*worst, e);
            CHECK(e <= TOL_ADAM, "Adam %s step %d: weights differ by %.3g", what, k, e);
        }
    }
}

static void test_adam_matches_torch(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *w0, *grads;
    size_t n;
    int steps;
    if (!optim_inputs(&w0, &grads, &n, &steps)) return;
    const char *cases[] = {"plain", "wd"};
    for (int c = 0; c < 2; c++) {
        char name[80];
        snprintf(name, sizeof name, "adam/%s/hyper", cases[c]);
        const float *h = twin_need_f(&fx, name, 5);
        snprintf(name, sizeof name, "adam/%s/w", cases[c]);
        const float *ref = twin_need_f(&fx, name, (size_t)steps * n);
        snprintf(name, sizeof name, "adam/%s/m", cases[c]);
        const float *m = twin_need_f(&fx, name, n);
        snprintf(name, sizeof name, "adam/%s/v", cases[c]);
        const float *v = twin_need_f(&fx, name, n);
        if (!h || !ref || !m || !v) return;
        dnas_adam o;
        float w[64];
        double worst = 0;
        adam_run(h, w0, grads, n, steps, w, ref, &worst, cases[c], &o);
        double em = fx_relerr(o.m, m, n), ev = fx_relerr(o.v, v, n);
        CHECK(em <= TOL_ADAM, "Adam %s: first moment differs by %.3g", cases[c], em);
        CHECK(ev <= TOL_ADAM_V, "Adam %s: second moment differs by %.3g", cases[c], ev);
        printf("  Adam %-5s (lr %g, betas %g %g, wd %g): %d steps, max rel err weights %.3g, m %.3g, v %.3g\n",
               cases[c], (double)h[0], (double)h[1], (double)h[2], (double)h[4], steps, worst, em, ev);
        CHECK(o.t == steps, "Adam counted %ld steps, want %d", o.t, steps);
        dnas_adam_free(&o);
        if (h[4] > 0) {
            /* The same run without weight decay must land far from torch's: the fixture's decay
             * is large enough that dropping it cannot hide under the tolerance. */
            float h0[5] = {h[0], h[1], h[2], h[3], 0.0f}, w_nowd[64];
            double unused = 0;
            adam_run(h0, w0, grads, n, steps, w_nowd, NULL, &unused, "no wd", &o);
            double gap = fx_relerr(w_nowd, ref + (size_t)(steps - 1) * n, n);
            printf("  Adam without its weight decay would differ by %.3g\n", gap);
            CHECK(gap > 1000 * TOL_ADAM, "weight decay changes too little to be tested (%.3g)", gap);
            dnas_adam_free(&o);
        }
    }
}

static void test_adam_rejects_bad_hyperparameters(void) {
    dnas_adam o;
    CHECK(dnas_adam_init(&o, 4, 0.1f, 1.0f, 0.999f, 1e-8f, 0) != DNAS_OK, "beta1 = 1 accepted");
    CHECK(dnas_adam_init(&o, 4, 0.1f, 0.9f, 0.999f, 0.0f, 0) != DNAS_OK, "eps = 0 accepted");
    CHECK(dnas_adam_init(&o, 4, -0.1f, 0.9f, 0.999f, 1e-8f, 0) != DNAS_OK, "negative lr accepted");
    dnas_sgd s;
    CHECK(dnas_sgd_init(&s, 4, 0.1f, 0.0f, 0.0f, 1) != DNAS_OK, "Nesterov without momentum accepted");
    CHECK(dnas_sgd_init(&s, 4, 0.1f, -0.5f, 0.0f, 0) != DNAS_OK, "negative momentum accepted");
}

static void test_clip_matches_torch(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const char *cases[] = {"big", "small"};
    for (int c = 0; c < 2; c++) {
        char name[80];
        snprintf(name, sizeof name, "clip/%s/g", cases[c]);
        const float *g = twin_need_f(&fx, name, 0);
        size_t n = g ? fx_get(&fx, name)->count : 0;
        snprintf(name, sizeof name, "clip/%s/max_norm", cases[c]);
        const float *mx = twin_need_f(&fx, name, 1);
        snprintf(name, sizeof name, "clip/%s/norm", cases[c]);
        const float *nr = twin_need_f(&fx, name, 1);
        snprintf(name, sizeof name, "clip/%s/out", cases[c]);
        const float *out = twin_need_f(&fx, name, n);
        if (!g || !mx || !nr || !out) return;
        float *x = malloc(n * sizeof(float));
        memcpy(x, g, n * sizeof(float));
        double norm = dnas_clip_grad_norm(x, n, mx[0]);
        double en = fabs(norm - nr[0]) / nr[0], eo = fx_relerr(x, out, n);
        double after = sqrt(dnas_sumsq(x, n));
        printf("  clip %-5s: norm %.6f (torch %.6f) -> %.6f, limit %g: max rel err norm %.3g, values %.3g\n",
               cases[c], norm, (double)nr[0], after, (double)mx[0], en, eo);
        CHECK(en <= TOL_CLIP, "clip %s: norm differs by %.3g", cases[c], en);
        CHECK(eo <= TOL_CLIP, "clip %s: clipped values differ by %.3g", cases[c], eo);
        if (nr[0] > mx[0]) {
            CHECK(fabs(after - mx[0]) <= 1e-5 * mx[0], "clip %s: norm after clipping %.7f, want %g", cases[c], after, (double)mx[0]);
            CHECK(fx_relerr(x, g, n) > 0.1, "clip %s: the fixture's gradient was not scaled", cases[c]);
        } else {
            CHECK(memcmp(x, g, n * sizeof(float)) == 0, "clip %s: a gradient below the limit was changed", cases[c]);
        }
        free(x);
    }
    /* Nothing to clip: no crash, norm 0. */
    float z[1] = {0};
    CHECK(dnas_clip_grad_norm(z, 0, 1.0) == 0.0, "the norm of an empty vector is not 0");
}

static void test_cosine_lr_matches_torch(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    int n_cases = 0;
    double worst = 0;
    for (int c = 0;; c++) {
        char name[80];
        snprintf(name, sizeof name, "cosine/%d/hyper", c);
        if (!fx_get(&fx, name)) break;
        const float *h = twin_need_f(&fx, name, 3);
        int epochs = h ? (int)h[2] : 0;
        snprintf(name, sizeof name, "cosine/%d/lr", c);
        const float *lr = twin_need_f(&fx, name, (size_t)epochs + 1);
        if (!h || !lr) return;
        for (int e = 0; e <= epochs; e++) {
            float ours = dnas_cosine_lr(h[0], h[1], e, epochs);
            double err = fabs((double)ours - lr[e]) / fmax(fabs((double)lr[e]), 1e-3 * h[0]);
            worst = fmax(worst, err);
            CHECK(err <= TOL_COSINE, "cosine lr0 %g min %g epochs %d, epoch %d: %.9g vs torch %.9g",
                  (double)h[0], (double)h[1], epochs, e, (double)ours, (double)lr[e]);
        }
        n_cases++;
    }
    printf("  CosineAnnealingLR: %d schedules, max rel err %.3g\n", n_cases, worst);
    CHECK(n_cases >= 3, "fixture holds %d cosine schedules", n_cases);
    /* Closed-form points: start, middle, end; a non-positive length keeps lr0. */
    CHECK(dnas_cosine_lr(0.025f, 0.001f, 0, 50) == 0.025f, "epoch 0 is not lr0");
    CHECK(fabsf(dnas_cosine_lr(0.025f, 0.001f, 25, 50) - 0.013f) < 1e-8f, "the middle is not (lr0 + min) / 2");
    CHECK(fabsf(dnas_cosine_lr(0.025f, 0.001f, 50, 50) - 0.001f) < 1e-9f, "the last epoch is not eta_min");
    CHECK(dnas_cosine_lr(0.025f, 0.001f, 3, 0) == 0.025f, "epochs 0 does not keep lr0");
    for (int e = 1; e <= 50; e++)
        CHECK(dnas_cosine_lr(0.025f, 0.001f, e, 50) <= dnas_cosine_lr(0.025f, 0.001f, e - 1, 50),
              "the schedule rises at epoch %d", e);
}

int main(void) {
    have_fx = twin_load(&fx, "tests/ref/optim_fixture.bin", why_fx, sizeof why_fx);
    RUN(test_sgd_matches_torch);
    RUN(test_adam_matches_torch);
    RUN(test_adam_rejects_bad_hyperparameters);
    RUN(test_clip_matches_torch);
    RUN(test_cosine_lr_matches_torch);
    fx_free(&fx);
    TEST_EXIT();
}
