/* DARTS-PRIME (src/search/prime.c, ALGORITHMS-2.md §B) against our PyTorch twin
 * (tests/ref/prime_twin.py, fixture tests/ref/prime_fixture.bin) on the DARTS search supernet,
 * C = 4, 5 layers (both reductions), batch 4, 16x16, train mode:
 *  - clip ("CRB"): a weight step (lr 0, so the weights stay) with alpha_pre prunes exactly the
 *    twin's mask (alpha <= 0; read back through the strategy's checkpoint entry); then at an
 *    alpha with positive values on pruned entries, entries above 1, one at exactly 1 and live
 *    ones below 0: the mixing weights, logits and loss with BN on every node sum (statebn, the
 *    default with clip; pruned ops switched off by the prune pass), the gradients of the stem
 *    conv and the classifier (they see every node BN), both alpha groups' gradients;
 *  - softmax (statebn off, the default) and softmax with --state-bn 1: the same quantities;
 *  - dnas_prime_penalty's value and alpha gradient for prox, ADMM code and ADMM clean, clip
 *    (with the mask) and softmax, at the twin's Z and U; dnas_prime_admm_update's Z' and U';
 *  - the whole alpha step (the strategy's arch_step) for clip + prox, softmax + prox, clip +
 *    ADMM code and clip + ADMM clean: the gradient Adam is given, d(L_val + regulariser)/dalpha,
 *    and the regulariser's part of it (that gradient minus the plain d L_val/dalpha). The
 *    strategy's clock (for prox's t/T ramp), mask, Z and U are set through its checkpoint entries
 *    (dnas_prime_ckpt_get); the step runs with the fixed schedule, f = 1 (a step every time).
 *
 * The fixture holds no weights: both sides set them by make_darts_fixture.py's name-hash rule.
 * Max relative error printed per comparison; tolerances are 4-10x the errors measured on the
 * default build (the worse of OMP_NUM_THREADS=1 and 2), the measured value in each comment. */
#include "test.h"
#include "twin.h"
#include "io/checkpoint.h"
#include "search/search.h"
#include <math.h>
#include <unistd.h>

#define TOL_MIX 6e-7        /* mixing weights: measured clip 0 (exact), softmax 9.8e-8 (6x) */
#define TOL_LOGITS 6e-6     /* logits (normwise): measured 1.0e-6 (6x) */
#define TOL_LOSS 6e-7       /* loss (relative): measured 9.6e-8 (6x; one float ulp at 2.5 is 9.5e-8) */
#define TOL_GRAD 1e-5       /* stem / classifier gradients: measured 1.8e-6 (6x; the twin's own
                             * float32-vs-float64 floor there is 1.4e-6) */
#define TOL_ALPHA_GRAD 1.5e-5 /* dloss/dalpha, each group: measured 2.5e-6 (6x; softmax_bn reduce,
                               * whose twin floor is 1.3e-6) */
#define TOL_PEN 5e-7        /* regulariser values and gradients, U' (double from float alpha):
                             * measured 9.3e-8 (5x); U' 0 */
#define TOL_STEP 6e-6       /* the alpha step's whole gradient, each group: measured 1.0e-6 (6x) */
#define TOL_STEP_PEN 4e-5   /* its regulariser part (a difference of floats, so float round-off of
                             * the whole gradient): measured 6.7e-6 (6x) */

enum { ROWS = 14, COLS = 9, NA = 2 * ROWS * COLS, SPE = 2 };

static fixture fx;
static int have_fx;
static char why_fx[400];

static const float *need_fs(const char *a, const char *b, size_t count) {
    char name[200];
    snprintf(name, sizeof name, "%s%s", a, b);
    return twin_need_f(&fx, name, count);
}

/* config [C, L, classes, batch, image, track_bn] and hyper [rho, t, T]; NULL if unusable. */
static const int *config(const float **hyper) {
    if (!have_fx) {
        CHECK(0, "fixture unusable: %s", why_fx);
        return NULL;
    }
    const int *c = twin_need_i(&fx, "config", 6);
    *hyper = twin_need_f(&fx, "prime/hyper", 3);
    return c && *hyper ? c : NULL;
}

/* A prime search on the fixture's supernet, weights by the name-hash rule. The schedule is fixed
 * with f = 1 (every arch_step call steps); --train-images 2 x batch with no dyno split makes the
 * clock advance 1/SPE per iteration (prime.c's steps_per_epoch). */
static dnas_search *make_search(const int *c, const float *hyper, const char *act,
                                const char *reg, const char *mode, int state_bn) {
    dnas_search_config sc;
    twin_darts_config(&sc, "prime", "all", c);
    snprintf(sc.prime_act, sizeof sc.prime_act, "%s", act);
    snprintf(sc.prime_reg, sizeof sc.prime_reg, "%s", reg);
    snprintf(sc.admm_mode, sizeof sc.admm_mode, "%s", mode);
    sc.threads = 0; /* OpenMP's default: OMP_NUM_THREADS chooses (the tolerances hold for 1 and 2) */
    sc.state_bn = state_bn;
    sc.prime_rho = hyper[0];
    sc.epochs = (int)hyper[2];
    sc.dyno_schedule = 0;
    sc.sched_freq = 1;
    sc.dyno_split = 0;
    sc.train_images = SPE * c[3];
    char what[96];
    snprintf(what, sizeof what, "prime %s/%s/%s", act, reg, mode);
    dnas_search *s = twin_darts_search(&sc, c, what);
    if (!s) return NULL;
    CHECK(s->n_alpha == NA, "the search holds %zu architecture weights, expected %d", s->n_alpha, NA);
    if (s->n_alpha != NA) {
        dnas_search_destroy(s);
        return NULL;
    }
    return s;
}

static const char *tmp_path(void) {
    static char p[96];
    snprintf(p, sizeof p, "/tmp/dnas-prime-twin-%d.ckpt", (int)getpid());
    return p;
}

/* The strategy's mask, through its checkpoint entry "prime.mask". */
static int read_mask(dnas_search *s, uint8_t *mask) {
    dnas_ckpt_writer *w = NULL;
    dnas_ckpt *ck = NULL;
    size_t bytes = 0;
    int ok = dnas_ckpt_write_begin(tmp_path(), "prime-twin", &w) == DNAS_OK &&
             dnas_prime_ckpt_put(s, w) == DNAS_OK;
    if (w) ok = dnas_ckpt_write_commit(w) == DNAS_OK && ok;
    ok = ok && dnas_ckpt_read(tmp_path(), NULL, &ck) == DNAS_OK;
    const void *m = ok ? dnas_ckpt_find(ck, "prime.mask", &bytes) : NULL;
    ok = m && bytes == NA;
    if (ok) memcpy(mask, m, NA);
    CHECK(ok, "reading the strategy's mask back: %s", dnas_last_error());
    dnas_ckpt_free(ck);
    remove(tmp_path());
    return ok;
}

/* Sets the strategy's clock, mask, Z and U through its checkpoint entries (prime.c's layout:
 * state = E, tau, clock, FI, penalty; five counters; mask bytes; Z, U doubles). */
static int set_state(dnas_search *s, double clock, const uint8_t *mask, const float *z,
                     const float *u) {
    double st[5] = {-1.0, 1.0, clock, 0.0, 0.0}, zd[NA], ud[NA];
    uint64_t ct[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < NA; i++) {
        zd[i] = z ? z[i] : 0.0;
        ud[i] = u ? u[i] : 0.0;
    }
    dnas_ckpt_writer *w = NULL;
    dnas_ckpt *ck = NULL;
    int ok = dnas_ckpt_write_begin(tmp_path(), "prime-twin", &w) == DNAS_OK &&
             dnas_ckpt_put(w, "prime.state", st, sizeof st) == DNAS_OK &&
             dnas_ckpt_put(w, "prime.counters", ct, sizeof ct) == DNAS_OK &&
             dnas_ckpt_put(w, "prime.mask", mask, NA) == DNAS_OK &&
             dnas_ckpt_put(w, "prime.z", zd, sizeof zd) == DNAS_OK &&
             dnas_ckpt_put(w, "prime.u", ud, sizeof ud) == DNAS_OK;
    if (w) ok = dnas_ckpt_write_commit(w) == DNAS_OK && ok;
    ok = ok && dnas_ckpt_read(tmp_path(), NULL, &ck) == DNAS_OK &&
         dnas_prime_ckpt_get(s, ck, tmp_path()) == DNAS_OK;
    CHECK(ok, "setting the strategy's state: %s", dnas_last_error());
    dnas_ckpt_free(ck);
    remove(tmp_path());
    return ok;
}

/* The twin's clip mask (int32 entry) as bytes; 0 if missing. */
static int fixture_mask(uint8_t *mask) {
    const int *m = twin_need_i(&fx, "clip/mask", NA);
    for (int i = 0; m && i < NA; i++) mask[i] = (uint8_t)(m[i] != 0);
    return m != NULL;
}

/* Clip: the weight step's mask rule on alpha_pre, with lr 0 (weights unchanged). */
static int prune_by_weight_step(dnas_search *s, const dnas_data_batch *b) {
    const float *pre = twin_need_f(&fx, "clip/alpha_pre", NA);
    uint8_t want[NA], got[NA];
    if (!pre || !fixture_mask(want)) return 0;
    memcpy(s->alpha, pre, sizeof(float) * NA);
    s->lr = 0.0f;
    dnas_status st = s->strat->weight_step(s, b);
    CHECK(st == DNAS_OK, "weight step: %s", dnas_last_error());
    if (st != DNAS_OK || !read_mask(s, got)) return 0;
    int n_pruned = 0, diff = 0;
    for (int i = 0; i < NA; i++) {
        n_pruned += s->cand[i] && !want[i];
        diff += got[i] != want[i];
    }
    CHECK(diff == 0, "the weight step's mask differs from the twin's in %d entries", diff);
    CHECK(dnas_prime_pruned(s) == n_pruned, "pruned %d ops, the twin %d", dnas_prime_pruned(s),
          n_pruned);
    return diff == 0;
}

static double group_err(const float *a, const float *b, int t) {
    return fx_relerr(a + t * NA / 2, b + t * NA / 2, NA / 2);
}

/* ---- 1. transform, forward, backward ------------------------------------------------------ */
static void check_section(const char *sec, const char *act, int state_bn, const char *alpha_name) {
    const float *hyper;
    const int *c = config(&hyper);
    if (!c) return;
    int clip = strcmp(act, "clip") == 0;
    dnas_search *s = make_search(c, hyper, act, "none", "code", state_bn);
    if (!s) return;
    dnas_graph *g = s->g;
    int want_bn = clip || state_bn == 1, has_bn = 0;
    for (int i = 0; i < g->n_nodes; i++) has_bn += strstr(g->nodes[i].name, ".node_bn.") != NULL;
    CHECK(!!has_bn == want_bn, "%s: %d node BNs built, want %s", sec, has_bn, want_bn ? "some" : "none");
    for (int r = 0; r < 2 * ROWS; r++)
        CHECK(s->cand[r * COLS] == !clip, "%s: row %d: 'none' is %sa candidate", sec, r,
              clip ? "" : "not ");
    dnas_data_batch b;
    const float *a = twin_need_f(&fx, alpha_name, NA);
    if (!a || !twin_batch(&fx, "x", "y", &b)) {
        dnas_search_destroy(s);
        return;
    }
    if (clip && !prune_by_weight_step(s, &b)) goto done;
    memcpy(s->alpha, a, sizeof(float) * NA);
    dnas_status st = dnas_search_fwd_bwd(s, &b, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH, NULL);
    CHECK(st == DNAS_OK, "fwd/bwd: %s", dnas_last_error());
    if (st != DNAS_OK) goto done;
    dnas_search_mix_backward(s);
    size_t nl = dnas_shape_numel(g->vals[g->logits].shape);
    const float *mix = need_fs(sec, "mix", NA), *lg = need_fs(sec, "out/logits", nl);
    const float *ls = need_fs(sec, "out/loss", 1), *ga = need_fs(sec, "grad/alpha", NA);
    if (!mix || !lg || !ls || !ga) goto done;
    float w[NA];
    dnas_search_weights(s, w);
    double e_mix = fx_relerr(g->mix, mix, NA), e_w = fx_relerr(w, mix, NA);
    double e_logits = fx_relerr(g->vals[g->logits].data, lg, nl);
    double e_loss = fabs(g->loss_value - ls[0]) / fabs(ls[0]);
    printf("  %s mixing weights max rel err %.3g (weights() %.3g); logits %.3g, loss %.7f vs "
           "%.7f (rel %.3g)\n", sec, e_mix, e_w, e_logits, (double)g->loss_value, (double)ls[0], e_loss);
    CHECK(e_mix <= TOL_MIX && e_w <= TOL_MIX, "%s mixing weights differ: %.3g, %.3g", sec, e_mix, e_w);
    CHECK(e_logits <= TOL_LOGITS, "%s logits differ: %.3g", sec, e_logits);
    CHECK(e_loss <= TOL_LOSS, "%s loss differs: %.3g", sec, e_loss);
    static const char *const gp[] = {"stem.0.weight", "classifier.weight", "classifier.bias"};
    for (int k = 0; k < 3; k++) {
        dnas_param *p = NULL;
        for (int i = 0; i < g->n_params; i++)
            if (strcmp(g->params[i].name, gp[k]) == 0) p = &g->params[i];
        CHECK(p != NULL, "the graph has no parameter %s", gp[k]);
        char name[200];
        double err;
        snprintf(name, sizeof name, "%sgrad/%s", sec, gp[k]);
        if (!p || !twin_param_relerr(&fx, name, p, g->gw + p->off, &err)) continue;
        printf("  %s grad %s max rel err %.3g\n", sec, gp[k], err);
        CHECK(err <= TOL_GRAD, "%s grad %s differs: %.3g", sec, gp[k], err);
    }
    for (int t = 0; t < 2; t++) {
        double e = group_err(s->galpha, ga, t);
        printf("  %s %s alpha gradient max rel err %.3g\n", sec, t ? "reduce" : "normal", e);
        CHECK(e <= TOL_ALPHA_GRAD, "%s %s alpha gradient differs: %.3g", sec, t ? "reduce" : "normal", e);
    }
done:
    free((void *)b.x);
    dnas_search_destroy(s);
}

static void test_clip(void) { check_section("clip/", "clip", -1, "clip/alpha"); }
static void test_softmax(void) { check_section("softmax/", "softmax", -1, "softmax/alpha"); }
static void test_softmax_node_bn(void) { check_section("softmax_bn/", "softmax", 1, "softmax/alpha"); }

/* ---- 2. the regularisers and the ADMM update ---------------------------------------------- */
static void check_penalties(const char *act) {
    const float *hyper;
    const int *c = config(&hyper);
    if (!c) return;
    int clip = strcmp(act, "clip") == 0;
    dnas_search *s = make_search(c, hyper, act, "none", "code", -1);
    if (!s) return;
    char p[64], name[200];
    snprintf(p, sizeof p, "pen/%s/", act);
    snprintf(name, sizeof name, "%s/alpha", act);
    const float *af = twin_need_f(&fx, name, NA), *zf = need_fs(p, "z", NA), *uf = need_fs(p, "u", NA);
    uint8_t mask[NA];
    if (!af || !zf || !uf || (clip && !fixture_mask(mask))) {
        dnas_search_destroy(s);
        return;
    }
    if (!clip) memcpy(mask, s->cand, NA); /* softmax: nothing is pruned */
    double alpha[NA], z[NA], u[NA], gd[NA], tmp[NA];
    for (int i = 0; i < NA; i++) {
        alpha[i] = af[i];
        z[i] = zf[i];
        u[i] = uf[i];
    }
    const double rho = hyper[0], ramp = (double)hyper[1] / hyper[2];
    static const char *const kinds[] = {"prox", "admm_code", "admm_clean"};
    for (int k = 0; k < 3; k++) {
        dnas_prime_pen pen = {s->space, s->cand, mask, clip,
                              k ? DNAS_PRIME_REG_ADMM : DNAS_PRIME_REG_PROX, k == 2,
                              k ? rho / 2 : rho / 2 * ramp, z, u};
        double v = 0;
        memset(gd, 0, sizeof gd);
        dnas_status st = dnas_prime_penalty(&pen, alpha, &v, gd);
        CHECK(st == DNAS_OK, "%s %s: %s", act, kinds[k], dnas_last_error());
        snprintf(name, sizeof name, "%s/value", kinds[k]);
        const float *vw = need_fs(p, name, 1);
        snprintf(name, sizeof name, "%s/galpha", kinds[k]);
        const float *gw = need_fs(p, name, NA);
        if (st != DNAS_OK || !vw || !gw) continue;
        float gf[NA];
        for (int i = 0; i < NA; i++) gf[i] = (float)gd[i];
        double ev = fabs(v - vw[0]) / fabs(vw[0]), eg = fx_relerr(gf, gw, NA);
        printf("  %s %-10s value %.7f vs %.7f (rel %.3g), gradient max rel err %.3g\n", act,
               kinds[k], v, (double)vw[0], ev, eg);
        CHECK(ev <= TOL_PEN && eg <= TOL_PEN, "%s %s differs: value %.3g, gradient %.3g", act,
              kinds[k], ev, eg);
    }
    for (int clean = 0; clean < 2; clean++) {
        dnas_prime_pen pen = {s->space, s->cand, mask, clip, DNAS_PRIME_REG_ADMM, clean, rho / 2,
                              z, u};
        double z2[NA], u2[NA];
        memcpy(z2, z, sizeof z2);
        memcpy(u2, u, sizeof u2);
        dnas_status st = dnas_prime_admm_update(&pen, alpha, z2, u2, tmp);
        CHECK(st == DNAS_OK, "%s ADMM update: %s", act, dnas_last_error());
        snprintf(name, sizeof name, "update_%s/z", clean ? "clean" : "code");
        const float *zw = need_fs(p, name, NA);
        snprintf(name, sizeof name, "update_%s/u", clean ? "clean" : "code");
        const float *uw = need_fs(p, name, NA);
        if (st != DNAS_OK || !zw || !uw) continue;
        float zf2[NA], uf2[NA];
        int zdiff = 0;
        for (int i = 0; i < NA; i++) {
            zf2[i] = (float)z2[i];
            uf2[i] = (float)u2[i];
            zdiff += zf2[i] != zw[i];
        }
        double eu = fx_relerr(uf2, uw, NA);
        printf("  %s ADMM update (%s): Z' differs in %d entries, U' max rel err %.3g\n", act,
               clean ? "clean" : "code", zdiff, eu);
        CHECK(zdiff == 0 && eu <= TOL_PEN, "%s ADMM update (%s): Z' %d entries, U' %.3g", act,
              clean ? "clean" : "code", zdiff, eu);
    }
    dnas_search_destroy(s);
}

static void test_penalties_clip(void) { check_penalties("clip"); }
static void test_penalties_softmax(void) { check_penalties("softmax"); }

/* ---- 3. the whole alpha step --------------------------------------------------------------- */
static void check_step(const char *act, const char *reg, const char *mode) {
    const float *hyper;
    const int *c = config(&hyper);
    if (!c) return;
    int clip = strcmp(act, "clip") == 0, admm = strcmp(reg, "admm") == 0;
    dnas_search *s = make_search(c, hyper, act, reg, mode, -1);
    if (!s) return;
    char sec[64], pen[96], name[200];
    if (admm) snprintf(sec, sizeof sec, "%s_admm_%s", act, mode);
    else snprintf(sec, sizeof sec, "%s_%s", act, reg);
    const char *kind = !admm ? "prox" : strcmp(mode, "code") ? "admm_clean" : "admm_code";
    snprintf(pen, sizeof pen, "pen/%s/%s/galpha", act, kind);
    snprintf(name, sizeof name, "%s/alpha", act);
    const float *a = twin_need_f(&fx, name, NA), *gpen = twin_need_f(&fx, pen, NA);
    snprintf(name, sizeof name, "step/%s/galpha", sec);
    const float *gstep = twin_need_f(&fx, name, NA);
    const float *z = admm ? need_fs("pen/", "clip/z", NA) : NULL;
    const float *u = admm ? need_fs("pen/", "clip/u", NA) : NULL;
    uint8_t mask[NA];
    dnas_data_batch b;
    if (!a || !gpen || !gstep || (admm && (!z || !u)) || !twin_batch(&fx, "x", "y", &b)) {
        dnas_search_destroy(s);
        return;
    }
    if (clip && (!prune_by_weight_step(s, &b) || !fixture_mask(mask))) goto done;
    if (!clip) memcpy(mask, s->cand, NA);
    /* arch_step advances the clock by 1/SPE before the penalty: it then reads t. */
    if (!set_state(s, (double)hyper[1] - 1.0 / SPE, mask, z, u)) goto done;
    memcpy(s->alpha, a, sizeof(float) * NA);
    float gl[NA];
    dnas_status st = dnas_search_fwd_bwd(s, &b, DNAS_WANT_ARCH, NULL);
    if (st == DNAS_OK) {
        dnas_search_mix_backward(s);
        memcpy(gl, s->galpha, sizeof gl);
        st = s->strat->arch_step(s, &b, &b);
    }
    CHECK(st == DNAS_OK, "%s: %s", sec, dnas_last_error());
    if (st != DNAS_OK) goto done;
    CHECK(dnas_prime_alpha_steps(s) == 1, "%s: %ld alpha steps, want 1", sec, dnas_prime_alpha_steps(s));
    float part[NA];
    for (int i = 0; i < NA; i++) part[i] = s->galpha[i] - gl[i];
    for (int t = 0; t < 2; t++) {
        double e = group_err(s->galpha, gstep, t), ep = group_err(part, gpen, t);
        printf("  step %s %s: alpha gradient max rel err %.3g, its regulariser part %.3g\n", sec,
               t ? "reduce" : "normal", e, ep);
        CHECK(e <= TOL_STEP, "step %s %s gradient differs: %.3g", sec, t ? "reduce" : "normal", e);
        CHECK(ep <= TOL_STEP_PEN, "step %s %s regulariser part differs: %.3g", sec,
              t ? "reduce" : "normal", ep);
    }
done:
    free((void *)b.x);
    dnas_search_destroy(s);
}

static void test_step_clip_prox(void) { check_step("clip", "prox", "code"); }
static void test_step_softmax_prox(void) { check_step("softmax", "prox", "code"); }
static void test_step_clip_admm_code(void) { check_step("clip", "admm", "code"); }
static void test_step_clip_admm_clean(void) { check_step("clip", "admm", "clean"); }

int main(void) {
    have_fx = twin_load(&fx, "tests/ref/prime_fixture.bin", why_fx, sizeof why_fx);
    RUN(test_clip);
    RUN(test_softmax);
    RUN(test_softmax_node_bn);
    RUN(test_penalties_clip);
    RUN(test_penalties_softmax);
    RUN(test_step_clip_prox);
    RUN(test_step_softmax_prox);
    RUN(test_step_clip_admm_code);
    RUN(test_step_clip_admm_clean);
    fx_free(&fx);
    TEST_EXIT();
}
