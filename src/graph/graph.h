/* The static computation graph: built once with cheap constructors, planned once into one
 * arena by liveness, then run forward/backward every step with no allocation.
 *
 * Values are activations (NHWC float). Parameters live in ONE contiguous weight block `w`
 * (grads in `gw`, same layout), so zero-grad, clipping, optimisers, checkpoints and the
 * weight swap/restore of finite-difference Hessian-vector products are single loops or memcpys.
 * BN running statistics live in a separate buffer block. Mixing weights `mix` (what a search
 * strategy computes from alpha: softmax, sigmoid, Gumbel, one-hot, ...) are a third block that
 * weighted-sum nodes read by index; backward produces d/d(mix) into `gmix`. The graph knows
 * nothing about alpha itself: the strategy owns alpha and the transform. */
#ifndef DNAS_GRAPH_H
#define DNAS_GRAPH_H
#include <stdint.h>
#include "../backend/backend.h"

#define DNAS_MAX_IN 48

enum { DNAS_WANT_WEIGHTS = 1, DNAS_WANT_ARCH = 2, DNAS_WANT_INPUTS = 4 };

/* Op flags: what backward reads, so the planner keeps it alive. */
enum { DNAS_OPF_SAVE_IN = 1, DNAS_OPF_SAVE_OUT = 2,
       DNAS_OPF_KINK = 4, /* piecewise linear (ReLU): its on/off pattern can be frozen */
       /* Its backward reads its output gradient through dnas_grad_scale (BN): when a weighted
        * sum is the output's only reader, the planner lets the output gradient be the sum's own
        * output gradient times the input's weight, so the sum never writes m_i * dy. */
       DNAS_OPF_DY_SCALE = 8,
       DNAS_OPF_MIX_SUM = 16, /* weighted sum: input i's gradient is mix[i] * dy (or dy) */
       /* Its output is a per-channel affine map of its input (BN without ReLU): where the
        * output also has a gradient alias, the planner may leave it unstored and let the
        * weighted sum apply the map (dnas_value.lazy, DNAS_K_LAZY_BN). */
       DNAS_OPF_LAZY_AFFINE = 32,
       /* An average pool that, where a weighted sum is its output's only reader and the
        * backend has DNAS_K_LAZY_POOL, scales its output gradient like DNAS_OPF_DY_SCALE and
        * leaves its output unstored: the sum pools the input itself (dnas_value.lazy). */
       DNAS_OPF_LAZY_POOL = 64 };

/* dnas_value.lazy: how an unstored output is recomputed by the weighted sum reading it. */
enum { DNAS_LAZY_NONE = 0, DNAS_LAZY_BN = 1, DNAS_LAZY_POOL = 2 };

/* Kink freezing, for second-order products by finite differences (graph/hvp.h): a recording
 * forward stores every kinked op's on/off pattern; while frozen, forward and backward use
 * the recorded pattern, so the network is the linear piece through the recorded point and
 * differences of its gradients give the Hessian that double backprop computes (second
 * derivative 0 at kinks) instead of jumps of gradients across kinks. */
enum { DNAS_KINKS_FREE = 0, DNAS_KINKS_RECORD, DNAS_KINKS_FROZEN };

/* Uniform(-1/sqrt(fan_in), +1/sqrt(fan_in)) is PyTorch's default for conv and linear weights
 * (kaiming_uniform with a=sqrt(5)) and their biases. */
enum { DNAS_INIT_ZERO, DNAS_INIT_ONE, DNAS_INIT_UNIFORM_FAN_IN };

typedef struct dnas_graph dnas_graph;
typedef struct dnas_node dnas_node;

/* What one pass asks of a node, for FLOP counting (dnas_op.flops, graph/flops.c). */
typedef struct {
    int backward;         /* 0: a forward */
    unsigned wants;       /* backward: the DNAS_WANT_* mask of the call */
    const uint8_t *need;  /* backward: need[v] = 1 when value v's gradient is computed */
    const uint8_t *acc;   /* backward: acc[i] = 1 when input i's gradient is added into */
} dnas_flop_ctx;

typedef struct {
    const char *name;
    unsigned flags;
    unsigned kernels;   /* DNAS_KBIT of each backend kernel family forward/backward call */
    dnas_status (*forward)(dnas_graph *g, dnas_node *n);
    /* Reads vals[n->out].grad; writes/adds input grads per n->acc[]; adds parameter grads
     * when (wants & DNAS_WANT_WEIGHTS); mixing-weight grads when (wants & DNAS_WANT_ARCH). */
    dnas_status (*backward)(dnas_graph *g, dnas_node *n, unsigned wants);
    /* FLOPs its kernels compute for this node at the current batch (flops.c: the rules). */
    double (*flops)(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c);
} dnas_op;

typedef struct {
    dnas_shape shape;
    int producer;        /* node index, -1 for a graph input */
    int last_use;        /* last consumer node index in forward order (-1 if none) */
    int keep;            /* read by some backward: alive for the whole step */
    float *data, *grad;
    size_t data_off, grad_off;
    /* >= 0: this value's gradient IS value grad_alias's gradient times mix[grad_mix] (1 when
     * grad_mix < 0); set by the planner (DNAS_OPF_DY_SCALE), no buffer of its own. */
    int grad_alias, grad_mix;
    uint8_t needs_grad;  /* set per backward call from `wants` */
    uint8_t grad_written;
    uint8_t scalar;      /* a loss (1,1,1,1): not batch-sized, set_batch leaves it alone */
    /* DNAS_LAZY_*: an output never stored (data NULL), set by the planner. DNAS_LAZY_BN: its
     * only reader, a weighted sum, normalises the BN's input itself, and its mixing-weight
     * gradient comes from BN's backward sums (ops/batchnorm.c; DNAS_OPF_LAZY_AFFINE,
     * DNAS_K_LAZY_BN). DNAS_LAZY_POOL: the sum average-pools the pool's input itself, and
     * the pool's backward gives the mixing-weight gradient (ops/pool.c; DNAS_K_LAZY_POOL). */
    uint8_t lazy;
    /* A lazy pool whose input is also a plain input of the sum reading it (an NB201 edge's
     * skip_connect beside its avg_pool_3x3): that input's index in the sum, whose gradient
     * and mixing-weight gradient the pool's backward then takes in its own pass
     * (avgpool_bwd_mix_skip); -1 otherwise. Set by the planner. */
    int skip_in;
} dnas_value;

typedef struct {
    char name[64];
    dnas_shape shape;    /* conv: (Cout, Cin/groups, KH, KW) -> NHWC storage is OHWI */
    size_t off;          /* offset (floats) into w / gw */
    int init;            /* DNAS_INIT_* */
    int fan_in;          /* for Kaiming-uniform init (PyTorch default for conv/linear) */
} dnas_param;

typedef struct {
    char name[64];
    size_t off, n;       /* into bufs */
} dnas_buffer;

struct dnas_node {
    const dnas_op *op;
    char name[48];
    int n_in;
    int in[DNAS_MAX_IN];
    int out;
    int par[2];                 /* parameter ids (conv: w,b; bn: gamma,beta; linear: w,b), -1 none */
    int buf[2];                 /* buffer ids (bn: running mean, var), -1 none */
    int mix[DNAS_MAX_IN];       /* wsum: mixing-weight index per input, -1 = constant 1 */
    union {
        dnas_conv_p conv;
        struct { dnas_bn_p p; int affine, track; } bn;
        dnas_pool_p pool;
        struct { int in, out; } linear;
        struct { int off, count; } slice;
        /* droppath: its stream, the k-th of the graph; droppath_add: each input's (-1: kept) */
        struct { int ordinal; int ord[2]; } droppath;
        struct { float weight; } losssum;   /* weight of the added (auxiliary) loss */
    } a;
    size_t scratch_n;           /* floats saved for backward (bn: mean, invstd; xent: probs) */
    size_t scratch_off;
    float *scratch;
    uint8_t active;             /* inactive nodes are skipped; wsum drops their outputs */
    uint8_t train_only;         /* skipped in eval mode too (the auxiliary head); only a
                                   loss sum (dnas_op_loss_sum) may read its output */
    uint8_t acc[DNAS_MAX_IN];   /* per backward call: add into input grad i (else overwrite) */
    size_t kink_off;            /* kinked ops: offset of its pattern in g->kink_mask */
};

struct dnas_graph {
    dnas_backend *be;
    dnas_status build_status;   /* first build error; later builder calls are no-ops */
    int training;               /* 1: BN batch stats + running-stat update; 0: eval */

    dnas_value *vals;  int n_vals, cap_vals;
    dnas_node *nodes;  int n_nodes, cap_nodes;
    dnas_param *params; int n_params, cap_params;
    dnas_buffer *bufdesc; int n_bufdesc, cap_bufdesc;

    size_t n_weights; float *w, *gw;
    size_t n_bufs; float *bufs;
    int n_mix; float *mix, *gmix;

    int input;                  /* image value id */
    int *labels;                /* batch labels (owned) */
    int batch;                  /* planned batch */
    int batch_now;              /* batch of the current step (<= batch) */
    int logits, loss;           /* value ids */
    float loss_value;
    int correct;

    float *arena; size_t arena_floats;
    size_t peak_bytes;
    int planned;
    int no_grad_alias;          /* set before planning: 1 = no gradient aliases (tests compare) */
    int no_lazy_bn;             /* set before planning: 1 = every BN output stored (tests compare) */
    int no_lazy_pool;           /* set before planning: 1 = every pool output stored (likewise) */
    int no_pool_skip;           /* set before planning: 1 = no skip folded into a pool (likewise) */
    double *lazy_sums;          /* 2 * (widest lazy BN's C) doubles: its backward sums */
    float *dm_tmp;              /* DNAS_MAX_IN floats for wsum mixing grads */
    /* Stochastic ops (drop path, S4's noise) draw from Philox at (rng_key, a counter derived
     * from rng_step and the node), a pure function of them: the loop that runs the graph sets
     * rng_step (its global step) before each forward, so a resumed run draws the same numbers
     * and nothing extra is checkpointed. */
    uint64_t rng_key, rng_step;
    float drop_prob;            /* drop path: this step's drop probability (0 = off; off in eval) */
    int kinks;                  /* DNAS_KINKS_* */
    uint8_t *kink_mask;         /* recorded on/off patterns (allocated on first use) */

    /* Optional (NULL = off; owned by whoever sets it, n_mix floats): in a backward that wants
     * DNAS_WANT_ARCH, each node adds the sum of its output gradient to the entry of every
     * mixing weight it reads, zeroed with gmix. It is d/dh of a zero-valued scalar h added to
     * the node's output: what AutoDL's GDAS gives the ops of an edge that did not run. */
    float *gmix_out;

    /* FLOP counting (flops.c): while count_flops, every forward and backward adds the FLOPs
     * it computes to flops_done (what a benchmark divides by its time). */
    int count_flops;
    double flops_done;

    /* Optional per-op timing (dnas_graph_profile): seconds and calls per op name. */
    int profile;
    struct { const char *op; double fwd_s, bwd_s; long fwd_n, bwd_n; } prof[32];
    int n_prof;
};

/* Turn per-op timing on (1) or off (0), and print the table to a FILE *. */
void dnas_graph_profile(dnas_graph *g, int on);
void dnas_graph_profile_print(const dnas_graph *g, void *file);

/* ---- building --------------------------------------------------------------------------- */
void dnas_graph_init(dnas_graph *g, dnas_backend *be);
void dnas_graph_free(dnas_graph *g);
int dnas_graph_input(dnas_graph *g, dnas_shape s);
int dnas_graph_value(dnas_graph *g, dnas_shape s, int producer);
int dnas_graph_param(dnas_graph *g, const char *name, dnas_shape s, int init, int fan_in);
int dnas_graph_buffer(dnas_graph *g, const char *name, size_t n);
/* Mark nodes [first, end) training-only (see dnas_node.train_only). */
void dnas_graph_set_train_only(dnas_graph *g, int first, int end);
/* Reserve n mixing weights; returns the first index. */
int dnas_graph_mix(dnas_graph *g, int n);
/* Append a node whose output has shape `out`; returns the node index (or -1 after an error). */
int dnas_graph_node(dnas_graph *g, const dnas_op *op, const char *name, const int *in, int n_in,
                    dnas_shape out);
dnas_status dnas_graph_error(dnas_graph *g, dnas_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- planning and running ------------------------------------------------------------------ */
/* Checks that the backend supports every node's kernels (DNAS_ERR_UNSUPPORTED naming the
 * node otherwise), then allocates weights/buffers/mix blocks and the arena (liveness-planned). */
dnas_status dnas_graph_plan(dnas_graph *g);
/* Initialise weights (PyTorch default init) and buffers (running var = 1) from seed. */
void dnas_graph_init_weights(dnas_graph *g, uint64_t seed);
dnas_status dnas_graph_forward(dnas_graph *g);
dnas_status dnas_graph_backward(dnas_graph *g, unsigned wants);
void dnas_graph_zero_grads(dnas_graph *g, unsigned wants);
/* Run the next steps on n <= planned batch images (an epoch's last, smaller batch): every
 * batch-sized value takes n rows; the planned memory stays valid because it only shrinks. */
dnas_status dnas_graph_set_batch(dnas_graph *g, int n);
/* DNAS_KINKS_FREE | RECORD | FROZEN (see above); FROZEN needs a recording forward first. */
dnas_status dnas_graph_set_kinks(dnas_graph *g, int mode);

/* ---- FLOP accounting (flops.c) -------------------------------------------------------------
 * A multiply-add counts 2, any other float add, multiply or compare 1; copies and fills 0;
 * per-channel bookkeeping (O(C) per node) is left out. Only nodes that run are counted, and a
 * backward counts exactly the kernels dnas_graph_backward(wants) would run: no weight-gradient
 * kernels without DNAS_WANT_WEIGHTS, no input gradients nothing wanted depends on. */
double dnas_graph_flops_forward(const dnas_graph *g);
dnas_status dnas_graph_flops_backward(const dnas_graph *g, unsigned wants, double *out);
/* One node's share (0 for an op without a counter). */
double dnas_node_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c);
/* For op counters: whether this backward computes input i's gradient, and the adds of
 * accumulating `numel` floats into it (0 when the gradient is written, not added into). */
static inline int dnas_flop_dx(const dnas_node *n, const dnas_flop_ctx *c, int i) {
    return c->backward && c->need[n->in[i]];
}
static inline double dnas_flop_acc(const dnas_node *n, const dnas_flop_ctx *c, int i, size_t numel) {
    return dnas_flop_dx(n, c, i) && c->acc[i] ? (double)numel : 0.0;
}
/* The counter of ops that only move data (identity, concat, shuffle): 0, plus the adds of
 * input gradients accumulated in backward. */
double dnas_flops_copy(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c);

/* ---- pruning by mixing weights (prune.c) -------------------------------------------------- */
/* Sets every node's active flag from the current mixing weights: a node runs iff its output
 * reaches the loss through some input that is not a weighted-sum input of weight exactly 0.
 * `live` is scratch of n_vals bytes. Returns the number of inactive nodes. */
int dnas_graph_prune(dnas_graph *g, uint8_t *live);
/* Every node active again. */
void dnas_graph_unprune(dnas_graph *g);
/* count[i] (n_mix ints) = how many node inputs read mixing weight i (0: none, e.g. 'none'). */
void dnas_graph_mix_readers(const dnas_graph *g, int *count);

/* Whether node n runs in this step: active, and not a training-only node in eval mode. */
static inline int dnas_node_runs(const dnas_graph *g, const dnas_node *n) {
    return n->active && (g->training || !n->train_only);
}
/* Whether value v holds this step's data: a graph input, or the output of a node that runs. */
static inline int dnas_value_live(const dnas_graph *g, int v) {
    int p = g->vals[v].producer;
    return p < 0 || dnas_node_runs(g, &g->nodes[p]);
}
static inline float *dnas_param_data(dnas_graph *g, int id) { return id < 0 ? NULL : g->w + g->params[id].off; }
static inline float *dnas_param_grad(dnas_graph *g, int id) { return id < 0 ? NULL : g->gw + g->params[id].off; }
static inline float *dnas_buffer_data(dnas_graph *g, int id) { return id < 0 ? NULL : g->bufs + g->bufdesc[id].off; }
/* Input-gradient pointer for input i of node n in backward, or NULL when not needed (or when
 * the input's gradient is an alias of n's output gradient: n's reader scales it itself). */
static inline float *dnas_in_grad(dnas_graph *g, dnas_node *n, int i) {
    dnas_value *v = &g->vals[n->in[i]];
    return v->needs_grad && v->grad_alias < 0 ? v->grad : NULL;
}
/* The factor a DNAS_OPF_DY_SCALE op applies to vals[v].grad to get its output gradient. */
static inline float dnas_grad_scale(const dnas_graph *g, int v) {
    const dnas_value *x = &g->vals[v];
    return x->grad_alias < 0 || x->grad_mix < 0 ? 1.0f : g->mix[x->grad_mix];
}

#endif
