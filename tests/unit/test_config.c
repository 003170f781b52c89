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

/* The quick preset scales every method's schedule by the same factor, so the methods keep the
 * papers' step ratio (GAEA: half of DARTS's epochs over a cosine twice as long). */
static void test_quick_preset_scales_schedules(void) {
    dnas_search_config d, g;
    dnas_search_config_default(&d, "darts1");
    dnas_search_config_default(&g, "gaea");
    CHECK(dnas_search_config_preset(&d, "quick") == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_search_config_preset(&g, "quick") == DNAS_OK, "%s", dnas_last_error());
    CHECK(d.epochs == 140 && d.lr_epochs == 0, "darts1: epochs %d lr_epochs %d", d.epochs, d.lr_epochs);
    CHECK(g.epochs == 70 && g.lr_epochs == 140, "gaea: epochs %d lr_epochs %d", g.epochs, g.lr_epochs);
    CHECK(d.channels == 8 && d.cells == 1 && d.train_images == 5000 && d.pt_interval == 2,
          "darts1: C %d N %d images %d pt_interval %d", d.channels, d.cells, d.train_images, d.pt_interval);
    CHECK(dnas_search_config_preset(&d, "slow") != DNAS_OK, "unknown preset accepted");
    /* Schedules inside the search stretch with it: SNAS' temperature still reaches its end at
     * the last epoch, PC-DARTS' warm-up stays 15/50 of the run, DARTS-ES' earliest epoch 10/50. */
    dnas_search_config sn, pc, rd;
    dnas_search_config_default(&sn, "snas");
    dnas_search_config_default(&pc, "pcdarts");
    dnas_search_config_default(&rd, "rdarts");
    CHECK(dnas_search_config_preset(&sn, "quick") == DNAS_OK && dnas_search_config_preset(&pc, "quick") == DNAS_OK &&
          dnas_search_config_preset(&rd, "quick") == DNAS_OK, "%s", dnas_last_error());
    CHECK(sn.tau_epochs == sn.epochs && sn.epochs == 420, "snas: tau_epochs %d epochs %d", sn.tau_epochs, sn.epochs);
    CHECK(pc.warmup_epochs == 42 && pc.epochs == 140, "pcdarts: warm-up %d of %d", pc.warmup_epochs, pc.epochs);
    CHECK(rd.es_start == 28 && rd.ev_every == 5 && rd.es_window == 5, "rdarts: es_start %d ev_every %d window %d",
          rd.es_start, rd.ev_every, rd.es_window);
}

int main(void) {
    RUN(test_quick_preset_scales_schedules);
    RUN(test_subnormal_round_trip);
    RUN(test_negative_seed_refused);
    TEST_EXIT();
}
