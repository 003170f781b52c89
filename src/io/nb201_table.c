/* NB201 arch strings <-> op-index arrays, and the results table loaded from nb201.csv. */
#include "nb201_table.h"
#include "../core/alloc.h"
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one table of NB201 op names, in benchmark order. The search space's alpha columns are
 * these same names (space/space.h declares the array for space/nb201.c). */
const char *const dnas_nb201_ops[DNAS_NB201_OPS] = {"none", "skip_connect", "nor_conv_1x1",
                                                    "nor_conv_3x3", "avg_pool_3x3"};
static const char *const *const op_names = dnas_nb201_ops;

const char *dnas_nb201_op_name(int op) {
    return op >= 0 && op < DNAS_NB201_OPS ? op_names[op] : NULL;
}

/* A printable, bounded copy of untrusted text for a one-line error message. */
static void quote(char *dst, size_t cap, const char *s) {
    size_t o = 0;
    const size_t keep = 100;
    size_t i = 0;
    for (; s[i] && i < keep && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
        } else {
            dst[o++] = (char)ch;
        }
    }
    if (s[i] && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = 0;
}

/* A character for a message: 'c' if printable, else its hex escape. */
static const char *show_char(char buf[8], char c) {
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7f) snprintf(buf, 8, "'%c'", c);
    else snprintf(buf, 8, "\\x%02x", u);
    return buf;
}

#define ARCH_FAIL(...)                                                                        \
    do {                                                                                      \
        char q_[512], why_[512];                                                              \
        quote(q_, sizeof q_, arch);                                                           \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                             \
        return dnas_fail(DNAS_ERR_INVALID_ARG, "invalid NB201 arch string \"%s\": %s", q_,     \
                         why_);                                                               \
    } while (0)

dnas_status dnas_nb201_arch_parse(const char *arch, int ops[DNAS_NB201_EDGES]) {
    if (!arch) return dnas_fail(DNAS_ERR_INVALID_ARG, "invalid NB201 arch string: NULL");
    if (!ops) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_nb201_arch_parse: ops is NULL");
    const char *p = arch;
    char cb[8];
    int e = 0;
    for (int node = 1; node <= 3; node++) {
        if (node > 1) {
            if (*p != '+') {
                if (*p == 0)
                    ARCH_FAIL("ends after node %d; expected '+' and node %d (3 nodes, "
                              "format |op~0|+|op~0|op~1|+|op~0|op~1|op~2|)",
                              node - 1, node);
                ARCH_FAIL("at position %d: expected '+' after node %d, found %s (node %d "
                          "takes exactly %d input%s)",
                          (int)(p - arch), node - 1, show_char(cb, *p), node - 1, node - 1,
                          node - 1 == 1 ? "" : "s");
            }
            p++;
        }
        if (*p != '|') {
            if (*p == 0) ARCH_FAIL("ends where node %d should start with '|'", node);
            ARCH_FAIL("at position %d: expected '|' to start node %d, found %s",
                      (int)(p - arch), node, show_char(cb, *p));
        }
        p++;
        for (int j = 0; j < node; j++, e++) {
            const char *s = p;
            while (*p && *p != '~' && *p != '|' && *p != '+') p++;
            size_t len = (size_t)(p - s);
            int op = -1;
            for (int k = 0; k < DNAS_NB201_OPS; k++)
                if (strlen(op_names[k]) == len && strncmp(s, op_names[k], len) == 0) op = k;
            if (op < 0) {
                if (len == 0) {
                    if (j > 0 && (*p == '+' || *p == 0))
                        ARCH_FAIL("node %d has %d input%s, needs %d (inputs ~0..~%d)", node, j,
                                  j == 1 ? "" : "s", node, node - 1);
                    ARCH_FAIL("at position %d: empty op name (node %d, input %d)",
                              (int)(s - arch), node, j);
                }
                char name[64];
                snprintf(name, sizeof name, "%.*s", len > 40 ? 40 : (int)len, s);
                char qn[128];
                quote(qn, sizeof qn, name);
                ARCH_FAIL("at position %d: unknown op \"%s\" (expected none, skip_connect, "
                          "nor_conv_1x1, nor_conv_3x3 or avg_pool_3x3)",
                          (int)(s - arch), qn);
            }
            if (*p != '~') {
                if (*p == 0) ARCH_FAIL("ends after op %s; expected '~%d'", op_names[op], j);
                ARCH_FAIL("at position %d: expected '~' after op %s, found %s",
                          (int)(p - arch), op_names[op], show_char(cb, *p));
            }
            p++;
            if (*p < '0' || *p > '9') {
                if (*p == 0) ARCH_FAIL("ends after '%s~'; expected input number %d",
                                       op_names[op], j);
                ARCH_FAIL("at position %d: expected input number %d after '~', found %s",
                          (int)(p - arch), j, show_char(cb, *p));
            }
            if (*p - '0' != j)
                ARCH_FAIL("at position %d: node %d lists input ~%c where ~%d is expected "
                          "(inputs must be ~0..~%d in ascending order)",
                          (int)(p - arch), node, *p, j, node - 1);
            p++;
            if (*p != '|') {
                if (*p == 0) ARCH_FAIL("ends after '%s~%d'; expected '|'", op_names[op], j);
                ARCH_FAIL("at position %d: expected '|' after '%s~%d', found %s",
                          (int)(p - arch), op_names[op], j, show_char(cb, *p));
            }
            p++;
            ops[e] = op;
        }
    }
    if (*p)
        ARCH_FAIL("unexpected text after node 3 at position %d (an NB201 cell has 3 nodes)",
                  (int)(p - arch));
    return DNAS_OK;
}

dnas_status dnas_nb201_arch_format(const int ops[DNAS_NB201_EDGES], char *buf, size_t cap) {
    if (!ops || !buf) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_nb201_arch_format: NULL argument");
    for (int e = 0; e < DNAS_NB201_EDGES; e++)
        if (ops[e] < 0 || ops[e] >= DNAS_NB201_OPS)
            return dnas_fail(DNAS_ERR_INVALID_ARG,
                             "NB201 op index %d on edge %d is outside 0..%d", ops[e], e,
                             DNAS_NB201_OPS - 1);
    size_t o = 0;
    int e = 0;
    /* Past the end only the length is counted: buf + o beyond the buffer is not a valid
     * pointer, even for a zero-size snprintf. */
    for (int node = 1; node <= 3; node++) {
        int n = snprintf(o < cap ? buf + o : NULL, o < cap ? cap - o : 0, "%s|", node > 1 ? "+" : "");
        o += (size_t)n;
        for (int j = 0; j < node; j++, e++) {
            n = snprintf(o < cap ? buf + o : NULL, o < cap ? cap - o : 0, "%s~%d|",
                         op_names[ops[e]], j);
            o += (size_t)n;
        }
    }
    if (o >= cap) {
        if (cap) buf[0] = 0;
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "NB201 arch string needs %zu bytes, buffer has %zu", o + 1, cap);
    }
    return DNAS_OK;
}

/* ---- table ----------------------------------------------------------------------------------- */
struct dnas_nb201_table {
    dnas_nb201_row rows[DNAS_NB201_ARCHS];  /* by op code (base-5 number of ops[]) */
    int code_of_index[DNAS_NB201_ARCHS];
};

static int ops_code(const int ops[DNAS_NB201_EDGES]) {
    int c = 0;
    for (int e = DNAS_NB201_EDGES - 1; e >= 0; e--) c = c * DNAS_NB201_OPS + ops[e];
    return c;
}

typedef struct {
    const char *name;
    size_t off;
} column;

#define COL(name, field) {name, offsetof(dnas_nb201_row, field)}
static const column numeric_cols[] = {
    COL("c10valid_train_acc", c10valid_train), COL("c10valid_valid_acc", c10_valid),
    COL("c10valid_test_acc", c10valid_test),   COL("c10_test_acc", c10_test),
    COL("c100_train_acc", c100_train),         COL("c100_valid_acc", c100_valid),
    COL("c100_test_acc", c100_test),           COL("in16_train_acc", in16_train),
    COL("in16_valid_acc", in16_valid),         COL("in16_test_acc", in16_test),
    COL("c100_test_acc_nats", c100_test_nats), COL("in16_test_acc_nats", in16_test_nats),
    COL("c10_flops_M", c10_flops_m),           COL("c10_params_M", c10_params_m),
    COL("c100_flops_M", c100_flops_m),         COL("c100_params_M", c100_params_m),
    COL("in16_flops_M", in16_flops_m),         COL("in16_params_M", in16_params_m),
};
#define N_NUMERIC ((int)(sizeof numeric_cols / sizeof numeric_cols[0]))
#define MAX_COLS 64

/* Splits `line` (NUL-terminated, modified in place) at commas. Returns the field count or
 * MAX_COLS + 1 when there are too many. */
static int split_fields(char *line, char *f[MAX_COLS]) {
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == MAX_COLS) return MAX_COLS + 1;
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    return n;
}

static dnas_status parse_table(const char *path, char *text, dnas_nb201_table *t) {
    char *f[MAX_COLS];
    int col_index = -1, col_arch = -1, col_num[N_NUMERIC];
    int ncols = 0, lineno = 0, rows = 0;
    char *p = text;
    unsigned char *seen_index = NULL, *seen_code = NULL;
    dnas_status st = DNAS_OK;

    seen_index = dnas_calloc(DNAS_NB201_ARCHS, "nb201 index flags");
    seen_code = dnas_calloc(DNAS_NB201_ARCHS, "nb201 arch flags");
    if (!seen_index || !seen_code) {
        st = DNAS_ERR_OOM;
        goto done;
    }
    for (int k = 0; k < N_NUMERIC; k++) col_num[k] = -1;

    while (*p) {
        char *line = p;
        char *nl = strchr(p, '\n');
        if (nl) {
            *nl = 0;
            p = nl + 1;
        } else {
            p += strlen(p);
        }
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = 0;
        if (len == 0) {
            if (lineno == 1) {
                st = dnas_fail(DNAS_ERR_FORMAT, "%s:1: empty header line", path);
                goto done;
            }
            continue;  /* tolerate a trailing blank line */
        }
        int n = split_fields(line, f);
        if (lineno == 1) {
            if (n > MAX_COLS) {
                st = dnas_fail(DNAS_ERR_FORMAT, "%s:1: more than %d columns", path, MAX_COLS);
                goto done;
            }
            ncols = n;
            for (int c = 0; c < n; c++) {
                if (!strcmp(f[c], "index")) col_index = c;
                if (!strcmp(f[c], "arch")) col_arch = c;
                for (int k = 0; k < N_NUMERIC; k++)
                    if (!strcmp(f[c], numeric_cols[k].name)) col_num[k] = c;
            }
            const char *missing = col_index < 0 ? "index" : col_arch < 0 ? "arch" : NULL;
            for (int k = 0; !missing && k < N_NUMERIC; k++)
                if (col_num[k] < 0) missing = numeric_cols[k].name;
            if (missing) {
                st = dnas_fail(DNAS_ERR_FORMAT,
                               "%s:1: header has no column \"%s\" (not the NB201 table of "
                               "shared/data/nb201?)",
                               path, missing);
                goto done;
            }
            continue;
        }
        if (n != ncols) {
            st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: %d fields, the header has %d", path, lineno,
                           n > MAX_COLS ? MAX_COLS + 1 : n, ncols);
            goto done;
        }
        int ops[DNAS_NB201_EDGES];
        if (dnas_nb201_arch_parse(f[col_arch], ops) != DNAS_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", dnas_last_error());
            st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: %s", path, lineno, why);
            goto done;
        }
        char *end;
        errno = 0;
        long idx = strtol(f[col_index], &end, 10);
        if (end == f[col_index] || *end || errno || idx < 0 || idx >= DNAS_NB201_ARCHS) {
            st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: index \"%.32s\" is not an integer 0..%d",
                           path, lineno, f[col_index], DNAS_NB201_ARCHS - 1);
            goto done;
        }
        int code = ops_code(ops);
        if (seen_index[idx]) {
            st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: index %ld appears twice", path, lineno, idx);
            goto done;
        }
        if (seen_code[code]) {
            st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: arch %s appears twice (first as index %d)",
                           path, lineno, f[col_arch], t->rows[code].index);
            goto done;
        }
        seen_index[idx] = seen_code[code] = 1;
        dnas_nb201_row *r = &t->rows[code];
        r->index = (int)idx;
        memcpy(r->ops, ops, sizeof ops);
        dnas_nb201_arch_format(ops, r->arch, sizeof r->arch);
        for (int k = 0; k < N_NUMERIC; k++) {
            const char *s = f[col_num[k]];
            double v = strtod(s, &end);
            if (end == s || *end || !isfinite(v)) {
                st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: column %s: \"%.32s\" is not a number",
                               path, lineno, numeric_cols[k].name, s);
                goto done;
            }
            *(double *)((char *)r + numeric_cols[k].off) = v;
        }
        t->code_of_index[idx] = code;
        rows++;
    }
    if (lineno == 0) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: empty file", path);
    } else if (rows != DNAS_NB201_ARCHS) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: %d rows, expected %d (one per NB201 cell)", path,
                       rows, DNAS_NB201_ARCHS);
    }
done:
    dnas_free(seen_index);
    dnas_free(seen_code);
    return st;
}

dnas_status dnas_nb201_table_load(const char *csv_path, dnas_nb201_table **out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_nb201_table_load: out is NULL");
    *out = NULL;
    if (!csv_path) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_nb201_table_load: path is NULL");
    FILE *fp = fopen(csv_path, "rb");
    if (!fp)
        return dnas_fail(DNAS_ERR_IO, "%s: cannot open the NB201 table (%s)", csv_path,
                         strerror(errno));
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return dnas_fail(DNAS_ERR_IO, "%s: cannot determine the file size", csv_path);
    }
    if (size > (64l << 20)) {
        fclose(fp);
        return dnas_fail(DNAS_ERR_FORMAT, "%s: %ld bytes, too large for the NB201 table",
                         csv_path, size);
    }
    char *text = dnas_alloc((size_t)size + 1, "NB201 table text");
    if (!text) {
        fclose(fp);
        return DNAS_ERR_OOM;
    }
    size_t got = fread(text, 1, (size_t)size, fp);
    fclose(fp);
    if (got != (size_t)size) {
        dnas_free(text);
        return dnas_fail(DNAS_ERR_IO, "%s: read %zu of %ld bytes", csv_path, got, size);
    }
    text[size] = 0;
    if (memchr(text, 0, (size_t)size)) {
        dnas_free(text);
        return dnas_fail(DNAS_ERR_FORMAT, "%s: contains NUL bytes (not a CSV file)", csv_path);
    }
    dnas_nb201_table *t = dnas_calloc(sizeof *t, "NB201 table");
    if (!t) {
        dnas_free(text);
        return DNAS_ERR_OOM;
    }
    dnas_status st = parse_table(csv_path, text, t);
    dnas_free(text);
    if (st != DNAS_OK) {
        dnas_free(t);
        return st;
    }
    *out = t;
    return DNAS_OK;
}

void dnas_nb201_table_destroy(dnas_nb201_table *t) { dnas_free(t); }

dnas_status dnas_nb201_table_find_ops(const dnas_nb201_table *t,
                                      const int ops[DNAS_NB201_EDGES],
                                      const dnas_nb201_row **out) {
    if (!t || !ops || !out)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_nb201_table_find_ops: NULL argument");
    for (int e = 0; e < DNAS_NB201_EDGES; e++)
        if (ops[e] < 0 || ops[e] >= DNAS_NB201_OPS)
            return dnas_fail(DNAS_ERR_INVALID_ARG,
                             "NB201 op index %d on edge %d is outside 0..%d", ops[e], e,
                             DNAS_NB201_OPS - 1);
    *out = &t->rows[ops_code(ops)];
    return DNAS_OK;
}

dnas_status dnas_nb201_table_find(const dnas_nb201_table *t, const char *arch,
                                  const dnas_nb201_row **out) {
    if (!t || !out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_nb201_table_find: NULL argument");
    int ops[DNAS_NB201_EDGES];
    DNAS_TRY(dnas_nb201_arch_parse(arch, ops));
    return dnas_nb201_table_find_ops(t, ops, out);
}

dnas_status dnas_nb201_table_get(const dnas_nb201_table *t, int index,
                                 const dnas_nb201_row **out) {
    if (!t || !out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_nb201_table_get: NULL argument");
    if (index < 0 || index >= DNAS_NB201_ARCHS)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "NB201 index %d is outside 0..%d", index,
                         DNAS_NB201_ARCHS - 1);
    *out = &t->rows[t->code_of_index[index]];
    return DNAS_OK;
}
