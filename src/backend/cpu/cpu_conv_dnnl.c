/* oneDNN's direct convolution for the dense 3x3 convolutions where it beats our gather engine
 * (issue #15: "oneDNN where it wins, ours where ours wins, chosen per shape by measurement").
 *
 * Measured (bench/results/engine.md, session 12): at NB201's shapes, batch 64, 2 threads,
 * cold caches, oneDNN 2.6's brgconv / jit kernels beat ours by 3-27% in every direction
 * (`bench_kernels conv`, e.g. 16 -> 16 at 32x32 backward-data 1.63 against 2.08 ms) on the
 * Zen 4 host, and a session-11 scratch benchmark on Zen 5 found the same (16 -> 16 forward
 * 0.68 against 0.88 ms). So: groups 1, 3x3, stride 1,
 * pad 1, no dilation, at least 16 channels each way. Everything else stays ours, and
 * DNAS_CONV_IMPL=ours (dnas_cpu_conv_impl) keeps every convolution ours, bit-identical across
 * ISAs; oneDNN's results differ from ours (and between ISAs) by rounding only.
 *
 * Primitives and our tensors' descriptors are created once per shape (and batch: an epoch's
 * last, smaller batch is a shape too) and thread count, and cached in the backend; they run on the same OpenMP runtime with the
 * backend's thread count. The weights are reordered into (and their gradient out of) the
 * blocked layout the primitive asks for: a 3x3 tensor of at most 64x64 channels, ~1% of the
 * convolution's time. */
#include "cpu_internal.h"
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef DNAS_HAVE_DNNL
#include <dnnl.h>
#include "../../core/alloc.h"

enum { K_FWD, K_BWD_DATA, K_BWD_WEIGHTS };
#define CACHE_MAX 48

typedef struct {
    dnnl_memory_desc_t x, y, w, b, wany;
} descs;

/* One shape's primitive. oneDNN's fast kernels want the weights in a blocked layout of their
 * own (given our OHWI layout they fall back to the reference kernel, 100x slower: measured),
 * so each entry holds that layout's buffer and the reorder between it and ours. A shape whose
 * best oneDNN kernel is not a jit one is declined (prim NULL) and stays ours. */
typedef struct {
    int kind, bias, threads; /* threads: oneDNN fixes a kernel's split when it is created */
    dnas_conv_p p;
    dnas_shape xs, ys;
    descs d;                  /* our tensors' descriptors for this shape */
    dnnl_primitive_t prim;    /* NULL: declined */
    dnnl_primitive_t reorder; /* ours -> blocked (fwd, bwd data), blocked -> ours (bwd wts) */
    dnnl_memory_desc_t wmd;   /* the primitive's (diff) weights layout */
    float *wbuf;              /* weights in that layout; NULL when it is ours */
} entry;

struct dnas_cpu_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    entry e[CACHE_MAX];
    int n, next; /* entries in use; the one a full cache replaces next */
};

int dnas_cpu_dnnl_conv_ok(const dnas_conv_p *p, dnas_shape xs, dnas_shape ys) {
    return p->groups == 1 && p->kh == 3 && p->kw == 3 && p->stride == 1 && p->pad == 1 &&
           p->dil == 1 && p->cin >= 16 && p->cout >= 16 && xs.h == ys.h && xs.w == ys.w &&
           xs.n > 0 && xs.h > 0 && xs.w > 0;
}

static void entry_free(entry *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->reorder) dnnl_primitive_destroy(e->reorder);
    dnas_free(e->wbuf);
}

void dnas_cpu_dnnl_free(struct dnas_cpu_dnnl *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) entry_free(&c->e[i]);
    if (c->st) dnnl_stream_destroy(c->st);
    if (c->eng) dnnl_engine_destroy(c->eng);
    dnas_free(c);
}

static dnas_status dnnl_fail(const char *what, dnnl_status_t s) {
    return dnas_fail(DNAS_ERR_INTERNAL, "oneDNN convolution: %s failed (status %d)", what, (int)s);
}
#define DN(what, call)                                                                         \
    do {                                                                                       \
        dnnl_status_t s_ = (call);                                                             \
        if (s_ != dnnl_success) return dnnl_fail(what, s_);                                    \
    } while (0)

static dnas_status make_descs(const dnas_conv_p *p, dnas_shape xs, dnas_shape ys, descs *d) {
    dnnl_dims_t xd = {xs.n, xs.c, xs.h, xs.w}, yd = {ys.n, ys.c, ys.h, ys.w};
    dnnl_dims_t wd = {p->cout, p->cin, p->kh, p->kw}, bd = {p->cout};
    DN("x descriptor", dnnl_memory_desc_init_by_tag(&d->x, 4, xd, dnnl_f32, dnnl_nhwc));
    DN("y descriptor", dnnl_memory_desc_init_by_tag(&d->y, 4, yd, dnnl_f32, dnnl_nhwc));
    DN("w descriptor", dnnl_memory_desc_init_by_tag(&d->w, 4, wd, dnnl_f32, dnnl_ohwi));
    DN("w descriptor", dnnl_memory_desc_init_by_tag(&d->wany, 4, wd, dnnl_f32, dnnl_format_tag_any));
    DN("b descriptor", dnnl_memory_desc_init_by_tag(&d->b, 1, bd, dnnl_f32, dnnl_x));
    return DNAS_OK;
}

/* The primitive descriptor for kind (caller destroys it). */
static dnnl_status_t make_pd(struct dnas_cpu_dnnl *c, int kind, int bias, const dnas_conv_p *p,
                             const descs *d, dnnl_primitive_desc_t *pd) {
    dnnl_dims_t st = {1, 1}, pad = {p->pad, p->pad};
    dnnl_convolution_desc_t fd, cd;
    dnnl_primitive_desc_t fpd = NULL;
    dnnl_status_t s = dnnl_convolution_forward_desc_init(
        &fd, dnnl_forward_training, dnnl_convolution_direct, &d->x, &d->wany,
        bias ? &d->b : NULL, &d->y, st, pad, pad);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&fpd, &fd, NULL, c->eng, NULL);
    if (s != dnnl_success || kind == K_FWD) {
        *pd = fpd;
        return s;
    }
    if (kind == K_BWD_DATA)
        s = dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &d->x,
                                                     &d->wany, &d->y, st, pad, pad);
    else
        s = dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &d->x,
                                                        &d->wany, bias ? &d->b : NULL, &d->y,
                                                        st, pad, pad);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &cd, NULL, c->eng, fpd);
    dnnl_primitive_desc_destroy(fpd);
    return s;
}

/* Fills e (kind, shape already set) from pd: the primitive unless its kernel is not a jit
 * one, the weights layout and, when it is not ours, its buffer and reorder. */
static dnas_status fill_entry(struct dnas_cpu_dnnl *c, const descs *d, dnnl_primitive_desc_t pd,
                              entry *e) {
    const char *impl = NULL;
    DN("implementation query", dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    if (!impl || (strncmp(impl, "jit", 3) && strncmp(impl, "brg", 3))) return DNAS_OK;
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(
        pd, e->kind == K_BWD_WEIGHTS ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
    if (!wmd) return dnnl_fail("weights layout query", dnnl_runtime_error);
    e->wmd = *wmd;
    if (!dnnl_memory_desc_equal(wmd, &d->w)) {
        const size_t bytes = dnnl_memory_desc_get_size(wmd);
        e->wbuf = dnas_alloc(bytes, "oneDNN convolution weights");
        if (!e->wbuf) return DNAS_ERR_OOM;
        const int back = e->kind == K_BWD_WEIGHTS;
        dnnl_primitive_desc_t rpd;
        DN("weights reorder descriptor",
           dnnl_reorder_primitive_desc_create(&rpd, back ? wmd : &d->w, c->eng,
                                              back ? &d->w : wmd, c->eng, NULL));
        dnnl_status_t s = dnnl_primitive_create(&e->reorder, rpd);
        dnnl_primitive_desc_destroy(rpd);
        if (s != dnnl_success) return dnnl_fail("weights reorder", s);
    }
    DN("primitive", dnnl_primitive_create(&e->prim, pd));
    return DNAS_OK;
}

/* The cached entry for (kind, shape, bias), created on first use. */
static dnas_status get_entry(dnas_backend *be, int kind, int bias, const dnas_conv_p *p,
                             dnas_shape xs, dnas_shape ys, const entry **out,
                             struct dnas_cpu_dnnl **cache) {
    dnas_cpu_impl *im = be->impl;
    if (!im->dnnl) {
        struct dnas_cpu_dnnl *c = dnas_calloc(sizeof *c, "oneDNN convolution cache");
        if (!c) return DNAS_ERR_OOM;
        im->dnnl = c;
        DN("engine", dnnl_engine_create(&c->eng, dnnl_cpu, 0));
        DN("stream", dnnl_stream_create(&c->st, c->eng, dnnl_stream_default_flags));
    }
    struct dnas_cpu_dnnl *c = im->dnnl;
    const int T = dnas_cpu_threads(be);
    *cache = c;
    for (int i = 0; i < c->n; i++) {
        const entry *e = &c->e[i];
        if (e->kind == kind && e->bias == bias && e->threads == T &&
            !memcmp(&e->p, p, sizeof *p) &&
            dnas_shape_eq(e->xs, xs) && dnas_shape_eq(e->ys, ys)) {
            *out = e;
            return DNAS_OK;
        }
    }
    entry e = {.kind = kind, .bias = bias, .threads = T, .p = *p, .xs = xs, .ys = ys};
    DNAS_TRY(make_descs(p, xs, ys, &e.d));
    /* oneDNN's kernels take their thread count (and work split) from omp_get_max_threads()
     * when the descriptor is created, not when they run: create them at the backend's */
#ifdef _OPENMP
    const int prev = omp_get_max_threads();
    omp_set_num_threads(T); /* at creation */
#endif
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = make_pd(c, kind, bias, p, &e.d, &pd);
    dnas_status st = s == dnnl_success ? fill_entry(c, &e.d, pd, &e)
                                       : dnnl_fail("primitive descriptor", s);
    if (pd) dnnl_primitive_desc_destroy(pd);
#ifdef _OPENMP
    omp_set_num_threads(prev);
#endif
    if (st != DNAS_OK) {
        entry_free(&e);
        return st;
    }
    int slot = c->n;
    if (c->n == CACHE_MAX) { /* replace in turn: a run uses far fewer shapes */
        slot = c->next;
        entry_free(&c->e[slot]);
        c->next = (c->next + 1) % CACHE_MAX;
    } else {
        c->n++;
    }
    c->e[slot] = e;
    *out = &c->e[slot];
    return DNAS_OK;
}

/* Runs prim with the n (argument, descriptor, pointer) triples on T threads. */
static dnas_status run(struct dnas_cpu_dnnl *c, dnnl_primitive_t prim, int T, int n,
                       const int *arg, const dnnl_memory_desc_t *const *md, void *const *ptr) {
    dnnl_memory_t mem[4] = {0};
    dnnl_exec_arg_t a[4];
    dnnl_status_t s = dnnl_success;
    int k = 0;
    for (; k < n && s == dnnl_success; k++) {
        s = dnnl_memory_create(&mem[k], md[k], c->eng, ptr[k]);
        a[k] = (dnnl_exec_arg_t){arg[k], mem[k]};
    }
    if (s == dnnl_success) {
#ifdef _OPENMP
        const int prev = omp_get_max_threads();
        omp_set_num_threads(T);
#else
        (void)T; /* oneDNN's own threading without OpenMP */
#endif
        s = dnnl_primitive_execute(prim, c->st, n, a);
        if (s == dnnl_success) s = dnnl_stream_wait(c->st);
#ifdef _OPENMP
        omp_set_num_threads(prev);
#endif
    }
    for (int i = 0; i < n; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    return s == dnnl_success ? DNAS_OK : dnnl_fail("execution", s);
}

/* The weights as the primitive reads them: ours, or reordered into the entry's buffer. */
static dnas_status weights_in(struct dnas_cpu_dnnl *c, const entry *e, const float *w,
                              const float **wp) {
    *wp = w;
    if (!e->reorder) return DNAS_OK;
    const int arg[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    const dnnl_memory_desc_t *md[2] = {&e->d.w, &e->wmd};
    void *const ptr[2] = {(void *)w, e->wbuf};
    DNAS_TRY(run(c, e->reorder, e->threads, 2, arg, md, ptr));
    *wp = e->wbuf;
    return DNAS_OK;
}

/* One call's set-up: its cache entry (*used = 0 and nothing else where oneDNN declined the
 * shape) and, given w, the weights in the primitive's layout. */
typedef struct {
    const entry *e;
    struct dnas_cpu_dnnl *c;
    const float *wp;
} call;

static dnas_status begin(dnas_backend *be, int kind, int bias, const dnas_conv_p *p,
                         dnas_shape xs, dnas_shape ys, const float *w, int *used, call *k) {
    DNAS_TRY(get_entry(be, kind, bias, p, xs, ys, &k->e, &k->c));
    k->wp = NULL;
    if (!(*used = k->e->prim != NULL)) return DNAS_OK;
    return w ? weights_in(k->c, k->e, w, &k->wp) : DNAS_OK;
}

dnas_status dnas_cpu_dnnl_conv_fwd(dnas_backend *be, const dnas_conv_p *p, float *y,
                                   dnas_shape ys, const float *x, dnas_shape xs, const float *w,
                                   const float *b, int *used) {
    call k;
    DNAS_TRY(begin(be, K_FWD, b != NULL, p, xs, ys, w, used, &k));
    if (!*used) return DNAS_OK;
    const int arg[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    const dnnl_memory_desc_t *md[4] = {&k.e->d.x, &k.e->wmd, &k.e->d.y, &k.e->d.b};
    void *const ptr[4] = {(void *)x, (void *)k.wp, y, (void *)b};
    return run(k.c, k.e->prim, k.e->threads, b ? 4 : 3, arg, md, ptr);
}

dnas_status dnas_cpu_dnnl_conv_bwd_data(dnas_backend *be, const dnas_conv_p *p, float *dx,
                                        dnas_shape xs, const float *dy, dnas_shape ys,
                                        const float *w, int *used) {
    call k;
    DNAS_TRY(begin(be, K_BWD_DATA, 0, p, xs, ys, w, used, &k));
    if (!*used) return DNAS_OK;
    const int arg[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
    const dnnl_memory_desc_t *md[3] = {&k.e->d.y, &k.e->wmd, &k.e->d.x};
    void *const ptr[3] = {(void *)dy, (void *)k.wp, dx};
    return run(k.c, k.e->prim, k.e->threads, 3, arg, md, ptr);
}

/* oneDNN writes the gradients (in its layout); ours add into dw and db: through the entry's
 * buffer, the reorder into the workspace, and an add. */
dnas_status dnas_cpu_dnnl_conv_bwd_weight(dnas_backend *be, const dnas_conv_p *p, float *dw,
                                          float *db, const float *x, dnas_shape xs,
                                          const float *dy, dnas_shape ys, int *used) {
    call k;
    DNAS_TRY(begin(be, K_BWD_WEIGHTS, db != NULL, p, xs, ys, NULL, used, &k));
    if (!*used) return DNAS_OK;
    const entry *e = k.e;
    const int T = e->threads;
    const size_t nw = (size_t)p->cout * p->cin * p->kh * p->kw, nb = (size_t)p->cout;
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(float) * (nw + nb), &ws));
    float *tw = ws, *tb = tw + nw;
    const int arg[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS};
    const dnnl_memory_desc_t *md[4] = {&e->d.x, &e->d.y, &e->wmd, &e->d.b};
    void *const ptr[4] = {(void *)x, (void *)dy, e->reorder ? (void *)e->wbuf : tw, tb};
    DNAS_TRY(run(k.c, e->prim, T, db ? 4 : 3, arg, md, ptr));
    if (e->reorder) {
        const int rarg[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
        const dnnl_memory_desc_t *rmd[2] = {&e->wmd, &e->d.w};
        void *const rptr[2] = {e->wbuf, tw};
        DNAS_TRY(run(k.c, e->reorder, T, 2, rarg, rmd, rptr));
    }
    if (dw)
        for (size_t i = 0; i < nw; i++) dw[i] += tw[i];
    if (db)
        for (size_t i = 0; i < nb; i++) db[i] += tb[i];
    return DNAS_OK;
}

#else /* no oneDNN: nothing is ever chosen */
int dnas_cpu_dnnl_conv_ok(const dnas_conv_p *p, dnas_shape xs, dnas_shape ys) {
    (void)p, (void)xs, (void)ys;
    return 0;
}
void dnas_cpu_dnnl_free(struct dnas_cpu_dnnl *c) { (void)c; }
dnas_status dnas_cpu_dnnl_conv_fwd(dnas_backend *be, const dnas_conv_p *p, float *y,
                                   dnas_shape ys, const float *x, dnas_shape xs, const float *w,
                                   const float *b, int *used) {
    (void)be, (void)p, (void)y, (void)ys, (void)x, (void)xs, (void)w, (void)b;
    *used = 0;
    return DNAS_OK;
}
dnas_status dnas_cpu_dnnl_conv_bwd_data(dnas_backend *be, const dnas_conv_p *p, float *dx,
                                        dnas_shape xs, const float *dy, dnas_shape ys,
                                        const float *w, int *used) {
    (void)be, (void)p, (void)dx, (void)xs, (void)dy, (void)ys, (void)w;
    *used = 0;
    return DNAS_OK;
}
dnas_status dnas_cpu_dnnl_conv_bwd_weight(dnas_backend *be, const dnas_conv_p *p, float *dw,
                                          float *db, const float *x, dnas_shape xs,
                                          const float *dy, dnas_shape ys, int *used) {
    (void)be, (void)p, (void)dw, (void)db, (void)x, (void)xs, (void)dy, (void)ys;
    *used = 0;
    return DNAS_OK;
}
#endif
