/* The public supernet handle: a space's graph on a backend, planned and initialised. */
#include "space.h"
#include "supernet.h"
#include "../core/alloc.h"
#include <string.h>

void dnas_supernet_config_default(dnas_supernet_config *c) {
    memset(c, 0, sizeof *c);
    c->space = "nb201";
    c->classes = 10;
    c->batch = 64;
    c->channels = 16;
    c->cells = 5;
    c->image = 32;
    c->track_bn = 0;
    c->seed = 1;
    c->pc_k = 1;
}

dnas_status dnas_supernet_create_on(const dnas_supernet_config *c, dnas_backend *be,
                                    dnas_supernet **out) {
    *out = NULL;
    const dnas_space *sp = dnas_space_find(c->space);
    if (!sp) return DNAS_ERR_INVALID_ARG;
    if (c->edge_norm && !sp->n_nodes)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--edge-norm: the %s space has no edge weights",
                         sp->name);
    /* Node BN is built into the plain cells only (DARTS-PRIME does not use partial channels). */
    if (c->node_bn && (c->pc_k > 1 || c->edge_norm))
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "node BN (--state-bn) does not combine with --pc-k > 1 "
                         "or --edge-norm 1");
    dnas_supernet *s = dnas_calloc(sizeof *s, "supernet");
    if (!s) return DNAS_ERR_OOM;
    s->space = sp;
    s->cfg = *c;
    dnas_graph_init(&s->g, be);
    size_t n_arch = (size_t)sp->groups * sp->rows * sp->cols;
    /* The edge block (space.h) follows the op block in the graph's mixing weights. */
    size_t n_mix = n_arch + (c->edge_norm ? (size_t)sp->groups * sp->rows : 0);
    s->cand = dnas_alloc(n_arch, "candidate-op mask");
    dnas_status st = s->cand ? sp->candidates(c->ops, s->cand) : DNAS_ERR_OOM;
    if (st == DNAS_OK) st = sp->build(&s->g, c);
    if (st == DNAS_OK && (size_t)s->g.n_mix != n_mix)
        st = dnas_fail(DNAS_ERR_INTERNAL, "%s supernet has %d mixing weights, expected %zu",
                       sp->name, s->g.n_mix, n_mix);
    if (st == DNAS_OK) st = dnas_graph_plan(&s->g);
    if (st != DNAS_OK) {
        dnas_graph_free(&s->g);
        dnas_free(s->cand);
        dnas_free(s);
        return st;
    }
    dnas_graph_init_weights(&s->g, c->seed);
    *out = s;
    return DNAS_OK;
}

dnas_status dnas_supernet_create(const dnas_supernet_config *c, dnas_supernet **out) {
    dnas_backend *be = NULL;
    *out = NULL;
    DNAS_TRY(dnas_backend_cpu_create(0, &be));
    dnas_status st = dnas_supernet_create_on(c, be, out);
    if (st != DNAS_OK) {
        dnas_backend_destroy(be);
        return st;
    }
    (*out)->owns_backend = 1;
    return DNAS_OK;
}

void dnas_supernet_destroy(dnas_supernet *s) {
    if (!s) return;
    dnas_backend *be = s->g.be;
    dnas_graph_free(&s->g);
    dnas_free(s->cand);
    if (s->owns_backend) dnas_backend_destroy(be);
    dnas_free(s);
}

dnas_status dnas_supernet_get_info(const dnas_supernet *s, dnas_supernet_info *o) {
    memset(o, 0, sizeof *o);
    o->n_weights = s->g.n_weights;
    o->n_buffers = s->g.n_bufs;
    o->arch_rows = s->space->groups * s->space->rows;
    o->arch_cols = s->space->cols;
    o->peak_bytes = s->g.peak_bytes;
    o->param_bytes = s->g.n_weights * 2 * sizeof(float);
    o->n_nodes = s->g.n_nodes;
    return DNAS_OK;
}
