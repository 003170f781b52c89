/* Alpha -> mixing-weight transforms shared by strategies. */
#include "search.h"
#include <math.h>

void dnas_mix_softmax(dnas_search *s) {
    const dnas_space_desc *sp = s->net->space;
    int rows = sp->groups * sp->rows, cols = sp->cols;
    for (int r = 0; r < rows; r++) {
        const float *a = s->alpha + r * cols;
        float *m = s->g->mix + r * cols;
        float mx = a[0];
        for (int k = 1; k < cols; k++) mx = a[k] > mx ? a[k] : mx;
        float sum = 0.0f;
        for (int k = 0; k < cols; k++) sum += m[k] = expf(a[k] - mx);
        for (int k = 0; k < cols; k++) m[k] /= sum;
    }
}

void dnas_mix_softmax_backward(dnas_search *s) {
    const dnas_space_desc *sp = s->net->space;
    int rows = sp->groups * sp->rows, cols = sp->cols;
    for (int r = 0; r < rows; r++) {
        const float *m = s->g->mix + r * cols, *gm = s->g->gmix + r * cols;
        float *ga = s->galpha + r * cols;
        float dot = 0.0f;
        for (int k = 0; k < cols; k++) dot += m[k] * gm[k];
        for (int k = 0; k < cols; k++) ga[k] = m[k] * (gm[k] - dot);
    }
}
