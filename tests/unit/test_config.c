/* The configuration's text forms: values that parse must survive write -> parse unchanged
 * (fuzz finding: a subnormal written by %.17g was refused on resume), and a negative seed is
 * refused however it is spelled. */
#include "test.h"
#include "search/search.h"

static void test_subnormal_round_trip(void) {
    dnas_search_config a, b;
    dnas_search_config_default(&a, "darts1");
    CHECK(dnas_search_config_set(&a, "lr", "0x1p-1074") == DNAS_OK, "hex subnormal refused: %s", dnas_last_error());
    CHECK(dnas_search_config_set(&a, "arch_lr", "1e-310") == DNAS_OK, "decimal subnormal refused: %s", dnas_last_error());
    dnas_sbuf sb = {0};
    dnas_search_config_write(&a, &sb, 0);
    dnas_search_config_default(&b, "darts1");
    CHECK(dnas_search_config_parse(sb.buf, &b) == DNAS_OK, "written config does not parse: %s", dnas_last_error());
    CHECK(b.lr == a.lr && b.arch_lr == a.arch_lr, "values changed: %g %g", b.lr, b.arch_lr);
    dnas_sb_free(&sb);
    CHECK(dnas_search_config_set(&a, "lr", "1e400") != DNAS_OK, "overflow accepted");
}

static void test_negative_seed_refused(void) {
    dnas_search_config c;
    dnas_search_config_default(&c, "darts1");
    CHECK(dnas_search_config_set(&c, "seed", " -5") != DNAS_OK, "' -5' accepted as %llu", (unsigned long long)c.seed);
    CHECK(dnas_search_config_set(&c, "seed", "-5") != DNAS_OK, "'-5' accepted");
    CHECK(dnas_search_config_set(&c, "seed", "5") == DNAS_OK && c.seed == 5, "5 refused");
}

int main(void) {
    RUN(test_subnormal_round_trip);
    RUN(test_negative_seed_refused);
    TEST_EXIT();
}
