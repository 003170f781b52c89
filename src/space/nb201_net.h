/* The NAS-Bench-201 benchmark network of one arch string (AutoDL TinyNetwork + InferCell,
 * ALGORITHMS.md §A1/§A2): what the benchmark trained for its table, and what `dnas train`
 * trains from scratch for the NB201 space. */
#ifndef DNAS_SPACE_NB201_NET_H
#define DNAS_SPACE_NB201_NET_H
#include "space.h"

/* Builds the network of `arch` (`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`) into an empty graph:
 * the supernet's macro (stem conv+BN, 3 stages of N cells, ResNet basic blocks between,
 * lastact BN+ReLU, GAP, linear, cross-entropy) with one op per edge, every BN affine with
 * running statistics, bias-free convs, 'none' edges left out of their node's sum. c->channels
 * 0 = 16, c->cells 0 = 5 (cells per stage); auxiliary and drop_path are refused (NB201 has
 * neither). Parameter names follow nb201.c (`cells.3.edges.2<-1.nor_conv_3x3.conv.weight`). */
dnas_status dnas_nb201_build_net(dnas_graph *g, const dnas_net_config *c, const char *arch);

#endif
