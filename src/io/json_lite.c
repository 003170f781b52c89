/* The strict JSON reader of json_lite.h: a recursive-descent parser over a bounded buffer,
 * writing every decoded key, string and number into pools sized from the input length, so one
 * allocation per object suffices and no input can make it grow without bound. */
#include "json_lite.h"
#include "files.h"
#include "../core/alloc.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t len, i;
    const char *where;
    dnas_json_member *m;
    int nm, cap_m;
    double *nums;
    size_t nn, cap_n;
    int *offs;
    size_t no, cap_o;
    char *chars;
    size_t nc, cap_c;
} parser;

static int at_end(const parser *p) { return p->i >= p->len; }
static int peek(const parser *p) { return at_end(p) ? -1 : (unsigned char)p->s[p->i]; }

static void skip_ws(parser *p) {
    while (!at_end(p) && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                          p->s[p->i] == '\r'))
        p->i++;
}

/* "column N: <what> (found 'x')": the column is 1-based, in bytes. */
static dnas_status perr(const parser *p, const char *what) {
    char found[32];
    int c = peek(p);
    if (c < 0) snprintf(found, sizeof found, "the end of the line");
    else if (c >= 0x20 && c < 0x7f) snprintf(found, sizeof found, "'%c'", c);
    else snprintf(found, sizeof found, "byte 0x%02x", (unsigned)c);
    if (!memchr(p->s, '\n', p->len)) /* one line: `where` already names it */
        return dnas_fail(DNAS_ERR_FORMAT, "%s: column %zu: %s (found %s)", p->where, p->i + 1,
                         what, found);
    size_t line = 1, bol = 0; /* a whole file (config.json): name the line in it */
    for (size_t k = 0; k < p->i && k < p->len; k++)
        if (p->s[k] == '\n') line++, bol = k + 1;
    return dnas_fail(DNAS_ERR_FORMAT, "%s:%zu: column %zu: %s (found %s)", p->where, line,
                     p->i - bol + 1, what, found);
}

static dnas_status expect(parser *p, char c, const char *what) {
    if (peek(p) != (unsigned char)c) return perr(p, what);
    p->i++;
    return DNAS_OK;
}

static dnas_status put_char(parser *p, char c) {
    if (p->nc >= p->cap_c) return perr(p, "string pool exhausted");
    p->chars[p->nc++] = c;
    return DNAS_OK;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* \uXXXX (with its surrogate pair) at p->i (just after the 'u') -> UTF-8 in the pool. */
static dnas_status parse_u_escape(parser *p) {
    unsigned cp;
    if (p->len - p->i < 4 || !hex4(p->s + p->i, &cp)) return perr(p, "\\u needs 4 hex digits");
    p->i += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return perr(p, "lone low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (p->len - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
            !hex4(p->s + p->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return perr(p, "high surrogate not followed by a low one");
        p->i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) return perr(p, "\\u0000 is not allowed in a string");
    char b[4];
    int n;
    if (cp < 0x80) b[0] = (char)cp, n = 1;
    else if (cp < 0x800) b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 63)),
        b[2] = (char)(0x80 | (cp & 63)), n = 3;
    else
        b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 63)),
        b[2] = (char)(0x80 | ((cp >> 6) & 63)), b[3] = (char)(0x80 | (cp & 63)), n = 4;
    for (int k = 0; k < n; k++) DNAS_TRY(put_char(p, b[k]));
    return DNAS_OK;
}

/* A string at p->i (on its opening quote); *out points into the pool. */
static dnas_status parse_string(parser *p, const char **out) {
    DNAS_TRY(expect(p, '"', "expected '\"'"));
    size_t start = p->nc;
    for (;;) {
        int c = peek(p);
        if (c < 0) return perr(p, "unterminated string");
        if (c == '"') break;
        if (c < 0x20) return perr(p, "control character inside a string");
        p->i++;
        if (c != '\\') {
            DNAS_TRY(put_char(p, (char)c));
            continue;
        }
        int e = peek(p);
        char d = 0;
        switch (e) {
        case '"': d = '"'; break;
        case '\\': d = '\\'; break;
        case '/': d = '/'; break;
        case 'b': d = '\b'; break;
        case 'f': d = '\f'; break;
        case 'n': d = '\n'; break;
        case 'r': d = '\r'; break;
        case 't': d = '\t'; break;
        case 'u': p->i++; DNAS_TRY(parse_u_escape(p)); continue;
        default: return perr(p, "unknown escape in a string");
        }
        p->i++;
        DNAS_TRY(put_char(p, d));
    }
    p->i++;
    DNAS_TRY(put_char(p, 0));
    *out = p->chars + start;
    return DNAS_OK;
}

static int is_delim(int c) {
    return c < 0 || c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The words printf and Python's json write for non-finite values. */
static int nonfinite_word(parser *p, double *out) {
    static const struct {
        const char *w;
        double v;
    } words[] = {{"-Infinity", -INFINITY}, {"Infinity", INFINITY}, {"NaN", NAN}, {"-nan", NAN},
                 {"nan", NAN}, {"-inf", -INFINITY}, {"inf", INFINITY}};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t n = strlen(words[k].w);
        if (p->len - p->i >= n && memcmp(p->s + p->i, words[k].w, n) == 0 &&
            (p->i + n == p->len || is_delim((unsigned char)p->s[p->i + n]))) {
            p->i += n;
            *out = words[k].v;
            return 1;
        }
    }
    return 0;
}

static int digit_at(const parser *p) {
    int c = peek(p);
    return c >= '0' && c <= '9';
}

/* A number by JSON's grammar, converted with strtod from a bounded copy. */
static dnas_status parse_number(parser *p, double *out) {
    if (nonfinite_word(p, out)) return DNAS_OK;
    size_t start = p->i;
    if (peek(p) == '-') p->i++;
    if (!digit_at(p)) return perr(p, "expected a value");
    if (peek(p) == '0') {
        p->i++;
        if (digit_at(p)) return perr(p, "leading zero in a number");
    } else {
        while (digit_at(p)) p->i++;
    }
    if (peek(p) == '.') {
        p->i++;
        if (!digit_at(p)) return perr(p, "expected a digit after '.'");
        while (digit_at(p)) p->i++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->i++;
        if (peek(p) == '+' || peek(p) == '-') p->i++;
        if (!digit_at(p)) return perr(p, "expected a digit in the exponent");
        while (digit_at(p)) p->i++;
    }
    if (!is_delim(peek(p))) return perr(p, "unexpected character after a number");
    char buf[128];
    size_t n = p->i - start;
    if (n >= sizeof buf) {
        p->i = start;
        return perr(p, "number too long");
    }
    memcpy(buf, p->s + start, n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    return DNAS_OK;
}

static dnas_status put_num(parser *p, double v) {
    if (p->nn >= p->cap_n) return perr(p, "number pool exhausted");
    p->nums[p->nn++] = v;
    return DNAS_OK;
}

/* Numbers up to the closing ']' (p->i just after the '['). */
static dnas_status parse_number_list(parser *p, int *count) {
    *count = 0;
    skip_ws(p);
    if (peek(p) == ']') {
        p->i++;
        return DNAS_OK;
    }
    for (;;) {
        skip_ws(p);
        int c = peek(p);
        if (c == '[') return perr(p, "arrays nest at most two deep");
        int numeric = c == '-' || (c >= '0' && c <= '9') || c == 'N' || c == 'I' || c == 'i' ||
                      (c == 'n' && p->len - p->i >= 3 && memcmp(p->s + p->i, "nan", 3) == 0);
        if (!numeric) return perr(p, "arrays may hold only numbers");
        double v;
        DNAS_TRY(parse_number(p, &v));
        DNAS_TRY(put_num(p, v));
        ++*count;
        skip_ws(p);
        if (peek(p) == ',') {
            p->i++;
            continue;
        }
        return expect(p, ']', "expected ',' or ']' in an array");
    }
}

static dnas_status parse_array(parser *p, dnas_json_member *m) {
    DNAS_TRY(expect(p, '[', "expected '['"));
    skip_ws(p);
    m->type = DNAS_JSON_ARRAY;
    m->nums = p->nums + p->nn;
    if (peek(p) != '[') { /* depth 1 (or empty) */
        m->depth = 1;
        return parse_number_list(p, &m->n);
    }
    m->depth = 2;
    if (p->no >= p->cap_o) return perr(p, "array pool exhausted");
    int *offs = p->offs + p->no;
    offs[0] = 0;
    p->no++;
    for (;;) {
        skip_ws(p);
        if (peek(p) != '[') return perr(p, "an array of arrays may not mix in numbers");
        p->i++;
        int cnt;
        DNAS_TRY(parse_number_list(p, &cnt));
        if (p->no >= p->cap_o) return perr(p, "array pool exhausted");
        offs[m->rows + 1] = offs[m->rows] + cnt;
        p->no++;
        m->rows++;
        skip_ws(p);
        if (peek(p) == ',') {
            p->i++;
            continue;
        }
        DNAS_TRY(expect(p, ']', "expected ',' or ']' in an array"));
        break;
    }
    m->n = offs[m->rows];
    m->row_off = offs;
    return DNAS_OK;
}

static dnas_status parse_value(parser *p, dnas_json_member *m) {
    int c = peek(p);
    static const struct {
        const char *w;
        dnas_json_type t;
        double v;
    } lits[] = {{"true", DNAS_JSON_BOOL, 1}, {"false", DNAS_JSON_BOOL, 0}, {"null", DNAS_JSON_NULL, 0}};
    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(lits[k].w);
        if (p->len - p->i >= n && memcmp(p->s + p->i, lits[k].w, n) == 0 &&
            (p->i + n == p->len || is_delim((unsigned char)p->s[p->i + n]))) {
            p->i += n;
            m->type = lits[k].t;
            m->num = lits[k].v;
            return DNAS_OK;
        }
    }
    if (c == '"') {
        m->type = DNAS_JSON_STRING;
        return parse_string(p, &m->str);
    }
    if (c == '[') return parse_array(p, m);
    if (c == '{') return perr(p, "nested objects are not supported here");
    m->type = DNAS_JSON_NUMBER;
    return parse_number(p, &m->num);
}

static dnas_status parse_object(parser *p) {
    skip_ws(p);
    DNAS_TRY(expect(p, '{', "expected '{' (each line must be one JSON object)"));
    skip_ws(p);
    if (peek(p) == '}') {
        p->i++;
    } else {
        for (;;) {
            skip_ws(p);
            if (peek(p) != '"') return perr(p, "expected a key in double quotes");
            if (p->nm >= p->cap_m) return perr(p, "too many keys in one object");
            dnas_json_member *m = &p->m[p->nm];
            memset(m, 0, sizeof *m);
            size_t key_col = p->i;
            DNAS_TRY(parse_string(p, &m->key));
            for (int k = 0; k < p->nm; k++)
                if (strcmp(p->m[k].key, m->key) == 0) {
                    p->i = key_col;
                    return perr(p, "duplicate key");
                }
            skip_ws(p);
            DNAS_TRY(expect(p, ':', "expected ':' after a key"));
            skip_ws(p);
            DNAS_TRY(parse_value(p, m));
            p->nm++;
            skip_ws(p);
            if (peek(p) == ',') {
                p->i++;
                continue;
            }
            DNAS_TRY(expect(p, '}', "expected ',' or '}' after a value"));
            break;
        }
    }
    skip_ws(p);
    if (!at_end(p)) return perr(p, "text after the end of the object");
    return DNAS_OK;
}

dnas_status dnas_json_parse(const char *text, size_t len, const char *where, dnas_json_object *out) {
    memset(out, 0, sizeof *out);
    if (!where) where = "(json)";
    if (!text) return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: no text", where);
    if (len > DNAS_JSON_LINE_MAX)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: %zu bytes, longer than the %zu a line may have",
                         where, len, DNAS_JSON_LINE_MAX);
    const char *nul = memchr(text, 0, len);
    if (nul)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: column %zu: NUL byte (a damaged file?)", where,
                         (size_t)(nul - text) + 1);
    /* Pool bounds from the length: a number takes >= 2 bytes with its separator, a key-value
     * pair >= 5, a decoded string never outgrows its quoted source (which ends in a '"' that
     * the pool's NUL replaces). Pushes check the bounds anyway. */
    parser p = {.s = text, .len = len, .where = where};
    p.cap_n = len / 2 + 2;
    p.cap_o = len / 2 + 2;
    p.cap_c = len + 2;
    p.cap_m = len / 4 + 1 < DNAS_JSON_MEMBERS_MAX ? (int)(len / 4 + 1) : DNAS_JSON_MEMBERS_MAX;
    size_t bytes = p.cap_n * sizeof(double) + (size_t)p.cap_m * sizeof(dnas_json_member) +
                   p.cap_o * sizeof(int) + p.cap_c;
    char *mem = dnas_alloc(bytes, "json line");
    if (!mem) return dnas_fail(DNAS_ERR_OOM, "%s: out of memory (%zu bytes)", where, bytes);
    p.nums = (double *)mem;
    p.m = (dnas_json_member *)(mem + p.cap_n * sizeof(double));
    p.offs = (int *)((char *)p.m + (size_t)p.cap_m * sizeof(dnas_json_member));
    p.chars = (char *)(p.offs + p.cap_o);
    dnas_status st = parse_object(&p);
    if (st != DNAS_OK) {
        dnas_free(mem);
        return st;
    }
    out->m = p.m;
    out->n = p.nm;
    out->mem = mem;
    return DNAS_OK;
}

void dnas_json_free(dnas_json_object *o) {
    if (!o) return;
    dnas_free(o->mem);
    memset(o, 0, sizeof *o);
}

const dnas_json_member *dnas_json_find(const dnas_json_object *o, const char *key) {
    for (int k = 0; o && k < o->n; k++)
        if (strcmp(o->m[k].key, key) == 0) return &o->m[k];
    return NULL;
}

int dnas_json_number(const dnas_json_object *o, const char *key, double *out) {
    const dnas_json_member *m = dnas_json_find(o, key);
    if (!m || m->type != DNAS_JSON_NUMBER) return 0;
    *out = m->num;
    return 1;
}

const char *dnas_json_string(const dnas_json_object *o, const char *key) {
    const dnas_json_member *m = dnas_json_find(o, key);
    return m && m->type == DNAS_JSON_STRING ? m->str : NULL;
}

/* ---- JSON Lines ------------------------------------------------------------------------------ */

dnas_status dnas_jsonl_open(dnas_jsonl_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    if (strlen(path) >= sizeof r->path)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%.100s...: path too long", path);
    snprintf(r->path, sizeof r->path, "%s", path);
    return dnas_read_file(path, &r->data, &r->size);
}

dnas_status dnas_jsonl_next(dnas_jsonl_reader *r, dnas_json_object *obj, int *has) {
    memset(obj, 0, sizeof *obj);
    *has = 0;
    while (r->data && r->pos < r->size) {
        const char *line = r->data + r->pos;
        size_t left = r->size - r->pos;
        const char *nl = memchr(line, '\n', left);
        size_t n = nl ? (size_t)(nl - line) : left;
        r->pos += n + (nl != NULL);
        r->line++;
        size_t k = 0;
        while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
        if (k == n) continue; /* blank */
        char where[560];
        snprintf(where, sizeof where, "%s:%d", r->path, r->line);
        dnas_status st = dnas_json_parse(line, n, where, obj);
        if (st == DNAS_OK) {
            *has = 1;
            return DNAS_OK;
        }
        if (nl) return st;
        /* The last line, without its newline: what a crash mid-append leaves behind. */
        snprintf(r->warning, sizeof r->warning, "%s: truncated last line (%zu bytes, no newline) "
                 "skipped", where, n);
        return DNAS_OK;
    }
    return DNAS_OK;
}

void dnas_jsonl_close(dnas_jsonl_reader *r) {
    dnas_free(r->data);
    r->data = NULL;
}
