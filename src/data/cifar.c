/* CIFAR-10 / CIFAR-100 readers for the official binary format, their normalisation constants
 * and a data set fingerprint. */
#include "data.h"
#include "../core/alloc.h"
#include "../io/files.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int records;
} cifar_file;

static const cifar_file c10_train[] = {{"data_batch_1.bin", 10000}, {"data_batch_2.bin", 10000},
                                       {"data_batch_3.bin", 10000}, {"data_batch_4.bin", 10000},
                                       {"data_batch_5.bin", 10000}};
static const cifar_file c10_test[] = {{"test_batch.bin", 10000}};
static const cifar_file c100_train[] = {{"train.bin", 50000}};
static const cifar_file c100_test[] = {{"test.bin", 10000}};

void dnas_cifar_norm(dnas_cifar_kind kind, float mean[3], float std[3]) {
    /* AutoDL get_dataset_with_transform.py values (in 0..255 units). */
    static const double m10[3] = {125.3, 123.0, 113.9}, s10[3] = {63.0, 62.1, 66.7};
    static const double m100[3] = {129.3, 124.1, 112.4}, s100[3] = {68.2, 65.4, 70.4};
    const double *m = kind == DNAS_CIFAR100 ? m100 : m10, *s = kind == DNAS_CIFAR100 ? s100 : s10;
    for (int c = 0; c < 3; c++) {
        mean[c] = (float)(m[c] / 255.0);
        std[c] = (float)(s[c] / 255.0);
    }
}

void dnas_cifar_norm_as(dnas_cifar_kind kind, dnas_norm norm, float mean[3], float std[3]) {
    /* quark0 cnn/utils.py _data_transforms_cifar10 (already fractions of 1); its train.py is
     * CIFAR-10 only, so CIFAR-100 keeps the AutoDL values. */
    static const float md[3] = {0.49139968f, 0.48215827f, 0.44653124f};
    static const float sd[3] = {0.24703233f, 0.24348505f, 0.26158768f};
    if (norm != DNAS_NORM_DARTS || kind != DNAS_CIFAR10) {
        dnas_cifar_norm(kind, mean, std);
        return;
    }
    for (int c = 0; c < 3; c++) {
        mean[c] = md[c];
        std[c] = sd[c];
    }
}

uint32_t dnas_cifar_fingerprint(const dnas_cifar *d) {
    /* Every label and the first 1024 images: cheap, and any other set or order differs. */
    int n = d->n < 1024 ? d->n : 1024;
    uint32_t crc = dnas_crc32c(0, d->labels, (size_t)d->n * sizeof(int));
    return dnas_crc32c(crc, d->pixels, (size_t)n * DNAS_CIFAR_PIXELS);
}

/* Reads one file of `f->records` records into pixels/labels starting at image `first`. */
static dnas_status read_file(const char *dir, const cifar_file *f, dnas_cifar_kind kind,
                             int first, dnas_cifar *d) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, f->name);
    if (n < 0 || (size_t)n >= sizeof path)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "CIFAR directory path too long: %.200s...", dir);
    const int nlab = kind == DNAS_CIFAR100 ? 2 : 1;
    const long rec = nlab + DNAS_CIFAR_PIXELS;
    const long want = rec * f->records;

    int fd;
    uint64_t usize;
    dnas_status st = dnas_open_regular(path, &fd, &usize);
    if (st != DNAS_OK) {
        /* Only a missing file is likely cured by fetching the data. */
        if (errno == ENOENT)
            return dnas_fail(st, "%s; run `make data` (or `make testdata` in the source tree)",
                             dnas_last_error());
        return st;
    }
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        st = dnas_fail(DNAS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    long size = usize > (uint64_t)LONG_MAX ? LONG_MAX : (long)usize;
    if (size != want) {
        fclose(fp);
        if (size % rec != 0)
            return dnas_fail(DNAS_ERR_FORMAT,
                             "%s: %ld bytes is not a multiple of the %ld-byte record "
                             "(truncated or not a CIFAR-%d binary file); expected %ld bytes",
                             path, size, rec, kind == DNAS_CIFAR100 ? 100 : 10, want);
        return dnas_fail(DNAS_ERR_FORMAT, "%s: %ld records, expected %d (%ld bytes)", path,
                         size / rec, f->records, want);
    }

    unsigned char buf[2 + DNAS_CIFAR_PIXELS];
    for (int r = 0; r < f->records; r++) {
        if (fread(buf, 1, (size_t)rec, fp) != (size_t)rec) {
            fclose(fp);
            return dnas_fail(DNAS_ERR_IO, "%s: read failed at record %d", path, r);
        }
        int i = first + r;
        int fine = buf[nlab - 1];
        if (fine >= d->classes) {
            fclose(fp);
            return dnas_fail(DNAS_ERR_FORMAT, "%s: record %d has label %d, expected 0..%d", path,
                             r, fine, d->classes - 1);
        }
        if (kind == DNAS_CIFAR100) {
            if (buf[0] >= 20) {
                fclose(fp);
                return dnas_fail(DNAS_ERR_FORMAT,
                                 "%s: record %d has coarse label %d, expected 0..19", path, r,
                                 buf[0]);
            }
            d->coarse[i] = buf[0];
        }
        d->labels[i] = fine;
        memcpy(d->pixels + (size_t)i * DNAS_CIFAR_PIXELS, buf + nlab, DNAS_CIFAR_PIXELS);
    }
    fclose(fp);
    return DNAS_OK;
}

dnas_status dnas_cifar_load(const char *dir, dnas_cifar_kind kind, dnas_cifar_part part,
                            dnas_cifar *out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_cifar_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_cifar_load: directory is NULL");
    if (kind != DNAS_CIFAR10 && kind != DNAS_CIFAR100)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_cifar_load: unknown data set kind %d",
                         (int)kind);
    if (part != DNAS_PART_TRAIN && part != DNAS_PART_TEST)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_cifar_load: unknown part %d", (int)part);

    const cifar_file *files;
    int nfiles;
    if (kind == DNAS_CIFAR10) {
        files = part == DNAS_PART_TRAIN ? c10_train : c10_test;
        nfiles = part == DNAS_PART_TRAIN ? 5 : 1;
    } else {
        files = part == DNAS_PART_TRAIN ? c100_train : c100_test;
        nfiles = 1;
    }
    int total = 0;
    for (int i = 0; i < nfiles; i++) total += files[i].records;
    struct stat sb;
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return dnas_fail(DNAS_ERR_IO, "%s: not a directory (want the directory of the CIFAR "
                         "binary files)", dir);

    out->kind = kind;
    out->classes = kind == DNAS_CIFAR100 ? 100 : 10;
    out->n = total;
    out->pixels = dnas_alloc((size_t)total * DNAS_CIFAR_PIXELS, "CIFAR pixels");
    out->labels = dnas_alloc((size_t)total * sizeof(int), "CIFAR labels");
    if (kind == DNAS_CIFAR100) out->coarse = dnas_alloc((size_t)total * sizeof(int), "CIFAR-100 coarse labels");
    if (!out->pixels || !out->labels || (kind == DNAS_CIFAR100 && !out->coarse)) {
        dnas_cifar_free(out);
        return DNAS_ERR_OOM;  /* dnas_alloc set the message */
    }
    int first = 0;
    for (int i = 0; i < nfiles; i++) {
        dnas_status st = read_file(dir, &files[i], kind, first, out);
        if (st != DNAS_OK) {
            dnas_cifar_free(out);
            return st;
        }
        first += files[i].records;
    }
    return DNAS_OK;
}

void dnas_cifar_free(dnas_cifar *d) {
    if (!d) return;
    dnas_free(d->pixels);
    dnas_free(d->labels);
    dnas_free(d->coarse);
    memset(d, 0, sizeof *d);
}
