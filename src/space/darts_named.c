/* Published DARTS-space cells by name (ALGORITHMS.md §A3): DARTS_V1 and DARTS_V2 from quark0's
 * cnn/genotypes.py, PC_DARTS from PC-DARTS's genotypes.py (PC_DARTS_cifar). Written as tables
 * rather than text so a typo in the parser can never change a published cell. */
#include "darts.h"
#include <string.h>

enum { MAX = DNAS_DARTS_MAX_POOL_3X3, AVG = DNAS_DARTS_AVG_POOL_3X3, SKIP = DNAS_DARTS_SKIP,
       SEP3 = DNAS_DARTS_SEP_CONV_3X3, SEP5 = DNAS_DARTS_SEP_CONV_5X5,
       DIL3 = DNAS_DARTS_DIL_CONV_3X3 };

typedef struct {
    const char *name;
    int op[2][DNAS_DARTS_PAIRS], in[2][DNAS_DARTS_PAIRS];
} named_cell;

static const named_cell cells[] = {
    {"DARTS_V1",
     {{SEP3, SEP3, SKIP, SEP3, SKIP, SEP3, SEP3, SKIP}, {MAX, MAX, SKIP, MAX, MAX, SKIP, SKIP, AVG}},
     {{1, 0, 0, 1, 0, 1, 0, 2}, {0, 1, 2, 0, 0, 2, 2, 0}}},
    {"DARTS_V2",
     {{SEP3, SEP3, SEP3, SEP3, SEP3, SKIP, SKIP, DIL3}, {MAX, MAX, SKIP, MAX, MAX, SKIP, SKIP, MAX}},
     {{0, 1, 0, 1, 1, 0, 0, 2}, {0, 1, 2, 1, 0, 2, 2, 1}}},
    {"PC_DARTS",
     {{SEP3, SKIP, SEP3, DIL3, SEP5, SEP3, AVG, DIL3}, {SEP5, MAX, SEP5, SEP5, SEP3, SEP3, SEP3, SEP3}},
     {{1, 0, 0, 1, 0, 1, 0, 1}, {1, 0, 1, 2, 0, 3, 1, 2}}},
};

dnas_status dnas_darts_named(const char *name, dnas_darts_genotype *g) {
    for (size_t k = 0; k < sizeof cells / sizeof cells[0]; k++) {
        if (!name || strcmp(name, cells[k].name) != 0) continue;
        memset(g, 0, sizeof *g);
        for (int t = 0; t < 2; t++) {
            memcpy(g->op[t], cells[k].op[t], sizeof g->op[t]);
            memcpy(g->in[t], cells[k].in[t], sizeof g->in[t]);
            for (int i = 0; i < DNAS_DARTS_NODES; i++) g->concat[t][i] = i + 2;
            g->n_concat[t] = DNAS_DARTS_NODES;
        }
        return DNAS_OK;
    }
    return dnas_fail(DNAS_ERR_INVALID_ARG, "unknown DARTS cell '%s' (known: DARTS_V1, DARTS_V2, "
                     "PC_DARTS)", name ? name : "(null)");
}
