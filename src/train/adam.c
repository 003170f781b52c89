#include "optim.h"
#include "../core/alloc.h"
#include <math.h>

dnas_status dnas_adam_init(dnas_adam *o, size_t n, float lr, float beta1, float beta2, float eps,
                           float wd) {
    if (lr < 0 || wd < 0 || eps <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "Adam: lr and weight decay must be >= 0, eps > 0");
    if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "Adam: betas must lie in [0,1) (got %g, %g)",
                         beta1, beta2);
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = wd;
    o->t = 0;
    o->n = n;
    o->m = dnas_calloc((n ? n : 1) * sizeof(float), "Adam first moment");
    o->v = dnas_calloc((n ? n : 1) * sizeof(float), "Adam second moment");
    if (!o->m || !o->v) {
        dnas_adam_free(o);
        return DNAS_ERR_OOM;
    }
    return DNAS_OK;
}

void dnas_adam_free(dnas_adam *o) {
    dnas_free(o->m);
    dnas_free(o->v);
    o->m = o->v = NULL;
}

void dnas_adam_step(dnas_adam *o, float *w, const float *g) {
    o->t++;
    const float b1 = o->beta1, b2 = o->beta2;
    const double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
    /* torch.optim.Adam: step = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps. */
    const float step = (float)(o->lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
    for (size_t i = 0; i < o->n; i++) {
        float d = g[i] + o->weight_decay * w[i];
        o->m[i] += (d - o->m[i]) * (1.0f - b1);
        o->v[i] = b2 * o->v[i] + (1.0f - b2) * d * d;
        float denom = sqrtf(o->v[i]) * rbc2 + o->eps;
        w[i] -= step * o->m[i] / denom;
    }
}
