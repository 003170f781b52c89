/* Shared pieces of the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
 *
 * The readers under test take paths, so a harness writes each input to a file in a private
 * directory under $TMPDIR (else /dev/shm when it exists, else /tmp), removed at a normal exit;
 * after a crash it stays, so tests/fuzz/smoke.sh points TMPDIR at a directory it removes.
 * A property that fails calls FZ_CHECK, which prints why and aborts: libFuzzer then saves
 * the input as a crash artifact, exactly as for a sanitizer report. */
#ifndef DNAS_FUZZ_UTIL_H
#define DNAS_FUZZ_UTIL_H
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../../include/dnas.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_dir_[256];
static char fz_names_[16][64];
static int fz_n_names_;

static inline void fz_cleanup_(void) {
    char p[400];
    for (int i = fz_n_names_ - 1; i >= 0; i--) {
        snprintf(p, sizeof p, "%s/%s", fz_dir_, fz_names_[i]);
        if (rmdir(p) != 0) unlink(p);
        snprintf(p, sizeof p, "%s/%s.tmp", fz_dir_, fz_names_[i]);
        unlink(p);
    }
    rmdir(fz_dir_);
}

#define FZ_CHECK(cond, ...)                                                        \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "FUZZ PROPERTY FAILED at %s:%d: %s: ", __FILE__,       \
                    __LINE__, #cond);                                              \
            fprintf(stderr, __VA_ARGS__);                                          \
            fprintf(stderr, "\n");                                                 \
            if (fz_dir_[0]) fz_cleanup_();                                         \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* The private directory, created on first use. */
static inline const char *fz_dir(void) {
    if (fz_dir_[0]) return fz_dir_;
    const char *base = getenv("TMPDIR");
    struct stat sb;
    if ((!base || !*base) && stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    if (!base || !*base) base = "/tmp";
    snprintf(fz_dir_, sizeof fz_dir_, "%s/dnas-fuzz-XXXXXX", base);
    if (!mkdtemp(fz_dir_)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fz_cleanup_);
    return fz_dir_;
}

/* "<dir>/<name>" in `buf`; the name is remembered for the cleanup (a sub-directory must be
 * registered before the files in it). */
static inline const char *fz_path(char *buf, size_t cap, const char *name) {
    int known = 0;
    for (int i = 0; i < fz_n_names_; i++) known |= strcmp(fz_names_[i], name) == 0;
    if (!known && fz_n_names_ < 16) snprintf(fz_names_[fz_n_names_++], 64, "%s", name);
    snprintf(buf, cap, "%s/%s", fz_dir(), name);
    return buf;
}

/* Replaces the file at `path` with `n` bytes of `data`. An environment failure (tmpfs full)
 * is not a finding: it is reported and the process exits without a crash artifact. */
static inline void fz_write(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char *p = data;
    while (fd >= 0 && n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) break;
        p += w;
        n -= (size_t)w;
    }
    if (fd < 0 || n || close(fd) != 0) {
        perror(path);
        _exit(2);
    }
}

/* 1 when $DNAS_FUZZ_KNOWN (comma-separated) lists `id`: a reported, not yet fixed finding whose
 * check a campaign may switch off to keep looking for others (tests/fuzz/README.md). */
static inline int fz_known(const char *id) {
    const char *k = getenv("DNAS_FUZZ_KNOWN");
    size_t n = strlen(id);
    for (const char *p = k; p && (p = strstr(p, id)) != NULL; p += n)
        if ((p == k || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

/* The failed call left a one-line message that names `what` (a path). */
static inline void fz_check_message(const char *what) {
    const char *m = dnas_last_error();
    FZ_CHECK(m[0] != 0, "failure without a message");
    FZ_CHECK(strchr(m, '\n') == NULL, "message spans lines: %s", m);
    FZ_CHECK(!what || strstr(m, what) != NULL, "message does not name %s: %s", what, m);
}

static inline uint32_t fz_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t fz_get64(const uint8_t *p) { return fz_get32(p) | (uint64_t)fz_get32(p + 4) << 32; }
static inline void fz_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void fz_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#endif
