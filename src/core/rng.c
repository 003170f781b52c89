#include "rng.h"
#include <math.h>

void dnas_philox(uint64_t key, uint64_t counter, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint32_t dnas_rng_u32(dnas_rng *r) {
    uint32_t o[4];
    dnas_philox(r->key, r->counter++, o);
    return o[0];
}

float dnas_rng_uniform(dnas_rng *r) { return (float)(dnas_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float dnas_rng_normal(dnas_rng *r) {
    uint32_t o[4];
    dnas_philox(r->key, r->counter++, o);
    /* u1 in (0,1] so log never sees 0 */
    double u1 = ((double)(o[0] >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(o[1] >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t dnas_rng_below(dnas_rng *r, uint32_t n) {
    /* Lemire's multiply-shift; the tiny bias (< n / 2^32) is irrelevant at our sizes. */
    return (uint32_t)(((uint64_t)dnas_rng_u32(r) * n) >> 32);
}
