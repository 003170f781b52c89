/* Run-directory helpers shared by the search and training loops (rundir.h). */
#include "rundir.h"
#include "files.h"
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t dnas_rundir_file_size(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return 0;
    return sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
}

dnas_status dnas_rundir_check_log(const char *path, uint64_t n) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (n == 0) return DNAS_OK;
        return dnas_fail(DNAS_ERR_FORMAT, "%s: missing, but the checkpoint recorded %llu bytes of "
                         "it; restore it, or start a new run", path, (unsigned long long)n);
    }
    if (!S_ISREG(sb.st_mode)) return dnas_fail(DNAS_ERR_FORMAT, "%s: not a regular file", path);
    if ((uint64_t)sb.st_size < n)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: %llu bytes, shorter than the %llu bytes the "
                         "checkpoint recorded (truncated or replaced since); restore it, or start "
                         "a new run", path, (unsigned long long)sb.st_size, (unsigned long long)n);
    return DNAS_OK;
}

dnas_status dnas_rundir_truncate_log(const char *path, uint64_t n) {
    if (!dnas_file_exists(path)) return DNAS_OK;
    if (truncate(path, (off_t)n) != 0)
        return dnas_fail(DNAS_ERR_IO, "%s: cannot truncate to the checkpoint's %llu bytes: %s", path,
                         (unsigned long long)n, strerror(errno));
    return DNAS_OK;
}

void dnas_rundir_duration(double s, char *buf, size_t cap) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

long dnas_rundir_usable_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}
