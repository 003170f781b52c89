/* Small contracts found in review: a block is freed by the allocator that made it; the
 * gradient-norm sum is taken in double; graph planning refuses kernels the backend does not
 * support, naming the node; `dnas bench step` sizes its random images from the configuration
 * (checked under a guard-page allocator, so a read past the image buffer faults). */
#include "test.h"
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include "core/alloc.h"
#include "core/clock.h"
#include "ops/ops.h"
#include "train/optim.h"

/* ---- allocators that count what they are asked ---- */
typedef struct {
    long allocs, frees, foreign; /* foreign: frees of blocks this allocator did not make */
    void *made[64];
    int n_made;
} counting;

static void *count_alloc(void *ud, size_t bytes) {
    counting *c = ud;
    void *p = aligned_alloc(DNAS_ALIGN, (bytes + DNAS_ALIGN - 1) / DNAS_ALIGN * DNAS_ALIGN);
    if (p && c->n_made < 64) c->made[c->n_made++] = p;
    c->allocs++;
    return p;
}
static void count_free(void *ud, void *p) {
    counting *c = ud;
    int mine = 0;
    for (int i = 0; i < c->n_made; i++)
        if (c->made[i] == p) mine = 1;
    c->frees++;
    c->foreign += !mine;
    if (mine) free(p); /* never hand a stranger's block to free() */
}

static void test_alloc_frees_with_its_allocator(void) {
    counting a = {0}, b = {0};
    dnas_allocator A = {count_alloc, count_free, &a}, B = {count_alloc, count_free, &b};
    dnas_set_allocator(&A);
    char *p = dnas_alloc(100, "test block p");
    dnas_set_allocator(&B);
    char *q = dnas_calloc(3000, "test block q");
    CHECK(p && q, "allocation failed: %s", dnas_last_error());
    if (!p || !q) {
        dnas_set_allocator(NULL);
        return;
    }
    CHECK(((uintptr_t)p % DNAS_ALIGN) == 0 && ((uintptr_t)q % DNAS_ALIGN) == 0,
          "blocks not %d-byte aligned", DNAS_ALIGN);
    memset(p, 0xab, 100); /* the whole block is the caller's */
    CHECK(q[0] == 0 && q[2999] == 0, "calloc not zeroed");
    dnas_free(p); /* made by A while B is installed */
    CHECK(a.frees == 1 && a.foreign == 0, "A: %ld frees (%ld foreign), want 1 of its own", a.frees,
          a.foreign);
    CHECK(b.frees == 0, "B was asked to free A's block (%ld frees)", b.frees);
    dnas_set_allocator(NULL); /* default again: q must still go back to B */
    dnas_free(q);
    CHECK(b.frees == 1 && b.foreign == 0, "B: %ld frees (%ld foreign), want 1", b.frees, b.foreign);
    CHECK(a.allocs == 1 && b.allocs == 1, "allocs A %ld B %ld", a.allocs, b.allocs);
    /* And the other way round: a default block freed while a custom allocator is in place. */
    counting c = {0};
    dnas_allocator C = {count_alloc, count_free, &c};
    void *r = dnas_alloc(10, "test block r");
    dnas_set_allocator(&C);
    dnas_free(r);
    CHECK(c.frees == 0, "C was asked to free a default block");
    dnas_set_allocator(NULL);
    dnas_free(NULL); /* allowed */
}

/* A sum that float accumulation gets wrong: 1 followed by 4095 squares of 2^-12 (2^-24
 * each, half an ulp of 1.0f) — in float every one of them rounds away. */
static void test_sumsq_in_double(void) {
    enum { N = 4096 };
    static float x[N];
    x[0] = 1.0f;
    for (int i = 1; i < N; i++) x[i] = 0x1p-12f;
    const double want = 1.0 + (N - 1) * 0x1p-24;
    double got = dnas_sumsq(x, N);
    CHECK(fabs(got - want) <= 1e-15, "sumsq %.17g, want %.17g", got, want);
    double norm = dnas_clip_grad_norm(x, N, 1e9); /* no clipping: returns the norm */
    CHECK(fabs(norm - sqrt(want)) <= 1e-15, "norm %.17g, want %.17g", norm, sqrt(want));
    /* Order-independent of blocking: a length that is not a multiple of 4 */
    float y[7] = {1, 2, 3, 4, 5, 6, 7};
    CHECK(dnas_sumsq(y, 7) == 140.0 && dnas_sumsq(y, 0) == 0.0, "small sums");
}

/* ---- backend `supports` is honoured by graph planning ---- */
static int (*cpu_supports)(const dnas_backend *, dnas_kernel_kind);
static int no_maxpool(const dnas_backend *be, dnas_kernel_kind k) {
    return k != DNAS_K_MAXPOOL && cpu_supports(be, k);
}

static dnas_status plan_small(dnas_backend *be, int use_maxpool, dnas_graph *g) {
    dnas_graph_init(g, be);
    int x = dnas_graph_input(g, dnas_shape4(2, 3, 4, 4));
    x = dnas_op_conv2d(g, "conv", x, 4, 3, 1, 1, 1, 1, 0);
    x = use_maxpool ? dnas_op_maxpool(g, "cells.0.pool", x, 3, 1, 1)
                    : dnas_op_avgpool(g, "cells.0.pool", x, 3, 1, 1, 0);
    x = dnas_op_gap(g, "gap", x);
    x = dnas_op_linear(g, "fc", x, 3);
    dnas_op_xent(g, "loss", x);
    return dnas_graph_plan(g);
}

static void test_plan_checks_supports(void) {
    dnas_backend *be = NULL;
    CHECK(dnas_backend_cpu_create(1, &be) == DNAS_OK, "cpu backend");
    if (!be) return;
    for (int k = 0; k < DNAS_K_COUNT; k++) {
        CHECK(strcmp(dnas_kernel_name((dnas_kernel_kind)k), "?") != 0, "kernel %d has no name", k);
        for (int j = 0; j < k; j++)
            CHECK(strcmp(dnas_kernel_name((dnas_kernel_kind)k),
                         dnas_kernel_name((dnas_kernel_kind)j)) != 0, "kernels %d, %d same name", j, k);
    }
    CHECK(!strcmp(dnas_kernel_name(DNAS_K_COUNT), "?"), "name outside the enum");

    cpu_supports = be->supports;
    be->supports = no_maxpool;
    dnas_graph g;
    dnas_clear_error();
    dnas_status st = plan_small(be, 1, &g);
    const char *msg = dnas_last_error();
    CHECK(st == DNAS_ERR_UNSUPPORTED, "planned a maxpool graph on a backend without maxpool "
          "(status %d)", (int)st);
    CHECK(strstr(msg, "maxpool") && strstr(msg, "cells.0.pool") && strstr(msg, "cpu"),
          "message should name the kernel, the node and the backend: '%s'", msg);
    dnas_graph_free(&g);
    st = plan_small(be, 0, &g); /* the same graph with avg pooling needs nothing missing */
    CHECK(st == DNAS_OK, "avgpool graph refused: %s", dnas_last_error());
    if (st == DNAS_OK) {
        for (int i = 0; i < 2; i++) g.labels[i] = i;
        CHECK(dnas_graph_forward(&g) == DNAS_OK, "forward: %s", dnas_last_error());
    }
    dnas_graph_free(&g);
    be->supports = NULL; /* a backend that declares nothing supports nothing */
    st = plan_small(be, 0, &g);
    CHECK(st == DNAS_ERR_UNSUPPORTED && strstr(dnas_last_error(), "conv2d"),
          "NULL supports: status %d '%s'", (int)st, dnas_last_error());
    dnas_graph_free(&g);
    be->supports = cpu_supports;
    dnas_backend_destroy(be);
}

/* Labels are checked once, by the backend, and a bad one reaches the caller of forward. */
static void test_bad_label_through_graph(void) {
    dnas_backend *be = NULL;
    CHECK(dnas_backend_cpu_create(1, &be) == DNAS_OK, "cpu backend");
    if (!be) return;
    dnas_graph g;
    CHECK(plan_small(be, 0, &g) == DNAS_OK, "plan: %s", dnas_last_error());
    if (g.planned) {
        g.labels[0] = 1;
        g.labels[1] = 3; /* 3 classes: outside [0,3) */
        dnas_status st = dnas_graph_forward(&g);
        CHECK(st == DNAS_ERR_INVALID_ARG && strstr(dnas_last_error(), "label 3 of row 1"),
              "status %d '%s'", (int)st, dnas_last_error());
        CHECK(dnas_labels_check("t", g.labels, 1, 3) == DNAS_OK, "first row alone is valid");
        CHECK(dnas_labels_check("t", NULL, 0, 3) == DNAS_OK, "empty batch");
        CHECK(dnas_labels_check("t", g.labels, 1, 0) == DNAS_ERR_INVALID_ARG, "k = 0");
    }
    dnas_graph_free(&g);
    dnas_backend_destroy(be);
}

/* ---- guard-page allocator: every block ends where an unreadable page begins ---- */
#define GUARD_MAX 8192
static struct {
    char *map;
    size_t len;
    void *p;
} guard_tab[GUARD_MAX];
static long guard_page;

static void *guard_alloc(void *ud, size_t bytes) {
    (void)ud;
    size_t used = (bytes + DNAS_ALIGN - 1) / DNAS_ALIGN * DNAS_ALIGN;
    size_t pg = (size_t)guard_page, body = (used + pg - 1) / pg * pg;
    int slot = -1;
    for (int i = 0; i < GUARD_MAX && slot < 0; i++)
        if (!guard_tab[i].map) slot = i;
    if (slot < 0) return NULL;
    char *m = mmap(NULL, body + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    if (mprotect(m + body, pg, PROT_NONE) != 0) {
        munmap(m, body + pg);
        return NULL;
    }
    void *p = m + body - used; /* page-aligned end minus a multiple of 64: 64-aligned */
    guard_tab[slot].map = m;
    guard_tab[slot].len = body + pg;
    guard_tab[slot].p = p;
    return p;
}
static void guard_free(void *ud, void *p) {
    (void)ud;
    for (int i = 0; i < GUARD_MAX; i++)
        if (guard_tab[i].map && guard_tab[i].p == p) {
            munmap(guard_tab[i].map, guard_tab[i].len);
            guard_tab[i].map = NULL;
            return;
        }
    printf("  guard_free: unknown block %p\n", p);
    abort();
}

static dnas_status bench_at(int image, dnas_bench_result *r) {
    dnas_bench_config b;
    DNAS_TRY(dnas_search_config_default(&b.search, "darts1"));
    b.search.batch = 2;
    b.search.channels = 4;
    b.search.cells = 1;
    b.search.threads = 1;
    b.search.image = image;
    b.warmup = 0;
    b.steps = 1;
    return dnas_bench_step(&b, r);
}

/* 64x64 images need 4x the floats of 32x32: a buffer sized for 32x32 is read past its end
 * and the guard page faults (the binary dies, which tests/run.sh counts as a failure). */
static void test_bench_image_size(void) {
    guard_page = sysconf(_SC_PAGESIZE);
    dnas_allocator ga = {guard_alloc, guard_free, NULL};
    dnas_set_allocator(&ga);
    const int sizes[2] = {64, 16};
    for (int i = 0; i < 2; i++) {
        dnas_bench_result r = {0};
        double t0 = dnas_now_s();
        dnas_status st = bench_at(sizes[i], &r);
        double dt = dnas_now_s() - t0;
        CHECK(st == DNAS_OK, "bench at %dx%d: %s", sizes[i], sizes[i], dnas_last_error());
        CHECK(st != DNAS_OK || (r.steps == 1 && r.ms_min > 0 && r.ms_min <= 1e3 * dt + 1),
              "bench at %d: steps %d, %.3f ms in a %.3f s call", sizes[i], r.steps, r.ms_min, dt);
        printf("  bench %dx%d: %.1f ms/step\n", sizes[i], sizes[i], r.ms_median);
    }
    dnas_set_allocator(NULL);
    int left = 0;
    for (int i = 0; i < GUARD_MAX; i++) left += guard_tab[i].map != NULL;
    CHECK(left == 0, "%d guard blocks not freed", left);
}

int main(void) {
    RUN(test_alloc_frees_with_its_allocator);
    RUN(test_sumsq_in_double);
    RUN(test_plan_checks_supports);
    RUN(test_bad_label_through_graph);
    RUN(test_bench_image_size);
    TEST_EXIT();
}
