/* NAS-Bench-201 arch strings and the 200-epoch results table (shared/data/nb201/nb201.csv).
 *
 * Arch string (xautodl Structure.tostr):  |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
 * Op-index array: 6 entries in edge order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 (= the order of
 * the ops in the string, = the alpha row order); values in benchmark op order:
 * none=0, skip_connect=1, nor_conv_1x1=2, nor_conv_3x3=3, avg_pool_3x3=4. */
#ifndef DNAS_IO_NB201_TABLE_H
#define DNAS_IO_NB201_TABLE_H
#include <stddef.h>
#include "../core/status.h"

#define DNAS_NB201_EDGES 6
#define DNAS_NB201_OPS 5
#define DNAS_NB201_ARCHS 15625     /* 5^6 */
#define DNAS_NB201_ARCH_MAX 128    /* buffer size that holds any arch string + NUL (max 96) */

/* The op names in benchmark order (the arch string's and alpha's column order). */
extern const char *const dnas_nb201_ops[DNAS_NB201_OPS];
/* Op name of index 0..4, NULL outside. */
const char *dnas_nb201_op_name(int op);

/* Strict parse: exact format, known op names, input numbers 0..i-1 in order, nothing after.
 * On error (DNAS_ERR_INVALID_ARG) the message quotes the string and says what is wrong. */
dnas_status dnas_nb201_arch_parse(const char *arch, int ops[DNAS_NB201_EDGES]);
/* Writes the arch string of `ops` into buf (cap >= DNAS_NB201_ARCH_MAX is always enough). */
dnas_status dnas_nb201_arch_format(const int ops[DNAS_NB201_EDGES], char *buf, size_t cap);

/* One row of the table. Accuracies in percent, from the 200-epoch schedule. */
typedef struct {
    int index;                         /* official NB201 / NATS-Bench tss API index */
    int ops[DNAS_NB201_EDGES];
    char arch[DNAS_NB201_ARCH_MAX];
    double c10_valid;      /* cifar10-valid, x-valid (trained on 25k): papers' "C10 valid" */
    double c10_test;       /* cifar10 (trained on 50k), ori-test: papers' "C10 test" */
    double c10valid_train, c10valid_test;   /* cifar10-valid: train acc, ori-test */
    double c100_train, c100_valid, c100_test;
    double in16_train, in16_valid, in16_test;
    double c100_test_nats, in16_test_nats;  /* the same from NATS-Bench (other seed set) */
    double c10_flops_m, c10_params_m;       /* MFLOPs, millions of parameters */
    double c100_flops_m, c100_params_m;
    double in16_flops_m, in16_params_m;
} dnas_nb201_row;

typedef struct dnas_nb201_table dnas_nb201_table;

/* Loads and checks nb201.csv: the required columns by name, 15625 rows, every arch string
 * valid and unique, indices 0..15624 each once, every number finite. Errors name the file
 * and line. */
dnas_status dnas_nb201_table_load(const char *csv_path, dnas_nb201_table **out);
void dnas_nb201_table_destroy(dnas_nb201_table *t);

/* Lookups. The returned pointer lives as long as the table. */
dnas_status dnas_nb201_table_find(const dnas_nb201_table *t, const char *arch,
                                  const dnas_nb201_row **out);
dnas_status dnas_nb201_table_find_ops(const dnas_nb201_table *t,
                                      const int ops[DNAS_NB201_EDGES],
                                      const dnas_nb201_row **out);
dnas_status dnas_nb201_table_get(const dnas_nb201_table *t, int index,
                                 const dnas_nb201_row **out);

#endif
