/* Monotonic wall clock for timings (step times, per-op profiles, benchmarks). */
#ifndef DNAS_CORE_CLOCK_H
#define DNAS_CORE_CLOCK_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC): only differences mean anything. */
double dnas_now_s(void);

#endif
