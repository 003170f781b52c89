#include "status.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

dnas_status dnas_fail(dnas_status st, const char *fmt, ...) {
    /* Format into a copy first: an argument may be dnas_last_error() itself (a caller adding
     * context to the previous message), and vsnprintf must not read the buffer it writes. */
    char tmp[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    /* Messages quote user input (flags, paths, file contents): escape control characters so
     * that a message is always one printable line. */
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)tmp; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            if (o + 4 >= sizeof last_error) break;
            snprintf(last_error + o, 5, "\\x%02x", *p);
            o += 4;
        } else {
            if (o + 1 >= sizeof last_error) break;
            last_error[o++] = (char)*p;
        }
    }
    last_error[o] = 0;
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
