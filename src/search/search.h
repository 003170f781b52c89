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
    int arch_first;   /* 1: arch step before the weight step (DARTS-V2), 0: after (V1) */
    dnas_status (*init)(dnas_search *s);
    void (*destroy)(dnas_search *s);
    /* alpha -> graph mixing weights, and d/d(mix) -> d/d(alpha) */
    void (*mix)(dnas_search *s);
    void (*mix_backward)(dnas_search *s);
    dnas_status (*weight_step)(dnas_search *s, const dnas_data_batch *train);
    dnas_status (*arch_step)(dnas_search *s, const dnas_data_batch *train,
                             const dnas_data_batch *valid);
    void (*on_epoch_end)(dnas_search *s);
    /* Final architecture (NB201: 6 op indices). */
    void (*derive)(dnas_search *s, int *ops);
} dnas_strategy;

typedef struct {
    double loss, correct, n;
} dnas_meter;

struct dnas_search {
    dnas_search_config cfg;
    dnas_supernet *net;
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
    void *priv;                /* strategy scratch */
};

/* Strategies. */
const dnas_strategy *dnas_strategy_find(const char *algo);
extern const dnas_strategy dnas_strategy_darts1, dnas_strategy_darts2;

/* Shared pieces the strategies use. */
/* Copy a batch into the graph's input and labels (its size must equal the planned batch). */
dnas_status dnas_search_set_batch(dnas_search *s, const dnas_data_batch *b);
/* mix, forward, zero the wanted grads, backward(wants). Adds the loss/accuracy to `m` if given. */
dnas_status dnas_search_fwd_bwd(dnas_search *s, const dnas_data_batch *b, unsigned wants,
                                dnas_meter *m);
/* Row softmax of alpha into the graph's mixing weights, and its backward into galpha. */
void dnas_mix_softmax(dnas_search *s);
void dnas_mix_softmax_backward(dnas_search *s);
/* The common weight step: fwd/bwd on the train batch, clip, SGD. */
dnas_status dnas_search_weight_step_sgd(dnas_search *s, const dnas_data_batch *train);

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
