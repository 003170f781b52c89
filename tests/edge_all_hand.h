/* The hand-made SNAS edge_all cell pair that both the unit test of its network
 * (unit/test_edge_all_net.c: 5130 weights at C 4, L 3, counted by hand there) and the training
 * e2e test (e2e/test_train.c) use: one text, so the hand count stays about the same cells.
 *
 * Normal: node 0 = sep3(s1); node 1 = skip(s0) + dil3(n0); node 2 = max(n1) + sep5(s0) +
 * skip(s1); node 3 all 'none' (zero). Reduce: node 0 = max(s0) + skip(s1) (FactorizedReduce);
 * node 1 = avg(s0) + sep3(n0); node 2 = dil5(s1) + skip(n1); node 3 = skip(n2) alone. */
#ifndef DNAS_TEST_EDGE_ALL_HAND_H
#define DNAS_TEST_EDGE_ALL_HAND_H
#define DNAS_TEST_EDGE_ALL_HAND \
    "Genotype(normal=[('sep_conv_3x3', 1), ('none', 0), ('skip_connect', 0), ('dil_conv_3x3', 2), " \
    "('none', 1), ('max_pool_3x3', 3), ('sep_conv_5x5', 0), ('skip_connect', 1), ('none', 2), " \
    "('none', 0), ('none', 1), ('none', 2), ('none', 3), ('none', 4)], normal_concat=[2, 3, 4, 5], " \
    "reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('avg_pool_3x3', 0), ('none', 1), " \
    "('sep_conv_3x3', 2), ('dil_conv_5x5', 1), ('none', 0), ('none', 2), ('skip_connect', 3), " \
    "('skip_connect', 4), ('none', 0), ('none', 1), ('none', 2), ('none', 3)], " \
    "reduce_concat=[2, 3, 4, 5])"
#endif
