/* Per-column op costs of a search space (SNAS' resource constraint, ALGORITHMS.md §B5): for
 * every (group, row, column), the cost of that candidate op summed over all the supernet's
 * cells that share the row's architecture weight, at each cell's channels and resolution.
 * FLOPs count 2 per multiply-add (pools: one per window element), in millions per image;
 * params count conv weights in millions (BN and pools have none that matter here). */
#include "space.h"
#include "darts.h"
#include <string.h>

/* Cost of one op on C channels with an output of hw positions; stride 2 only matters for the
 * identity, which becomes DARTS' FactorizedReduce (two 1x1 convs C -> C/2). */
static double op_cost(const char *op, double C, double hw, int stride, int kind) {
    double macs = 0.0, params = 0.0;
    if (strcmp(op, "nor_conv_1x1") == 0) macs = C * C * hw, params = C * C;
    else if (strcmp(op, "nor_conv_3x3") == 0) macs = 9 * C * C * hw, params = 9 * C * C;
    else if (strstr(op, "pool_3x3")) macs = 9 * C * hw / 2.0;
    else if (strcmp(op, "skip_connect") == 0 && stride == 2) macs = C * C * hw, params = C * C;
    else if (strcmp(op, "sep_conv_3x3") == 0) macs = 2 * (9 * C + C * C) * hw, params = 2 * (9 * C + C * C);
    else if (strcmp(op, "sep_conv_5x5") == 0) macs = 2 * (25 * C + C * C) * hw, params = 2 * (25 * C + C * C);
    else if (strcmp(op, "dil_conv_3x3") == 0) macs = (9 * C + C * C) * hw, params = 9 * C + C * C;
    else if (strcmp(op, "dil_conv_5x5") == 0) macs = (25 * C + C * C) * hw, params = 25 * C + C * C;
    /* none, skip_connect (stride 1), noise: free */
    return kind == DNAS_COST_PARAMS ? params * 1e-6 : 2.0 * macs * 1e-6;
}

dnas_status dnas_space_costs(const dnas_space *sp, const dnas_supernet_config *c, int kind,
                             float *cost) {
    if (kind != DNAS_COST_FLOPS && kind != DNAS_COST_PARAMS)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "op cost kind %d (known: flops, params)", kind);
    int rows = sp->rows, cols = sp->cols, n = sp->groups * rows * cols;
    double acc[DNAS_MAX_ARCH];
    if (n > DNAS_MAX_ARCH) return dnas_fail(DNAS_ERR_INTERNAL, "space %s too large", sp->name);
    memset(acc, 0, sizeof acc);
    if (strcmp(sp->name, "nb201") == 0) {
        int N = c->cells ? c->cells : 5;
        for (int stage = 0; stage < 3; stage++) {
            double C = (double)(c->channels << stage), hw = (double)(c->image >> stage);
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < cols; k++)
                    acc[r * cols + k] += N * op_cost(sp->ops[k], C, hw * hw, 1, kind);
        }
    } else if (strcmp(sp->name, "darts") == 0) {
        int L = c->cells ? c->cells : 8;
        double C = c->channels, H = c->image;
        for (int l = 0; l < L; l++) {
            int red = l == L / 3 || l == 2 * L / 3;
            if (red) C *= 2, H /= 2;
            for (int i = 0; i < DNAS_DARTS_NODES; i++)
                for (int j = 0; j <= i + 1; j++) {
                    int r = red * rows + dnas_darts_edge(i, j), stride = red && j < 2 ? 2 : 1;
                    for (int k = 0; k < cols; k++)
                        acc[r * cols + k] += op_cost(sp->ops[k], C, H * H, stride, kind);
                }
        }
    } else {
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "space %s has no op cost table (SNAS' "
                         "--resource-lambda needs one; set it to 0)", sp->name);
    }
    for (int i = 0; i < n; i++) cost[i] = (float)acc[i];
    return DNAS_OK;
}
