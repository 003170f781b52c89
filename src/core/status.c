#include "status.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

dnas_status dnas_fail(dnas_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

const char *dnas_last_error(void) { return last_error; }
void dnas_clear_error(void) { last_error[0] = 0; }

const char *dnas_status_string(dnas_status st) {
    switch (st) {
    case DNAS_OK: return "ok";
    case DNAS_ERR_INVALID_ARG: return "invalid argument";
    case DNAS_ERR_OOM: return "out of memory";
    case DNAS_ERR_IO: return "i/o error";
    case DNAS_ERR_FORMAT: return "bad file format";
    case DNAS_ERR_UNSUPPORTED: return "unsupported";
    case DNAS_ERR_INTERNAL: return "internal error";
    case DNAS_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}
