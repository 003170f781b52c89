/* Helpers every run loop that owns a run directory shares (the search, dnas train): logs that
 * a checkpoint vouches for, durations for progress lines, and the cores a run may use. */
#ifndef DNAS_IO_RUNDIR_H
#define DNAS_IO_RUNDIR_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"

/* Size of the file at `path` in bytes; 0 if it does not exist (not written yet). */
uint64_t dnas_rundir_file_size(const char *path);

/* On resume: a log must hold at least the `n` bytes its checkpoint recorded (the log is fsynced
 * before each checkpoint); a shorter one was truncated or replaced since, and extending it
 * would pad it with NUL bytes. A missing log is fine only when n == 0. */
dnas_status dnas_rundir_check_log(const char *path, uint64_t n);
/* Truncates a log back to what the checkpoint had seen, so no line is ever doubled (a missing
 * file is left missing: check_log vouched that n == 0). */
dnas_status dnas_rundir_truncate_log(const char *path, uint64_t n);

/* "12m05s" or "3h07m" (rounded to the second). */
void dnas_rundir_duration(double seconds, char *buf, size_t cap);

/* Cores this process may run on (its affinity mask), or the online count. */
long dnas_rundir_usable_cores(void);

#endif
