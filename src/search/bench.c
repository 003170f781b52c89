/* Timing of whole search steps on random data (no data set needed): `dnas bench step`. */
#include "search.h"
#include "../core/alloc.h"
#include "../core/clock.h"
#include "../core/rng.h"
#include <stdio.h>
#include <stdlib.h>

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
        for (int i = 0; i < c->warmup + c->steps && st == DNAS_OK; i++) {
            if (prof && i == c->warmup) dnas_graph_profile(s->g, 1);
            double t0 = dnas_now_s();
            st = dnas_search_step(s, &tr, &va);
            if (i >= c->warmup) ms[i - c->warmup] = 1e3 * (dnas_now_s() - t0);
        }
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
