/* `dnas report DIR`: one self-contained HTML page of a run directory (inline SVG and CSS, no
 * JavaScript, nothing fetched): a summary, the derived cell drawn as a graph, for NAS-Bench-201
 * the benchmark accuracy of the architecture derived at each epoch (where a collapse shows),
 * every edge's mixing weights per op over the epochs, and the loss/accuracy curves. */
#ifndef DNAS_IO_REPORT_H
#define DNAS_IO_REPORT_H
#include "../core/status.h"

/* Reads run_dir's config.json (optional), log.jsonl (required), alphas.jsonl and genotype.txt
 * (optional), and writes the page atomically to out_path (NULL: run_dir/report.html).
 * table_path: the NB201 table (nb201.csv); NULL = config.json's "table" if it is readable (a
 * failure to load that one is a warning on the page and on stderr). An explicit table that
 * fails to load is an error. Bad input (no directory, no log.jsonl, a malformed line anywhere
 * but a truncated last one) fails with a one-line message naming the file and line, and
 * nothing is written. Warnings (a truncated last line skipped) go to stderr and the page. */
DNAS_API dnas_status dnas_report_write(const char *run_dir, const char *table_path,
                                       const char *out_path);

#endif
