/* The NB201 50/50 split and the batch loader (shuffle, pairing, augmentation, cutout,
 * prefetch).
 *
 * Randomness is a counter-based hash, not a stateful generator: every draw is
 * hash(seed, stream, epoch, step-or-position, slot), so the batch at (epoch, step) does not
 * depend on what was generated before it, on timing, or on which thread made it. That is what
 * makes a resumed run (seek to the checkpointed position) bit-identical. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* pthreads under -std=c11 */
#endif
#include "data.h"
#include "../core/alloc.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- counter-based randomness ---------------------------------------------------------------- */
/* New streams go at the end: renumbering one would change every search's batches. */
enum { STREAM_SPLIT = 1, STREAM_SHUFFLE, STREAM_PICK, STREAM_AUG_TRAIN, STREAM_AUG_VALID,
       STREAM_CUTOUT };

/* SplitMix64 finaliser: a bijection on 64 bits with full avalanche. */
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Chained so each field changes the result (mix64 is a bijection, so distinct inputs at any
 * one position with a fixed prefix never collide). */
static uint64_t hash5(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b, uint64_t c) {
    const uint64_t g = 0x9E3779B97F4A7C15ull;
    uint64_t h = mix64(seed + g);
    h = mix64(h + stream + g);
    h = mix64(h + a + g);
    h = mix64(h + b + g);
    return mix64(h + c + g);
}

/* Exactly uniform integer in [0, n) from a hash (Lemire's multiply-shift with rejection; the
 * rejected case rehashes, which keeps it a pure function of h). */
static uint32_t below(uint64_t h, uint32_t n) {
    uint64_t m = (uint64_t)(uint32_t)(h >> 32) * n;
    if ((uint32_t)m < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while ((uint32_t)m < t) {
            h = mix64(h + 1);
            m = (uint64_t)(uint32_t)(h >> 32) * n;
        }
    }
    return (uint32_t)(m >> 32);
}

/* Fisher-Yates driven by hash(seed, stream, key, i): a pure function of (seed, stream, key). */
static void shuffle_ints(int *v, int n, uint64_t seed, uint64_t stream, uint64_t key) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)below(hash5(seed, stream, key, (uint64_t)i, 0), (uint32_t)i + 1);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* ---- split ----------------------------------------------------------------------------------- */
dnas_status dnas_split_make(const dnas_cifar *d, dnas_split_mode mode, uint64_t seed,
                            dnas_split *out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_split_make: out is NULL");
    memset(out, 0, sizeof *out);
    if (!d || !d->labels || d->n < 2 || d->classes <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_split_make: need a loaded data set of >= 2 images");
    if (mode != DNAS_SPLIT_STRATIFIED && mode != DNAS_SPLIT_HALVES)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_split_make: unknown split mode %d", (int)mode);

    const int n = d->n;
    int *tr = dnas_alloc((size_t)n * sizeof(int), "split train indices");
    int *va = dnas_alloc((size_t)n * sizeof(int), "split valid indices");
    int *cls = NULL;
    if (!tr || !va) goto oom;
    int nt = 0, nv = 0;
    if (mode == DNAS_SPLIT_HALVES) {
        for (int i = 0; i < n; i++) {
            if (i < n / 2) tr[nt++] = i;
            else va[nv++] = i;
        }
    } else {
        cls = dnas_alloc((size_t)n * sizeof(int), "split class scratch");
        if (!cls) goto oom;
        for (int c = 0; c < d->classes; c++) {
            int k = 0;
            for (int i = 0; i < n; i++)
                if (d->labels[i] == c) cls[k++] = i;
            /* stream key = class, so classes are permuted independently */
            shuffle_ints(cls, k, seed, STREAM_SPLIT, (uint64_t)c);
            for (int i = 0; i < k; i++) {
                if (i < k / 2) tr[nt++] = cls[i];
                else va[nv++] = cls[i];
            }
        }
        dnas_free(cls);
        if (nt + nv != n) {
            dnas_free(tr);
            dnas_free(va);
            return dnas_fail(DNAS_ERR_INVALID_ARG,
                             "dnas_split_make: %d of %d labels are outside 0..%d", n - nt - nv,
                             n, d->classes - 1);
        }
        qsort(tr, (size_t)nt, sizeof(int), cmp_int);
        qsort(va, (size_t)nv, sizeof(int), cmp_int);
    }
    out->train = tr;
    out->n_train = nt;
    out->valid = va;
    out->n_valid = nv;
    return DNAS_OK;
oom:
    dnas_free(tr);
    dnas_free(va);
    dnas_free(cls);
    return DNAS_ERR_OOM;
}

void dnas_split_free(dnas_split *s) {
    if (!s) return;
    dnas_free(s->train);
    dnas_free(s->valid);
    memset(s, 0, sizeof *s);
}

/* ---- loader ---------------------------------------------------------------------------------- */
void dnas_loader_config_default(dnas_loader_config *c) {
    memset(c, 0, sizeof *c);
    c->batch = 64;
    c->drop_last = 0;
    c->shuffle = 1;
    c->augment = 1;
    c->prefetch = 1;
}

void dnas_loader_config_eval(dnas_loader_config *c, const dnas_cifar *d, int batch) {
    memset(c, 0, sizeof *c);
    c->data = d;
    c->batch = batch;
    c->prefetch = 1;
}

typedef struct {
    float *x, *vx;  /* (batch,32,32,3) */
    int *y, *vy;    /* (batch) */
    int n, epoch, step;
} slot_t;

/* The worker's one job: fill `slot` with the batch at (epoch, step). */
enum { JOB_NONE, JOB_PENDING, JOB_RUNNING, JOB_DONE };

struct dnas_loader {
    const dnas_cifar *data, *vdata;
    int *idx, n;        /* owned copy of the weight subset, in caller order */
    int *vidx, nv;      /* owned copy of the valid subset (nv = 0: none) */
    int batch, steps, shuffle, augment, prefetch, cutout;
    uint64_t seed;
    float lut[3][256], vlut[3][256]; /* pixel byte -> normalised value, per channel */

    int *perm, perm_epoch;  /* epoch order; touched only by whoever fills (worker or caller) */
    slot_t slot[2];
    int cur_epoch, cur_step;  /* position next() returns */

    pthread_t thread;
    int thread_live;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit, job, job_slot, job_epoch, job_step;
};

static void make_lut(float lut[3][256], dnas_cifar_kind kind, dnas_norm norm) {
    float mean[3], std[3];
    dnas_cifar_norm_as(kind, norm, mean, std);
    /* Same float32 operations as torchvision ToTensor (p/255) then Normalize ((t-m)/s). */
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 256; p++) lut[c][p] = ((float)p / 255.0f - mean[c]) / std[c];
}

/* One image: planar uint8 (3,32,32) -> NHWC floats (32,32,3), cropped at offset (dy, dx) of
 * the zero-padded image and optionally mirrored. Crop then flip, as torchvision's
 * RandomCrop(32, padding=4) -> RandomHorizontalFlip order: out(h,w) = padded(h+dy, w'+dx),
 * w' = flip ? 31-w : w. The padding is black pixels, normalised like any other pixel. */
static void put_image(float *dst, const uint8_t *src, const float lut[3][256], int dy, int dx,
                      int flip) {
    const int S = DNAS_CIFAR_SIDE, P = DNAS_CIFAR_PAD;
    for (int h = 0; h < S; h++) {
        int sh = h + dy - P;
        for (int w = 0; w < S; w++) {
            int sw = (flip ? S - 1 - w : w) + dx - P;
            float *o = dst + ((size_t)h * S + w) * 3;
            if (sh < 0 || sh >= S || sw < 0 || sw >= S) {
                o[0] = lut[0][0];
                o[1] = lut[1][0];
                o[2] = lut[2][0];
            } else {
                const uint8_t *s = src + sh * S + sw;
                o[0] = lut[0][s[0]];
                o[1] = lut[1][s[S * S]];
                o[2] = lut[2][s[2 * S * S]];
            }
        }
    }
}

static void put_augmented(const dnas_loader *l, float *dst, const dnas_cifar *d, int i,
                          const float lut[3][256], uint64_t stream, int epoch, int step, int j) {
    int dy = DNAS_CIFAR_PAD, dx = DNAS_CIFAR_PAD, flip = 0;
    if (l->augment) {
        uint64_t h = hash5(l->seed, stream, (uint64_t)epoch, (uint64_t)step, (uint64_t)j);
        dy = (int)below(mix64(h + 1), 2 * DNAS_CIFAR_PAD + 1);
        dx = (int)below(mix64(h + 2), 2 * DNAS_CIFAR_PAD + 1);
        flip = (int)(mix64(h + 3) >> 63);
    }
    put_image(dst, d->pixels + (size_t)i * DNAS_CIFAR_PIXELS, lut, dy, dx, flip);
}

void dnas_loader_cutout_centre(const dnas_loader *l, int epoch, int step, int j, int *cy,
                               int *cx) {
    uint64_t h = hash5(l->seed, STREAM_CUTOUT, (uint64_t)epoch, (uint64_t)step, (uint64_t)j);
    *cy = (int)below(mix64(h + 1), DNAS_CIFAR_SIDE);
    *cx = (int)below(mix64(h + 2), DNAS_CIFAR_SIDE);
}

/* Cutout on one normalised NHWC image: quark0's Cutout(length) zeroes [c - L/2, c + L/2) in
 * rows and columns, clipped to the image (so an odd L gives an L-1 square, as there). */
static void put_cutout(const dnas_loader *l, float *img, int epoch, int step, int j) {
    const int S = DNAS_CIFAR_SIDE, half = l->cutout / 2;
    int cy, cx;
    dnas_loader_cutout_centre(l, epoch, step, j, &cy, &cx);
    int y0 = cy - half < 0 ? 0 : cy - half, y1 = cy + half > S ? S : cy + half;
    int x0 = cx - half < 0 ? 0 : cx - half, x1 = cx + half > S ? S : cx + half;
    for (int h = y0; h < y1; h++)
        for (int w = x0; w < x1; w++) {
            float *o = img + ((size_t)h * S + w) * 3;
            o[0] = o[1] = o[2] = 0.0f;
        }
}

/* The whole batch at (epoch, step): a pure function of the configuration and the position. */
static void fill(dnas_loader *l, slot_t *s, int epoch, int step) {
    const int *order = l->idx;
    if (l->shuffle) {
        if (l->perm_epoch != epoch) {
            memcpy(l->perm, l->idx, (size_t)l->n * sizeof(int));
            shuffle_ints(l->perm, l->n, l->seed, STREAM_SHUFFLE, (uint64_t)epoch);
            l->perm_epoch = epoch;
        }
        order = l->perm;
    }
    const int start = step * l->batch;
    const int n = l->n - start < l->batch ? l->n - start : l->batch;
    for (int j = 0; j < n; j++) {
        int i = order[start + j];
        put_augmented(l, s->x + (size_t)j * DNAS_CIFAR_PIXELS, l->data, i, l->lut,
                      STREAM_AUG_TRAIN, epoch, step, j);
        if (l->cutout) put_cutout(l, s->x + (size_t)j * DNAS_CIFAR_PIXELS, epoch, step, j);
        s->y[j] = l->data->labels[i];
    }
    for (int j = 0; l->nv && j < n; j++) {
        /* AutoDL SearchDataset: each train item gets a uniformly random valid item. */
        uint64_t h = hash5(l->seed, STREAM_PICK, (uint64_t)epoch, (uint64_t)step, (uint64_t)j);
        int i = l->vidx[below(h, (uint32_t)l->nv)];
        put_augmented(l, s->vx + (size_t)j * DNAS_CIFAR_PIXELS, l->vdata, i, l->vlut,
                      STREAM_AUG_VALID, epoch, step, j);
        s->vy[j] = l->vdata->labels[i];
    }
    s->n = n;
    s->epoch = epoch;
    s->step = step;
}

static void *worker(void *arg) {
    dnas_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && l->job != JOB_PENDING) pthread_cond_wait(&l->cv, &l->mu);
        if (l->quit) break;
        l->job = JOB_RUNNING;
        int s = l->job_slot, e = l->job_epoch, st = l->job_step;
        pthread_mutex_unlock(&l->mu);
        fill(l, &l->slot[s], e, st);
        pthread_mutex_lock(&l->mu);
        l->job = JOB_DONE;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Copies a subset, checking it against the data set; NULL means all images. */
static dnas_status take_indices(const dnas_cifar *d, const int *idx, int n, const char *what,
                                int **out, int *n_out) {
    if (!d->pixels || !d->labels || d->n <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "loader: %s data set is empty or not loaded", what);
    if (idx && n <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "loader: %s index list has %d entries", what, n);
    if (!idx) n = d->n;
    int *v = dnas_alloc((size_t)n * sizeof(int), "loader index list");
    if (!v) return DNAS_ERR_OOM;
    for (int i = 0; i < n; i++) {
        v[i] = idx ? idx[i] : i;
        if (v[i] < 0 || v[i] >= d->n) {
            int bad = v[i];
            dnas_free(v);
            return dnas_fail(DNAS_ERR_INVALID_ARG,
                             "loader: %s index %d (entry %d) is outside the data set (0..%d)",
                             what, bad, i, d->n - 1);
        }
    }
    *out = v;
    *n_out = n;
    return DNAS_OK;
}

static void loader_free(dnas_loader *l) {
    for (int k = 0; k < 2; k++) {
        dnas_free(l->slot[k].x);
        dnas_free(l->slot[k].y);
        dnas_free(l->slot[k].vx);
        dnas_free(l->slot[k].vy);
    }
    dnas_free(l->idx);
    dnas_free(l->vidx);
    dnas_free(l->perm);
    dnas_free(l);
}

dnas_status dnas_loader_create(const dnas_loader_config *c, dnas_loader **out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_loader_create: out is NULL");
    *out = NULL;
    if (!c || !c->data) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_loader_create: no data set");
    if (c->batch <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "loader: batch must be > 0 (got %d)", c->batch);
    if (c->cutout < 0 || c->cutout > 2 * DNAS_CIFAR_SIDE)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "loader: cutout must lie in 0..%d (got %d)",
                         2 * DNAS_CIFAR_SIDE, c->cutout);
    if (c->norm != DNAS_NORM_AUTODL && c->norm != DNAS_NORM_DARTS)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "loader: unknown normalisation %d", (int)c->norm);

    dnas_loader *l = dnas_calloc(sizeof *l, "loader");
    if (!l) return DNAS_ERR_OOM;
    l->data = c->data;
    l->vdata = c->valid_data;
    l->batch = c->batch;
    l->shuffle = c->shuffle != 0;
    l->augment = c->augment != 0;
    l->prefetch = c->prefetch != 0;
    l->cutout = c->cutout;
    l->seed = c->seed;
    l->perm_epoch = -1;
    dnas_status st = take_indices(c->data, c->idx, c->n_idx, "weight", &l->idx, &l->n);
    if (st == DNAS_OK && c->valid_data)
        st = take_indices(c->valid_data, c->valid_idx, c->n_valid_idx, "valid", &l->vidx, &l->nv);
    if (st != DNAS_OK) {
        loader_free(l);
        return st;
    }
    l->steps = c->drop_last ? l->n / l->batch : (l->n + l->batch - 1) / l->batch;
    if (l->steps == 0) {
        int n = l->n;
        loader_free(l);
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "loader: drop_last with %d images and batch %d leaves no batch", n,
                         c->batch);
    }
    make_lut(l->lut, c->data->kind, c->norm);
    if (l->vdata) make_lut(l->vlut, l->vdata->kind, c->norm);

    const size_t fx = (size_t)l->batch * DNAS_CIFAR_PIXELS * sizeof(float);
    const size_t fy = (size_t)l->batch * sizeof(int);
    int ok = (l->perm = dnas_alloc((size_t)l->n * sizeof(int), "loader permutation")) != NULL;
    for (int k = 0; ok && k < (l->prefetch ? 2 : 1); k++) {
        ok = (l->slot[k].x = dnas_alloc(fx, "loader batch images")) &&
             (l->slot[k].y = dnas_alloc(fy, "loader batch labels"));
        if (ok && l->nv)
            ok = (l->slot[k].vx = dnas_alloc(fx, "loader valid images")) &&
                 (l->slot[k].vy = dnas_alloc(fy, "loader valid labels"));
    }
    if (!ok) {
        loader_free(l);
        return DNAS_ERR_OOM;
    }
    if (l->prefetch) {
        if (pthread_mutex_init(&l->mu, NULL) != 0) {
            loader_free(l);
            return dnas_fail(DNAS_ERR_INTERNAL, "loader: pthread_mutex_init failed");
        }
        if (pthread_cond_init(&l->cv, NULL) != 0) {
            pthread_mutex_destroy(&l->mu);
            loader_free(l);
            return dnas_fail(DNAS_ERR_INTERNAL, "loader: pthread_cond_init failed");
        }
        int rc = pthread_create(&l->thread, NULL, worker, l);
        if (rc != 0) {
            pthread_cond_destroy(&l->cv);
            pthread_mutex_destroy(&l->mu);
            loader_free(l);
            return dnas_fail(DNAS_ERR_INTERNAL, "loader: cannot start the prefetch thread (%s)",
                             strerror(rc));
        }
        l->thread_live = 1;
    }
    *out = l;
    return DNAS_OK;
}

int dnas_loader_steps(const dnas_loader *l) { return l ? l->steps : 0; }

dnas_status dnas_loader_seek(dnas_loader *l, int epoch, int step) {
    if (!l) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_loader_seek: loader is NULL");
    if (epoch < 0 || step < 0 || step >= l->steps)
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "loader: cannot seek to epoch %d step %d (epochs >= 0, steps 0..%d)",
                         epoch, step, l->steps - 1);
    /* A prefetched batch for another position is simply not used: next() notices. */
    l->cur_epoch = epoch;
    l->cur_step = step;
    return DNAS_OK;
}

/* Caller holds mu and no job is running. */
static void submit(dnas_loader *l, int slot, int epoch, int step) {
    l->job_slot = slot;
    l->job_epoch = epoch;
    l->job_step = step;
    l->job = JOB_PENDING;
    pthread_cond_broadcast(&l->cv);
}

dnas_status dnas_loader_next(dnas_loader *l, dnas_loader_batch *out) {
    if (!l || !out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_loader_next: NULL argument");
    const int e = l->cur_epoch, st = l->cur_step;
    int ne = e, nst = st + 1;
    if (nst == l->steps) {
        ne = e + 1;
        nst = 0;
    }
    int k = 0;
    if (!l->prefetch) {
        fill(l, &l->slot[0], e, st);
    } else {
        pthread_mutex_lock(&l->mu);
        if (l->job != JOB_NONE && (l->job_epoch != e || l->job_step != st)) {
            /* Prefetched the wrong position (after a seek): drop it once its writer is done. */
            if (l->job == JOB_PENDING) l->job = JOB_NONE;
            while (l->job == JOB_RUNNING) pthread_cond_wait(&l->cv, &l->mu);
            l->job = JOB_NONE;
        }
        if (l->job == JOB_NONE) submit(l, 0, e, st);
        while (l->job != JOB_DONE) pthread_cond_wait(&l->cv, &l->mu);
        k = l->job_slot;
        /* The caller's previous batch (the other slot) is released by this call: refill it. */
        submit(l, k ^ 1, ne, nst);
        pthread_mutex_unlock(&l->mu);
    }
    const slot_t *s = &l->slot[k];
    memset(out, 0, sizeof *out);
    out->epoch = s->epoch;
    out->step = s->step;
    out->last = s->step == l->steps - 1;
    out->train.n = s->n;
    out->train.x = s->x;
    out->train.y = s->y;
    if (l->nv) {
        out->valid.n = s->n;
        out->valid.x = s->vx;
        out->valid.y = s->vy;
    }
    l->cur_epoch = ne;
    l->cur_step = nst;
    return DNAS_OK;
}

void dnas_loader_destroy(dnas_loader *l) {
    if (!l) return;
    if (l->thread_live) {
        pthread_mutex_lock(&l->mu);
        l->quit = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
    }
    loader_free(l);
}
