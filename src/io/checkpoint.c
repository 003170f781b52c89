#include "checkpoint.h"
#include "files.h"
#include "../core/alloc.h"
#include <stdio.h>
#include <string.h>

/* Layout constants; see the table in checkpoint.h. */
static const char MAGIC[8] = {'D', 'N', 'A', 'S', 'C', 'K', 'P', 'T'};
#define PREFIX_BYTES 32u   /* magic .. prefix CRC: the same in every version */
#define BODY_FIXED 48u     /* prefix + kind length, entry count, data offset */
#define RECORD_FIXED 24u   /* offset, size, name length, reserved */
#define DATA_ALIGN 64u

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* Explicit little-endian stores/loads: the format must not depend on the host. */
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint64_t get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- writing ----------------------------------------------------------------------------- */

typedef struct {
    unsigned char *data; /* one allocation: the copied bytes, then the NUL-terminated name */
    const char *name;
    size_t name_len, bytes;
} wentry;

struct dnas_ckpt_writer {
    wentry *e;
    size_t n, cap;
    size_t kind_len;
    dnas_status st;  /* first failed put: the commit reports it instead of writing */
    char err[256];   /* ... with the message it had, which later calls may have replaced */
    char kind[DNAS_CKPT_NAME_MAX + 1];
    char path[];
};

static void writer_free(dnas_ckpt_writer *w) {
    for (size_t i = 0; i < w->n; i++) dnas_free(w->e[i].data);
    dnas_free(w->e);
    dnas_free(w);
}

void dnas_ckpt_write_abort(dnas_ckpt_writer *w) {
    if (w) writer_free(w);
}

dnas_status dnas_ckpt_write_begin(const char *path, const char *kind, dnas_ckpt_writer **w) {
    if (!w) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_ckpt_write_begin: NULL writer pointer");
    *w = NULL;
    if (!path || !*path) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_ckpt_write_begin: empty path");
    size_t kl = kind ? strlen(kind) : 0;
    if (kl == 0 || kl > DNAS_CKPT_NAME_MAX)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: checkpoint kind must be 1..%d bytes (got %zu)",
                         path, DNAS_CKPT_NAME_MAX, kl);
    size_t pl = strlen(path);
    dnas_ckpt_writer *nw = dnas_alloc(sizeof *nw + pl + 1, "checkpoint writer");
    if (!nw) return DNAS_ERR_OOM;
    memset(nw, 0, sizeof *nw);
    memcpy(nw->kind, kind, kl + 1);
    nw->kind_len = kl;
    memcpy(nw->path, path, pl + 1);
    *w = nw;
    return DNAS_OK;
}

/* Record the first put failure so a commit cannot silently publish a partial checkpoint. */
static dnas_status poison(dnas_ckpt_writer *w, dnas_status st) {
    if (w->st == DNAS_OK) {
        w->st = st;
        snprintf(w->err, sizeof w->err, "%s", dnas_last_error());
    }
    return st;
}

dnas_status dnas_ckpt_put(dnas_ckpt_writer *w, const char *name, const void *data, size_t bytes) {
    if (!w) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_ckpt_put: NULL writer");
    if (w->st != DNAS_OK)
        return dnas_fail(w->st, "%s: checkpoint writer already failed: %s", w->path, w->err);
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > DNAS_CKPT_NAME_MAX)
        return poison(w, dnas_fail(DNAS_ERR_INVALID_ARG,
                                   "%s: checkpoint entry name must be 1..%d bytes (got %zu)",
                                   w->path, DNAS_CKPT_NAME_MAX, nl));
    if (!data && bytes)
        return poison(w, dnas_fail(DNAS_ERR_INVALID_ARG, "%s: checkpoint entry '%s' has NULL data",
                                   w->path, name));
    /* Bound sizes so the layout arithmetic in the commit cannot overflow. */
    if (bytes > SIZE_MAX / 4)
        return poison(w, dnas_fail(DNAS_ERR_INVALID_ARG, "%s: checkpoint entry '%s' too large (%zu bytes)",
                                   w->path, name, bytes));
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return poison(w, dnas_fail(DNAS_ERR_INVALID_ARG, "%s: duplicate checkpoint entry '%s'",
                                       w->path, name));
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        wentry *e = dnas_alloc(cap * sizeof *e, "checkpoint entry list");
        if (!e) return poison(w, DNAS_ERR_OOM);
        if (w->n) memcpy(e, w->e, w->n * sizeof *e);
        dnas_free(w->e);
        w->e = e;
        w->cap = cap;
    }
    unsigned char *copy = dnas_alloc(bytes + nl + 1, name);
    if (!copy) return poison(w, DNAS_ERR_OOM);
    if (bytes) memcpy(copy, data, bytes);
    memcpy(copy + bytes, name, nl + 1);
    w->e[w->n++] = (wentry){copy, (const char *)copy + bytes, nl, bytes};
    return DNAS_OK;
}

dnas_status dnas_ckpt_put_u64(dnas_ckpt_writer *w, const char *name, uint64_t v) {
    unsigned char b[8];
    put64(b, v);
    return dnas_ckpt_put(w, name, b, sizeof b);
}

dnas_status dnas_ckpt_write_commit(dnas_ckpt_writer *w) {
    if (!w) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_ckpt_write_commit: NULL writer");
    if (w->st != DNAS_OK) {
        dnas_status st = dnas_fail(w->st, "%s: checkpoint not written: an earlier put failed: %s",
                                   w->path, w->err);
        writer_free(w);
        return st;
    }
    /* Layout: header and table, then each entry's data at the next multiple of 64. */
    size_t table = BODY_FIXED + align_up(w->kind_len + 1, 8), pos = table;
    for (size_t i = 0; i < w->n; i++) pos += RECORD_FIXED + align_up(w->e[i].name_len + 1, 8);
    size_t data_start = align_up(pos, DATA_ALIGN), total = data_start;
    size_t *offs = dnas_alloc((w->n ? w->n : 1) * sizeof *offs, "checkpoint layout");
    unsigned char *head = offs ? dnas_calloc(data_start, "checkpoint header") : NULL;
    if (!head) {
        dnas_free(offs);
        writer_free(w);
        return DNAS_ERR_OOM;
    }
    for (size_t i = 0; i < w->n; i++) {
        offs[i] = align_up(total, DATA_ALIGN);
        total = offs[i] + w->e[i].bytes; /* each <= SIZE_MAX/4: no overflow for real inputs */
    }

    memcpy(head, MAGIC, 8);
    put32(head + 8, DNAS_CKPT_VERSION);
    put32(head + 12, 0);
    put64(head + 16, total);
    put32(head + 32, (uint32_t)w->kind_len);
    put32(head + 36, (uint32_t)w->n);
    put64(head + 40, data_start);
    memcpy(head + BODY_FIXED, w->kind, w->kind_len);
    pos = table;
    for (size_t i = 0; i < w->n; i++) {
        put64(head + pos, offs[i]);
        put64(head + pos + 8, w->e[i].bytes);
        put32(head + pos + 16, (uint32_t)w->e[i].name_len);
        memcpy(head + pos + RECORD_FIXED, w->e[i].name, w->e[i].name_len);
        pos += RECORD_FIXED + align_up(w->e[i].name_len + 1, 8);
    }

    /* Body CRC in file order (header tail, then padding + data of each entry), then the prefix
     * CRC, which covers the body CRC. */
    static const unsigned char zeros[DATA_ALIGN];
    uint32_t crc = dnas_crc32c(0, head + PREFIX_BYTES, data_start - PREFIX_BYTES);
    size_t end = data_start;
    for (size_t i = 0; i < w->n; i++) {
        crc = dnas_crc32c(crc, zeros, offs[i] - end);
        crc = dnas_crc32c(crc, w->e[i].data, w->e[i].bytes);
        end = offs[i] + w->e[i].bytes;
    }
    put32(head + 24, crc);
    put32(head + 28, dnas_crc32c(0, head, 28));

    dnas_atomic_file f;
    dnas_status st = dnas_atomic_open(&f, w->path);
    if (st == DNAS_OK) {
        /* Write errors stick in `f`; the commit reports the first and removes the temp. */
        dnas_atomic_write(&f, head, data_start);
        end = data_start;
        for (size_t i = 0; i < w->n; i++) {
            dnas_atomic_write(&f, zeros, offs[i] - end);
            dnas_atomic_write(&f, w->e[i].data, w->e[i].bytes);
            end = offs[i] + w->e[i].bytes;
        }
        st = dnas_atomic_commit(&f);
    }
    dnas_free(head);
    dnas_free(offs);
    writer_free(w);
    return st;
}

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const unsigned char *data;
    size_t bytes;
} rentry;

struct dnas_ckpt {
    unsigned char *buf; /* the whole file (dnas_read_file: 64-byte aligned, NUL after the end) */
    size_t size, n;
    const char *kind;   /* points into buf */
    const char *path;   /* points after e[n] in this allocation */
    rentry e[];
};

/* A table or header field that the CRC vouched for but that makes no sense: a writer bug or a
 * crafted file. */
#define BAD(...)                                                                             \
    do {                                                                                     \
        char why__[160];                                                                     \
        snprintf(why__, sizeof why__, __VA_ARGS__);                                          \
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: bad checkpoint structure (%s); file corrupt", path, \
                       why__);                                                               \
        goto fail;                                                                           \
    } while (0)

/* A NUL-terminated string of exactly `len` bytes at buf[at] inside [at, limit). */
static int str_ok(const unsigned char *buf, size_t at, size_t len, size_t limit) {
    return len >= 1 && len <= DNAS_CKPT_NAME_MAX && at + len < limit && buf[at + len] == 0 &&
           memchr(buf + at, 0, len) == NULL;
}

dnas_status dnas_ckpt_read(const char *path, const char *expect_kind, dnas_ckpt **out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_ckpt_read: NULL output pointer");
    *out = NULL;
    if (!path || !*path) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_ckpt_read: empty path");
    char *raw;
    size_t size;
    DNAS_TRY(dnas_read_file(path, &raw, &size));
    unsigned char *buf = (unsigned char *)raw;
    dnas_ckpt *c = NULL;
    dnas_status st = DNAS_OK;

    /* Order matters: each check only trusts fields that an earlier check has vouched for. */
    if (memcmp(buf, MAGIC, size < 8 ? size : 8) != 0) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: not a dnas checkpoint", path);
        goto fail;
    }
    if (size < PREFIX_BYTES) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: truncated (%zu bytes, shorter than the %u-byte header)",
                       path, size, PREFIX_BYTES);
        goto fail;
    }
    if (dnas_crc32c(0, buf, 28) != get32(buf + 28)) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: checksum mismatch (file corrupt)", path);
        goto fail;
    }
    uint32_t version = get32(buf + 8);
    if (version != DNAS_CKPT_VERSION) {
        st = dnas_fail(DNAS_ERR_FORMAT,
                       "%s: checkpoint format version %u is not supported (this build reads "
                       "version %d; use the dnas that wrote it)",
                       path, version, DNAS_CKPT_VERSION);
        goto fail;
    }
    uint64_t total = get64(buf + 16);
    if ((uint64_t)size < total) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: truncated (%zu bytes, header says %llu)", path, size,
                       (unsigned long long)total);
        goto fail;
    }
    if ((uint64_t)size > total) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: %zu bytes, header says %llu (trailing data; file corrupt)",
                       path, size, (unsigned long long)total);
        goto fail;
    }
    if (dnas_crc32c(0, buf + PREFIX_BYTES, size - PREFIX_BYTES) != get32(buf + 24)) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: checksum mismatch (file corrupt)", path);
        goto fail;
    }

    /* The bytes are what the writer wrote; now check that they describe a sane layout. */
    if (get32(buf + 12) != 0) BAD("reserved header field is %u", get32(buf + 12));
    if (size < BODY_FIXED) BAD("%zu bytes cannot hold the header", size);
    size_t kind_len = get32(buf + 32), n = get32(buf + 36);
    uint64_t data_start = get64(buf + 40);
    if (data_start > size || data_start % DATA_ALIGN)
        BAD("data offset %llu in a %zu-byte file", (unsigned long long)data_start, size);
    if (!str_ok(buf, BODY_FIXED, kind_len, (size_t)data_start)) BAD("kind field");
    size_t pos = BODY_FIXED + align_up(kind_len + 1, 8);
    if (n > ((size_t)data_start - pos) / RECORD_FIXED) BAD("%zu entries do not fit the table", n);

    size_t pl = strlen(path);
    c = dnas_alloc(sizeof *c + n * sizeof(rentry) + pl + 1, "checkpoint index");
    if (!c) {
        st = DNAS_ERR_OOM;
        goto fail;
    }
    c->buf = buf;
    c->size = size;
    c->n = n;
    c->kind = (const char *)buf + BODY_FIXED;
    c->path = memcpy((char *)(c->e + n), path, pl + 1);
    uint64_t prev_end = data_start;
    for (size_t i = 0; i < n; i++) {
        if (pos + RECORD_FIXED > data_start) BAD("entry %zu lies outside the table", i);
        uint64_t off = get64(buf + pos), bytes = get64(buf + pos + 8);
        size_t nl = get32(buf + pos + 16);
        if (get32(buf + pos + 20) != 0) BAD("entry %zu: reserved field set", i);
        if (!str_ok(buf, pos + RECORD_FIXED, nl, (size_t)data_start)) BAD("entry %zu: name", i);
        const char *name = (const char *)buf + pos + RECORD_FIXED;
        if (off % DATA_ALIGN || off < prev_end || off > size || bytes > size - off)
            BAD("entry '%s': %llu bytes at offset %llu", name, (unsigned long long)bytes,
                (unsigned long long)off);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->e[j].name, name) == 0) BAD("entry '%s' appears twice", name);
        c->e[i] = (rentry){name, buf + off, (size_t)bytes};
        prev_end = off + bytes;
        pos += RECORD_FIXED + align_up(nl + 1, 8);
    }
    if ((n ? prev_end : data_start) != size) BAD("data ends at %llu, file at %zu",
                                                 (unsigned long long)prev_end, size);

    if (expect_kind && strcmp(c->kind, expect_kind) != 0) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: checkpoint is for '%s', expected '%s'", path, c->kind,
                       expect_kind);
        goto fail;
    }
    *out = c;
    return DNAS_OK;

fail:
    dnas_free(c);
    dnas_free(buf);
    return st;
}
#undef BAD

const char *dnas_ckpt_kind(const dnas_ckpt *c) { return c ? c->kind : NULL; }

static const rentry *lookup(const dnas_ckpt *c, const char *name) {
    if (!c || !name) return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].name, name) == 0) return &c->e[i];
    return NULL;
}

const void *dnas_ckpt_find(const dnas_ckpt *c, const char *name, size_t *bytes) {
    const rentry *e = lookup(c, name);
    if (bytes) *bytes = e ? e->bytes : 0;
    return e ? e->data : NULL;
}

dnas_status dnas_ckpt_get(const dnas_ckpt *c, const char *name, void *dst, size_t bytes) {
    if (!c || !name || (!dst && bytes))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_ckpt_get: NULL argument");
    const rentry *e = lookup(c, name);
    if (!e)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: checkpoint ('%s') has no entry '%s'", c->path,
                         c->kind, name);
    if (e->bytes != bytes)
        return dnas_fail(DNAS_ERR_FORMAT,
                         "%s: checkpoint entry '%s' is %zu bytes, expected %zu (saved with a "
                         "different configuration?)",
                         c->path, name, e->bytes, bytes);
    if (bytes) memcpy(dst, e->data, bytes);
    return DNAS_OK;
}

dnas_status dnas_ckpt_get_u64(const dnas_ckpt *c, const char *name, uint64_t *v) {
    unsigned char b[8];
    if (!v) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_ckpt_get_u64: NULL output");
    DNAS_TRY(dnas_ckpt_get(c, name, b, sizeof b));
    *v = get64(b);
    return DNAS_OK;
}

void dnas_ckpt_free(dnas_ckpt *c) {
    if (!c) return;
    dnas_free(c->buf);
    dnas_free(c);
}
