/* The search loop as a handle (run.c). dnas_search_run is open + steps to the end + finish +
 * close, and the public session API (src/api/session.c) makes the same calls one step or
 * epoch at a time, so a search driven either way is bit-identical for the same seed and
 * thread count. */
#ifndef DNAS_SEARCH_RUN_H
#define DNAS_SEARCH_RUN_H
#include "search.h"

typedef struct dnas_run dnas_run;

/* A new search in c->out_dir (created as dnas_search_run creates it: config.json and the
 * initial checkpoint), or with c->resume = 1 the one there, continued from its checkpoint with
 * the settings dnas_search_run takes from c. Holds the run directory's lock until close. */
dnas_status dnas_run_open(const dnas_search_config *c, dnas_run **out);
/* Up to n steps (n < 0: to the end of the search), each followed by what the loop does after
 * a step: log lines, the end of an epoch (alphas.jsonl, genotype.txt, eigenvalue, RobustDARTS'
 * stop or roll back, checkpoint), periodic checkpoints, and a requested stop (c->stop,
 * dnas_run_interrupt, --max-steps: checkpoint and DNAS_ERR_INTERRUPTED). Returns early, OK,
 * when the search ends. After any other error the handle only closes (resume from the
 * checkpoint). */
dnas_status dnas_run_steps(dnas_run *r, long n);
/* Asks the running (or next) step call to stop after its current step; callable from another
 * thread or a signal handler. */
void dnas_run_interrupt(dnas_run *r);
/* A checkpoint of the state now (with the logs it vouches for flushed). */
dnas_status dnas_run_checkpoint(dnas_run *r);
/* The end of a finished search: the result, "search done", the benchmark lookup and its
 * result line. A second call returns the same result without writing again. */
dnas_status dnas_run_finish(dnas_run *r, dnas_search_result *res);
/* Releases the run directory's lock early (after finish, before a selection that takes it). */
void dnas_run_unlock(dnas_run *r);
void dnas_run_close(dnas_run *r);

dnas_search *dnas_run_search(dnas_run *r);
const dnas_search_config *dnas_run_config(const dnas_run *r);
int dnas_run_steps_per_epoch(const dnas_run *r);
const char *dnas_run_dir(const dnas_run *r);

#endif
