/* NetworkCIFAR of a DARTS genotype (ALGORITHMS.md §A3). Placeholder until it is written. */
#include "darts.h"

dnas_status dnas_darts_build_net(dnas_graph *g, const dnas_net_config *c, const char *genotype) {
    (void)g; (void)c; (void)genotype;
    return dnas_fail(DNAS_ERR_UNSUPPORTED, "the DARTS evaluation network is not built yet");
}
