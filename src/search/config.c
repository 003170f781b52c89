/* One table of named fields drives the CLI flags, the checkpoint's stored configuration and
 * config.json, so a setting cannot exist in one and be forgotten in another. */
#include "search.h"
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    char type;   /* s: char[], i: int, u: uint64, d: double */
    size_t off, size;
    const char *help;
} field;

#define F(n, t, h) {#n, t, offsetof(dnas_search_config, n), sizeof(((dnas_search_config *)0)->n), h}
static const field fields[] = {
    F(space, 's', "search space (nb201 | darts)"),
    F(algo, 's', "search method (darts1 | darts2 | idarts | gaea)"),
    F(ops, 's', "op set of the space (nb201: all | no-none; darts: all | s1 | s2 | s3 | s4 | s5 = no-none)"),
    F(dataset, 's', "data set (cifar10)"),
    F(data_dir, 's', "CIFAR binary directory (default $DNAS_DATA)"),
    F(out_dir, 's', "run directory"),
    F(table, 's', "NB201 results table (nb201.csv) for the final lookup"),
    F(epochs, 'i', "search epochs"),
    F(batch, 'i', "batch size (weight and arch batches)"),
    F(channels, 'i', "supernet channels C"),
    F(cells, 'i', "cells: nb201 per stage N, darts layers L (0 = the space's default: nb201 5, darts 8)"),
    F(track_bn, 'i', "cell BN keeps running statistics (0/1)"),
    F(threads, 'i', "CPU threads (0 = all cores)"),
    F(image, 'i', "input height = width (CIFAR: 32)"),
    F(seed, 'u', "random seed"),
    F(lr, 'd', "weight learning rate (cosine schedule start)"),
    F(lr_min, 'd', "weight learning rate at the end of the cosine schedule"),
    F(momentum, 'd', "SGD momentum"),
    F(weight_decay, 'd', "SGD weight decay"),
    F(grad_clip, 'd', "global gradient-norm clip of the weights (0 = off)"),
    F(nesterov, 'i', "Nesterov momentum (0/1)"),
    F(arch_lr, 'd', "Adam learning rate of alpha"),
    F(arch_beta1, 'd', "Adam beta1 of alpha"),
    F(arch_beta2, 'd', "Adam beta2 of alpha"),
    F(arch_weight_decay, 'd', "Adam (coupled L2) weight decay of alpha"),
    F(train_images, 'i', "use only the first k images of each split half (0 = all)"),
    F(log_every, 'i', "steps between log.jsonl lines"),
    F(ckpt_every, 'i', "steps between checkpoints (0 = each epoch's end only)"),
    F(progress, 'i', "progress line: 1 on, 0 off, -1 when stderr is a terminal"),
    F(max_steps, 'i', "stop with a checkpoint after this many steps (0 = no limit)"),
    F(lr_epochs, 'i', "length of the cosine lr schedule in epochs (0 = --epochs)"),
    F(single_level, 'i', "1: arch step on training data too (GAEA ERM)"),
    F(fix_alpha, 'i', "1: never update alpha (DARTS-PT fixed-alpha supernet)"),
    F(freeze_weights, 'i', "1: never update the weights (the iDARTS NB201 notebook as written)"),
    F(inner_steps, 'i', "iDARTS: weight steps T per hypergradient"),
    F(neumann_k, 'i', "iDARTS: Neumann-series terms K"),
    F(gamma, 'd', "iDARTS: Neumann step size (0 = current weight lr)"),
    F(entropy_reg, 'd', "GAEA: entropic regulariser weight"),
    F(select, 's', "selection after the search: magnitude | pt"),
    F(pt_interval, 'i', "DARTS-PT: tuning epochs between decisions"),
    F(pt_lr, 'd', "DARTS-PT: constant tuning lr (0 = --lr / 10)"),
};
#undef F
#define N_FIELDS (int)(sizeof fields / sizeof fields[0])

dnas_status dnas_search_config_default(dnas_search_config *c, const char *algo) {
    memset(c, 0, sizeof *c);
    if (!algo) algo = "darts1";
    if (!dnas_strategy_find(algo)) return DNAS_ERR_INVALID_ARG;
    snprintf(c->space, sizeof c->space, "nb201");
    snprintf(c->algo, sizeof c->algo, "%s", algo);
    snprintf(c->dataset, sizeof c->dataset, "cifar10");
    /* AutoDL DARTS-V1/V2 on NB201 (configs/nas-benchmark/algos/DARTS.config, ALGORITHMS.md §B1). */
    c->epochs = 50;
    c->batch = 64;
    c->channels = 16;
    c->cells = 0; /* the space's default: NB201 N = 5 cells per stage, DARTS L = 8 layers */
    c->track_bn = 0;
    c->threads = 0;
    c->image = 32;
    c->seed = 1;
    c->lr = 0.025;
    c->lr_min = 0.001;
    c->momentum = 0.9;
    c->weight_decay = 5e-4;
    c->grad_clip = 5.0;
    c->nesterov = 1;
    c->arch_lr = 3e-4;
    c->arch_beta1 = 0.5;
    c->arch_beta2 = 0.999;
    c->arch_weight_decay = 1e-3;
    c->train_images = 0;
    c->log_every = 50;
    c->ckpt_every = 0;
    c->progress = -1;
    c->max_steps = 0;
    snprintf(c->select, sizeof c->select, "magnitude");
    c->inner_steps = 4;
    c->pt_interval = 5;
    c->neumann_k = 2;
    if (strcmp(algo, "idarts") == 0) {
        /* iDARTS NB201 notebook (ALGORITHMS.md §B2): T = 4 inner steps, K = 2, gamma = the
         * weight lr; the rest is AutoDL's DARTS setting it builds on. */
    } else if (strcmp(algo, "gaea") == 0) {
        /* GAEA DARTS on NB201 (gaea_release configs, ALGORITHMS.md §B4): 25 epochs of a 50-epoch
         * cosine, SGD wd 3e-4 without Nesterov, C = 24, EG lr 0.1, no arch weight decay, no
         * 'none' op (the README's exclude_zero). */
        c->epochs = 25;
        c->lr_epochs = 50;
        c->weight_decay = 3e-4;
        c->nesterov = 0;
        c->channels = 24;
        c->arch_lr = 0.1;
        c->arch_weight_decay = 0;
        snprintf(c->ops, sizeof c->ops, "no-none");
    }
    return DNAS_OK;
}

dnas_status dnas_search_config_preset(dnas_search_config *c, const char *name) {
    if (strcmp(name, "quick") != 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--preset: unknown preset '%s' (known: quick)", name);
    /* The reduced CPU protocol (README, bench/results/README.md): a search plus DARTS-PT
     * selection in under 15 minutes on 2 cores. Each method's epochs are scaled by 14/5 (DARTS:
     * 50 -> 140, GAEA: 25 of a 50-epoch cosine -> 70 of 140), which keeps the paper's ratio of
     * steps between methods and gives alpha 11,060 Adam steps (the paper: 19,550): alpha's
     * travel grows with the number of arch steps, and 30 epochs (2,370 steps) left it at its
     * init. */
    if (c->lr_epochs > 0)
        c->lr_epochs = c->lr_epochs * 14 / 5;
    c->epochs = c->epochs * 14 / 5;
    c->channels = 8;
    c->cells = 1;
    c->train_images = 5000;
    c->pt_interval = 2;
    return DNAS_OK;
}

static const field *find(const char *key) {
    for (int i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i].name, key) == 0) return &fields[i];
    return NULL;
}

dnas_status dnas_search_config_set(dnas_search_config *c, const char *key, const char *value) {
    /* Flags spell words with '-' ("--arch-lr"); fields use '_'. */
    char k[64];
    snprintf(k, sizeof k, "%s", key);
    for (char *p = k; *p; p++)
        if (*p == '-') *p = '_';
    /* The CLI's short forms; messages keep naming the flag as it was typed. */
    if (strcmp(k, "out") == 0) snprintf(k, sizeof k, "out_dir");
    if (strcmp(k, "data") == 0) snprintf(k, sizeof k, "data_dir");
    const field *f = find(k);
    if (!f) return dnas_fail(DNAS_ERR_INVALID_ARG, "unknown flag --%s (see dnas search --help)", key);
    if (!value) return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s needs a value", key);
    char *base = (char *)c + f->off, *end = NULL;
    errno = 0;
    switch (f->type) {
    case 's':
        /* A newline would end the line in the checkpoint's "key=value" copy and could inject
         * other settings; no path or name needs a control character. */
        for (const unsigned char *q = (const unsigned char *)value; *q; q++)
            if (*q < 0x20 || *q == 0x7f)
                return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: the value contains a control "
                                 "character (byte 0x%02x at offset %zu), which is not allowed",
                                 key, *q, (size_t)(q - (const unsigned char *)value));
        if (strlen(value) >= f->size)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: value too long (max %zu characters)", key, f->size - 1);
        memcpy(base, value, strlen(value) + 1);
        return DNAS_OK;
    case 'i': {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < -1000000000L || v > 1000000000L)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is not an integer", key, value);
        *(int *)base = (int)v;
        return DNAS_OK;
    }
    case 'u': {
        if (strchr(value, '-')) return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' must be >= 0", key, value);
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is not a non-negative integer", key, value);
        *(uint64_t *)base = (uint64_t)v;
        return DNAS_OK;
    }
    case 'd': {
        double v = strtod(value, &end);
        /* Underflow gives the nearest representable value (a subnormal written back by
         * %.17g must parse again); only overflow is out of range. */
        if (errno == ERANGE && fabs(v) <= 1.0) errno = 0;
        if (errno == ERANGE && end != value && !*end)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is out of range", key, value);
        if (errno || end == value || *end || !isfinite(v))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is not a number", key, value);
        /* The search computes in float: a larger value would become infinite there. */
        if (fabs(v) > FLT_MAX)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is out of range (a float holds at "
                             "most %.3g)", key, value, (double)FLT_MAX);
        *(double *)base = v;
        return DNAS_OK;
    }
    }
    return dnas_fail(DNAS_ERR_INTERNAL, "config field %s has a bad type", key);
}

void dnas_search_config_help(const dnas_search_config *c, void *out) {
    FILE *fp = out;
    for (int i = 0; i < N_FIELDS; i++) {
        const field *f = &fields[i];
        const char *base = (const char *)c + f->off;
        char flag[64];
        snprintf(flag, sizeof flag, "%s", f->name);
        for (char *p = flag; *p; p++)
            if (*p == '_') *p = '-';
        char def[600];
        switch (f->type) {
        case 's': snprintf(def, sizeof def, "%s", base); break;
        case 'i': snprintf(def, sizeof def, "%d", *(const int *)base); break;
        case 'u': snprintf(def, sizeof def, "%llu", (unsigned long long)*(const uint64_t *)base); break;
        default: snprintf(def, sizeof def, "%g", *(const double *)base); break;
        }
        fprintf(fp, "  --%-20s %s [%s]\n", flag, f->help, def);
    }
}

/* "key=value" lines (the checkpoint's copy) or a JSON object (config.json). */
static void write_fields(const dnas_search_config *c, dnas_sbuf *sb, int json) {
    if (json) dnas_sb_printf(sb, "{");
    for (int i = 0; i < N_FIELDS; i++) {
        const field *f = &fields[i];
        const char *base = (const char *)c + f->off;
        if (json) {
            dnas_sb_printf(sb, "%s", i ? ", " : "");
            dnas_sb_json_string(sb, f->name);
            dnas_sb_printf(sb, ": ");
        } else {
            dnas_sb_printf(sb, "%s=", f->name);
        }
        switch (f->type) {
        case 's':
            if (json) dnas_sb_json_string(sb, base);
            else dnas_sb_printf(sb, "%s", base);
            break;
        case 'i': dnas_sb_printf(sb, "%d", *(const int *)base); break;
        case 'u': dnas_sb_printf(sb, "%llu", (unsigned long long)*(const uint64_t *)base); break;
        default: dnas_sb_printf(sb, "%.17g", *(const double *)base); break;
        }
        if (!json) dnas_sb_printf(sb, "\n");
    }
    if (json) dnas_sb_printf(sb, "}\n");
}

void dnas_search_config_write(const dnas_search_config *c, dnas_sbuf *sb, int json) {
    write_fields(c, sb, json);
}

dnas_status dnas_search_config_parse(const char *text, dnas_search_config *c) {
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1200];
        if (len >= sizeof line) return dnas_fail(DNAS_ERR_FORMAT, "stored configuration: line too long");
        memcpy(line, p, len);
        line[len] = 0;
        char *eq = strchr(line, '=');
        if (!eq) return dnas_fail(DNAS_ERR_FORMAT, "stored configuration: malformed line '%s'", line);
        *eq = 0;
        DNAS_TRY(dnas_search_config_set(c, line, eq + 1));
        p = nl ? nl + 1 : p + len;
    }
    return DNAS_OK;
}
