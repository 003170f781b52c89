/* safetensors writer and a strict reader (the format is described in safetensors.h). */
#include "safetensors.h"
#include "files.h"
#include "../core/alloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"F32", 4}, {"I64", 8}, {"F64", 8}, {"I32", 4}, {"U8", 1}};
#define N_DTYPES (int)(sizeof dtypes / sizeof dtypes[0])

const char *dnas_st_dtype_name(dnas_st_dtype t) {
    return (int)t >= 0 && (int)t < N_DTYPES ? dtypes[t].name : "?";
}
size_t dnas_st_dtype_size(dnas_st_dtype t) {
    return (int)t >= 0 && (int)t < N_DTYPES ? dtypes[t].size : 0;
}

/* numel x dtype size, or 0 with *ok = 0 when a dimension is negative or the size overflows. */
static size_t tensor_bytes(dnas_st_dtype dt, int ndim, const int64_t *shape, int *ok) {
    uint64_t n = dnas_st_dtype_size(dt);
    *ok = n > 0 && ndim >= 0 && ndim <= DNAS_ST_MAX_DIMS;
    for (int d = 0; *ok && d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && n > (UINT64_MAX >> 2) / (uint64_t)shape[d])) *ok = 0;
        else n *= (uint64_t)shape[d];
    }
    return *ok && n <= SIZE_MAX / 2 ? (size_t)n : (*ok = 0, 0);
}

/* ---- writing ------------------------------------------------------------------------------ */
static int cmp_name(const void *a, const void *b) {
    const dnas_st_tensor *x = *(const dnas_st_tensor *const *)a, *y = *(const dnas_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

dnas_status dnas_st_encode(const dnas_st_tensor *t, int n, const dnas_st_meta *meta, int n_meta,
                           const char *what, char **buf, size_t *bytes) {
    *buf = NULL;
    *bytes = 0;
    if (n < 0 || n_meta < 0 || (n && !t) || (n_meta && !meta))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: bad tensor or metadata list", what);
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: metadata entry %d is NULL", what, i);
        for (int j = 0; j < i; j++)
            if (strcmp(meta[i].key, meta[j].key) == 0)
                return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: metadata key '%s' given twice", what,
                                 meta[i].key);
    }
    const dnas_st_tensor **order = dnas_alloc((size_t)(n ? n : 1) * sizeof *order, "safetensors order");
    if (!order) return DNAS_ERR_OOM;
    dnas_status st = DNAS_OK;
    size_t data_bytes = 0;
    for (int i = 0; i < n && st == DNAS_OK; i++) {
        int ok;
        size_t b = tensor_bytes(t[i].dtype, t[i].ndim, t[i].shape, &ok);
        size_t len = t[i].name ? strlen(t[i].name) : 0;
        if (len == 0 || len > 255 || strcmp(t[i].name, "__metadata__") == 0)
            st = dnas_fail(DNAS_ERR_INVALID_ARG, "%s: tensor %d: a name of 1..255 bytes other than "
                           "__metadata__ is required", what, i);
        else if (!ok)
            st = dnas_fail(DNAS_ERR_INVALID_ARG, "%s: tensor %s: bad dtype or shape", what, t[i].name);
        else if (b && !t[i].data)
            st = dnas_fail(DNAS_ERR_INVALID_ARG, "%s: tensor %s has no data", what, t[i].name);
        order[i] = &t[i];
        data_bytes += b;
    }
    if (st == DNAS_OK) qsort(order, (size_t)n, sizeof *order, cmp_name);
    for (int i = 1; i < n && st == DNAS_OK; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            st = dnas_fail(DNAS_ERR_INVALID_ARG, "%s: tensor name %s given twice", what, order[i]->name);

    dnas_sbuf h = {0};
    if (st == DNAS_OK) {
        dnas_sb_printf(&h, "{");
        if (n_meta) {
            dnas_sb_printf(&h, "\"__metadata__\":{");
            for (int i = 0; i < n_meta; i++) {
                if (i) dnas_sb_printf(&h, ",");
                dnas_sb_json_string(&h, meta[i].key);
                dnas_sb_printf(&h, ":");
                dnas_sb_json_string(&h, meta[i].value);
            }
            dnas_sb_printf(&h, "}");
        }
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            int ok;
            size_t b = tensor_bytes(order[i]->dtype, order[i]->ndim, order[i]->shape, &ok);
            dnas_sb_printf(&h, "%s", n_meta || i ? "," : "");
            dnas_sb_json_string(&h, order[i]->name);
            dnas_sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dnas_st_dtype_name(order[i]->dtype));
            for (int d = 0; d < order[i]->ndim; d++)
                dnas_sb_printf(&h, "%s%lld", d ? "," : "", (long long)order[i]->shape[d]);
            dnas_sb_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + b);
            off += b;
        }
        dnas_sb_printf(&h, "}");
        /* Spaces after the object: the data then starts 8-byte aligned, as the format asks. */
        while (!h.oom && (8 + h.len) % 8) dnas_sb_printf(&h, " ");
        if (h.oom) st = dnas_fail(DNAS_ERR_OOM, "%s: out of memory for the header", what);
    }
    char *out = NULL;
    size_t total = 0;
    if (st == DNAS_OK) {
        total = 8 + h.len + data_bytes;
        out = dnas_alloc(total ? total : 1, "safetensors file");
        if (!out) st = DNAS_ERR_OOM;
    }
    if (st == DNAS_OK) {
        uint64_t hl = h.len;
        for (int k = 0; k < 8; k++) out[k] = (char)(hl >> (8 * k) & 0xff);
        memcpy(out + 8, h.buf, h.len);
        size_t off = 8 + h.len;
        for (int i = 0; i < n; i++) {
            int ok;
            size_t b = tensor_bytes(order[i]->dtype, order[i]->ndim, order[i]->shape, &ok);
            if (b) memcpy(out + off, order[i]->data, b);
            off += b;
        }
        *buf = out;
        *bytes = total;
    }
    dnas_sb_free(&h);
    dnas_free(order);
    return st;
}

dnas_status dnas_st_write(const char *path, const dnas_st_tensor *t, int n,
                          const dnas_st_meta *meta, int n_meta) {
    char *buf = NULL;
    size_t bytes = 0;
    DNAS_TRY(dnas_st_encode(t, n, meta, n_meta, path, &buf, &bytes));
    dnas_status st = dnas_write_file_atomic(path, buf, bytes);
    dnas_free(buf);
    return st;
}

/* ---- reading ------------------------------------------------------------------------------ */
/* A bounded cursor over the header; errors name the file and the column (1-based). */
typedef struct {
    const char *s, *p, *end, *what;
} cur;

static dnas_status bad(const cur *c, const char *why) {
    return dnas_fail(DNAS_ERR_FORMAT, "%s: safetensors header, column %ld: %s", c->what,
                     (long)(c->p - c->s) + 1, why);
}

static void ws(cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(cur *c, char ch) {
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int hexval(char h) {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

/* A JSON string into a fresh dnas_alloc'd, NUL-terminated buffer (\u escapes of the BMP only:
 * we write none, and no tensor name needs a surrogate pair). */
static dnas_status str(cur *c, char **out) {
    *out = NULL;
    ws(c);
    if (c->p >= c->end || *c->p != '"') return bad(c, "expected a string");
    const char *q = ++c->p;
    while (q < c->end && *q != '"') q += *q == '\\' ? 2 : 1;
    if (q >= c->end) return bad(c, "unterminated string");
    char *s = dnas_alloc((size_t)(q - c->p) * 2 + 1, "safetensors string");
    if (!s) return DNAS_ERR_OOM;
    size_t o = 0;
    while (c->p < q) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20) {
            dnas_free(s);
            return bad(c, "control character in a string");
        }
        if (ch != '\\') {
            s[o++] = (char)ch;
            c->p++;
            continue;
        }
        char e = c->p[1];
        const char *simple = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(simple, e) : NULL;
        if (k) {
            s[o++] = to[k - simple];
            c->p += 2;
            continue;
        }
        unsigned v = 0;
        int okhex = e == 'u' && q - c->p >= 6;
        for (int i = 0; okhex && i < 4; i++) {
            int h = hexval(c->p[2 + i]);
            okhex = h >= 0;
            v = v * 16 + (unsigned)(h < 0 ? 0 : h);
        }
        if (!okhex || v == 0 || (v >= 0xD800 && v <= 0xDFFF)) {
            dnas_free(s);
            return bad(c, "bad escape in a string");
        }
        if (v < 0x80) s[o++] = (char)v;
        else if (v < 0x800) {
            s[o++] = (char)(0xC0 | v >> 6);
            s[o++] = (char)(0x80 | (v & 0x3F));
        } else {
            s[o++] = (char)(0xE0 | v >> 12);
            s[o++] = (char)(0x80 | (v >> 6 & 0x3F));
            s[o++] = (char)(0x80 | (v & 0x3F));
        }
        c->p += 6;
    }
    s[o] = 0;
    c->p = q + 1;
    *out = s;
    return DNAS_OK;
}

/* A non-negative integer below 2^62 (shapes and offsets). */
static dnas_status uint_(cur *c, uint64_t *v) {
    ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return bad(c, "expected a non-negative integer");
    if (*c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9')
        return bad(c, "leading zero in a number");
    *v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (*v > ((uint64_t)1 << 62) / 10) return bad(c, "number too large");
        *v = *v * 10 + (uint64_t)(*c->p++ - '0');
    }
    return DNAS_OK;
}

/* [u, u, ...] with at most `cap` numbers; *n = the count. */
static dnas_status uint_array(cur *c, uint64_t *v, int cap, int *n) {
    *n = 0;
    if (!eat(c, '[')) return bad(c, "expected '['");
    if (eat(c, ']')) return DNAS_OK;
    do {
        if (*n >= cap) return bad(c, "too many numbers in the array");
        DNAS_TRY(uint_(c, &v[(*n)++]));
    } while (eat(c, ','));
    if (!eat(c, ']')) return bad(c, "expected ',' or ']'");
    return DNAS_OK;
}

static dnas_status meta_obj(cur *c, dnas_st_file *f) {
    if (f->meta) return bad(c, "__metadata__ given twice");
    if (!eat(c, '{')) return bad(c, "__metadata__ must be an object of strings");
    int cap = 8;
    f->meta = dnas_calloc((size_t)cap * 2 * sizeof(char *), "safetensors metadata");
    if (!f->meta) return DNAS_ERR_OOM;
    if (eat(c, '}')) return DNAS_OK;
    do {
        if (f->n_meta == cap) {
            char **m = dnas_calloc((size_t)cap * 4 * sizeof(char *), "safetensors metadata");
            if (!m) return DNAS_ERR_OOM;
            memcpy(m, f->meta, (size_t)cap * 2 * sizeof(char *));
            dnas_free(f->meta);
            f->meta = m;
            cap *= 2;
        }
        char **kv = &f->meta[2 * f->n_meta];
        DNAS_TRY(str(c, &kv[0]));
        f->n_meta++; /* owned from here, freed with the file */
        if (!eat(c, ':')) return bad(c, "expected ':'");
        DNAS_TRY(str(c, &kv[1]));
        for (int i = 0; i + 1 < f->n_meta; i++)
            if (strcmp(f->meta[2 * i], kv[0]) == 0) return bad(c, "duplicate __metadata__ key");
    } while (eat(c, ','));
    if (!eat(c, '}')) return bad(c, "expected ',' or '}' in __metadata__");
    return DNAS_OK;
}

/* {"dtype": "F32", "shape": [...], "data_offsets": [b, e]} in any order, each exactly once. */
static dnas_status tensor_obj(cur *c, dnas_st_entry *e, uint64_t off[2]) {
    if (!eat(c, '{')) return bad(c, "a tensor entry must be an object");
    int seen[3] = {0, 0, 0};
    do {
        char *k = NULL;
        DNAS_TRY(str(c, &k));
        int which = !strcmp(k, "dtype") ? 0 : !strcmp(k, "shape") ? 1 : !strcmp(k, "data_offsets") ? 2 : -1;
        dnas_free(k);
        if (which < 0) return bad(c, "a tensor entry holds only dtype, shape and data_offsets");
        if (seen[which]++) return bad(c, "duplicate key in a tensor entry");
        if (!eat(c, ':')) return bad(c, "expected ':'");
        if (which == 0) {
            char *d = NULL;
            DNAS_TRY(str(c, &d));
            int t = -1;
            for (int i = 0; i < N_DTYPES; i++)
                if (!strcmp(d, dtypes[i].name)) t = i;
            dnas_free(d);
            if (t < 0) return bad(c, "unknown or unsupported dtype (we read F32, I64, F64, I32, U8)");
            e->dtype = (dnas_st_dtype)t;
        } else if (which == 1) {
            uint64_t s[DNAS_ST_MAX_DIMS];
            DNAS_TRY(uint_array(c, s, DNAS_ST_MAX_DIMS, &e->ndim));
            for (int d = 0; d < e->ndim; d++) e->shape[d] = (int64_t)s[d];
        } else {
            int n = 0;
            DNAS_TRY(uint_array(c, off, 2, &n));
            if (n != 2 || off[0] > off[1]) return bad(c, "data_offsets must be [begin, end] with begin <= end");
        }
    } while (eat(c, ','));
    if (!eat(c, '}')) return bad(c, "expected ',' or '}' in a tensor entry");
    if (!seen[0] || !seen[1] || !seen[2]) return bad(c, "a tensor entry needs dtype, shape and data_offsets");
    return DNAS_OK;
}

typedef struct {
    uint64_t b, e;
    int i;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->b > y->b) - (x->b < y->b);
}

static dnas_status parse_header(cur *c, dnas_st_file *f, const char *data, uint64_t data_bytes) {
    if (c->p >= c->end || *c->p != '{') return bad(c, "the header must start with '{'");
    c->p++;
    int cap = 64;
    span *sp = NULL;
    f->t = dnas_calloc((size_t)cap * sizeof *f->t, "safetensors entries");
    if (!f->t) return DNAS_ERR_OOM;
    dnas_status st = DNAS_OK;
    if (!eat(c, '}')) {
        do {
            char *k = NULL;
            if ((st = str(c, &k)) != DNAS_OK) return st;
            if (!eat(c, ':')) {
                dnas_free(k);
                return bad(c, "expected ':'");
            }
            if (!strcmp(k, "__metadata__")) {
                dnas_free(k);
                if ((st = meta_obj(c, f)) != DNAS_OK) return st;
                continue;
            }
            if (f->n == cap) {
                dnas_st_entry *t = dnas_calloc((size_t)cap * 2 * sizeof *t, "safetensors entries");
                if (!t) {
                    dnas_free(k);
                    return DNAS_ERR_OOM;
                }
                memcpy(t, f->t, (size_t)cap * sizeof *t);
                dnas_free(f->t);
                f->t = t;
                cap *= 2;
            }
            dnas_st_entry *e = &f->t[f->n++];
            e->name = k;
            uint64_t off[2];
            if ((st = tensor_obj(c, e, off)) != DNAS_OK) return st;
            int ok;
            size_t want = tensor_bytes(e->dtype, e->ndim, e->shape, &ok);
            if (!ok || off[1] - off[0] != want)
                return dnas_fail(DNAS_ERR_FORMAT, "%s: tensor %s: data_offsets [%llu, %llu] hold %llu "
                                 "bytes, its dtype and shape need %zu", c->what, e->name,
                                 (unsigned long long)off[0], (unsigned long long)off[1],
                                 (unsigned long long)(off[1] - off[0]), want);
            if (off[1] > data_bytes)
                return dnas_fail(DNAS_ERR_FORMAT, "%s: tensor %s ends at byte %llu of a %llu-byte "
                                 "data buffer (truncated file?)", c->what, e->name,
                                 (unsigned long long)off[1], (unsigned long long)data_bytes);
            e->data = data + off[0];
            e->bytes = want;
            for (int i = 0; i + 1 < f->n; i++)
                if (!strcmp(f->t[i].name, k)) return bad(c, "duplicate tensor name");
        } while (eat(c, ','));
        if (!eat(c, '}')) return bad(c, "expected ',' or '}'");
    }
    ws(c);
    if (c->p != c->end) return bad(c, "text after the header object");
    /* Exactly covered: sorted by begin, each tensor starts where the previous ended. */
    sp = dnas_alloc((size_t)(f->n ? f->n : 1) * sizeof *sp, "safetensors spans");
    if (!sp) return DNAS_ERR_OOM;
    for (int i = 0; i < f->n; i++) {
        sp[i].b = (uint64_t)((const char *)f->t[i].data - data);
        sp[i].e = sp[i].b + f->t[i].bytes;
        sp[i].i = i;
    }
    qsort(sp, (size_t)f->n, sizeof *sp, cmp_span);
    uint64_t at = 0;
    for (int i = 0; i < f->n && st == DNAS_OK; i++) {
        if (sp[i].b != at)
            st = dnas_fail(DNAS_ERR_FORMAT, "%s: tensor %s starts at byte %llu of the data buffer, "
                           "expected %llu (holes or overlaps are not allowed)", c->what,
                           f->t[sp[i].i].name, (unsigned long long)sp[i].b, (unsigned long long)at);
        at = sp[i].e;
    }
    if (st == DNAS_OK && at != data_bytes)
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: the tensors cover %llu bytes of a %llu-byte data "
                       "buffer", c->what, (unsigned long long)at, (unsigned long long)data_bytes);
    dnas_free(sp);
    return st;
}

dnas_status dnas_st_parse(const void *data, size_t size, const char *what, dnas_st_file *out) {
    memset(out, 0, sizeof *out);
    if (size < 8)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file "
                         "(truncated?)", what, size);
    out->file = dnas_alloc(size, "safetensors file");
    if (!out->file) return DNAS_ERR_OOM;
    memcpy(out->file, data, size);
    out->size = size;
    const unsigned char *u = (const unsigned char *)out->file;
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = hl << 8 | u[k];
    dnas_status st = DNAS_OK;
    if (hl > DNAS_ST_HEADER_MAX || hl > size - 8)
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: header length %llu does not fit in the file's %zu "
                       "bytes (truncated or not a safetensors file)", what, (unsigned long long)hl,
                       size);
    if (st == DNAS_OK) {
        cur c = {out->file + 8, out->file + 8, out->file + 8 + hl, what};
        st = parse_header(&c, out, out->file + 8 + hl, size - 8 - hl);
    }
    if (st != DNAS_OK) dnas_st_free(out);
    return st;
}

dnas_status dnas_st_read(const char *path, dnas_st_file *out) {
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t size = 0;
    DNAS_TRY(dnas_read_file(path, &data, &size));
    dnas_status st = dnas_st_parse(data, size, path, out);
    dnas_free(data);
    return st;
}

const dnas_st_entry *dnas_st_find(const dnas_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const char *dnas_st_meta_get(const dnas_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

void dnas_st_free(dnas_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) dnas_free(f->t[i].name);
    for (int i = 0; i < 2 * f->n_meta; i++) dnas_free(f->meta[i]);
    dnas_free(f->t);
    dnas_free(f->meta);
    dnas_free(f->file);
    memset(f, 0, sizeof *f);
}
