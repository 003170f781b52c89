/* The registry of search spaces and the helpers every space shares. */
#include "space.h"
#include "darts.h"
#include <string.h>

const dnas_space *dnas_space_find(const char *name) {
    if (name && strcmp(name, "nb201") == 0) return &dnas_space_nb201;
    if (name && strcmp(name, "darts") == 0) return &dnas_space_darts;
    dnas_fail(DNAS_ERR_INVALID_ARG, "unknown search space '%s' (known: nb201, darts)", name ? name : "");
    return NULL;
}

int dnas_space_row_argmax(const float *w, const uint8_t *cand, int cols) {
    int best = -1;
    for (int k = 0; k < cols; k++)
        if (cand[k] && (best < 0 || w[k] > w[best])) best = k;
    return best;
}

int dnas_space_count_op(const dnas_space *sp, const float *onehot, const char *op) {
    int col = -1, n = 0;
    for (int k = 0; k < sp->cols; k++)
        if (strcmp(sp->ops[k], op) == 0) col = k;
    if (col < 0) return 0;
    for (int r = 0; r < sp->groups * sp->rows; r++) n += onehot[r * sp->cols + col] > 0.5f;
    return n;
}
