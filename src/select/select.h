/* Final-architecture selection on a finished search: magnitude (the strategy's own derive
 * rule on its architecture weights) or perturbation (DARTS-PT, ALGORITHMS.md §B3).
 * Selection sits above the search layer: DARTS-PT fine-tunes the supernet between decisions
 * with the search's own steps, and only uses the space interface to name what it decides. */
#ifndef DNAS_SELECT_H
#define DNAS_SELECT_H
#include "../search/search.h"

/* DARTS-PT on a loaded search: decides one random undecided row per projection (the op whose
 * removal lowers validation accuracy most), fine-tunes between decisions, checkpoints to
 * `ckpt` after each decision and each tuning epoch, appends one JSON line per decision to
 * `log`. Resumes from `ckpt` when s already holds a selection state (s->fixed). */
dnas_status dnas_select_pt(dnas_search *s, const dnas_cifar *data, const dnas_split *sp,
                           const char *ckpt, const char *log, int progress, volatile int *stop);

/* The pieces of DARTS-PT, for tests: the selection state (fixed rows, all undecided; fresh
 * momentum), and one decision scored by `score` (accuracy of the supernet with mixing
 * weights `mix`): a random undecided row, each candidate op masked in turn (weight 0, no
 * renormalisation), the op whose removal scores lowest kept. `log` may be NULL. */
typedef dnas_status (*dnas_pt_score_fn)(void *ctx, dnas_search *s, const float *mix, double *acc);
dnas_status dnas_pt_begin(dnas_search *s);
dnas_status dnas_pt_decide(dnas_search *s, dnas_pt_score_fn score, void *ctx, const char *log,
                           int epoch);

/* Validation accuracy (%) of the supernet with mixing weights `mix`, over `n` images of
 * `idx` in batches of the planned size, BN on batch statistics, no augmentation; the BN
 * running statistics are left as they were. */
dnas_status dnas_select_accuracy(dnas_search *s, const dnas_cifar *data, const int *idx, int n,
                                 const float *mix, double *acc);

#endif
