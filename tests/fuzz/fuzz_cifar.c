/* CIFAR binary batches: dnas_cifar_load (cifar.c) on the test part of a directory.
 * First input byte, bits 0-1:
 *   0 / 1: the rest is the whole test_batch.bin (CIFAR-10) / test.bin (CIFAR-100): exercises the
 *          size checks (a real file is 10000 records, far above any fuzz input);
 *   2 / 3: the rest overwrites the start of an otherwise valid, full-size file of all-zero
 *          records (CIFAR-10 / CIFAR-100), so the records the fuzzer writes reach the label checks.
 * Properties: a failed load frees and zeroes the output and names the file; an accepted one has
 * every label inside its range and the overwritten pixels in place. */
#include "fuzz_util.h"
#include "data/data.h"

#define RECORDS 10000

static char dirs[4][512], files[4][512];

static void setup(void) {
    static const char *const sub[4] = {"raw10", "raw100", "full10", "full100"};
    for (int m = 0; m < 4; m++) {
        fz_path(dirs[m], sizeof dirs[m], sub[m]);
        if (mkdir(dirs[m], 0700) != 0) {
            perror(dirs[m]);
            _exit(2);
        }
        char name[64];
        snprintf(name, sizeof name, "%s/%s", sub[m], m % 2 ? "test.bin" : "test_batch.bin");
        fz_path(files[m], sizeof files[m], name);
    }
    for (int m = 2; m < 4; m++) {
        size_t bytes = (size_t)RECORDS * (DNAS_CIFAR_PIXELS + (m == 3 ? 2 : 1));
        char *zeros = calloc(bytes, 1);
        if (!zeros) _exit(2);
        fz_write(files[m], zeros, bytes);
        free(zeros);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!dirs[0][0]) setup();
    const int mode = data[0] & 3, c100 = mode & 1;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    const size_t rec = DNAS_CIFAR_PIXELS + (c100 ? 2 : 1);
    int fd = -1;
    if (mode < 2) {
        fz_write(files[mode], p, n);
    } else {
        if (n > rec * RECORDS) n = rec * RECORDS;
        fd = open(files[mode], O_WRONLY);
        FZ_CHECK(fd >= 0 && pwrite(fd, p, n, 0) == (ssize_t)n, "overlay write failed");
    }

    dnas_cifar d;
    dnas_clear_error();
    dnas_status st = dnas_cifar_load(dirs[mode], c100 ? DNAS_CIFAR100 : DNAS_CIFAR10, DNAS_PART_TEST, &d);
    if (st != DNAS_OK) {
        FZ_CHECK(d.pixels == NULL && d.labels == NULL && d.coarse == NULL && d.n == 0,
                 "failed load left data behind");
        fz_check_message(files[mode]);
    } else {
        FZ_CHECK(mode >= 2, "a %zu-byte file was accepted", n);
        FZ_CHECK(d.n == RECORDS && d.classes == (c100 ? 100 : 10), "n %d classes %d", d.n, d.classes);
        FZ_CHECK((d.coarse != NULL) == c100, "coarse labels");
        for (int i = 0; i < d.n; i++) {
            FZ_CHECK(d.labels[i] >= 0 && d.labels[i] < d.classes, "label %d of image %d", d.labels[i], i);
            if (c100) FZ_CHECK(d.coarse[i] >= 0 && d.coarse[i] < 20, "coarse %d", d.coarse[i]);
        }
        /* The bytes written over the file, record by record, are the labels and pixels read. */
        for (size_t r = 0; r * rec < n; r++) {
            const uint8_t *q = p + r * rec;
            size_t have = n - r * rec < rec ? n - r * rec : rec;
            int nlab = c100 ? 2 : 1;
            if (have >= (size_t)nlab)
                FZ_CHECK(d.labels[r] == q[nlab - 1] && (!c100 || d.coarse[r] == q[0]),
                         "labels of record %zu", r);
            if (have > (size_t)nlab)
                FZ_CHECK(memcmp(d.pixels + r * DNAS_CIFAR_PIXELS, q + nlab, have - nlab) == 0,
                         "pixels of record %zu", r);
        }
        dnas_cifar_free(&d);
    }
    if (fd >= 0) {
        /* Back to all-zero records for the next input. */
        static const uint8_t zeros[4096];
        for (size_t o = 0; o < n; o += sizeof zeros) {
            size_t k = n - o < sizeof zeros ? n - o : sizeof zeros;
            FZ_CHECK(pwrite(fd, zeros, k, (off_t)o) == (ssize_t)k, "restore failed");
        }
        close(fd);
    }
    return 0;
}
