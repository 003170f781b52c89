/* Constrained DARTS / DARTS-PRIME (k8lion/DARTS-PRIME, ALGORITHMS-2.md §B) behind the strategy
 * vtable: first-order DARTS whose alpha steps are timed by an informed schedule, with
 *  - activation softmax, or clip ("CRB"): a = clip(alpha, 0, 1) per op, no normalisation,
 *    'none' dropped from the candidates, alpha init 1/|O| + 1e-4 N(0,1); after every weight step
 *    an alpha <= 0 is set to 0 and masked for good, and the graph's prune pass switches the ops
 *    behind masked (zero) weights off, forward and backward; the supernet gets a BN without
 *    affine parameters on each node sum ("statebn", --state-bn, on by default with clip);
 *  - the informed schedule (dnas_prime_sched): alpha steps where the weight gradients' energy
 *    FI is low relative to an adaptive threshold, 1/(1+f) of the iterations on average;
 *  - regularisers on the alpha loss: prox, (t/T) rho/2 ||a - D(a)|| per cell type with D the
 *    space's derivation as a 0/1 matrix; or ADMM with a discrete copy Z and scaled dual U, in the
 *    reference's form (code) or textbook scaled ADMM (clean).
 * Per iteration (§B(b)): clock += 1/steps; maybe an alpha step (Adam on L_val + regulariser, on
 * the paired validation batch); the weight step (FI from the gradients before clipping); the
 * clip mask; the ADMM Z/U update when due. Everything that evolves is checkpointed.
 * --dyno-split (on for prime): the weights train on 1 - 1/(1+f) of the search images, alpha on
 * the rest (dnas_prime_dyno_split, called by dnas_search_load_data). */
#include "search.h"
#include "../core/alloc.h"
#include "../core/log.h"
#include "../io/checkpoint.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- settings ------------------------------------------------------------------------------- */
static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

dnas_status dnas_prime_config_check(const dnas_search_config *c) {
#define NEED(cond, ...) \
    if (!(cond)) return dnas_fail(DNAS_ERR_INVALID_ARG, __VA_ARGS__)
    NEED(is(c->prime_act, "softmax") || is(c->prime_act, "clip"),
         "--prime-act: unknown activation '%s' (known: softmax, clip)", c->prime_act);
    NEED(is(c->prime_reg, "none") || is(c->prime_reg, "prox") || is(c->prime_reg, "admm"),
         "--prime-reg: unknown regulariser '%s' (known: none, prox, admm)", c->prime_reg);
    NEED(c->prime_rho >= 0 && c->prime_rho < 1e6, "--prime-rho must lie in [0, 1e6) (got %g)", c->prime_rho);
    NEED(is(c->admm_mode, "code") || is(c->admm_mode, "clean"),
         "--admm-mode: unknown mode '%s' (known: code, clean)", c->admm_mode);
    NEED(c->admm_freq >= 1 && c->admm_freq <= 1000000, "--admm-freq must lie in 1..1000000 (got %d)", c->admm_freq);
    NEED(c->dyno_schedule == 0 || c->dyno_schedule == 1, "--dyno-schedule must be 0 or 1 (got %d)", c->dyno_schedule);
    NEED(c->sched_freq >= 1 && c->sched_freq <= 10000, "--sched-freq must lie in 1..10000 (got %d)", c->sched_freq);
    NEED(c->sched_tau0 > 0 && c->sched_tau0 < 1e30, "--sched-tau0 must be > 0 (got %g)", c->sched_tau0);
    NEED(c->sched_mult > 1 && c->sched_mult <= 10, "--sched-mult must lie in (1, 10] (got %g)", c->sched_mult);
    NEED(c->sched_ewma > 0 && c->sched_ewma <= 1, "--sched-ewma must lie in (0, 1] (got %g)", c->sched_ewma);
    NEED(c->state_bn >= -1 && c->state_bn <= 1, "--state-bn must be -1, 0 or 1 (got %d)", c->state_bn);
    NEED(c->dyno_split == 0 || c->dyno_split == 1, "--dyno-split must be 0 or 1 (got %d)", c->dyno_split);
    /* Other methods keep their own split; a silent no-op flag would mislead. */
    NEED(!c->dyno_split || is(c->algo, "prime"), "--dyno-split 1 is DARTS-PRIME's split: only "
         "with --algo prime (got --algo %s)", c->algo);
    NEED(!c->dyno_split || !c->single_level, "--dyno-split 1 splits the data in two; it cannot "
         "be combined with --single-level 1 (both steps on all images)");
    if (is(c->algo, "prime")) {
        /* The schedule's clock and the ADMM update ride on both steps of every iteration. */
        NEED(!c->fix_alpha && !c->freeze_weights, "--algo prime does not support --fix-alpha 1 or "
             "--freeze-weights 1 (its schedule decides when alpha steps run)");
        NEED(c->pc_k == 1, "--algo prime does not support --pc-k > 1");
    }
#undef NEED
    return DNAS_OK;
}

/* ---- --dyno-split ---------------------------------------------------------------------------- */
void dnas_prime_dyno_sizes(long pool, int f, long *n_train, long *n_alpha) {
    /* floor(pool * (1 - 1/(1+f))) as the reference's int(floor(portion * n)), but in integers:
     * its float product can land just below a whole number (pool 11, f 10 -> 9.999...). */
    if (f < 1) f = 1;
    *n_train = pool > 0 ? pool * f / (f + 1) : 0;
    *n_alpha = pool > 0 ? pool - *n_train : 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}
static int cmp_index(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

dnas_status dnas_prime_dyno_split(const dnas_cifar *d, int f, dnas_split *sp) {
    long pool = (long)sp->n_train + sp->n_valid, nt, na;
    dnas_prime_dyno_sizes(pool, f, &nt, &na);
    if (nt < 1 || na < 1)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--dyno-split: %ld search images leave no image "
                         "for weights or alpha (train %ld, alpha %ld; f = %d)", pool, nt, na, f);
    uint64_t *all = dnas_alloc((size_t)pool * sizeof(uint64_t), "dyno-split pool");
    int *tr = dnas_alloc((size_t)nt * sizeof(int), "dyno-split train indices");
    int *va = dnas_alloc((size_t)na * sizeof(int), "dyno-split alpha indices");
    if (!all || !tr || !va) {
        dnas_free(all);
        dnas_free(tr);
        dnas_free(va);
        return DNAS_ERR_OOM;
    }
    /* Ordered by (label, index) (one sort key: label above the index), then the alpha images
     * taken at evenly spaced positions: each class gives alpha its share to within one image,
     * with no seed (fixed, like the 50/50 split), and the counts are exact. */
    for (long i = 0; i < pool; i++) {
        int ix = i < sp->n_train ? sp->train[i] : sp->valid[i - sp->n_train];
        all[i] = (uint64_t)(uint32_t)d->labels[ix] << 32 | (uint32_t)ix;
    }
    qsort(all, (size_t)pool, sizeof *all, cmp_u64);
    long kt = 0, ka = 0;
    for (long i = 0; i < pool; i++) {
        int ix = (int)(uint32_t)all[i];
        if ((i + 1) * na / pool > i * na / pool) va[ka++] = ix;
        else tr[kt++] = ix;
    }
    qsort(tr, (size_t)kt, sizeof(int), cmp_index);
    qsort(va, (size_t)ka, sizeof(int), cmp_index);
    dnas_free(all);
    dnas_split_free(sp);
    *sp = (dnas_split){tr, (int)kt, va, (int)ka};
    return DNAS_OK;
}

int dnas_prime_state_bn(const dnas_search_config *c) {
    if (c->state_bn >= 0) return c->state_bn;
    return is(c->algo, "prime") && is(c->prime_act, "clip");
}

/* ---- the schedule --------------------------------------------------------------------------- */
void dnas_prime_sched_init(dnas_prime_sched *q, int dynamic, int freq, double tau0, double mult,
                           double ewma) {
    *q = (dnas_prime_sched){dynamic, freq, tau0, mult, ewma, -1.0};
}

int dnas_prime_sched_decide(dnas_prime_sched *q, long step) {
    if (!q->dynamic) return (step + 1) % q->freq == 0;
    /* log tau falls by f log m per step and rises by log m otherwise: it stays bounded only
     * when steps take 1/(1+f) of the iterations, whatever the level of E. */
    if (q->E > 0 && q->E < q->tau) {
        q->tau *= pow(q->mult, -(double)q->freq);
        return 1;
    }
    q->tau *= q->mult;
    return 0;
}

void dnas_prime_sched_observe(dnas_prime_sched *q, double fi) {
    q->E = q->E < 0 ? fi : q->ewma * fi + (1.0 - q->ewma) * q->E;
}

/* ---- activation, projection, penalties (double) ---------------------------------------------- */
static int live_at(const uint8_t *cand, const uint8_t *mask, size_t i) {
    return cand[i] && (!mask || mask[i]);
}

void dnas_prime_act(int clip, const double *alpha, const uint8_t *cand, const uint8_t *mask,
                    int rows, int cols, double *a) {
    for (int r = 0; r < rows; r++) {
        size_t b = (size_t)r * cols;
        if (clip) {
            for (int k = 0; k < cols; k++)
                a[b + k] = live_at(cand, mask, b + k) ? fmin(fmax(alpha[b + k], 0.0), 1.0) : 0.0;
            continue;
        }
        double mx = -INFINITY, sum = 0.0;
        for (int k = 0; k < cols; k++)
            if (live_at(cand, mask, b + k) && alpha[b + k] > mx) mx = alpha[b + k];
        for (int k = 0; k < cols; k++)
            sum += a[b + k] = live_at(cand, mask, b + k) ? exp(alpha[b + k] - mx) : 0.0;
        for (int k = 0; k < cols; k++) a[b + k] = sum > 0 ? a[b + k] / sum : 0.0;
    }
}

void dnas_prime_act_backward(int clip, const double *alpha, const double *a, const double *da,
                             const uint8_t *cand, const uint8_t *mask, int rows, int cols,
                             double *galpha) {
    for (int r = 0; r < rows; r++) {
        size_t b = (size_t)r * cols;
        if (clip) {
            for (int k = 0; k < cols; k++) {
                size_t i = b + k;
                if (live_at(cand, mask, i) && alpha[i] >= 0.0 && alpha[i] <= 1.0) galpha[i] += da[i];
            }
            continue;
        }
        double dot = 0.0;
        for (int k = 0; k < cols; k++)
            if (live_at(cand, mask, b + k)) dot += a[b + k] * da[b + k];
        for (int k = 0; k < cols; k++)
            if (live_at(cand, mask, b + k)) galpha[b + k] += a[b + k] * (da[b + k] - dot);
    }
}

dnas_status dnas_prime_project(const dnas_space *sp, const uint8_t *cand, const double *w,
                               double *z) {
    size_t n = (size_t)sp->groups * sp->rows * sp->cols;
    if (n > DNAS_MAX_ARCH)
        return dnas_fail(DNAS_ERR_INTERNAL, "%s: %zu architecture weights exceed %d", sp->name, n,
                         DNAS_MAX_ARCH);
    float wf[DNAS_MAX_ARCH], oh[DNAS_MAX_ARCH];
    char text[DNAS_GENOTYPE_MAX];
    for (size_t i = 0; i < n; i++) wf[i] = (float)w[i];
    /* The genotype round trip is the space's own rule, so D is exactly what a search derives. */
    DNAS_TRY(sp->derive(wf, cand, text, sizeof text));
    DNAS_TRY(sp->parse(text, oh));
    for (size_t i = 0; i < n; i++) z[i] = oh[i];
    return DNAS_OK;
}

dnas_status dnas_prime_penalty(const dnas_prime_pen *p, const double *alpha, double *value,
                               double *galpha) {
    const dnas_space *sp = p->space;
    int rows = sp->groups * sp->rows, cols = sp->cols;
    size_t n = (size_t)rows * cols, per = (size_t)sp->rows * cols;
    *value = 0.0;
    if (p->reg == DNAS_PRIME_REG_NONE) return DNAS_OK;
    if (n > DNAS_MAX_ARCH)
        return dnas_fail(DNAS_ERR_INTERNAL, "%s: %zu architecture weights exceed %d", sp->name, n,
                         DNAS_MAX_ARCH);
    double a[DNAS_MAX_ARCH], r[DNAS_MAX_ARCH], da[DNAS_MAX_ARCH];
    dnas_prime_act(p->clip, alpha, p->cand, p->mask, rows, cols, a);
    if (p->reg == DNAS_PRIME_REG_PROX) {
        DNAS_TRY(dnas_prime_project(sp, p->cand, a, r)); /* D(a), detached */
        for (size_t i = 0; i < n; i++) r[i] = p->cand[i] ? a[i] - r[i] : 0.0;
    } else {
        for (size_t i = 0; i < n; i++)
            r[i] = live_at(p->cand, p->mask, i) ? a[i] - p->z[i] + p->u[i] : 0.0;
    }
    int squared = p->reg == DNAS_PRIME_REG_ADMM && p->clean;
    for (int g = 0; g < sp->groups; g++) {
        const double *rg = r + g * per;
        double ss = 0.0;
        for (size_t i = 0; i < per; i++) ss += rg[i] * rg[i];
        double norm = sqrt(ss);
        *value += p->scale * (squared ? ss : norm);
        /* d||r||/dr = r/||r|| (0 at r = 0: a subgradient); d||r||^2/dr = 2r */
        double coef = squared ? 2.0 * p->scale : norm > 0 ? p->scale / norm : 0.0;
        for (size_t i = 0; i < per; i++) da[g * per + i] = coef * rg[i];
    }
    if (galpha) dnas_prime_act_backward(p->clip, alpha, a, da, p->cand, p->mask, rows, cols, galpha);
    return DNAS_OK;
}

dnas_status dnas_prime_admm_update(const dnas_prime_pen *p, const double *alpha, double *z,
                                   double *u, double *tmp) {
    const dnas_space *sp = p->space;
    int rows = sp->groups * sp->rows, cols = sp->cols;
    size_t n = (size_t)rows * cols;
    double a[DNAS_MAX_ARCH];
    if (n > DNAS_MAX_ARCH)
        return dnas_fail(DNAS_ERR_INTERNAL, "%s: %zu architecture weights exceed %d", sp->name, n,
                         DNAS_MAX_ARCH);
    if (!p->clean) {
        /* The reference: the activation after adding U, and the dual in raw alpha units. */
        for (size_t i = 0; i < n; i++) tmp[i] = alpha[i] + u[i];
        dnas_prime_act(p->clip, tmp, p->cand, p->mask, rows, cols, a);
        DNAS_TRY(dnas_prime_project(sp, p->cand, a, z));
        for (size_t i = 0; i < n; i++)
            if (live_at(p->cand, p->mask, i)) u[i] += alpha[i] - z[i];
        return DNAS_OK;
    }
    dnas_prime_act(p->clip, alpha, p->cand, p->mask, rows, cols, a);
    /* A pruned op keeps the U it built while live (its update skips it), so it must not be
     * projectable: Z on a pruned op would pull the live ones towards an op that cannot run. */
    for (size_t i = 0; i < n; i++) tmp[i] = live_at(p->cand, p->mask, i) ? a[i] + u[i] : -INFINITY;
    DNAS_TRY(dnas_prime_project(sp, p->cand, tmp, z));
    for (size_t i = 0; i < n; i++)
        if (live_at(p->cand, p->mask, i)) u[i] += a[i] - z[i];
    return DNAS_OK;
}

int dnas_prime_admm_due(int clean, int freq, long *count) {
    long period = clean ? freq : freq - 1;
    if (period < 1) period = 1;
    if (++*count < period) return 0;
    *count = 0;
    return 1;
}

/* ---- the strategy --------------------------------------------------------------------------- */
typedef struct {
    int clip, reg, clean;
    int spe;                  /* iterations per epoch (the clock's unit) */
    uint8_t *cand;            /* the search's candidates (clip: the supernet's without 'none') */
    uint8_t *mask;            /* 1 live, 0 pruned (clip) */
    uint8_t *live;            /* prune scratch, n_vals */
    double *ad, *gd, *z, *u, *tmp; /* n_alpha each */
    dnas_prime_sched sched;
    double clock;             /* fractional epochs elapsed, += 1/spe at each iteration's start */
    double fi;                /* the last weight step's FI */
    double pen;               /* the last alpha step's regulariser value */
    long alpha_steps, admm_count, admm_updates;
    long ep_iters, ep_steps;  /* this epoch's iterations and alpha steps (the epoch log line) */
    int stepped, admm_pending; /* within one iteration only */
} prime_priv;

static int n_rows(const dnas_search *s) { return s->space->groups * s->space->rows; }

/* Iterations per epoch as the run loop will make them: dnas_search_load_data's split (each
 * stratified half is data_n/2 for CIFAR's balanced classes, capped by --train-images; both
 * halves single-level) in batches, the last one partial. The strategy is not told the loader's
 * count, so this mirrors it; data_n is 0 only outside the run loop (tests, benchmarks). */
static int steps_per_epoch(const dnas_search_config *c) {
    long half = c->data_n > 0 ? c->data_n / 2 : 25000;
    long n = half;
    if (c->train_images > 0 && n > c->train_images) n = c->train_images;
    if (c->single_level) n *= 2;
    if (c->dyno_split) {
        long alpha_n;
        dnas_prime_dyno_sizes(2 * n, c->sched_freq, &n, &alpha_n);
    }
    long spe = (n + c->batch - 1) / c->batch;
    return spe > 0 ? (int)spe : 1;
}

static dnas_prime_pen pen_of(const dnas_search *s, const prime_priv *p) {
    double rho = s->cfg.prime_rho, scale = rho / 2.0;
    if (p->reg == DNAS_PRIME_REG_PROX) scale *= p->clock / (double)s->cfg.epochs; /* t/T ramp */
    return (dnas_prime_pen){s->space, p->cand, p->mask, p->clip, p->reg, p->clean, scale,
                            p->z, p->u};
}

static void prime_destroy(dnas_search *s) {
    prime_priv *p = s->priv;
    if (s->net) s->cand = s->net->cand;
    if (s->g) dnas_graph_unprune(s->g);
    if (!p) return;
    dnas_free(p->cand);
    dnas_free(p->mask);
    dnas_free(p->live);
    dnas_free(p->ad);
    dnas_free(p->gd);
    dnas_free(p->z);
    dnas_free(p->u);
    dnas_free(p->tmp);
    dnas_free(p);
    s->priv = NULL;
}

static dnas_status prime_init(dnas_search *s) {
    const dnas_search_config *c = &s->cfg;
    if (s->n_alpha > DNAS_MAX_ARCH || (size_t)n_rows(s) * s->space->cols != s->n_alpha)
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "--algo prime: the %s supernet's mixing weights "
                         "are not one alpha block of at most %d", s->space->name, DNAS_MAX_ARCH);
    prime_priv *p = dnas_calloc(sizeof *p, "DARTS-PRIME state");
    if (!p) return DNAS_ERR_OOM;
    s->priv = p;
    size_t n = s->n_alpha;
    p->clip = is(c->prime_act, "clip");
    p->reg = is(c->prime_reg, "prox") ? DNAS_PRIME_REG_PROX
           : is(c->prime_reg, "admm") ? DNAS_PRIME_REG_ADMM : DNAS_PRIME_REG_NONE;
    p->clean = is(c->admm_mode, "clean");
    p->spe = steps_per_epoch(c);
    p->cand = dnas_alloc(n, "DARTS-PRIME candidates");
    p->mask = dnas_alloc(n, "DARTS-PRIME op mask");
    p->live = dnas_alloc((size_t)s->g->n_vals, "DARTS-PRIME prune scratch");
    p->ad = dnas_calloc(n * sizeof(double), "DARTS-PRIME alpha copy");
    p->gd = dnas_calloc(n * sizeof(double), "DARTS-PRIME penalty gradient");
    p->z = dnas_calloc(n * sizeof(double), "DARTS-PRIME ADMM Z");
    p->u = dnas_calloc(n * sizeof(double), "DARTS-PRIME ADMM U");
    p->tmp = dnas_calloc(n * sizeof(double), "DARTS-PRIME scratch");
    if (!p->cand || !p->mask || !p->live || !p->ad || !p->gd || !p->z || !p->u || !p->tmp)
        return DNAS_ERR_OOM;
    int cols = s->space->cols;
    memcpy(p->cand, s->cand, n);
    if (p->clip) {
        /* CRB drops 'none': with no normalisation it would only be a weight nobody reads. The
         * graph never builds 'none' (zero output), so only the candidate set changes. */
        for (int k = 0; k < cols; k++)
            if (is(s->space->ops[k], "none"))
                for (int r = 0; r < n_rows(s); r++) p->cand[r * cols + k] = 0;
        for (int r = 0; r < n_rows(s); r++) {
            int m = 0;
            for (int k = 0; k < cols; k++) m += p->cand[r * cols + k];
            if (!m)
                return dnas_fail(DNAS_ERR_INVALID_ARG, "--prime-act clip: row %d of the %s space "
                                 "has no candidate besides 'none' (--ops %s)", r, s->space->name,
                                 c->ops[0] ? c->ops : "all");
        }
    }
    s->cand = p->cand;
    for (size_t i = 0; i < n; i++) p->mask[i] = p->cand[i];
    if (p->clip) {
        /* alpha = 1/|O| + 1e-4 N(0,1) on each row's candidates (the same normal draws as the
         * 1e-3 N(0,1) of the softmax init). */
        dnas_rng r = dnas_rng_make(c->seed, 0xA1FA);
        for (int row = 0; row < n_rows(s); row++) {
            int m = 0;
            for (int k = 0; k < cols; k++) m += p->cand[row * cols + k];
            for (int k = 0; k < cols; k++) {
                size_t i = (size_t)row * cols + k;
                float e = 1e-4f * dnas_rng_normal(&r);
                s->alpha[i] = p->cand[i] ? 1.0f / (float)m + e : 0.0f;
            }
        }
    }
    dnas_prime_sched_init(&p->sched, c->dyno_schedule, c->sched_freq, c->sched_tau0,
                          c->sched_mult, c->sched_ewma);
    if (p->reg == DNAS_PRIME_REG_ADMM) {
        for (size_t i = 0; i < n; i++) p->ad[i] = s->alpha[i];
        if (!p->clean) {
            memcpy(p->z, p->ad, n * sizeof(double)); /* the reference: Z = alpha, raw */
        } else {
            /* Textbook: start from a feasible Z, the projection of the initial weights. */
            dnas_prime_act(p->clip, p->ad, p->cand, p->mask, n_rows(s), cols, p->tmp);
            DNAS_TRY(dnas_prime_project(s->space, p->cand, p->tmp, p->z));
        }
    }
    return DNAS_OK;
}

/* clip(alpha, 0, 1) on live candidates; softmax otherwise. */
static void prime_weights(const dnas_search *s, float *out) {
    const prime_priv *p = s->priv;
    if (!p->clip) {
        dnas_weights_softmax(s, out);
        return;
    }
    for (size_t i = 0; i < s->n_alpha; i++)
        out[i] = p->cand[i] && p->mask[i] ? fminf(fmaxf(s->alpha[i], 0.0f), 1.0f) : 0.0f;
}

static void prime_mix(dnas_search *s) {
    prime_priv *p = s->priv;
    prime_weights(s, s->g->mix);
    if (!p->clip) return;
    /* A decided row (selection) is made one-hot after mix; do it here too, before the prune
     * pass, or its op could be switched off. */
    int cols = s->space->cols;
    for (int r = 0; s->fixed && r < n_rows(s); r++) {
        if (s->fixed[r] < 0) continue;
        memset(s->g->mix + r * cols, 0, (size_t)cols * sizeof(float));
        s->g->mix[r * cols + s->fixed[r]] = 1.0f;
    }
    /* Pruned ops (weight exactly 0) run neither forward nor backward. */
    dnas_graph_prune(s->g, p->live);
}

static void prime_mix_backward(dnas_search *s) {
    const prime_priv *p = s->priv;
    if (!p->clip) {
        dnas_mix_softmax_backward(s);
        return;
    }
    for (size_t i = 0; i < s->n_alpha; i++) {
        float a = s->alpha[i];
        s->galpha[i] = p->cand[i] && p->mask[i] && a >= 0.0f && a <= 1.0f ? s->g->gmix[i] : 0.0f;
    }
}

static void zero_pruned(dnas_search *s, const prime_priv *p) {
    for (size_t i = 0; i < s->n_alpha; i++)
        if (!p->mask[i]) s->alpha[i] = 0.0f;
}

static dnas_status prime_arch_step(dnas_search *s, const dnas_data_batch *train,
                                   const dnas_data_batch *valid) {
    (void)train;
    prime_priv *p = s->priv;
    p->clock += 1.0 / p->spe;
    p->ep_iters++;
    p->stepped = dnas_prime_sched_decide(&p->sched, s->step);
    if (!p->stepped) return DNAS_OK;
    DNAS_TRY(dnas_search_fwd_bwd(s, valid, DNAS_WANT_ARCH, &s->valid_m));
    dnas_search_mix_backward(s);
    if (p->reg != DNAS_PRIME_REG_NONE) {
        size_t n = s->n_alpha;
        for (size_t i = 0; i < n; i++) {
            p->ad[i] = s->alpha[i];
            p->gd[i] = 0.0;
        }
        dnas_prime_pen pen = pen_of(s, p);
        DNAS_TRY(dnas_prime_penalty(&pen, p->ad, &p->pen, p->gd));
        int cols = s->space->cols;
        for (size_t i = 0; i < n; i++)
            if (p->cand[i] && !(s->fixed && s->fixed[i / (size_t)cols] >= 0))
                s->galpha[i] += (float)p->gd[i];
    }
    dnas_search_adam_alpha(s);
    if (p->clip) zero_pruned(s, p); /* Adam's momentum would move a pruned alpha off 0 */
    p->alpha_steps++;
    p->ep_steps++;
    if (p->reg == DNAS_PRIME_REG_ADMM && dnas_prime_admm_due(p->clean, s->cfg.admm_freq, &p->admm_count))
        p->admm_pending = 1;
    return DNAS_OK;
}

static dnas_status prime_weight_step(dnas_search *s, const dnas_data_batch *train) {
    prime_priv *p = s->priv;
    dnas_graph *g = s->g;
    DNAS_TRY(dnas_search_fwd_bwd(s, train, DNAS_WANT_WEIGHTS, &s->train_m));
    /* FI over every weight (stem, classifier, BN included), before clipping: the reference. */
    p->fi = dnas_sumsq(g->gw, g->n_weights);
    dnas_prime_sched_observe(&p->sched, p->fi);
    if (s->cfg.grad_clip > 0)
        s->last_grad_norm = dnas_clip_grad_norm(g->gw, g->n_weights, s->cfg.grad_clip);
    s->wopt.lr = s->lr;
    dnas_sgd_step(&s->wopt, g->w, g->gw);
    if (p->clip) {
        for (size_t i = 0; i < s->n_alpha; i++)
            if (p->mask[i] && !(s->alpha[i] > 0.0f)) {
                p->mask[i] = 0;
                s->alpha[i] = 0.0f;
            }
    }
    if (p->admm_pending) {
        p->admm_pending = 0;
        for (size_t i = 0; i < s->n_alpha; i++) p->ad[i] = s->alpha[i];
        dnas_prime_pen pen = pen_of(s, p);
        DNAS_TRY(dnas_prime_admm_update(&pen, p->ad, p->z, p->u, p->tmp));
        p->admm_updates++;
    }
    p->stepped = 0;
    return DNAS_OK;
}

int dnas_prime_pruned(const dnas_search *s) {
    if (s->strat != &dnas_strategy_prime || !s->priv) return 0;
    const prime_priv *p = s->priv;
    int n = 0;
    for (size_t i = 0; i < s->n_alpha; i++) n += p->cand[i] && !p->mask[i];
    return n;
}

long dnas_prime_alpha_steps(const dnas_search *s) {
    if (s->strat != &dnas_strategy_prime || !s->priv) return 0;
    return ((const prime_priv *)s->priv)->alpha_steps;
}

/* The epoch's line of log.jsonl: schedule, pruning and the constraint's distance, so the
 * ablation's curves need no other file ({"kind": "prime"}). */
static void prime_epoch_end(dnas_search *s) {
    prime_priv *p = s->priv;
    int rows = n_rows(s), cols = s->space->cols, live = 0, pruned = dnas_prime_pruned(s);
    size_t n = s->n_alpha;
    for (size_t i = 0; i < n; i++) {
        live += p->cand[i] != 0;
        p->ad[i] = s->alpha[i];
    }
    /* ||a - D(a)|| (distance to the discrete set) and, for ADMM, ||(a - Z) . M||. */
    double *a = p->gd, dist = NAN, resid = 0.0;
    dnas_prime_act(p->clip, p->ad, p->cand, p->mask, rows, cols, a);
    if (dnas_prime_project(s->space, p->cand, a, p->tmp) == DNAS_OK) {
        dist = 0.0;
        for (size_t i = 0; i < n; i++) dist += (a[i] - p->tmp[i]) * (a[i] - p->tmp[i]);
        dist = sqrt(dist);
    }
    for (size_t i = 0; i < n; i++)
        if (p->cand[i] && p->mask[i]) resid += (a[i] - p->z[i]) * (a[i] - p->z[i]);
    char line[768];
    snprintf(line, sizeof line, "{\"kind\": \"prime\", \"epoch\": %d, \"iters\": %ld, "
             "\"alpha_steps\": %ld, \"alpha_step_frac\": %.6f, \"alpha_steps_total\": %ld, "
             "\"tau\": %.6g, \"fi_ewma\": %.6g, \"fi\": %.6g, \"pruned\": %d, \"candidates\": %d, "
             "\"penalty\": %.6g, \"dist_discrete\": %.6g, \"admm_residual\": %.6g, "
             "\"admm_updates\": %ld, \"clock\": %.6f}",
             s->epoch, p->ep_iters, p->ep_steps,
             p->ep_iters ? (double)p->ep_steps / (double)p->ep_iters : 0.0, p->alpha_steps,
             p->sched.tau, p->sched.E, p->fi, pruned, live, p->pen, dist,
             p->reg == DNAS_PRIME_REG_ADMM ? sqrt(resid) : 0.0, p->admm_updates, p->clock);
    if (s->cfg.out_dir[0]) {
        char path[600];
        snprintf(path, sizeof path, "%s/log.jsonl", s->cfg.out_dir);
        if (dnas_append_line(path, line) != DNAS_OK)
            dnas_log(DNAS_LOG_WARNING, "warning: %s", dnas_last_error());
        dnas_log(DNAS_LOG_INFO, "  prime: %ld alpha steps of %ld iterations, %d of %d ops pruned",
                 p->ep_steps, p->ep_iters, pruned, live);
    }
    p->ep_iters = p->ep_steps = 0;
}

/* ---- checkpoint ----------------------------------------------------------------------------- */
dnas_status dnas_prime_ckpt_put(dnas_search *s, struct dnas_ckpt_writer *w) {
    if (s->strat != &dnas_strategy_prime) return DNAS_OK;
    const prime_priv *p = s->priv;
    size_t n = s->n_alpha;
    double st[5] = {p->sched.E, p->sched.tau, p->clock, p->fi, p->pen};
    uint64_t ct[5] = {(uint64_t)p->alpha_steps, (uint64_t)p->admm_count, (uint64_t)p->ep_iters,
                      (uint64_t)p->ep_steps, (uint64_t)p->admm_updates};
    DNAS_TRY(dnas_ckpt_put(w, "prime.state", st, sizeof st));
    DNAS_TRY(dnas_ckpt_put(w, "prime.counters", ct, sizeof ct));
    DNAS_TRY(dnas_ckpt_put(w, "prime.mask", p->mask, n));
    DNAS_TRY(dnas_ckpt_put(w, "prime.z", p->z, n * sizeof(double)));
    return dnas_ckpt_put(w, "prime.u", p->u, n * sizeof(double));
}

dnas_status dnas_prime_ckpt_get(dnas_search *s, const struct dnas_ckpt *ck, const char *path) {
    if (s->strat != &dnas_strategy_prime) return DNAS_OK;
    prime_priv *p = s->priv;
    size_t n = s->n_alpha;
    double st[5];
    uint64_t ct[5];
    DNAS_TRY(dnas_ckpt_get(ck, "prime.state", st, sizeof st));
    DNAS_TRY(dnas_ckpt_get(ck, "prime.counters", ct, sizeof ct));
    DNAS_TRY(dnas_ckpt_get(ck, "prime.mask", p->mask, n));
    DNAS_TRY(dnas_ckpt_get(ck, "prime.z", p->z, n * sizeof(double)));
    DNAS_TRY(dnas_ckpt_get(ck, "prime.u", p->u, n * sizeof(double)));
    int ok = isfinite(st[0]) && st[1] > 0 && isfinite(st[1]) && st[2] >= 0 && isfinite(st[2]);
    for (int i = 0; i < 5; i++) ok = ok && ct[i] < (1ull << 40);
    for (size_t i = 0; i < n; i++)
        ok = ok && (p->mask[i] == 0 || (p->mask[i] == 1 && p->cand[i])) && isfinite(p->z[i]) &&
             isfinite(p->u[i]);
    if (!ok) return dnas_fail(DNAS_ERR_FORMAT, "%s: impossible DARTS-PRIME state", path);
    p->sched.E = st[0];
    p->sched.tau = st[1];
    p->clock = st[2];
    p->fi = st[3];
    p->pen = st[4];
    p->alpha_steps = (long)ct[0];
    p->admm_count = (long)ct[1];
    p->ep_iters = (long)ct[2];
    p->ep_steps = (long)ct[3];
    p->admm_updates = (long)ct[4];
    return DNAS_OK;
}

/* The alpha step (when the schedule says so) precedes the weight step (§B(b)). */
const dnas_strategy dnas_strategy_prime = {
    "prime", 1, prime_init, prime_destroy, prime_mix, prime_mix_backward, prime_weights,
    prime_weight_step, prime_arch_step, prime_epoch_end};
