/* Timing of whole search steps on random data (no data set needed): `dnas bench step`; the
 * FLOPs of a search step from its graph (`dnas info`, `dnas_search_flops`). */
#include "search.h"
#include "../core/alloc.h"
#include "../core/clock.h"
#include "../core/rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

dnas_status dnas_bench_step(const dnas_bench_config *c, dnas_bench_result *r) {
    if (c->steps < 1 || c->warmup < 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--steps must be >= 1 and --warmup >= 0");
    dnas_search *s = NULL;
    DNAS_TRY(dnas_search_create(&c->search, &s));
    /* Batch and image size as the graph was built from the configuration (--image). */
    int n = c->search.batch, classes = s->g->vals[s->g->logits].shape.c;
    size_t px = dnas_shape_numel(s->g->vals[s->g->input].shape);
    float *x = dnas_alloc(2 * px * sizeof(float), "benchmark images");
    int *y = dnas_alloc(2 * (size_t)n * sizeof(int), "benchmark labels");
    double *ms = dnas_alloc((size_t)c->steps * sizeof(double), "benchmark timings");
    dnas_status st = (x && y && ms) ? DNAS_OK : DNAS_ERR_OOM;
    if (st == DNAS_OK) {
        dnas_rng rng = dnas_rng_make(c->search.seed, 77);
        for (size_t i = 0; i < 2 * px; i++) x[i] = dnas_rng_normal(&rng);
        for (int i = 0; i < 2 * n; i++) y[i] = (int)dnas_rng_below(&rng, (uint32_t)classes);
        dnas_data_batch tr = {n, x, y}, va = {n, x + px, y + n};
        /* DNAS_PROFILE=1: per-op times of the timed steps on stderr. */
        const char *prof = getenv("DNAS_PROFILE");
        /* The graph counts the FLOPs of every pass of the timed steps (exec.c). */
        double fl_sum = 0, fl_min = 0, fl_max = 0;
        for (int i = 0; i < c->warmup + c->steps && st == DNAS_OK; i++) {
            if (prof && i == c->warmup) dnas_graph_profile(s->g, 1);
            s->g->count_flops = i >= c->warmup;
            s->g->flops_done = 0;
            double t0 = dnas_now_s();
            st = dnas_search_step(s, &tr, &va);
            if (i >= c->warmup) {
                ms[i - c->warmup] = 1e3 * (dnas_now_s() - t0);
                double f = s->g->flops_done;
                fl_sum += f;
                fl_min = i == c->warmup || f < fl_min ? f : fl_min;
                fl_max = i == c->warmup || f > fl_max ? f : fl_max;
            }
        }
        s->g->count_flops = 0;
        r->gflop_step = fl_sum / c->steps / 1e9;
        r->flops_constant = fl_min == fl_max;
    }
    if (st == DNAS_OK && s->g->profile) dnas_graph_profile_print(s->g, stderr);
    if (st == DNAS_OK) {
        qsort(ms, (size_t)c->steps, sizeof *ms, cmp_double);
        r->steps = c->steps;
        r->ms_mean = 0;
        for (int i = 0; i < c->steps; i++) r->ms_mean += ms[i] / c->steps;
        r->ms_min = ms[0];
        r->ms_max = ms[c->steps - 1];
        r->ms_median = c->steps % 2 ? ms[c->steps / 2] : 0.5 * (ms[c->steps / 2 - 1] + ms[c->steps / 2]);
    }
    dnas_free(x);
    dnas_free(y);
    dnas_free(ms);
    dnas_search_destroy(s);
    return st;
}

/* The graph passes of one search step of each method, as its weight_step and arch_step make
 * them (src/search/<method>.c; tests/unit/test_flops.c checks them against a real step):
 * forwards, and backwards wanting the weights (bw), alpha (ba) or both (bwa). */
typedef struct {
    double f, bw, ba, bwa;
} passes;

static double passes_flops(const passes *p, const dnas_step_flops *o) {
    return p->f * o->forward + p->bw * o->backward_weights + p->ba * o->backward_arch +
           p->bwa * o->backward_both;
}

static int passes_text(char *out, size_t cap, const passes *p) {
    const double v[4] = {p->f, p->bw, p->ba, p->bwa};
    static const char *const name[4] = {"F", "Bw", "Ba", "Bwa"};
    int o = 0;
    for (int i = 0; i < 4; i++)
        if (v[i] > 0 && (size_t)o < cap)
            o += snprintf(out + o, cap - (size_t)o, "%s%g%s", o ? "+" : "", v[i], name[i]);
    if (!o && cap) o = snprintf(out, cap, "none");
    return o;
}

static void step_passes(const dnas_search *s, passes *w, passes *a, const char **note) {
    const char *algo = s->strat->name;
    const dnas_search_config *c = &s->cfg;
    *note = "";
    *w = (passes){1, 1, 0, 0};
    *a = (passes){1, 0, 1, 0};
    if (!strcmp(algo, "darts2") || (!strcmp(algo, "rdarts") && c->rdarts_order == 2)) {
        /* unrolled w' (F+Bw), L_val at w' (F+Bwa), d/dalpha at w +- eps v (2 F+Ba) */
        *a = (passes){4, 1, 2, 1};
    } else if (!strcmp(algo, "idarts")) {
        /* v0 (F+Bwa), the recording forward, K Hessian-vector products of 2 F+Bw each, the
         * mixed term's 2 F+Ba; every arch_every-th step */
        double K = c->neumann_k;
        *a = (passes){4 + 2 * K, 2 * K, 2, 1};
    } else if (!strcmp(algo, "snas")) {
        /* one backward for both in the weight step; an arch step only with frozen weights */
        *w = (passes){1, 0, 0, 1};
        *a = (passes){0, 0, 0, 0};
        if (c->freeze_weights) *a = (passes){1, 0, 1, 0};
    } else if (!strcmp(algo, "pcdarts")) {
        *note = " (after the warm-up epochs, which have no arch step)";
    } else if (!strcmp(algo, "gdas")) {
        *note = " (the ops of one sample of the architecture)";
    } else if (strcmp(algo, "darts1") && strcmp(algo, "gaea") && strcmp(algo, "fairdarts") &&
               strcmp(algo, "drnas") && strcmp(algo, "rdarts")) {
        *note = " (assumed first-order: this method's passes are not listed in bench.c)";
    }
    if (c->freeze_weights) *w = (passes){0, 0, 0, 0};
    if (c->fix_alpha) *a = (passes){0, 0, 0, 0};
    double k = s->arch_every > 1 ? s->arch_every : 1;
    a->f /= k, a->bw /= k, a->ba /= k, a->bwa /= k;
}

dnas_status dnas_search_flops(const dnas_search_config *c, dnas_step_flops *out) {
    memset(out, 0, sizeof *out);
    dnas_search *s = NULL;
    DNAS_TRY(dnas_search_create(c, &s));
    /* The mixing weights a step would use (GDAS: a sample, with the unsampled ops pruned). */
    dnas_search_mix(s);
    dnas_graph *g = s->g;
    out->forward = dnas_graph_flops_forward(g);
    dnas_status st = dnas_graph_flops_backward(g, DNAS_WANT_WEIGHTS, &out->backward_weights);
    if (st == DNAS_OK) st = dnas_graph_flops_backward(g, DNAS_WANT_ARCH, &out->backward_arch);
    if (st == DNAS_OK)
        st = dnas_graph_flops_backward(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH, &out->backward_both);
    if (st == DNAS_OK) {
        passes w, a;
        const char *note;
        step_passes(s, &w, &a, &note);
        out->weight_step = passes_flops(&w, out);
        out->arch_step = passes_flops(&a, out);
        out->step = out->weight_step + out->arch_step;
        char tw[64], ta[64];
        passes_text(tw, sizeof tw, &w);
        passes_text(ta, sizeof ta, &a);
        snprintf(out->passes, sizeof out->passes, "weight step %s, arch step %s%s", tw, ta, note);
    }
    dnas_search_destroy(s);
    return st;
}
