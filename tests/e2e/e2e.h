/* Helpers for end-to-end tests that run the dnas tool as a user would. */
#ifndef DNAS_E2E_H
#define DNAS_E2E_H
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char e2e_out[65536]; /* stderr + stdout of the last run */

static inline const char *e2e_tool(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/dnas", getenv("BUILD") ? getenv("BUILD") : "build");
    return path;
}

/* Spawns argv (NULL-terminated) with output to a file; returns the pid. */
static inline pid_t e2e_spawn(char *const argv[], const char *outfile) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static inline void e2e_slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

/* dir_a/name and dir_b/name into ta and tb (cap bytes each); 1 if the texts are equal. */
static inline int e2e_same_text(const char *dir_a, const char *dir_b, const char *name, char *ta,
                                char *tb, size_t cap) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir_a, name);
    e2e_slurp(p, ta, cap);
    snprintf(p, sizeof p, "%s/%s", dir_b, name);
    e2e_slurp(p, tb, cap);
    return strcmp(ta, tb) == 0;
}
/* Runs argv to completion; returns the exit status (or 128+signal); output in e2e_out. */
static inline int e2e_run(char *const argv[]) {
    char out[64];
    snprintf(out, sizeof out, "/tmp/dnas-e2e-%d.out", (int)getpid());
    pid_t pid = e2e_spawn(argv, out);
    int status = 0;
    waitpid(pid, &status, 0);
    e2e_slurp(out, e2e_out, sizeof e2e_out);
    unlink(out);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* e2e_run with a time limit: -1 (and the child killed) if it is still running after `seconds`. */
static inline int e2e_run_timeout(char *const argv[], int seconds) {
    char out[64];
    snprintf(out, sizeof out, "/tmp/dnas-e2e-%d.tout", (int)getpid());
    pid_t pid = e2e_spawn(argv, out);
    int status = 0, done = 0;
    for (int i = 0; i < seconds * 100 && !done; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) done = 1;
        else usleep(10000);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    e2e_slurp(out, e2e_out, sizeof e2e_out);
    unlink(out);
    if (!done) return -1;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* Builds an argv from a NULL-terminated list of strings (static storage, one at a time). */
static inline char **e2e_argv(const char *first, ...) {
    static char *argv[64];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 63; a = va_arg(ap, const char *)) argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return argv;
}

static inline int e2e_count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static inline int e2e_file_exists(const char *p) { return access(p, F_OK) == 0; }

static inline void e2e_rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

static inline const char *e2e_cifar_dir(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/data/cifar-10-batches-bin", getenv("BUILD") ? getenv("BUILD") : "build");
    return path;
}

/* main()'s precondition: 1 when the decoded CIFAR-10 directory exists, else 0 after printing
 * the FAIL line (these tests need the real data; its absence must not pass as nothing run). */
static inline int e2e_require_cifar(void) {
    if (e2e_file_exists(e2e_cifar_dir())) return 1;
    printf("FAIL e2e: %s missing (run make testdata)\n", e2e_cifar_dir());
    return 0;
}

/* 0 after printing the SKIP line of test `test` when the decoded CIFAR-10 is missing, else 1. */
static inline int e2e_have_cifar(const char *test) {
    char p[600];
    snprintf(p, sizeof p, "%s/data_batch_1.bin", e2e_cifar_dir());
    if (e2e_file_exists(p)) return 1;
    printf("SKIP %s: no CIFAR-10 at %s (make testdata)\n", test, e2e_cifar_dir());
    return 0;
}
#endif
