/* TensorBoard event files, written without TensorFlow: TFRecord framing (uint64 length, masked
 * CRC-32C of the length, data, masked CRC-32C of the data; little-endian) around hand-encoded
 * `Event` protobufs (tensorflow/core/util/event.proto): first file_version "brain.Event:2",
 * then a SessionLog START, then one Event per scalar (Summary.Value tag + simple_value).
 *
 * Each open makes a new file, events.out.tfevents.<unix time>.<hostname> in the run directory
 * (".1", ".2", ... appended if that name is taken): TensorBoard reads every such file of a
 * directory in name order. The SessionLog START at `start_step` makes TensorBoard drop the
 * events of earlier files at that step and later ones, so the lines a crashed session wrote
 * after its last checkpoint do not show twice once the search resumes. */
#ifndef DNAS_IO_TFEVENTS_H
#define DNAS_IO_TFEVENTS_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"

typedef struct dnas_tfevents dnas_tfevents;

/* Creates the file in `dir` (which must exist) and writes the file_version and SessionLog
 * START (at start_step) events. */
dnas_status dnas_tfevents_open(const char *dir, int64_t start_step, dnas_tfevents **out);
/* One scalar: an Event at `step` (wall_time now) holding Summary.Value{tag, simple_value}.
 * TensorBoard stores simple_value as float32. */
dnas_status dnas_tfevents_scalar(dnas_tfevents *w, const char *tag, int64_t step, double value);
/* Hands what is buffered to the kernel, so that a running TensorBoard sees it. */
dnas_status dnas_tfevents_flush(dnas_tfevents *w);
/* Flushes, closes and frees (NULL is fine). Errors here are not reported: the caller flushes
 * first where it cares. */
void dnas_tfevents_close(dnas_tfevents *w);
/* The file's path. */
const char *dnas_tfevents_path(const dnas_tfevents *w);

/* TFRecord's checksum: CRC-32C rotated right by 15 bits plus 0xa282ead8 (a CRC of data that
 * holds CRCs is weak; the mask breaks that). */
uint32_t dnas_tfrecord_mask_crc(uint32_t crc);

#endif
