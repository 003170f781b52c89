/* Second-order products by finite differences of gradients, through the weight block.
 * iDARTS and DARTS-V2 need H v (the weights' Hessian of the loss times a vector) and
 * d/d(mix) of (dL/dw . v); both are central differences of the gradient along v:
 *   d(r) = grad(w + r v) - grad(w - r v),   product ~ d(r) / (2r),   r = eps / |v|.
 * The truncation error is O(r^2 |v|^2) and the float rounding error O(ulp / r), so eps = 0.01
 * (DARTS' choice) balances them for weights of order 1 (measured in tests/unit/test_hvp.c). */
#ifndef DNAS_GRAPH_HVP_H
#define DNAS_GRAPH_HVP_H
#include "graph.h"

/* At the graph's current input, labels and mixing weights (training-mode forward):
 * out_w (n_weights, may be NULL) = H v; out_mix (n_mix, may be NULL) = d/dmix (dL/dw . v).
 * `scratch` holds n_weights + n_bufs floats. The weights and BN running statistics are
 * restored exactly from copies; gw/gmix are left holding the last gradient evaluated. */
dnas_status dnas_graph_fd_hvp(dnas_graph *g, const float *v, double eps, float *out_w,
                              float *out_mix, float *scratch);

#endif
