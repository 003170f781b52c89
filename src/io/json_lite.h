/* A minimal, strict, bounded JSON reader for the files dnas writes itself: one flat object per
 * line (log.jsonl, alphas.jsonl) or per file (config.json). Values are numbers, strings,
 * true/false/null, and arrays of numbers nested at most two deep (alpha rows). Anything else
 * (nested objects, arrays of strings, trailing text, duplicate keys) is refused with a message
 * that names "file:line" and the column; nothing ever reads past the given length.
 * Non-finite numbers are accepted as printf spells them (nan, inf, -inf) and as Python's json
 * module does (NaN, Infinity): a diverged value must show in a report, not hide the run. */
#ifndef DNAS_IO_JSON_LITE_H
#define DNAS_IO_JSON_LITE_H
#include <stddef.h>
#include "../core/status.h"

#define DNAS_JSON_LINE_MAX ((size_t)1 << 24) /* longest line accepted: 16 MiB */
#define DNAS_JSON_MEMBERS_MAX 1024           /* most keys in one object */

typedef enum {
    DNAS_JSON_NULL,
    DNAS_JSON_BOOL,
    DNAS_JSON_NUMBER,
    DNAS_JSON_STRING,
    DNAS_JSON_ARRAY
} dnas_json_type;

typedef struct {
    const char *key;          /* decoded, NUL-terminated */
    dnas_json_type type;
    double num;               /* NUMBER; BOOL: 0 or 1 */
    const char *str;          /* STRING: decoded UTF-8, NUL-terminated (\u0000 is refused) */
    /* ARRAY: depth 1 = [n numbers]; depth 2 = [rows arrays of numbers], stored row after row
     * in nums, row r being nums[row_off[r] .. row_off[r+1]). An empty [] has depth 1. */
    int depth, n, rows;
    const double *nums;
    const int *row_off;       /* rows + 1 offsets (depth 2 only) */
} dnas_json_member;

/* One parsed object; everything lives in one allocation owned by it. */
typedef struct {
    dnas_json_member *m;
    int n;
    void *mem;
} dnas_json_object;

/* Parses text[0..len) as exactly one JSON object (surrounding whitespace allowed). `where`
 * starts every error message: "path:line" for one line of a .jsonl file; for a text of several
 * lines (a whole config.json) pass the path, and the message adds ":line". NUL bytes inside are
 * errors. On failure *out is empty (safe to free). */
dnas_status dnas_json_parse(const char *text, size_t len, const char *where, dnas_json_object *out);
void dnas_json_free(dnas_json_object *o);

/* Lookups: NULL / 0 when the key is absent or holds another type. */
const dnas_json_member *dnas_json_find(const dnas_json_object *o, const char *key);
int dnas_json_number(const dnas_json_object *o, const char *key, double *out);
const char *dnas_json_string(const dnas_json_object *o, const char *key);

/* ---- JSON Lines files ---------------------------------------------------------------------- */

/* Reads a whole .jsonl file and hands out its objects one by one. Blank lines are skipped.
 * A crash mid-append leaves a last line without its '\n': if that line does not parse, it is
 * skipped and `warning` says so ("path:line: ..."); a bad line anywhere else is an error. */
typedef struct {
    char path[512];
    char *data;
    size_t size, pos;
    int line;            /* number of the line last returned (1-based) */
    char warning[600];   /* "" or the skipped truncated last line */
} dnas_jsonl_reader;

dnas_status dnas_jsonl_open(dnas_jsonl_reader *r, const char *path);
/* *has = 1 and *obj filled (free it with dnas_json_free), or *has = 0 at the end. */
dnas_status dnas_jsonl_next(dnas_jsonl_reader *r, dnas_json_object *obj, int *has);
void dnas_jsonl_close(dnas_jsonl_reader *r);

#endif
