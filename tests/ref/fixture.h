/* Reader for the PyTorch twin's fixture files (format: tests/ref/README.md). Test-only code. */
#ifndef DNAS_TEST_FIXTURE_H
#define DNAS_TEST_FIXTURE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[160];
    int dtype;      /* 0 float32, 1 int32 */
    int ndim, dims[8];
    size_t count;
    void *data;     /* an aligned copy of the entry's values */
} fx_entry;

typedef struct {
    unsigned char *buf;
    int n;
    fx_entry *e;
} fixture;

/* Why the last fx_load failed (missing file, bad magic, truncated entry, ...). */
static char fx_why[400];

/* Loads a whole fixture; returns 1, or 0 with the reason in fx_why. A missing or corrupt
 * fixture is a failure for the tests that need it, never a skip. */
static inline int fx_load(fixture *f, const char *path) {
    memset(f, 0, sizeof *f);
#define FX_BAD(...)                                           \
    do {                                                      \
        int k_ = snprintf(fx_why, sizeof fx_why, "%s: ", path); \
        if (k_ < 0 || k_ >= (int)sizeof fx_why) k_ = 0;       \
        snprintf(fx_why + k_, sizeof fx_why - k_, __VA_ARGS__); \
        return 0;                                             \
    } while (0)
    FILE *fp = fopen(path, "rb");
    if (!fp) FX_BAD("cannot open (missing? regenerate with tests/ref/make_fixtures.py)");
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        FX_BAD("cannot determine its size");
    }
    f->buf = malloc((size_t)size + 1);
    size_t got = f->buf ? fread(f->buf, 1, (size_t)size, fp) : 0;
    fclose(fp);
    if (!f->buf || got != (size_t)size) FX_BAD("read %zu of %ld bytes", got, size);
    if (size < 16 || memcmp(f->buf, "DNASFIX1", 8)) FX_BAD("not a fixture (bad magic)");
    uint32_t version, n;
    memcpy(&version, f->buf + 8, 4);
    memcpy(&n, f->buf + 12, 4);
    if (version != 1) FX_BAD("format version %u, expected 1", version);
    if (n > (uint32_t)(size / 12)) FX_BAD("%u entries cannot fit in %ld bytes", n, size);
    f->e = calloc(n ? n : 1, sizeof *f->e);
    if (!f->e) FX_BAD("out of memory");
    size_t off = 16;
    for (uint32_t i = 0; i < n; i++) {
        fx_entry *e = &f->e[i];
        uint32_t ln, dt, nd;
        if (off + 4 > (size_t)size) FX_BAD("truncated at entry %u", i);
        memcpy(&ln, f->buf + off, 4);
        off += 4;
        if (ln >= sizeof e->name || off + ln + 8 > (size_t)size) FX_BAD("entry %u: bad name length %u", i, ln);
        memcpy(e->name, f->buf + off, ln);
        off += ln;
        memcpy(&dt, f->buf + off, 4);
        memcpy(&nd, f->buf + off + 4, 4);
        off += 8;
        if (dt > 1 || nd > 8 || off + 4 * nd > (size_t)size) FX_BAD("entry %s: bad dtype/ndim", e->name);
        e->dtype = (int)dt;
        e->ndim = (int)nd;
        e->count = 1;
        for (uint32_t d = 0; d < nd; d++) {
            memcpy(&e->dims[d], f->buf + off, 4);
            off += 4;
            if (e->dims[d] < 0 || e->dims[d] > (1 << 28)) FX_BAD("entry %s: bad dimension", e->name);
            e->count *= (size_t)e->dims[d];
        }
        if (e->count > ((size_t)size - off) / 4) FX_BAD("entry %s: truncated data", e->name);
        /* Entries follow variable-length names, so copy each to aligned memory. */
        e->data = malloc(4 * e->count + 4);
        if (!e->data) FX_BAD("out of memory");
        memcpy(e->data, f->buf + off, 4 * e->count);
        off += 4 * e->count;
        f->n++; /* counted as loaded, so fx_free releases it even after a later failure */
    }
    if (off != (size_t)size) FX_BAD("%zu trailing bytes", (size_t)size - off);
#undef FX_BAD
    return 1;
}

static inline const fx_entry *fx_get(const fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->e[i].name, name) == 0) return &f->e[i];
    return NULL;
}

static inline void fx_free(fixture *f) {
    for (int i = 0; f->e && i < f->n; i++) free(f->e[i].data);
    free(f->buf);
    free(f->e);
}

/* NCHW (PyTorch) -> NHWC (ours), for activations and OIHW -> OHWI conv weights alike. */
static inline void fx_nchw_to_nhwc(float *dst, const float *src, int n, int c, int h, int w) {
    for (int a = 0; a < n; a++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    dst[(((size_t)a * h + y) * w + x) * c + ch] = src[(((size_t)a * c + ch) * h + y) * w + x];
}

/* Normwise relative error max|a-b| / max|b| (scaled to the data, per STYLE practice 5). */
static inline double fx_relerr(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] - (double)b[i];
        if (d < 0) d = -d;
        double m = b[i] < 0 ? -(double)b[i] : b[i];
        if (d > md || d != d) md = d != d ? 1e30 : d;
        if (m > mb) mb = m;
    }
    return md / (mb > 1e-30 ? mb : 1e-30);
}
#endif
