/* The registry of search strategies, and the no-op hooks strategies share. */
#include "search.h"
#include <string.h>

static const dnas_strategy *const strategies[] = {&dnas_strategy_darts1, &dnas_strategy_darts2, &dnas_strategy_pcdarts,
                                                  &dnas_strategy_idarts, &dnas_strategy_gaea,
                                                  &dnas_strategy_fairdarts, &dnas_strategy_drnas,
                                                  &dnas_strategy_snas, &dnas_strategy_gdas,
                                                  &dnas_strategy_rdarts, &dnas_strategy_gaea_pcdarts,
                                                  &dnas_strategy_gaea_gdas, &dnas_strategy_prime};
#define N_STRATEGIES (int)(sizeof strategies / sizeof strategies[0])

const char *dnas_strategy_names(void) { return "darts1, darts2, pcdarts, idarts, gaea, fairdarts, drnas, snas, gdas, rdarts, gaea-pcdarts, gaea-gdas, prime"; }

const dnas_strategy *dnas_strategy_find(const char *algo) {
    for (int i = 0; i < N_STRATEGIES; i++)
        if (algo && strcmp(algo, strategies[i]->name) == 0) return strategies[i];
    dnas_fail(DNAS_ERR_INVALID_ARG, "--algo: unknown search method '%s' (known: %s)",
              algo ? algo : "", dnas_strategy_names());
    return NULL;
}

dnas_status dnas_strategy_no_init(dnas_search *s) {
    (void)s;
    return DNAS_OK;
}
void dnas_strategy_no_destroy(dnas_search *s) { (void)s; }
void dnas_strategy_no_epoch_end(dnas_search *s) { (void)s; }
