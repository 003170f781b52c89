/* NB201 arch strings: dnas_nb201_arch_parse on arbitrary text (parse -> format round trip), and
 * dnas_nb201_arch_format on arbitrary op arrays and buffer sizes.
 * Properties: a string the strict parser accepts is canonical, so formatting its ops gives the
 * same string back; formatting never writes past `cap`, fails exactly when an op is out of
 * range or the string does not fit, and what it writes parses back to the same ops. */
#include "fuzz_util.h"
#include "io/nb201_table.h"

static void parse_format(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return;
    memcpy(s, data, size);
    s[size] = 0;
    int ops[DNAS_NB201_EDGES];
    dnas_clear_error();
    if (dnas_nb201_arch_parse(s, ops) == DNAS_OK) {
        char buf[DNAS_NB201_ARCH_MAX];
        for (int e = 0; e < DNAS_NB201_EDGES; e++)
            FZ_CHECK(ops[e] >= 0 && ops[e] < DNAS_NB201_OPS, "edge %d op %d", e, ops[e]);
        FZ_CHECK(dnas_nb201_arch_format(ops, buf, sizeof buf) == DNAS_OK, "%s",
                 dnas_last_error());
        FZ_CHECK(strcmp(buf, s) == 0, "parse accepted \"%s\" but formats it as \"%s\"", s, buf);
    } else {
        fz_check_message("NB201 arch");
    }
    free(s);
}

static void format_parse(const uint8_t *data, size_t size) {
    if (size < DNAS_NB201_EDGES + 1) return;
    int ops[DNAS_NB201_EDGES], in_range = 1;
    for (int e = 0; e < DNAS_NB201_EDGES; e++) {
        ops[e] = data[e] % (DNAS_NB201_OPS + 2) - 1;  /* -1 .. 5: both edges of the range */
        in_range &= ops[e] >= 0 && ops[e] < DNAS_NB201_OPS;
    }
    size_t cap = data[DNAS_NB201_EDGES];
    /* Exactly `cap` bytes, so ASan sees any write past the end. */
    char *buf = malloc(cap ? cap : 1);
    if (!buf) return;
    dnas_status st = dnas_nb201_arch_format(ops, buf, cap);
    if (!in_range) {
        FZ_CHECK(st != DNAS_OK, "op out of range accepted");
    } else if (st == DNAS_OK) {
        size_t len = strnlen(buf, cap);
        FZ_CHECK(len < cap, "no NUL within cap %zu", cap);
        int back[DNAS_NB201_EDGES];
        FZ_CHECK(dnas_nb201_arch_parse(buf, back) == DNAS_OK, "%s", dnas_last_error());
        FZ_CHECK(memcmp(back, ops, sizeof ops) == 0, "format/parse changed the ops of %s", buf);
    } else {
        char full[DNAS_NB201_ARCH_MAX];
        FZ_CHECK(dnas_nb201_arch_format(ops, full, sizeof full) == DNAS_OK, "%s",
                 dnas_last_error());
        FZ_CHECK(strlen(full) + 1 > cap, "format failed with cap %zu for %s", cap, full);
        FZ_CHECK(cap == 0 || buf[0] == 0, "failed format left text in the buffer");
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_format(data, size);
    format_parse(data, size);
    return 0;
}
