/* Status codes and the thread-local last-error message.
 * Every library call returns a dnas_status; on failure the message names the file/flag/shape. */
#ifndef DNAS_CORE_STATUS_H
#define DNAS_CORE_STATUS_H
#include "../../include/dnas.h"

/* Set the thread-local message (printf-style) and return `st`, so callers can write
 *   return dnas_fail(DNAS_ERR_INVALID_ARG, "batch must be > 0 (got %d)", b); */
dnas_status dnas_fail(dnas_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Propagate a failing status unchanged (the callee already set the message). */
#define DNAS_TRY(expr)                     \
    do {                                   \
        dnas_status st__ = (expr);         \
        if (st__ != DNAS_OK) return st__;  \
    } while (0)

#endif
