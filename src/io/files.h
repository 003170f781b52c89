/* File helpers shared by every writer in src/io: crash-safe whole-file writes (temp file, fsync,
 * rename, directory fsync), line appends for the JSONL logs, mkdir -p, whole-file reads,
 * a small string builder for JSON lines, and CRC-32C for the checksums our formats carry.
 * Every failure returns a dnas_status with a one-line message that names the path. */
#ifndef DNAS_IO_FILES_H
#define DNAS_IO_FILES_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "../core/status.h"

/* ---- atomic replacement ------------------------------------------------------------------ */

/* Writes `bytes` of `data` to "<path>.tmp", fsyncs it, renames it over `path` and fsyncs the
 * directory. On failure before the rename the old `path` is untouched and the temp is removed. */
dnas_status dnas_write_file_atomic(const char *path, const void *data, size_t bytes);

/* The same, streamed: open, write any number of times, then commit or abort. Writes are
 * buffered (stdio); the first failure sticks, so callers may check only the commit's status. */
typedef struct {
    FILE *fp;
    char *path;       /* target */
    char *tmp;        /* "<path>.tmp" */
    dnas_status st;   /* first write failure (message already set) */
} dnas_atomic_file;
dnas_status dnas_atomic_open(dnas_atomic_file *f, const char *path);
dnas_status dnas_atomic_write(dnas_atomic_file *f, const void *data, size_t bytes);
/* Flush, fsync, close, rename, fsync the directory. Releases `f` in all cases. If only the final
 * directory fsync fails, the new file is in place but its rename may not yet be durable. */
dnas_status dnas_atomic_commit(dnas_atomic_file *f);
/* Close and remove the temp; `path` is untouched. Safe on a zeroed or released `f`. */
void dnas_atomic_abort(dnas_atomic_file *f);

/* ---- other file operations --------------------------------------------------------------- */

/* Appends `line` + '\n' in one write with O_APPEND (creating the file), so the line lands
 * whole; durability comes from dnas_fsync_file, which a run calls before each checkpoint. `line` must not contain '\n' (DNAS_ERR_INVALID_ARG). */
dnas_status dnas_append_line(const char *path, const char *line);
/* Make an existing file's content durable (a missing file is fine). */
dnas_status dnas_fsync_file(const char *path);

/* Creates `path` and any missing parents (mode 0755 before umask); existing directories are fine. */
dnas_status dnas_mkdir_p(const char *path);

/* 1 if something (file, directory, ...) exists at `path`, else 0. */
int dnas_file_exists(const char *path);

/* Reads a whole regular file into one dnas_alloc'd buffer (64-byte aligned) with a NUL appended
 * after the last byte (not counted in *bytes). Free with dnas_free. */
dnas_status dnas_read_file(const char *path, char **data, size_t *bytes);

/* Opens `path` read-only and refuses anything but a regular file: a FIFO would block the open
 * (deaf to SIGINT, whose handler only sets a flag), a directory reads as nonsense. On success
 * *fd is a blocking descriptor and *size the file's size. When the open itself fails, errno
 * is left set to its error (ENOENT: missing). */
dnas_status dnas_open_regular(const char *path, int *fd, uint64_t *size);

/* Exclusive lock on directory `dir` (flock on the directory itself: no lock file is left
 * behind, and the kernel drops the lock when the process exits, even by SIGKILL). *fd is to
 * be passed to dnas_unlock_dir. A directory locked by another process: DNAS_ERR_IO, "in use". */
dnas_status dnas_lock_dir(const char *dir, int *fd);
void dnas_unlock_dir(int fd);

/* ---- string builder ---------------------------------------------------------------------- */

/* Growable string for JSON lines. Start zeroed: dnas_sbuf s = {0}. After any append, `buf` is
 * NUL-terminated (or NULL if nothing was ever appended). An allocation failure sets `oom` and
 * makes further appends no-ops, so a caller checks `oom` once at the end. */
typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} dnas_sbuf;
void dnas_sb_printf(dnas_sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `str` as a JSON string: quoted; '"' '\\' and control characters escaped; other bytes
 * (UTF-8) copied as they are. NULL appends `null`. */
void dnas_sb_json_string(dnas_sbuf *s, const char *str);
void dnas_sb_free(dnas_sbuf *s);

/* ---- checksum ---------------------------------------------------------------------------- */

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF; the
 * iSCSI/ext4 CRC: "123456789" -> 0xE3069283). Incremental: start with crc = 0 and pass the
 * previous result to continue. Uses the SSE4.2 instruction when the build enables it. */
uint32_t dnas_crc32c(uint32_t crc, const void *data, size_t bytes);

#endif
