/* TensorBoard event files (src/io/tfevents.c):
 *  - CRC-32C against published vectors (RFC 3720 B.4 and the classic "123456789") and against a
 *    bit-at-a-time reference at every length and alignment, and TFRecord's CRC mask;
 *  - record framing read back in C: every length and both masked CRCs check out, and the
 *    protobuf decodes to file_version, SessionLog START, then the scalars written, in order;
 *  - file naming (events.out.tfevents.<time>.<host>, a suffix when taken) and a missing
 *    directory refused with its name;
 *  - the tensorboard package's own readers (tests/ref/check_tfevents.py) read two sessions'
 *    files back: tags, steps, values, and the START purge of a resumed session. This case
 *    FAILS (never skips) when python3 or tensorboard is missing: scripts/setup installs it. */
#include "test.h"
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/alloc.h"
#include "io/files.h"
#include "io/tfevents.h"

static uint32_t crc_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

static void test_crc32c_vectors(void) {
    uint8_t b[48];
    CHECK(dnas_crc32c(0, "123456789", 9) == 0xE3069283u, "crc32c(\"123456789\") = %08x",
          dnas_crc32c(0, "123456789", 9));
    CHECK(dnas_crc32c(0, "", 0) == 0, "crc32c of nothing");
    memset(b, 0, 32);
    CHECK(dnas_crc32c(0, b, 32) == 0x8A9136AAu, "32 zero bytes: %08x", dnas_crc32c(0, b, 32));
    memset(b, 0xFF, 32);
    CHECK(dnas_crc32c(0, b, 32) == 0x62A8AB43u, "32 0xff bytes: %08x", dnas_crc32c(0, b, 32));
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    CHECK(dnas_crc32c(0, b, 32) == 0x46DD794Eu, "bytes 0..31: %08x", dnas_crc32c(0, b, 32));
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)(31 - i);
    CHECK(dnas_crc32c(0, b, 32) == 0x113FDB5Cu, "bytes 31..0: %08x", dnas_crc32c(0, b, 32));
    /* Every length and misalignment (the fast paths read 8 bytes at a time). */
    static uint8_t big[300];
    for (int i = 0; i < 300; i++) big[i] = (uint8_t)(i * 37 + 11);
    int bad = 0;
    for (int off = 0; off < 8; off++)
        for (int n = 0; n + off <= 300; n += 7) {
            uint32_t want = crc_bitwise(big + off, (size_t)n);
            bad += dnas_crc32c(0, big + off, (size_t)n) != want;
            bad += dnas_crc32c(dnas_crc32c(0, big + off, (size_t)n / 3), big + off + n / 3,
                               (size_t)(n - n / 3)) != want; /* incremental */
        }
    CHECK(bad == 0, "%d mismatches against the bitwise CRC-32C", bad);
    /* TFRecord's mask (values from tensorboard's own masked_crc32c). */
    CHECK(dnas_tfrecord_mask_crc(0) == 0xa282ead8u, "mask(0)");
    CHECK(dnas_tfrecord_mask_crc(dnas_crc32c(0, "123456789", 9)) == 0xc78ab0e5u, "masked \"123456789\"");
    memset(b, 0, 8); /* the length field of an empty record */
    CHECK(dnas_tfrecord_mask_crc(dnas_crc32c(0, b, 8)) == 0x07980329u, "masked 8 zero bytes");
}

/* ---- a minimal TFRecord + protobuf reader, independent of the writer ---- */

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

typedef struct {
    double wall;
    int64_t step;
    char file_version[32];
    int session_status;         /* -1: none */
    char tag[128];
    float value;
    int has_value;
} event;

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int s = 0; s < 64 && *p < end; s += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) return 1;
    }
    return 0;
}

/* Walks one message; calls back for each field. Returns 0 on malformed input. */
typedef void (*field_fn)(void *ctx, int field, int wt, uint64_t v, const uint8_t *data, size_t n);
static int walk(const uint8_t *p, size_t n, field_fn fn, void *ctx) {
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key, v = 0;
        if (!varint(&p, end, &key)) return 0;
        int wt = (int)(key & 7), field = (int)(key >> 3);
        const uint8_t *data = NULL;
        size_t len = 0;
        if (wt == 0) {
            if (!varint(&p, end, &v)) return 0;
        } else if (wt == 1 || wt == 5) {
            len = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < len) return 0;
            v = le(p, (int)len);
            p += len;
        } else if (wt == 2) {
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p)) return 0;
            data = p;
            len = (size_t)v;
            p += len;
        } else {
            return 0;
        }
        fn(ctx, field, wt, v, data, len);
    }
    return 1;
}

static void value_field(void *ctx, int field, int wt, uint64_t v, const uint8_t *d, size_t n) {
    event *e = ctx;
    if (field == 1 && wt == 2) snprintf(e->tag, sizeof e->tag, "%.*s", (int)n, (const char *)d);
    if (field == 2 && wt == 5) {
        uint32_t bits = (uint32_t)v;
        memcpy(&e->value, &bits, 4);
        e->has_value = 1;
    }
}
static void summary_field(void *ctx, int field, int wt, uint64_t v, const uint8_t *d, size_t n) {
    if (field == 1 && wt == 2) walk(d, n, value_field, ctx);
}
static void session_field(void *ctx, int field, int wt, uint64_t v, const uint8_t *d, size_t n) {
    if (field == 1 && wt == 0) ((event *)ctx)->session_status = (int)v;
}
static void event_field(void *ctx, int field, int wt, uint64_t v, const uint8_t *d, size_t n) {
    event *e = ctx;
    if (field == 1 && wt == 1) memcpy(&e->wall, &v, 8);
    if (field == 2 && wt == 0) e->step = (int64_t)v;
    if (field == 3 && wt == 2) snprintf(e->file_version, sizeof e->file_version, "%.*s", (int)n, (const char *)d);
    if (field == 5 && wt == 2) walk(d, n, summary_field, ctx);
    if (field == 7 && wt == 2) {
        e->session_status = 0;
        walk(d, n, session_field, ctx);
    }
}

/* Reads every record of `path`; returns the number of events (or -1 on a framing error). */
static int read_events(const char *path, event *ev, int cap) {
    char *data = NULL;
    size_t size = 0;
    if (dnas_read_file(path, &data, &size) != DNAS_OK) return -1;
    const uint8_t *p = (const uint8_t *)data, *end = p + size;
    int n = 0;
    while (p < end) {
        if (end - p < 12) break;
        uint64_t len = le(p, 8);
        uint32_t lcrc = (uint32_t)le(p + 8, 4);
        if (lcrc != dnas_tfrecord_mask_crc(crc_bitwise(p, 8))) {
            printf("  record %d: length CRC %08x wrong\n", n, lcrc);
            n = -1;
            break;
        }
        if ((uint64_t)(end - p - 12) < len + 4) break;
        uint32_t dcrc = (uint32_t)le(p + 12 + len, 4);
        if (dcrc != dnas_tfrecord_mask_crc(crc_bitwise(p + 12, (size_t)len))) {
            printf("  record %d: data CRC %08x wrong\n", n, dcrc);
            n = -1;
            break;
        }
        if (n < cap) {
            memset(&ev[n], 0, sizeof ev[n]);
            ev[n].session_status = -1;
            if (!walk(p + 12, (size_t)len, event_field, &ev[n])) {
                printf("  record %d: malformed protobuf\n", n);
                n = -1;
                break;
            }
        }
        n++;
        p += 12 + len + 4;
    }
    if (n >= 0 && p != end) {
        printf("  %zu trailing bytes\n", (size_t)(end - p));
        n = -1;
    }
    dnas_free(data);
    return n;
}

static void tmp_dir(char *buf, size_t cap, const char *what) {
    /* No "tfevents" in the name: TensorBoard would take the directory for an events file. */
    snprintf(buf, cap, "/tmp/dnas-tfrec-%d-%s", (int)getpid(), what);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    if (system(cmd) != 0) printf("  cannot make %s\n", buf);
}

static void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  cannot remove %s\n", dir);
}

static void test_framing_read_back(void) {
    char dir[256];
    tmp_dir(dir, sizeof dir, "frame");
    dnas_tfevents *w = NULL;
    CHECK(dnas_tfevents_open(dir, 7, &w) == DNAS_OK, "open: %s", dnas_last_error());
    if (!w) return;
    const char *tags[4] = {"train/loss", "alpha/normal/13/dil_conv_5x5", "lr", "x"};
    const double vals[4] = {2.302585, 0.125, -1e-3, 1e30};
    for (int i = 0; i < 40; i++)
        CHECK(dnas_tfevents_scalar(w, tags[i % 4], 100 + i, vals[i % 4] * (1 + i)) == DNAS_OK, "%s",
              dnas_last_error());
    char long_tag[2000];
    memset(long_tag, 'a', sizeof long_tag - 1);
    long_tag[sizeof long_tag - 1] = 0;
    CHECK(dnas_tfevents_scalar(w, long_tag, 1, 1) == DNAS_ERR_INVALID_ARG, "a 2 KB tag is refused");
    CHECK(dnas_tfevents_scalar(w, "", 1, 1) == DNAS_ERR_INVALID_ARG, "an empty tag is refused");
    CHECK(dnas_tfevents_flush(w) == DNAS_OK, "flush");
    char path[700];
    snprintf(path, sizeof path, "%s", dnas_tfevents_path(w));
    dnas_tfevents_close(w);

    const char *base = strrchr(path, '/') + 1;
    char host[128] = "", name[300];
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    for (char *c = host; *c; c++) /* the writer's file-name-safe form */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '_'))
            *c = '_';
    long t = strtol(base + 20, NULL, 10);
    snprintf(name, sizeof name, "events.out.tfevents.%ld.%s", t, host);
    CHECK(strcmp(base, name) == 0 && labs(t - (long)time(NULL)) < 600, "file name %s, want %s", base, name);

    static event ev[64];
    int n = read_events(path, ev, 64);
    CHECK(n == 42, "%d records, want 42 (file_version, START, 40 scalars)", n);
    if (n != 42) return;
    CHECK(!strcmp(ev[0].file_version, "brain.Event:2") && ev[0].step == 0, "first event: '%s'",
          ev[0].file_version);
    CHECK(ev[1].session_status == 1 && ev[1].step == 7, "second event: SessionLog %d at step %lld",
          ev[1].session_status, (long long)ev[1].step);
    double now = (double)time(NULL);
    for (int i = 0; i < 42; i++)
        CHECK(fabs(ev[i].wall - now) < 600, "event %d wall_time %.3f, now %.0f", i, ev[i].wall, now);
    for (int i = 0; i < 40; i++) {
        const event *e = &ev[2 + i];
        float want = (float)(vals[i % 4] * (1 + i));
        CHECK(e->has_value && !strcmp(e->tag, tags[i % 4]) && e->step == 100 + i && e->value == want,
              "event %d: tag '%s' step %lld value %g, want '%s' %d %g", i + 2, e->tag,
              (long long)e->step, (double)e->value, tags[i % 4], 100 + i, (double)want);
    }

    /* A second writer in the same second gets another file; both are whole. */
    dnas_tfevents *a = NULL, *b = NULL;
    CHECK(dnas_tfevents_open(dir, 0, &a) == DNAS_OK && dnas_tfevents_open(dir, 0, &b) == DNAS_OK,
          "two writers: %s", dnas_last_error());
    CHECK(a && b && strcmp(dnas_tfevents_path(a), dnas_tfevents_path(b)) != 0 &&
          strcmp(dnas_tfevents_path(a), path) != 0, "writers share a file");
    dnas_tfevents_close(a);
    dnas_tfevents_close(b);
    int files = 0;
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));) files += strncmp(de->d_name, "events.out.", 11) == 0;
    if (d) closedir(d);
    CHECK(files == 3, "%d event files, want 3", files);
    rm_rf(dir);

    /* A missing directory: refused, naming it. */
    dnas_tfevents *x = NULL;
    CHECK(dnas_tfevents_open("/nonexistent-dnas-dir", 0, &x) == DNAS_ERR_IO && !x &&
          strstr(dnas_last_error(), "/nonexistent-dnas-dir"), "missing dir: %s", dnas_last_error());
}

/* Two sessions as a resumed search writes them: the first logs steps 1..10 then "crashes"; the
 * second starts at step 6 (its checkpoint had seen 5). TensorBoard must show 1..5 from the
 * first file and 6..8 from the second, for every tag. */
static void test_tensorboard_reads_it(void) {
    char dir[256], expected[400];
    tmp_dir(dir, sizeof dir, "tb");
    const char *tags[3] = {"train/loss", "valid/acc", "alpha/cell/3/skip_connect"};
    dnas_tfevents *w = NULL;
    CHECK(dnas_tfevents_open(dir, 1, &w) == DNAS_OK, "open: %s", dnas_last_error());
    for (int s = 1; s <= 10 && w; s++)
        for (int t = 0; t < 3; t++) dnas_tfevents_scalar(w, tags[t], s, 0.5 * s + t);
    dnas_tfevents_close(w);
    sleep(1); /* a later second: the resumed session's file sorts after the first */
    w = NULL;
    CHECK(dnas_tfevents_open(dir, 6, &w) == DNAS_OK, "reopen: %s", dnas_last_error());
    for (int s = 6; s <= 8 && w; s++)
        for (int t = 0; t < 3; t++) dnas_tfevents_scalar(w, tags[t], s, 100 + 0.25 * s + t);
    CHECK(w && dnas_tfevents_flush(w) == DNAS_OK, "flush");
    dnas_tfevents_close(w);

    snprintf(expected, sizeof expected, "%s.expected.json", dir);
    FILE *f = fopen(expected, "w");
    CHECK(f != NULL, "cannot write %s", expected);
    if (!f) return;
    fprintf(f, "{\"files\": 2, \"scalars\": {");
    for (int t = 0; t < 3; t++) {
        fprintf(f, "%s\"%s\": [", t ? ", " : "", tags[t]);
        for (int s = 1; s <= 8; s++)
            fprintf(f, "%s[%d, %.9g]", s > 1 ? ", " : "", s, s <= 5 ? 0.5 * s + t : 100 + 0.25 * s + t);
        fprintf(f, "]");
    }
    fprintf(f, "}}\n");
    fclose(f);

    char cmd[1200], out[8192];
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s' '%s' 2>&1",
             t_src_path("tests/ref/check_tfevents.py"), dir, expected);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int status = p ? pclose(p) : -1;
    int rc = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    printf("%s", out);
    CHECK(rc != 127, "python3 is not installed: this test needs python3 with the tensorboard "
          "package (scripts/setup installs both)");
    CHECK(rc != 2, "the python tensorboard package is missing: run scripts/setup (or python3 -m "
          "pip install tensorboard)");
    CHECK(rc == 127 || rc == 2 || (rc == 0 && strstr(out, "ok: 2 files")),
          "tensorboard's reader disagrees (exit %d)", rc);
    unlink(expected);
    rm_rf(dir);
}

int main(void) {
    RUN(test_crc32c_vectors);
    RUN(test_framing_read_back);
    RUN(test_tensorboard_reads_it);
    TEST_EXIT();
}
