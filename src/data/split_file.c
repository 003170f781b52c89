/* NB201's own search split (AutoDL-Projects configs/nas-benchmark/cifar-split.txt): a JSON
 * object whose "train" and "valid" members are ["int", ["i0", "i1", ...]], indices into the
 * CIFAR-10 training set. The file is not ours to ship; a user who has it passes its path
 * (--split-file) and the search then sees exactly the images the NB201 papers' searches saw.
 * The reader is strict: every index once, inside the data set, in one of the two lists. */
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/status.h"
#include "../io/files.h"
#include "data.h"

typedef struct {
    const char *p, *end, *path;
} scan;

static void skip_ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int expect(scan *s, char c) {
    skip_ws(s);
    if (s->p >= s->end || *s->p != c) return 0;
    s->p++;
    return 1;
}

/* The member `key`: finds "key" followed by ':' anywhere at the top level of the text. */
static dnas_status find_member(const char *text, size_t len, const char *path, const char *key,
                               scan *out) {
    char pat[32];
    int k = snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *end = text + len;
    for (const char *q = text; q + k <= end; q++) {
        if (memcmp(q, pat, (size_t)k) != 0) continue;
        scan s = {q + k, end, path};
        if (!expect(&s, ':')) continue;
        *out = s;
        return DNAS_OK;
    }
    return dnas_fail(DNAS_ERR_FORMAT, "%s: no \"%s\" member (want NB201's cifar-split.txt: "
                     "{\"train\": [\"int\", [\"0\", ...]], \"valid\": [...]})", path, key);
}

/* ["int", ["i", ...]] -> idx[0..*n); marks each index in `seen` with `tag`. */
static dnas_status read_list(scan *s, const char *key, int n_images, unsigned char *seen,
                             unsigned char tag, int *idx, int *n) {
    if (!expect(s, '[') || !expect(s, '"') || s->end - s->p < 4 || memcmp(s->p, "int\"", 4) != 0)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: \"%s\" is not [\"int\", [...]]", s->path, key);
    s->p += 4;
    if (!expect(s, ',') || !expect(s, '['))
        return dnas_fail(DNAS_ERR_FORMAT, "%s: \"%s\" is not [\"int\", [...]]", s->path, key);
    *n = 0;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
    } else {
        for (;;) {
            skip_ws(s);
            int quoted = s->p < s->end && *s->p == '"';
            if (quoted) s->p++;
            long v = 0;
            int digits = 0;
            while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && digits < 10) {
                v = v * 10 + (*s->p++ - '0');
                digits++;
            }
            if (!digits || (quoted && (s->p >= s->end || *s->p++ != '"')))
                return dnas_fail(DNAS_ERR_FORMAT, "%s: \"%s\" entry %d is not a non-negative "
                                 "integer", s->path, key, *n);
            if (v >= n_images)
                return dnas_fail(DNAS_ERR_FORMAT, "%s: \"%s\" entry %d is image %ld, but the data "
                                 "set has %d images", s->path, key, *n, v, n_images);
            if (seen[v] == tag)
                return dnas_fail(DNAS_ERR_FORMAT, "%s: \"%s\" lists image %ld twice", s->path, key, v);
            if (seen[v])
                return dnas_fail(DNAS_ERR_FORMAT, "%s: image %ld is in both \"train\" and \"valid\"",
                                 s->path, v);
            seen[v] = tag;
            idx[(*n)++] = (int)v;
            skip_ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == ']') {
                s->p++;
                break;
            }
            return dnas_fail(DNAS_ERR_FORMAT, "%s: \"%s\": expected ',' or ']' after entry %d",
                             s->path, key, *n - 1);
        }
    }
    if (!expect(s, ']'))
        return dnas_fail(DNAS_ERR_FORMAT, "%s: \"%s\" is not [\"int\", [...]]", s->path, key);
    if (*n == 0) return dnas_fail(DNAS_ERR_FORMAT, "%s: \"%s\" lists no image", s->path, key);
    return DNAS_OK;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

dnas_status dnas_split_load(const dnas_cifar *d, const char *path, dnas_split *out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_split_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!d || d->n < 2) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_split_load: need a loaded data set");
    if (!path || !path[0]) return dnas_fail(DNAS_ERR_INVALID_ARG, "--split-file: empty path");
    char *text = NULL;
    size_t len = 0;
    DNAS_TRY(dnas_read_file(path, &text, &len));
    int *tr = dnas_alloc((size_t)d->n * sizeof(int), "split train indices");
    int *va = dnas_alloc((size_t)d->n * sizeof(int), "split valid indices");
    unsigned char *seen = dnas_alloc((size_t)d->n, "split marks");
    dnas_status st = DNAS_OK;
    if (!tr || !va || !seen) st = DNAS_ERR_OOM;
    int nt = 0, nv = 0;
    if (st == DNAS_OK) {
        memset(seen, 0, (size_t)d->n);
        scan s;
        st = find_member(text, len, path, "train", &s);
        if (st == DNAS_OK) st = read_list(&s, "train", d->n, seen, 1, tr, &nt);
        if (st == DNAS_OK) st = find_member(text, len, path, "valid", &s);
        if (st == DNAS_OK) st = read_list(&s, "valid", d->n, seen, 2, va, &nv);
    }
    dnas_free(seen);
    dnas_free(text);
    if (st != DNAS_OK) {
        dnas_free(tr);
        dnas_free(va);
        return st;
    }
    qsort(tr, (size_t)nt, sizeof(int), cmp_int);
    qsort(va, (size_t)nv, sizeof(int), cmp_int);
    *out = (dnas_split){tr, nt, va, nv};
    return DNAS_OK;
}
