/* ScheduledDropPath in the search supernet (RobustDARTS, ALGORITHMS.md §B9):
 *  - the schedule p * epoch / (epochs - 1) (train_search.py), 0 for a 1-epoch search;
 *  - one drop-path node per mixed edge (14 per cell), none without the setting;
 *  - the mask rate over 26,880 per-sample draws lies within 5 standard deviations
 *    (5 sqrt(p (1 - p) / n) = 0.014 at p = 0.3) of p, and a kept sample is scaled by exactly
 *    1 / (1 - p); masks change from step to step and repeat for the same step (resume);
 *  - p = 0: --drop-path-prob 0 builds no node and its search step is bit-identical to the
 *    default's; with nodes built, probability 0 scales every sample by exactly 1, and the
 *    loss matches the plain supernet's to float rounding (the per-edge sums reassociate). */
#include "test.h"
#include "core/rng.h"
#include "search/search.h"
#include "space/supernet.h"

enum { BATCH = 32, IMG = 8, CELLS = 3 };

static int is_droppath(const dnas_node *n) { return strcmp(n->op->name, "droppath") == 0; }

static void fill_input(dnas_graph *g, uint64_t seed) {
    dnas_value *in = &g->vals[g->input];
    dnas_rng r = dnas_rng_make(seed, 7);
    for (size_t i = 0; i < dnas_shape_numel(in->shape); i++) in->data[i] = dnas_rng_normal(&r);
    for (int i = 0; i < BATCH; i++) g->labels[i] = i % 10;
}

static dnas_supernet *net(int drop) {
    dnas_supernet_config c;
    dnas_supernet_config_default(&c);
    c.space = "darts";
    c.channels = 4;
    c.cells = CELLS;
    c.batch = BATCH;
    c.image = IMG;
    c.drop_path = drop;
    dnas_supernet *s = NULL;
    return dnas_supernet_create(&c, &s) == DNAS_OK ? s : NULL;
}

static void test_schedule(void) {
    dnas_search_config c;
    dnas_search_config_default(&c, "rdarts");
    CHECK(c.drop_path_prob == 0 && dnas_search_drop_prob(&c, 3) == 0.0f, "off by default");
    c.drop_path_prob = 0.3;
    c.epochs = 5;
    const float want[5] = {0.0f, 0.075f, 0.15f, 0.225f, 0.3f};
    for (int e = 0; e < 5; e++)
        CHECK(fabsf(dnas_search_drop_prob(&c, e) - want[e]) < 1e-7f, "epoch %d: %g, want %g", e,
              (double)dnas_search_drop_prob(&c, e), (double)want[e]);
    c.epochs = 1;
    CHECK(dnas_search_drop_prob(&c, 0) == 0.0f, "one epoch: %g", (double)dnas_search_drop_prob(&c, 0));
    dnas_search_config_default(&c, "darts1");
    c.drop_path_prob = 0.2; /* nb201 is the default space */
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "darts space"),
          "nb201 with drop path accepted");
    snprintf(c.space, sizeof c.space, "darts");
    c.drop_path_prob = 1.0;
    CHECK(dnas_search_config_check(&c) != DNAS_OK, "p = 1 accepted");
}

static void test_nodes_and_mask_rate(void) {
    dnas_supernet *off = net(0), *on = net(1);
    CHECK(off && on, "create: %s", dnas_last_error());
    if (!off || !on) {
        dnas_supernet_destroy(off);
        dnas_supernet_destroy(on);
        return;
    }
    int n_off = 0, n_on = 0;
    for (int i = 0; i < off->g.n_nodes; i++) n_off += is_droppath(&off->g.nodes[i]);
    for (int i = 0; i < on->g.n_nodes; i++) n_on += is_droppath(&on->g.nodes[i]);
    CHECK(n_off == 0 && n_on == 14 * CELLS, "drop-path nodes: %d off, %d on (want 0, %d)", n_off,
          n_on, 14 * CELLS);
    CHECK(off->g.n_weights == on->g.n_weights, "drop path changed the weights");

    dnas_graph *g = &on->g;
    fill_input(g, 1);
    for (int i = 0; i < g->n_mix; i++) g->mix[i] = 0.125f;
    g->rng_key = 5;
    g->training = 1;
    const float p = 0.3f, inv = 1.0f / (1.0f - p);
    g->drop_prob = p;
    long drops = 0, total = 0, bad_scale = 0;
    float first[BATCH];
    int first_node = -1, changed = 0;
    for (int step = 0; step < 20; step++) {
        g->rng_step = (uint64_t)step;
        CHECK(dnas_graph_forward(g) == DNAS_OK, "forward: %s", dnas_last_error());
        for (int i = 0; i < g->n_nodes; i++) {
            const dnas_node *n = &g->nodes[i];
            if (!is_droppath(n)) continue;
            if (first_node < 0) {
                first_node = i;
                memcpy(first, n->scratch, sizeof first);
            } else if (i == first_node) {
                changed |= memcmp(first, n->scratch, sizeof first) != 0;
            }
            for (int k = 0; k < BATCH; k++) {
                drops += n->scratch[k] == 0.0f;
                bad_scale += n->scratch[k] != 0.0f && n->scratch[k] != inv;
                total++;
            }
        }
    }
    double rate = (double)drops / (double)total, bound = 5.0 * sqrt(p * (1.0 - p) / (double)total);
    printf("  %ld of %ld samples dropped: rate %.4f (p %.2f, bound %.4f)\n", drops, total, rate,
           (double)p, bound);
    CHECK(total == 20L * 14 * CELLS * BATCH, "%ld draws", total);
    CHECK(fabs(rate - p) <= bound, "drop rate %.4f outside %.2f +- %.4f", rate, (double)p, bound);
    CHECK(bad_scale == 0, "%ld kept samples not scaled by 1/(1-p)", bad_scale);
    CHECK(changed, "the masks did not change between steps");
    /* The same step draws the same masks (what makes a resumed search identical). */
    g->rng_step = 0;
    CHECK(dnas_graph_forward(g) == DNAS_OK, "forward: %s", dnas_last_error());
    CHECK(memcmp(first, g->nodes[first_node].scratch, sizeof first) == 0, "step 0 redrawn differently");

    /* Probability 0: every sample scaled by exactly 1, and the same function as the plain
     * supernet up to the reassociated sums. */
    g->drop_prob = 0.0f;
    CHECK(dnas_graph_forward(g) == DNAS_OK, "forward: %s", dnas_last_error());
    int not_one = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (is_droppath(&g->nodes[i]))
            for (int k = 0; k < BATCH; k++) not_one += g->nodes[i].scratch[k] != 1.0f;
    CHECK(not_one == 0, "%d scales != 1 at p = 0", not_one);
    dnas_graph *h = &off->g;
    fill_input(h, 1);
    for (int i = 0; i < h->n_mix; i++) h->mix[i] = 0.125f;
    h->training = 1;
    CHECK(dnas_graph_forward(h) == DNAS_OK, "forward: %s", dnas_last_error());
    CHECK(fabsf(g->loss_value - h->loss_value) <= 1e-5f * fabsf(h->loss_value),
          "p = 0 loss %.9g vs plain %.9g", (double)g->loss_value, (double)h->loss_value);
    dnas_supernet_destroy(off);
    dnas_supernet_destroy(on);
}

/* One search step of each; returns the loss after it and copies the weights. */
static int one_step(const char *p, float *loss, float **w, size_t *nw) {
    dnas_search_config c;
    dnas_search_config_default(&c, "darts1");
    snprintf(c.space, sizeof c.space, "darts");
    c.channels = 4;
    c.cells = CELLS;
    c.batch = BATCH;
    c.image = IMG;
    c.threads = 1;
    if (p && dnas_search_config_set(&c, "drop_path_prob", p) != DNAS_OK) return 0;
    dnas_search *s = NULL;
    if (dnas_search_create(&c, &s) != DNAS_OK) return 0;
    static float x[BATCH * IMG * IMG * 3];
    static int y[BATCH];
    dnas_rng r = dnas_rng_make(9, 1);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = dnas_rng_normal(&r);
    for (int i = 0; i < BATCH; i++) y[i] = (i * 3) % 10;
    dnas_data_batch b = {BATCH, x, y};
    int ok = dnas_search_step(s, &b, &b) == DNAS_OK;
    *loss = s->g->loss_value;
    *nw = s->g->n_weights;
    *w = malloc(*nw * sizeof(float));
    if (*w) memcpy(*w, s->g->w, *nw * sizeof(float));
    int n_dp = 0;
    for (int i = 0; i < s->g->n_nodes; i++) n_dp += is_droppath(&s->g->nodes[i]);
    dnas_search_destroy(s);
    return ok && *w && (c.drop_path_prob > 0 || n_dp == 0);
}

static void test_zero_is_off(void) {
    float la, lb, lc;
    float *wa = NULL, *wb = NULL, *wc = NULL;
    size_t na = 0, nb = 0, nc = 0;
    CHECK(one_step(NULL, &la, &wa, &na), "default step: %s", dnas_last_error());
    CHECK(one_step("0", &lb, &wb, &nb), "p = 0 step: %s", dnas_last_error());
    CHECK(wa && wb && na == nb && memcmp(wa, wb, na * sizeof(float)) == 0 &&
              memcmp(&la, &lb, sizeof la) == 0,
          "--drop-path-prob 0 differs from the default");
    /* p > 0 at epoch 0 draws with probability 0: weights match off to float rounding only. */
    CHECK(one_step("0.5", &lc, &wc, &nc), "p = 0.5 step: %s", dnas_last_error());
    CHECK(wc && nc == na && fabsf(lc - la) <= 1e-5f * fabsf(la), "epoch-0 loss %.9g vs %.9g",
          (double)lc, (double)la);
    free(wa);
    free(wb);
    free(wc);
}

int main(void) {
    RUN(test_schedule);
    RUN(test_nodes_and_mask_rate);
    RUN(test_zero_is_off);
    TEST_EXIT();
}
