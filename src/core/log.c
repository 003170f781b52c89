#include "log.h"
#include <stdarg.h>
#include <stdio.h>

/* Process-wide, like the allocator: set by the embedding program before it starts searches
 * (a binding routes the lines to its own logging); never state of a computation. */
static dnas_log_fn log_fn;
static void *log_user;

void dnas_set_log_callback(dnas_log_fn fn, void *user) {
    log_fn = fn;
    log_user = fn ? user : NULL;
}

void dnas_log(dnas_log_level level, const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(log_user, level, line);
        return;
    }
    if (level == DNAS_LOG_PROGRESS) {
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
    } else {
        fprintf(stderr, "%s\n", line);
    }
}

void dnas_log_terminal(const char *text) {
    if (!log_fn) fputs(text, stderr);
}
