/* Op constructors: each appends one node (and its parameters) to a graph and returns the
 * output value id, or -1 once the graph holds an error (see dnas_graph_error). Shapes are
 * inferred and checked here; kernels come from the graph's backend. */
#ifndef DNAS_OPS_H
#define DNAS_OPS_H
#include "../graph/graph.h"

/* conv: weight "<name>.weight" (Cout, Cin/groups, k, k) stored OHWI, optional "<name>.bias".
 * Output size uses symmetric `pad`; pad < 0 crops (FactorizedReduce's shifted branch). */
int dnas_op_conv2d(dnas_graph *g, const char *name, int x, int cout, int k, int stride, int pad,
                   int dil, int groups, int bias);
/* BN: affine adds "<name>.weight"/"<name>.bias"; track adds running_mean/running_var buffers.
 * Without running statistics it uses batch statistics in training and evaluation alike. */
int dnas_op_batchnorm(dnas_graph *g, const char *name, int x, int affine, int track);
/* A lazy BN output v (graph.h dnas_value.lazy): the BN's input data and the per-channel map
 * y = (x - mean) * a + b of this forward, for the weighted sum that applies it. */
void dnas_bn_lazy_map(const dnas_graph *g, int v, const float **x, const float **mean,
                      const float **a, const float **b);
/* <dy, y> for a lazy BN output v, for a backward in which the BN's own backward does not run
 * (nothing upstream of it wants a gradient). */
dnas_status dnas_bn_lazy_dot(dnas_graph *g, int v, const float *dy, double *dot);
/* A lazy average-pool output v (DNAS_LAZY_POOL): the pool's input, parameters and input
 * shape, for the weighted sum that pools; and <dy, v> where the pool's backward does not run. */
void dnas_pool_lazy_src(const dnas_graph *g, int v, const float **x, const dnas_pool_p **p,
                        const dnas_shape **xs);
dnas_status dnas_pool_lazy_dot(dnas_graph *g, int v, const float *dy, double *dot);
int dnas_op_relu(dnas_graph *g, const char *name, int x);
/* BN followed by ReLU (the same values): one node where the backend fuses them
 * (DNAS_K_BN_RELU), else a BN node `name` and a ReLU node `relu_name`. Not for graphs that
 * record or freeze kinks (the fused ReLU has no pattern): those build dnas_op_relu. */
int dnas_op_batchnorm_relu(dnas_graph *g, const char *name, const char *relu_name, int x,
                           int affine, int track);
/* Channel concat followed by ReLU (the same values): one node where the backend fuses them
 * (DNAS_K_CONCAT_RELU), else a concat node `name` and a ReLU node `relu_name`. Like
 * dnas_op_batchnorm_relu, not for graphs that record or freeze kinks. */
int dnas_op_concat_relu(dnas_graph *g, const char *name, const char *relu_name, const int *x,
                        int k);
int dnas_op_avgpool(dnas_graph *g, const char *name, int x, int k, int stride, int pad,
                    int count_include_pad);
int dnas_op_maxpool(dnas_graph *g, const char *name, int x, int k, int stride, int pad);
/* y = sum_i m_i x_i with m_i = graph mix[mix[i]], or 1 where mix[i] < 0 (plain addition).
 * This is the mixed edge (and a whole DARTS node: all its edges' ops in one pass). */
int dnas_op_wsum(dnas_graph *g, const char *name, const int *x, const int *mix, int k);
int dnas_op_add(dnas_graph *g, const char *name, int a, int b);
/* skip_connect as a node (a copy), and 'none': zeros of the input's (strided) shape. */
int dnas_op_identity(dnas_graph *g, const char *name, int x);
int dnas_op_zero(dnas_graph *g, const char *name, int x, int stride);
/* RobustDARTS S4's 'noise': i.i.d. N(0,1) of x's (strided) output shape, ignoring x's values
 * (no gradient to x); drawn from Philox at (g->rng_key, g->rng_step, node). */
int dnas_op_noise(dnas_graph *g, const char *name, int x, int stride);
/* Drop path (training only): y = x * mask_n / (1 - p) with one Bernoulli(1 - p) draw per
 * sample n, p = g->drop_prob; the identity when p == 0 or in eval mode. The draws are
 * dnas_droppath_scales of the node's ordinal among the graph's drop-path nodes (its order of
 * construction), so they depend on (g->rng_key, g->rng_step, architecture) only. */
int dnas_op_droppath(dnas_graph *g, const char *name, int x);
/* The per-sample factors of drop-path node `ordinal` at (key, step): sample i draws
 * u = (w >> 8) / 2^24 from word i%4 of Philox4x32-10 block
 *   key ^ DNAS_DROPPATH_DOMAIN,  counter (step << 32) | (ordinal << 16) | (i / 4),
 * and scale[i] = (u < 1 - p) / (1 - p) (float arithmetic). Needs step < 2^32, ordinal < 2^16,
 * n <= 2^18, 0 <= p < 1; DNAS_ERR_INVALID_ARG otherwise. */
/* A DARTS node with drop path on its inputs in one pass: y = s_a * a + s_b * b, where s_x is
 * the drop-path factor of a stream (as dnas_op_droppath, the next ordinal for each dropped
 * input in argument order) or 1 where drop_x == 0. The same values as droppath nodes feeding
 * dnas_op_add, without their two passes per input each way. */
int dnas_op_droppath_add(dnas_graph *g, const char *name, int a, int drop_a, int b, int drop_b);
#define DNAS_DROPPATH_DOMAIN 0x44524f5050415448ull /* "DROPPATH": apart from other ops' draws */
dnas_status dnas_droppath_scales(uint64_t key, uint64_t step, int ordinal, int n, float p,
                                 float *scale);
int dnas_op_gap(dnas_graph *g, const char *name, int x);
int dnas_op_linear(dnas_graph *g, const char *name, int x, int out);
/* Mean softmax cross-entropy of logits (N,K,1,1) against g->labels; sets g->loss/logits.
 * Its forward sets g->correct and g->loss_value: the reported accuracy is always this one's. */
int dnas_op_xent(dnas_graph *g, const char *name, int logits);
/* An auxiliary cross-entropy: its loss value only (g->loss, logits, correct untouched). */
int dnas_op_xent_aux(dnas_graph *g, const char *name, int logits);
/* g->loss := g->loss + weight * aux_loss (both loss values), after dnas_op_xent; its forward
 * sets g->loss_value to the total. When aux_loss's producer does not run (a training-only
 * branch in eval mode) the total is the main loss. */
int dnas_op_loss_sum(dnas_graph *g, const char *name, int aux_loss, float weight);
/* Channel concat of k values with equal N,H,W; channel slice [off, off+count). */
int dnas_op_concat(dnas_graph *g, const char *name, const int *x, int k);
int dnas_op_slice(dnas_graph *g, const char *name, int x, int off, int count);
/* Channel shuffle of the channel concat of k values (ShuffleNet / PC-DARTS, src/ops/shuffle.c):
 * concat channel g*(C/groups) + j goes to output channel j*groups + g; C % groups == 0. */
int dnas_op_shuffle(dnas_graph *g, const char *name, const int *x, int k, int groups);

#endif
