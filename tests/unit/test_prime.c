/* DARTS-PRIME (src/search/prime.c, ALGORITHMS-2.md §B) against known answers:
 *  - clip activation + mask on a tiny NB201 supernet: 'none' is no candidate, alpha starts at
 *    1/|O| = 1/4 (+ 1e-4 noise), a weight step masks every alpha <= 0 for good, masked ops get
 *    weight 0 and their graph nodes are switched off (and switching them back on changes no
 *    number), the clip gradient is 0 for pruned ops and alpha > 1, node BN is built;
 *  - the informed schedule on a hand-worked FI sequence (decisions, tau = 1.05^k, E), the
 *    fixed schedule, and the long-run alpha-step fraction 1/(1+f) on synthetic FI sequences;
 *  - D(.) on hand-made DARTS weights; the prox and ADMM penalties at hand-computed values, and
 *    their gradients against central differences in double (softmax and clip, DARTS and NB201);
 *  - ADMM on a toy quadratic in alpha, both modes: the primal residual falls to 0 and Z settles
 *    on the projection of the quadratic's target;
 *  - --dyno-split: sizes floor(n f/(1+f)) / rest at hand-worked n, f; on a hand-labelled set the
 *    two lists are disjoint, ascending, cover the pool exactly, give each class its alpha share
 *    to within one image, and do not depend on anything but the pool. */
#include "test.h"
#include "search/search.h"
#include "space/darts.h"
#include "space/space.h"

static dnas_search *tiny_prime(const char *space, const char *act, const char *reg) {
    dnas_search_config c;
    dnas_search_config_default(&c, "prime");
    snprintf(c.space, sizeof c.space, "%s", space);
    snprintf(c.prime_act, sizeof c.prime_act, "%s", act);
    snprintf(c.prime_reg, sizeof c.prime_reg, "%s", reg);
    c.channels = 4;
    c.cells = strcmp(space, "darts") == 0 ? 3 : 1;
    c.batch = 2;
    c.threads = 1;
    c.dyno_schedule = 0; /* fixed schedule, f = 1: an alpha step at every arch call */
    c.sched_freq = 1;
    dnas_search *s = NULL;
    if (dnas_search_create(&c, &s) != DNAS_OK) printf("  create: %s\n", dnas_last_error());
    return s;
}

/* A fixed batch of 2 images (NHWC floats) and labels. */
static float t_x[2 * 32 * 32 * 3];
static int t_y[2] = {3, 7};
static dnas_data_batch t_batch(void) {
    for (int i = 0; i < 2 * 32 * 32 * 3; i++) t_x[i] = (float)((i * 7919) % 201 - 100) / 50.0f;
    return (dnas_data_batch){2, t_x, t_y};
}

/* 1 if every node whose name starts with `prefix` has active == want (and there is one). */
static int nodes_active(const dnas_graph *g, const char *prefix, int want) {
    int seen = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (strncmp(g->nodes[i].name, prefix, strlen(prefix)) == 0) {
            seen++;
            if (g->nodes[i].active != want) return 0;
        }
    return seen > 0;
}

/* ---- 1. clip activation + mask ----------------------------------------------------------- */
static void test_clip_mask_prune(void) {
    dnas_search *s = tiny_prime("nb201", "clip", "none");
    CHECK(s != NULL, "prime clip search");
    if (!s) return;
    const int cols = 5; /* none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3 */
    for (int r = 0; r < 6; r++) {
        CHECK(s->cand[r * cols] == 0, "row %d: 'none' still a candidate", r);
        CHECK(s->alpha[r * cols] == 0.0f, "row %d: 'none' alpha %g", r, s->alpha[r * cols]);
        for (int k = 1; k < cols; k++)
            CHECK(fabsf(s->alpha[r * cols + k] - 0.25f) < 1e-3f, "alpha init %g, want 1/4 + 1e-4 N(0,1)",
                  s->alpha[r * cols + k]);
    }
    CHECK(nodes_active(s->g, "cells.0.node_bn.3", 1), "clip builds BN on the node sums (statebn)");
    /* Row 0 = edge 1<-0, row 1 = edge 2<-0, row 2 = edge 2<-1. */
    s->alpha[0 * cols + 2] = -0.3f; /* nor_conv_1x1 on 1<-0: pruned */
    s->alpha[1 * cols + 3] = 0.0f;  /* nor_conv_3x3 on 2<-0: pruned (alpha <= 0) */
    s->alpha[2 * cols + 4] = 1.7f;  /* avg_pool on 2<-1: weight clipped to 1 */
    s->alpha[2 * cols + 2] = 1e-6f; /* tiny but positive: stays */
    dnas_data_batch b = t_batch();
    CHECK(s->strat->weight_step(s, &b) == DNAS_OK, "weight step: %s", dnas_last_error());
    CHECK(dnas_prime_pruned(s) == 2, "pruned %d ops, want 2", dnas_prime_pruned(s));
    CHECK(s->alpha[0 * cols + 2] == 0.0f && s->alpha[1 * cols + 3] == 0.0f, "pruned alpha not 0");
    CHECK(s->alpha[2 * cols + 2] == 1e-6f, "a positive alpha was touched");
    /* The mask persists: an alpha moved back up still mixes with weight 0. */
    s->alpha[0 * cols + 2] = 0.5f;
    dnas_search_mix(s);
    float w[DNAS_MAX_ARCH];
    dnas_search_weights(s, w);
    CHECK(s->g->mix[0 * cols + 2] == 0.0f && w[0 * cols + 2] == 0.0f, "masked op mixes with %g",
          s->g->mix[0 * cols + 2]);
    CHECK(s->g->mix[2 * cols + 4] == 1.0f && w[2 * cols + 4] == 1.0f, "clip(1.7) = %g", s->g->mix[2 * cols + 4]);
    CHECK(fabsf(s->g->mix[2 * cols + 1] - s->alpha[2 * cols + 1]) == 0.0f, "a = alpha inside [0, 1]");
    /* Skipped: the masked ops' nodes are off, the others on. */
    CHECK(nodes_active(s->g, "cells.0.edges.1<-0.nor_conv_1x1", 0), "pruned 1x1 conv on 1<-0 still runs");
    CHECK(nodes_active(s->g, "cells.0.edges.2<-0.nor_conv_3x3", 0), "pruned 3x3 conv on 2<-0 still runs");
    CHECK(nodes_active(s->g, "cells.0.edges.1<-0.nor_conv_3x3", 1), "live 3x3 conv on 1<-0 is off");
    CHECK(nodes_active(s->g, "cells.0.edges.2<-1.nor_conv_1x1", 1), "live 1x1 conv on 2<-1 is off");
    /* Skipping changes no number: the same forward with every node on gives the same loss. */
    CHECK(dnas_search_set_batch(s, &b) == DNAS_OK, "set batch");
    s->g->training = 0; /* eval BN: no running-statistics update between the two forwards */
    CHECK(dnas_graph_forward(s->g) == DNAS_OK, "forward pruned");
    float l_pruned = s->g->loss_value;
    dnas_graph_unprune(s->g);
    CHECK(dnas_graph_forward(s->g) == DNAS_OK, "forward unpruned");
    CHECK(fabsf(s->g->loss_value - l_pruned) <= 1e-6f * fabsf(l_pruned), "loss %g pruned vs %g dense",
          l_pruned, s->g->loss_value);
    s->g->training = 1;
    /* An arch step (f = 1: it runs) leaves pruned alpha at 0, with zero gradient there and
     * above the clip. */
    s->alpha[0 * cols + 2] = 0.0f;
    CHECK(s->strat->arch_step(s, &b, &b) == DNAS_OK, "arch step: %s", dnas_last_error());
    CHECK(dnas_prime_alpha_steps(s) == 1, "alpha steps %ld, want 1", dnas_prime_alpha_steps(s));
    CHECK(s->alpha[0 * cols + 2] == 0.0f && s->alpha[1 * cols + 3] == 0.0f, "pruned alpha moved");
    CHECK(s->galpha[0 * cols + 2] == 0.0f && s->galpha[1 * cols + 3] == 0.0f, "pruned alpha has a gradient");
    CHECK(s->galpha[2 * cols + 4] == 0.0f, "alpha 1.7 (clipped) has gradient %g", s->galpha[2 * cols + 4]);
    CHECK(s->galpha[2 * cols + 1] != 0.0f, "a live alpha inside [0, 1] got no gradient");
    for (int r = 0; r < 6; r++) CHECK(s->galpha[r * cols] == 0.0f, "'none' gradient");
    dnas_search_destroy(s);

    /* Softmax mode keeps 'none' and the DARTS init, builds no node BN and prunes nothing. */
    s = tiny_prime("nb201", "softmax", "prox");
    CHECK(s != NULL, "prime softmax search");
    if (!s) return;
    CHECK(s->cand[0] == 1 && fabsf(s->alpha[1]) < 1e-2f, "softmax: 'none' kept, alpha ~ 1e-3 N(0,1)");
    CHECK(!nodes_active(s->g, "cells.0.node_bn", 1), "softmax builds no node BN by default");
    s->alpha[2] = -5.0f;
    CHECK(s->strat->weight_step(s, &b) == DNAS_OK, "weight step");
    CHECK(dnas_prime_pruned(s) == 0 && s->alpha[2] == -5.0f, "softmax mode pruned an op");
    dnas_search_destroy(s);
}

/* ---- 2. schedule ----------------------------------------------------------------------------- */
static void test_schedule_hand(void) {
    /* f = 10, m = 1.05, tau0 = 1, EWMA 0.2. Worked by hand: it 0 has E = -1 (no FI yet): no
     * step, tau = m; FI 0.5 -> E = 0.5 (copied); it 1: 0.5 < 1.05, step, tau = m^(1-10); it 2:
     * 0.5 < m^-9 = 0.645, step, m^-19; it 3: 0.5 > m^-19 = 0.396, no step, m^-18; FI 3 ->
     * E = 0.6 + 0.4 = 1; then FI 0: E = 0.8, 0.64, 0.512, 0.4096, and tau climbs m^-17 .. m^-14
     * until it 8: 0.4096 < m^-14 = 0.505, step, m^-24. */
    const double fi[9] = {0.5, 0.5, 0.5, 3.0, 0, 0, 0, 0, 0};
    const int want_d[9] = {0, 1, 1, 0, 0, 0, 0, 0, 1};
    const int want_k[9] = {1, -9, -19, -18, -17, -16, -15, -14, -24};
    const double want_E[9] = {0.5, 0.5, 0.5, 1.0, 0.8, 0.64, 0.512, 0.4096, 0.32768};
    dnas_prime_sched q;
    dnas_prime_sched_init(&q, 1, 10, 1.0, 1.05, 0.2);
    for (int t = 0; t < 9; t++) {
        int d = dnas_prime_sched_decide(&q, t);
        double want_tau = pow(1.05, want_k[t]);
        CHECK(d == want_d[t], "iteration %d: decision %d, want %d", t, d, want_d[t]);
        CHECK(fabs(q.tau / want_tau - 1) < 1e-12, "iteration %d: tau %.15g, want 1.05^%d = %.15g", t,
              q.tau, want_k[t], want_tau);
        dnas_prime_sched_observe(&q, fi[t]);
        CHECK(fabs(q.E - want_E[t]) < 1e-15, "iteration %d: E %.17g, want %g", t, q.E, want_E[t]);
    }
    /* Fixed schedule, f = 4: steps at 3, 7, 11, ... ((step + 1) mod 4 == 0), tau untouched. */
    dnas_prime_sched_init(&q, 0, 4, 1.0, 1.05, 0.2);
    int n = 0;
    for (long t = 0; t < 400; t++) {
        int d = dnas_prime_sched_decide(&q, t);
        CHECK(d == ((t + 1) % 4 == 0), "fixed: step %ld decision %d", t, d);
        n += d;
    }
    CHECK(n == 100 && q.tau == 1.0, "fixed: %d steps of 400, tau %g", n, q.tau);
}

static void test_schedule_long_run(void) {
    /* Over N iterations, (1+f) #steps - N = (log tau_0 - log tau_N) / log m, and tau stays
     * within [min E / m, max E m^f] (above max E every iteration steps and tau falls, below
     * min E none does and it rises). For the sequences below E lies in [e^-1, e^1] (after the
     * first FI), so |fraction - 1/(1+f)| <= (2 + (f+1) log m) / log m / ((1+f) N) + 1/N, which
     * is < 4e-5 at N = 200000 for f <= 10; checked at 1e-4. Sequences: FI = exp(u), u uniform
     * on [-1, 1] from a fixed LCG (i.i.d. noise), a slow sinusoid (drift), and a constant. */
    const int fs[3] = {1, 3, 10};
    const long N = 200000;
    for (int fi_kind = 0; fi_kind < 3; fi_kind++)
        for (int j = 0; j < 3; j++) {
            int f = fs[j];
            dnas_prime_sched q;
            dnas_prime_sched_init(&q, 1, f, 1.0, 1.05, 0.2);
            uint64_t lcg = 12345;
            long steps = 0;
            for (long t = 0; t < N; t++) {
                steps += dnas_prime_sched_decide(&q, t);
                lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
                double u = (double)(lcg >> 11) / 9007199254740992.0 * 2.0 - 1.0;
                double x = fi_kind == 0 ? exp(u) : fi_kind == 1 ? exp(sin((double)t / 3000.0)) : 0.7;
                dnas_prime_sched_observe(&q, x);
            }
            double frac = (double)steps / (double)N, want = 1.0 / (1 + f);
            printf("  f %2d, FI %-8s: alpha-step fraction %.6f (1/(1+f) = %.6f)\n", f,
                   fi_kind == 0 ? "noise" : fi_kind == 1 ? "sinusoid" : "constant", frac, want);
            CHECK(fabs(frac - want) < 1e-4, "f %d kind %d: fraction %.6f, want %.6f", f, fi_kind, frac, want);
        }
}

/* ---- 3. projection and penalties ------------------------------------------------------------ */
static void test_projection_darts(void) {
    const dnas_space *sp = &dnas_space_darts;
    enum { N = 2 * DNAS_DARTS_EDGES * DNAS_DARTS_OPS };
    uint8_t cand[N];
    CHECK(sp->candidates("", cand) == DNAS_OK, "candidates");
    /* Row r holds one op, column 1 + r % 7, at weight (r + 1)/100 (reduce: + 0.5), and 'none'
     * at 0.9 everywhere: node i keeps its two newest inputs' edges (the heaviest rows), never
     * 'none'. By hand: edges {0, 1}, {3, 4}, {7, 8}, {12, 13} per cell type. */
    double w[N] = {0}, z[N];
    for (int t = 0; t < 2; t++)
        for (int r = 0; r < DNAS_DARTS_EDGES; r++) {
            double *row = w + (t * DNAS_DARTS_EDGES + r) * DNAS_DARTS_OPS;
            row[0] = 0.9;
            row[1 + r % 7] = (r + 1) / 100.0 + 0.5 * t;
        }
    CHECK(dnas_prime_project(sp, cand, w, z) == DNAS_OK, "project: %s", dnas_last_error());
    const int kept[8] = {0, 1, 3, 4, 7, 8, 12, 13};
    for (int t = 0; t < 2; t++)
        for (int r = 0; r < DNAS_DARTS_EDGES; r++) {
            int want_row = 0;
            for (int q = 0; q < 8; q++) want_row |= kept[q] == r;
            for (int k = 0; k < DNAS_DARTS_OPS; k++) {
                double want = want_row && k == 1 + r % 7 ? 1.0 : 0.0;
                CHECK(z[(t * DNAS_DARTS_EDGES + r) * DNAS_DARTS_OPS + k] == want,
                      "D: type %d edge %d op %d = %g, want %g", t, r, k,
                      z[(t * DNAS_DARTS_EDGES + r) * DNAS_DARTS_OPS + k], want);
            }
        }
}

static void test_penalty_values(void) {
    const dnas_space *sp = &dnas_space_nb201;
    enum { N = 30 };
    uint8_t cand[N], nonone[N];
    sp->candidates("", cand);
    sp->candidates("no-none", nonone);
    double alpha[N] = {0}, g[N], v;
    /* Softmax at alpha = 0: a = 1/5 everywhere, D picks column 0 of each edge (ties go to the
     * lower index): per edge |a - D|^2 = 0.8^2 + 4 * 0.2^2 = 0.8, over 6 edges 4.8. */
    dnas_prime_pen p = {sp, cand, NULL, 0, DNAS_PRIME_REG_PROX, 0, 0.05, NULL, NULL};
    CHECK(dnas_prime_penalty(&p, alpha, &v, NULL) == DNAS_OK, "penalty");
    CHECK(fabs(v - 0.05 * sqrt(4.8)) < 1e-15, "prox softmax at 0: %.17g, want 0.05 sqrt(4.8)", v);
    /* Clip at alpha = 1/4 on 4 candidates: D picks skip; per edge 0.75^2 + 3 * 0.25^2 = 0.75. */
    for (int i = 0; i < N; i++) alpha[i] = nonone[i] ? 0.25 : 0.0;
    p = (dnas_prime_pen){sp, nonone, NULL, 1, DNAS_PRIME_REG_PROX, 0, 0.05, NULL, NULL};
    CHECK(dnas_prime_penalty(&p, alpha, &v, NULL) == DNAS_OK && fabs(v - 0.05 * sqrt(4.5)) < 1e-15,
          "prox clip at 1/4: %.17g, want 0.05 sqrt(4.5)", v);
    /* ADMM at a = Z - U: the residual is 0, so is the value and (subgradient) the gradient;
     * squared (clean) at a residual of 0.5 in one entry: 0.05 * 0.25. */
    double z[N] = {0}, u[N] = {0};
    for (int i = 0; i < N; i++) {
        z[i] = i % 5 == 1;
        u[i] = z[i] - alpha[i];
        g[i] = 0;
    }
    p = (dnas_prime_pen){sp, nonone, NULL, 1, DNAS_PRIME_REG_ADMM, 0, 0.05, z, u};
    CHECK(dnas_prime_penalty(&p, alpha, &v, g) == DNAS_OK && v == 0.0, "ADMM at its target: %g", v);
    for (int i = 0; i < N; i++) CHECK(g[i] == 0.0, "ADMM zero-residual gradient %g", g[i]);
    u[7] += 0.5;
    p.clean = 1;
    CHECK(dnas_prime_penalty(&p, alpha, &v, NULL) == DNAS_OK && fabs(v - 0.05 * 0.25) < 1e-15,
          "clean ADMM: %.17g, want 0.0125", v);
}

/* Central differences of the penalty in double against its gradient; D must not change
 * under the perturbation (it is detached), which the test checks for prox. */
static double fd_check(const dnas_prime_pen *p, const double *alpha0, int n, const char *what) {
    double alpha[DNAS_MAX_ARCH], g[DNAS_MAX_ARCH] = {0}, v, vp, vm, worst = 0, zc[DNAS_MAX_ARCH],
                                 zp[DNAS_MAX_ARCH], a[DNAS_MAX_ARCH];
    const dnas_space *sp = p->space;
    int rows = sp->groups * sp->rows;
    memcpy(alpha, alpha0, (size_t)n * sizeof(double));
    CHECK(dnas_prime_penalty(p, alpha, &v, g) == DNAS_OK, "%s: %s", what, dnas_last_error());
    dnas_prime_act(p->clip, alpha, p->cand, p->mask, rows, sp->cols, a);
    dnas_prime_project(sp, p->cand, a, zc);
    const double h = 1e-6;
    for (int i = 0; i < n; i++) {
        double x = alpha[i];
        alpha[i] = x + h;
        dnas_prime_penalty(p, alpha, &vp, NULL);
        dnas_prime_act(p->clip, alpha, p->cand, p->mask, rows, sp->cols, a);
        dnas_prime_project(sp, p->cand, a, zp);
        CHECK(memcmp(zc, zp, (size_t)n * sizeof(double)) == 0, "%s: D changed at entry %d", what, i);
        alpha[i] = x - h;
        dnas_prime_penalty(p, alpha, &vm, NULL);
        alpha[i] = x;
        double fd = (vp - vm) / (2 * h), err = fabs(fd - g[i]);
        if (err > worst) worst = err;
        if (!p->cand[i] || (p->mask && !p->mask[i]))
            CHECK(g[i] == 0.0, "%s: entry %d off the candidates has gradient %g", what, i, g[i]);
    }
    printf("  %-26s value %.6f, max |gradient - central difference| %.2e\n", what, v, worst);
    CHECK(v > 0 && worst < 1e-8, "%s: gradient off by %g", what, worst);
    return worst;
}

static void test_penalty_gradients_fd(void) {
    /* alpha from a fixed LCG, spread so that no two entries of a row are within 1e-3 (D's
     * decisions stay put under h = 1e-6); clip entries also avoid the kinks at 0 and 1, and a
     * few lie outside [0, 1], where the gradient is 0 on both sides. */
    uint64_t lcg = 99;
    double alpha[DNAS_MAX_ARCH], z[DNAS_MAX_ARCH], u[DNAS_MAX_ARCH];
    uint8_t mask[DNAS_MAX_ARCH];
    const dnas_space *spaces[2] = {&dnas_space_darts, &dnas_space_nb201};
    for (int si = 0; si < 2; si++) {
        const dnas_space *sp = spaces[si];
        int n = sp->groups * sp->rows * sp->cols;
        uint8_t cand[DNAS_MAX_ARCH], nonone[DNAS_MAX_ARCH];
        sp->candidates("", cand);
        sp->candidates("no-none", nonone);
        for (int clip = 0; clip < 2; clip++) {
            for (int i = 0; i < n; i++) {
                lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
                double r = (double)(lcg >> 40) / 16777216.0; /* [0, 1) */
                alpha[i] = clip ? 0.02 + 0.96 * r : 3.0 * r - 1.5;
                if (clip && i % 11 == 5) alpha[i] = 1.2 + r;   /* above the clip */
                if (clip && i % 13 == 6) alpha[i] = -0.5 - r;  /* below */
                mask[i] = !(clip && i % 17 == 3);              /* a few pruned entries */
                z[i] = (lcg >> 20) & 1;
                u[i] = 0.3 * r - 0.1;
            }
            const uint8_t *cd = clip ? nonone : cand;
            char what[64];
            snprintf(what, sizeof what, "%s prox %s", sp->name, clip ? "clip" : "softmax");
            dnas_prime_pen p = {sp, cd, clip ? mask : NULL, clip, DNAS_PRIME_REG_PROX, 0, 0.037, NULL, NULL};
            fd_check(&p, alpha, n, what);
            for (int clean = 0; clean < 2; clean++) {
                snprintf(what, sizeof what, "%s admm-%s %s", sp->name, clean ? "clean" : "code",
                         clip ? "clip" : "softmax");
                p = (dnas_prime_pen){sp, cd, clip ? mask : NULL, clip, DNAS_PRIME_REG_ADMM, clean, 0.05, z, u};
                fd_check(&p, alpha, n, what);
            }
        }
    }
}

/* ---- 4. ADMM on a toy quadratic ------------------------------------------------------------- */
/* min_alpha 1/2 ||a(alpha) - c||^2 s.t. a(alpha) in C (one op per NB201 edge), clip activation
 * without 'none'; alpha by plain gradient descent (lr 0.05) on the quadratic plus the library's
 * penalty, Z/U by the library's update when dnas_prime_admm_due says so (admm_freq 10), 3000
 * steps. Row r of c has 0.7 at column 1 + r % 4 and 0.1-0.3 elsewhere, so the projection of c
 * (the known answer) is that column. The unsquared (code) penalty is an exact penalty only when
 * rho/2 exceeds the quadratic's gradient at Z (~sqrt(6 * 0.6)): rho = 10; the squared (clean)
 * one converges with rho = 1. The residual ||a - Z|| after each update must reach 0 (alpha
 * lands on Z's vertex of the clip box) and Z must not change over the second half. */
static void admm_toy(int clean, double rho) {
    const dnas_space *sp = &dnas_space_nb201;
    enum { N = 30, R = 6, C = 5 };
    uint8_t cand[N];
    sp->candidates("no-none", cand);
    double c[N] = {0}, alpha[N], z[N], u[N] = {0}, tmp[N], a[N], g[N], zwant[N] = {0};
    for (int r = 0; r < R; r++) {
        const double rest[4] = {0.1, 0.3, 0.2, 0.15};
        for (int k = 1; k < C; k++) c[r * C + k] = rest[k - 1];
        c[r * C + 1 + r % 4] = 0.7;
        zwant[r * C + 1 + r % 4] = 1.0;
    }
    for (int i = 0; i < N; i++) alpha[i] = cand[i] ? 0.25 + 1e-4 * ((i * 7) % 5 - 2) : 0.0;
    dnas_prime_pen p = {sp, cand, NULL, 1, DNAS_PRIME_REG_ADMM, clean, rho / 2, z, u};
    if (clean) {
        dnas_prime_act(1, alpha, cand, NULL, R, C, a);
        dnas_prime_project(sp, cand, a, z);
    } else {
        memcpy(z, alpha, sizeof z); /* the reference's start: Z = alpha */
    }
    long count = 0;
    int n_upd = 0, changed_late = 0;
    double first = -1, last = -1, zprev[N];
    const int steps = 3000, updates = clean ? steps / 10 : steps / 9;
    for (int t = 0; t < steps; t++) {
        double v;
        dnas_prime_act(1, alpha, cand, NULL, R, C, a);
        for (int i = 0; i < N; i++) g[i] = 0;
        double dq[N];
        for (int i = 0; i < N; i++) dq[i] = a[i] - c[i];
        dnas_prime_act_backward(1, alpha, a, dq, cand, NULL, R, C, g);
        dnas_prime_penalty(&p, alpha, &v, g);
        for (int i = 0; i < N; i++) alpha[i] -= 0.05 * g[i];
        if (!dnas_prime_admm_due(clean, 10, &count)) continue;
        memcpy(zprev, z, sizeof z);
        CHECK(dnas_prime_admm_update(&p, alpha, z, u, tmp) == DNAS_OK, "update: %s", dnas_last_error());
        n_upd++;
        if (n_upd > updates / 2 && memcmp(zprev, z, sizeof z) != 0) changed_late = 1;
        dnas_prime_act(1, alpha, cand, NULL, R, C, a);
        double res = 0;
        for (int i = 0; i < N; i++) res += (a[i] - z[i]) * (a[i] - z[i]);
        res = sqrt(res);
        if (first < 0) first = res;
        last = res;
    }
    printf("  ADMM %-5s rho %g: %d Z/U updates, residual %.4f after the first, %.3g after the last\n",
           clean ? "clean" : "code", rho, n_upd, first, last);
    CHECK(n_upd == updates, "%d updates, want %d", n_upd, updates);
    CHECK(first > 0.5 && last < 1e-9, "residual %g -> %g: did not fall to 0", first, last);
    CHECK(!changed_late, "Z still changing in the second half");
    CHECK(memcmp(z, zwant, sizeof z) == 0, "Z is not the projection of the target");
}

/* Clean mode: a pruned op with a large U (built while it was live) against a live one of
 * lower a + U on the same edge: Z must take the live op (the pruned one cannot run). */
static void test_admm_clean_skips_pruned(void) {
    const dnas_space *sp = &dnas_space_nb201;
    enum { N = 30, C = 5 };
    uint8_t cand[N], mask[N];
    sp->candidates("no-none", cand);
    memset(mask, 1, sizeof mask);
    double alpha[N], z[N], u[N] = {0}, tmp[N];
    for (int i = 0; i < N; i++) alpha[i] = cand[i] ? 0.1 : 0.0;
    for (int r = 0; r < N / C; r++) alpha[r * C + 2] = 0.5; /* the live favourite */
    mask[0 * C + 3] = 0; /* edge 0: op 3 pruned with U 0.6 */
    u[0 * C + 3] = 0.6;
    dnas_prime_pen p = {sp, cand, mask, 1, DNAS_PRIME_REG_ADMM, 1, 0.5, z, u};
    CHECK(dnas_prime_admm_update(&p, alpha, z, u, tmp) == DNAS_OK, "update: %s", dnas_last_error());
    CHECK(z[0 * C + 3] == 0.0 && z[0 * C + 2] == 1.0, "edge 0: Z on the pruned op (%g) instead of the "
          "live favourite (%g)", z[0 * C + 3], z[0 * C + 2]);
    CHECK(u[0 * C + 3] == 0.6, "a pruned op's U changed: %g", u[0 * C + 3]);
}

static void test_admm_toy_code(void) { admm_toy(0, 10.0); }
static void test_admm_toy_clean(void) { admm_toy(1, 1.0); }

static void test_admm_due(void) {
    /* code: every admm_freq - 1 alpha steps (the reference's counter); clean: every admm_freq. */
    long cnt = 0;
    int fired[40], n = 0;
    for (int t = 1; t <= 40; t++)
        if (dnas_prime_admm_due(0, 10, &cnt)) fired[n++] = t;
    CHECK(n == 4 && fired[0] == 9 && fired[1] == 18 && fired[3] == 36, "code: %d updates, first %d", n, n ? fired[0] : -1);
    cnt = 0;
    n = 0;
    for (int t = 1; t <= 40; t++)
        if (dnas_prime_admm_due(1, 10, &cnt)) fired[n++] = t;
    CHECK(n == 4 && fired[0] == 10 && fired[3] == 40, "clean: %d updates, first %d", n, n ? fired[0] : -1);
    cnt = 0;
    CHECK(dnas_prime_admm_due(0, 1, &cnt) && dnas_prime_admm_due(0, 1, &cnt), "code, freq 1: every step");
}

static void test_config(void) {
    dnas_search_config c;
    CHECK(dnas_search_config_default(&c, "prime") == DNAS_OK, "default");
    CHECK(strcmp(c.space, "darts") == 0 && strcmp(c.prime_act, "softmax") == 0 &&
              strcmp(c.prime_reg, "prox") == 0 && c.sched_freq == 10 && c.dyno_schedule == 1 &&
              c.prime_rho == 0.1 && c.admm_freq == 10 && c.sched_mult == 1.05 && c.sched_tau0 == 1.0 &&
              c.sched_ewma == 0.2 && c.arch_lr == 3e-4 && c.arch_beta1 == 0.5 &&
              c.arch_weight_decay == 1e-3 && c.lr == 0.025 && c.lr_min == 0.001 && c.epochs == 50 &&
              c.weight_decay == 3e-4 && c.nesterov == 0 && c.batch == 64 && c.channels == 16 &&
              c.grad_clip == 5.0,
          "the recommended DARTS-PRIME run's defaults");
    CHECK(dnas_search_config_set(&c, "prime-act", "tanh") == DNAS_OK &&
              dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--prime-act"),
          "bad --prime-act accepted: %s", dnas_last_error());
    dnas_search_config_default(&c, "prime");
    c.fix_alpha = 1;
    CHECK(dnas_search_config_check(&c) != DNAS_OK, "--fix-alpha 1 accepted with prime");
    dnas_search_config_default(&c, "prime");
    CHECK(c.dyno_split == 1, "prime: --dyno-split is part of the recommended run");
    c.single_level = 1;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--dyno-split"),
          "--dyno-split with --single-level accepted");
    dnas_search_config_default(&c, "darts1");
    CHECK(dnas_search_config_check(&c) == DNAS_OK && dnas_prime_state_bn(&c) == 0 && c.dyno_split == 0,
          "darts1 unaffected");
    CHECK(dnas_search_config_set(&c, "dyno-split", "1") == DNAS_OK && dnas_search_config_check(&c) != DNAS_OK &&
              strstr(dnas_last_error(), "--algo prime"),
          "--dyno-split 1 accepted with darts1: %s", dnas_last_error());
}

static void test_dyno_sizes(void) {
    static const long want[][4] = {
        {50000, 10, 45454, 4546}, /* CIFAR-10's 50k at f = 10: the reference's floor(50000 * 10/11) */
        {128, 10, 116, 12},       /* 2 x --train-images 64 */
        {128, 1, 64, 64},         /* f = 1: the 50/50 sizes */
        {11, 10, 10, 1},          /* exact multiple: 1 - 1/11 in floats gives 9.99... */
        {5000, 4, 4000, 1000},
        {1, 10, 0, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        long t, a;
        dnas_prime_dyno_sizes(want[i][0], (int)want[i][1], &t, &a);
        CHECK(t == want[i][2] && a == want[i][3], "pool %ld f %ld: %ld/%ld, want %ld/%ld", want[i][0],
              want[i][1], t, a, want[i][2], want[i][3]);
    }
}

/* 1000 images, label = (7 i) mod 10 (100 a class, classes interleaved), pooled from a 50/50
 * stratified split, or from its halves capped at 64 as --train-images 64 does. */
static void test_dyno_split(void) {
    enum { N = 1000 };
    static int labels[N];
    for (int i = 0; i < N; i++) labels[i] = 7 * i % 10;
    dnas_cifar d = {DNAS_CIFAR10, N, 10, NULL, labels, NULL};
    for (int capped = 0; capped < 2; capped++) {
        dnas_split sp, sp2;
        CHECK(dnas_split_make(&d, DNAS_SPLIT_STRATIFIED, 0, &sp) == DNAS_OK, "%s", dnas_last_error());
        if (capped) sp.n_train = sp.n_valid = 64;
        uint8_t in_pool[N] = {0}, seen[N] = {0};
        for (int i = 0; i < sp.n_train; i++) in_pool[sp.train[i]] = 1;
        for (int i = 0; i < sp.n_valid; i++) in_pool[sp.valid[i]] = 1;
        CHECK(dnas_split_make(&d, DNAS_SPLIT_STRATIFIED, 0, &sp2) == DNAS_OK, "%s", dnas_last_error());
        if (capped) sp2.n_train = sp2.n_valid = 64;
        CHECK(dnas_prime_dyno_split(&d, 10, &sp) == DNAS_OK, "%s", dnas_last_error());
        CHECK(dnas_prime_dyno_split(&d, 10, &sp2) == DNAS_OK, "%s", dnas_last_error());
        int wt = capped ? 116 : 909, wa = capped ? 12 : 91;
        CHECK(sp.n_train == wt && sp.n_valid == wa, "capped %d: %d/%d, want %d/%d", capped, sp.n_train,
              sp.n_valid, wt, wa);
        int per_class[10] = {0}, sorted = 1, outside = 0, twice = 0;
        for (int i = 0; i < sp.n_train; i++) {
            outside += !in_pool[sp.train[i]];
            twice += seen[sp.train[i]]++ > 0;
            sorted &= i == 0 || sp.train[i - 1] < sp.train[i];
        }
        for (int i = 0; i < sp.n_valid; i++) {
            outside += !in_pool[sp.valid[i]];
            twice += seen[sp.valid[i]]++ > 0;
            sorted &= i == 0 || sp.valid[i - 1] < sp.valid[i];
            per_class[labels[sp.valid[i]]]++;
        }
        int covered = 0;
        for (int i = 0; i < N; i++) covered += seen[i];
        CHECK(!outside && !twice && covered == wt + wa, "capped %d: %d outside the pool, %d in both, "
              "%d covered", capped, outside, twice, covered);
        CHECK(sorted, "capped %d: lists not ascending", capped);
        /* Each class's share of alpha: 9.1 uncapped, 1.2 capped (pool classes unequal: +-1). */
        int lo = 1 << 30, hi = 0, pool_cls[10] = {0};
        for (int i = 0; i < N; i++) pool_cls[labels[i]] += in_pool[i];
        for (int k = 0; k < 10; k++) {
            double share = (double)pool_cls[k] * wa / (wt + wa);
            CHECK(per_class[k] >= (int)share - 1 && per_class[k] <= (int)share + 2,
                  "capped %d: class %d has %d alpha images, share %.2f", capped, k, per_class[k], share);
            lo = per_class[k] < lo ? per_class[k] : lo;
            hi = per_class[k] > hi ? per_class[k] : hi;
        }
        if (!capped) CHECK(lo == 9 && hi == 10, "uncapped: alpha per class %d..%d, want 9..10", lo, hi);
        CHECK(sp.n_train == sp2.n_train && memcmp(sp.train, sp2.train, (size_t)sp.n_train * sizeof(int)) == 0 &&
                  memcmp(sp.valid, sp2.valid, (size_t)sp.n_valid * sizeof(int)) == 0,
              "capped %d: the same pool split twice differs", capped);
        dnas_split_free(&sp);
        dnas_split_free(&sp2);
    }
    /* Too few images for both sides: a message, the split untouched. */
    dnas_split sp;
    CHECK(dnas_split_make(&d, DNAS_SPLIT_STRATIFIED, 0, &sp) == DNAS_OK, "%s", dnas_last_error());
    sp.n_train = 1;
    sp.n_valid = 0;
    CHECK(dnas_prime_dyno_split(&d, 10, &sp) != DNAS_OK && strstr(dnas_last_error(), "--dyno-split") &&
              sp.n_train == 1,
          "a 1-image pool was split: %s", dnas_last_error());
    dnas_split_free(&sp);
}

int main(void) {
    RUN(test_config);
    RUN(test_dyno_sizes);
    RUN(test_dyno_split);
    RUN(test_clip_mask_prune);
    RUN(test_schedule_hand);
    RUN(test_schedule_long_run);
    RUN(test_projection_darts);
    RUN(test_penalty_values);
    RUN(test_penalty_gradients_fd);
    RUN(test_admm_due);
    RUN(test_admm_toy_code);
    RUN(test_admm_clean_skips_pruned);
    RUN(test_admm_toy_clean);
    TEST_EXIT();
}
