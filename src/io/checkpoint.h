/* Checkpoints: a versioned, checksummed container of named binary entries (weights, optimiser
 * state, alphas, RNG state, step counters), written atomically.
 *
 * File layout, format version 1 (all integers little-endian):
 *
 *   offset  size  field
 *   0       8     magic "DNASCKPT"
 *   8       4     u32 format version (1)
 *   12      4     u32 reserved (0)
 *   16      8     u64 total file size in bytes
 *   24      4     u32 body CRC-32C of bytes [32, total)
 *   28      4     u32 prefix CRC-32C of bytes [0, 28)
 *   ---- the 32 bytes above keep this meaning in every version; the body below is version 1 ----
 *   32      4     u32 kind length K (1..255)
 *   36      4     u32 entry count N
 *   40      8     u64 data offset D (multiple of 64: where the first entry's data starts)
 *   48      ...   kind, NUL, zero-padded to a multiple of 8
 *   ...           N table records: u64 data offset, u64 size, u32 name length L (1..255),
 *                 u32 reserved (0), name, NUL, zero-padded to a multiple of 8
 *   D       ...   entry data in table order, each starting at a multiple of 64, zeros between
 *
 * Checksum: CRC-32C (Castagnoli; see dnas_crc32c). The two CRCs together cover every byte
 * (the prefix CRC covers the body CRC), and a CRC detects every single-bit error and every
 * burst up to 32 bits. The separate prefix CRC lets a reader trust the size and version
 * fields before it acts on them, so a flipped bit there reads as corruption, not truncation.
 *
 * Entries are stored byte-for-byte (float tensors in host order: little-endian on every
 * platform we build for); use dnas_ckpt_put_u64 / get_u64 for integers. A reader holds the
 * whole file in one 64-byte-aligned allocation and every entry starts 64-byte aligned in it,
 * so dnas_ckpt_find's pointer can be used as a float array in place.
 *
 * Every failure returns a dnas_status with a one-line message naming the file. */
#ifndef DNAS_IO_CHECKPOINT_H
#define DNAS_IO_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"

#define DNAS_CKPT_VERSION 1
#define DNAS_CKPT_NAME_MAX 255 /* longest kind or entry name, in bytes */

/* ---- writing ----------------------------------------------------------------------------- */
typedef struct dnas_ckpt_writer dnas_ckpt_writer;

/* Starts a checkpoint for `path` of the given `kind` (e.g. "nb201/darts1"; 1..255 bytes, checked
 * by readers). Nothing touches the disk until the commit. */
dnas_status dnas_ckpt_write_begin(const char *path, const char *kind, dnas_ckpt_writer **w);
/* Copies `bytes` of `data` into the writer (the caller may reuse its buffer at once). Names are
 * 1..255 bytes and unique. A failure here also makes the commit fail without writing. */
dnas_status dnas_ckpt_put(dnas_ckpt_writer *w, const char *name, const void *data, size_t bytes);
/* Stores `v` as 8 little-endian bytes. */
dnas_status dnas_ckpt_put_u64(dnas_ckpt_writer *w, const char *name, uint64_t v);
/* Writes "<path>.tmp", fsyncs it, renames it over `path`, fsyncs the directory. Frees `w` in all
 * cases. On any failure before the rename the previous file at `path` is untouched and the temp
 * is removed; only a failed directory fsync leaves the new file in place (and reports it). */
dnas_status dnas_ckpt_write_commit(dnas_ckpt_writer *w);
/* Discards the writer without writing anything. NULL is fine. */
void dnas_ckpt_write_abort(dnas_ckpt_writer *w);

/* ---- reading ----------------------------------------------------------------------------- */
typedef struct dnas_ckpt dnas_ckpt;

/* Reads and validates the whole file: magic, version, size, both checksums, entry table, and
 * (unless expect_kind is NULL) the kind. Missing/unreadable file: DNAS_ERR_IO; anything wrong
 * with the contents, including an unknown version or the wrong kind: DNAS_ERR_FORMAT. */
dnas_status dnas_ckpt_read(const char *path, const char *expect_kind, dnas_ckpt **out);
const char *dnas_ckpt_kind(const dnas_ckpt *c);
/* Pointer to the entry's bytes (valid until dnas_ckpt_free, 64-byte aligned) and its size, or
 * NULL if there is no such entry. `bytes` may be NULL. */
const void *dnas_ckpt_find(const dnas_ckpt *c, const char *name, size_t *bytes);
/* Copies an entry whose size must be exactly `bytes` (DNAS_ERR_FORMAT otherwise, or if absent). */
dnas_status dnas_ckpt_get(const dnas_ckpt *c, const char *name, void *dst, size_t bytes);
dnas_status dnas_ckpt_get_u64(const dnas_ckpt *c, const char *name, uint64_t *v);
void dnas_ckpt_free(dnas_ckpt *c);

#endif
