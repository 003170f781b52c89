/* What the PyTorch-twin tests share: fixture batches as data batches, and the cell conv
 * biases whose gradient is exactly 0 (BN without affine follows them). */
#ifndef DNAS_TESTS_TWIN_H
#define DNAS_TESTS_TWIN_H
#include "test.h"
#include "fixture.h"
#include "data/data.h"

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
#endif
