/* Minimal test harness: each test binary RUNs its cases; tests/run.sh counts the
 * PASS / FAIL / SKIP lines of all binaries and prints "N passed, N failed, N skipped". */
#ifndef DNAS_TEST_H
#define DNAS_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_cases, t_cur_failed, t_cur_skipped;
static char t_skip_why[256];

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("  check failed at %s:%d: ", __FILE__, __LINE__);       \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
            t_cur_failed = 1;                                              \
        }                                                                  \
    } while (0)

/* Mark the running case skipped (printed as SKIP with the reason, never as PASS). */
#define SKIP_CASE(...)                                                    \
    do {                                                                  \
        snprintf(t_skip_why, sizeof t_skip_why, __VA_ARGS__);             \
        t_cur_skipped = 1;                                                \
        return;                                                           \
    } while (0)

#define RUN(fn)                                                            \
    do {                                                                   \
        t_cur_failed = 0;                                                  \
        t_cur_skipped = 0;                                                 \
        fflush(stdout);                                                    \
        fn();                                                              \
        if (t_cur_failed) {                                                \
            printf("FAIL %s\n", #fn);                                      \
            t_failed_cases++;                                              \
        } else if (t_cur_skipped) {                                        \
            printf("SKIP %s: %s\n", #fn, t_skip_why);                      \
        } else {                                                           \
            printf("PASS %s\n", #fn);                                      \
        }                                                                  \
        fflush(stdout);                                                    \
    } while (0)

#define TEST_EXIT() return t_failed_cases ? 1 : 0

/* Data paths: $DNAS_SHARED_DATA (set by tests/run.sh) and the decoded CIFAR-10 cache. */
static inline const char *t_shared_data(void) {
    const char *d = getenv("DNAS_SHARED_DATA");
    return d ? d : "../shared/data";
}
static inline const char *t_build_dir(void) {
    const char *d = getenv("BUILD");
    return d ? d : "build";
}

/* Path of a file of the source tree (fixtures), whatever the working directory: the Makefile
 * compiles the tree's absolute path in as DNAS_SRC_DIR; $DNAS_SRC_DIR overrides it. */
#ifndef DNAS_SRC_DIR
#define DNAS_SRC_DIR "."
#endif
static inline const char *t_src_path(const char *rel) {
    static char buf[4][1024];
    static int k;
    const char *d = getenv("DNAS_SRC_DIR");
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", d && *d ? d : DNAS_SRC_DIR, rel);
    return p;
}

#endif
