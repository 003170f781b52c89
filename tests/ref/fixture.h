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

static inline int fx_load(fixture *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->buf = malloc((size_t)size);
    if (!f->buf || fread(f->buf, 1, (size_t)size, fp) != (size_t)size) {
        fclose(fp);
        return 0;
    }
    fclose(fp);
    if (size < 16 || memcmp(f->buf, "DNASFIX1", 8)) return 0;
    uint32_t version, n;
    memcpy(&version, f->buf + 8, 4);
    memcpy(&n, f->buf + 12, 4);
    if (version != 1) return 0;
    f->e = calloc(n, sizeof *f->e);
    size_t off = 16;
    for (uint32_t i = 0; i < n; i++) {
        fx_entry *e = &f->e[i];
        uint32_t ln, dt, nd;
        if (off + 4 > (size_t)size) return 0;
        memcpy(&ln, f->buf + off, 4);
        off += 4;
        if (ln >= sizeof e->name || off + ln + 8 > (size_t)size) return 0;
        memcpy(e->name, f->buf + off, ln);
        off += ln;
        memcpy(&dt, f->buf + off, 4);
        memcpy(&nd, f->buf + off + 4, 4);
        off += 8;
        if (nd > 8 || off + 4 * nd > (size_t)size) return 0;
        e->dtype = (int)dt;
        e->ndim = (int)nd;
        e->count = 1;
        for (uint32_t d = 0; d < nd; d++) {
            memcpy(&e->dims[d], f->buf + off, 4);
            off += 4;
            e->count *= (size_t)e->dims[d];
        }
        if (off + 4 * e->count > (size_t)size) return 0;
        /* Entries follow variable-length names, so copy each to aligned memory. */
        e->data = malloc(4 * e->count + 4);
        if (!e->data) return 0;
        memcpy(e->data, f->buf + off, 4 * e->count);
        off += 4 * e->count;
        f->n++; /* counted as loaded, so fx_free releases it even after a later failure */
    }
    return off == (size_t)size;
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
