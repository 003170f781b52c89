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

#endif
