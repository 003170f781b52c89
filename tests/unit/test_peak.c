/* `dnas bench peak` measures the machine, not the build: the widest FMA the CPU runs (AVX-512
 * where it has it, detected at run time), and the build's own width on request. Timings are
 * not asserted (speed lives in bench/); what is checked is which loop runs and the refusals. */
#include "test.h"
#include "dnas.h"

static int cpu_has_avx512(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

static void test_isa_choice(void) {
    const char *best = dnas_bench_peak_isa(), *build = dnas_cpu_simd();
    CHECK(!strcmp(build, "avx2") || !strcmp(build, "portable"), "build ISA '%s'", build);
    CHECK(!strcmp(best, cpu_has_avx512() ? "avx512" : build), "best ISA '%s' (cpu avx512 %d, build %s)",
          best, cpu_has_avx512(), build);
    double g = 0;
    int used = 0;
    CHECK(dnas_bench_peak_for(1, 0.03, build, &g, &used) == DNAS_OK && g > 0 && used == 1,
          "build-ISA peak: %s (%g GFLOP/s)", dnas_last_error(), g);
    dnas_status st = dnas_bench_peak_for(1, 0.03, "avx512", &g, &used);
    CHECK(cpu_has_avx512() ? st == DNAS_OK && g > 0 : st == DNAS_ERR_UNSUPPORTED,
          "avx512 peak on a CPU %s it: status %d", cpu_has_avx512() ? "with" : "without", (int)st);
}

static void test_refusals(void) {
    double g = 0;
    int used = 0;
    CHECK(dnas_bench_peak_for(1, 0.03, "sse9", &g, &used) == DNAS_ERR_INVALID_ARG &&
              strstr(dnas_last_error(), "sse9"),
          "unknown ISA accepted: %s", dnas_last_error());
    CHECK(dnas_bench_peak_for(0, 0.03, NULL, &g, &used) == DNAS_ERR_INVALID_ARG, "0 threads accepted");
    CHECK(dnas_bench_peak(1, 0.0, &g, &used) == DNAS_ERR_INVALID_ARG, "0 seconds accepted");
}

int main(void) {
    RUN(test_isa_choice);
    RUN(test_refusals);
    TEST_EXIT();
}
