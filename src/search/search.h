/* A search in progress, and the strategy vtable that each method implements.
 * A strategy only uses graph calls (forward, backward, weight/parameter blocks), never op
 * internals: second-order and implicit methods swap and perturb the weight block directly. */
#ifndef DNAS_SEARCH_H
#define DNAS_SEARCH_H
#include "../../include/dnas.h"
#include "../data/data.h"
#include "../io/files.h"
#include "../space/supernet.h"
#include "../train/optim.h"

typedef struct dnas_search dnas_search;

typedef struct {
    const char *name;
    int arch_first;   /* 1: arch step before the weight step (DARTS-V2, GAEA), 0: after (V1) */
    /* Sets up the strategy's state; may re-initialise alpha (GAEA: the uniform simplex point)
     * and set s->arch_every (iDARTS: T weight steps per arch step). */
    dnas_status (*init)(dnas_search *s);
    void (*destroy)(dnas_search *s);
    /* alpha -> graph mixing weights (candidate columns only), and d/d(mix) -> d/d(alpha). */
    void (*mix)(dnas_search *s);
    void (*mix_backward)(dnas_search *s);
    /* The deterministic architecture weights (groups*rows*cols) that the run loop logs and
     * derives the genotype from, and that selection starts from: softmax(alpha) for DARTS,
     * theta for GAEA. */
    void (*weights)(const dnas_search *s, float *out);
    dnas_status (*weight_step)(dnas_search *s, const dnas_data_batch *train);
    dnas_status (*arch_step)(dnas_search *s, const dnas_data_batch *train,
                             const dnas_data_batch *valid);
    /* Called after each epoch's last step (schedules that change per epoch). */
    void (*on_epoch_end)(dnas_search *s);
} dnas_strategy;

typedef struct {
    double loss, correct, n;
} dnas_meter;

struct dnas_search {
    dnas_search_config cfg;
    dnas_supernet *net;
    const dnas_space *space;
    const uint8_t *cand;       /* candidate columns per alpha row (the supernet's) */
    dnas_graph *g;
    dnas_backend *be;
    const dnas_strategy *strat;
    size_t n_alpha;
    float *alpha, *galpha;
    dnas_sgd wopt;
    dnas_adam aopt;
    float lr;                  /* current weight learning rate */
    int epoch, step;           /* position of the next step */
    long total_steps;          /* steps taken since the start of the search */
    dnas_meter train_m, valid_m;
    double last_grad_norm;
    int arch_every;            /* weight steps per arch step (1; iDARTS: T) */
    int *fixed;                /* per alpha row: the column a selection decided, or -1; NULL =
                                  none decided (mix gives those rows one-hot weights) */
    int select_epoch;          /* a selection's position (its tuning epoch), checkpointed */
    void *priv;                /* strategy scratch */
};

/* Strategies. */
const dnas_strategy *dnas_strategy_find(const char *algo);
extern const dnas_strategy dnas_strategy_darts1, dnas_strategy_darts2, dnas_strategy_gaea,
    dnas_strategy_idarts;
/* "darts1, darts2, ..." for error messages and help. */
const char *dnas_strategy_names(void);

/* Shared pieces the strategies use. */
dnas_status dnas_strategy_no_init(dnas_search *s);
void dnas_strategy_no_destroy(dnas_search *s);
void dnas_strategy_no_epoch_end(dnas_search *s);
/* DARTS-V1's arch step: d L_val / d alpha at the current weights, then alpha's Adam. */
dnas_status dnas_arch_step_first_order(dnas_search *s, const dnas_data_batch *train,
                                       const dnas_data_batch *valid);
/* Copy a batch into the graph's input and labels (its size must equal the planned batch). */
dnas_status dnas_search_set_batch(dnas_search *s, const dnas_data_batch *b);
/* mix, forward, zero the wanted grads, backward(wants). Adds the loss/accuracy to `m` if given. */
dnas_status dnas_search_fwd_bwd(dnas_search *s, const dnas_data_batch *b, unsigned wants,
                                dnas_meter *m);
/* Row softmax of alpha over the candidate columns into the graph's mixing weights (0
 * elsewhere), its backward into galpha, and the same softmax into `out` (weights()). */
void dnas_mix_softmax(dnas_search *s);
void dnas_mix_softmax_backward(dnas_search *s);
void dnas_weights_softmax(const dnas_search *s, float *out);
/* The strategy's mix, then one-hot rows for the decided ones (s->fixed). */
void dnas_search_mix(dnas_search *s);
/* The strategy's mix backward, then zero alpha gradient on decided rows and non-candidates. */
void dnas_search_mix_backward(dnas_search *s);
/* One step of alpha's Adam (skipped when --fix-alpha). */
void dnas_search_adam_alpha(dnas_search *s);
/* Architecture weights with decided rows as one-hot (what derive and selection read). */
void dnas_search_weights(const dnas_search *s, float *out);
/* Genotype text of the current architecture weights. */
dnas_status dnas_search_genotype(const dnas_search *s, char *out, size_t cap);
/* The common weight step: fwd/bwd on the train batch, clip, SGD. */
dnas_status dnas_search_weight_step_sgd(dnas_search *s, const dnas_data_batch *train);

/* One exponentiated-gradient step on each row's candidate simplex (GAEA). */
void dnas_eg_step(float *theta, const float *grad, const uint8_t *cand, int rows, int cols,
                  float eta);
/* S = sum_{k=0..K} (I - gamma H)^k v0 (n floats; vk, hv are scratch of n), with H v from
 * `hvp`: the truncated Neumann series of gamma^-1 H^-1 v0 that iDARTS uses. */
typedef dnas_status (*dnas_hvp_fn)(void *ctx, const float *v, float *out);
dnas_status dnas_neumann_sum(dnas_hvp_fn hvp, void *ctx, size_t n, const float *v0, float gamma,
                             int K, float *S, float *vk, float *hv);
/* iDARTS' implicit hypergradient into s->galpha (no optimiser step). */
dnas_status dnas_idarts_hypergradient(dnas_search *s, const dnas_data_batch *train,
                                      const dnas_data_batch *valid);

/* Loads the configuration's data set and its search split (single-level: both halves for
 * both steps). */
dnas_status dnas_search_load_data(const dnas_search_config *c, dnas_cifar *data, dnas_split *sp);

/* Lifecycle used by the run loop and the benchmark. */
dnas_status dnas_search_create(const dnas_search_config *c, dnas_search **out);
void dnas_search_destroy(dnas_search *s);
dnas_status dnas_search_step(dnas_search *s, const dnas_data_batch *train,
                             const dnas_data_batch *valid);

/* Configuration text (config.c). */
void dnas_search_config_write(const dnas_search_config *c, dnas_sbuf *sb, int json);
dnas_status dnas_search_config_parse(const char *text, dnas_search_config *c);
dnas_status dnas_search_config_check(const dnas_search_config *c);

/* Checkpoint of the whole search state (search_ckpt.c). */
dnas_status dnas_search_save(dnas_search *s, const char *path, uint64_t log_bytes,
                             uint64_t alphas_bytes);
/* Reads the configuration stored in a checkpoint. */
dnas_status dnas_search_load_config(const char *path, dnas_search_config *c);
dnas_status dnas_search_load(dnas_search *s, const char *path, uint64_t *log_bytes,
                             uint64_t *alphas_bytes);

#endif
