/* What the PyTorch-twin tests share: fixture batches as data batches, and the cell conv
 * biases whose gradient is exactly 0 (BN without affine follows them). */
#ifndef DNAS_TESTS_TWIN_H
#define DNAS_TESTS_TWIN_H
#include "test.h"
#include "fixture.h"
#include "data/data.h"
#include "graph/graph.h"
#include <math.h>
#include <stdint.h>

/* A fixture batch (NCHW images, int32 labels) as an NHWC data batch; the caller frees x. */
static inline int twin_batch(const fixture *f, const char *xn, const char *yn, dnas_data_batch *b) {
    const fx_entry *x = fx_get(f, xn), *y = fx_get(f, yn);
    int ok = x && y && x->dtype == 0 && x->ndim == 4 && y->dtype == 1 && y->count == (size_t)x->dims[0];
    CHECK(ok, "fixture batch %s / %s missing or malformed", xn, yn);
    if (!ok) return 0;
    float *buf = malloc(x->count * sizeof(float));
    fx_nchw_to_nhwc(buf, x->data, x->dims[0], x->dims[1], x->dims[2], x->dims[3]);
    b->n = x->dims[0];
    b->x = buf;
    b->y = y->data;
    return 1;
}

static inline int twin_is_dead_bias(const char *name) {
    const char *bias = strstr(name, ".conv.bias");
    return strstr(name, "edges.") && bias && bias[strlen(".conv.bias")] == 0;
}
static inline uint64_t twin_fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

static inline uint64_t twin_splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The fixture's start state onto an NB201 twin graph: every parameter from "param/<name>"
 * (PyTorch layout, converted to ours), running means 0 and variances 1. 0 if an entry is
 * missing or malformed (a failed CHECK names it). */
static inline int twin_load_start_state(const fixture *f, dnas_graph *g) {
    int ok = 1;
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        char name[200];
        snprintf(name, sizeof name, "param/%s", p->name);
        const fx_entry *e = fx_get(f, name);
        size_t n = dnas_shape_numel(p->shape);
        int good = e && e->dtype == 0 && e->count == n;
        CHECK(good, "fixture entry %s missing, not float32 or not of %zu values", name, n);
        if (!good) {
            ok = 0;
            continue;
        }
        fx_nchw_to_nhwc(g->w + p->off, e->data, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
    }
    for (int i = 0; i < g->n_bufdesc; i++) {
        const char *nm = g->bufdesc[i].name;
        size_t ln = strlen(nm);
        int var = ln > 4 && strcmp(nm + ln - 4, "_var") == 0, mean = ln > 5 && strcmp(nm + ln - 5, "_mean") == 0;
        CHECK(var || mean, "running statistic %s is neither a mean nor a variance", nm);
        for (size_t k = 0; k < g->bufdesc[i].n; k++) g->bufs[g->bufdesc[i].off + k] = var ? 1.0f : 0.0f;
    }
    return ok;
}

/* The start values of make_darts_fixture.py's rule (also make_pcdarts_fixture.py): each
 * parameter from a hash of its name, so fixtures need not store weights; PyTorch layout,
 * converted to ours. */
static inline void twin_init_by_rule(dnas_graph *g) {
    for (int i = 0; i < g->n_params; i++) {
        dnas_param *p = &g->params[i];
        size_t n = dnas_shape_numel(p->shape);
        float *tmp = malloc(n * sizeof(float));
        uint64_t base = twin_fnv1a64(p->name);
        size_t len = strlen(p->name);
        int is_weight = len > 7 && strcmp(p->name + len - 7, ".weight") == 0;
        double bound = p->fan_in > 0 ? 1.0 / sqrt((double)p->fan_in) : 0.0;
        for (size_t j = 0; j < n; j++) {
            double s = 2.0 * ((double)(twin_splitmix64(base + j) >> 11) * 0x1p-53) - 1.0;
            double v = p->fan_in > 0 ? s * bound : is_weight ? 1.0 + s / 8 : s / 8;
            tmp[j] = (float)v;
        }
        fx_nchw_to_nhwc(g->w + p->off, tmp, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
        free(tmp);
    }
}

#endif
