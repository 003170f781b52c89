/* A search in progress, and the strategy vtable that each method implements.
 * A strategy only uses graph calls (forward, backward, weight/parameter blocks), never op
 * internals: second-order and implicit methods swap and perturb the weight block directly. */
#ifndef DNAS_SEARCH_H
#define DNAS_SEARCH_H
#include "../../include/dnas.h"
#include "../core/rng.h"
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
extern const dnas_strategy dnas_strategy_fairdarts, dnas_strategy_drnas;
extern const dnas_strategy dnas_strategy_pcdarts;
extern const dnas_strategy dnas_strategy_snas, dnas_strategy_gdas;
/* GAEA's update composed with PC-DARTS' and GDAS' transforms (ALGORITHMS.md §B4: EEDARTS,
 * EGDAS): pcdarts.c and gdas.c with --arch-update eg and the paper's defaults. */
extern const dnas_strategy dnas_strategy_gaea_pcdarts, dnas_strategy_gaea_gdas;

/* Gumbel-softmax rows (gumbel.c; SNAS, GDAS), over the candidate columns of one alpha row. */
#define DNAS_GUMBEL_MAX_COLS 16
/* G_k = -log(-log U_k), U_k in (0,1) from Philox at (key, counter, counter+1, ...). */
void dnas_gumbel_noise(uint64_t key, uint64_t counter, const uint8_t *cand, int cols, float *G);
/* z = softmax((a + G) / tau) (SNAS), and dL/da from dL/dz. */
void dnas_gumbel_soft_row(const float *a, const float *G, const uint8_t *cand, int cols,
                          float tau, float *z);
void dnas_gumbel_soft_row_backward(const float *z, const float *dz, const uint8_t *cand,
                                   int cols, float tau, float *da);
/* p = softmax((log_softmax(a) + G) / tau); returns k = argmax p (-1 if p is not finite)
 * (GDAS); the backward is the straight-through one: dL/dp = dL/dh of h = onehot(k). */
int dnas_gumbel_hard_row(const float *a, const float *G, const uint8_t *cand, int cols,
                         float tau, float *p);
void dnas_gumbel_hard_row_backward(const float *a, const float *p, const float *dh,
                                   const uint8_t *cand, int cols, float tau, float *da);
/* Philox counter of a row's draw: (global step, forward within the step, row, try). */
uint64_t dnas_gumbel_counter(long step, int call, int rows, int row, int attempt);
/* Temperatures at an epoch: SNAS' Temp_Scheduler, GDAS' linear tau_max -> tau_min. */
float dnas_snas_temperature(const dnas_search_config *c, int epoch);
float dnas_gdas_temperature(const dnas_search_config *c, int epoch);
/* SNAS' resource penalty lambda * P (or lambda * log P) of P = sum_g w_g sum z*cost over the
 * candidates (w_0 = 1, reduction groups w = ratio); adds d/dz into dz when not NULL. */
double dnas_resource_penalty(const float *z, const float *cost, const uint8_t *cand, int groups,
                             int rows, int cols, double ratio, int log_scale, double lambda,
                             float *dz);
/* PC-DARTS' edge weights softmax(beta) over each node's edges, groups*rows floats in alpha-row
 * order (space.h's edge block); 0 when the search has no edge block (pcdarts.c). */
int dnas_pcdarts_edge_weights(const dnas_search *s, float *out);
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
/* GAEA's pieces that compose with other mixing transforms (gaea.c): whether --arch-update is
 * eg; the uniform simplex point of every op row and (PC-DARTS' edge block) of every node's
 * edges; the entropic regulariser's gradient r (log(theta |O|) + 1) added into galpha's op
 * rows; and the arch update --arch-update names (Adam, or EG on the op rows and each node's
 * edge weights), skipped with --fix-alpha. */
int dnas_arch_update_is_eg(const dnas_search_config *c);
void dnas_simplex_init(dnas_search *s);
void dnas_entropy_reg_grad(dnas_search *s);
void dnas_search_arch_update(dnas_search *s);
/* ScheduledDropPath's probability at an epoch (RobustDARTS: p * epoch / (epochs - 1)). */
float dnas_search_drop_prob(const dnas_search_config *c, int epoch);
/* EGDAS' row gradient (gdas.c): dL/dtheta of p = softmax((log theta + G) / tau) under the
 * straight-through one-hot, from dL/dh: p_k (dh_k - <p, dh>) / (tau theta_k). */
void dnas_egdas_row_backward(const float *theta, const float *p, const float *dh,
                             const uint8_t *cand, int cols, float tau, float *dtheta);
/* S = sum_{k=0..K} (I - gamma H)^k v0 (n floats; vk, hv are scratch of n), with H v from
 * `hvp`: the truncated Neumann series of gamma^-1 H^-1 v0 that iDARTS uses. */
typedef dnas_status (*dnas_hvp_fn)(void *ctx, const float *v, float *out);
dnas_status dnas_neumann_sum(dnas_hvp_fn hvp, void *ctx, size_t n, const float *v0, float gamma,
                             int K, float *S, float *vk, float *hv);
/* iDARTS' implicit hypergradient into s->galpha (no optimiser step). */
dnas_status dnas_idarts_hypergradient(dnas_search *s, const dnas_data_batch *train,
                                      const dnas_data_batch *valid);

/* FairDARTS (fairdarts.c): the zero-one loss -w01 mean((sigmoid(alpha) - 0.5)^2) over the
 * candidate entries; adds its gradient to grad (if not NULL) and returns its value. */
double dnas_zero_one_loss(const float *alpha, const uint8_t *cand, size_t n, double w01,
                          float *grad);
/* DrNAS (drnas.c), in double: digamma, trigamma; d ln x / d a of a Gamma(a, 1) sample x at
 * fixed CDF (implicit reparameterisation); ln of a Gamma(a, 1) sample (Marsaglia-Tsang); a
 * Dirichlet(beta) sample of n <= 64 (and d ln x / d beta per entry if dlogx); the pathwise
 * backward d theta -> d beta; KL(Dir(beta) || Dir(1)) and its gradient. */
double dnas_digamma(double x);
double dnas_trigamma(double x);
double dnas_gamma_dlogx(double a, double x);
double dnas_gamma_sample_log(dnas_rng *r, double a);
void dnas_dirichlet_sample(dnas_rng *r, const double *beta, int n, double *theta, double *dlogx);
void dnas_dirichlet_backward(const double *theta, const double *dlogx, const double *gtheta, int n,
                             double *gbeta);
double dnas_dirichlet_kl_uniform(const double *beta, int n, double *grad);

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

/* ---- Hessian of the validation loss w.r.t. alpha (hessian.c, ALGORITHMS.md §B9) ---------- */
/* Finite-difference step in alpha space (r = eps / |v|); see hessian.c for the choice. */
#define DNAS_ALPHA_HVP_EPS 1e-3
/* Power iteration on (H - shift I) from v (n floats, overwritten; hv: scratch of n), at most
 * max_iters products, stopping when the Rayleigh quotient changes by <= tol relative.
 * *lambda = the dominant eigenvalue of H - shift I, plus shift. */
dnas_status dnas_power_iteration(dnas_hvp_fn hvp, void *ctx, size_t n, double shift, float *v,
                                 int max_iters, double tol, double *lambda, int *iters, float *hv);
/* H v of L_val w.r.t. alpha on one batch at the current alpha, ReLU patterns frozen there:
 * begin sets the batch and records the patterns; dnas_alpha_hvp is a dnas_hvp_fn on the ctx;
 * end restores alpha, the BN statistics and free kinks. */
typedef struct {
    dnas_search *s;
    float *a0, *gp, *bufs0;
} dnas_alpha_hvp_ctx;
dnas_status dnas_alpha_hvp_begin(dnas_search *s, const dnas_data_batch *b, dnas_alpha_hvp_ctx *h);
dnas_status dnas_alpha_hvp(void *ctx, const float *v, float *out);
void dnas_alpha_hvp_end(dnas_alpha_hvp_ctx *h);
/* The largest eigenvalue of that Hessian on `valid` (--ev-iters, --ev-tol). */
dnas_status dnas_hessian_eigen(dnas_search *s, const dnas_data_batch *valid, double *value,
                               int *iters);
/* The run loop's end-of-epoch call: with --track-ev 1 at the epochs §B9 says, the eigenvalue on
 * the epoch's last arch batch, logged as {"kind": "eigenvalue"}; then RobustDARTS' decision.
 * *action: NONE; STOP (the search is over, alpha is the stop epoch's); ROLLBACK (the state is
 * the end of an earlier epoch s->epoch: the caller advances it as after any epoch and seeks
 * its loader to the new position). */
enum { DNAS_EV_NONE = 0, DNAS_EV_STOP, DNAS_EV_ROLLBACK };
dnas_status dnas_hessian_epoch_end(dnas_search *s, const dnas_data_batch *valid, const char *dir,
                                   const char *log_path, int *action);

/* ---- RobustDARTS (rdarts.c) ------------------------------------------------------------------ */
extern const dnas_strategy dnas_strategy_rdarts;
/* DARTS-ES' rule (utils.py EVLocalAvg): ev[0..n) are the eigenvalues so far, the newest
 * computed at `epoch`. 1 = stop, with *stop_epoch (the epoch whose architecture is returned)
 * and *ratio (local average now / delta entries earlier). */
typedef struct {
    int every, window, delta, start, epochs;
    double factor;
} dnas_es_rule;
int dnas_es_check(const dnas_es_rule *r, const double *ev, int n, int epoch, int *stop_epoch,
                  double *ratio);
/* DARTS-ADA: 1 and *next = wd * mul when the weight decay may still rise (next <= max_wd). */
int dnas_ada_next(double wd, double mul, double max_wd, double *next);
dnas_status dnas_rdarts_epoch_end(dnas_search *s, double ev, const char *dir, const char *log_path,
                                  int *action);
/* Its state in a search checkpoint (no-ops for other strategies). */
struct dnas_ckpt_writer;
struct dnas_ckpt;
dnas_status dnas_rdarts_ckpt_put(dnas_search *s, struct dnas_ckpt_writer *w);
dnas_status dnas_rdarts_ckpt_get(dnas_search *s, const struct dnas_ckpt *ck, const char *path);

/* ---- DARTS-PRIME / constrained DARTS (prime.c, ALGORITHMS-2.md §B) -------------------------- */
extern const dnas_strategy dnas_strategy_prime;
/* Checks the --prime-* / --admm-* / --sched-* settings (any algo: their defaults must pass). */
dnas_status dnas_prime_config_check(const dnas_search_config *c);
/* 1 when the supernet gets a BN on each node sum ("statebn"): --state-bn, -1 = with clip. */
int dnas_prime_state_bn(const dnas_search_config *c);
/* --dyno-split (ALGORITHMS-2.md §B(a)): of `pool` search images the weights train on
 * floor(pool * f / (1 + f)) = floor(pool * (1 - 1/(1+f))), alpha on the rest. */
void dnas_prime_dyno_sizes(long pool, int f, long *n_train, long *n_alpha);
/* Pools both halves of `sp` and re-splits them in those sizes (per class to within one image,
 * no seed, both lists ascending); `d` gives the labels. */
dnas_status dnas_prime_dyno_split(const dnas_cifar *d, int f, dnas_split *sp);
/* The informed schedule: after each weight backward E <- w FI + (1 - w) E (E starts at -1, the
 * first FI is copied); at an iteration's start an alpha step runs iff 0 < E < tau, and then
 * tau <- tau m^-f, else tau <- tau m. Fixed (dynamic 0): a step iff (step + 1) mod f == 0. */
typedef struct {
    int dynamic, freq;
    double tau, mult, ewma, E;
} dnas_prime_sched;
void dnas_prime_sched_init(dnas_prime_sched *q, int dynamic, int freq, double tau0, double mult,
                           double ewma);
/* At an iteration's start (`step`: its index in the epoch, for the fixed rule): 1 = alpha step. */
int dnas_prime_sched_decide(dnas_prime_sched *q, long step);
/* After the weight backward: FI = sum of squared weight gradients before clipping. */
void dnas_prime_sched_observe(dnas_prime_sched *q, double fi);
/* The activation a(alpha) of groups*rows rows of `cols`, in double: softmax over each row's
 * candidates, or clip(alpha, 0, 1) on live entries (mask 1; NULL = all); 0 elsewhere. */
void dnas_prime_act(int clip, const double *alpha, const uint8_t *cand, const uint8_t *mask,
                    int rows, int cols, double *a);
/* galpha += (d a / d alpha)^T da (clip: 1 on live entries with 0 <= alpha <= 1, bounds included:
 * torch.clamp's rule when the reference ran; torch 2.15 gives 0 at the bounds). */
void dnas_prime_act_backward(int clip, const double *alpha, const double *a, const double *da,
                             const uint8_t *cand, const uint8_t *mask, int rows, int cols,
                             double *galpha);
/* D(w): the space's own derivation (DARTS: per node the 2 edges with the strongest non-'none'
 * op, that op on each; NB201: each edge's argmax) as a 0/1 matrix of groups*rows*cols. */
dnas_status dnas_prime_project(const dnas_space *sp, const uint8_t *cand, const double *w,
                               double *z);
/* The regulariser of the alpha loss, per cell type g:
 *   prox:        scale ||a - D(a)||_2                     (D on detached values)
 *   admm code:   scale ||(a - Z + U) . M||_2
 *   admm clean:  scale ||(a - Z + U) . M||_2^2
 * with a = a(alpha), M = mask (NULL = 1) on candidates. Returns the sum over groups in *value and
 * adds d/d alpha to galpha (if not NULL). A zero residual has gradient 0 (a subgradient). */
enum { DNAS_PRIME_REG_NONE, DNAS_PRIME_REG_PROX, DNAS_PRIME_REG_ADMM };
typedef struct {
    const dnas_space *space;
    const uint8_t *cand, *mask;
    int clip, reg, clean;
    double scale;
    const double *z, *u;   /* ADMM */
} dnas_prime_pen;
dnas_status dnas_prime_penalty(const dnas_prime_pen *p, const double *alpha, double *value,
                               double *galpha);
/* ADMM's Z/U update. code: Z <- D(a(alpha + U)), U <- U + (alpha - Z) . M; clean: Z <- D(a(alpha)
 * + U), U <- U + (a(alpha) - Z) . M. `tmp`: scratch of groups*rows*cols doubles. */
dnas_status dnas_prime_admm_update(const dnas_prime_pen *p, const double *alpha, double *z,
                                   double *u, double *tmp);
/* Counts an alpha step; 1 when the Z/U update is due: clean every admm_freq alpha steps, code
 * every admm_freq - 1 (the reference's counter reaches admm_freq - 1), at least every step. */
int dnas_prime_admm_due(int clean, int freq, long *count);
/* Its state in a search checkpoint (no-ops for other strategies). */
dnas_status dnas_prime_ckpt_put(dnas_search *s, struct dnas_ckpt_writer *w);
dnas_status dnas_prime_ckpt_get(dnas_search *s, const struct dnas_ckpt *ck, const char *path);
/* The strategy's live counters, for tests and logs: pruned ops, alpha steps so far. */
int dnas_prime_pruned(const dnas_search *s);
long dnas_prime_alpha_steps(const dnas_search *s);

#endif
