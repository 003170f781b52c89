#include "optim.h"
#include <math.h>

float dnas_cosine_lr(float lr0, float eta_min, int epoch, int epochs) {
    if (epochs <= 0) return lr0;
    return eta_min + (lr0 - eta_min) * (1.0f + (float)cos(M_PI * epoch / epochs)) / 2.0f;
}
