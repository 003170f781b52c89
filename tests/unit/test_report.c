/* The run report (src/io/report.c) and its strict JSON reader (src/io/json_lite.c):
 *  - json_lite reads every value our logs hold (escapes, nested number arrays, non-finite
 *    numbers) and refuses each kind of malformed line with "file:line: column N: <why>";
 *  - the JSONL reader skips a truncated last line with a warning, refuses a bad line anywhere
 *    else, and names the line of a bad config.json;
 *  - a synthetic NB201 run directory: the page has an <svg> per chart, the final arch, the
 *    table's accuracies (explicit --table, and config.json's table by default), no script;
 *  - a synthetic DARTS run: normal and reduce cells drawn, one chart per alpha row, and the
 *    report's op/group names agree with src/space's (the report may not call into it);
 *  - bad input (missing directory, no log.jsonl, a corrupt line) fails naming file:line and
 *    writes nothing. */
#include "test.h"
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/alloc.h"
#include "io/files.h"
#include "io/json_lite.h"
#include "io/nb201_table.h"
#include "io/report.h"
#include "space/space.h"

static char root[256], table_path[400];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        printf("  cannot write %s\n", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path) {
    char *d = NULL;
    size_t n = 0;
    return dnas_read_file(path, &d, &n) == DNAS_OK ? d : NULL;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ---- json_lite ---------------------------------------------------------------------------- */

static void test_json_good(void) {
    const char *line =
        " {\"kind\": \"step\", \"epoch\": 3, \"lr\": 2.5e-2, \"neg\": -0.5, \"zero\": 0, "
        "\"s\": \"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\", \"t\": true, \"f\": false, \"z\": null, "
        "\"a\": [[0.1, 0.2], [], [3]], \"v\": [1, 2, 3], \"e\": [], \"bad\": nan, \"big\": -inf, "
        "\"py\": NaN, \"py2\": -Infinity} ";
    dnas_json_object o;
    dnas_status st = dnas_json_parse(line, strlen(line), "x.jsonl:1", &o);
    CHECK(st == DNAS_OK, "parse: %s", dnas_last_error());
    if (st != DNAS_OK) return;
    double v = 0;
    CHECK(o.n == 16, "%d members", o.n);
    CHECK(dnas_json_number(&o, "epoch", &v) && v == 3, "epoch");
    CHECK(dnas_json_number(&o, "lr", &v) && v == 0.025, "lr %g", v);
    CHECK(dnas_json_number(&o, "neg", &v) && v == -0.5, "neg");
    CHECK(dnas_json_number(&o, "zero", &v) && v == 0, "zero");
    CHECK(!strcmp(dnas_json_string(&o, "kind"), "step"), "kind");
    CHECK(!strcmp(dnas_json_string(&o, "s"), "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80"), "escapes: '%s'",
          dnas_json_string(&o, "s"));
    CHECK(!dnas_json_string(&o, "epoch") && !dnas_json_number(&o, "kind", &v), "types are kept apart");
    CHECK(!dnas_json_find(&o, "missing"), "missing key");
    const dnas_json_member *m = dnas_json_find(&o, "t");
    CHECK(m && m->type == DNAS_JSON_BOOL && m->num == 1, "true");
    m = dnas_json_find(&o, "z");
    CHECK(m && m->type == DNAS_JSON_NULL, "null");
    m = dnas_json_find(&o, "a");
    CHECK(m && m->type == DNAS_JSON_ARRAY && m->depth == 2 && m->rows == 3 && m->n == 3 &&
              m->row_off[1] == 2 && m->row_off[2] == 2 && m->row_off[3] == 3 && m->nums[0] == 0.1 &&
              m->nums[2] == 3,
          "nested array");
    m = dnas_json_find(&o, "v");
    CHECK(m && m->depth == 1 && m->n == 3 && m->nums[2] == 3, "flat array");
    m = dnas_json_find(&o, "e");
    CHECK(m && m->depth == 1 && m->n == 0, "empty array");
    CHECK(dnas_json_number(&o, "bad", &v) && isnan(v), "nan");
    CHECK(dnas_json_number(&o, "big", &v) && isinf(v) && v < 0, "-inf");
    CHECK(dnas_json_number(&o, "py", &v) && isnan(v), "NaN");
    CHECK(dnas_json_number(&o, "py2", &v) && isinf(v), "-Infinity");
    dnas_json_free(&o);
    CHECK(dnas_json_parse("{}", 2, "w", &o) == DNAS_OK && o.n == 0, "empty object");
    dnas_json_free(&o);
    /* The length bounds the parse: what follows is never read. */
    CHECK(dnas_json_parse("{\"a\": 1}garbage", 8, "w", &o) == DNAS_OK && o.n == 1, "bounded by len");
    dnas_json_free(&o);
}

static void test_json_bad(void) {
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"{\"a\": 1} x", "text after the end"},
        {"{\"a\": 01}", "leading zero"},
        {"{\"a\": 1,}", "expected a key"},
        {"{\"a\" 1}", "expected ':'"},
        {"{\"a\": [1, \"x\"]}", "only numbers"},
        {"{\"a\": [1, null]}", "only numbers"},
        {"{\"a\": [[1], 2]}", "may not mix"},
        {"{\"a\": [[[1]]]}", "two deep"},
        {"{\"a\": {\"b\": 1}}", "nested objects"},
        {"{\"a\": 1, \"a\": 2}", "duplicate key"},
        {"{\"a\": \"x\x01\"}", "control character"},
        {"{\"a\": \"\\u12\"}", "4 hex digits"},
        {"{\"a\": \"\\ud800\"}", "surrogate"},
        {"{\"a\": \"\\udc00\"}", "lone low surrogate"},
        {"{\"a\": \"\\u0000\"}", "\\u0000"},
        {"{\"a\": \"\\q\"}", "unknown escape"},
        {"{\"a\": \"abc", "unterminated string"},
        {"[1, 2]", "expected '{'"},
        {"{\"a\": 1", "expected ',' or '}'"},
        {"{\"a\": 1e}", "exponent"},
        {"{\"a\": -}", "expected a value"},
        {"{\"a\": .5}", "expected a value"},
        {"{\"a\": 1.}", "after '.'"},
        {"{\"a\": tru}", "expected a value"},
        {"{\"a\": 1x}", "after a number"},
        {"{\"a\": [1 2]}", "expected ',' or ']'"},
        {"{a: 1}", "expected a key"},
        {"", "expected '{'"},
        {"{\"kind\": \"step\", \"epo", "unterminated string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dnas_json_object o;
        dnas_status st = dnas_json_parse(cases[i].text, strlen(cases[i].text), "f.jsonl:7", &o);
        const char *msg = dnas_last_error();
        CHECK(st == DNAS_ERR_FORMAT && !o.mem && strstr(msg, "f.jsonl:7: column ") &&
                  strstr(msg, cases[i].why),
              "'%s': status %d, message '%s' (want '%s')", cases[i].text, (int)st, msg, cases[i].why);
        dnas_json_free(&o);
    }
    /* A NUL byte inside the given length (a damaged file). */
    dnas_json_object o;
    CHECK(dnas_json_parse("{\"a\":\0 1}", 9, "g:2", &o) == DNAS_ERR_FORMAT &&
              strstr(dnas_last_error(), "g:2: column 6: NUL"), "NUL: %s", dnas_last_error());
    /* Several lines: the message names the line and the column in it. */
    const char *cfg = "{\"space\": \"nb201\",\n \"epochs\": 5,\n \"seed\" 1}\n";
    CHECK(dnas_json_parse(cfg, strlen(cfg), "run/config.json", &o) == DNAS_ERR_FORMAT &&
              strstr(dnas_last_error(), "run/config.json:3: column 9: expected ':'"),
          "multi-line: %s", dnas_last_error());
}

static void test_jsonl_reader(void) {
    char path[400];
    snprintf(path, sizeof path, "%s/t.jsonl", root);
    dnas_jsonl_reader r;
    dnas_json_object o;
    int has, n = 0;
    /* Three good lines, a blank one, then a line cut mid-write (no newline). */
    write_text(path, "{\"a\": 1}\n{\"a\": 2}\n\n{\"a\": 3}\n{\"a\": 4, \"b\": [0.1, 0.");
    CHECK(dnas_jsonl_open(&r, path) == DNAS_OK, "open: %s", dnas_last_error());
    for (;;) {
        dnas_status st = dnas_jsonl_next(&r, &o, &has);
        CHECK(st == DNAS_OK, "next: %s", dnas_last_error());
        if (st != DNAS_OK || !has) break;
        double v;
        CHECK(dnas_json_number(&o, "a", &v) && v == ++n, "line value %g", v);
        dnas_json_free(&o);
    }
    CHECK(n == 3, "%d objects, want 3", n);
    CHECK(strstr(r.warning, "t.jsonl:5: truncated last line"), "warning '%s'", r.warning);
    dnas_jsonl_close(&r);
    /* The same bad line with its newline: not a crash artefact, an error. */
    write_text(path, "{\"a\": 1}\n{\"a\": 4, \"b\": [0.1, 0.\n");
    dnas_jsonl_open(&r, path);
    dnas_jsonl_next(&r, &o, &has);
    dnas_json_free(&o);
    CHECK(dnas_jsonl_next(&r, &o, &has) == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "t.jsonl:2: column"),
          "bad last line with newline: %s", dnas_last_error());
    dnas_jsonl_close(&r);
    /* Garbage in the middle. */
    write_text(path, "{\"a\": 1}\nnot json\n{\"a\": 3}\n");
    dnas_jsonl_open(&r, path);
    dnas_jsonl_next(&r, &o, &has);
    dnas_json_free(&o);
    CHECK(dnas_jsonl_next(&r, &o, &has) == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "t.jsonl:2:"),
          "garbage line: %s", dnas_last_error());
    dnas_jsonl_close(&r);
    /* A last line without newline that is whole is an object like any other. */
    write_text(path, "{\"a\": 1}\n{\"a\": 2}");
    dnas_jsonl_open(&r, path);
    n = 0;
    while (dnas_jsonl_next(&r, &o, &has) == DNAS_OK && has) {
        n++;
        dnas_json_free(&o);
    }
    CHECK(n == 2 && !r.warning[0], "whole last line: %d objects, warning '%s'", n, r.warning);
    dnas_jsonl_close(&r);
    CHECK(dnas_jsonl_open(&r, "/nonexistent/x.jsonl") != DNAS_OK &&
              strstr(dnas_last_error(), "/nonexistent/x.jsonl"), "missing file: %s", dnas_last_error());
    dnas_jsonl_close(&r);
    unlink(path);
}

/* ---- synthetic run directories ------------------------------------------------------------ */

static int arch_index(const int ops[DNAS_NB201_EDGES]) {
    int i = 0;
    for (int e = DNAS_NB201_EDGES - 1; e >= 0; e--) i = i * 5 + ops[e];
    return i;
}
static double acc_of(int i, int d) {
    return d == 0 ? 60 + (i % 3000) / 100.0 : d == 1 ? 30 + (i % 2000) / 100.0 : 15 + (i % 1000) / 100.0;
}

/* A complete table in the real format: every arch, accuracies from its index. */
static void make_table(void) {
    snprintf(table_path, sizeof table_path, "%s/nb201.csv", root);
    FILE *f = fopen(table_path, "w");
    if (!f) return;
    fprintf(f, "index,arch,c10valid_train_acc,c10valid_valid_acc,c10valid_test_acc,c10_test_acc,"
               "c100_train_acc,c100_valid_acc,c100_test_acc,in16_train_acc,in16_valid_acc,"
               "in16_test_acc,c100_test_acc_nats,in16_test_acc_nats,c10_flops_M,c10_params_M,"
               "c100_flops_M,c100_params_M,in16_flops_M,in16_params_M\n");
    for (int i = 0; i < DNAS_NB201_ARCHS; i++) {
        int ops[DNAS_NB201_EDGES];
        char arch[DNAS_NB201_ARCH_MAX];
        for (int e = 0, k = i; e < DNAS_NB201_EDGES; e++, k /= 5) ops[e] = k % 5;
        dnas_nb201_arch_format(ops, arch, sizeof arch);
        double a = acc_of(i, 0), b = acc_of(i, 1), c = acc_of(i, 2);
        fprintf(f, "%d,%s,99,%.2f,%.2f,%.2f,99,%.2f,%.2f,99,%.2f,%.2f,%.2f,%.2f,10,0.5,10,0.5,3,0.5\n", i,
                arch, a - 1, a, a, b - 1, b, c - 1, c, b, c);
    }
    fclose(f);
}

static const char *EP_ARCH[3] = {
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|skip_connect~1|avg_pool_3x3~2|",
    "|skip_connect~0|+|skip_connect~0|none~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"};

static void path_of(char *buf, size_t cap, const char *dir, const char *file) {
    snprintf(buf, cap, "%s/%s", dir, file);
}

static void make_nb201_run(const char *dir, const char *cfg_table) {
    char p[600], cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return;
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "{\"space\": \"nb201\", \"algo\": \"darts1\", \"dataset\": \"cifar10\", "
             "\"table\": \"%s\", \"epochs\": 4, \"seed\": 3, \"lr\": 0.025000000000000001}\n", cfg_table);
    path_of(p, sizeof p, dir, "config.json");
    write_text(p, cfg);
    dnas_sbuf log = {0}, al = {0};
    for (int e = 0; e < 3; e++) {
        for (int s = 5; s <= 10; s += 5)
            dnas_sb_printf(&log, "{\"kind\": \"%s\", \"epoch\": %d, \"step\": %d, \"total_steps\": %d, "
                           "\"lr\": 0.025, \"train_loss\": %.4f, \"train_acc\": %.2f, \"valid_loss\": %.4f, "
                           "\"valid_acc\": %.2f, \"grad_norm\": 1.5, \"steps_per_s\": 2.0}\n",
                           "step", e, s, e * 10 + s, 2.3 - 0.2 * e - 0.01 * s, 10.0 + 10 * e + s,
                           2.35 - 0.15 * e, 11.0 + 9 * e);
        dnas_sb_printf(&log, "{\"kind\": \"epoch\", \"epoch\": %d, \"step\": 10, \"total_steps\": %d, "
                       "\"lr\": 0.025, \"train_loss\": %.4f, \"train_acc\": %.2f, \"valid_loss\": %.4f, "
                       "\"valid_acc\": %.2f, \"grad_norm\": nan, \"steps_per_s\": 2.0}\n",
                       e, e * 10 + 10, 2.2 - 0.2 * e, 20.0 + 10 * e, 2.3 - 0.15 * e, 20.0 + 9 * e);
        dnas_sb_printf(&al, "{\"epoch\": %d, \"alphas\": [", e);
        for (int r = 0; r < DNAS_NB201_EDGES; r++) {
            double skip = 0.2 + 0.05 * e * (r + 1) / 6.0, rest = (1 - skip) / 4;
            dnas_sb_printf(&al, "%s[%.6f, %.6f, %.6f, %.6f, %.6f]", r ? ", " : "", rest, skip, rest, rest, rest);
        }
        dnas_sb_printf(&al, "], \"arch\": \"%s\"}\n", EP_ARCH[e]);
    }
    dnas_sb_printf(&log, "{\"kind\": \"pt_future_kind\", \"x\": 1}\n"); /* unknown kinds: ignored */
    path_of(p, sizeof p, dir, "log.jsonl");
    write_text(p, log.buf);
    path_of(p, sizeof p, dir, "alphas.jsonl");
    write_text(p, al.buf);
    path_of(p, sizeof p, dir, "genotype.txt");
    char g[200];
    snprintf(g, sizeof g, "%s\n", EP_ARCH[2]);
    write_text(p, g);
    dnas_sb_free(&log);
    dnas_sb_free(&al);
}

static char *report_of(const char *dir, const char *table, dnas_status *st) {
    char out[600];
    path_of(out, sizeof out, dir, "report.html");
    unlink(out);
    *st = dnas_report_write(dir, table, NULL);
    return *st == DNAS_OK ? slurp(out) : NULL;
}

static void expect_table_numbers(const char *html, const char *what) {
    for (int e = 0; e < 3; e++) {
        int ops[DNAS_NB201_EDGES];
        dnas_nb201_arch_parse(EP_ARCH[e], ops);
        int i = arch_index(ops);
        char want[128];
        snprintf(want, sizeof want, "epoch %d: CIFAR-10 test %.2f%%", e + 1, acc_of(i, 0));
        CHECK(strstr(html, want), "%s: the chart lacks '%s'", what, want);
        if (e < 2) continue;
        static const char *const names[3] = {"CIFAR-10", "CIFAR-100", "ImageNet16-120"};
        for (int d = 0; d < 3; d++) {
            snprintf(want, sizeof want, "<th>%s</th><td>valid %.2f%% &middot; <b>test %.2f%%</b>",
                     names[d], acc_of(i, d) - 1, acc_of(i, d));
            CHECK(strstr(html, want), "%s: the summary lacks '%s'", what, want);
        }
        snprintf(want, sizeof want, "index %d", i);
        CHECK(strstr(html, want), "%s: the summary lacks '%s'", what, want);
    }
}

/* The page through tests/ref/check_html.py: html5lib's strict HTML5 parser over the page and
 * an XML parser over every <svg> (exit 2: html5lib missing, which scripts/setup installs). */
static void check_html_valid(const char *html, const char *what) {
    char page[400], cmd[1200], out[2048];
    snprintf(page, sizeof page, "%s/validate.html", root);
    write_text(page, html);
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s' 2>&1", t_src_path("tests/ref/check_html.py"), page);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int status = p ? pclose(p) : -1;
    int rc = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK(rc != 127, "%s: python3 is not installed (scripts/setup)", what);
    CHECK(rc != 2, "%s: the python html5lib package is missing: run scripts/setup", what);
    CHECK(rc == 0 && strstr(out, "ok: "), "%s: the page does not validate: %s", what, out);
    unlink(page);
}

static void check_page_basics(const char *html, int svgs, const char *what) {
    check_html_valid(html, what);
    CHECK(count(html, "<svg") == svgs && count(html, "</svg>") == svgs, "%s: %d <svg> (%d closed), want %d",
          what, count(html, "<svg"), count(html, "</svg>"), svgs);
    CHECK(!strstr(html, "<script"), "%s: the page has a script", what);
    CHECK(!strstr(html, "src=") && !strstr(html, "href="), "%s: the page loads something", what);
    CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0 && strstr(html, "</html>"), "%s: not a whole page", what);
}

static void test_report_nb201(void) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/nb201-run", root);
    make_table();
    make_nb201_run(dir, "/nonexistent/nb201.csv");
    dnas_status st;
    /* No table: cell, skip chart, 6 edges, 3 curves. */
    char *html = report_of(dir, NULL, &st);
    CHECK(st == DNAS_OK && html, "report without table: %s", dnas_last_error());
    if (html) {
        check_page_basics(html, 11, "no table");
        CHECK(strstr(html, EP_ARCH[2]), "the final arch is not on the page");
        CHECK(strstr(html, "No NAS-Bench-201 table"), "the page does not say the table is missing");
        CHECK(strstr(html, "edge 5: out"), "edge labels");
        CHECK(strstr(html, ">5</span> of 6 edges"), "skip_connect count of the final arch");
        CHECK(strstr(html, "3 of 4 (incomplete)"), "epochs done of configured");
        CHECK(strstr(html, "darts1") && strstr(html, "cifar10") && strstr(html, "seed 3"), "config in the summary");
        dnas_free(html);
    }
    /* An explicit table. */
    html = report_of(dir, table_path, &st);
    CHECK(st == DNAS_OK && html, "report with --table: %s", dnas_last_error());
    if (html) {
        check_page_basics(html, 12, "--table");
        expect_table_numbers(html, "--table");
        dnas_free(html);
    }
    /* config.json's table, by default. */
    make_nb201_run(dir, table_path);
    html = report_of(dir, NULL, &st);
    CHECK(st == DNAS_OK && html, "report with the config's table: %s", dnas_last_error());
    if (html) {
        check_page_basics(html, 12, "config table");
        expect_table_numbers(html, "config table");
        dnas_free(html);
    }
    /* --out elsewhere. */
    char out[600];
    snprintf(out, sizeof out, "%s/elsewhere.html", root);
    CHECK(dnas_report_write(dir, NULL, out) == DNAS_OK && dnas_file_exists(out), "--out: %s", dnas_last_error());
    unlink(out);
    /* An explicit table that does not load is an error, and nothing is written. */
    path_of(out, sizeof out, dir, "report.html");
    unlink(out);
    st = dnas_report_write(dir, "/nonexistent/table.csv", NULL);
    CHECK(st != DNAS_OK && strstr(dnas_last_error(), "/nonexistent/table.csv") && !dnas_file_exists(out),
          "bad --table: status %d '%s'", (int)st, dnas_last_error());
}

/* Crash artefacts are survived; garbage is refused with file:line, and nothing is written. */
static void test_report_bad_input(void) {
    char dir[400], p[600], out[600], tmp[620];
    snprintf(dir, sizeof dir, "%s/bad-run", root);
    path_of(out, sizeof out, dir, "report.html");
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    dnas_status st = dnas_report_write("/nonexistent/run-dir", NULL, NULL);
    CHECK(st != DNAS_OK && strstr(dnas_last_error(), "/nonexistent/run-dir"), "missing dir: '%s'", dnas_last_error());
    make_nb201_run(dir, "");
    path_of(p, sizeof p, dir, "log.jsonl");
    char *log = slurp(p);
    /* A truncated last line: skipped, with a warning on the page. */
    FILE *f = fopen(p, "ab");
    if (f) {
        fputs("{\"kind\": \"step\", \"epoch\": 3, \"ste", f);
        fclose(f);
    }
    char *html = report_of(dir, NULL, &st);
    CHECK(st == DNAS_OK && html && strstr(html, "log.jsonl:11: truncated last line"),
          "truncated log: status %d '%s'", (int)st, dnas_last_error());
    dnas_free(html);
    /* The same bytes in the middle: refused, naming the line. */
    if (log) {
        char *nl = strchr(strchr(strchr(log, '\n') + 1, '\n') + 1, '\n');
        dnas_sbuf sb = {0};
        dnas_sb_printf(&sb, "%.*s\n{\"kind\": \"step\", \"epoch\": 3, \"ste\n%s", (int)(nl - log), log, nl + 1);
        write_text(p, sb.buf);
        dnas_sb_free(&sb);
    }
    unlink(out);
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "log.jsonl:4: column"),
          "corrupt line: status %d '%s'", (int)st, dnas_last_error());
    CHECK(!dnas_file_exists(out) && !dnas_file_exists(tmp), "a report was written for a corrupt log");
    /* A log line without a kind; one without total_steps. */
    write_text(p, "{\"kind\": \"step\", \"total_steps\": 1}\n{\"epoch\": 1}\n");
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "log.jsonl:2: not a log line"), "no kind: '%s'",
          dnas_last_error());
    write_text(p, "{\"kind\": \"epoch\", \"train_loss\": 1}\n");
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "log.jsonl:1:") &&
              strstr(dnas_last_error(), "total_steps"), "no total_steps: '%s'", dnas_last_error());
    if (log) write_text(p, log);
    /* alphas.jsonl: a row of another length; a line of another shape than the first. */
    path_of(p, sizeof p, dir, "alphas.jsonl");
    write_text(p, "{\"epoch\": 0, \"alphas\": [[0.5, 0.5], [1]], \"arch\": \"x\"}\n");
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "alphas.jsonl:1: alpha row 1"), "ragged: '%s'",
          dnas_last_error());
    write_text(p, "{\"epoch\": 0, \"alphas\": [[0.5, 0.5]], \"arch\": \"x\"}\n"
                  "{\"epoch\": 1, \"alphas\": [[0.5, 0.5], [0.5, 0.5]], \"arch\": \"x\"}\n");
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "alphas.jsonl:2: 2 alpha rows"), "shape: '%s'",
          dnas_last_error());
    write_text(p, "{\"epoch\": 0, \"alphas\": [[], []], \"arch\": \"x\"}\n");
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "alphas.jsonl:1: 2 alpha rows of 0"), "empty rows: '%s'",
          dnas_last_error());
    write_text(p, "{\"epoch\": 0, \"alphas\": [[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]]}\n");
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "alphas.jsonl:1: 1 alpha rows of 17"), "17 ops: '%s'",
          dnas_last_error());
    write_text(p, "{\"epoch\": 0, \"alphas\": [0.5, 0.5]}\n");
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "alphas.jsonl:1:"), "flat alphas: '%s'",
          dnas_last_error());
    /* A bad config.json. */
    unlink(p);
    path_of(p, sizeof p, dir, "config.json");
    write_text(p, "{\"space\": \"nb201\",\n\"epochs\": }\n");
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), "config.json:2: column 11"), "config: '%s'",
          dnas_last_error());
    unlink(p);
    CHECK(!dnas_file_exists(out) && !dnas_file_exists(tmp), "a report was written for bad input");
    /* No log.jsonl at all (and without config.json or alphas the page still needs one). */
    path_of(p, sizeof p, dir, "log.jsonl");
    unlink(p);
    st = dnas_report_write(dir, NULL, NULL);
    CHECK(st == DNAS_ERR_IO && strstr(dnas_last_error(), "log.jsonl: missing"), "no log: '%s'", dnas_last_error());
    CHECK(!dnas_file_exists(out), "a report was written without a log");
    /* A log with no line yet: a page that says so, not an error. */
    write_text(p, "");
    char *page = report_of(dir, NULL, &st);
    CHECK(st == DNAS_OK && page && strstr(page, "no data yet"), "empty log: '%s'", dnas_last_error());
    dnas_free(page);
    dnas_free(log);
}

static const char *DARTS_V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))";

static void test_report_darts(void) {
    const dnas_space *sp = dnas_space_find("darts");
    CHECK(sp != NULL, "no darts space: %s", dnas_last_error());
    if (!sp) return;
    char dir[400], p[600], cmd[900];
    snprintf(dir, sizeof dir, "%s/darts-run", root);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return;
    path_of(p, sizeof p, dir, "config.json");
    write_text(p, "{\"space\": \"darts\", \"algo\": \"darts2\", \"epochs\": 2}\n");
    path_of(p, sizeof p, dir, "log.jsonl");
    write_text(p, "{\"kind\": \"epoch\", \"epoch\": 0, \"step\": 9, \"total_steps\": 9, \"train_loss\": 2.1, "
                  "\"train_acc\": 20, \"valid_loss\": 2.2, \"valid_acc\": 19, \"steps_per_s\": 3}\n");
    /* 28 rows of 9 columns; the 9th (noise) is no candidate: always 0, so not in the legend. */
    dnas_sbuf al = {0};
    int rows = sp->groups * sp->rows, cols = sp->cols;
    for (int e = 0; e < 2; e++) {
        dnas_sb_printf(&al, "{\"epoch\": %d, \"alphas\": [", e);
        for (int r = 0; r < rows; r++) {
            dnas_sb_printf(&al, "%s[", r ? ", " : "");
            for (int k = 0; k < cols; k++)
                dnas_sb_printf(&al, "%s%.6f", k ? ", " : "", k == cols - 1 ? 0.0 : (1.0 + 0.01 * k * e) / (cols - 1));
            dnas_sb_printf(&al, "]");
        }
        dnas_sb_printf(&al, "], \"arch\": \"%s\"}\n", DARTS_V2);
    }
    path_of(p, sizeof p, dir, "alphas.jsonl");
    write_text(p, al.buf);
    dnas_sb_free(&al);
    dnas_status st;
    char *html = report_of(dir, table_path, &st); /* a table for a DARTS run: ignored */
    CHECK(st == DNAS_OK && html, "darts report: %s", dnas_last_error());
    if (!html) return;
    /* 2 cells + skip chart + 28 edge charts + loss + accuracy (no grad norm logged). */
    check_page_basics(html, 2 + 1 + rows + 2, "darts");
    CHECK(strstr(html, ">normal cell</text>") && strstr(html, ">reduce cell</text>"), "cells not drawn");
    CHECK(strstr(html, "normal <span class=\"\">2</span> of 8 &middot; reduce 3 of 8"), "skip counts");
    CHECK(count(html, "<path class=\"below\"") == 8, "%d concat arcs, want 8", count(html, "<path class=\"below\""));
    CHECK(strstr(html, ">dil_conv_3x3</text>"), "edge labels");
    /* The report's names are the space's: the legend lists the used columns in space order. */
    CHECK(sp->cols == 9 && rows == 28, "darts layout changed: %d x %d", rows, sp->cols);
    const char *legend = strstr(html, "<div class=\"legend\">"), *prev = legend;
    for (int k = 0; legend && k < sp->cols; k++) {
        char item[80];
        snprintf(item, sizeof item, "</i>%s</span>", sp->ops[k]);
        const char *at = strstr(legend, item);
        if (k == cols - 1) {
            CHECK(!at || at > strstr(legend, "</div>"), "unused column %s in the legend", sp->ops[k]);
            continue;
        }
        CHECK(at && at > prev, "legend: %s missing or out of order", sp->ops[k]);
        prev = at ? at : prev;
    }
    for (int g = 0; g < sp->groups; g++) {
        char h[64];
        snprintf(h, sizeof h, "<h3>%s cell</h3>", sp->group_names[g]);
        CHECK(strstr(html, h), "no group heading %s", h);
    }
    dnas_free(html);
    /* NB201 too: the report's op order is the space's. */
    const dnas_space *nb = dnas_space_find("nb201");
    CHECK(nb && nb->cols == DNAS_NB201_OPS && nb->rows == DNAS_NB201_EDGES && nb->groups == 1, "nb201 layout");
    for (int k = 0; nb && k < nb->cols; k++)
        CHECK(!strcmp(nb->ops[k], dnas_nb201_ops[k]), "nb201 op %d: %s vs %s", k, nb->ops[k], dnas_nb201_ops[k]);
}

/* A DARTS-PT run with alpha fixed: the selection's cell and its table accuracies are in the
 * summary, and the placeholder valid values (no arch batch ran) are neither charted nor listed. */
static void test_report_fix_alpha_pt(void) {
    char dir[400], p[600];
    snprintf(dir, sizeof dir, "%s/fixpt-run", root);
    make_table();
    make_nb201_run(dir, table_path);
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "{\"space\": \"nb201\", \"algo\": \"darts1\", \"fix_alpha\": 1, "
             "\"select\": \"pt\", \"table\": \"%s\", \"epochs\": 3, \"seed\": 3}\n", table_path);
    path_of(p, sizeof p, dir, "config.json");
    write_text(p, cfg);
    path_of(p, sizeof p, dir, "genotype-pt.txt");
    char g[200];
    snprintf(g, sizeof g, "%s\n", EP_ARCH[0]);
    write_text(p, g);
    dnas_status st;
    char *html = report_of(dir, NULL, &st);
    CHECK(st == DNAS_OK && html, "report: %s", dnas_last_error());
    if (!html) return;
    int ops[DNAS_NB201_EDGES];
    dnas_nb201_arch_parse(EP_ARCH[0], ops);
    int i = arch_index(ops);
    char want[300];
    snprintf(want, sizeof want, "<th>selected by DARTS-PT</th><td><code>%s</code><br>test: CIFAR-10 "
             "<b>%.2f%%</b> &middot; CIFAR-100 %.2f%% &middot; ImageNet16-120 %.2f%%", EP_ARCH[0],
             acc_of(i, 0), acc_of(i, 1), acc_of(i, 2));
    CHECK(strstr(html, want), "the summary lacks '%s'", want);
    check_html_valid(html, "fix-alpha pt");
    CHECK(!strstr(html, "valid (arch batches)"), "a valid curve is charted with alpha fixed");
    CHECK(!strstr(html, "&middot; valid "), "the last epoch lists valid values with alpha fixed");
    dnas_free(html);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/dnas-report-%d", (int)getpid());
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", root, root);
    if (system(cmd) != 0) {
        printf("FAIL cannot make %s\n", root);
        return 1;
    }
    RUN(test_json_good);
    RUN(test_json_bad);
    RUN(test_jsonl_reader);
    RUN(test_report_nb201);
    RUN(test_report_bad_input);
    RUN(test_report_darts);
    RUN(test_report_fix_alpha_pt);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) printf("cannot remove %s\n", root);
    TEST_EXIT();
}
