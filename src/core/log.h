/* Where the library's messages go: stderr (the default, what the CLI shows) or the embedding
 * program's callback (dnas_set_log_callback). Lines are passed without their newline. */
#ifndef DNAS_CORE_LOG_H
#define DNAS_CORE_LOG_H
#include "../../include/dnas.h"

/* One message line (printf-style, no trailing newline). DNAS_LOG_PROGRESS is the transient
 * progress line: on stderr it redraws the terminal's current line. */
void dnas_log(dnas_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Terminal control for stderr only (e.g. the "\n" that ends a progress line, or the "\r\033[K"
 * that erases it before a message): dropped when a callback receives the lines instead. */
void dnas_log_terminal(const char *text);

#endif
