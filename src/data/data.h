/* CIFAR-10 / CIFAR-100 in memory, the NB201 25k/25k search split, and a batch loader with
 * augmentation (crop, flip, cutout) and an optional prefetch thread. A search pairs weight and
 * arch batches from the split; training from scratch (dnas train) takes all 50k training
 * images with cutout and iterates the 10k test images for evaluation.
 *
 * Typical search loop (NB201, CIFAR-10):
 *
 *   dnas_cifar train;  dnas_split sp;  dnas_loader *L;
 *   DNAS_TRY(dnas_cifar_load(dir, DNAS_CIFAR10, DNAS_PART_TRAIN, &train));
 *   DNAS_TRY(dnas_split_make(&train, DNAS_SPLIT_STRATIFIED, 0, &sp));
 *   dnas_loader_config c;  dnas_loader_config_default(&c);
 *   c.data = &train; c.idx = sp.train; c.n_idx = sp.n_train;          // weight batches
 *   c.valid_data = &train; c.valid_idx = sp.valid; c.n_valid_idx = sp.n_valid;  // arch batches
 *   c.seed = seed;
 *   DNAS_TRY(dnas_loader_create(&c, &L));           // copies the index lists
 *   DNAS_TRY(dnas_loader_seek(L, start_epoch, 0));  // on resume
 *   for each step: dnas_loader_batch b; dnas_loader_next(L, &b);  b.train.x / b.valid.x ...
 *
 * Determinism: every random choice (epoch shuffle, crop offsets, flips, cutout squares, the
 * validation images paired with a step) is a pure function of (seed, epoch, step, slot in
 * batch), computed by a
 * counter-based hash local to loader.c. So the batch at (epoch, step) is the same whether it was
 * reached by iterating, by seek after a restart, synchronously or by the prefetch thread. */
#ifndef DNAS_DATA_H
#define DNAS_DATA_H
#include <stdint.h>
#include "../core/status.h"

#define DNAS_CIFAR_SIDE 32                 /* images are 32x32 RGB */
#define DNAS_CIFAR_PIXELS (3 * 32 * 32)    /* bytes per image: R plane, G plane, B plane */
#define DNAS_CIFAR_PAD 4                   /* random crop 32 from the image zero-padded by 4 */

typedef enum { DNAS_CIFAR10 = 0, DNAS_CIFAR100 = 1 } dnas_cifar_kind;
typedef enum { DNAS_PART_TRAIN = 0, DNAS_PART_TEST = 1 } dnas_cifar_part;

/* One part (train or test) of a data set, pixels as in the file (uint8, planar CHW per image).
 * Tests may fill one by hand (then they own the memory and must not call dnas_cifar_free). */
typedef struct {
    dnas_cifar_kind kind;  /* selects the normalisation mean/std */
    int n;                 /* images */
    int classes;           /* 10 or 100 */
    uint8_t *pixels;       /* (n, 3, 32, 32) */
    int *labels;           /* (n): the label (CIFAR-100: the fine label) */
    int *coarse;           /* (n): CIFAR-100 coarse label (0..19); NULL for CIFAR-10 */
} dnas_cifar;

/* Reads `dir` in the official binary layout:
 *   CIFAR-10  (dir = .../cifar-10-batches-bin): data_batch_1..5.bin (train), test_batch.bin;
 *             records of 1 label byte + 3072 pixel bytes, 10000 per file.
 *   CIFAR-100 (dir = .../cifar-100-binary): train.bin (50000), test.bin (10000);
 *             records of coarse byte + fine byte + 3072 pixel bytes.
 * Every file is checked (opens, exact size, labels in range); errors name the file:
 * DNAS_ERR_IO (missing/unreadable), DNAS_ERR_FORMAT (size or label wrong). */
dnas_status dnas_cifar_load(const char *dir, dnas_cifar_kind kind, dnas_cifar_part part,
                            dnas_cifar *out);
void dnas_cifar_free(dnas_cifar *d);

/* Per-channel normalisation of a kind, as fractions of 255 (NB201 / AutoDL values). */
void dnas_cifar_norm(dnas_cifar_kind kind, float mean[3], float std[3]);

/* Which normalisation a loader applies. Enums only grow at the end. */
typedef enum {
    DNAS_NORM_AUTODL = 0, /* dnas_cifar_norm: the data set's AutoDL / NB201 values */
    DNAS_NORM_DARTS = 1   /* quark0 cnn/utils.py CIFAR-10 values (mean 0.4914.., std 0.2470..);
                             a CIFAR-100 set keeps its AutoDL values (DARTS trains CIFAR-10) */
} dnas_norm;
/* mean/std of `norm` for a data set kind. */
void dnas_cifar_norm_as(dnas_cifar_kind kind, dnas_norm norm, float mean[3], float std[3]);

/* A fingerprint of a loaded data set (CRC-32C of every label and of the first 1024 images),
 * stored in checkpoints so that a resume can tell whether --data is the same data set. */
uint32_t dnas_cifar_fingerprint(const dnas_cifar *d);

/* ---- split ------------------------------------------------------------------------------- */
/* NB201's own cifar-split.txt (AutoDL-Projects configs/nas-benchmark/cifar-split.txt) is not
 * shipped with dnas; dnas_split_load reads it where the user has it (--split-file). Without it
 * the 50/50 split is one of:
 *  DNAS_SPLIT_HALVES:     train = images [0, n/2), valid = [n/2, n) by file order, as darts-pt
 *                         and DrNAS do (train_portion 0.5). `seed` is ignored.
 *  DNAS_SPLIT_STRATIFIED: per class, the images of that class are permuted by `seed` and the
 *                         first floor(k/2) go to train, the rest to valid; so CIFAR-10 gives
 *                         exactly 2500 per class on each side. Same seed -> same split.
 * Both lists are sorted ascending (the loader shuffles). */
typedef enum { DNAS_SPLIT_STRATIFIED = 0, DNAS_SPLIT_HALVES = 1 } dnas_split_mode;

typedef struct {
    int *train, n_train;  /* indices into the data set */
    int *valid, n_valid;
} dnas_split;

dnas_status dnas_split_make(const dnas_cifar *d, dnas_split_mode mode, uint64_t seed,
                            dnas_split *out);
/* NB201's split file at `path` (split_file.c): its "train" and "valid" lists, each index once,
 * inside d, sorted ascending. Errors name the file and the offending entry. */
dnas_status dnas_split_load(const dnas_cifar *d, const char *path, dnas_split *out);
void dnas_split_free(dnas_split *s);

/* ---- loader ------------------------------------------------------------------------------ */
typedef struct {
    const dnas_cifar *data;        /* weight (or evaluation) images */
    const int *idx;                /* subset of data, NULL = all data->n images (copied) */
    int n_idx;
    const dnas_cifar *valid_data;  /* NULL: no paired validation batch */
    const int *valid_idx;          /* NULL = all valid_data->n images (copied) */
    int n_valid_idx;
    int batch;      /* images per weight batch (default 64) */
    int drop_last;  /* 0 (default, AutoDL): the last batch of an epoch is smaller; 1: dropped */
    int shuffle;    /* 1 (default): reshuffle `idx` every epoch; 0: file order (test sets) */
    int augment;    /* 1 (default): random crop 32 of the image zero-padded by 4, then a
                       horizontal flip with p = 0.5, on both batches (torchvision order; pad
                       pixels are black, so they normalise to -mean/std, not 0) */
    int prefetch;   /* 1 (default): prepare the next batch on a background thread */
    uint64_t seed;
    int cutout;     /* 0 (default): off; L > 0: in each weight-batch image, zero (after
                       normalisation) the rows and columns [c - L/2, c + L/2) around a centre c
                       uniform over the image, clipped at the borders (DeVries & Taylor, as
                       quark0's Cutout); never on the paired validation batch */
    dnas_norm norm; /* DNAS_NORM_AUTODL (default) or DNAS_NORM_DARTS, for both batches */
} dnas_loader_config;

/* Defaults for an NB201 search loader (batch 64, shuffle, augment, prefetch, keep last). */
void dnas_loader_config_default(dnas_loader_config *c);
/* Settings for a test-set iterator over all of `d`: no shuffle, no augmentation. */
void dnas_loader_config_eval(dnas_loader_config *c, const dnas_cifar *d, int batch);

typedef struct {
    int n;           /* images in this batch */
    const float *x;  /* (n, 32, 32, 3) NHWC, normalised; NULL if absent */
    const int *y;    /* (n) labels */
} dnas_data_batch;

typedef struct {
    int epoch, step;        /* position of this batch */
    int last;               /* 1 on the last step of the epoch */
    dnas_data_batch train;  /* weight batch (or the evaluation batch) */
    dnas_data_batch valid;  /* paired batch, same n, drawn uniformly with replacement from
                               valid_idx; n = 0 and x = y = NULL without valid_data */
} dnas_loader_batch;

/* A loader is used from one thread (its own prefetch thread aside). */
typedef struct dnas_loader dnas_loader;

dnas_status dnas_loader_create(const dnas_loader_config *c, dnas_loader **out);
/* Steps per epoch: ceil(n_idx / batch), or floor with drop_last (ceil(25000/64) = 391). */
int dnas_loader_steps(const dnas_loader *l);
/* The batch at the current position, then advances (step+1, or the next epoch's step 0).
 * The returned pointers stay valid until the next call of next/seek/destroy. */
dnas_status dnas_loader_next(dnas_loader *l, dnas_loader_batch *out);
/* Make (epoch, step) the next position, e.g. when resuming from a checkpoint. */
dnas_status dnas_loader_seek(dnas_loader *l, int epoch, int step);
void dnas_loader_destroy(dnas_loader *l);

/* The cutout centre (row, column) of slot j of the batch at (epoch, step): what the loader
 * used, for tests and tools that check the zeroed square. */
void dnas_loader_cutout_centre(const dnas_loader *l, int epoch, int step, int j, int *cy,
                               int *cx);

#endif
