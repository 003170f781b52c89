/* FairDARTS and DrNAS building blocks against known answers:
 *  - the zero-one loss gradient against central differences (dyadic alpha and step, so the
 *    perturbed floats are exact), and FairDARTS's mix / mix backward on a tiny supernet;
 *  - d ln x / d a of a Gamma sample at fixed CDF against differences of the inverse CDF;
 *  - Gamma and Dirichlet sample means and variances against the closed forms, at 5 standard
 *    errors (false alarm 5.7e-7 per check, ~1e-5 over the 22 checks, for another seed);
 *  - the Dirichlet pathwise gradient: its Monte-Carlo mean over Marsaglia-Tsang samples against
 *    the exact d/d beta E[sum c_k theta_k^2] (closed form), at 5 standard errors; and against
 *    central differences of the same expectation under common random numbers (inverse-CDF
 *    Gamma samples at shared uniforms), where only the O(h^2) error remains;
 *  - KL(Dir(beta) || Dir(1)) gradient against central differences;
 *  - the threshold derivation on hand-made weights (NB201 and DARTS);
 *  - DrNAS's strategy: rows on the simplex, draws a function of (step, forward), mean weights. */
#include "test.h"
#include "core/rng.h"
#include "search/search.h"
#include "space/darts.h"
#include "space/space.h"

/* ---- zero-one loss -------------------------------------------------------------------------- */
static void test_zero_one_grad_fd(void) {
    enum { N = 20 };
    float a[N], g[N] = {0};
    uint8_t cand[N];
    for (int i = 0; i < N; i++) {
        a[i] = (float)((i * 37 % 29) - 14) / 8.0f; /* dyadic, in [-1.75, 1.75] */
        cand[i] = i % 5 != 0;
    }
    const double w01 = 10.0;
    dnas_zero_one_loss(a, cand, N, w01, g);
    const float h = 1.0f / 1024;
    double worst = 0;
    for (int i = 0; i < N; i++) {
        float ap[N], am[N];
        memcpy(ap, a, sizeof a);
        memcpy(am, a, sizeof a);
        ap[i] += h;
        am[i] -= h;
        double fd = (dnas_zero_one_loss(ap, cand, N, w01, NULL) -
                     dnas_zero_one_loss(am, cand, N, w01, NULL)) / (2.0 * h);
        double err = fabs(fd - g[i]);
        if (err > worst) worst = err;
        if (!cand[i]) CHECK(g[i] == 0.0f, "non-candidate %d has gradient %g", i, g[i]);
    }
    printf("  zero-one gradient vs central differences: max abs error %.3g\n", worst);
    CHECK(worst < 2e-6, "zero-one gradient off by %g", worst);
    /* At alpha = 0 every weight is 0.5: the loss is 0 and so is its gradient. */
    float z[N] = {0}, gz[N] = {0};
    CHECK(dnas_zero_one_loss(z, cand, N, w01, gz) == 0.0 && gz[1] == 0.0f, "loss at alpha = 0");
}

static dnas_search *tiny_search(const char *algo, const char *space) {
    dnas_search_config c;
    dnas_search_config_default(&c, algo);
    if (space) snprintf(c.space, sizeof c.space, "%s", space);
    c.channels = 4;
    c.cells = 1;
    c.batch = 2;
    c.threads = 1;
    dnas_search *s = NULL;
    if (dnas_search_create(&c, &s) != DNAS_OK) printf("  create: %s\n", dnas_last_error());
    return s;
}

static void test_fairdarts_mix(void) {
    dnas_search *s = tiny_search("fairdarts", NULL);
    CHECK(s != NULL, "fairdarts search");
    if (!s) return;
    CHECK(s->cfg.zero_one_weight == 10.0 && s->cfg.derive_threshold == 0.85, "paper defaults");
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = 0.25f * (float)((int)(i % 7) - 3);
    dnas_search_mix(s);
    float g01[64] = {0};
    dnas_zero_one_loss(s->alpha, s->cand, s->n_alpha, 10.0, g01);
    for (size_t i = 0; i < s->n_alpha; i++) {
        double sg = 1.0 / (1.0 + exp(-(double)s->alpha[i]));
        double want = s->cand[i] ? sg : 0.0;
        CHECK(fabs(s->g->mix[i] - want) < 1e-6, "mix %zu: %g vs %g", i, s->g->mix[i], want);
        s->g->gmix[i] = (float)(i % 3) - 1.0f;
    }
    CHECK(s->g->mix[0] == 0.0f, "'none' excluded by default");
    dnas_search_mix_backward(s);
    for (size_t i = 0; i < s->n_alpha; i++) {
        double sg = 1.0 / (1.0 + exp(-(double)s->alpha[i]));
        double want = s->cand[i] ? s->g->gmix[i] * sg * (1 - sg) + g01[i] : 0.0;
        CHECK(fabs(s->galpha[i] - want) < 1e-6, "galpha %zu: %g vs %g", i, s->galpha[i], want);
    }
    dnas_search_destroy(s);
}

/* ---- Gamma: inverse CDF in the test's own code ---------------------------------------------- */
static double reg_lower_gamma(double a, double x) {
    if (x <= 0) return 0;
    if (x < a + 1) {
        double r = 1, sum = 1;
        for (int n = 1; n < 100000 && r > 1e-18 * sum; n++) sum += r *= x / (a + n);
        return exp(a * log(x) - x - lgamma(a + 1)) * sum;
    }
    /* 1 - Q by the continued fraction Q = e^-x x^a / Gamma(a) / (x+1-a- 1(1-a)/(x+3-a- ...)) */
    double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        c = b + an / c;
        d = 1 / d;
        h *= d * c;
        if (fabs(d * c - 1) < 1e-16) break;
    }
    return 1 - exp(a * log(x) - x - lgamma(a)) * h;
}

/* ln x with P(a, x) = u, by bisection on ln x. */
static double gamma_inv_log(double a, double u) {
    double lo = -800, hi = 10 + log(a + 10) + 5 * log1p(a);
    while (reg_lower_gamma(a, exp(hi)) < u) hi += 5;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (reg_lower_gamma(a, exp(mid)) < u) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void test_gamma_implicit_grad_fd(void) {
    const double as[] = {0.3, 1.0, 2.5, 7.0, 30.0}, us[] = {0.01, 0.2, 0.5, 0.8, 0.99};
    double worst = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            double a = as[i], u = us[j], h = 1e-4 * a;
            double lx = gamma_inv_log(a, u);
            double fd = (gamma_inv_log(a + h, u) - gamma_inv_log(a - h, u)) / (2 * h);
            double got = dnas_gamma_dlogx(a, exp(lx));
            double rel = fabs(got - fd) / fmax(fabs(fd), 1e-3);
            if (rel > worst) worst = rel;
            CHECK(rel < 1e-5, "a %g u %g (x %g): d ln x/da %.10g vs differences %.10g", a, u,
                  exp(lx), got, fd);
        }
    printf("  d ln x / d a vs inverse-CDF differences: max relative error %.3g\n", worst);
}

static void test_gamma_moments(void) {
    const double as[] = {0.2, 1.0, 3.5};
    const int N = 200000;
    for (int i = 0; i < 3; i++) {
        double a = as[i], s1 = 0, s2 = 0;
        dnas_rng r = dnas_rng_make(2024, 77 + i);
        for (int n = 0; n < N; n++) {
            double x = exp(dnas_gamma_sample_log(&r, a));
            s1 += x;
            s2 += x * x;
        }
        double mean = s1 / N, var = s2 / N - mean * mean;
        double se_m = sqrt(a / N), se_v = sqrt((2 * a * a + 6 * a) / N); /* mu4 = 3a^2 + 6a */
        printf("  Gamma(%g): mean %.5f (z %.2f), variance %.5f (z %.2f)\n", a, mean,
               (mean - a) / se_m, var, (var - a) / se_v);
        CHECK(fabs(mean - a) < 5 * se_m, "Gamma(%g) mean %g", a, mean);
        CHECK(fabs(var - a) < 5 * se_v, "Gamma(%g) variance %g", a, var);
    }
}

static void test_dirichlet_moments(void) {
    enum { K = 4 };
    const double beta[K] = {0.5, 1.0, 2.0, 4.0}, A = 7.5;
    const int N = 100000;
    double s1[K] = {0}, s2[K] = {0}, s3[K] = {0}, s4[K] = {0};
    dnas_rng r = dnas_rng_make(99, 5);
    for (int n = 0; n < N; n++) {
        double th[K];
        dnas_dirichlet_sample(&r, beta, K, th, NULL);
        double sum = 0;
        for (int k = 0; k < K; k++) {
            sum += th[k];
            s1[k] += th[k];
            s2[k] += th[k] * th[k];
            s3[k] += th[k] * th[k] * th[k];
            s4[k] += th[k] * th[k] * th[k] * th[k];
        }
        if (n < 100) CHECK(fabs(sum - 1) < 1e-12, "sample %d sums to %.17g", n, sum);
    }
    for (int k = 0; k < K; k++) {
        double m = s1[k] / N, v = s2[k] / N - m * m;
        double em = beta[k] / A, ev = beta[k] * (A - beta[k]) / (A * A * (A + 1));
        /* fourth central moment from the raw moments, for the variance's standard error */
        double m4 = s4[k] / N - 4 * m * s3[k] / N + 6 * m * m * s2[k] / N - 3 * m * m * m * m;
        double se_m = sqrt(ev / N), se_v = sqrt((m4 - v * v) / N);
        printf("  Dir theta_%d: mean z %.2f, variance z %.2f\n", k, (m - em) / se_m, (v - ev) / se_v);
        CHECK(fabs(m - em) < 5 * se_m, "theta_%d mean %g vs %g", k, m, em);
        CHECK(fabs(v - ev) < 5 * se_v, "theta_%d variance %g vs %g", k, v, ev);
    }
}

/* f(theta) = sum c_k theta_k^2; E f = sum c_k beta_k (beta_k + 1) / (A (A + 1)). */
enum { PK = 4 };
static const double pc[PK] = {1.0, -2.0, 0.5, 3.0};
static double expect_f(const double *b) {
    double A = 0, e = 0;
    for (int k = 0; k < PK; k++) A += b[k];
    for (int k = 0; k < PK; k++) e += pc[k] * b[k] * (b[k] + 1) / (A * (A + 1));
    return e;
}

static void test_dirichlet_pathwise_grad(void) {
    const double beta[PK] = {0.6, 1.0, 1.7, 3.2};
    /* exact d/d beta of the closed form, by central differences in double (h^2 ~ 1e-12) */
    double exact[PK];
    for (int j = 0; j < PK; j++) {
        double bp[PK], bm[PK], h = 1e-6;
        memcpy(bp, beta, sizeof bp);
        memcpy(bm, beta, sizeof bm);
        bp[j] += h;
        bm[j] -= h;
        exact[j] = (expect_f(bp) - expect_f(bm)) / (2 * h);
    }
    const int N = 200000;
    double s1[PK] = {0}, s2[PK] = {0};
    dnas_rng r = dnas_rng_make(7, 11);
    for (int n = 0; n < N; n++) {
        double th[PK], dl[PK], gt[PK], gb[PK];
        dnas_dirichlet_sample(&r, beta, PK, th, dl);
        for (int k = 0; k < PK; k++) gt[k] = 2 * pc[k] * th[k];
        dnas_dirichlet_backward(th, dl, gt, PK, gb);
        for (int k = 0; k < PK; k++) s1[k] += gb[k], s2[k] += gb[k] * gb[k];
    }
    for (int k = 0; k < PK; k++) {
        double m = s1[k] / N, se = sqrt((s2[k] / N - m * m) / N);
        printf("  pathwise d E f / d beta_%d: MC %.5f +- %.5f, exact %.5f (z %.2f)\n", k, m, se,
               exact[k], (m - exact[k]) / se);
        CHECK(fabs(m - exact[k]) < 5 * se, "beta_%d: %g vs %g (se %g)", k, m, exact[k], se);
    }

    /* Common random numbers: inverse-CDF samples at shared uniforms are smooth in beta, so the
     * central difference of the sample mean equals the pathwise mean up to O(h^2). */
    const int M = 300;
    double fdm[PK] = {0}, pw[PK] = {0};
    dnas_rng ru = dnas_rng_make(3, 4);
    for (int n = 0; n < M; n++) {
        double u[PK], lx[PK], th[PK], dl[PK], gt[PK], gb[PK], sum = 0;
        for (int k = 0; k < PK; k++) u[k] = (dnas_rng_u32(&ru) + 0.5) / 4294967296.0;
        for (int k = 0; k < PK; k++) sum += exp(lx[k] = gamma_inv_log(beta[k], u[k]));
        for (int k = 0; k < PK; k++) {
            th[k] = exp(lx[k]) / sum;
            dl[k] = dnas_gamma_dlogx(beta[k], exp(lx[k]));
            gt[k] = 2 * pc[k] * th[k];
        }
        dnas_dirichlet_backward(th, dl, gt, PK, gb);
        for (int j = 0; j < PK; j++) {
            double f[2], h = 1e-4;
            for (int sgn = 0; sgn < 2; sgn++) {
                double x[PK], z = 0;
                for (int k = 0; k < PK; k++)
                    z += x[k] = exp(k == j ? gamma_inv_log(beta[k] + (sgn ? h : -h), u[k]) : lx[k]);
                f[sgn] = 0;
                for (int k = 0; k < PK; k++) f[sgn] += pc[k] * (x[k] / z) * (x[k] / z);
            }
            fdm[j] += (f[1] - f[0]) / (2 * h) / M;
            pw[j] += gb[j] / M;
        }
    }
    for (int j = 0; j < PK; j++) {
        printf("  CRN: d E f / d beta_%d differences %.8f, pathwise %.8f\n", j, fdm[j], pw[j]);
        CHECK(fabs(fdm[j] - pw[j]) < 1e-6 * (1 + fabs(pw[j])), "CRN beta_%d: %g vs %g", j, fdm[j], pw[j]);
    }
}

static void test_kl_grad(void) {
    const double b[3] = {0.7, 1.3, 2.2};
    double g[3];
    dnas_dirichlet_kl_uniform(b, 3, g);
    double worst = 0;
    for (int j = 0; j < 3; j++) {
        double bp[3], bm[3], h = 1e-5;
        memcpy(bp, b, sizeof bp);
        memcpy(bm, b, sizeof bm);
        bp[j] += h;
        bm[j] -= h;
        double fd = (dnas_dirichlet_kl_uniform(bp, 3, NULL) - dnas_dirichlet_kl_uniform(bm, 3, NULL)) / (2 * h);
        worst = fmax(worst, fabs(fd - g[j]));
    }
    printf("  KL gradient vs central differences: max abs error %.3g\n", worst);
    CHECK(worst < 1e-8, "KL gradient off by %g", worst);
    const double one[3] = {1, 1, 1};
    CHECK(fabs(dnas_dirichlet_kl_uniform(one, 3, g)) < 1e-12 && fabs(g[0]) < 1e-12, "KL(Dir(1)||Dir(1))");
    CHECK(dnas_dirichlet_kl_uniform(b, 3, NULL) > 0, "KL > 0 away from Dir(1)");
}

/* ---- threshold derivation ------------------------------------------------------------------- */
static void test_threshold_nb201(void) {
    float w[30];
    uint8_t cand[30];
    for (int i = 0; i < 30; i++) w[i] = 0.1f, cand[i] = i % 5 != 0; /* no 'none' */
    w[0 * 5 + 3] = 0.95f;   /* edge 0: nor_conv_3x3 kept */
    w[1 * 5 + 1] = 0.84f;   /* edge 1: best below 0.85 -> none */
    w[2 * 5 + 2] = 0.85f;   /* edge 2: exactly at the threshold -> kept */
    w[3 * 5 + 4] = 0.99f;   /* edge 3: avg_pool_3x3 */
    w[4 * 5 + 1] = 0.9f, w[4 * 5 + 2] = 0.91f; /* edge 4: the larger wins */
    /* edge 5: all 0.1 -> none */
    char out[256];
    CHECK(dnas_space_derive_threshold(&dnas_space_nb201, w, cand, 0.85f, out, sizeof out) == DNAS_OK,
          "%s", dnas_last_error());
    const char *want = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|";
    CHECK(strcmp(out, want) == 0, "got %s\n  want %s", out, want);
}

static void test_threshold_darts(void) {
    enum { R = DNAS_DARTS_EDGES, C = DNAS_DARTS_OPS };
    float w[2 * R * C];
    uint8_t cand[2 * R * C];
    CHECK(dnas_space_darts.candidates("no-none", cand) == DNAS_OK, "%s", dnas_last_error());
    for (int i = 0; i < 2 * R * C; i++) w[i] = 0.05f;
    /* normal node 0: edge from s1 strong (sep3 0.9), from s0 weak (skip 0.5 -> 'none') */
    w[dnas_darts_edge(0, 1) * C + DNAS_DARTS_SEP_CONV_3X3] = 0.9f;
    w[dnas_darts_edge(0, 0) * C + DNAS_DARTS_SKIP] = 0.5f;
    /* normal node 2: inputs 1 and 3 above the threshold, input 0 lower, 2 and 3 ranked */
    w[dnas_darts_edge(2, 3) * C + DNAS_DARTS_DIL_CONV_3X3] = 0.97f;
    w[dnas_darts_edge(2, 1) * C + DNAS_DARTS_MAX_POOL_3X3] = 0.88f;
    w[dnas_darts_edge(2, 0) * C + DNAS_DARTS_SEP_CONV_5X5] = 0.86f;
    /* 'none' column large but not a candidate: ignored */
    w[dnas_darts_edge(1, 0) * C + DNAS_DARTS_NONE] = 5.0f;
    char out[DNAS_GENOTYPE_MAX];
    CHECK(dnas_space_derive_threshold(&dnas_space_darts, w, cand, 0.85f, out, sizeof out) == DNAS_OK,
          "%s", dnas_last_error());
    dnas_darts_genotype gt;
    CHECK(dnas_darts_genotype_parse(out, &gt) == DNAS_OK, "parse %s: %s", out, dnas_last_error());
    CHECK(gt.op[0][0] == DNAS_DARTS_SEP_CONV_3X3 && gt.in[0][0] == 1, "node 0 first: %s", out);
    CHECK(gt.op[0][1] == DNAS_DARTS_NONE && gt.in[0][1] == 0, "node 0 second dropped: %s", out);
    CHECK(gt.op[0][4] == DNAS_DARTS_DIL_CONV_3X3 && gt.in[0][4] == 3, "node 2 first: %s", out);
    CHECK(gt.op[0][5] == DNAS_DARTS_MAX_POOL_3X3 && gt.in[0][5] == 1, "node 2 second: %s", out);
    /* all other ops at 0.05: every other pair is 'none' (edges dropped), never a non-candidate */
    int nones = 0;
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < DNAS_DARTS_PAIRS; p++) nones += gt.op[t][p] == DNAS_DARTS_NONE;
    CHECK(nones == 16 - 3, "%d 'none' pairs in %s", nones, out);
    /* threshold 0 = darts.c's own derivation */
    char plain[DNAS_GENOTYPE_MAX], thr0[DNAS_GENOTYPE_MAX];
    CHECK(dnas_space_darts.derive(w, cand, plain, sizeof plain) == DNAS_OK, "derive");
    CHECK(dnas_space_derive_threshold(&dnas_space_darts, w, cand, 0.0f, thr0, sizeof thr0) == DNAS_OK, "t0");
    CHECK(strcmp(plain, thr0) == 0, "threshold 0:\n  %s\n  vs %s", thr0, plain);
}

/* ---- DrNAS's strategy --------------------------------------------------------------------- */
static void test_drnas_strategy(void) {
    dnas_search *s = tiny_search("drnas", NULL);
    CHECK(s != NULL, "drnas search");
    if (!s) return;
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = 0.3f * (float)((int)(i % 5) - 2);
    float m1[30], m2[30], m3[30], w[30];
    s->total_steps = 5;
    dnas_search_mix(s);
    memcpy(m1, s->g->mix, sizeof m1);
    dnas_search_mix(s); /* the step's second forward: a new draw */
    memcpy(m2, s->g->mix, sizeof m2);
    s->total_steps = 6;
    dnas_search_mix(s);
    s->total_steps = 5; /* back at step 5 (a resume): the first forward draws m1 again */
    dnas_search_mix(s);
    memcpy(m3, s->g->mix, sizeof m3);
    CHECK(memcmp(m1, m3, sizeof m1) == 0, "step 5's first draw is not reproducible");
    CHECK(memcmp(m1, m2, sizeof m1) != 0, "two forwards of a step drew the same sample");
    for (int r = 0; r < 6; r++) {
        double sum = 0;
        for (int k = 0; k < 5; k++) sum += m1[r * 5 + k];
        CHECK(fabs(sum - 1) < 1e-6, "row %d sums to %g", r, sum);
    }
    dnas_search_weights(s, w);
    for (int r = 0; r < 6; r++) {
        double b[5], z = 0;
        for (int k = 0; k < 5; k++) {
            double a = s->alpha[r * 5 + k];
            z += b[k] = a > 0 ? a + 1 : exp(a);
        }
        for (int k = 0; k < 5; k++)
            CHECK(fabs(w[r * 5 + k] - b[k] / z) < 1e-6, "mean weight %d %d", r, k);
    }
    /* A gradient constant along a row cannot move a point on the simplex: its pathwise
     * gradient is 0 (theta_j (g - sum_k g theta_k) = 0); a varying one moves it. */
    for (size_t i = 0; i < s->n_alpha; i++) s->g->gmix[i] = i < 5 ? 0.7f : (float)(i % 3) - 1.0f;
    dnas_search_mix_backward(s);
    int moved = 0;
    for (int k = 0; k < 5; k++) CHECK(fabsf(s->galpha[k]) < 1e-7f, "row 0 gradient %g", s->galpha[k]);
    for (size_t i = 5; i < s->n_alpha; i++) moved |= s->galpha[i] != 0.0f;
    CHECK(moved, "no alpha gradient on rows 1-5");
    dnas_search_destroy(s);

    dnas_search_config c;
    dnas_search_config_default(&c, "drnas");
    CHECK(c.epochs == 100 && c.arch_beta1 == 0.5 && c.arch_weight_decay == 1e-3 &&
          strcmp(c.drnas_reg, "l2") == 0, "DrNAS NB201 defaults");
    snprintf(c.drnas_reg, sizeof c.drnas_reg, "x");
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--drnas-reg"),
          "bad --drnas-reg: %s", dnas_last_error());
    dnas_search_config_default(&c, "fairdarts");
    c.derive_threshold = 1.5;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--derive-threshold"),
          "bad --derive-threshold: %s", dnas_last_error());
}

int main(void) {
    RUN(test_zero_one_grad_fd);
    RUN(test_fairdarts_mix);
    RUN(test_gamma_implicit_grad_fd);
    RUN(test_gamma_moments);
    RUN(test_dirichlet_moments);
    RUN(test_dirichlet_pathwise_grad);
    RUN(test_kl_grad);
    RUN(test_threshold_nb201);
    RUN(test_threshold_darts);
    RUN(test_drnas_strategy);
    TEST_EXIT();
}
