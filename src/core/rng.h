/* Philox4x32-10 counter-based RNG (Salmon et al., SC'11). A stream is (key, counter): every
 * draw is a pure function of them, so a checkpoint stores two integers and a resumed run draws
 * exactly the same numbers, and parallel code can draw by index without shared state. */
#ifndef DNAS_CORE_RNG_H
#define DNAS_CORE_RNG_H
#include <stdint.h>

typedef struct {
    uint64_t key;
    uint64_t counter;  /* advanced by one per 4x32-bit block */
} dnas_rng;

/* One Philox block: 4 random 32-bit words for (key, counter). */
void dnas_philox(uint64_t key, uint64_t counter, uint32_t out[4]);

static inline dnas_rng dnas_rng_make(uint64_t seed, uint64_t stream) {
    dnas_rng r = {seed ^ (stream * 0x9E3779B97F4A7C15ull), 0};
    return r;
}
uint32_t dnas_rng_u32(dnas_rng *r);
/* Uniform in [0,1) with 24 random bits. */
float dnas_rng_uniform(dnas_rng *r);
/* Standard normal (Box-Muller, one value per block). */
float dnas_rng_normal(dnas_rng *r);
/* Uniform integer in [0, n). */
uint32_t dnas_rng_below(dnas_rng *r, uint32_t n);

#endif
