/* NB201 arch strings and the results table (shared/data/nb201/nb201.csv). */
#include "test.h"
#include <unistd.h>
#include "io/nb201_table.h"

static const char *ALL_SKIP =
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";
static const char *BEST =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
static const char *RESNET =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";

static dnas_nb201_table *table;

static void load_table(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/nb201/nb201.csv", t_shared_data());
    dnas_status st = dnas_nb201_table_load(path, &table);
    CHECK(st == DNAS_OK && table, "loading %s: %s", path, dnas_last_error());
}

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

static void test_all_skip(void) {
    if (!table) { CHECK(0, "table not loaded"); return; }
    const dnas_nb201_row *r = NULL;
    CHECK(dnas_nb201_table_find(table, ALL_SKIP, &r) == DNAS_OK, "%s", dnas_last_error());
    if (!r) return;
    /* README "Sanity checks" and ALGORITHMS.md C1 (DARTS-V1/V2 rows): 39.77 / 54.30 ... */
    CHECK(r->index == 1835, "index %d", r->index);
    CHECK(NEAR(r->c10_test, 54.30, 0.005), "c10 test %f", r->c10_test);
    CHECK(NEAR(r->c10_valid, 39.77, 0.005), "c10 valid %f", r->c10_valid);
    CHECK(NEAR(r->c100_valid, 15.03, 0.005) && NEAR(r->c100_test, 15.61, 0.005),
          "c100 %f %f", r->c100_valid, r->c100_test);
    CHECK(NEAR(r->in16_valid, 16.43, 0.005) && NEAR(r->in16_test, 16.32, 0.005),
          "in16 %f %f", r->in16_valid, r->in16_test);
    CHECK(strcmp(r->arch, ALL_SKIP) == 0, "arch %s", r->arch);
    for (int e = 0; e < DNAS_NB201_EDGES; e++) CHECK(r->ops[e] == 1, "ops[%d]=%d", e, r->ops[e]);
}

static void test_best(void) {
    if (!table) { CHECK(0, "table not loaded"); return; }
    const dnas_nb201_row *r = NULL;
    CHECK(dnas_nb201_table_find(table, BEST, &r) == DNAS_OK, "%s", dnas_last_error());
    if (!r) return;
    CHECK(r->index == 6111, "index %d", r->index);
    CHECK(NEAR(r->c10_test, 94.3733, 0.0001), "c10 test %f", r->c10_test);   /* optimum 94.37 */
    CHECK(NEAR(r->c10_valid, 91.6067, 0.0001), "c10 valid %f", r->c10_valid); /* optimum 91.61 */
    CHECK(r->c10_flops_m > 0 && r->c10_params_m > 0, "flops %f params %f", r->c10_flops_m,
          r->c10_params_m);
    /* It is the maximum of both CIFAR-10 columns over the whole table. */
    double best_test = 0, best_valid = 0;
    int arg_test = -1;
    for (int i = 0; i < DNAS_NB201_ARCHS; i++) {
        const dnas_nb201_row *q;
        if (dnas_nb201_table_get(table, i, &q) != DNAS_OK) { CHECK(0, "get %d", i); return; }
        CHECK(q->index == i, "row %d has index %d", i, q->index);
        if (q->c10_test > best_test) { best_test = q->c10_test; arg_test = i; }
        if (q->c10_valid > best_valid) best_valid = q->c10_valid;
    }
    CHECK(arg_test == 6111 && NEAR(best_test, 94.3733, 1e-4), "best c10 test %f at %d",
          best_test, arg_test);
    CHECK(NEAR(best_valid, 91.6067, 1e-4), "best c10 valid %f", best_valid);

    /* ResNet cell, README: 90.86 / 93.91, 78.56193 MFLOPs, 0.559386 M params. */
    CHECK(dnas_nb201_table_find(table, RESNET, &r) == DNAS_OK, "%s", dnas_last_error());
    CHECK(r->index == 11472 && NEAR(r->c10_valid, 90.86, 0.005) && NEAR(r->c10_test, 93.91, 0.005),
          "resnet %d %f %f", r->index, r->c10_valid, r->c10_test);
    CHECK(NEAR(r->c10_flops_m, 78.56193, 1e-5) && NEAR(r->c10_params_m, 0.559386, 1e-6),
          "resnet flops %f params %f", r->c10_flops_m, r->c10_params_m);
    /* all-none is chance level */
    int none[DNAS_NB201_EDGES] = {0};
    CHECK(dnas_nb201_table_find_ops(table, none, &r) == DNAS_OK && r->index == 1651 &&
              NEAR(r->c10_test, 10.0, 0.005),
          "all-none %d %f", r->index, r->c10_test);
}

static void expect_bad(const char *s, const char *needle) {
    int ops[DNAS_NB201_EDGES];
    dnas_clear_error();
    dnas_status st = dnas_nb201_arch_parse(s, ops);
    const char *m = dnas_last_error();
    CHECK(st == DNAS_ERR_INVALID_ARG, "accepted \"%s\"", s ? s : "(null)");
    CHECK(strstr(m, needle) != NULL, "message for \"%s\" lacks \"%s\": %s", s ? s : "(null)",
          needle, m);
    CHECK(strchr(m, '\n') == NULL, "message has a newline: %s", m);
    if (s && strlen(s) < 60 && !strchr(s, '\n') && !strchr(s, '"'))
        CHECK(strstr(m, s) != NULL, "message does not quote the string: %s", m);
}

static void test_malformed(void) {
    expect_bad("", "ends");
    expect_bad(NULL, "NULL");
    expect_bad("|skip_connect~0|", "ends after node 1");
    expect_bad("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op \"conv_3x3\"");
    expect_bad("|Skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op");
    expect_bad("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "~0 is expected");
    expect_bad("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "ascending");
    expect_bad("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has 1 input, needs 2");
    expect_bad("|none~0|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected '+'");
    expect_bad("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "after node 3");
    expect_bad("|none~0|+|none~0|none~1|+|none~0|none~1|none~2", "expected '|'");
    expect_bad("|none~0|+|none~0|none~1|+|none~0|none~1|none~2| ", "after node 3");
    expect_bad(" |none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "expected '|'");
    expect_bad("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op \"none0\"");
    expect_bad("|none~|+|none~0|none~1|+|none~0|none~1|none~2|", "input number");
    expect_bad("|none~00|+|none~0|none~1|+|none~0|none~1|none~2|", "expected '|'");
    expect_bad("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "expected '|' to start node 1");
    expect_bad("||+|none~0|none~1|+|none~0|none~1|none~2|", "empty op name");
    expect_bad("|none~0|\n+|none~0|none~1|+|none~0|none~1|none~2|", "\\x0a");
    /* A long garbage string is quoted, bounded, on one line. */
    char longs[600];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    expect_bad(longs, "...");
    CHECK(strlen(dnas_last_error()) < 400, "message too long: %zu", strlen(dnas_last_error()));

    if (table) {
        const dnas_nb201_row *r = NULL;
        CHECK(dnas_nb201_table_find(table, "|none~0|", &r) == DNAS_ERR_INVALID_ARG && !r,
              "table lookup accepted a malformed string");
    }
    int bad[DNAS_NB201_EDGES] = {0, 1, 2, 3, 4, 5};
    char buf[DNAS_NB201_ARCH_MAX];
    CHECK(dnas_nb201_arch_format(bad, buf, sizeof buf) == DNAS_ERR_INVALID_ARG,
          "formatted op index 5");
    int ok[DNAS_NB201_EDGES] = {3, 3, 3, 3, 3, 3};
    CHECK(dnas_nb201_arch_format(ok, buf, 20) == DNAS_ERR_INVALID_ARG && buf[0] == 0,
          "formatted into a short buffer");
}

static void test_round_trip(void) {
    /* Edge order and op order: ops[] {1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2}. */
    int ops[DNAS_NB201_EDGES];
    CHECK(dnas_nb201_arch_parse(BEST, ops) == DNAS_OK, "%s", dnas_last_error());
    int want[DNAS_NB201_EDGES] = {3, 3, 3, 1, 3, 2};
    CHECK(memcmp(ops, want, sizeof ops) == 0, "best parsed as %d %d %d %d %d %d", ops[0],
          ops[1], ops[2], ops[3], ops[4], ops[5]);
    CHECK(!strcmp(dnas_nb201_op_name(0), "none") && !strcmp(dnas_nb201_op_name(4), "avg_pool_3x3") &&
              dnas_nb201_op_name(5) == NULL && dnas_nb201_op_name(-1) == NULL,
          "op names");

    int seen_index[DNAS_NB201_ARCHS] = {0}, fails = 0;
    size_t maxlen = 0;
    for (int code = 0; code < DNAS_NB201_ARCHS; code++) {
        int a[DNAS_NB201_EDGES], b[DNAS_NB201_EDGES];
        for (int e = 0, c = code; e < DNAS_NB201_EDGES; e++, c /= 5) a[e] = c % 5;
        char s[DNAS_NB201_ARCH_MAX];
        if (dnas_nb201_arch_format(a, s, sizeof s) != DNAS_OK ||
            dnas_nb201_arch_parse(s, b) != DNAS_OK || memcmp(a, b, sizeof a) != 0) {
            if (fails++ < 5) CHECK(0, "round trip failed for code %d: %s", code, s);
            continue;
        }
        if (strlen(s) > maxlen) maxlen = strlen(s);
        if (table) {
            const dnas_nb201_row *r = NULL;
            if (dnas_nb201_table_find(table, s, &r) != DNAS_OK || strcmp(r->arch, s) != 0 ||
                memcmp(r->ops, a, sizeof a) != 0) {
                if (fails++ < 5) CHECK(0, "table lookup failed for %s: %s", s, dnas_last_error());
                continue;
            }
            seen_index[r->index]++;
        }
    }
    CHECK(fails == 0, "%d failures", fails);
    CHECK(maxlen < DNAS_NB201_ARCH_MAX, "longest arch string %zu", maxlen);
    if (table)
        for (int i = 0; i < DNAS_NB201_ARCHS; i++)
            if (seen_index[i] != 1) {
                CHECK(0, "index %d found %d times", i, seen_index[i]);
                break;
            }
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_bad_tables(void) {
    dnas_nb201_table *t = NULL;
    CHECK(dnas_nb201_table_load("/nonexistent/nb201.csv", &t) == DNAS_ERR_IO && !t,
          "missing file accepted");
    CHECK(strstr(dnas_last_error(), "/nonexistent/nb201.csv") != NULL, "%s", dnas_last_error());

    char path[64];
    snprintf(path, sizeof path, "/tmp/dnas_nb201_%d.csv", (int)getpid());
    write_file(path, "index,arch\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n");
    CHECK(dnas_nb201_table_load(path, &t) == DNAS_ERR_FORMAT && !t, "table without columns");
    CHECK(strstr(dnas_last_error(), path) && strstr(dnas_last_error(), "c10valid_train_acc"),
          "%s", dnas_last_error());

    /* Real header, one row with a malformed arch: error names file:line and the string. */
    char hdr[1024] = {0};
    {
        char real[1024];
        snprintf(real, sizeof real, "%s/nb201/nb201.csv", t_shared_data());
        FILE *f = fopen(real, "r");
        if (!f || !fgets(hdr, sizeof hdr, f)) CHECK(0, "cannot read %s", real);
        if (f) fclose(f);
    }
    char text[2048];
    snprintf(text, sizeof text,
             "%s0,|none~0|+|none~0|bogus~1|+|none~0|none~1|none~2|,1,2,3,4,5,6,7,8,9,10,11,12,"
             "13,14,15,16,17,18\n",
             hdr);
    write_file(path, text);
    CHECK(dnas_nb201_table_load(path, &t) == DNAS_ERR_FORMAT && !t, "bad arch accepted");
    CHECK(strstr(dnas_last_error(), ":2:") && strstr(dnas_last_error(), "bogus"), "%s",
          dnas_last_error());
    snprintf(text, sizeof text,
             "%s0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,2,3,4,5,6,7,8,9,10,11,12,"
             "13,14,15,16,17,18\n",
             hdr);
    write_file(path, text);
    CHECK(dnas_nb201_table_load(path, &t) == DNAS_ERR_FORMAT && !t, "1-row table accepted");
    CHECK(strstr(dnas_last_error(), "1 rows, expected 15625"), "%s", dnas_last_error());
    snprintf(text, sizeof text,
             "%s0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,2,3,4,5,6,7,8,9,10,11,x12,"
             "13,14,15,16,17,18\n",
             hdr);
    write_file(path, text);
    CHECK(dnas_nb201_table_load(path, &t) == DNAS_ERR_FORMAT && !t, "bad number accepted");
    CHECK(strstr(dnas_last_error(), "x12"), "%s", dnas_last_error());
    remove(path);
}

int main(void) {
    RUN(load_table);
    RUN(test_all_skip);
    RUN(test_best);
    RUN(test_malformed);
    RUN(test_round_trip);
    RUN(test_bad_tables);
    dnas_nb201_table_destroy(table);
    TEST_EXIT();
}
