/* The configuration of dnas train. One table of named fields drives the CLI flags, the
 * checkpoint's stored copy and config.json, as the search's does (src/search/config.c), so a
 * setting cannot exist in one and be forgotten in another. Defaults are the protocols of the
 * papers per space (ALGORITHMS.md §A2, §A3). */
#include "trainer.h"
#include "../core/alloc.h"
#include "../space/space.h"
#include "../io/fields.h"
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef dnas_field field;

#define F(n, t, h) {#n, t, offsetof(dnas_train_config, n), sizeof(((dnas_train_config *)0)->n), h}
static const field fields[] = {
    F(space, 's', "space of the genotype (darts | nb201)"),
    F(genotype, 's', "published name, file holding the genotype, or its text"),
    F(dataset, 's', "data set (cifar10 | cifar100)"),
    F(data_dir, 's', "CIFAR binary directory (default $DNAS_DATA)"),
    F(out_dir, 's', "run directory"),
    F(epochs, 'i', "training epochs"),
    F(batch, 'i', "batch size"),
    F(channels, 'i', "initial channels C"),
    F(cells, 'i', "darts: layers L; nb201: cells per stage N"),
    F(threads, 'i', "CPU threads (0 = all cores)"),
    F(seed, 'u', "random seed (weights, data order, augmentation, drop path)"),
    F(lr, 'd', "SGD learning rate (cosine schedule start)"),
    F(lr_min, 'd', "learning rate at the end of the cosine schedule"),
    F(momentum, 'd', "SGD momentum"),
    F(nesterov, 'i', "Nesterov momentum (0/1)"),
    F(weight_decay, 'd', "SGD weight decay"),
    F(grad_clip, 'd', "global gradient-norm clip (0 = off)"),
    F(auxiliary, 'i', "darts: auxiliary head, training only (0/1)"),
    F(aux_weight, 'd', "darts: auxiliary loss weight"),
    F(drop_path, 'd', "darts: drop-path probability at the end (ramped from 0)"),
    F(cutout, 'i', "cutout square side in pixels (0 = off)"),
    F(train_images, 'i', "train on the first k training images (0 = all 50k)"),
    F(test_images, 'i', "test on the first k test images (0 = all 10k)"),
    F(log_every, 'i', "steps between log.jsonl step lines"),
    F(ckpt_every, 'i', "steps between checkpoints (0 = each epoch's end only)"),
    F(progress, 'i', "progress line: 1 on, 0 off, -1 when stderr is a terminal"),
    F(max_steps, 'i', "stop with a checkpoint after this many steps (0 = no limit)"),
};
#undef F
#define N_FIELDS (int)(sizeof fields / sizeof fields[0])

dnas_status dnas_train_config_default(dnas_train_config *c, const char *space) {
    memset(c, 0, sizeof *c);
    int nb201 = space && strcmp(space, "nb201") == 0;
    if (space && space[0] && !nb201 && strcmp(space, "darts") != 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--space %s: no training protocol for this space "
                         "(known: darts, nb201)", space);
    snprintf(c->space, sizeof c->space, "%s", space ? space : "");
    snprintf(c->dataset, sizeof c->dataset, "cifar10");
    c->threads = 0;
    c->lr_min = 0;
    c->momentum = 0.9;
    c->train_images = 0;
    c->test_images = 0;
    c->log_every = 50;
    c->ckpt_every = 0;
    c->progress = -1;
    if (nb201) {
        /* NB201 benchmark (AutoDL configs/nas-benchmark/hyper-opts/200E.config): 200 epochs,
         * SGD Nesterov 0.9, lr 0.1 cosine to 0, wd 5e-4, batch 256; first of seeds 777/888/999;
         * the benchmark's TinyNetwork C 16, N 5; no clipping, cutout or drop path. */
        c->epochs = 200;
        c->batch = 256;
        c->channels = 16;
        c->cells = 5;
        c->seed = 777;
        c->lr = 0.1;
        c->nesterov = 1;
        c->weight_decay = 5e-4;
        c->grad_clip = 0;
        c->auxiliary = 0;
        c->aux_weight = 0;
        c->drop_path = 0;
        c->cutout = 0;
    } else {
        /* DARTS evaluation (quark0 cnn/train.py): NetworkCIFAR C 36, 20 layers, auxiliary
         * head weight 0.4, drop path 0.2, cutout 16, SGD lr 0.025 momentum 0.9 wd 3e-4, cosine
         * to 0, clip 5, batch 96, 600 epochs, seed 0. */
        c->epochs = 600;
        c->batch = 96;
        c->channels = 36;
        c->cells = 20;
        c->seed = 0;
        c->lr = 0.025;
        c->nesterov = 0;
        c->weight_decay = 3e-4;
        c->grad_clip = 5.0;
        c->auxiliary = 1;
        c->aux_weight = 0.4;
        c->drop_path = 0.2;
        c->cutout = 16;
    }
    return DNAS_OK;
}


/* A path, as opposed to a name or genotype text: has a '/' or a .txt ending, and none of
 * the characters that genotype text starts with or holds. */
static int looks_like_path(const char *v) {
    size_t n = strlen(v);
    if (v[0] == '|' || strchr(v, '(')) return 0;
    return strchr(v, '/') || (n > 4 && strcmp(v + n - 4, ".txt") == 0);
}

/* Copies `text` into out (cap bytes) with every run of whitespace made one space and none at
 * either end: a genotype file may end in a newline or wrap its lines, and the checkpoint's
 * "key=value" copy must stay one line. */
static dnas_status squeeze(const char *text, char *out, size_t cap, const char *file) {
    char what[600];
    snprintf(what, sizeof what, "--genotype%s%.500s", file ? " " : "", file ? file : "");
    size_t o = 0;
    int space = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isspace(*p)) {
            space = o > 0;
            continue;
        }
        if (*p < 0x20 || *p == 0x7f)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: holds a control character (byte "
                             "0x%02x); a genotype is printable text", what, *p);
        if (o + space + 2 > cap)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: longer than %zu characters, not a "
                             "genotype", what, cap - 1);
        if (space) out[o++] = ' ';
        space = 0;
        out[o++] = (char)*p;
    }
    out[o] = 0;
    if (!o) return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: empty", what);
    return DNAS_OK;
}

/* A --genotype value -> genotype text (or a published name): a file's contents, or the value. */
static dnas_status resolve_genotype(const char *value, char *out, size_t cap) {
    struct stat sb;
    if (value[0] && stat(value, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--genotype %s: not a regular file", value);
        if (sb.st_size > 65536)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--genotype %s: a %lld-byte file, not a "
                             "genotype", value, (long long)sb.st_size);
        char *text = NULL;
        size_t n = 0;
        dnas_status st = dnas_read_file(value, &text, &n);
        if (st != DNAS_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", dnas_last_error());
            return dnas_fail(st, "--genotype: %s", why);
        }
        if (strlen(text) != n)
            st = dnas_fail(DNAS_ERR_INVALID_ARG, "--genotype %s: holds a NUL byte, not a genotype",
                           value);
        else st = squeeze(text, out, cap, value);
        dnas_free(text);
        return st;
    }
    if (looks_like_path(value))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--genotype %s: no such file (give a published "
                         "name, a file holding the genotype, or its text)", value);
    return squeeze(value, out, cap, NULL);
}

/* Parses genotype text with the space's parser into one-hot weights. */
static dnas_status parse_in(const char *space, const char *text, float *onehot) {
    const dnas_space *sp = dnas_space_find(space);
    if (!sp) {
        char why[512];
        snprintf(why, sizeof why, "%s", dnas_last_error());
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--space %s: %s", space, why);
    }
    if ((size_t)sp->groups * sp->rows * sp->cols > DNAS_MAX_ARCH)
        return dnas_fail(DNAS_ERR_INTERNAL, "space %s: too many architecture weights", space);
    dnas_status st = sp->parse(text, onehot);
    if (st != DNAS_OK) {
        char why[512];
        const char *m = dnas_last_error();
        if (strncmp(m, "genotype: ", 10) == 0) m += 10; /* the flag already says it */
        snprintf(why, sizeof why, "%s", m);
        return dnas_fail(st, "--genotype: %s", why);
    }
    return DNAS_OK;
}

dnas_status dnas_train_genotype_match(const char *space, const char *stored, const char *given,
                                      int *same) {
    char text[sizeof ((dnas_train_config *)0)->genotype];
    float ws[DNAS_MAX_ARCH], wg[DNAS_MAX_ARCH];
    *same = 0;
    DNAS_TRY(resolve_genotype(given, text, sizeof text));
    DNAS_TRY(parse_in(space, text, wg));
    DNAS_TRY(parse_in(space, stored, ws));
    const dnas_space *sp = dnas_space_find(space);
    size_t n = (size_t)sp->groups * sp->rows * sp->cols;
    *same = strcmp(text, stored) == 0 || memcmp(ws, wg, n * sizeof(float)) == 0;
    return DNAS_OK;
}

dnas_status dnas_train_guess_space(const char *genotype, char *space, size_t cap) {
    char text[sizeof ((dnas_train_config *)0)->genotype];
    if (!genotype) return dnas_fail(DNAS_ERR_INVALID_ARG, "--genotype needs a value");
    DNAS_TRY(resolve_genotype(genotype, text, sizeof text));
    snprintf(space, cap, "%s", text[0] == '|' ? "nb201" : "darts");
    return DNAS_OK;
}

dnas_status dnas_train_config_set(dnas_train_config *c, const char *key, const char *value) {
    const field *f;
    DNAS_TRY(dnas_field_lookup(fields, N_FIELDS, key, value, "train", &f));
    if (f->off == offsetof(dnas_train_config, genotype)) {
        char text[sizeof c->genotype];
        DNAS_TRY(resolve_genotype(value, text, sizeof text));
        if (c->space[0]) { /* a resume request has no space yet: checked against the stored one */
            float onehot[DNAS_MAX_ARCH];
            DNAS_TRY(parse_in(c->space, text, onehot));
        }
        memcpy(c->genotype, text, strlen(text) + 1);
        return DNAS_OK;
    }
    return dnas_field_set(f, c, key, value);
}


void dnas_train_config_help(const dnas_train_config *c, void *out) {
    dnas_fields_help(fields, N_FIELDS, c, out);
}

void dnas_train_config_write(const dnas_train_config *c, dnas_sbuf *sb, int json) {
    dnas_fields_write(fields, N_FIELDS, c, sb, json);
}

/* A stored genotype is taken as it is: never a file to read, whatever lies in the working
 * directory now (dnas_train_config_check parses it). */
static dnas_status set_stored(void *ctx, const char *key, const char *value) {
    dnas_train_config *c = ctx;
    if (strcmp(key, "genotype") != 0) return dnas_train_config_set(c, key, value);
    if (strlen(value) >= sizeof c->genotype)
        return dnas_fail(DNAS_ERR_FORMAT, "stored configuration: genotype too long");
    memcpy(c->genotype, value, strlen(value) + 1);
    return DNAS_OK;
}

dnas_status dnas_train_config_parse(const char *text, dnas_train_config *c) {
    return dnas_fields_parse(text, set_stored, c);
}

static int printable(const char *v) {
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f) return 0;
    return 1;
}

dnas_status dnas_train_config_check(const dnas_train_config *c) {
#define NEED(cond, ...) \
    if (!(cond)) return dnas_fail(DNAS_ERR_INVALID_ARG, __VA_ARGS__)
    NEED(c->space[0], "--space is required (darts | nb201)");
    NEED(strcmp(c->space, "darts") == 0 || strcmp(c->space, "nb201") == 0,
         "--space %s: no training protocol for this space (known: darts, nb201)", c->space);
    NEED(strcmp(c->dataset, "cifar10") == 0 || strcmp(c->dataset, "cifar100") == 0,
         "--dataset: unknown data set '%s' (known: cifar10, cifar100)", c->dataset);
    NEED(printable(c->data_dir) && printable(c->out_dir),
         "--data and --out must not contain control characters");
    /* Upper bounds far above any real run, low enough that no size overflows an int. */
    NEED(c->epochs > 0 && c->epochs <= 100000, "--epochs must lie in 1..100000 (got %d)", c->epochs);
    NEED(c->batch > 0 && c->batch <= 4096, "--batch must lie in 1..4096 (got %d)", c->batch);
    NEED(c->channels > 0 && c->channels <= 1024, "--channels must lie in 1..1024 (got %d)", c->channels);
    NEED(c->cells > 0 && c->cells <= 64, "--cells must lie in 1..64 (got %d)", c->cells);
    /* A DARTS cell concatenates 4C channels at full resolution. */
    NEED((long long)c->batch * c->channels * 4 * 32 * 32 <= (1LL << 29),
         "--batch %d with --channels %d is too large (over 2^29 values per activation)", c->batch,
         c->channels);
    NEED(c->threads >= 0 && c->threads <= 256, "--threads must lie in 0..256 (got %d)", c->threads);
    NEED(c->nesterov == 0 || c->nesterov == 1, "--nesterov must be 0 or 1 (got %d)", c->nesterov);
    NEED(c->auxiliary == 0 || c->auxiliary == 1, "--auxiliary must be 0 or 1 (got %d)", c->auxiliary);
    NEED(c->progress >= -1 && c->progress <= 1, "--progress must be -1, 0 or 1 (got %d)", c->progress);
    NEED(c->lr >= 0, "--lr must be >= 0 (got %g)", c->lr);
    NEED(c->lr_min >= 0, "--lr-min must be >= 0 (got %g)", c->lr_min);
    NEED(c->momentum >= 0 && c->momentum < 1, "--momentum must lie in [0,1) (got %g)", c->momentum);
    NEED(c->nesterov == 0 || c->momentum > 0, "--nesterov 1 needs --momentum > 0");
    NEED(c->weight_decay >= 0, "--weight-decay must be >= 0 (got %g)", c->weight_decay);
    NEED(c->grad_clip >= 0, "--grad-clip must be >= 0 (got %g)", c->grad_clip);
    NEED(c->aux_weight >= 0, "--aux-weight must be >= 0 (got %g)", c->aux_weight);
    NEED(c->drop_path >= 0 && c->drop_path < 1, "--drop-path must lie in [0,1) (got %g)", c->drop_path);
    NEED(c->cutout >= 0 && c->cutout <= 32, "--cutout must lie in 0..32 pixels (got %d)", c->cutout);
    NEED(c->train_images >= 0, "--train-images must be >= 0 (got %d)", c->train_images);
    NEED(c->train_images == 0 || c->train_images >= c->batch,
         "--train-images (%d) must be 0 or at least --batch (%d)", c->train_images, c->batch);
    NEED(c->test_images >= 0, "--test-images must be >= 0 (got %d)", c->test_images);
    NEED(c->log_every > 0, "--log-every must be > 0 (got %d)", c->log_every);
    NEED(c->ckpt_every >= 0, "--ckpt-every must be >= 0 (got %d)", c->ckpt_every);
    NEED(c->max_steps >= 0, "--max-steps must be >= 0 (got %d)", c->max_steps);
    NEED(c->genotype[0], "--genotype is required (a published name, a file, or genotype text)");
#undef NEED
    float onehot[DNAS_MAX_ARCH];
    return parse_in(c->space, c->genotype, onehot);
}
