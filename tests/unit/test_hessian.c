/* RobustDARTS' pieces against known answers (ALGORITHMS.md §B9):
 *  - power iteration against the eigenvalues of a hand-made symmetric matrix (exact), with the
 *    shift that turns a dominant negative eigenvalue into the largest algebraic one;
 *  - the alpha-space finite-difference HVP against the Hessian of a tiny supernet's validation
 *    loss assembled column by column (symmetric to FD accuracy), against forward-only second
 *    differences of the loss (no backward at all), and its largest eigenvalue by power
 *    iteration against Jacobi on the assembled matrix;
 *  - DARTS-ES' stopping rule on synthetic eigenvalue sequences (stops at the hand-derived epoch);
 *  - DARTS-ADA's weight-decay schedule and roll back on a synthetic sequence. */
#include "test.h"
#include "core/rng.h"
#include "search/search.h"

/* ---- power iteration ------------------------------------------------------------------------ */
enum { PN = 6 };
static double PM[PN][PN];

static dnas_status mat_hvp(void *ctx, const float *v, float *out) {
    (void)ctx;
    for (int i = 0; i < PN; i++) {
        double s = 0;
        for (int j = 0; j < PN; j++) s += PM[i][j] * v[j];
        out[i] = (float)s;
    }
    return DNAS_OK;
}

/* PM = Q diag(lam) Q^T with Q = I - 2 u u^T / |u|^2 (a Householder reflection: orthogonal). */
static void make_matrix(const double *lam, const double *u) {
    double uu = 0, Q[PN][PN];
    for (int i = 0; i < PN; i++) uu += u[i] * u[i];
    for (int i = 0; i < PN; i++)
        for (int j = 0; j < PN; j++) Q[i][j] = (i == j) - 2 * u[i] * u[j] / uu;
    for (int i = 0; i < PN; i++)
        for (int j = 0; j < PN; j++) {
            double s = 0;
            for (int k = 0; k < PN; k++) s += Q[i][k] * lam[k] * Q[j][k];
            PM[i][j] = s;
        }
}

static void test_power_iteration_exact_eigenvalues(void) {
    const double u[PN] = {1, -2, 0.5, 3, -1, 2};
    float v[PN], hv[PN];
    double lam = 0;
    int it = 0;
    /* Dominant 5 (gap 5/3): converges to it. */
    const double l1[PN] = {3, 5, 2, 1, -0.5, 0.2};
    make_matrix(l1, u);
    for (int i = 0; i < PN; i++) v[i] = 1.0f + 0.1f * i;
    CHECK(dnas_power_iteration(mat_hvp, NULL, PN, 0.0, v, 200, 1e-7, &lam, &it, hv) == DNAS_OK, "power");
    printf("  lambda_max 5: power iteration %.7f after %d products\n", lam, it);
    CHECK(fabs(lam - 5.0) < 1e-4, "got %.7f, want 5", lam);
    /* Dominant in magnitude -7, largest 4: the shifted run finds 4. */
    const double l2[PN] = {1, -7, 4, 0.5, -2, 2.5};
    make_matrix(l2, u);
    for (int i = 0; i < PN; i++) v[i] = 1.0f - 0.2f * i;
    CHECK(dnas_power_iteration(mat_hvp, NULL, PN, 0.0, v, 400, 1e-7, &lam, &it, hv) == DNAS_OK, "power");
    CHECK(fabs(lam + 7.0) < 1e-4, "unshifted: got %.7f, want -7", lam);
    double shift = lam;
    for (int i = 0; i < PN; i++) v[i] = 1.0f + 0.3f * i;
    CHECK(dnas_power_iteration(mat_hvp, NULL, PN, shift, v, 400, 1e-8, &lam, &it, hv) == DNAS_OK, "power");
    printf("  largest of {-7, ..., 4}: shifted power iteration %.6f after %d products\n", lam, it);
    CHECK(fabs(lam - 4.0) < 1e-3, "shifted: got %.7f, want 4", lam);
    /* A zero start vector is the zero operator's answer, not a crash. */
    memset(v, 0, sizeof v);
    CHECK(dnas_power_iteration(mat_hvp, NULL, PN, 0.0, v, 10, 1e-6, &lam, &it, hv) == DNAS_OK &&
          lam == 0.0 && it == 0, "zero start");
}

/* ---- the alpha Hessian of a tiny supernet ----------------------------------------------------- */
enum { NA = 30 };
static float xb[2 * 3 * 32 * 32];
static int yb[2] = {3, 8};

static dnas_search *tiny(void) {
    dnas_search_config c;
    dnas_search_config_default(&c, "darts1");
    c.channels = 4;
    c.cells = 1;
    c.batch = 2;
    c.threads = 1;
    c.ev_iters = 300;
    c.ev_tol = 1e-6;
    dnas_search *s = NULL;
    if (dnas_search_create(&c, &s) != DNAS_OK) printf("  create: %s\n", dnas_last_error());
    if (!s) return NULL;
    /* Away from alpha's uniform start so the curvature is not symmetric by construction. */
    dnas_rng r = dnas_rng_make(5, 1);
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = 0.7f * dnas_rng_normal(&r);
    for (size_t i = 0; i < sizeof xb / sizeof xb[0]; i++) xb[i] = dnas_rng_normal(&r);
    return s;
}

/* Loss at alpha0 + h v (kinks frozen by the ctx), forward only. */
static double loss_at(dnas_search *s, const float *a0, const float *v, double h) {
    for (int i = 0; i < NA; i++) s->alpha[i] = (float)(a0[i] + h * v[i]);
    dnas_search_mix(s);
    dnas_graph_forward(s->g);
    memcpy(s->alpha, a0, sizeof(float) * NA);
    return s->g->loss_value;
}

/* Largest eigenvalue of a symmetric matrix by cyclic Jacobi rotations. */
static double jacobi_max(double A[NA][NA]) {
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < NA; p++)
            for (int q = p + 1; q < NA; q++) off += A[p][q] * A[p][q];
        if (off < 1e-24) break;
        for (int p = 0; p < NA; p++)
            for (int q = p + 1; q < NA; q++) {
                if (fabs(A[p][q]) < 1e-300) continue;
                double th = (A[q][q] - A[p][p]) / (2 * A[p][q]);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), sn = t * c;
                for (int k = 0; k < NA; k++) {
                    double akp = A[k][p], akq = A[k][q];
                    A[k][p] = c * akp - sn * akq;
                    A[k][q] = sn * akp + c * akq;
                }
                for (int k = 0; k < NA; k++) {
                    double apk = A[p][k], aqk = A[q][k];
                    A[p][k] = c * apk - sn * aqk;
                    A[q][k] = sn * apk + c * aqk;
                }
            }
    }
    double m = -1e300;
    for (int i = 0; i < NA; i++) m = fmax(m, A[i][i]);
    return m;
}

static void test_alpha_hvp_against_explicit_hessian(void) {
    dnas_search *s = tiny();
    CHECK(s != NULL && s->n_alpha == NA, "tiny search");
    if (!s || s->n_alpha != NA) {
        dnas_search_destroy(s);
        return;
    }
    dnas_data_batch b = {2, xb, yb};
    float a_before[NA], bufs_first = s->g->n_bufs ? s->g->bufs[0] : 0;
    memcpy(a_before, s->alpha, sizeof a_before);
    static double H[NA][NA], A[NA][NA];
    float e[NA], col[NA];
    dnas_alpha_hvp_ctx h;
    CHECK(dnas_alpha_hvp_begin(s, &b, &h) == DNAS_OK, "begin: %s", dnas_last_error());
    for (int j = 0; j < NA; j++) {
        memset(e, 0, sizeof e);
        e[j] = 1.0f;
        CHECK(dnas_alpha_hvp(&h, e, col) == DNAS_OK, "hvp: %s", dnas_last_error());
        for (int i = 0; i < NA; i++) H[i][j] = col[i];
    }
    double asym = 0, hmax = 0;
    for (int i = 0; i < NA; i++)
        for (int j = 0; j < NA; j++) {
            asym = fmax(asym, fabs(H[i][j] - H[j][i]));
            hmax = fmax(hmax, fabs(H[i][j]));
        }
    printf("  assembled alpha Hessian (30x30): max |H| %.4f, max |H - H^T| %.2e (relative %.2e)\n",
           hmax, asym, asym / hmax);
    CHECK(hmax > 1e-3, "the Hessian is ~0 (%g): the test would prove nothing", hmax);
    CHECK(asym / hmax < 1e-3, "assembled Hessian not symmetric: %.2e relative", asym / hmax);
    /* Each row sums to 0 over its softmax (shifting a row of alpha changes nothing), apart
     * from alpha's L2 term: H 1_row = wd 1_row. */
    double rowerr = 0, wd = s->cfg.arch_weight_decay;
    for (int r = 0; r < 6; r++)
        for (int i = 0; i < NA; i++) {
            double sum = 0;
            for (int k = 0; k < 5; k++) sum += H[i][r * 5 + k];
            rowerr = fmax(rowerr, fabs(sum - (i / 5 == r ? wd : 0.0)));
        }
    printf("  softmax null direction: max |H 1_row - wd 1_row| %.2e\n", rowerr);
    CHECK(rowerr < 1e-3 * hmax, "H times a row's ones vector is %.2e off", rowerr);

    /* Forward-only check: v^T H v against [L(a+tv) - 2L(a) + L(a-tv)] / t^2 (kinks frozen, so
     * the loss is smooth; t large enough for float losses, small enough for curvature). */
    dnas_rng rng = dnas_rng_make(9, 9);
    float v[NA], a0[NA];
    memcpy(a0, s->alpha, sizeof a0);
    double vhv = 0, vv = 0;
    for (int i = 0; i < NA; i++) {
        v[i] = dnas_rng_normal(&rng);
        vv += (double)v[i] * v[i];
    }
    for (int i = 0; i < NA; i++) v[i] = (float)(v[i] / sqrt(vv));
    for (int i = 0; i < NA; i++)
        for (int j = 0; j < NA; j++) vhv += v[i] * H[i][j] * v[j];
    double l2 = 0;
    for (int i = 0; i < NA; i++) l2 += (double)a0[i] * a0[i];
    const double ts[3] = {0.2, 0.1, 0.05};
    double sd[3];
    for (int k = 0; k < 3; k++) {
        double t = ts[k], L0 = loss_at(s, a0, v, 0), Lp = loss_at(s, a0, v, t), Lm = loss_at(s, a0, v, -t);
        sd[k] = (Lp - 2 * L0 + Lm) / (t * t) + wd; /* + the L2 term's curvature wd |v|^2 */
    }
    /* Richardson on t = 0.2, 0.1 removes the O(t^2) term; t = 0.05 is printed to show the
     * float loss' rounding (~1e-4 here) taking over at smaller t. */
    double rich = (4 * sd[1] - sd[0]) / 3;
    printf("  v^T H v: assembled %.6f | loss 2nd differences t=0.2 %.6f t=0.1 %.6f t=0.05 %.6f, "
           "Richardson %.6f (relative error %.2e)\n", vhv, sd[0], sd[1], sd[2], rich,
           fabs(rich - vhv) / fabs(vhv));
    CHECK(fabs(rich - vhv) < 2e-2 * fabs(vhv) + 1e-4, "v^T H v %.6f vs forward-only %.6f", vhv, rich);
    dnas_alpha_hvp_end(&h);
    CHECK(memcmp(a_before, s->alpha, sizeof a_before) == 0, "alpha not restored exactly");
    CHECK(!s->g->n_bufs || s->g->bufs[0] == bufs_first, "BN statistics moved");

    /* The largest eigenvalue: power iteration on the products vs Jacobi on (H + H^T)/2. */
    for (int i = 0; i < NA; i++)
        for (int j = 0; j < NA; j++) A[i][j] = 0.5 * (H[i][j] + H[j][i]);
    double exact = jacobi_max(A), ev = 0;
    int iters = 0;
    CHECK(dnas_hessian_eigen(s, &b, &ev, &iters) == DNAS_OK, "eigen: %s", dnas_last_error());
    printf("  largest eigenvalue: power iteration %.6f (%d products) vs Jacobi %.6f (relative %.2e)\n",
           ev, iters, exact, fabs(ev - exact) / fabs(exact));
    CHECK(fabs(ev - exact) < 2e-3 * fabs(exact), "eigenvalue %.6f vs %.6f", ev, exact);
    CHECK(memcmp(a_before, s->alpha, sizeof a_before) == 0, "alpha moved by the eigenvalue");
    dnas_search_destroy(s);
}

/* ---- DARTS-ES ---------------------------------------------------------------------------------- */
/* Runs the rule over epochs 0..epochs-1 with eigenvalues ev(e) at e % every == 0 and the last;
 * returns the epoch where it stops (-1: never) and the stop epoch. */
static int run_es(const dnas_es_rule *r, double (*f)(int), int *stop_epoch) {
    double ev[200];
    int n = 0;
    for (int e = 0; e < r->epochs; e++) {
        if (!(e % r->every == 0 || e == r->epochs - 1)) continue;
        ev[n++] = f(e);
        double ratio;
        if (dnas_es_check(r, ev, n, e, stop_epoch, &ratio)) return e;
    }
    return -1;
}
static double jump14(int e) { return e >= 14 ? 10.0 : 1.0; }
static double jump26(int e) { return e >= 26 ? 10.0 : 1.0; }
static double slow(int e) { return 1.0 + 0.01 * e; }      /* ratios ~1.07: never */
static double late(int e) { return e >= 49 ? 100.0 : 1.0; } /* only the last epoch */

static void test_es_stops_at_the_expected_epoch(void) {
    const dnas_es_rule r = {2, 5, 4, 10, 50, 1.3}; /* the reference's defaults */
    int se = -1;
    /* Jump at 14: checks start at epoch 22 (la 18, 18 - 8 = 10 >= 10); there the average of
     * epochs 14..22 (10) over that of 6..14 (2.8) = 3.57 > 1.3: stop, architecture of 10. */
    int at = run_es(&r, jump14, &se);
    printf("  jump at 14: stops at epoch %d with the architecture of epoch %d (expected 22, 10)\n", at, se);
    CHECK(at == 22 && se == 10, "stopped at %d (stop epoch %d), expected 22 (10)", at, se);
    /* Jump at 26: at 26 the average of 18..26 = 2.8 over 1: stop, architecture of 14. */
    at = run_es(&r, jump26, &se);
    CHECK(at == 26 && se == 14, "stopped at %d (stop epoch %d), expected 26 (14)", at, se);
    CHECK(run_es(&r, slow, &se) == -1, "a slow rise stopped the search");
    CHECK(run_es(&r, late, &se) == -1, "a jump at the last epoch stopped the search");
    /* Just above and at the factor: 1.3 exactly does not stop (strict >). */
    double ev[14];
    /* Averages of ev[9..13] over ev[5..9]: (1 + 4 x 1.375) / 5 = 1.3 exactly over 1. */
    for (int i = 0; i < 14; i++) ev[i] = i >= 10 ? 1.375 : 1.0;
    double ratio;
    CHECK(!dnas_es_check(&r, ev, 14, 26, &se, &ratio) && fabs(ratio - 1.3) < 1e-12,
          "ratio exactly 1.3 stopped (ratio %.17g)", ratio);
    ev[13] = 1.376;
    CHECK(dnas_es_check(&r, ev, 14, 26, &se, &ratio) && se == 14, "ratio above 1.3 did not stop");
}

/* ---- DARTS-ADA --------------------------------------------------------------------------------- */
static double ada_wd; /* the synthetic eigenvalues calm down once wd >= 2.7e-3 */
static double ada_ev(int e) { return ada_wd >= 2.7e-3 * (1 - 1e-9) ? 1.0 : (e >= 20 ? 10.0 : 1.0); }

static void test_ada_schedule(void) {
    /* The script's schedule (x10 to 0.03) and the default (x3 to 0.03). */
    double wd = 3e-4, next;
    int n = 0;
    while (dnas_ada_next(wd, 10, 0.03, &next)) wd = next, n++;
    CHECK(n == 2 && fabs(wd - 0.03) < 1e-12, "x10: %d increases to %g, expected 2 to 0.03", n, wd);
    wd = 3e-4, n = 0;
    while (dnas_ada_next(wd, 3, 0.03, &next)) wd = next, n++;
    CHECK(n == 4 && fabs(wd - 0.0243) < 1e-12, "x3: %d increases to %g, expected 4 to 0.0243", n, wd);

    /* The run loop in miniature: eigenvalues every 2 epochs; a trigger rolls back to the stop
     * epoch (history truncated there, as the snapshot has it) and multiplies wd by 3. */
    const dnas_es_rule r = {2, 5, 4, 10, 50, 1.3};
    double ev[200];
    int ee[200], ne = 0, rollbacks[8], nr = 0;
    ada_wd = 3e-4;
    for (int e = 0; e < r.epochs; e++) {
        if (!(e % r.every == 0 || e == r.epochs - 1)) continue;
        ev[ne] = ada_ev(e);
        ee[ne++] = e;
        int se;
        double ratio;
        if (dnas_es_check(&r, ev, ne, e, &se, &ratio) && dnas_ada_next(ada_wd, 3, 0.03, &next)) {
            if (nr < 8) rollbacks[nr++] = e * 100 + se;
            while (ne > 0 && ee[ne - 1] > se) ne--;
            ada_wd = next;
            e = se; /* the loop's e++ continues at se + 1 */
        }
    }
    /* Jump at 20: first trigger at 22 (la 18, averages of epochs 14..22 / 6..14 = 4.6 / 1), back
     * to 10, wd 9e-4; the re-run sees the same jump and triggers at 22 again, wd 2.7e-3; calm. */
    printf("  ADA: %d roll backs (%d -> %d, %d -> %d), final wd %g (expected 22->10 twice, 0.0027)\n",
           nr, nr > 0 ? rollbacks[0] / 100 : -1, nr > 0 ? rollbacks[0] % 100 : -1,
           nr > 1 ? rollbacks[1] / 100 : -1, nr > 1 ? rollbacks[1] % 100 : -1, ada_wd);
    CHECK(nr == 2 && rollbacks[0] == 2210 && rollbacks[1] == 2210, "roll backs %d", nr);
    CHECK(fabs(ada_wd - 2.7e-3) < 1e-12, "final wd %g", ada_wd);
}

int main(void) {
    RUN(test_power_iteration_exact_eigenvalues);
    RUN(test_alpha_hvp_against_explicit_hessian);
    RUN(test_es_stops_at_the_expected_epoch);
    RUN(test_ada_schedule);
    TEST_EXIT();
}
