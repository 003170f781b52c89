/* CIFAR readers, the NB201 split and the batch loader, on the decoded CIFAR-10
 * ($BUILD/data/cifar-10-batches-bin, written by `make testdata`). */
#include "test.h"
#include "data/data.h"
#include <stdint.h>
#include <unistd.h>

static dnas_cifar train, test;
static int have_data;
static char c10dir[1024];

static void test_load(void) {
    snprintf(c10dir, sizeof c10dir, "%s/data/cifar-10-batches-bin", t_build_dir());
    dnas_status st = dnas_cifar_load(c10dir, DNAS_CIFAR10, DNAS_PART_TRAIN, &train);
    CHECK(st == DNAS_OK, "%s", dnas_last_error());
    if (st != DNAS_OK) return;
    st = dnas_cifar_load(c10dir, DNAS_CIFAR10, DNAS_PART_TEST, &test);
    CHECK(st == DNAS_OK, "%s", dnas_last_error());
    if (st != DNAS_OK) return;
    have_data = 1;
    CHECK(train.n == 50000 && test.n == 10000, "counts %d %d", train.n, test.n);
    CHECK(train.classes == 10 && train.coarse == NULL, "classes %d", train.classes);
    int h[10] = {0}, ht[10] = {0};
    for (int i = 0; i < train.n; i++) h[train.labels[i]]++;
    for (int i = 0; i < test.n; i++) ht[test.labels[i]]++;
    for (int c = 0; c < 10; c++)
        CHECK(h[c] == 5000 && ht[c] == 1000, "class %d: %d train, %d test", c, h[c], ht[c]);
    /* Official order: data_batch_1 starts frog, truck, truck, deer; test_batch cat, ship. */
    CHECK(train.labels[0] == 6 && train.labels[1] == 9 && train.labels[2] == 9 &&
              train.labels[3] == 4,
          "first train labels %d %d %d %d", train.labels[0], train.labels[1], train.labels[2],
          train.labels[3]);
    CHECK(test.labels[0] == 3 && test.labels[1] == 8, "first test labels %d %d", test.labels[0],
          test.labels[1]);
}

/* ---- file validation ------------------------------------------------------------------------ */
static char tmpdir[64];

static int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n;
}

/* The test batch as a byte image of the file (label + planes per record). */
static unsigned char *test_batch_bytes(void) {
    unsigned char *b = malloc((size_t)10000 * 3073);
    if (!b) return NULL;
    for (int i = 0; i < 10000; i++) {
        b[(size_t)i * 3073] = (unsigned char)test.labels[i];
        memcpy(b + (size_t)i * 3073 + 1, test.pixels + (size_t)i * 3072, 3072);
    }
    return b;
}

static void expect_fail(const char *dir, dnas_cifar_kind kind, dnas_cifar_part part,
                        dnas_status want, const char *file, const char *needle) {
    dnas_cifar d;
    dnas_clear_error();
    dnas_status st = dnas_cifar_load(dir, kind, part, &d);
    const char *m = dnas_last_error();
    CHECK(st == want, "status %s, want %s: %s", dnas_status_string(st), dnas_status_string(want),
          m);
    CHECK(d.pixels == NULL && d.labels == NULL && d.n == 0, "output not cleared on failure");
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    CHECK(strstr(m, path) != NULL, "message does not name %s: %s", path, m);
    CHECK(strstr(m, needle) != NULL, "message lacks \"%s\": %s", needle, m);
    CHECK(strchr(m, '\n') == NULL, "message has a newline: %s", m);
}

static void test_bad_files(void) {
    if (!have_data) { CHECK(0, "no data"); return; }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dnas_test_data_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp");
    unsigned char *b = test_batch_bytes();
    if (!b) { CHECK(0, "malloc"); return; }
    char path[256];
    snprintf(path, sizeof path, "%s/test_batch.bin", tmpdir);

    expect_fail(tmpdir, DNAS_CIFAR10, DNAS_PART_TEST, DNAS_ERR_IO, "test_batch.bin", "cannot open");
    expect_fail(tmpdir, DNAS_CIFAR10, DNAS_PART_TRAIN, DNAS_ERR_IO, "data_batch_1.bin", "cannot open");

    /* truncated copy */
    CHECK(write_bytes(path, b, (size_t)3073 * 5000 + 1000), "write %s", path);
    expect_fail(tmpdir, DNAS_CIFAR10, DNAS_PART_TEST, DNAS_ERR_FORMAT, "test_batch.bin",
                "not a multiple");
    /* whole records but too few */
    CHECK(write_bytes(path, b, (size_t)3073 * 9999), "write %s", path);
    expect_fail(tmpdir, DNAS_CIFAR10, DNAS_PART_TEST, DNAS_ERR_FORMAT, "test_batch.bin",
                "9999 records, expected 10000");
    /* bad label byte in record 1234 */
    b[(size_t)1234 * 3073] = 10;
    CHECK(write_bytes(path, b, (size_t)3073 * 10000), "write %s", path);
    expect_fail(tmpdir, DNAS_CIFAR10, DNAS_PART_TEST, DNAS_ERR_FORMAT, "test_batch.bin",
                "record 1234 has label 10");
    b[(size_t)1234 * 3073] = (unsigned char)test.labels[1234];
    /* the intact copy loads */
    CHECK(write_bytes(path, b, (size_t)3073 * 10000), "write %s", path);
    dnas_cifar d;
    CHECK(dnas_cifar_load(tmpdir, DNAS_CIFAR10, DNAS_PART_TEST, &d) == DNAS_OK, "%s",
          dnas_last_error());
    CHECK(d.n == 10000 && memcmp(d.pixels, test.pixels, (size_t)10000 * 3072) == 0 &&
              memcmp(d.labels, test.labels, 10000 * sizeof(int)) == 0,
          "copy differs");
    dnas_cifar_free(&d);
    remove(path);
    free(b);

    /* CIFAR-100 layout (coarse, fine, pixels), synthetic test.bin */
    unsigned char *c = calloc((size_t)10000, 3074);
    if (!c) { CHECK(0, "calloc"); return; }
    for (int i = 0; i < 10000; i++) {
        c[(size_t)i * 3074] = (unsigned char)(i % 20);
        c[(size_t)i * 3074 + 1] = (unsigned char)(i % 100);
        c[(size_t)i * 3074 + 2 + (i % 3072)] = 200;
    }
    snprintf(path, sizeof path, "%s/test.bin", tmpdir);
    CHECK(write_bytes(path, c, (size_t)3074 * 10000), "write %s", path);
    CHECK(dnas_cifar_load(tmpdir, DNAS_CIFAR100, DNAS_PART_TEST, &d) == DNAS_OK, "%s",
          dnas_last_error());
    CHECK(d.n == 10000 && d.classes == 100 && d.coarse && d.labels[123] == 23 &&
              d.coarse[123] == 3 && d.pixels[(size_t)123 * 3072 + 123] == 200,
          "CIFAR-100 record layout");
    dnas_cifar_free(&d);
    c[(size_t)77 * 3074 + 1] = 100;
    CHECK(write_bytes(path, c, (size_t)3074 * 10000), "write %s", path);
    expect_fail(tmpdir, DNAS_CIFAR100, DNAS_PART_TEST, DNAS_ERR_FORMAT, "test.bin",
                "record 77 has label 100");
    c[(size_t)77 * 3074 + 1] = 7;
    c[(size_t)78 * 3074] = 20;
    CHECK(write_bytes(path, c, (size_t)3074 * 10000), "write %s", path);
    expect_fail(tmpdir, DNAS_CIFAR100, DNAS_PART_TEST, DNAS_ERR_FORMAT, "test.bin",
                "coarse label 20");
    /* a CIFAR-10 file read as CIFAR-100 is refused by its size */
    CHECK(write_bytes(path, c, (size_t)3073 * 10000), "write %s", path);
    expect_fail(tmpdir, DNAS_CIFAR100, DNAS_PART_TEST, DNAS_ERR_FORMAT, "test.bin",
                "not a multiple");
    expect_fail(tmpdir, DNAS_CIFAR100, DNAS_PART_TRAIN, DNAS_ERR_IO, "train.bin", "cannot open");
    remove(path);
    free(c);
    rmdir(tmpdir);
}

/* ---- split ---------------------------------------------------------------------------------- */
static dnas_split sp;

static void test_split(void) {
    if (!have_data) { CHECK(0, "no data"); return; }
    CHECK(dnas_split_make(&train, DNAS_SPLIT_STRATIFIED, 0, &sp) == DNAS_OK, "%s",
          dnas_last_error());
    CHECK(sp.n_train == 25000 && sp.n_valid == 25000, "sizes %d %d", sp.n_train, sp.n_valid);
    char *side = calloc(50000, 1);
    int ht[10] = {0}, hv[10] = {0}, sorted = 1;
    for (int i = 0; i < sp.n_train; i++) {
        side[sp.train[i]] |= 1;
        ht[train.labels[sp.train[i]]]++;
        if (i && sp.train[i] <= sp.train[i - 1]) sorted = 0;
    }
    for (int i = 0; i < sp.n_valid; i++) {
        side[sp.valid[i]] |= 2;
        hv[train.labels[sp.valid[i]]]++;
        if (i && sp.valid[i] <= sp.valid[i - 1]) sorted = 0;
    }
    int both = 0, neither = 0;
    for (int i = 0; i < 50000; i++) {
        both += side[i] == 3;
        neither += side[i] == 0;
    }
    CHECK(both == 0 && neither == 0, "%d in both halves, %d in neither", both, neither);
    CHECK(sorted, "index lists not strictly ascending");
    for (int c = 0; c < 10; c++)
        CHECK(ht[c] == 2500 && hv[c] == 2500, "class %d: %d / %d", c, ht[c], hv[c]);
    free(side);

    dnas_split a, b;
    CHECK(dnas_split_make(&train, DNAS_SPLIT_STRATIFIED, 0, &a) == DNAS_OK &&
              dnas_split_make(&train, DNAS_SPLIT_STRATIFIED, 1, &b) == DNAS_OK,
          "%s", dnas_last_error());
    CHECK(memcmp(a.train, sp.train, 25000 * sizeof(int)) == 0, "same seed, different split");
    CHECK(memcmp(b.train, sp.train, 25000 * sizeof(int)) != 0, "seed ignored");
    dnas_split_free(&a);
    dnas_split_free(&b);
    CHECK(a.train == NULL && a.n_train == 0, "split_free does not clear");
    CHECK(dnas_split_make(&train, DNAS_SPLIT_HALVES, 99, &a) == DNAS_OK, "%s", dnas_last_error());
    CHECK(a.n_train == 25000 && a.n_valid == 25000 && a.train[0] == 0 && a.train[24999] == 24999 &&
              a.valid[0] == 25000 && a.valid[24999] == 49999,
          "halves split");
    dnas_split_free(&a);
}

/* ---- loader helpers ------------------------------------------------------------------------- */
static float lut10[3][256];

static void make_lut10(void) {
    float m[3], s[3];
    dnas_cifar_norm(DNAS_CIFAR10, m, s);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 256; p++) lut10[c][p] = ((float)p / 255.0f - m[c]) / s[c];
}

/* NHWC normalised floats -> planar bytes; 0 if some value is not exactly a normalised byte. */
static int unnorm(const float *x, uint8_t *out) {
    float m[3], s[3];
    dnas_cifar_norm(DNAS_CIFAR10, m, s);
    for (int h = 0; h < 32; h++)
        for (int w = 0; w < 32; w++)
            for (int c = 0; c < 3; c++) {
                float v = x[(h * 32 + w) * 3 + c];
                int p = (int)lrint(((double)v * s[c] + m[c]) * 255.0), found = -1;
                for (int q = p - 1; q <= p + 1; q++)
                    if (q >= 0 && q < 256 && lut10[c][q] == v) found = q;
                if (found < 0) return 0;
                out[c * 1024 + h * 32 + w] = (uint8_t)found;
            }
    return 1;
}

/* Image fingerprint (FNV-style over 64-bit words, with a final mix). */
static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int same_batch(const dnas_loader_batch *a, const dnas_loader_batch *b) {
    if (a->epoch != b->epoch || a->step != b->step || a->last != b->last ||
        a->train.n != b->train.n || a->valid.n != b->valid.n)
        return 0;
    size_t nx = (size_t)a->train.n * 3072 * sizeof(float), ny = (size_t)a->train.n * sizeof(int);
    if (memcmp(a->train.x, b->train.x, nx) || memcmp(a->train.y, b->train.y, ny)) return 0;
    if (a->valid.n && (memcmp(a->valid.x, b->valid.x, nx) || memcmp(a->valid.y, b->valid.y, ny)))
        return 0;
    return 1;
}

/* A search loader over the split, batch 64. */
static dnas_loader *search_loader(uint64_t seed, int prefetch, int augment, int drop_last) {
    dnas_loader_config c;
    dnas_loader_config_default(&c);
    c.data = &train;
    c.idx = sp.train;
    c.n_idx = sp.n_train;
    c.valid_data = &train;
    c.valid_idx = sp.valid;
    c.n_valid_idx = sp.n_valid;
    c.seed = seed;
    c.prefetch = prefetch;
    c.augment = augment;
    c.drop_last = drop_last;
    dnas_loader *l = NULL;
    dnas_status st = dnas_loader_create(&c, &l);
    CHECK(st == DNAS_OK, "%s", dnas_last_error());
    return l;
}

/* Copies of a batch, so two loaders' outputs can be compared after further calls. */
typedef struct {
    dnas_loader_batch b;
    float *x, *vx;
    int *y, *vy;
} batch_copy;

static void keep(batch_copy *k, const dnas_loader_batch *b) {
    size_t nx = (size_t)b->train.n * 3072 * sizeof(float), ny = (size_t)b->train.n * sizeof(int);
    k->b = *b;
    k->x = malloc(nx ? nx : 1);
    k->y = malloc(ny ? ny : 1);
    memcpy(k->x, b->train.x, nx);
    memcpy(k->y, b->train.y, ny);
    k->b.train.x = k->x;
    k->b.train.y = k->y;
    k->vx = NULL;
    k->vy = NULL;
    if (b->valid.n) {
        k->vx = malloc(nx);
        k->vy = malloc(ny);
        memcpy(k->vx, b->valid.x, nx);
        memcpy(k->vy, b->valid.y, ny);
        k->b.valid.x = k->vx;
        k->b.valid.y = k->vy;
    }
}

static void unkeep(batch_copy *k) {
    free(k->x);
    free(k->y);
    free(k->vx);
    free(k->vy);
}

/* ---- loader tests --------------------------------------------------------------------------- */
static void test_geometry(void) {
    if (!have_data || !sp.train) { CHECK(0, "no data"); return; }
    dnas_loader *l = search_loader(1, 0, 1, 0);
    if (!l) return;
    CHECK(dnas_loader_steps(l) == 391, "steps %d", dnas_loader_steps(l));
    dnas_loader_batch b;
    CHECK(dnas_loader_next(l, &b) == DNAS_OK && b.epoch == 0 && b.step == 0 && b.train.n == 64,
          "first batch");
    CHECK(dnas_loader_seek(l, 0, 385) == DNAS_OK, "%s", dnas_last_error());
    for (int s = 385; s < 392; s++) {
        CHECK(dnas_loader_next(l, &b) == DNAS_OK, "%s", dnas_last_error());
        int want_n = s == 390 ? 25000 - 390 * 64 : 64;
        int we = s == 391 ? 1 : 0, ws = s == 391 ? 0 : s;
        if (b.train.n != want_n || b.valid.n != want_n || b.epoch != we || b.step != ws ||
            b.last != (s == 390)) {
            CHECK(0, "call %d: n %d/%d epoch %d step %d last %d", s, b.train.n, b.valid.n,
                  b.epoch, b.step, b.last);
            break;
        }
    }
    dnas_loader_destroy(l);
    l = search_loader(1, 0, 1, 1);
    if (!l) return;
    CHECK(dnas_loader_steps(l) == 390, "drop_last steps %d", dnas_loader_steps(l));
    CHECK(dnas_loader_seek(l, 0, 389) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_loader_next(l, &b) == DNAS_OK && b.train.n == 64 && b.last, "drop_last last batch");
    CHECK(dnas_loader_next(l, &b) == DNAS_OK && b.epoch == 1 && b.step == 0, "wrap");
    CHECK(dnas_loader_seek(l, 0, 390) == DNAS_ERR_INVALID_ARG, "seek past the end accepted");
    CHECK(strstr(dnas_last_error(), "step 390"), "%s", dnas_last_error());
    CHECK(dnas_loader_seek(l, -1, 0) == DNAS_ERR_INVALID_ARG, "negative epoch accepted");
    dnas_loader_destroy(l);
}

static void test_determinism(void) {
    if (!have_data || !sp.train) { CHECK(0, "no data"); return; }
    dnas_loader *a = search_loader(7, 0, 1, 0), *b = search_loader(7, 0, 1, 0);
    dnas_loader *c = search_loader(8, 0, 1, 0);
    if (!a || !b || !c) return;
    dnas_loader_batch ba, bb, bc;
    batch_copy k;
    CHECK(dnas_loader_seek(a, 3, 17) == DNAS_OK && dnas_loader_next(a, &ba) == DNAS_OK, "a");
    keep(&k, &ba);
    CHECK(dnas_loader_seek(b, 3, 17) == DNAS_OK && dnas_loader_next(b, &bb) == DNAS_OK, "b");
    CHECK(same_batch(&k.b, &bb), "same (seed, epoch, step) gave different batches");
    CHECK(dnas_loader_next(b, &bb) == DNAS_OK && bb.step == 18, "advance");
    CHECK(memcmp(k.b.train.x, bb.train.x, 64 * 3072 * sizeof(float)) != 0 &&
              memcmp(k.b.valid.x, bb.valid.x, 64 * 3072 * sizeof(float)) != 0,
          "different step gave the same images");
    CHECK(dnas_loader_seek(b, 4, 17) == DNAS_OK && dnas_loader_next(b, &bb) == DNAS_OK &&
              memcmp(k.b.train.x, bb.train.x, 64 * 3072 * sizeof(float)) != 0,
          "different epoch gave the same images");
    CHECK(dnas_loader_seek(c, 3, 17) == DNAS_OK && dnas_loader_next(c, &bc) == DNAS_OK &&
              memcmp(k.b.train.x, bc.train.x, 64 * 3072 * sizeof(float)) != 0,
          "different seed gave the same images");
    unkeep(&k);

    /* Resume: iterating from the start and seeking after a "restart" agree bit for bit. */
    CHECK(dnas_loader_seek(a, 0, 0) == DNAS_OK, "seek");
    for (int s = 0; s < 391 + 9; s++) dnas_loader_next(a, &ba);
    CHECK(dnas_loader_next(a, &ba) == DNAS_OK && ba.epoch == 1 && ba.step == 9, "position");
    dnas_loader_destroy(b);
    b = search_loader(7, 0, 1, 0);
    CHECK(b && dnas_loader_seek(b, 1, 9) == DNAS_OK && dnas_loader_next(b, &bb) == DNAS_OK, "b");
    CHECK(b && same_batch(&ba, &bb), "resumed batch differs");
    dnas_loader_destroy(a);
    dnas_loader_destroy(b);
    dnas_loader_destroy(c);
}

/* Without augmentation every output image is a data set image: one epoch covers each image of
 * the train half exactly once with its label, and valid images come from the valid half. */
static void test_epoch_content(void) {
    if (!have_data || !sp.train) { CHECK(0, "no data"); return; }
    make_lut10();
    uint64_t *ht = malloc(25000 * sizeof(uint64_t)), *hv = malloc(25000 * sizeof(uint64_t));
    uint64_t *got = malloc(25000 * sizeof(uint64_t));
    if (!ht || !hv || !got) { CHECK(0, "malloc"); return; }
    /* (hash with the label folded in) so a wrong label shows up as a missing image */
    for (int i = 0; i < 25000; i++) {
        ht[i] = fnv(train.pixels + (size_t)sp.train[i] * 3072, 3072) * 31 + (uint64_t)train.labels[sp.train[i]];
        hv[i] = fnv(train.pixels + (size_t)sp.valid[i] * 3072, 3072) * 31 + (uint64_t)train.labels[sp.valid[i]];
    }
    qsort(ht, 25000, sizeof(uint64_t), cmp_u64);
    qsort(hv, 25000, sizeof(uint64_t), cmp_u64);
    dnas_loader *l = search_loader(3, 1, 0, 0);
    if (!l) return;
    CHECK(dnas_loader_seek(l, 2, 0) == DNAS_OK, "seek");
    int n = 0, bad = 0, outside = 0, vlab[10] = {0};
    uint8_t img[3072];
    dnas_loader_batch b;
    do {
        if (dnas_loader_next(l, &b) != DNAS_OK) { CHECK(0, "%s", dnas_last_error()); break; }
        for (int j = 0; j < b.train.n; j++) {
            if (!unnorm(b.train.x + (size_t)j * 3072, img)) { bad++; continue; }
            if (n < 25000) got[n++] = fnv(img, 3072) * 31 + (uint64_t)b.train.y[j];
            vlab[b.valid.y[j]]++;
            if (j % 4) continue; /* membership of a quarter of the valid images is enough */
            if (!unnorm(b.valid.x + (size_t)j * 3072, img)) { bad++; continue; }
            uint64_t h = fnv(img, 3072) * 31 + (uint64_t)b.valid.y[j];
            if (!bsearch(&h, hv, 25000, sizeof(uint64_t), cmp_u64)) outside++;
        }
    } while (!b.last);
    CHECK(bad == 0, "%d images are not exact normalised bytes", bad);
    CHECK(outside == 0, "%d valid images (with label) not in the valid half", outside);
    CHECK(n == 25000, "epoch had %d images", n);
    qsort(got, (size_t)n, sizeof(uint64_t), cmp_u64);
    CHECK(n == 25000 && memcmp(got, ht, 25000 * sizeof(uint64_t)) == 0,
          "epoch is not a permutation of the train half");
    for (int c = 0; c < 10; c++)  /* 25000 uniform draws over a balanced half: 2500 +- 50 */
        CHECK(vlab[c] > 2250 && vlab[c] < 2750, "valid class %d drawn %d times", c, vlab[c]);

    /* The next epoch has a different order. */
    CHECK(dnas_loader_next(l, &b) == DNAS_OK && b.epoch == 3 && unnorm(b.train.x, img), "next");
    uint64_t first3 = fnv(img, 3072);
    CHECK(dnas_loader_seek(l, 2, 0) == DNAS_OK && dnas_loader_next(l, &b) == DNAS_OK &&
              unnorm(b.train.x, img) && fnv(img, 3072) != first3,
          "epochs 2 and 3 start with the same image");
    dnas_loader_destroy(l);
    free(ht);
    free(hv);
    free(got);
}

/* Per-channel mean / std over `pixels` NHWC pixels, skipping those where all three channels
 * hold the normalised value of a black pad pixel when skip_pad is set; returns the skipped
 * fraction. */
static double channel_stats(const float *x, size_t pixels, int skip_pad, double mean[3],
                            double sd[3]) {
    double s[3] = {0}, q[3] = {0};
    size_t used = 0;
    for (size_t p = 0; p < pixels; p++) {
        const float *v = x + p * 3;
        if (skip_pad && v[0] == lut10[0][0] && v[1] == lut10[1][0] && v[2] == lut10[2][0])
            continue;
        used++;
        for (int c = 0; c < 3; c++) {
            s[c] += v[c];
            q[c] += (double)v[c] * v[c];
        }
    }
    for (int c = 0; c < 3; c++) {
        mean[c] = s[c] / (double)used;
        sd[c] = sqrt(q[c] / (double)used - mean[c] * mean[c]);
    }
    return 1.0 - (double)used / (double)pixels;
}

static void test_normalisation(void) {
    if (!have_data || !sp.train) { CHECK(0, "no data"); return; }
    make_lut10();
    dnas_loader *l = search_loader(11, 1, 1, 0);
    if (!l) return;
    dnas_loader_batch b;
    /* Augmented batches: the zero padding (normalised like any black pixel, as torchvision
     * pads before Normalize) covers 1-(1-20/9/32)^2 = 13.4% of the pixels on average and
     * pulls the plain mean to about -0.27; the image pixels themselves are ~N(0,1). */
    for (int s = 0; s < 3; s++) {
        CHECK(dnas_loader_next(l, &b) == DNAS_OK, "%s", dnas_last_error());
        const float *xs[2] = {b.train.x, b.valid.x};
        for (int t = 0; t < 2; t++) {
            double m[3], sd[3], am[3], asd[3];
            double pad = channel_stats(xs[t], (size_t)b.train.n * 1024, 1, m, sd);
            channel_stats(xs[t], (size_t)b.train.n * 1024, 0, am, asd);
            CHECK(pad > 0.08 && pad < 0.2, "%s batch %d: pad fraction %.3f",
                  t ? "valid" : "train", s, pad);
            for (int c = 0; c < 3; c++) {
                CHECK(fabs(m[c]) < 0.25 && sd[c] > 0.75 && sd[c] < 1.25,
                      "%s batch %d channel %d: image pixels mean %.3f std %.3f",
                      t ? "valid" : "train", s, c, m[c], sd[c]);
                CHECK(am[c] > -0.5 && am[c] < -0.05, "%s batch %d channel %d: mean %.3f",
                      t ? "valid" : "train", s, c, am[c]);
            }
        }
    }
    dnas_loader_destroy(l);

    /* Whole test set without augmentation: close to 0 / 1 (the constants are CIFAR-10's). */
    dnas_loader_config c;
    dnas_loader_config_eval(&c, &test, 10000);
    CHECK(dnas_loader_create(&c, &l) == DNAS_OK, "%s", dnas_last_error());
    if (!l) return;
    CHECK(dnas_loader_next(l, &b) == DNAS_OK && b.train.n == 10000 && b.valid.n == 0 &&
              b.valid.x == NULL,
          "eval batch");
    double m[3], sd[3];
    channel_stats(b.train.x, (size_t)10000 * 1024, 0, m, sd);
    for (int k = 0; k < 3; k++)
        CHECK(fabs(m[k]) < 0.05 && fabs(sd[k] - 1) < 0.05, "test set channel %d: mean %.4f std %.4f",
              k, m[k], sd[k]);
    dnas_loader_destroy(l);
}

/* Augmentation semantics on a one-image data set: every output is one of the 9x9x2 crops /
 * flips of the image zero-padded by 4 (torchvision RandomCrop(32, 4) then horizontal flip), and
 * all of them occur with the right frequencies. */
static void test_augmentation(void) {
    make_lut10();
    uint8_t px[3072];
    uint32_t r = 12345;
    for (int i = 0; i < 3072; i++) {
        r = r * 1664525u + 1013904223u;
        px[i] = (uint8_t)(r >> 24);
    }
    int label = 7;
    dnas_cifar one = {DNAS_CIFAR10, 1, 10, px, &label, NULL};
    /* The 162 candidates, built literally: pad to 40x40, crop, flip, normalise. */
    static float cand[162][3072];
    for (int dy = 0; dy < 9; dy++)
        for (int dx = 0; dx < 9; dx++)
            for (int f = 0; f < 2; f++) {
                uint8_t pad[3][40][40];
                memset(pad, 0, sizeof pad);
                for (int c = 0; c < 3; c++)
                    for (int h = 0; h < 32; h++)
                        for (int w = 0; w < 32; w++) pad[c][h + 4][w + 4] = px[c * 1024 + h * 32 + w];
                float *o = cand[(dy * 9 + dx) * 2 + f];
                for (int h = 0; h < 32; h++)
                    for (int w = 0; w < 32; w++) {
                        int cw = f ? 31 - w : w; /* flip applied to the cropped image */
                        for (int c = 0; c < 3; c++)
                            o[(h * 32 + w) * 3 + c] = lut10[c][pad[c][h + dy][cw + dx]];
                    }
            }
    dnas_loader_config c;
    dnas_loader_config_default(&c);
    c.data = &one;
    c.valid_data = &one;
    c.batch = 4;
    c.prefetch = 0;
    c.seed = 5;
    dnas_loader *l = NULL;
    CHECK(dnas_loader_create(&c, &l) == DNAS_OK, "%s", dnas_last_error());
    if (!l) return;
    CHECK(dnas_loader_steps(l) == 1, "steps %d", dnas_loader_steps(l));
    int count[162] = {0}, unmatched = 0, total = 0;
    dnas_loader_batch b;
    for (int s = 0; s < 4000; s++) {
        dnas_loader_next(l, &b);
        CHECK(b.train.n == 1 && b.train.y[0] == 7 && b.valid.y[0] == 7, "batch of one");
        const float *xs[2] = {b.train.x, b.valid.x};
        for (int t = 0; t < 2; t++) {
            int k = 0;
            while (k < 162 && memcmp(xs[t], cand[k], sizeof cand[k])) k++;
            if (k == 162) unmatched++;
            else count[k]++;
            total++;
        }
    }
    CHECK(unmatched == 0, "%d outputs are not a crop/flip of the padded image", unmatched);
    int flips = 0, missing = 0;
    for (int k = 0; k < 162; k++) {
        flips += (k % 2) * count[k];
        missing += count[k] == 0;
    }
    CHECK(missing == 0, "%d crop/flip combinations never drawn in %d draws", missing, total);
    CHECK(fabs((double)flips / total - 0.5) < 0.03, "flip rate %.3f", (double)flips / total);
    /* centre crop (dy=dx=4) ~ 1/81 of draws */
    int centre = count[(4 * 9 + 4) * 2] + count[(4 * 9 + 4) * 2 + 1];
    CHECK(centre > 40 && centre < 170, "centre crop drawn %d of %d times", centre, total);
    dnas_loader_destroy(l);
}

static void test_prefetch_matches_sync(void) {
    if (!have_data || !sp.train) { CHECK(0, "no data"); return; }
    dnas_loader *p = search_loader(21, 1, 1, 0), *s = search_loader(21, 0, 1, 0);
    if (!p || !s) return;
    dnas_loader_batch bp, bs;
    int diff = 0, calls = 0;
    /* plain iteration across an epoch boundary, then seeks of every kind */
    struct { int epoch, step, count; } plan[] = {
        {0, 0, 420}, {5, 200, 5}, {5, 205, 3}, {0, 390, 3}, {9, 3, 1}, {9, 3, 2}, {2, 100, 1},
    };
    for (size_t k = 0; k < sizeof plan / sizeof plan[0]; k++) {
        if (k) {
            dnas_loader_seek(p, plan[k].epoch, plan[k].step);
            dnas_loader_seek(s, plan[k].epoch, plan[k].step);
        }
        if (k == 5) dnas_loader_seek(p, 7, 7); /* a seek that is overridden before next() */
        if (k == 5) dnas_loader_seek(p, plan[k].epoch, plan[k].step);
        for (int i = 0; i < plan[k].count; i++) {
            if (dnas_loader_next(p, &bp) != DNAS_OK || dnas_loader_next(s, &bs) != DNAS_OK) {
                CHECK(0, "%s", dnas_last_error());
                break;
            }
            calls++;
            if (!same_batch(&bp, &bs) && diff++ < 3)
                CHECK(0, "prefetched batch (%d,%d) differs from synchronous (%d,%d)", bp.epoch,
                      bp.step, bs.epoch, bs.step);
        }
    }
    CHECK(diff == 0 && calls == 435, "%d of %d batches differ", diff, calls);
    dnas_loader_destroy(p);
    dnas_loader_destroy(s);
    /* destroy with a prefetch in flight, and right after create */
    p = search_loader(21, 1, 1, 0);
    dnas_loader_destroy(p);
    p = search_loader(21, 1, 1, 0);
    if (p) dnas_loader_next(p, &bp);
    dnas_loader_destroy(p);
}

static void test_eval_iterator(void) {
    if (!have_data) { CHECK(0, "no data"); return; }
    make_lut10();
    dnas_loader_config c;
    dnas_loader_config_eval(&c, &test, 64);
    dnas_loader *l = NULL;
    CHECK(dnas_loader_create(&c, &l) == DNAS_OK, "%s", dnas_last_error());
    if (!l) return;
    CHECK(dnas_loader_steps(l) == 157, "steps %d", dnas_loader_steps(l));
    dnas_loader_batch b;
    int seen = 0, wrong = 0, layout = 0;
    for (int s = 0; s < 157; s++) {
        dnas_loader_next(l, &b);
        CHECK(b.train.n == (s == 156 ? 16 : 64) && b.valid.n == 0 && b.epoch == 0 && b.step == s,
              "step %d: n %d", s, b.train.n);
        for (int j = 0; j < b.train.n; j++, seen++) {
            wrong += b.train.y[j] != test.labels[seen];
            const uint8_t *src = test.pixels + (size_t)seen * 3072;
            const float *x = b.train.x + (size_t)j * 3072;
            for (int h = 0; h < 32; h += 5)
                for (int w = 0; w < 32; w += 3)
                    for (int ch = 0; ch < 3; ch++)  /* NHWC: x[((n*H+h)*W+w)*C+c] */
                        layout += x[(h * 32 + w) * 3 + ch] != lut10[ch][src[ch * 1024 + h * 32 + w]];
        }
    }
    CHECK(seen == 10000 && wrong == 0 && layout == 0, "seen %d, %d labels and %d pixels wrong",
          seen, wrong, layout);
    CHECK(dnas_loader_next(l, &b) == DNAS_OK && b.epoch == 1 && b.step == 0 &&
              b.train.y[0] == test.labels[0],
          "second pass");
    dnas_loader_destroy(l);
}

static void test_bad_config(void) {
    dnas_loader *l = (dnas_loader *)&l;
    dnas_loader_config c;
    dnas_loader_config_default(&c);
    CHECK(dnas_loader_create(&c, &l) == DNAS_ERR_INVALID_ARG && l == NULL, "no data accepted");
    if (!have_data) return;
    c.data = &test;
    c.batch = 0;
    CHECK(dnas_loader_create(&c, &l) == DNAS_ERR_INVALID_ARG, "batch 0 accepted");
    CHECK(strstr(dnas_last_error(), "batch"), "%s", dnas_last_error());
    c.batch = 64;
    int idx[3] = {0, 5, 10000};
    c.idx = idx;
    c.n_idx = 3;
    CHECK(dnas_loader_create(&c, &l) == DNAS_ERR_INVALID_ARG, "index 10000 accepted");
    CHECK(strstr(dnas_last_error(), "10000"), "%s", dnas_last_error());
    c.n_idx = 2;
    c.drop_last = 1;
    CHECK(dnas_loader_create(&c, &l) == DNAS_ERR_INVALID_ARG, "empty drop_last epoch accepted");
    c.drop_last = 0;
    CHECK(dnas_loader_create(&c, &l) == DNAS_OK && dnas_loader_steps(l) == 1, "%s",
          dnas_last_error());
    dnas_loader_destroy(l);
    dnas_split s;
    CHECK(dnas_split_make(NULL, DNAS_SPLIT_HALVES, 0, &s) == DNAS_ERR_INVALID_ARG, "NULL data");
}

/* Every allocation failure in create is reported as DNAS_ERR_OOM and leaks nothing (ASan). */
static void test_oom(void) {
    if (!have_data || !sp.train) { CHECK(0, "no data"); return; }
    int ok = 0;
    for (long k = 1; k <= 32 && !ok; k++) {
        dnas_failing_allocator fa;
        dnas_loader_config c;
        dnas_loader_config_default(&c);
        c.data = &train;
        c.idx = sp.train;
        c.n_idx = sp.n_train;
        c.valid_data = &train;
        c.valid_idx = sp.valid;
        c.n_valid_idx = sp.n_valid;
        dnas_loader *l = NULL;
        dnas_failing_allocator_install(&fa, k);
        dnas_status st = dnas_loader_create(&c, &l);
        dnas_set_allocator(NULL);
        if (st == DNAS_OK) {
            ok = 1;
            dnas_loader_destroy(l);
        } else {
            CHECK(st == DNAS_ERR_OOM && l == NULL, "fail_at %ld: %s", k, dnas_last_error());
        }
    }
    CHECK(ok, "loader_create never succeeded");
    ok = 0;
    for (long k = 1; k <= 8 && !ok; k++) {
        dnas_failing_allocator fa;
        dnas_split s2;
        dnas_failing_allocator_install(&fa, k);
        dnas_status st = dnas_split_make(&train, DNAS_SPLIT_STRATIFIED, 0, &s2);
        dnas_set_allocator(NULL);
        if (st == DNAS_OK) {
            ok = 1;
            dnas_split_free(&s2);
        } else {
            CHECK(st == DNAS_ERR_OOM && s2.train == NULL, "fail_at %ld: %s", k, dnas_last_error());
        }
    }
    CHECK(ok, "split_make never succeeded");
}

/* ---- cutout and normalisation of dnas train ------------------------------------------------ */
/* A training loader over all of `train` (dnas train's: shuffle, crop + flip), no prefetch. */
static dnas_loader *train_loader(uint64_t seed, int cutout, int prefetch) {
    dnas_loader_config c;
    dnas_loader_config_default(&c);
    c.data = &train;
    c.batch = 64;
    c.seed = seed;
    c.cutout = cutout;
    c.prefetch = prefetch;
    dnas_loader *l = NULL;
    dnas_status st = dnas_loader_create(&c, &l);
    CHECK(st == DNAS_OK, "%s", dnas_last_error());
    return l;
}

/* Cutout zeroes exactly the clipped 16x16 square around the loader's centre, in every channel,
 * and leaves every other value as the same loader without cutout makes it. */
static void test_cutout_region(void) {
    if (!have_data) { CHECK(0, "no data"); return; }
    dnas_loader *a = train_loader(5, 16, 0), *b = train_loader(5, 0, 0);
    if (!a || !b) return;
    dnas_loader_batch ba, bb;
    batch_copy k;
    CHECK(dnas_loader_seek(a, 2, 5) == DNAS_OK && dnas_loader_next(a, &ba) == DNAS_OK, "a");
    keep(&k, &ba);
    CHECK(dnas_loader_seek(b, 2, 5) == DNAS_OK && dnas_loader_next(b, &bb) == DNAS_OK, "b");
    CHECK(memcmp(k.b.train.y, bb.train.y, 64 * sizeof(int)) == 0, "cutout changed the labels");
    int bad_in = 0, bad_out = 0, clipped = 0, full = 0;
    for (int j = 0; j < 64; j++) {
        int cy = -1, cx = -1, area = 0;
        dnas_loader_cutout_centre(a, 2, 5, j, &cy, &cx);
        CHECK(cy >= 0 && cy < 32 && cx >= 0 && cx < 32, "centre (%d,%d) outside the image", cy, cx);
        const float *x = k.b.train.x + (size_t)j * 3072, *y = bb.train.x + (size_t)j * 3072;
        for (int h = 0; h < 32; h++)
            for (int w = 0; w < 32; w++) {
                int in = h >= cy - 8 && h < cy + 8 && w >= cx - 8 && w < cx + 8;
                area += in;
                for (int ch = 0; ch < 3; ch++) {
                    float v = x[(h * 32 + w) * 3 + ch], u = y[(h * 32 + w) * 3 + ch];
                    if (in) bad_in += v != 0.0f;
                    else bad_out += memcmp(&v, &u, sizeof v) != 0;
                }
            }
        clipped += area < 256;
        full += area == 256;
    }
    printf("  64 images: %d full 16x16 squares, %d clipped at a border\n", full, clipped);
    CHECK(bad_in == 0, "%d values inside the squares are not zero", bad_in);
    CHECK(bad_out == 0, "%d values outside the squares changed", bad_out);
    CHECK(clipped > 0 && full > 0, "want both clipped and whole squares among 64 images");
    unkeep(&k);
    dnas_loader_destroy(a);
    dnas_loader_destroy(b);
}

/* The squares are a pure function of (seed, epoch, step, slot): the same after a seek, with or
 * without the prefetch thread; other steps and seeds draw other squares. */
static void test_cutout_deterministic(void) {
    if (!have_data) { CHECK(0, "no data"); return; }
    dnas_loader *a = train_loader(9, 16, 0), *b = train_loader(9, 16, 1), *c = train_loader(10, 16, 0);
    if (!a || !b || !c) return;
    dnas_loader_batch ba, bb;
    batch_copy k;
    CHECK(dnas_loader_seek(a, 4, 0) == DNAS_OK, "seek");
    for (int s = 0; s < 10; s++) CHECK(dnas_loader_next(a, &ba) == DNAS_OK, "next");
    CHECK(ba.epoch == 4 && ba.step == 9, "position %d/%d", ba.epoch, ba.step);
    keep(&k, &ba);
    CHECK(dnas_loader_seek(b, 4, 9) == DNAS_OK && dnas_loader_next(b, &bb) == DNAS_OK, "b");
    CHECK(same_batch(&k.b, &bb), "iterating and seeking (with prefetch) gave different batches");
    int moved_step = 0, moved_seed = 0;
    for (int j = 0; j < 64; j++) {
        int y0, x0, y1, x1, y2, x2;
        dnas_loader_cutout_centre(a, 4, 9, j, &y0, &x0);
        dnas_loader_cutout_centre(b, 4, 10, j, &y1, &x1);
        dnas_loader_cutout_centre(c, 4, 9, j, &y2, &x2);
        moved_step += y0 != y1 || x0 != x1;
        moved_seed += y0 != y2 || x0 != x2;
    }
    CHECK(moved_step > 32 && moved_seed > 32, "centres barely change with the step (%d/64) or "
          "the seed (%d/64)", moved_step, moved_seed);
    unkeep(&k);
    dnas_loader_destroy(a);
    dnas_loader_destroy(b);
    dnas_loader_destroy(c);
}

/* Byte-wise FNV-1a, for golden values. */
static uint64_t fnv_bytes(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* With cutout off (the search's loaders), the output is what it was before cutout existed:
 * golden hashes of the batch at (3, 17) of a seed-7 search loader, recorded with the loader
 * of before this change; and cutout never touches the paired validation batch. */
static void test_cutout_off_keeps_search(void) {
    if (!have_data || !sp.train) { CHECK(0, "no data"); return; }
    dnas_loader *l = search_loader(7, 0, 1, 0);
    if (!l) return;
    dnas_loader_batch b;
    CHECK(dnas_loader_seek(l, 3, 17) == DNAS_OK && dnas_loader_next(l, &b) == DNAS_OK, "next");
    uint64_t hx = fnv_bytes(b.train.x, 64 * 3072 * sizeof(float)), hy = fnv_bytes(b.train.y, 64 * sizeof(int));
    uint64_t hvx = fnv_bytes(b.valid.x, 64 * 3072 * sizeof(float)), hvy = fnv_bytes(b.valid.y, 64 * sizeof(int));
    CHECK(hx == 0xdb2a010eb50c5b52ull && hy == 0x002ddd1e3060b17cull &&
              hvx == 0x7e5970af47feacf5ull && hvy == 0x8a94c088bc8c3abcull,
          "the search loader's batch changed: %016llx %016llx %016llx %016llx",
          (unsigned long long)hx, (unsigned long long)hy, (unsigned long long)hvx,
          (unsigned long long)hvy);
    dnas_loader_destroy(l);
    /* The same loader with cutout on: its weight batch changes, its valid batch does not. */
    dnas_loader_config c;
    dnas_loader_config_default(&c);
    c.data = &train;
    c.idx = sp.train;
    c.n_idx = sp.n_train;
    c.valid_data = &train;
    c.valid_idx = sp.valid;
    c.n_valid_idx = sp.n_valid;
    c.seed = 7;
    c.prefetch = 0;
    c.cutout = 16;
    CHECK(dnas_loader_create(&c, &l) == DNAS_OK, "%s", dnas_last_error());
    if (!l) return;
    CHECK(dnas_loader_seek(l, 3, 17) == DNAS_OK && dnas_loader_next(l, &b) == DNAS_OK, "next");
    CHECK(fnv_bytes(b.train.x, 64 * 3072 * sizeof(float)) != hx, "cutout 16 changed nothing");
    CHECK(fnv_bytes(b.valid.x, 64 * 3072 * sizeof(float)) == hvx, "cutout touched the valid batch");
    dnas_loader_destroy(l);
    c.cutout = -1;
    CHECK(dnas_loader_create(&c, &l) == DNAS_ERR_INVALID_ARG && strstr(dnas_last_error(), "cutout"),
          "cutout -1 accepted: %s", dnas_last_error());
}

/* DNAS_NORM_DARTS: quark0's CIFAR-10 mean/std, (p/255 - mean)/std in float. */
static void test_darts_normalisation(void) {
    if (!have_data) { CHECK(0, "no data"); return; }
    static const float m[3] = {0.49139968f, 0.48215827f, 0.44653124f};
    static const float s[3] = {0.24703233f, 0.24348505f, 0.26158768f};
    dnas_loader_config c;
    dnas_loader_config_eval(&c, &test, 16);
    c.norm = DNAS_NORM_DARTS;
    c.prefetch = 0;
    dnas_loader *l = NULL;
    CHECK(dnas_loader_create(&c, &l) == DNAS_OK, "%s", dnas_last_error());
    if (!l) return;
    dnas_loader_batch b;
    CHECK(dnas_loader_next(l, &b) == DNAS_OK, "next");
    int wrong = 0;
    for (int j = 0; j < 16; j++)
        for (int h = 0; h < 32; h++)
            for (int w = 0; w < 32; w++)
                for (int ch = 0; ch < 3; ch++) {
                    uint8_t p = test.pixels[(size_t)j * 3072 + ch * 1024 + h * 32 + w];
                    float want = ((float)p / 255.0f - m[ch]) / s[ch];
                    wrong += b.train.x[(size_t)j * 3072 + (h * 32 + w) * 3 + ch] != want;
                }
    CHECK(wrong == 0, "%d values differ from quark0's normalisation", wrong);
    dnas_loader_destroy(l);
    float mean[3], std[3];
    dnas_cifar_norm_as(DNAS_CIFAR100, DNAS_NORM_DARTS, mean, std);
    float m100[3], s100[3];
    dnas_cifar_norm(DNAS_CIFAR100, m100, s100);
    CHECK(memcmp(mean, m100, sizeof mean) == 0 && memcmp(std, s100, sizeof std) == 0,
          "CIFAR-100 must keep its AutoDL values");
}

int main(void) {
    RUN(test_load);
    RUN(test_bad_files);
    RUN(test_split);
    RUN(test_geometry);
    RUN(test_determinism);
    RUN(test_epoch_content);
    RUN(test_normalisation);
    RUN(test_augmentation);
    RUN(test_prefetch_matches_sync);
    RUN(test_eval_iterator);
    RUN(test_bad_config);
    RUN(test_oom);
    RUN(test_cutout_region);
    RUN(test_cutout_deterministic);
    RUN(test_cutout_off_keeps_search);
    RUN(test_darts_normalisation);
    dnas_split_free(&sp);
    dnas_cifar_free(&train);
    dnas_cifar_free(&test);
    TEST_EXIT();
}
