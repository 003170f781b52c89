/* DARTS genotype text <-> dnas_darts_genotype (ALGORITHMS.md §A3). The text is the namedtuple
 * repr the community's genotypes.py files hold:
 *   Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
 *            reduce=[...], reduce_concat=range(2, 6))
 * The parser is strict about structure (so a typo never becomes a different cell) and tolerant
 * of whitespace, quote style, trailing commas and keyword order. */
#include "darts.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *const dnas_darts_ops[DNAS_DARTS_OPS] = {
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
    "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "noise"};

static const char *const fields[4] = {"normal", "normal_concat", "reduce", "reduce_concat"};

typedef struct {
    const char *s; /* the whole text, for positions */
    const char *p; /* cursor */
} cursor;

static void skip_ws(cursor *c) {
    while (isspace((unsigned char)*c->p)) c->p++;
}

/* The text from `at` (at most 32 characters) for an error message. */
static const char *near(const char *at, char buf[48]) {
    if (!*at) return "the end of the text";
    size_t n = strlen(at);
    snprintf(buf, 48, "'%.32s%s'", at, n > 32 ? "..." : "");
    return buf;
}

static dnas_status expect(cursor *c, char ch, const char *what) {
    skip_ws(c);
    if (*c->p == ch) {
        c->p++;
        return DNAS_OK;
    }
    char b[48];
    return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: expected '%c' %s at position %d, found %s",
                     ch, what, (int)(c->p - c->s), near(c->p, b));
}

/* A non-negative decimal integer (at most 3 digits: no index or range bound is larger). */
static dnas_status number(cursor *c, int *v, const char *what) {
    skip_ws(c);
    const char *s = c->p;
    int x = 0;
    while (isdigit((unsigned char)*c->p) && c->p - s < 4) x = x * 10 + (*c->p++ - '0');
    if (c->p == s || c->p - s > 3) {
        char b[48];
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: expected %s (a small integer) at "
                         "position %d, found %s", what, (int)(s - c->s), near(s, b));
    }
    *v = x;
    return DNAS_OK;
}

/* An identifier [A-Za-z_][A-Za-z0-9_]*; returns its length (0 if none). */
static size_t ident(const char *p) {
    size_t n = 0;
    if (!isalpha((unsigned char)p[0]) && p[0] != '_') return 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_') n++;
    return n;
}

/* After an element: ',' then maybe the closing bracket (trailing comma), or the closing
 * bracket. Sets *done when the list is closed. */
static dnas_status list_next(cursor *c, char close, int *done, const char *what) {
    skip_ws(c);
    if (*c->p == close) {
        c->p++;
        *done = 1;
        return DNAS_OK;
    }
    DNAS_TRY(expect(c, ',', what));
    skip_ws(c);
    if (*c->p == close) {
        c->p++;
        *done = 1;
    }
    return DNAS_OK;
}

/* Node of pair p in the standard layout (2 pairs per node) or SNAS's edge_all layout (node i
 * lists all its i + 2 incoming edges: pairs 0-1, 2-4, 5-8, 9-13). */
static int node_of(int p, int edge_all) {
    if (!edge_all) return p / 2;
    int i = 0;
    while (i + 1 < DNAS_DARTS_NODES && p >= dnas_darts_edge(i + 1, 0)) i++;
    return i;
}

/* [('op', k), ...] of one cell type: 8 pairs (2 per node) or, with edge_all_ok, 14 (SNAS's
 * edge_all: each node lists every input once, 'none' where the edge is dropped). Checks the op
 * names, the count and each input; *edge_all says which layout was read. */
static dnas_status pairs(cursor *c, const char *field, int op[DNAS_DARTS_EDGES],
                         int in[DNAS_DARTS_EDGES], int edge_all_ok, int *edge_all) {
    const char *at[DNAS_DARTS_EDGES]; /* each pair's text, for messages */
    int len_at[DNAS_DARTS_EDGES];
    DNAS_TRY(expect(c, '[', "to open the pair list"));
    skip_ws(c);
    int n = 0, done = *c->p == ']';
    if (done) c->p++;
    while (!done) {
        skip_ws(c);
        const char *pair = c->p;
        DNAS_TRY(expect(c, '(', "to open an (op, input) pair"));
        skip_ws(c);
        char q = *c->p;
        if (q != '\'' && q != '"') {
            char b[48];
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: expected a quoted op name at "
                             "position %d, found %s", (int)(c->p - c->s), near(c->p, b));
        }
        const char *name = ++c->p;
        while (*c->p && *c->p != q) c->p++;
        if (!*c->p)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: unterminated op name starting at "
                             "position %d", (int)(name - c->s));
        size_t len = (size_t)(c->p - name);
        c->p++;
        int k = -1;
        for (int j = 0; j < DNAS_DARTS_OPS; j++)
            if (strlen(dnas_darts_ops[j]) == len && strncmp(name, dnas_darts_ops[j], len) == 0) k = j;
        if (k < 0)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: unknown op '%.*s' in %s (known: "
                             "none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, "
                             "sep_conv_5x5, dil_conv_3x3, dil_conv_5x5, noise)",
                             len > 40 ? 40 : (int)len, name, field);
        DNAS_TRY(expect(c, ',', "between op name and input index"));
        int j;
        DNAS_TRY(number(c, &j, "an input index"));
        DNAS_TRY(expect(c, ')', "to close the (op, input) pair"));
        if (n < DNAS_DARTS_EDGES) {
            op[n] = k;
            in[n] = j;
            at[n] = pair;
            len_at[n] = (int)(c->p - pair);
        }
        n++;
        DNAS_TRY(list_next(c, ']', &done, "or ']' after a pair"));
    }
    *edge_all = edge_all_ok && n == DNAS_DARTS_EDGES;
    if (n != DNAS_DARTS_PAIRS && !*edge_all)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s has %d (op, input) pairs; a DARTS "
                         "cell needs %d (2 per node, %d nodes)%s", field, n, DNAS_DARTS_PAIRS,
                         DNAS_DARTS_NODES, n == DNAS_DARTS_EDGES ? "; 14 is SNAS's edge_all form, "
                         "which this reader does not take (the supernet and dnas train do)" : "");
    unsigned seen = 0; /* inputs of the current node (edge_all lists each once) */
    for (int p = 0; p < n; p++) {
        int node = node_of(p, *edge_all);
        if (p == 0 || node != node_of(p - 1, *edge_all)) seen = 0;
        if (in[p] > node + 1)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s pair %d %.*s: input %d is out "
                             "of range for node %d (its inputs are 0..%d)", field, p, len_at[p],
                             at[p], in[p], node, node + 1);
        if (*edge_all && (seen >> in[p] & 1u))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s pair %d %.*s: edge_all lists "
                             "node %d's input %d twice (each of its %d inputs once)", field, p,
                             len_at[p], at[p], node, in[p], node + 2);
        seen |= 1u << in[p];
    }
    return DNAS_OK;
}

/* [2, 3, 4, 5] or range(a, b): distinct states 0..5, at least one. */
static dnas_status concat(cursor *c, const char *field, int out[DNAS_DARTS_NODES + 2], int *n) {
    int states = DNAS_DARTS_NODES + 2, v[8], k = 0;
    skip_ws(c);
    const char *start = c->p;
    if (strncmp(c->p, "range", 5) == 0) {
        c->p += 5;
        int a, b;
        DNAS_TRY(expect(c, '(', "after range"));
        DNAS_TRY(number(c, &a, "the start of range"));
        DNAS_TRY(expect(c, ',', "in range(a, b)"));
        DNAS_TRY(number(c, &b, "the end of range"));
        DNAS_TRY(expect(c, ')', "to close range(a, b)"));
        if (a >= b || b > states)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s = %.*s: needs a < b <= %d "
                             "(states 0..%d)", field, (int)(c->p - start), start, states, states - 1);
        for (int s = a; s < b; s++) v[k++] = s;
    } else {
        DNAS_TRY(expect(c, '[', "or range( to open the concat list"));
        skip_ws(c);
        int done = *c->p == ']';
        if (done) c->p++;
        while (!done) {
            int s;
            DNAS_TRY(number(c, &s, "a state index"));
            if (k == states)
                return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s lists more than %d states",
                                 field, states);
            v[k++] = s;
            DNAS_TRY(list_next(c, ']', &done, "or ']' in the concat list"));
        }
    }
    if (k == 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s is empty; list the states to "
                         "concatenate (usually [2, 3, 4, 5])", field);
    for (int i = 0; i < k; i++) {
        if (v[i] >= states)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s = %.*s: state %d is out of range "
                             "(0..%d)", field, (int)(c->p - start), start, v[i], states - 1);
        for (int j = 0; j < i; j++)
            if (v[j] == v[i])
                return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s = %.*s lists state %d twice",
                                 field, (int)(c->p - start), start, v[i]);
        out[i] = v[i];
    }
    *n = k;
    return DNAS_OK;
}

/* Either layout into the 14-pair structure; edge_all_ok = 0 accepts only the standard one.
 * A bare name is a published (standard) cell. */
static dnas_status parse_text(const char *text, dnas_darts_edge_all *g, int edge_all_ok) {
    if (!text || !g) return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: NULL argument");
    cursor c = {text, text};
    skip_ws(&c);
    size_t n = ident(c.p);
    const char *after = c.p + n;
    while (isspace((unsigned char)*after)) after++;
    if (n && !*after) { /* a bare name: a published cell */
        char name[64];
        snprintf(name, sizeof name, "%.*s", n > 63 ? 63 : (int)n, c.p);
        dnas_darts_genotype named;
        DNAS_TRY(dnas_darts_named(name, &named));
        memset(g, 0, sizeof *g);
        for (int t = 0; t < 2; t++) {
            memcpy(g->op[t], named.op[t], sizeof named.op[t]);
            memcpy(g->in[t], named.in[t], sizeof named.in[t]);
            memcpy(g->concat[t], named.concat[t], sizeof named.concat[t]);
            g->n_concat[t] = named.n_concat[t];
        }
        return DNAS_OK;
    }
    if (n != 8 || strncmp(c.p, "Genotype", 8) != 0) {
        char b[48];
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: expected Genotype(normal=[...], "
                         "normal_concat=[...], reduce=[...], reduce_concat=[...]) or a published "
                         "cell's name (DARTS_V1, DARTS_V2, PC_DARTS), found %s", near(c.p, b));
    }
    c.p += 8;
    DNAS_TRY(expect(&c, '(', "after Genotype"));
    memset(g, 0, sizeof *g);
    int seen[4] = {0}, done = 0;
    while (!done) {
        skip_ws(&c);
        const char *key = c.p;
        size_t len = ident(key);
        int f = -1;
        for (int k = 0; k < 4; k++)
            if (strlen(fields[k]) == len && strncmp(key, fields[k], len) == 0) f = k;
        if (f < 0) {
            char b[48];
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: expected one of normal=, "
                             "normal_concat=, reduce=, reduce_concat= at position %d, found %s",
                             (int)(key - text), near(key, b));
        }
        if (seen[f]++)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: field %s given twice", fields[f]);
        c.p += len;
        DNAS_TRY(expect(&c, '=', "after the field name"));
        int t = f / 2;
        if (f % 2 == 0)
            DNAS_TRY(pairs(&c, fields[f], g->op[t], g->in[t], edge_all_ok, &g->edge_all[t]));
        else DNAS_TRY(concat(&c, fields[f], g->concat[t], &g->n_concat[t]));
        DNAS_TRY(list_next(&c, ')', &done, "or ')' after a field"));
    }
    for (int f = 0; f < 4; f++)
        if (!seen[f])
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: field %s= is missing", fields[f]);
    skip_ws(&c);
    if (*c.p) {
        char b[48];
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: unexpected text after the closing ')': "
                         "%s", near(c.p, b));
    }
    if (g->edge_all[0] != g->edge_all[1])
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s lists every edge (SNAS's edge_all) "
                         "but %s only 2 per node; use one form for both", fields[g->edge_all[0] ? 0 : 2],
                         fields[g->edge_all[0] ? 2 : 0]);
    return DNAS_OK;
}

dnas_status dnas_darts_genotype_parse(const char *text, dnas_darts_genotype *g) {
    dnas_darts_edge_all a;
    DNAS_TRY(parse_text(text, &a, 0));
    memset(g, 0, sizeof *g);
    for (int t = 0; t < 2; t++) {
        memcpy(g->op[t], a.op[t], sizeof g->op[t]);
        memcpy(g->in[t], a.in[t], sizeof g->in[t]);
        memcpy(g->concat[t], a.concat[t], sizeof g->concat[t]);
        g->n_concat[t] = a.n_concat[t];
    }
    return DNAS_OK;
}

dnas_status dnas_darts_edge_all_parse(const char *text, dnas_darts_edge_all *g) {
    DNAS_TRY(parse_text(text, g, 1));
    if (!g->edge_all[0])
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: an edge_all genotype lists %d pairs per "
                         "cell type (every edge, node by node), this one %d", DNAS_DARTS_EDGES,
                         DNAS_DARTS_PAIRS);
    return DNAS_OK;
}

int dnas_darts_is_edge_all(const char *text) {
    dnas_darts_edge_all g;
    char keep[DNAS_GENOTYPE_MAX]; /* a probe: the caller's last error stays as it was */
    snprintf(keep, sizeof keep, "%s", dnas_last_error());
    int yes = parse_text(text, &g, 1) == DNAS_OK && g.edge_all[0];
    dnas_fail(DNAS_OK, "%s", keep);
    return yes;
}

/* The text of both forms: Genotype(normal=[('op', in), ...], normal_concat=[...], reduce=...,
 * reduce_concat=[...]). op[t] and in[t] hold cell type t's n pairs (8, or 14 with edge_all);
 * pair p's input is at most its node's index + 1. */
static dnas_status format_cells(const int *const op[2], const int *const in[2], int n,
                                int edge_all,
                                const int (*concat)[DNAS_DARTS_NODES + 2], const int *n_concat,
                                char *out, size_t cap) {
    size_t len = 0;
    int over = 0;
    if (!out || cap == 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype format: no buffer");
    out[0] = 0;
#define PUT(...)                                                              \
    do {                                                                      \
        int k_ = snprintf(out + len, cap > len ? cap - len : 0, __VA_ARGS__); \
        if (k_ < 0 || (size_t)k_ >= (cap > len ? cap - len : 0)) over = 1;    \
        else len += (size_t)k_;                                               \
    } while (0)
    PUT("Genotype(");
    for (int t = 0; t < 2 && !over; t++) {
        PUT("%s=[", fields[2 * t]);
        for (int p = 0; p < n; p++) {
            const int o = op[t][p], k = in[t][p];
            if (o < 0 || o >= DNAS_DARTS_OPS || k < 0 || k > node_of(p, edge_all) + 1)
                return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype format: %s pair %d is invalid "
                                 "(op %d, input %d)", fields[2 * t], p, o, k);
            PUT("%s('%s', %d)", p ? ", " : "", dnas_darts_ops[o], k);
        }
        PUT("], %s=[", fields[2 * t + 1]);
        for (int i = 0; i < n_concat[t]; i++) PUT("%s%d", i ? ", " : "", concat[t][i]);
        PUT("]%s", t ? ")" : ", ");
    }
#undef PUT
    if (over)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype format: buffer of %zu bytes is too small",
                         cap);
    return DNAS_OK;
}

dnas_status dnas_darts_edge_all_format(const dnas_darts_edge_all *g, char *out, size_t cap) {
    const int *const op[2] = {g->op[0], g->op[1]}, *const in[2] = {g->in[0], g->in[1]};
    return format_cells(op, in, DNAS_DARTS_EDGES, 1, g->concat, g->n_concat, out, cap);
}

dnas_status dnas_darts_genotype_format(const dnas_darts_genotype *g, char *out, size_t cap) {
    const int *const op[2] = {g->op[0], g->op[1]}, *const in[2] = {g->in[0], g->in[1]};
    return format_cells(op, in, DNAS_DARTS_PAIRS, 0, g->concat, g->n_concat, out, cap);
}
