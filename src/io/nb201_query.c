/* Public one-shot lookup of an arch string in the NB201 table. */
#include "nb201_table.h"
#include "../../include/dnas.h"

dnas_status dnas_nb201_query(const char *path, const char *arch, dnas_nb201_result *r) {
    int ops[DNAS_NB201_EDGES];
    DNAS_TRY(dnas_nb201_arch_parse(arch, ops)); /* a bad string fails before the table loads */
    dnas_nb201_table *t = NULL;
    DNAS_TRY(dnas_nb201_table_load(path, &t));
    const dnas_nb201_row *row = NULL;
    dnas_status st = dnas_nb201_table_find_ops(t, ops, &row);
    if (st == DNAS_OK) {
        r->index = row->index;
        r->c10_valid = row->c10_valid;
        r->c10_test = row->c10_test;
        r->c100_valid = row->c100_valid;
        r->c100_test = row->c100_test;
        r->in16_valid = row->in16_valid;
        r->in16_test = row->in16_test;
    }
    dnas_nb201_table_destroy(t);
    return st;
}
