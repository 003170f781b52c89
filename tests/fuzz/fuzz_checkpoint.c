/* Checkpoints: dnas_ckpt_read (checkpoint.c) and dnas_search_load_config (search_ckpt.c, the
 * stored configuration of a search checkpoint) on arbitrary files.
 * First input byte, bit 0: when set, the harness rewrites the header's size field and both
 * CRC-32C fields to match the rest, so mutations reach the structure checks behind the
 * checksums instead of all dying at "checksum mismatch".
 * Properties of an accepted file: every entry of its table (walked here independently from the
 * format description in checkpoint.h) is found under its name with its size and bytes, 64-byte
 * aligned; get with the wrong size fails; and writing the entries out again with the writer
 * gives a file that reads back to the same kind and entries (read -> write -> read). */
#include "fuzz_util.h"
#include "io/checkpoint.h"
#include "io/files.h"
#include "search/search.h"

static size_t align8(size_t v) { return (v + 7) / 8 * 8; }

/* The i-th table record of an accepted file: name, offset, size. */
typedef struct {
    const char *name;
    uint64_t off, bytes;
} rec;

/* Only called on a file the reader accepted, so the header and table can be trusted. */
static rec *walk(const uint8_t *f, size_t *count) {
    size_t kind_len = fz_get32(f + 32), n = fz_get32(f + 36);
    size_t pos = 48 + align8(kind_len + 1);
    rec *out = malloc((n ? n : 1) * sizeof *out);
    FZ_CHECK(out != NULL, "out of memory for %zu entries", n);
    for (size_t i = 0; i < n; i++) {
        out[i] = (rec){(const char *)f + pos + 24, fz_get64(f + pos), fz_get64(f + pos + 8)};
        pos += 24 + align8(fz_get32(f + pos + 16) + 1);
    }
    *count = n;
    return out;
}

static void check_entries(const dnas_ckpt *c, const uint8_t *f, const rec *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t bytes = 0;
        const uint8_t *p = dnas_ckpt_find(c, r[i].name, &bytes);
        FZ_CHECK(p != NULL, "entry '%s' of the table not found", r[i].name);
        FZ_CHECK(bytes == r[i].bytes, "entry '%s': %zu bytes, table says %llu", r[i].name, bytes,
                 (unsigned long long)r[i].bytes);
        FZ_CHECK((uintptr_t)p % 64 == 0, "entry '%s' not 64-byte aligned", r[i].name);
        if (f) FZ_CHECK(memcmp(p, f + r[i].off, bytes) == 0, "entry '%s' bytes differ", r[i].name);
        uint8_t *copy = malloc(bytes + 1);
        if (!copy) continue;
        FZ_CHECK(dnas_ckpt_get(c, r[i].name, copy, bytes) == DNAS_OK, "%s", dnas_last_error());
        FZ_CHECK(memcmp(copy, p, bytes) == 0, "get copied other bytes");
        FZ_CHECK(dnas_ckpt_get(c, r[i].name, copy, bytes + 1) != DNAS_OK, "get: wrong size accepted");
        uint64_t v;
        FZ_CHECK((dnas_ckpt_get_u64(c, r[i].name, &v) == DNAS_OK) == (bytes == 8), "get_u64 on %zu bytes",
                 bytes);
        free(copy);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char path[512], rt[512];
    fz_path(path, sizeof path, "in.dnas");
    fz_path(rt, sizeof rt, "rt.dnas");
    size_t n = size - 1;
    uint8_t *f = malloc(n ? n : 1);
    if (!f) return 0;
    memcpy(f, data + 1, n);
    if ((data[0] & 1) && n >= 32) {
        fz_put64(f + 16, n);
        fz_put32(f + 24, dnas_crc32c(0, f + 32, n - 32));
        fz_put32(f + 28, dnas_crc32c(0, f, 28));
    }
    fz_write(path, f, n);

    dnas_ckpt *c = NULL;
    char config_err[128] = "";  /* why the stored configuration does not parse, if it does not */
    dnas_clear_error();
    dnas_status st = dnas_ckpt_read(path, NULL, &c);
    if (st != DNAS_OK) {
        FZ_CHECK(c == NULL, "failed read returned a checkpoint");
        fz_check_message(path);
    } else {
        size_t ne;
        rec *r = walk(f, &ne);
        const char *kind = dnas_ckpt_kind(c);
        FZ_CHECK(kind && strcmp(kind, (const char *)f + 48) == 0, "kind differs");
        check_entries(c, f, r, ne);
        FZ_CHECK(dnas_ckpt_find(c, "", NULL) == NULL, "empty name found");
        dnas_ckpt *c3 = NULL;
        dnas_status st3 = dnas_ckpt_read(path, "search/nb201", &c3);
        FZ_CHECK((st3 == DNAS_OK) == (strcmp(kind, "search/nb201") == 0), "expected kind: %s",
                 dnas_last_error());
        if (st3 != DNAS_OK) fz_check_message(path);
        dnas_ckpt_free(c3);
        size_t cn;
        /* (nb201 is the one space this build knows; other kinds fail before the config.) */
        const char *ctext = strcmp(kind, "search/nb201") ? NULL : dnas_ckpt_find(c, "config", &cn);
        char *z = ctext ? malloc(cn + 1) : NULL;
        if (z) {
            memcpy(z, ctext, cn);
            z[cn] = 0;
            dnas_search_config cc;
            dnas_search_config_default(&cc, "darts1");
            if (dnas_search_config_parse(z, &cc) != DNAS_OK)
                snprintf(config_err, sizeof config_err, "%.100s", dnas_last_error());
            free(z);
        }

        /* read -> write -> read */
        dnas_ckpt_writer *w = NULL;
        FZ_CHECK(dnas_ckpt_write_begin(rt, kind, &w) == DNAS_OK, "%s", dnas_last_error());
        for (size_t i = 0; i < ne; i++) {
            size_t bytes;
            const void *p = dnas_ckpt_find(c, r[i].name, &bytes);
            FZ_CHECK(dnas_ckpt_put(w, r[i].name, p, bytes) == DNAS_OK, "%s", dnas_last_error());
        }
        FZ_CHECK(dnas_ckpt_write_commit(w) == DNAS_OK, "%s", dnas_last_error());
        dnas_ckpt *c2 = NULL;
        FZ_CHECK(dnas_ckpt_read(rt, kind, &c2) == DNAS_OK, "rewritten checkpoint: %s",
                 dnas_last_error());
        check_entries(c2, NULL, r, ne);
        /* Same entries in c2 as in c: compare through c's bytes. */
        for (size_t i = 0; i < ne; i++) {
            size_t b1, b2;
            const void *p1 = dnas_ckpt_find(c, r[i].name, &b1), *p2 = dnas_ckpt_find(c2, r[i].name, &b2);
            FZ_CHECK(b1 == b2 && memcmp(p1, p2, b1) == 0, "entry '%s' changed on rewrite", r[i].name);
        }
        dnas_ckpt_free(c2);
        dnas_ckpt_free(c);
        free(r);
    }

    /* The search layer on the same file: kind check and stored configuration. */
    dnas_search_config cfg;
    dnas_clear_error();
    if (dnas_search_load_config(path, &cfg) == DNAS_OK) {
        FZ_CHECK(strlen(cfg.space) < sizeof cfg.space, "space not terminated");
        (void)dnas_search_config_check(&cfg);
    } else {
        fz_check_message(path);
        /* A configuration that does not parse must be reported with the parser's reason. */
        const char *m = dnas_last_error();
        FZ_CHECK(!config_err[0] || strstr(m, config_err),
                 "stored configuration error lost its reason '%s': %s", config_err, m);
    }
    free(f);
    return 0;
}
