/* safetensors files: dnas_st_read (src/io/safetensors.c, what `dnas export` writes) on arbitrary
 * files.
 * First input byte, bit 0: when set, the rest is "header text, NUL, data buffer" and the harness
 * prepends the matching u64 header length, so mutations of the JSON reach the header parser
 * instead of all dying at "header length does not fit" (a header never holds a raw NUL).
 * Properties: reading the file and parsing the same bytes in memory agree (status and message);
 * a failure leaves *out empty and a one-line message naming the file. An accepted file: every
 * entry lies in the data buffer at its dtype x shape size, the entries cover the buffer exactly
 * (checked here independently), find/meta_get return each name and key; the writer refuses
 * exactly the names outside 1..255 bytes, and otherwise read -> encode -> parse gives the same
 * tensors and metadata, and encoding that again gives the same bytes (the writer's form is
 * canonical). */
#include "fuzz_util.h"
#include "core/alloc.h"
#include "io/safetensors.h"

static size_t numel_bytes(const dnas_st_entry *e) {
    size_t n = dnas_st_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

static int cmp_u64(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static void check_accepted(const dnas_st_file *f, const uint8_t *file, size_t size) {
    FZ_CHECK(f->size == size && memcmp(f->file, file, size) == 0, "file buffer differs from the file");
    uint64_t hl = fz_get64(file);
    FZ_CHECK(hl <= size - 8, "header length %llu past the end", (unsigned long long)hl);
    const char *data = f->file + 8 + hl;
    size_t data_bytes = size - 8 - hl;
    uint64_t *sp = malloc((size_t)(f->n ? f->n : 1) * 2 * sizeof *sp);
    FZ_CHECK(sp != NULL, "out of memory");
    for (int i = 0; i < f->n; i++) {
        const dnas_st_entry *e = &f->t[i];
        FZ_CHECK(e->name != NULL, "entry %d has no name", i);
        FZ_CHECK((int)e->dtype >= 0 && dnas_st_dtype_size(e->dtype) > 0, "%s: dtype %d", e->name, e->dtype);
        FZ_CHECK(e->ndim >= 0 && e->ndim <= DNAS_ST_MAX_DIMS, "%s: ndim %d", e->name, e->ndim);
        for (int d = 0; d < e->ndim; d++) FZ_CHECK(e->shape[d] >= 0, "%s: negative dim", e->name);
        FZ_CHECK(e->bytes == numel_bytes(e), "%s: %zu bytes for its shape's %zu", e->name, e->bytes,
                 numel_bytes(e));
        const char *p = e->data;
        FZ_CHECK(p >= data && (size_t)(p - data) <= data_bytes && e->bytes <= data_bytes - (size_t)(p - data),
                 "%s lies outside the data buffer", e->name);
        sp[2 * i] = (uint64_t)(p - data);
        sp[2 * i + 1] = e->bytes;
        FZ_CHECK(dnas_st_find(f, e->name) == e, "find('%s') gives another entry", e->name);
    }
    qsort(sp, (size_t)f->n, 2 * sizeof *sp, cmp_u64);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        FZ_CHECK(sp[2 * i] == at, "hole or overlap at byte %llu", (unsigned long long)at);
        at += sp[2 * i + 1];
    }
    FZ_CHECK(at == data_bytes, "entries cover %llu of %zu data bytes", (unsigned long long)at, data_bytes);
    free(sp);
    for (int i = 0; i < f->n_meta; i++) {
        FZ_CHECK(f->meta[2 * i] && f->meta[2 * i + 1], "metadata %d is NULL", i);
        FZ_CHECK(dnas_st_meta_get(f, f->meta[2 * i]) == f->meta[2 * i + 1], "meta_get('%s')",
                 f->meta[2 * i]);
    }
    FZ_CHECK(dnas_st_find(f, "__metadata__") == NULL, "__metadata__ read as a tensor");
}

/* The same tensors and metadata in `a` and `b`, whatever their order. */
static void check_same(const dnas_st_file *a, const dnas_st_file *b) {
    FZ_CHECK(a->n == b->n && a->n_meta == b->n_meta, "%d/%d tensors, %d/%d metadata", a->n, b->n,
             a->n_meta, b->n_meta);
    for (int i = 0; i < a->n; i++) {
        const dnas_st_entry *x = &a->t[i], *y = dnas_st_find(b, x->name);
        FZ_CHECK(y != NULL, "tensor '%s' lost", x->name);
        FZ_CHECK(x->dtype == y->dtype && x->ndim == y->ndim && x->bytes == y->bytes &&
                     memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]) == 0,
                 "tensor '%s' changed its dtype or shape", x->name);
        FZ_CHECK(x->bytes == 0 || memcmp(x->data, y->data, x->bytes) == 0, "tensor '%s' data changed",
                 x->name);
    }
    for (int i = 0; i < a->n_meta; i++) {
        const char *v = dnas_st_meta_get(b, a->meta[2 * i]);
        FZ_CHECK(v && strcmp(v, a->meta[2 * i + 1]) == 0, "metadata '%s' changed", a->meta[2 * i]);
    }
}

static void round_trip(const dnas_st_file *f, const char *what) {
    dnas_st_tensor *t = calloc((size_t)(f->n ? f->n : 1), sizeof *t);
    dnas_st_meta *m = calloc((size_t)(f->n_meta ? f->n_meta : 1), sizeof *m);
    FZ_CHECK(t && m, "out of memory");
    int names_ok = 1;
    for (int i = 0; i < f->n; i++) {
        size_t len = strlen(f->t[i].name);
        names_ok &= len >= 1 && len <= 255;
        t[i] = (dnas_st_tensor){f->t[i].name, f->t[i].dtype, f->t[i].ndim, {0}, f->t[i].data};
        memcpy(t[i].shape, f->t[i].shape, sizeof t[i].shape);
    }
    for (int i = 0; i < f->n_meta; i++) m[i] = (dnas_st_meta){f->meta[2 * i], f->meta[2 * i + 1]};
    char *buf = NULL;
    size_t bytes = 0;
    dnas_clear_error();
    dnas_status st = dnas_st_encode(t, f->n, m, f->n_meta, what, &buf, &bytes);
    if (!names_ok) {
        /* The reader follows the format, which allows any name; our writer keeps to 1..255. */
        FZ_CHECK(st != DNAS_OK, "the writer took a name outside 1..255 bytes");
        fz_check_message(what);
    } else {
        FZ_CHECK(st == DNAS_OK, "the writer refused what the reader accepted: %s", dnas_last_error());
        dnas_st_file g;
        FZ_CHECK(dnas_st_parse(buf, bytes, what, &g) == DNAS_OK, "the writer's bytes do not read back: %s",
                 dnas_last_error());
        check_accepted(&g, (const uint8_t *)buf, bytes);
        check_same(f, &g);
        check_same(&g, f);
        FZ_CHECK(fz_get64((const uint8_t *)buf) % 8 == 0, "data buffer not 8-byte aligned");
        /* Canonical: the writer's form encodes to itself. */
        for (int i = 0; i < g.n; i++) {
            t[i] = (dnas_st_tensor){g.t[i].name, g.t[i].dtype, g.t[i].ndim, {0}, g.t[i].data};
            memcpy(t[i].shape, g.t[i].shape, sizeof t[i].shape);
        }
        for (int i = 0; i < g.n_meta; i++) m[i] = (dnas_st_meta){g.meta[2 * i], g.meta[2 * i + 1]};
        char *buf2 = NULL;
        size_t bytes2 = 0;
        FZ_CHECK(dnas_st_encode(t, g.n, m, g.n_meta, what, &buf2, &bytes2) == DNAS_OK, "%s",
                 dnas_last_error());
        FZ_CHECK(bytes2 == bytes && memcmp(buf, buf2, bytes) == 0, "re-encoding changed the bytes");
        dnas_free(buf2);
        dnas_st_free(&g);
    }
    dnas_free(buf);
    free(t);
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char path[512];
    fz_path(path, sizeof path, "in.safetensors");
    size_t n = size - 1;
    uint8_t *f = malloc(n + 8);
    if (!f) return 0;
    if (data[0] & 1) {
        const uint8_t *nul = memchr(data + 1, 0, n);
        size_t hl = nul ? (size_t)(nul - (data + 1)) : n;
        fz_put64(f, hl);
        memcpy(f + 8, data + 1, hl);
        if (nul) memcpy(f + 8 + hl, nul + 1, n - hl - 1);
        n = nul ? n + 7 : n + 8;
    } else {
        memcpy(f, data + 1, n);
    }
    fz_write(path, f, n);

    dnas_st_file rf, mf;
    memset(&rf, 0xa5, sizeof rf);  /* failure must clear it */
    dnas_clear_error();
    dnas_status st = dnas_st_read(path, &rf);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", dnas_last_error());
    dnas_clear_error();
    dnas_status sm = dnas_st_parse(f, n, path, &mf);
    FZ_CHECK(st == sm, "read gives %d, parse of the same bytes %d", st, sm);
    if (st != DNAS_OK) {
        static const dnas_st_file empty;
        FZ_CHECK(memcmp(&rf, &empty, sizeof rf) == 0, "failed read left *out filled");
        FZ_CHECK(strcmp(msg, dnas_last_error()) == 0, "read and parse differ: %s / %s", msg,
                 dnas_last_error());
        fz_check_message(path);
    } else {
        check_accepted(&rf, f, n);
        check_same(&rf, &mf);
        round_trip(&rf, path);
    }
    dnas_st_free(&rf);
    dnas_st_free(&mf);
    free(f);
    return 0;
}
