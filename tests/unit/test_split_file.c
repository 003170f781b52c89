/* NB201's split file (src/data/split_file.c): the format of AutoDL-Projects'
 * cifar-split.txt ({"train": ["int", ["0", "5", ...]], "valid": [...]}) read into a split,
 * and every malformed variant refused with a message naming the file and the entry. The
 * data set here is only its image count: the split never reads pixels. */
#include "test.h"
#include "dnas.h"
#include "data/data.h"
#include <unistd.h>

static char path[64];

static void write_text(const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static dnas_status load(const char *text, int n, dnas_split *sp) {
    write_text(text);
    dnas_cifar d = {0};
    d.n = n;
    d.classes = 10;
    return dnas_split_load(&d, path, sp);
}

static void test_reads_the_autodl_format(void) {
    dnas_split sp;
    /* unsorted valid list, whitespace as the original's, an unquoted entry too */
    dnas_status st = load("{\n  \"train\"   : [\"int\"   , [\"0\", \"5\", \"7\"]],\n"
                          "  \"valid\" : [\"int\", [\"9\", \"1\", 3]]\n}\n", 10, &sp);
    CHECK(st == DNAS_OK, "%s", dnas_last_error());
    if (st != DNAS_OK) return;
    CHECK(sp.n_train == 3 && sp.train[0] == 0 && sp.train[1] == 5 && sp.train[2] == 7,
          "train %d: %d %d %d", sp.n_train, sp.train[0], sp.train[1], sp.train[2]);
    CHECK(sp.n_valid == 3 && sp.valid[0] == 1 && sp.valid[1] == 3 && sp.valid[2] == 9,
          "valid sorted: %d %d %d", sp.valid[0], sp.valid[1], sp.valid[2]);
    dnas_split_free(&sp);
    /* "valid" before "train" is the same split */
    st = load("{\"valid\": [\"int\", [\"2\"]], \"train\": [\"int\", [\"4\", \"1\"]]}", 5, &sp);
    CHECK(st == DNAS_OK && sp.n_train == 2 && sp.train[0] == 1 && sp.n_valid == 1 &&
              sp.valid[0] == 2, "member order: %s", dnas_last_error());
    dnas_split_free(&sp);
}

static void refused(const char *text, int n, const char *want, const char *what) {
    dnas_split sp;
    dnas_status st = load(text, n, &sp);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), path) && strstr(dnas_last_error(), want),
          "%s: status %d, message '%s' (want '%s')", what, (int)st, dnas_last_error(), want);
    CHECK(sp.train == NULL && sp.valid == NULL, "%s: a refused split holds lists", what);
}

static void test_refusals(void) {
    refused("{\"train\": [\"int\", [\"0\"]]}", 10, "no \"valid\"", "no valid list");
    refused("{\"train\": [\"int\", [\"0\", \"10\"]], \"valid\": [\"int\", [\"1\"]]}", 10,
            "image 10", "index past the data set");
    refused("{\"train\": [\"int\", [\"0\", \"3\", \"3\"]], \"valid\": [\"int\", [\"1\"]]}", 10,
            "twice", "duplicate in train");
    refused("{\"train\": [\"int\", [\"0\", \"3\"]], \"valid\": [\"int\", [\"3\"]]}", 10,
            "both", "image in both lists");
    refused("{\"train\": [\"int\", [\"0\", \"-1\"]], \"valid\": [\"int\", [\"1\"]]}", 10,
            "entry 1", "negative index");
    refused("{\"train\": [\"int\", [\"0\", \"x\"]], \"valid\": [\"int\", [\"1\"]]}", 10,
            "entry 1", "not a number");
    refused("{\"train\": [\"int\", []], \"valid\": [\"int\", [\"1\"]]}", 10, "no image",
            "empty list");
    refused("{\"train\": [\"float\", [\"0\"]], \"valid\": [\"int\", [\"1\"]]}", 10,
            "[\"int\", [...]]", "wrong type tag");
    refused("{\"train\": [\"int\", [\"0\" \"2\"]], \"valid\": [\"int\", [\"1\"]]}", 10,
            "expected ','", "missing comma");
    refused("{\"train\": [\"int\", [\"0\", \"2\"", 10, "expected ','", "truncated file");
    refused("{\"train\": [\"int\", [\"99999999999\"]], \"valid\": [\"int\", [\"1\"]]}", 10,
            "entry 0", "overlong number");
    /* a missing file: an I/O error naming it */
    dnas_cifar d = {0};
    d.n = 10;
    dnas_split sp;
    CHECK(dnas_split_load(&d, "/nonexistent/cifar-split.txt", &sp) != DNAS_OK &&
              strstr(dnas_last_error(), "/nonexistent/cifar-split.txt"),
          "missing file: %s", dnas_last_error());
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/dnas-split-%d.txt", (int)getpid());
    RUN(test_reads_the_autodl_format);
    RUN(test_refusals);
    unlink(path);
    TEST_EXIT();
}
