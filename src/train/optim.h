/* Optimisers over one contiguous parameter block, with PyTorch's update rules (so a search
 * reproduces the reference code step for step), the cosine schedule, and global-norm clipping. */
#ifndef DNAS_TRAIN_OPTIM_H
#define DNAS_TRAIN_OPTIM_H
#include <stddef.h>
#include "../core/status.h"

typedef struct {
    float lr, momentum, weight_decay;
    int nesterov;
    size_t n;
    float *buf;  /* momentum buffer (n), zero before the first step */
} dnas_sgd;

typedef struct {
    float lr, beta1, beta2, eps, weight_decay; /* coupled L2, as torch.optim.Adam */
    long t;      /* steps taken */
    size_t n;
    float *m, *v;
} dnas_adam;

dnas_status dnas_sgd_init(dnas_sgd *o, size_t n, float lr, float momentum, float wd, int nesterov);
void dnas_sgd_free(dnas_sgd *o);
/* w -= lr * update(g); g is read only. */
void dnas_sgd_step(dnas_sgd *o, float *w, const float *g);

dnas_status dnas_adam_init(dnas_adam *o, size_t n, float lr, float beta1, float beta2, float eps,
                           float wd);
void dnas_adam_free(dnas_adam *o);
void dnas_adam_step(dnas_adam *o, float *w, const float *g);

/* Cosine annealing per epoch: eta_min + (lr0 - eta_min) * (1 + cos(pi * epoch / epochs)) / 2. */
float dnas_cosine_lr(float lr0, float eta_min, int epoch, int epochs);

/* Scales g so that its global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_:
 * coefficient max_norm / (norm + 1e-6), applied only when below 1). Returns the norm before. */
double dnas_clip_grad_norm(float *g, size_t n, double max_norm);

/* Sum of squares, squares and sums in double; deterministic (fixed order, no threads). */
double dnas_sumsq(const float *x, size_t n);

#endif
