/* SNAS's edge_all derivation (ALGORITHMS.md §B5, genotype_edge_all) against hand examples:
 *  - DARTS: every edge kept with its argmax INCLUDING 'none', node by node, edges ordered by
 *    their strongest weight (ties: lower input first), in the 14-pair Genotype text;
 *    without 'none' among the candidates (s5) an edge takes its best real op;
 *  - the text parses back (format(parse(t)) == t), the space's one-hot form holds each edge's
 *    op ('none' too), and derive(one-hot) is a fixed point; SNAS's published
 *    SNAS_mild_edge_all (genotypes.py) parses with its 12 'none' edges;
 *  - malformed edge_all texts are refused with the reason; NB201's edge_all is its argmax. */
#include "test.h"
#include "search/search.h"
#include "space/darts.h"

enum { R = DNAS_DARTS_EDGES, C = DNAS_DARTS_OPS };

static const char *const hand_want =
    "Genotype(normal=[('none', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('max_pool_3x3', 1), "
    "('none', 2), ('dil_conv_3x3', 1), ('none', 3), ('none', 0), ('none', 2), ('sep_conv_5x5', 4), "
    "('none', 0), ('none', 1), ('none', 2), ('none', 3)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('none', 0), ('none', 1), ('none', 0), ('none', 1), ('none', 2), ('none', 0), "
    "('none', 1), ('none', 2), ('none', 3), ('none', 0), ('none', 1), ('none', 2), ('none', 3), "
    "('none', 4)], reduce_concat=[2, 3, 4, 5])";

/* Normal cell: node 0: e0 sep3 0.6, e1 none 0.7 -> e1 first; node 1: e2 skip 0.5 and e3 max
 * 0.5 tie (lower input first), e4 all 0 -> none; node 2: e6 dil3 0.9, e8 none 0.8 beats its
 * avg 0.3, e5 and e7 zero; node 3: e13 sep5 0.4, the rest zero. Reduce cell: all zero, so
 * every edge is ('none', j) in input order. */
static void hand_weights(float *w) {
    memset(w, 0, 2 * R * C * sizeof(float));
    w[0 * C + DNAS_DARTS_SEP_CONV_3X3] = 0.6f;
    w[1 * C + DNAS_DARTS_NONE] = 0.7f;
    w[2 * C + DNAS_DARTS_SKIP] = 0.5f;
    w[3 * C + DNAS_DARTS_MAX_POOL_3X3] = 0.5f;
    w[6 * C + DNAS_DARTS_DIL_CONV_3X3] = 0.9f;
    w[8 * C + DNAS_DARTS_AVG_POOL_3X3] = 0.3f;
    w[8 * C + DNAS_DARTS_NONE] = 0.8f;
    w[13 * C + DNAS_DARTS_SEP_CONV_5X5] = 0.4f;
}

static void test_darts_hand_example(void) {
    const dnas_space *sp = &dnas_space_darts;
    uint8_t cand[2 * R * C];
    CHECK(sp->candidates("", cand) == DNAS_OK, "%s", dnas_last_error());
    float w[2 * R * C];
    hand_weights(w);
    char out[DNAS_GENOTYPE_MAX];
    CHECK(dnas_space_derive_edge_all(sp, w, cand, out, sizeof out) == DNAS_OK, "%s", dnas_last_error());
    CHECK(strcmp(out, hand_want) == 0, "derived\n    %s\n  want\n    %s", out, hand_want);
    /* s5 (no 'none'): node 0's e1 has only zeros among its candidates -> max_pool (the first),
     * scored 0, so it follows e0. */
    CHECK(sp->candidates("s5", cand) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_space_derive_edge_all(sp, w, cand, out, sizeof out) == DNAS_OK, "%s", dnas_last_error());
    const char *s5 = "Genotype(normal=[('sep_conv_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 0), "
                     "('max_pool_3x3', 1), ('max_pool_3x3', 2), ('dil_conv_3x3', 1), ('avg_pool_3x3', 3)";
    CHECK(strncmp(out, s5, strlen(s5)) == 0, "s5 derived %s", out);
}

static void test_round_trip(void) {
    const dnas_space *sp = &dnas_space_darts;
    dnas_darts_edge_all g;
    char out[DNAS_GENOTYPE_MAX], again[DNAS_GENOTYPE_MAX];
    CHECK(dnas_darts_edge_all_parse(hand_want, &g) == DNAS_OK, "%s", dnas_last_error());
    CHECK(g.edge_all[0] && g.edge_all[1], "not read as edge_all");
    CHECK(dnas_darts_edge_all_format(&g, out, sizeof out) == DNAS_OK && strcmp(out, hand_want) == 0,
          "format(parse(t)) = %s", out);
    CHECK(dnas_darts_is_edge_all(hand_want) && !dnas_darts_is_edge_all("DARTS_V2"), "is_edge_all");

    /* One-hot: each edge's op, 'none' included. */
    float oh[2 * R * C], oh2[2 * R * C];
    uint8_t cand[2 * R * C];
    CHECK(sp->candidates("", cand) == DNAS_OK, "%s", dnas_last_error());
    CHECK(sp->parse(hand_want, oh) == DNAS_OK, "space parse: %s", dnas_last_error());
    CHECK(oh[1 * C + DNAS_DARTS_NONE] == 1 && oh[0 * C + DNAS_DARTS_SEP_CONV_3X3] == 1 &&
          oh[8 * C + DNAS_DARTS_NONE] == 1 && oh[13 * C + DNAS_DARTS_SEP_CONV_5X5] == 1 &&
          oh[(R + 7) * C + DNAS_DARTS_NONE] == 1, "one-hot rows wrong");
    int ones = 0;
    for (int i = 0; i < 2 * R * C; i++) ones += oh[i] == 1.0f;
    CHECK(ones == 2 * R, "%d ones in the one-hot form, want one per edge (28)", ones);
    CHECK(dnas_space_count_op(sp, oh, "none") == 9 + 14, "none count %d", dnas_space_count_op(sp, oh, "none"));
    /* derive(one-hot): all maxima 1, so edges come in input order; a fixed point after that. */
    CHECK(dnas_space_derive_edge_all(sp, oh, cand, out, sizeof out) == DNAS_OK, "%s", dnas_last_error());
    const char *first = "Genotype(normal=[('sep_conv_3x3', 0), ('none', 1), ('skip_connect', 0)";
    CHECK(strncmp(out, first, strlen(first)) == 0,
          "derive(one-hot) = %s", out);
    CHECK(sp->parse(out, oh2) == DNAS_OK && memcmp(oh, oh2, sizeof oh) == 0, "one-hot changed");
    CHECK(dnas_space_derive_edge_all(sp, oh2, cand, again, sizeof again) == DNAS_OK &&
          strcmp(out, again) == 0, "not a fixed point: %s", again);

    /* SNAS's published cell (SNAS genotypes.py), as written there. */
    const char *mild =
        "Genotype(\n  normal=[\n    ('sep_conv_3x3', 0),\n    ('sep_conv_3x3', 1),\n"
        "    ('skip_connect', 0),\n    ('dil_conv_3x3', 1),\n    ('none', 2),\n"
        "    ('skip_connect', 0),\n    ('skip_connect', 1),\n    ('none', 3),\n    ('none', 2),\n"
        "    ('skip_connect', 0),\n    ('sep_conv_3x3', 1),\n    ('none', 4),\n    ('none', 3),\n"
        "    ('none', 2)],\n  normal_concat=range(2, 6),\n  reduce=[\n    ('max_pool_3x3', 0),\n"
        "    ('max_pool_3x3', 1),\n    ('none', 0),\n    ('max_pool_3x3', 1),\n"
        "    ('skip_connect', 2),\n    ('none', 0),\n    ('max_pool_3x3', 1),\n"
        "    ('skip_connect', 2),\n    ('none', 3),\n    ('max_pool_3x3', 0),\n"
        "    ('dil_conv_5x5', 2),\n    ('none', 1),\n    ('none', 3),\n    ('none', 4)],\n"
        "  reduce_concat=range(2, 6))";
    CHECK(sp->parse(mild, oh) == DNAS_OK, "SNAS_mild_edge_all: %s", dnas_last_error());
    CHECK(dnas_space_count_op(sp, oh, "none") == 12, "SNAS_mild_edge_all: %d 'none' edges, want 12",
          dnas_space_count_op(sp, oh, "none"));
    CHECK(oh[(R + dnas_darts_edge(3, 2)) * C + DNAS_DARTS_DIL_CONV_5X5] == 1, "reduce e11 op");
}

static void test_bad_texts(void) {
    dnas_darts_edge_all g;
    dnas_darts_genotype d;
    /* Node 1 lists input 0 twice (and omits 2). */
    char bad[DNAS_GENOTYPE_MAX];
    snprintf(bad, sizeof bad, "%s", hand_want);
    char *p = strstr(bad, "('none', 2), ('dil_conv_3x3', 1)");
    CHECK(p != NULL, "test text");
    if (p) memcpy(p, "('none', 0)", 11);
    CHECK(dnas_darts_edge_all_parse(bad, &g) != DNAS_OK && strstr(dnas_last_error(), "twice"),
          "duplicate input: %s", dnas_last_error());
    /* Standard normal, edge_all reduce. */
    char mixed[DNAS_GENOTYPE_MAX];
    snprintf(mixed, sizeof mixed, "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
             "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), "
             "('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], %s",
             strstr(hand_want, "reduce="));
    CHECK(dnas_darts_edge_all_parse(mixed, &g) != DNAS_OK && strstr(dnas_last_error(), "one form"),
          "mixed forms: %s", dnas_last_error());
    /* The standard parser (training networks) refuses 14 pairs and says why. */
    CHECK(dnas_darts_genotype_parse(hand_want, &d) != DNAS_OK && strstr(dnas_last_error(), "edge_all"),
          "standard parse of edge_all: %s", dnas_last_error());
    CHECK(dnas_darts_edge_all_parse("DARTS_V2", &g) != DNAS_OK, "a standard cell read as edge_all");
    /* Input out of range for its node in the edge_all layout (node 0 takes 0..1). */
    snprintf(bad, sizeof bad, "%s", hand_want);
    p = strstr(bad, "('none', 1)");
    if (p) p[9] = '2';
    CHECK(dnas_darts_edge_all_parse(bad, &g) != DNAS_OK && strstr(dnas_last_error(), "out of range for node 0"),
          "range: %s", dnas_last_error());
}

static void test_nb201_and_settings(void) {
    const dnas_space *sp = &dnas_space_nb201;
    uint8_t cand[30];
    float w[30];
    CHECK(sp->candidates("", cand) == DNAS_OK, "%s", dnas_last_error());
    for (int i = 0; i < 30; i++) w[i] = (float)((i * 7) % 5) * 0.1f;
    char a[DNAS_GENOTYPE_MAX], b[DNAS_GENOTYPE_MAX];
    CHECK(dnas_space_derive_edge_all(sp, w, cand, a, sizeof a) == DNAS_OK &&
          sp->derive(w, cand, b, sizeof b) == DNAS_OK && strcmp(a, b) == 0, "nb201: %s vs %s", a, b);
    dnas_search_config c;
    dnas_search_config_default(&c, "snas");
    CHECK(dnas_search_config_set(&c, "derive", "edge_all") == DNAS_OK &&
          dnas_search_config_check(&c) == DNAS_OK, "--derive edge_all: %s", dnas_last_error());
    c.derive_threshold = 0.85;
    CHECK(dnas_search_config_check(&c) != DNAS_OK, "edge_all with a threshold accepted");
    dnas_search_config_set(&c, "derive", "top3");
    c.derive_threshold = 0;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "edge_all"),
          "unknown --derive accepted");
}

int main(void) {
    RUN(test_darts_hand_example);
    RUN(test_round_trip);
    RUN(test_bad_texts);
    RUN(test_nb201_and_settings);
    TEST_EXIT();
}
