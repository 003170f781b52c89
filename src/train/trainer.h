/* Training a genotype's network from scratch (dnas train): the pieces the configuration
 * (train_config.c) and the train/eval loop (trainer.c) share. */
#ifndef DNAS_TRAIN_TRAINER_H
#define DNAS_TRAIN_TRAINER_H
#include "../../include/dnas.h"
#include "../io/files.h"

/* "key=value" lines (json = 0: the checkpoint's copy) or a JSON object (config.json). */
void dnas_train_config_write(const dnas_train_config *c, dnas_sbuf *sb, int json);
/* Applies "key=value" lines (the checkpoint's copy) onto c. */
dnas_status dnas_train_config_parse(const char *text, dnas_train_config *c);
/* Ranges of every setting, the space and its network, and the genotype (parsed by the space);
 * errors name the flag. */
dnas_status dnas_train_config_check(const dnas_train_config *c);
/* *same = 1 if the genotype `given` (a --genotype value: name, file or text) describes the
 * same cell(s) in `space` as the text `stored` (their parses agree); errors name --genotype. */
dnas_status dnas_train_genotype_match(const char *space, const char *stored, const char *given,
                                      int *same);

/* ---- a run's network, for export ----------------------------------------------------------- */
/* The network of a training run, planned for `batch` images (no drop-path nodes), in eval
 * mode on request. dnas_trainer_load takes the configuration from a training checkpoint and,
 * when `weights`, its weights, BN statistics and position (else the run's fresh initialisation
 * from its seed); dnas_trainer_fresh builds c's network with fresh weights. Errors name the file. */
typedef struct dnas_trainer dnas_trainer;
dnas_status dnas_trainer_load(const char *ckpt, int batch, int threads, int weights,
                              dnas_trainer **out);
dnas_status dnas_trainer_fresh(const dnas_train_config *c, int batch, dnas_trainer **out);
const dnas_train_config *dnas_trainer_config(const dnas_trainer *t);
struct dnas_graph *dnas_trainer_graph(dnas_trainer *t);
long dnas_trainer_total_steps(const dnas_trainer *t); /* training steps taken */
int dnas_trainer_epoch(const dnas_trainer *t);        /* epochs finished */
/* Eval-mode logits (BN running statistics, no drop path, main head) of n <= batch images,
 * NHWC normalised as the loader gives them, into logits (n x classes). */
dnas_status dnas_trainer_eval_logits(dnas_trainer *t, const float *x, int n, float *logits);
void dnas_trainer_close(dnas_trainer *t);

#endif
