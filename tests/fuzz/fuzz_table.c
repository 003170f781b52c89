/* The NB201 results table: dnas_nb201_table_load (nb201_table.c) on arbitrary CSV files.
 * First input byte, bit 0:
 *   0: the rest is the whole file (header checks, field splitting, the first rows' checks);
 *   1: the rest is lines that replace the first lines (header included) of a valid synthetic
 *      table of all 15625 cells, so that inputs can also reach the end of the file, the row
 *      count and the accepted path.
 * Properties of an accepted table: every index maps to a row with that index, each row's arch
 * string is the format of its ops, and finding a row by its arch string or ops gives it back.
 * A rejected one has a message naming the file. */
#include "fuzz_util.h"
#include "io/nb201_table.h"

#define ROWS DNAS_NB201_ARCHS

static char *synth;          /* the synthetic table */
static size_t synth_len;
static size_t line_at[ROWS + 2];  /* offset of each line; line_at[ROWS + 1] = synth_len */

static const char HEADER[] =
    "index,arch,c10valid_train_acc,c10valid_valid_acc,c10valid_test_acc,c10_test_acc,"
    "c100_train_acc,c100_valid_acc,c100_test_acc,in16_train_acc,in16_valid_acc,in16_test_acc,"
    "c100_test_acc_nats,in16_test_acc_nats,c10_flops_M,c10_params_M,c100_flops_M,c100_params_M,"
    "in16_flops_M,in16_params_M\n";

static void make_synth(void) {
    size_t cap = sizeof HEADER + (size_t)ROWS * 256;
    synth = malloc(cap);
    if (!synth) _exit(2);
    size_t o = (size_t)snprintf(synth, cap, "%s", HEADER);
    line_at[0] = 0;
    for (int i = 0; i < ROWS; i++) {
        line_at[i + 1] = o;
        /* Index i gets cell (7919 i) mod 5^6: a bijection (7919 is prime, not 5) that is not
         * the identity, so index and arch order differ as in the real table. */
        int code = (int)((7919L * i) % ROWS), ops[DNAS_NB201_EDGES];
        for (int e = 0; e < DNAS_NB201_EDGES; e++, code /= DNAS_NB201_OPS) ops[e] = code % DNAS_NB201_OPS;
        char arch[DNAS_NB201_ARCH_MAX];
        if (dnas_nb201_arch_format(ops, arch, sizeof arch) != DNAS_OK) abort();
        o += (size_t)snprintf(synth + o, cap - o, "%d,%s", i, arch);
        for (int k = 0; k < 18; k++) o += (size_t)snprintf(synth + o, cap - o, ",%d.%d", i % 97, k);
        synth[o++] = '\n';
    }
    line_at[ROWS + 1] = o;
    synth_len = o;
}

static void check_row(const dnas_nb201_table *t, int i) {
    const dnas_nb201_row *r = NULL, *r2 = NULL;
    FZ_CHECK(dnas_nb201_table_get(t, i, &r) == DNAS_OK && r, "get %d: %s", i, dnas_last_error());
    FZ_CHECK(r->index == i, "index %d holds row %d", i, r->index);
    char arch[DNAS_NB201_ARCH_MAX];
    FZ_CHECK(dnas_nb201_arch_format(r->ops, arch, sizeof arch) == DNAS_OK, "%s", dnas_last_error());
    FZ_CHECK(strcmp(arch, r->arch) == 0, "row %d: arch %s, ops give %s", i, r->arch, arch);
    FZ_CHECK(dnas_nb201_table_find(t, r->arch, &r2) == DNAS_OK && r2 == r, "find %s", r->arch);
    FZ_CHECK(dnas_nb201_table_find_ops(t, r->ops, &r2) == DNAS_OK && r2 == r, "find_ops %s", r->arch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!synth) make_synth();
    char path[512];
    fz_path(path, sizeof path, "nb201.csv");
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    size_t lines = 0;
    if ((data[0] & 1) == 0) {
        fz_write(path, p, n);
    } else {
        /* Input lines (a last one without '\n' gets one), then the synthetic table from the
         * line after the last one replaced. */
        for (size_t i = 0; i < n; i++) lines += p[i] == '\n';
        if (n && p[n - 1] != '\n') lines++;
        if (lines > ROWS + 1) lines = ROWS + 1;
        size_t rest = line_at[lines];
        size_t total = n + 1 + synth_len - rest;
        char *buf = malloc(total);
        if (!buf) return 0;
        memcpy(buf, p, n);
        size_t o = n;
        if (n && p[n - 1] != '\n') buf[o++] = '\n';
        memcpy(buf + o, synth + rest, synth_len - rest);
        o += synth_len - rest;
        fz_write(path, buf, o);
        free(buf);
    }

    dnas_nb201_table *t = NULL;
    dnas_clear_error();
    if (dnas_nb201_table_load(path, &t) == DNAS_OK) {
        FZ_CHECK(t != NULL, "no table");
        for (int i = 0; i < ROWS; i++) check_row(t, i);
        dnas_nb201_table_destroy(t);
    } else {
        FZ_CHECK(t == NULL, "failed load returned a table");
        fz_check_message(path);
    }
    return 0;
}
