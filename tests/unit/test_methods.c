/* The seed methods' building blocks against known answers:
 *  - the finite-difference Hessian-vector product against the exact HVP of softmax
 *    cross-entropy of a linear layer (closed form, double precision);
 *  - the truncated Neumann series and the implicit hypergradient it gives on a quadratic
 *    inner problem, against the closed form B^T A^-1 (w* - t);
 *  - GAEA's exponentiated-gradient step against a hand computation, rows on the simplex;
 *  - GAEA's strategy: theta is the mix, 'none' excluded with --ops no-none;
 *  - DARTS-PT's decision on a supernet with a scorer whose answer is known. */
#include "test.h"
#include "core/rng.h"
#include "graph/hvp.h"
#include "ops/ops.h"
#include "select/select.h"

/* ---- HVP ---------------------------------------------------------------------------------- */
enum { HN = 16, HIN = 6, HOUT = 4 };

static void test_hvp_exact_linear_xent(void) {
    dnas_backend *be = NULL;
    CHECK(dnas_backend_cpu_create(1, &be) == DNAS_OK, "backend: %s", dnas_last_error());
    if (!be) return;
    dnas_graph g;
    dnas_graph_init(&g, be);
    int x = dnas_graph_input(&g, dnas_shape4(HN, HIN, 1, 1));
    int y = dnas_op_linear(&g, "fc", x, HOUT);
    dnas_op_xent(&g, "loss", y);
    CHECK(dnas_graph_plan(&g) == DNAS_OK, "plan: %s", dnas_last_error());
    dnas_graph_init_weights(&g, 7);
    dnas_rng rng = dnas_rng_make(11, 3);
    float *xin = g.vals[g.input].data;
    for (int i = 0; i < HN * HIN; i++) xin[i] = dnas_rng_normal(&rng);
    for (int i = 0; i < HN; i++) g.labels[i] = (int)dnas_rng_below(&rng, HOUT);
    for (size_t i = 0; i < g.n_weights; i++) g.w[i] = 0.5f * dnas_rng_normal(&rng);
    size_t nw = g.n_weights;
    CHECK(nw == HOUT * HIN + HOUT, "weights %zu", nw);
    float v[HOUT * HIN + HOUT], hv[HOUT * HIN + HOUT], scratch[HOUT * HIN + HOUT + 1];
    for (size_t i = 0; i < nw; i++) v[i] = dnas_rng_normal(&rng);
    float w_before[HOUT * HIN + HOUT];
    memcpy(w_before, g.w, sizeof w_before);
    CHECK(dnas_graph_fd_hvp(&g, v, 0.01, hv, NULL, scratch) == DNAS_OK, "hvp: %s", dnas_last_error());
    CHECK(memcmp(w_before, g.w, sizeof w_before) == 0, "weights not restored exactly");

    /* Exact: H v = 1/N sum_n [(diag p - p p^T) u_n] (x) [x_n; 1], u_n = V x_n + v_b. */
    const float *W = g.w + g.params[0].off, *b = g.w + g.params[1].off;
    const float *VW = v + g.params[0].off, *Vb = v + g.params[1].off;
    double ex[HOUT * HIN + HOUT] = {0};
    for (int n = 0; n < HN; n++) {
        const float *xn = xin + n * HIN;
        double z[HOUT], p[HOUT], u[HOUT], mx = -1e300, sum = 0, pu = 0;
        for (int o = 0; o < HOUT; o++) {
            z[o] = b[o];
            u[o] = Vb[o];
            for (int i = 0; i < HIN; i++) {
                z[o] += (double)W[o * HIN + i] * xn[i];
                u[o] += (double)VW[o * HIN + i] * xn[i];
            }
            mx = z[o] > mx ? z[o] : mx;
        }
        for (int o = 0; o < HOUT; o++) sum += p[o] = exp(z[o] - mx);
        for (int o = 0; o < HOUT; o++) pu += (p[o] /= sum) * u[o];
        for (int o = 0; o < HOUT; o++) {
            double q = (p[o] * u[o] - p[o] * pu) / HN;
            for (int i = 0; i < HIN; i++) ex[g.params[0].off + o * HIN + i] += q * xn[i];
            ex[g.params[1].off + o] += q;
        }
    }
    double err = 0, scale = 0;
    for (size_t i = 0; i < nw; i++) {
        err = fmax(err, fabs(hv[i] - ex[i]));
        scale = fmax(scale, fabs(ex[i]));
    }
    /* Measured: 2.6e-5 relative to the largest entry (float gradients differenced over
     * r = 0.01/|v|); the bound is ~4x that. */
    printf("  finite-difference HVP vs exact: max error %.2e of max |Hv| %.3f (relative %.2e)\n",
           err, scale, err / scale);
    CHECK(err / scale < 1e-4, "HVP relative error %.2e", err / scale);
    dnas_graph_free(&g);
    dnas_backend_destroy(be);
}

/* ---- Neumann series and the implicit hypergradient ------------------------------------------ */
enum { QN = 5, QM = 3 };
static double QA[QN][QN];

static dnas_status quad_hvp(void *ctx, const float *v, float *out) {
    (void)ctx;
    for (int i = 0; i < QN; i++) {
        double s = 0;
        for (int j = 0; j < QN; j++) s += QA[i][j] * v[j];
        out[i] = (float)s;
    }
    return DNAS_OK;
}

/* x = A^-1 b by Gaussian elimination (A SPD, small). */
static void solve(double A[QN][QN], const double *b, double *x) {
    double M[QN][QN + 1];
    for (int i = 0; i < QN; i++) {
        for (int j = 0; j < QN; j++) M[i][j] = A[i][j];
        M[i][QN] = b[i];
    }
    for (int c = 0; c < QN; c++)
        for (int r = c + 1; r < QN; r++) {
            double f = M[r][c] / M[c][c];
            for (int k = c; k <= QN; k++) M[r][k] -= f * M[c][k];
        }
    for (int r = QN - 1; r >= 0; r--) {
        double s = M[r][QN];
        for (int k = r + 1; k < QN; k++) s -= M[r][k] * x[k];
        x[r] = s / M[r][r];
    }
}

static void test_neumann_quadratic_closed_form(void) {
    /* Inner problem L_tr(w, a) = 1/2 w^T A w - w^T B a, so w* = A^-1 B a and the mixed second
     * derivative d2L_tr/(da dw) = -B^T; outer L_val = 1/2 |w - t|^2 (no direct a term).
     * Implicit gradient: dL_val/da = B^T A^-1 (w* - t); iDARTS' estimate with v0 = w* - t is
     * -gamma * (-B^T) S = gamma B^T S, S the Neumann sum. */
    dnas_rng rng = dnas_rng_make(3, 9);
    double R[QN][QN], B[QN][QM], a[QM], t[QN];
    for (int i = 0; i < QN; i++)
        for (int j = 0; j < QN; j++) R[i][j] = dnas_rng_normal(&rng);
    for (int i = 0; i < QN; i++)
        for (int j = 0; j < QN; j++) {
            double s = i == j ? 1.0 : 0.0; /* A = R R^T / QN + I: SPD, eigenvalues in ~[1, 6] */
            for (int k = 0; k < QN; k++) s += R[i][k] * R[j][k] / QN;
            QA[i][j] = s;
        }
    for (int i = 0; i < QN; i++)
        for (int j = 0; j < QM; j++) B[i][j] = dnas_rng_normal(&rng);
    for (int j = 0; j < QM; j++) a[j] = dnas_rng_normal(&rng);
    for (int i = 0; i < QN; i++) t[i] = dnas_rng_normal(&rng);
    double Ba[QN], wstar[QN], r[QN], Ainv_r[QN];
    for (int i = 0; i < QN; i++) {
        Ba[i] = 0;
        for (int j = 0; j < QM; j++) Ba[i] += B[i][j] * a[j];
    }
    solve(QA, Ba, wstar);
    for (int i = 0; i < QN; i++) r[i] = wstar[i] - t[i];
    solve(QA, r, Ainv_r);

    float v0[QN], S[QN], vk[QN], hv[QN];
    for (int i = 0; i < QN; i++) v0[i] = (float)r[i];
    /* K = 2 against the explicit sum v0 + (I - gA) v0 + (I - gA)^2 v0. */
    const float gam = 0.1f;
    CHECK(dnas_neumann_sum(quad_hvp, NULL, QN, v0, gam, 2, S, vk, hv) == DNAS_OK, "neumann");
    double t1[QN], t2[QN], err2 = 0;
    for (int i = 0; i < QN; i++) {
        t1[i] = r[i];
        for (int j = 0; j < QN; j++) t1[i] -= gam * QA[i][j] * r[j];
    }
    for (int i = 0; i < QN; i++) {
        t2[i] = t1[i];
        for (int j = 0; j < QN; j++) t2[i] -= gam * QA[i][j] * t1[j];
    }
    for (int i = 0; i < QN; i++) err2 = fmax(err2, fabs(S[i] - (r[i] + t1[i] + t2[i])));
    CHECK(err2 < 1e-5, "K=2 Neumann sum off by %.2e", err2);

    /* Large K: gamma S -> A^-1 v0, and the hypergradient -> the closed form. */
    CHECK(dnas_neumann_sum(quad_hvp, NULL, QN, v0, gam, 400, S, vk, hv) == DNAS_OK, "neumann");
    double errg = 0, scale = 0;
    for (int j = 0; j < QM; j++) {
        double est = 0, exact = 0;
        for (int i = 0; i < QN; i++) {
            est += gam * B[i][j] * S[i];
            exact += B[i][j] * Ainv_r[i];
        }
        errg = fmax(errg, fabs(est - exact));
        scale = fmax(scale, fabs(exact));
    }
    printf("  Neumann hypergradient (K=400, gamma=0.1) vs closed form: max error %.2e of %.3f\n",
           errg, scale);
    CHECK(errg < 1e-4 * (1 + scale), "hypergradient error %.2e", errg);
}

/* ---- GAEA ------------------------------------------------------------------------------------- */
static void test_eg_step_hand_computed(void) {
    float theta[2 * 3] = {0.2f, 0.3f, 0.5f, 0.0f, 0.5f, 0.5f};
    const float grad[2 * 3] = {1.0f, -2.0f, 0.5f, 9.0f, 200.0f, 0.0f};
    const uint8_t cand[2 * 3] = {1, 1, 1, 0, 1, 1};
    dnas_eg_step(theta, grad, cand, 2, 3, 0.1f);
    /* Row 0: 0.2e^-0.1, 0.3e^0.2, 0.5e^-0.05, normalised. */
    double a = 0.2 * exp(-0.1), b = 0.3 * exp(0.2), c = 0.5 * exp(-0.05), s = a + b + c;
    CHECK(fabs(theta[0] - a / s) < 1e-6 && fabs(theta[1] - b / s) < 1e-6 &&
          fabs(theta[2] - c / s) < 1e-6, "row 0: %g %g %g", theta[0], theta[1], theta[2]);
    /* Row 1: the non-candidate stays 0; 0.5e^-20 = 1e-9 is clamped to 1e-5 before normalising. */
    double s1 = 1e-5 + 0.5;
    CHECK(theta[3] == 0.0f, "non-candidate got %g", theta[3]);
    CHECK(fabs(theta[4] - 1e-5 / s1) < 1e-9 && fabs(theta[5] - 0.5 / s1) < 1e-6, "row 1: %g %g",
          theta[4], theta[5]);
    for (int r = 0; r < 2; r++)
        CHECK(fabs(theta[3 * r] + theta[3 * r + 1] + theta[3 * r + 2] - 1.0) < 1e-6, "row %d off the simplex", r);
}

static dnas_search *tiny_search(const char *algo, const char *ops) {
    dnas_search_config c;
    dnas_search_config_default(&c, algo);
    c.channels = 4;
    c.cells = 1;
    c.batch = 2;
    c.threads = 1;
    if (ops) snprintf(c.ops, sizeof c.ops, "%s", ops);
    dnas_search *s = NULL;
    if (dnas_search_create(&c, &s) != DNAS_OK) printf("  create: %s\n", dnas_last_error());
    return s;
}

static void test_gaea_theta_is_the_mix(void) {
    dnas_search *s = tiny_search("gaea", NULL); /* GAEA's default: --ops no-none */
    CHECK(s != NULL, "gaea search");
    if (!s) return;
    dnas_search_mix(s);
    for (int r = 0; r < 6; r++) {
        CHECK(s->g->mix[r * 5] == 0.0f, "row %d: 'none' mixes with %g", r, s->g->mix[r * 5]);
        for (int k = 1; k < 5; k++)
            CHECK(fabs(s->g->mix[r * 5 + k] - 0.25f) < 1e-7, "row %d op %d: %g", r, k, s->g->mix[r * 5 + k]);
    }
    /* A gradient on 'none' must not move theta there; EG keeps rows on the simplex. */
    for (size_t i = 0; i < s->n_alpha; i++) s->g->gmix[i] = (float)(i % 5) - 2.0f;
    dnas_search_mix_backward(s);
    for (int r = 0; r < 6; r++) CHECK(s->galpha[r * 5] == 0.0f, "gradient on 'none'");
    dnas_eg_step(s->alpha, s->galpha, s->cand, 6, 5, 0.1f);
    double e[5] = {0, exp(0.1), 1.0, exp(-0.1), exp(-0.2)}, z = e[1] + e[2] + e[3] + e[4];
    for (int k = 0; k < 5; k++)
        CHECK(fabs(s->alpha[k] - e[k] / z) < 1e-6, "op %d: %g vs %g", k, s->alpha[k], e[k] / z);
    dnas_search_destroy(s);
}

/* --freeze-weights (the iDARTS notebook as written): steps move alpha, never a weight, and
 * iDARTS then takes a hypergradient every step instead of every T-th. */
static void test_freeze_weights(void) {
    const char *algos[2] = {"darts1", "idarts"};
    static float x[2 * 32 * 32 * 3], xv[2 * 32 * 32 * 3];
    int y[2] = {1, 7}, yv[2] = {3, 3};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        x[i] = (float)sin(0.37 * (double)i);
        xv[i] = (float)cos(0.11 * (double)i);
    }
    dnas_data_batch tr = {2, x, y}, va = {2, xv, yv};
    for (int a = 0; a < 2; a++) {
        dnas_search_config c;
        dnas_search_config_default(&c, algos[a]);
        c.channels = 4;
        c.cells = 1;
        c.batch = 2;
        c.threads = 1;
        c.freeze_weights = 1;
        dnas_search *s = NULL;
        CHECK(dnas_search_create(&c, &s) == DNAS_OK, "%s: %s", algos[a], dnas_last_error());
        if (!s) continue;
        size_t nw = s->g->n_weights;
        float *w0 = malloc(nw * sizeof(float)), a0[30];
        memcpy(w0, s->g->w, nw * sizeof(float));
        memcpy(a0, s->alpha, sizeof a0);
        int moved_each_step = 1;
        for (int step = 0; step < 3; step++) {
            float before[30];
            memcpy(before, s->alpha, sizeof before);
            CHECK(dnas_search_step(s, &tr, &va) == DNAS_OK, "%s step: %s", algos[a], dnas_last_error());
            moved_each_step &= memcmp(before, s->alpha, sizeof before) != 0;
        }
        CHECK(memcmp(w0, s->g->w, nw * sizeof(float)) == 0, "%s: a weight moved", algos[a]);
        CHECK(moved_each_step, "%s: alpha did not move at every step", algos[a]);
        free(w0);
        dnas_search_destroy(s);
    }
    dnas_search_config c;
    dnas_search_config_default(&c, "darts1");
    c.freeze_weights = 1;
    c.fix_alpha = 1;
    dnas_search *s = NULL;
    CHECK(dnas_search_create(&c, &s) != DNAS_OK && strstr(dnas_last_error(), "--freeze-weights"),
          "freezing both accepted: %s", dnas_last_error());
    dnas_search_destroy(s);
}

/* ---- DARTS-PT --------------------------------------------------------------------------------- */
/* A scorer whose supernet "accuracy" falls by harm[row][op] when that op's weight is 0 and
 * checks what PT hands it: the masked op exactly 0, the other weights as given. */
typedef struct {
    float harm[6][5];
    const float *base;
    int calls, bad;
} scorer;

static dnas_status score(void *ctx, dnas_search *s, const float *mix, double *acc) {
    scorer *sc = ctx;
    sc->calls++;
    *acc = 90.0;
    int zeros = 0;
    for (size_t i = 0; i < s->n_alpha; i++) {
        if (mix[i] == 0.0f && sc->base[i] != 0.0f) {
            zeros++;
            *acc -= sc->harm[i / 5][i % 5];
        } else if (mix[i] != sc->base[i]) {
            sc->bad++; /* renormalised or otherwise changed */
        }
    }
    if (zeros != 1) sc->bad++;
    return DNAS_OK;
}

static void test_pt_keeps_the_op_whose_removal_hurts_most(void) {
    dnas_search *s = tiny_search("darts1", NULL);
    CHECK(s != NULL, "search");
    if (!s) return;
    dnas_rng rng = dnas_rng_make(1, 2);
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = dnas_rng_normal(&rng);
    scorer sc = {.calls = 0};
    int want[6];
    for (int r = 0; r < 6; r++) {
        want[r] = (int)dnas_rng_below(&rng, 5);
        for (int k = 0; k < 5; k++) sc.harm[r][k] = k == want[r] ? 30.0f : (float)k;
    }
    /* Make magnitude disagree: the most harmful op has the smallest alpha. */
    for (int r = 0; r < 6; r++) s->alpha[r * 5 + want[r]] = -5.0f;
    CHECK(dnas_pt_begin(s) == DNAS_OK, "begin");
    float base[64];
    for (int d = 0; d < 6; d++) {
        dnas_search_weights(s, base);
        sc.base = base;
        CHECK(dnas_pt_decide(s, score, &sc, NULL, d) == DNAS_OK, "decide: %s", dnas_last_error());
    }
    CHECK(sc.calls == 30, "scored %d times, expected 6 rows x 5 ops", sc.calls);
    CHECK(sc.bad == 0, "%d scored weight sets were not 'this op zeroed, rest unchanged'", sc.bad);
    for (int r = 0; r < 6; r++) CHECK(s->fixed[r] == want[r], "row %d: kept %d, want %d", r, s->fixed[r], want[r]);
    /* Decided rows are one-hot in the mix and take no alpha gradient. */
    dnas_search_mix(s);
    for (int r = 0; r < 6; r++)
        for (int k = 0; k < 5; k++)
            CHECK(s->g->mix[r * 5 + k] == (k == want[r] ? 1.0f : 0.0f), "mix row %d op %d", r, k);
    char arch[DNAS_GENOTYPE_MAX];
    CHECK(dnas_search_genotype(s, arch, sizeof arch) == DNAS_OK, "genotype");
    float onehot[30];
    CHECK(s->space->parse(arch, onehot) == DNAS_OK, "parse %s", arch);
    for (int r = 0; r < 6; r++) CHECK(onehot[r * 5 + want[r]] == 1.0f, "genotype row %d", r);
    dnas_search_destroy(s);
}

int main(void) {
    RUN(test_hvp_exact_linear_xent);
    RUN(test_neumann_quadratic_closed_form);
    RUN(test_eg_step_hand_computed);
    RUN(test_gaea_theta_is_the_mix);
    RUN(test_freeze_weights);
    RUN(test_pt_keeps_the_op_whose_removal_hurts_most);
    TEST_EXIT();
}
