/* The HTML report of a run directory (report.h): read everything first (any bad line fails
 * the whole report before a byte is written), then build the page in memory and write it
 * atomically. The report reads files only: it names the spaces' columns from its own table
 * of known layouts (tests/unit/test_report.c checks it against src/space) rather than calling
 * up into the space layer. */
#include "report.h"
#include "json_lite.h"
#include "nb201_table.h"
#include "rundir.h"
#include "svg.h"
#include "../core/alloc.h"
#include "../core/log.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARCH_MAX 1024     /* longest genotype text kept (DNAS_GENOTYPE_MAX) */
#define CELL_PAIRS 16     /* most (op, input) pairs of one DARTS cell type read */
#define MAX_COLS 16       /* most candidate ops per alpha row drawn (DARTS has 9) */
#define MAX_ROWS 1024     /* most alpha rows (a chart each; DARTS has 28) */
#define LARROW "\xe2\x86\x90"                        /* the arrow of "2<-1" */
#define CK "c\xe2\x82\x96"                            /* c_k, the DARTS cell output */
#define CK1 "c\xe2\x82\x96\xe2\x82\x8b\xe2\x82\x81"      /* c_{k-1} */
#define CK2 "c\xe2\x82\x96\xe2\x82\x8b\xe2\x82\x82"      /* c_{k-2} */

/* ---- growable arrays (the library allocator has no realloc) ------------------------------ */

typedef struct {
    void *p;
    size_t n, cap, elem;
} vec;

static void *vec_push(vec *v, const char *what) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        void *q = dnas_alloc(cap * v->elem, what);
        if (!q) return NULL;
        if (v->n) memcpy(q, v->p, v->n * v->elem);
        dnas_free(v->p);
        v->p = q;
        v->cap = cap;
    }
    return (char *)v->p + v->n++ * v->elem;
}

static dnas_status push_d(vec *v, double x) {
    double *d = vec_push(v, "report series");
    if (!d) return DNAS_ERR_OOM;
    *d = x;
    return DNAS_OK;
}

#define VD(v) ((double *)(v).p)

/* ---- what a run directory holds ---------------------------------------------------------- */

/* Alpha layout of the spaces we know: column names, groups of rows. */
typedef struct {
    const char *space;
    int groups, rows, cols;
    const char *const *ops;
    const char *const *group_names;
} layout;

static const char *const nb201_groups[] = {"cell"};
static const char *const darts_groups[] = {"normal", "reduce"};
/* src/space/darts.h's column order: quark0's PRIMITIVES, then RobustDARTS S4's noise. */
static const char *const darts_ops[] = {"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                                        "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
                                        "dil_conv_5x5", "noise"};
static const layout known_layouts[] = {
    {"nb201", 1, DNAS_NB201_EDGES, DNAS_NB201_OPS, dnas_nb201_ops, nb201_groups},
    {"darts", 2, 14, 9, darts_ops, darts_groups},
};

/* What the curves show of log.jsonl's step and epoch lines (test_*: dnas train's runs). */
enum { M_TRAIN_LOSS, M_VALID_LOSS, M_TEST_LOSS, M_TRAIN_ACC, M_VALID_ACC, M_TEST_ACC, M_GRAD, N_METRICS };
static const char *const metric_key[N_METRICS] = {"train_loss", "valid_loss", "test_loss", "train_acc",
                                                  "valid_acc", "test_acc", "grad_norm"};
static const char *const metric_name[N_METRICS] = {"train", "valid (arch batches)", "test", "train",
                                                   "valid (arch batches)", "test", "grad norm"};
static const char *const metric_color[N_METRICS] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#1f77b4",
                                                    "#ff7f0e", "#2ca02c", "#7f7f7f"};

typedef struct {
    char dir[512];
    dnas_json_object cfg;
    /* log.jsonl */
    vec mx[N_METRICS], my[N_METRICS]; /* (total_steps, value) of every step/epoch line */
    int epoch_lines;
    double last_steps, seconds;       /* seconds: estimated from steps/s */
    double last_epoch[N_METRICS];     /* values of the last epoch line (NAN: absent) */
    int has_result;
    char result_arch[ARCH_MAX];
    double result[6];                 /* c10 valid/test, c100 valid/test, in16 valid/test */
    /* alphas.jsonl */
    int n_ep, rows, cols;
    vec ep, w, arch;                  /* epoch+1; n_ep*rows*cols weights; char* per epoch */
    char genotype[ARCH_MAX];          /* genotype.txt, first line */
    char genotype_pt[ARCH_MAX];       /* genotype-pt.txt (dnas select --method pt / --select pt) */
    char warn[3][700];
    int n_warn;
    layout lay;
    const char *const *names;         /* column names (lay.ops or generated) */
    char gen_names[MAX_COLS][16];
    const char *gen_ptrs[MAX_COLS];
    dnas_nb201_table *table;
    char table_path[512];
} run;

static void add_warning(run *r, const char *msg) {
    if (r->n_warn < 3) snprintf(r->warn[r->n_warn++], sizeof r->warn[0], "%s", msg);
    dnas_log(DNAS_LOG_WARNING, "warning: %s", msg);
}

static void run_free(run *r) {
    dnas_json_free(&r->cfg);
    for (int m = 0; m < N_METRICS; m++) {
        dnas_free(r->mx[m].p);
        dnas_free(r->my[m].p);
    }
    dnas_free(r->ep.p);
    dnas_free(r->w.p);
    for (size_t i = 0; i < r->arch.n; i++) dnas_free(((char **)r->arch.p)[i]);
    dnas_free(r->arch.p);
    if (r->table) dnas_nb201_table_destroy(r->table);
}

static const char *cfg_str(const run *r, const char *key) { return dnas_json_string(&r->cfg, key); }

static dnas_status read_config(run *r) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", r->dir);
    if (!dnas_file_exists(path)) return DNAS_OK; /* optional: a report reads what is there */
    char *text = NULL;
    size_t n = 0;
    DNAS_TRY(dnas_read_file(path, &text, &n));
    dnas_status st = dnas_json_parse(text, n, path, &r->cfg);
    dnas_free(text);
    return st;
}

static dnas_status read_log(run *r) {
    char path[600];
    snprintf(path, sizeof path, "%s/log.jsonl", r->dir);
    if (!dnas_file_exists(path))
        return dnas_fail(DNAS_ERR_IO, "%s: missing (not a run directory? a search writes it from "
                         "its first steps)", path);
    dnas_jsonl_reader rd;
    dnas_status st = dnas_jsonl_open(&rd, path);
    for (int m = 0; m < N_METRICS; m++) {
        r->mx[m].elem = r->my[m].elem = sizeof(double);
        r->last_epoch[m] = NAN;
    }
    double prev_steps = 0;
    while (st == DNAS_OK) {
        dnas_json_object o;
        int has = 0;
        if ((st = dnas_jsonl_next(&rd, &o, &has)) != DNAS_OK || !has) break;
        const char *kind = dnas_json_string(&o, "kind");
        double steps = 0, v;
        if (!kind) {
            st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: not a log line (no \"kind\")", path, rd.line);
        } else if (!strcmp(kind, "step") || !strcmp(kind, "epoch")) {
            if (!dnas_json_number(&o, "total_steps", &steps) || !(steps >= 0))
                st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: a %s line without a valid \"total_steps\"",
                               path, rd.line, kind);
            for (int m = 0; m < N_METRICS && st == DNAS_OK; m++) {
                if (!dnas_json_number(&o, metric_key[m], &v)) continue;
                if (push_d(&r->mx[m], steps) || push_d(&r->my[m], v)) st = DNAS_ERR_OOM;
            }
            double rate;
            if (dnas_json_number(&o, "steps_per_s", &rate) && rate > 0 && steps > prev_steps)
                r->seconds += (steps - prev_steps) / rate;
            if (steps > prev_steps) prev_steps = steps;
            r->last_steps = steps;
            if (!strcmp(kind, "epoch")) {
                r->epoch_lines++;
                for (int m = 0; m < N_METRICS; m++)
                    if (!dnas_json_number(&o, metric_key[m], &r->last_epoch[m])) r->last_epoch[m] = NAN;
            }
        } else if (!strcmp(kind, "result")) {
            static const char *const keys[6] = {"c10_valid", "c10_test", "c100_valid",
                                                "c100_test", "in16_valid", "in16_test"};
            const char *arch = dnas_json_string(&o, "arch");
            r->has_result = 1;
            snprintf(r->result_arch, sizeof r->result_arch, "%s", arch ? arch : "");
            for (int k = 0; k < 6; k++)
                if (!dnas_json_number(&o, keys[k], &r->result[k])) r->result[k] = NAN;
        } /* other kinds (written by later versions) are not ours to draw */
        dnas_json_free(&o);
    }
    if (st == DNAS_OK && rd.warning[0]) add_warning(r, rd.warning);
    dnas_jsonl_close(&rd);
    return st;
}

static dnas_status read_alphas(run *r) {
    char path[600];
    snprintf(path, sizeof path, "%s/alphas.jsonl", r->dir);
    r->ep.elem = r->w.elem = sizeof(double);
    r->arch.elem = sizeof(char *);
    if (!dnas_file_exists(path)) return DNAS_OK; /* no epoch has finished yet */
    dnas_jsonl_reader rd;
    dnas_status st = dnas_jsonl_open(&rd, path);
    while (st == DNAS_OK) {
        dnas_json_object o;
        int has = 0;
        if ((st = dnas_jsonl_next(&rd, &o, &has)) != DNAS_OK || !has) break;
        double epoch;
        const dnas_json_member *a = dnas_json_find(&o, "alphas");
        const char *arch = dnas_json_string(&o, "arch");
        if (!dnas_json_number(&o, "epoch", &epoch) || !a || a->type != DNAS_JSON_ARRAY ||
            a->depth != 2 || a->rows == 0) {
            st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: an alphas line needs \"epoch\" and \"alphas\" "
                           "(an array of rows of numbers)", path, rd.line);
        } else {
            int cols = a->row_off[1];
            if (cols > MAX_COLS || cols == 0 || a->rows > MAX_ROWS)
                st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: %d alpha rows of %d ops; a report draws 1 to "
                               "%d rows of 1 to %d", path, rd.line, a->rows, cols, MAX_ROWS, MAX_COLS);
            for (int i = 0; i < a->rows && st == DNAS_OK; i++)
                if (a->row_off[i + 1] - a->row_off[i] != cols)
                    st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: alpha row %d has %d entries, row 0 has %d",
                                   path, rd.line, i, a->row_off[i + 1] - a->row_off[i], cols);
            if (st == DNAS_OK && r->n_ep && (a->rows != r->rows || cols != r->cols))
                st = dnas_fail(DNAS_ERR_FORMAT, "%s:%d: %d alpha rows of %d, but earlier lines have "
                               "%d of %d", path, rd.line, a->rows, cols, r->rows, r->cols);
            r->rows = a->rows;
            r->cols = cols;
            for (int i = 0; i < a->n && st == DNAS_OK; i++) st = push_d(&r->w, a->nums[i]);
            if (st == DNAS_OK) st = push_d(&r->ep, epoch + 1);
            char **slot = st == DNAS_OK ? vec_push(&r->arch, "report arch") : NULL;
            if (st == DNAS_OK && !slot) st = DNAS_ERR_OOM;
            if (slot) {
                size_t n = arch ? strlen(arch) : 0;
                *slot = dnas_alloc(n + 1, "report arch");
                if (*slot) memcpy(*slot, arch ? arch : "", n + 1);
                else st = DNAS_ERR_OOM;
            }
            if (st == DNAS_OK) r->n_ep++;
        }
        dnas_json_free(&o);
    }
    if (st == DNAS_OK && rd.warning[0]) add_warning(r, rd.warning);
    dnas_jsonl_close(&rd);
    return st;
}

/* The first line of DIR/file into out (left "" when the file is absent or unreadable). */
static void read_first_line(const run *r, const char *file, char *out, size_t cap) {
    char path[600], *text = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/%s", r->dir, file);
    if (!dnas_file_exists(path) || dnas_read_file(path, &text, &n) != DNAS_OK) return;
    size_t k = strcspn(text, "\r\n");
    if (k >= cap) k = cap - 1;
    memcpy(out, text, k);
    out[k] = 0;
    dnas_free(text);
}

static void read_genotype(run *r) {
    read_first_line(r, "genotype.txt", r->genotype, sizeof r->genotype);
    read_first_line(r, "genotype-pt.txt", r->genotype_pt, sizeof r->genotype_pt);
}

static void hide_placeholder_valid(run *r) {
    /* With alpha fixed (DARTS-PT's fixed-alpha supernet) no arch batch runs: the logged valid
     * values are placeholders, not a supernet that scores 0%. */
    double fix = 0;
    if (dnas_json_number(&r->cfg, "fix_alpha", &fix) && fix != 0) {
        r->mx[M_VALID_LOSS].n = r->mx[M_VALID_ACC].n = 0;
        r->last_epoch[M_VALID_LOSS] = r->last_epoch[M_VALID_ACC] = NAN;
    }
}

/* The space's layout from config.json's "space", if it fits the alphas read. */
static void pick_layout(run *r) {
    const char *space = cfg_str(r, "space");
    for (size_t k = 0; k < sizeof known_layouts / sizeof known_layouts[0]; k++) {
        const layout *l = &known_layouts[k];
        int fits = r->n_ep == 0 || (l->groups * l->rows == r->rows && l->cols == r->cols);
        if (space && !strcmp(space, l->space) && fits) {
            r->lay = *l;
            r->names = l->ops;
            return;
        }
    }
    /* Unknown: one group, generic names. */
    int cols = r->cols;
    for (int k = 0; k < cols; k++) {
        snprintf(r->gen_names[k], sizeof r->gen_names[k], "op %d", k);
        r->gen_ptrs[k] = r->gen_names[k];
    }
    r->lay = (layout){space ? space : "?", 1, r->rows, cols, r->gen_ptrs, nb201_groups};
    r->names = r->gen_ptrs;
}

static const char *final_arch(const run *r) {
    if (r->genotype[0]) return r->genotype;
    if (r->has_result && r->result_arch[0]) return r->result_arch;
    if (r->n_ep) return ((char **)r->arch.p)[r->n_ep - 1];
    return "";
}

static int is_nb201(const run *r) {
    return !strcmp(r->lay.space, "nb201") || final_arch(r)[0] == '|';
}

static dnas_status load_table(run *r, const char *table_path) {
    if (!is_nb201(r)) {
        if (table_path)
            dnas_log(DNAS_LOG_WARNING, "warning: --table %s: only NAS-Bench-201 runs have a table", table_path);
        return DNAS_OK;
    }
    if (table_path) {
        snprintf(r->table_path, sizeof r->table_path, "%s", table_path);
        return dnas_nb201_table_load(table_path, &r->table);
    }
    const char *t = cfg_str(r, "table");
    if (!t || !t[0] || access(t, R_OK) != 0) return DNAS_OK;
    snprintf(r->table_path, sizeof r->table_path, "%s", t);
    if (dnas_nb201_table_load(t, &r->table) != DNAS_OK) {
        char msg[700];
        snprintf(msg, sizeof msg, "the run's table was not loaded: %s", dnas_last_error());
        add_warning(r, msg);
        r->table = NULL;
    }
    return DNAS_OK;
}

/* ---- genotypes as graphs ----------------------------------------------------------------- */

typedef struct {
    int n;
    char op[CELL_PAIRS][32];
    int in[CELL_PAIRS];
    int concat[8], n_concat;
} darts_cell;

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* The list after "<field>=[" in DARTS Genotype text: ('op', input) pairs. 0 if absent or
 * malformed (the page then shows the text only). */
static int darts_parse_cell(const char *text, const char *field, darts_cell *c) {
    char key[32], ckey[40];
    snprintf(key, sizeof key, "%s=[", field);
    snprintf(ckey, sizeof ckey, "%s_concat=", field);
    const char *p = strstr(text, key);
    memset(c, 0, sizeof *c);
    if (!p) return 0;
    p = skip_ws(p + strlen(key));
    while (*p != ']') {
        if (c->n >= CELL_PAIRS || *p != '(') return 0;
        p = skip_ws(p + 1);
        char q = *p;
        if (q != '\'' && q != '"') return 0;
        const char *e = strchr(p + 1, q);
        if (!e || e - p - 1 >= (long)sizeof c->op[0]) return 0;
        memcpy(c->op[c->n], p + 1, (size_t)(e - p - 1));
        c->op[c->n][e - p - 1] = 0;
        p = skip_ws(e + 1);
        if (*p != ',') return 0;
        char *end;
        long in = strtol(p + 1, &end, 10);
        if (end == p + 1 || in < 0 || in > 1 + c->n / 2) return 0;
        c->in[c->n++] = (int)in;
        p = skip_ws(end);
        if (*p != ')') return 0;
        p = skip_ws(p + 1);
        if (*p == ',') p = skip_ws(p + 1);
    }
    if (c->n % 2) return 0;
    const char *q = strstr(text, ckey);
    if (q) {
        q = skip_ws(q + strlen(ckey));
        long a, b;
        if (sscanf(q, "range(%ld, %ld)", &a, &b) == 2 || sscanf(q, "range(%ld,%ld)", &a, &b) == 2) {
            for (long s = a; s < b && c->n_concat < 8; s++) c->concat[c->n_concat++] = (int)s;
        } else if (*q == '[') {
            q++;
            char *end;
            for (long s; c->n_concat < 8 && (s = strtol(q, &end, 10), end != q); q = end) {
                c->concat[c->n_concat++] = (int)s;
                end = (char *)skip_ws(end);
                if (*end == ',') end++;
            }
        }
    }
    return 1;
}

/* Fixed colours by op name, so the same op looks the same in every chart. */
static const char *op_color(const char *op, int col) {
    static const struct {
        const char *name, *color;
    } table[] = {{"none", "#9aa3ab"},         {"skip_connect", "#d62728"}, {"nor_conv_1x1", "#1f77b4"},
                 {"nor_conv_3x3", "#2ca02c"}, {"avg_pool_3x3", "#ff7f0e"}, {"max_pool_3x3", "#8c564b"},
                 {"sep_conv_3x3", "#2ca02c"}, {"sep_conv_5x5", "#1f77b4"}, {"dil_conv_3x3", "#9467bd"},
                 {"dil_conv_5x5", "#e377c2"}, {"noise", "#bcbd22"}};
    static const char *const spare[] = {"#17becf", "#7f7f7f", "#393b79", "#637939", "#843c39"};
    for (size_t k = 0; op && k < sizeof table / sizeof table[0]; k++)
        if (!strcmp(op, table[k].name)) return table[k].color;
    return spare[(col < 0 ? 0 : col) % 5];
}

/* skip_connect edges of each group of a genotype; -1 if the text is not understood. */
static void count_skips(const char *arch, int out[2]) {
    out[0] = out[1] = -1;
    int ops[DNAS_NB201_EDGES];
    if (arch[0] == '|') {
        if (dnas_nb201_arch_parse(arch, ops) != DNAS_OK) return;
        out[0] = 0;
        for (int e = 0; e < DNAS_NB201_EDGES; e++) out[0] += ops[e] == 1;
        return;
    }
    for (int g = 0; g < 2; g++) {
        darts_cell c;
        if (!darts_parse_cell(arch, darts_groups[g], &c)) continue;
        out[g] = 0;
        for (int i = 0; i < c.n; i++) out[g] += !strcmp(c.op[i], "skip_connect");
    }
}

static void draw_nb201_cell(dnas_sbuf *sb, const char *arch) {
    int ops[DNAS_NB201_EDGES];
    if (dnas_nb201_arch_parse(arch, ops) != DNAS_OK) {
        dnas_sb_printf(sb, "<p class=\"note\">The arch string could not be parsed: %s</p>", dnas_last_error());
        return;
    }
    static const int from[DNAS_NB201_EDGES] = {0, 0, 1, 0, 1, 2}, to[DNAS_NB201_EDGES] = {1, 2, 2, 3, 3, 3};
    dnas_svg_node nodes[4] = {{"in", 0}, {"1", 0}, {"2", 0}, {"out", 1}};
    dnas_svg_edge e[DNAS_NB201_EDGES];
    for (int i = 0; i < DNAS_NB201_EDGES; i++)
        e[i] = (dnas_svg_edge){from[i], to[i], dnas_nb201_ops[ops[i]], op_color(dnas_nb201_ops[ops[i]], ops[i]),
                               ops[i] == 0, 0};
    dnas_svg_cell(sb, "cell (every cell of the network)", nodes, 4, e, DNAS_NB201_EDGES);
}

static void draw_darts_cells(dnas_sbuf *sb, const char *arch) {
    for (int g = 0; g < 2; g++) {
        darts_cell c;
        if (!darts_parse_cell(arch, darts_groups[g], &c)) {
            dnas_sb_printf(sb, "<p class=\"note\">The %s cell could not be read from the genotype "
                           "text.</p>", darts_groups[g]);
            continue;
        }
        int n_inner = c.n / 2, out = 2 + n_inner, ne = 0;
        dnas_svg_node nodes[2 + CELL_PAIRS / 2 + 1];
        char labels[CELL_PAIRS / 2][8];
        nodes[0] = (dnas_svg_node){CK2, 0};
        nodes[1] = (dnas_svg_node){CK1, 0};
        for (int i = 0; i < n_inner; i++) {
            snprintf(labels[i], sizeof labels[i], "%d", i);
            nodes[2 + i] = (dnas_svg_node){labels[i], 0};
        }
        nodes[out] = (dnas_svg_node){CK, 1};
        dnas_svg_edge e[CELL_PAIRS + 8];
        for (int i = 0; i < c.n; i++)
            e[ne++] = (dnas_svg_edge){c.in[i], 2 + i / 2, c.op[i], op_color(c.op[i], -1),
                                      !strcmp(c.op[i], "none"), 0};
        for (int i = 0; i < c.n_concat; i++)
            if (c.concat[i] >= 0 && c.concat[i] < out)
                e[ne++] = (dnas_svg_edge){c.concat[i], out, NULL, NULL, 0, 1};
        char title[64];
        snprintf(title, sizeof title, "%s cell", darts_groups[g]);
        dnas_svg_cell(sb, title, nodes, out + 1, e, ne);
    }
}

/* Label of alpha row `row` within its group. */
static void edge_label(const run *r, int row, char *buf, size_t cap) {
    if (!strcmp(r->lay.space, "nb201") && row < DNAS_NB201_EDGES) {
        static const char *const lab[DNAS_NB201_EDGES] = {"1" LARROW "in", "2" LARROW "in", "2" LARROW "1",
                                                         "out" LARROW "in", "out" LARROW "1", "out" LARROW "2"};
        snprintf(buf, cap, "edge %d: %s", row, lab[row]);
        return;
    }
    if (!strcmp(r->lay.space, "darts")) {
        for (int i = 0, e = 0; i < 4; i++)
            for (int j = 0; j <= i + 1; j++, e++)
                if (e == row) {
                    if (j < 2) snprintf(buf, cap, "edge %d: %d" LARROW "%s", row, i, j ? CK1 : CK2);
                    else snprintf(buf, cap, "edge %d: %d" LARROW "%d", row, i, j - 2);
                    return;
                }
    }
    snprintf(buf, cap, "row %d", row);
}

/* ---- the page ---------------------------------------------------------------------------- */

static const char *page_css =
    "body{margin:0;background:#f4f6f8;color:#1f2a33;font:14px/1.45 system-ui,-apple-system,"
    "'Segoe UI',Roboto,sans-serif}\n"
    "main{max-width:1200px;margin:0 auto;padding:20px 24px 40px}\n"
    "h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:0 0 10px}"
    "h3{font-size:14px;margin:14px 0 6px;color:#44515c}\n"
    ".sub{color:#5f6b76;margin:0 0 12px;word-break:break-all}\n"
    ".card{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:16px 20px;margin:14px 0}\n"
    ".row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}\n"
    "table.sum{border-collapse:collapse}table.sum th{text-align:left;font-weight:500;color:#5f6b76;"
    "padding:3px 18px 3px 0;vertical-align:top;white-space:nowrap}table.sum td{padding:3px 0}\n"
    "code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}\n"
    ".bad{color:#c62828;font-weight:600}\n"
    ".legend{margin:4px 0 8px}.legend span{display:inline-block;margin:0 14px 4px 0;white-space:nowrap}"
    ".legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;"
    "vertical-align:-1px}\n"
    ".note{color:#5f6b76;font-size:13px;margin:6px 0}\n"
    ".warn{background:#fff6e5;border:1px solid #f0c36d;border-radius:6px;padding:8px 12px;margin:10px 0}\n";

static void esc(dnas_sbuf *sb, const char *s) { dnas_svg_escape(sb, s); }

static void row_text(dnas_sbuf *sb, const char *th, const char *td_html) {
    dnas_sb_printf(sb, "<tr><th>%s</th><td>%s</td></tr>\n", th, td_html);
}

static void acc_cell(char *buf, size_t cap, double valid, double test) {
    if (isfinite(valid) && isfinite(test)) snprintf(buf, cap, "valid %.2f%% &middot; <b>test %.2f%%</b>", valid, test);
    else if (isfinite(test)) snprintf(buf, cap, "<b>test %.2f%%</b>", test);
    else snprintf(buf, cap, "&ndash;");
}

static void summary(dnas_sbuf *sb, const run *r) {
    const char *arch = final_arch(r);
    char buf[512], tmp[256];
    double epochs_cfg = NAN, seed;
    dnas_json_number(&r->cfg, "epochs", &epochs_cfg); /* left NAN without a config.json */
    dnas_sb_printf(sb, "<section class=\"card\"><h2>Summary</h2><table class=\"sum\">\n");
    dnas_sbuf cell = {0};
    esc(&cell, r->lay.space);
    if (cfg_str(r, "algo")) {
        dnas_sb_printf(&cell, " &middot; ");
        esc(&cell, cfg_str(r, "algo"));
    }
    if (cfg_str(r, "dataset")) {
        dnas_sb_printf(&cell, " &middot; ");
        esc(&cell, cfg_str(r, "dataset"));
    }
    if (dnas_json_number(&r->cfg, "seed", &seed)) dnas_sb_printf(&cell, " &middot; seed %.0f", seed);
    row_text(sb, "search", cell.buf ? cell.buf : "");
    dnas_sb_free(&cell);
    int done = r->n_ep > r->epoch_lines ? r->n_ep : r->epoch_lines;
    if (isfinite(epochs_cfg)) snprintf(buf, sizeof buf, "%d of %.0f%s", done, epochs_cfg, done < epochs_cfg ? " (incomplete)" : "");
    else snprintf(buf, sizeof buf, "%d", done);
    row_text(sb, "epochs", buf);
    dnas_rundir_duration(r->seconds, tmp, sizeof tmp);
    snprintf(buf, sizeof buf, "%.0f steps &middot; %s of compute (from the logged steps/s)", r->last_steps, tmp);
    row_text(sb, "steps", buf);
    if (isfinite(r->last_epoch[M_TRAIN_ACC])) {
        int n = snprintf(buf, sizeof buf, "train %.2f%% (loss %.4f)", r->last_epoch[M_TRAIN_ACC],
                         r->last_epoch[M_TRAIN_LOSS]);
        if (isfinite(r->last_epoch[M_VALID_ACC]))
            snprintf(buf + n, sizeof buf - (size_t)n, " &middot; valid %.2f%% (loss %.4f)",
                     r->last_epoch[M_VALID_ACC], r->last_epoch[M_VALID_LOSS]);
        row_text(sb, "last epoch (supernet)", buf);
    }
    dnas_sb_printf(sb, "<tr><th>final architecture</th><td><code>");
    esc(sb, arch[0] ? arch : "(none yet)");
    dnas_sb_printf(sb, "</code></td></tr>\n");
    int skips[2];
    count_skips(arch, skips);
    if (skips[0] >= 0 && skips[1] < 0) {
        snprintf(buf, sizeof buf, "<span class=\"%s\">%d</span> of %d edges", skips[0] >= 3 ? "bad" : "",
                 skips[0], arch[0] == '|' ? DNAS_NB201_EDGES : 8);
        row_text(sb, "skip_connect", buf);
    } else if (skips[0] >= 0 && skips[1] >= 0) {
        snprintf(buf, sizeof buf, "normal <span class=\"%s\">%d</span> of 8 &middot; reduce %d of 8",
                 skips[0] >= 3 ? "bad" : "", skips[0], skips[1]);
        row_text(sb, "skip_connect", buf);
    }
    /* Benchmark accuracy of the final arch: the table's, else the run's own result line. */
    const dnas_nb201_row *row = NULL;
    double acc[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    if (r->table && dnas_nb201_table_find(r->table, arch, &row) == DNAS_OK) {
        double a[6] = {row->c10_valid, row->c10_test, row->c100_valid, row->c100_test, row->in16_valid, row->in16_test};
        memcpy(acc, a, sizeof acc);
        snprintf(buf, sizeof buf, "index %d &middot; %.2f M params", row->index, row->c10_params_m);
        row_text(sb, "NAS-Bench-201", buf);
    } else if (r->has_result && !strcmp(r->result_arch, arch)) {
        memcpy(acc, r->result, sizeof acc);
    }
    if (isfinite(acc[1])) {
        static const char *const names[3] = {"CIFAR-10", "CIFAR-100", "ImageNet16-120"};
        for (int d = 0; d < 3; d++) {
            acc_cell(buf, sizeof buf, acc[2 * d], acc[2 * d + 1]);
            row_text(sb, names[d], buf);
        }
    }
    if (r->genotype_pt[0]) {
        /* The selection's answer is what a --select pt run returns; the magnitude one above is
         * kept for comparison. */
        dnas_sbuf pcell = {0};
        dnas_sb_printf(&pcell, "<code>");
        esc(&pcell, r->genotype_pt);
        dnas_sb_printf(&pcell, "</code>");
        const dnas_nb201_row *prow = NULL;
        if (r->table && dnas_nb201_table_find(r->table, r->genotype_pt, &prow) == DNAS_OK)
            dnas_sb_printf(&pcell, "<br>test: CIFAR-10 <b>%.2f%%</b> &middot; CIFAR-100 %.2f%% "
                           "&middot; ImageNet16-120 %.2f%%", prow->c10_test, prow->c100_test,
                           prow->in16_test);
        row_text(sb, "selected by DARTS-PT", pcell.buf ? pcell.buf : "");
        dnas_sb_free(&pcell);
    }
    if (r->table) {
        double best[3] = {0, 0, 0};
        for (int i = 0; i < DNAS_NB201_ARCHS; i++) {
            const dnas_nb201_row *t;
            if (dnas_nb201_table_get(r->table, i, &t) != DNAS_OK) continue;
            best[0] = fmax(best[0], t->c10_test);
            best[1] = fmax(best[1], t->c100_test);
            best[2] = fmax(best[2], t->in16_test);
        }
        snprintf(buf, sizeof buf, "CIFAR-10 %.2f%% &middot; CIFAR-100 %.2f%% &middot; ImageNet16-120 %.2f%%",
                 best[0], best[1], best[2]);
        row_text(sb, "best in the table (test)", buf);
        /* The best cell the search passed through: how much a collapse cost. */
        int best_ep = -1;
        double best_acc = -1;
        for (int e = 0; e < r->n_ep; e++) {
            const dnas_nb201_row *t;
            if (dnas_nb201_table_find(r->table, ((char **)r->arch.p)[e], &t) == DNAS_OK && t->c10_test > best_acc) {
                best_acc = t->c10_test;
                best_ep = e;
            }
        }
        if (best_ep >= 0) {
            dnas_sb_printf(sb, "<tr><th>best derived during the search</th><td>CIFAR-10 test %.2f%% "
                           "after epoch %.0f: <code>", best_acc, VD(r->ep)[best_ep]);
            esc(sb, ((char **)r->arch.p)[best_ep]);
            dnas_sb_printf(sb, "</code></td></tr>\n");
        }
    }
    dnas_sb_printf(sb, "</table></section>\n");
}

static void legend(dnas_sbuf *sb, const run *r, const int *used) {
    dnas_sb_printf(sb, "<div class=\"legend\">");
    for (int k = 0; k < r->cols; k++) {
        if (!used[k]) continue;
        dnas_sb_printf(sb, "<span><i style=\"background:%s\"></i>", op_color(r->names[k], k));
        esc(sb, r->names[k]);
        dnas_sb_printf(sb, "</span>");
    }
    dnas_sb_printf(sb, "</div>\n");
}

/* (d) NB201: the table's test accuracy of the arch derived at each epoch; and for every space
 * the skip_connect count of the derived cell per epoch. */
static dnas_status arch_over_epochs(dnas_sbuf *sb, const run *r) {
    if (r->n_ep == 0) return DNAS_OK;
    char *const *arch = r->arch.p;
    const char **titles = dnas_alloc((size_t)r->n_ep * 3 * sizeof(char *), "report titles");
    char *tbuf = dnas_alloc((size_t)r->n_ep * 3 * 96, "report titles");
    double *acc = dnas_alloc((size_t)r->n_ep * 5 * sizeof(double), "report accuracies");
    dnas_status st = titles && tbuf && acc ? DNAS_OK : DNAS_ERR_OOM;
    if (st != DNAS_OK) goto out;
    double *skip0 = acc + 3 * (size_t)r->n_ep, *skip1 = skip0 + r->n_ep;
    int have_reduce = 0;
    for (int e = 0; e < r->n_ep; e++) {
        int s[2];
        count_skips(arch[e], s);
        skip0[e] = s[0] >= 0 ? s[0] : NAN;
        skip1[e] = s[1] >= 0 ? s[1] : NAN;
        have_reduce |= s[1] >= 0;
        const dnas_nb201_row *row = NULL;
        if (r->table && dnas_nb201_table_find(r->table, arch[e], &row) != DNAS_OK) row = NULL;
        double a[3] = {row ? row->c10_test : NAN, row ? row->c100_test : NAN, row ? row->in16_test : NAN};
        static const char *const dn[3] = {"CIFAR-10", "CIFAR-100", "ImageNet16-120"};
        for (int d = 0; d < 3; d++) {
            acc[d * r->n_ep + e] = a[d];
            char *t = tbuf + ((size_t)d * r->n_ep + e) * 96;
            snprintf(t, 96, "epoch %.0f: %s test %.2f%% (%d skip_connect)", VD(r->ep)[e], dn[d], a[d], s[0]);
            titles[d * r->n_ep + e] = t;
        }
    }
    dnas_sb_printf(sb, "<section class=\"card\"><h2>The architecture derived at each epoch</h2>\n");
    if (r->table) {
        dnas_sb_printf(sb, "<p class=\"note\">NAS-Bench-201 test accuracy (200-epoch training) of "
                       "the cell the search would return after each epoch. A falling curve while "
                       "skip_connect takes over is the collapse. Hover a point for its value.</p>\n");
    } else if (is_nb201(r)) {
        dnas_sb_printf(sb, "<p class=\"note\">No NAS-Bench-201 table was given (pass --table "
                       "nb201.csv) : benchmark accuracies are not shown.</p>\n");
    }
    dnas_sb_printf(sb, "<div class=\"row\">");
    if (r->table) {
        static const char *const names[3] = {"CIFAR-10", "CIFAR-100", "ImageNet16-120"};
        static const char *const colors[3] = {"#1f77b4", "#ff7f0e", "#2ca02c"};
        dnas_svg_series s[3];
        for (int d = 0; d < 3; d++)
            s[d] = (dnas_svg_series){names[d], colors[d], VD(r->ep), acc + (size_t)d * r->n_ep, r->n_ep,
                                     0, 1, 0, titles + (size_t)d * r->n_ep};
        dnas_svg_chart c = {680, 300, "benchmark test accuracy of the derived cell", "epoch",
                            "test accuracy (%)", 0, 0, 0, 0, 1};
        dnas_svg_line_chart(sb, &c, s, 3);
    }
    dnas_svg_series ks[2] = {
        {have_reduce ? "normal" : "cell", "#d62728", VD(r->ep), skip0, r->n_ep, 0, 0, 1, NULL},
        {"reduce", "#9467bd", VD(r->ep), skip1, r->n_ep, 1, 0, 1, NULL}};
    int nb = r->n_ep && arch[r->n_ep - 1][0] == '|'; /* y up to every edge of the cell */
    dnas_svg_chart kc = {r->table ? 410 : 545, 300, "skip_connect edges in the derived cell", "epoch",
                         "edges", 0, nb ? DNAS_NB201_EDGES : 8, 1, 1, have_reduce};
    dnas_svg_line_chart(sb, &kc, ks, have_reduce ? 2 : 1);
    dnas_sb_printf(sb, "</div></section>\n");
out:
    dnas_free(titles);
    dnas_free(tbuf);
    dnas_free(acc);
    return st;
}

/* (b) mixing weights: one small chart per edge, one line per op, a shared y range. */
static dnas_status mixing_weights(dnas_sbuf *sb, const run *r) {
    if (r->n_ep == 0) return DNAS_OK;
    int R = r->rows, C = r->cols, E = r->n_ep;
    double *ys = dnas_alloc((size_t)C * E * sizeof(double), "report weights");
    if (!ys) return DNAS_ERR_OOM;
    int used[MAX_COLS] = {0};
    double top = 0;
    const double *w = VD(r->w);
    for (int i = 0; i < R * E; i++)
        for (int k = 0; k < C; k++) {
            used[k] |= w[(size_t)i * C + k] != 0;
            if (isfinite(w[(size_t)i * C + k])) top = fmax(top, w[(size_t)i * C + k]);
        }
    dnas_sb_printf(sb, "<section class=\"card\"><h2>Mixing weights per edge</h2>\n<p class=\"note\">"
                   "The architecture weights the search logged after each epoch (softmax of alpha, "
                   "or the method's own), one chart per edge, one line per candidate op; every "
                   "chart shares the y axis.</p>\n");
    legend(sb, r, used);
    int per_group = R / (r->lay.groups > 0 ? r->lay.groups : 1);
    for (int g = 0; g < r->lay.groups; g++) {
        if (r->lay.groups > 1) dnas_sb_printf(sb, "<h3>%s cell</h3>\n", r->lay.group_names[g]);
        dnas_sb_printf(sb, "<div class=\"row\">");
        for (int row = 0; row < per_group; row++) {
            int rr = g * per_group + row;
            dnas_svg_series s[MAX_COLS];
            int ns = 0;
            for (int k = 0; k < C; k++) {
                if (!used[k]) continue;
                for (int e = 0; e < E; e++) ys[(size_t)k * E + e] = w[((size_t)e * R + rr) * C + k];
                s[ns++] = (dnas_svg_series){r->names[k], op_color(r->names[k], k), VD(r->ep),
                                            ys + (size_t)k * E, E, 0, 0, 0, NULL};
            }
            char title[64];
            edge_label(r, row, title, sizeof title);
            dnas_svg_chart c = {266, 170, title, NULL, NULL, 0, top > 0 ? top * 1.05 : 1, 1, 0, 0};
            dnas_svg_line_chart(sb, &c, s, ns);
        }
        dnas_sb_printf(sb, "</div>\n");
    }
    dnas_sb_printf(sb, "</section>\n");
    dnas_free(ys);
    return DNAS_OK;
}

/* (a) loss and accuracy over steps. */
static void curves(dnas_sbuf *sb, const run *r) {
    dnas_sb_printf(sb, "<section class=\"card\"><h2>Training curves</h2>\n<p class=\"note\">Running "
                   "means within each epoch, as logged (log.jsonl step and epoch lines); the "
                   "valid curve is the supernet on the architecture batches.</p><div class=\"row\">");
    static const int groups[3][3] = {{M_TRAIN_LOSS, M_VALID_LOSS, M_TEST_LOSS},
                                     {M_TRAIN_ACC, M_VALID_ACC, M_TEST_ACC},
                                     {M_GRAD, -1, -1}};
    static const char *const titles[3] = {"loss", "accuracy (%)", "gradient norm (weights)"};
    for (int c = 0; c < 3; c++) {
        dnas_svg_series s[3];
        int ns = 0;
        for (int k = 0; k < 3; k++) {
            int m = groups[c][k];
            if (m < 0 || r->mx[m].n == 0) continue;
            s[ns++] = (dnas_svg_series){metric_name[m], metric_color[m], VD(r->mx[m]), VD(r->my[m]),
                                        (int)r->mx[m].n, 0, 0, 0, NULL};
        }
        if (c == 2 && ns == 0) continue;
        dnas_svg_chart ch = {c == 2 ? 1100 : 545, c == 2 ? 200 : 300, titles[c], "step", NULL, 0, 0,
                             c == 1, 0, c < 2};
        dnas_svg_line_chart(sb, &ch, s, ns);
    }
    dnas_sb_printf(sb, "</div></section>\n");
}

static dnas_status build_page(dnas_sbuf *sb, const run *r) {
    const char *base = strrchr(r->dir, '/');
    base = base && base[1] ? base + 1 : r->dir;
    dnas_sb_printf(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>");
    esc(sb, base);
    dnas_sb_printf(sb, " &middot; dnas report</title>\n<style>\n%s%s</style></head><body><main>\n",
                   page_css, dnas_svg_css());
    dnas_sb_printf(sb, "<h1>");
    esc(sb, base);
    dnas_sb_printf(sb, "</h1><p class=\"sub\">");
    esc(sb, r->dir);
    if (r->table_path[0] && r->table) {
        dnas_sb_printf(sb, " &middot; table ");
        esc(sb, r->table_path);
    }
    dnas_sb_printf(sb, "</p>\n");
    for (int i = 0; i < r->n_warn; i++) {
        dnas_sb_printf(sb, "<div class=\"warn\">");
        esc(sb, r->warn[i]);
        dnas_sb_printf(sb, "</div>\n");
    }
    summary(sb, r);
    const char *arch = final_arch(r);
    if (arch[0]) {
        dnas_sb_printf(sb, "<section class=\"card\"><h2>Derived cell</h2><p class=\"note\">Nodes "
                       "left to right; each arc is an edge, labelled by its op (dashed: none).</p>"
                       "<div class=\"row\">");
        if (arch[0] == '|') draw_nb201_cell(sb, arch);
        else draw_darts_cells(sb, arch);
        dnas_sb_printf(sb, "</div></section>\n");
    }
    DNAS_TRY(arch_over_epochs(sb, r));
    DNAS_TRY(mixing_weights(sb, r));
    curves(sb, r);
    dnas_sb_printf(sb, "<p class=\"note\">Written by dnas report from config.json, log.jsonl, "
                   "alphas.jsonl and genotype.txt.</p>\n</main></body></html>\n");
    return DNAS_OK;
}

dnas_status dnas_report_write(const char *run_dir, const char *table_path, const char *out_path) {
    if (!run_dir || !run_dir[0]) return dnas_fail(DNAS_ERR_INVALID_ARG, "report: no run directory given");
    struct stat sb;
    if (stat(run_dir, &sb) != 0)
        return dnas_fail(DNAS_ERR_IO, "%s: %s", run_dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: not a directory", run_dir);
    run *r = dnas_calloc(sizeof *r, "report");
    if (!r) return DNAS_ERR_OOM;
    size_t n = strlen(run_dir);
    while (n > 1 && run_dir[n - 1] == '/') n--;
    if (n >= sizeof r->dir) {
        dnas_free(r);
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%.80s...: path too long", run_dir);
    }
    memcpy(r->dir, run_dir, n);
    dnas_status st = read_config(r);
    if (st == DNAS_OK) st = read_log(r);
    if (st == DNAS_OK) hide_placeholder_valid(r);
    if (st == DNAS_OK) st = read_alphas(r);
    if (st == DNAS_OK) {
        read_genotype(r);
        pick_layout(r);
        st = load_table(r, table_path);
    }
    dnas_sbuf page = {0};
    if (st == DNAS_OK) st = build_page(&page, r);
    if (st == DNAS_OK && page.oom) st = dnas_fail(DNAS_ERR_OOM, "out of memory building the report");
    if (st == DNAS_OK) {
        char def[600];
        snprintf(def, sizeof def, "%s/report.html", r->dir);
        st = dnas_write_file_atomic(out_path ? out_path : def, page.buf, page.len);
    }
    dnas_sb_free(&page);
    run_free(r);
    dnas_free(r);
    return st;
}
