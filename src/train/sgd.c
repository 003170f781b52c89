#include "optim.h"
#include "../core/alloc.h"

dnas_status dnas_sgd_init(dnas_sgd *o, size_t n, float lr, float momentum, float wd, int nesterov) {
    if (lr < 0 || momentum < 0 || wd < 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "SGD: lr, momentum and weight decay must be >= 0");
    if (nesterov && momentum <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "SGD: nesterov needs momentum > 0");
    o->lr = lr;
    o->momentum = momentum;
    o->weight_decay = wd;
    o->nesterov = nesterov;
    o->n = n;
    o->buf = dnas_calloc((n ? n : 1) * sizeof(float), "SGD momentum buffer");
    return o->buf ? DNAS_OK : DNAS_ERR_OOM;
}

void dnas_sgd_free(dnas_sgd *o) {
    dnas_free(o->buf);
    o->buf = NULL;
}

void dnas_sgd_step(dnas_sgd *o, float *w, const float *g) {
    const float lr = o->lr, mu = o->momentum, wd = o->weight_decay;
    float *buf = o->buf;
    /* A zero buffer makes the first step buf = d_p, exactly PyTorch's first-step rule. */
#ifdef _OPENMP /* a NO_OMP=1 build must not see the pragma (-Werror=unknown-pragmas) */
#pragma omp parallel for schedule(static) if (o->n > 65536)
#endif
    for (size_t i = 0; i < o->n; i++) {
        float d = g[i] + wd * w[i];
        if (mu != 0.0f) {
            buf[i] = mu * buf[i] + d;
            d = o->nesterov ? d + mu * buf[i] : buf[i];
        }
        w[i] -= lr * d;
    }
}
