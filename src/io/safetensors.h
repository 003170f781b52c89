/* safetensors files (the Hugging Face tensor format that PyTorch users load without pickle):
 * what `dnas export` writes the trained weights and the check batch in.
 *
 * Layout (https://huggingface.co/docs/safetensors, format as of 0.4):
 *   offset  size  field
 *   0       8     u64 little-endian N: the header's length in bytes
 *   8       N     JSON header: {"__metadata__": {string: string, ...},
 *                               "<name>": {"dtype": "F32", "shape": [d0, ...],
 *                                          "data_offsets": [begin, end]}, ...}
 *                 padded with spaces so that 8 + N is a multiple of 8 (the data starts aligned)
 *   8 + N   ...   the byte buffer: every tensor's data, row-major, little-endian; offsets are
 *                 relative to its start; the buffer is covered exactly, without holes or overlap.
 *
 * Our writer puts `__metadata__` first, then the tensors in strcmp order of their names (the
 * data in the same order), and no whitespace but the padding, so the same tensors always give
 * the same bytes. The format has no checksum and no version field of its own; both are other
 * programs' to read, so we follow it as it is (DESIGN.md's magic/version rule is for our own
 * formats); the writer still replaces the file atomically (temp file, fsync, rename).
 *
 * Every failure returns a dnas_status with a one-line message naming the file. */
#ifndef DNAS_IO_SAFETENSORS_H
#define DNAS_IO_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"

#define DNAS_ST_MAX_DIMS 8
#define DNAS_ST_HEADER_MAX ((uint64_t)100 << 20) /* the reference reader's own limit */

typedef enum { DNAS_ST_F32 = 0, DNAS_ST_I64, DNAS_ST_F64, DNAS_ST_I32, DNAS_ST_U8 } dnas_st_dtype;

/* "F32", "I64", ... */
const char *dnas_st_dtype_name(dnas_st_dtype t);
size_t dnas_st_dtype_size(dnas_st_dtype t);

typedef struct {
    const char *name;          /* 1..255 bytes, unique, not "__metadata__" */
    dnas_st_dtype dtype;
    int ndim;                  /* 0 (a scalar) .. DNAS_ST_MAX_DIMS */
    int64_t shape[DNAS_ST_MAX_DIMS];
    const void *data;          /* numel * dtype size bytes, host order (little-endian here) */
} dnas_st_tensor;

typedef struct {
    const char *key, *value;   /* UTF-8 strings; keys unique */
} dnas_st_meta;

/* The whole file in one dnas_alloc'd buffer (*bytes long; free with dnas_free). `what` names
 * the file in messages. */
dnas_status dnas_st_encode(const dnas_st_tensor *t, int n, const dnas_st_meta *meta, int n_meta,
                           const char *what, char **buf, size_t *bytes);
/* dnas_st_encode, then written to `path` atomically. */
dnas_status dnas_st_write(const char *path, const dnas_st_tensor *t, int n,
                          const dnas_st_meta *meta, int n_meta);

/* ---- reading ------------------------------------------------------------------------------ */
typedef struct {
    char *name;
    dnas_st_dtype dtype;
    int ndim;
    int64_t shape[DNAS_ST_MAX_DIMS];
    const void *data;          /* into the file buffer, 8-byte aligned only if the offsets are */
    size_t bytes;
} dnas_st_entry;

typedef struct {
    char *file;                /* the whole file */
    size_t size;
    dnas_st_entry *t;          /* in header order */
    int n;
    char **meta;               /* key, value, key, value, ... */
    int n_meta;
} dnas_st_file;

/* Reads and checks everything the format requires: header length within the file, one JSON
 * object of tensor entries (dtype, shape, data_offsets and nothing else) and an optional
 * string-to-string __metadata__, sizes that match dtype x shape, a buffer covered exactly.
 * Missing/unreadable: DNAS_ERR_IO; any other fault: DNAS_ERR_FORMAT naming the file and the
 * header column. On failure *out is empty (safe to free). */
dnas_status dnas_st_read(const char *path, dnas_st_file *out);
/* The same on bytes in memory (copied). */
dnas_status dnas_st_parse(const void *data, size_t size, const char *what, dnas_st_file *out);
const dnas_st_entry *dnas_st_find(const dnas_st_file *f, const char *name);
const char *dnas_st_meta_get(const dnas_st_file *f, const char *key);
void dnas_st_free(dnas_st_file *f);

#endif
