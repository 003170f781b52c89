/* What the PyTorch-twin tests share: their fixture's loading and checked entries, fixture
 * batches as data batches, the start states both sides compute, searches on the twins'
 * supernets, the comparison of every weight gradient, and the cell conv biases whose gradient
 * is exactly 0 (BN without affine follows them). */
#ifndef DNAS_TESTS_TWIN_H
#define DNAS_TESTS_TWIN_H
#include "test.h"
#include "fixture.h"
#include "data/data.h"
#include "graph/graph.h"
#include "search/search.h"
#include <math.h>
#include <stdint.h>

/* ---- the fixture: loaded once in main, a failure (never a skip) for every case needing it -- */

/* Loads the fixture at `rel` (a path in the source tree): 1, or 0 with fx_load's reason
 * copied into why (fx_why holds only the last load's). */
static inline int twin_load(fixture *f, const char *rel, char *why, size_t why_size) {
    int ok = fx_load(f, t_src_path(rel));
    if (!ok) snprintf(why, why_size, "%s", fx_why);
    return ok;
}

/* At the top of a case: unless the fixture was loaded (have), a failed CHECK with the reason
 * (why), and return. */
#define TWIN_NEED_FX(have, why)                             \
    do {                                                    \
        if (!(have)) {                                      \
            CHECK(0, "fixture unusable: %s", why);          \
            return;                                         \
        }                                                   \
    } while (0)

/* Entry `name` of f with `count` values (0: any) of dtype 0 (float32) or 1 (int32); NULL
 * after a failed CHECK naming it. */
static inline const void *twin_need(const fixture *f, const char *name, int dtype, size_t count) {
    const fx_entry *e = fx_get(f, name);
    int ok = e && e->dtype == dtype && (count == 0 || e->count == count);
    CHECK(ok, "fixture entry %s missing, not %s or not of %zu values", name, dtype ? "int32" : "float32",
          count);
    return ok ? e->data : NULL;
}
static inline const float *twin_need_f(const fixture *f, const char *name, size_t count) {
    return (const float *)twin_need(f, name, 0, count);
}
static inline const int *twin_need_i(const fixture *f, const char *name, size_t count) {
    return (const int *)twin_need(f, name, 1, count);
}

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
        const float *e = twin_need_f(f, name, dnas_shape_numel(p->shape));
        if (!e) {
            ok = 0;
            continue;
        }
        fx_nchw_to_nhwc(g->w + p->off, e, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
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

/* The start values of make_darts_fixture.py's rule (twin_common.init_by_rule; also
 * make_pcdarts_fixture.py, prime_twin.py): each parameter from a hash of its name, so fixtures
 * need not store weights; PyTorch layout, converted to ours. */
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

/* ---- searches on the twins' supernets ------------------------------------------------------ */

/* The search of sc; NULL after a failed CHECK naming `what`. */
static inline dnas_search *twin_search_create(const dnas_search_config *sc, const char *what) {
    dnas_search *s = NULL;
    if (dnas_search_create(sc, &s) != DNAS_OK) {
        CHECK(0, "create %s: %s", what, dnas_last_error());
        return NULL;
    }
    return s;
}

/* algo's defaults at the sizes of an NB201 fixture's config [C, N, classes, batch, image,
 * track_bn, ...], 1 thread (2 spin-wait in OpenMP on a loaded 2-core machine: 5x slower). */
static inline void twin_nb201_config(dnas_search_config *sc, const char *algo, const int *c) {
    dnas_search_config_default(sc, algo);
    sc->channels = c[0];
    sc->cells = c[1];
    sc->batch = c[3];
    sc->image = c[4];
    sc->track_bn = c[5];
    sc->threads = 1;
}

/* The search of sc from the fixture's start state (twin_load_start_state); NULL after a
 * failed CHECK. */
static inline dnas_search *twin_nb201_search(const fixture *f, const dnas_search_config *sc) {
    dnas_search *s = twin_search_create(sc, sc->algo);
    if (s && !twin_load_start_state(f, s->g)) {
        dnas_search_destroy(s);
        return NULL;
    }
    return s;
}

/* algo's defaults on the DARTS space with the op set `ops`, at the sizes of a DARTS fixture's
 * config [C, L, classes, batch, image, track_bn, ...]. */
static inline void twin_darts_config(dnas_search_config *sc, const char *algo, const char *ops, const int *c) {
    dnas_search_config_default(sc, algo);
    snprintf(sc->space, sizeof sc->space, "darts");
    snprintf(sc->ops, sizeof sc->ops, "%s", ops);
    sc->channels = c[0];
    sc->cells = c[1];
    sc->batch = c[3];
    sc->image = c[4];
    sc->track_bn = c[5];
}

/* The search of sc with the weights of the name-hash rule (twin_init_by_rule); NULL after a
 * failed CHECK naming `what`. Checks that the fixture's classes (c[2]) are the 10 it builds. */
static inline dnas_search *twin_darts_search(const dnas_search_config *sc, const int *c, const char *what) {
    dnas_search *s = twin_search_create(sc, what);
    if (!s) return NULL;
    CHECK(c[2] == 10, "fixture has %d classes; the search builds 10 (cifar10)", c[2]);
    twin_init_by_rule(s->g);
    return s;
}

/* ---- comparisons ---------------------------------------------------------------------------- */

/* Normwise relative error in the 2-norm, |a - b| / |b|. */
static inline double twin_relerr_l2(const float *a, const float *b, int n) {
    double d = 0, r = 0;
    for (int i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)b[i] * b[i];
    return sqrt(d / (r > 0 ? r : 1e-300));
}

/* Keeps the worst error seen (a NaN is the worst) and whose it is. */
static inline void twin_worst(double *worst, const char **worst_name, double err, const char *name) {
    if (err > *worst || err != err) {
        *worst = err;
        *worst_name = name;
    }
}

/* fx_relerr of `ours` (parameter p's values, our layout) against the fixture entry `name`
 * (PyTorch layout) into *err; 0 after a failed CHECK if the entry is missing or malformed. */
static inline int twin_param_relerr(const fixture *f, const char *name, const dnas_param *p, const float *ours,
                                    double *err) {
    size_t n = dnas_shape_numel(p->shape);
    const float *e = twin_need_f(f, name, n);
    if (!e) return 0;
    float *ref = malloc(n * sizeof(float));
    fx_nchw_to_nhwc(ref, e, p->shape.n, p->shape.c, p->shape.h, p->shape.w);
    *err = fx_relerr(ours, ref, n);
    free(ref);
    return 1;
}

/* Every weight gradient of g against the fixture's "<prefix><name>": max relative error
 * <= tol per tensor (a failed CHECK labelled `what` otherwise), and the fixture holds no other
 * "<prefix>..." entry but the architecture gradients <prefix>alpha and <prefix>beta. Prints
 * the worst. */
static inline void twin_check_weight_grads(const fixture *f, const dnas_graph *g, const char *prefix, double tol,
                                           const char *what) {
    size_t lp = strlen(prefix);
    int n_twin = 0;
    for (int i = 0; i < f->n; i++)
        n_twin += strncmp(f->e[i].name, prefix, lp) == 0 && strcmp(f->e[i].name + lp, "alpha") != 0 &&
                  strcmp(f->e[i].name + lp, "beta") != 0;
    CHECK(n_twin == g->n_params, "the twin has %d parameter gradients, the graph %d parameters", n_twin,
          g->n_params);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < g->n_params; i++) {
        const dnas_param *p = &g->params[i];
        char name[200];
        double err;
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        if (!twin_param_relerr(f, name, p, g->gw + p->off, &err)) continue;
        twin_worst(&worst, &worst_name, err, p->name);
        CHECK(err <= tol, "%s grad %s: relative error %.3g > %.1g", what, p->name, err, tol);
    }
    printf("  %s: %d weight gradients, worst max rel err %.3g (%s)\n", what, g->n_params, worst, worst_name);
}

#endif
