/* Checkpoint container and file helpers: round trip, rejection of every kind of damage (each
 * truncation, each single-bit flip), atomicity of failed commits, JSON escaping. */
#include "test.h"
#include "core/alloc.h"
#include "io/checkpoint.h"
#include "io/files.h"
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char t_path_buf[8][256];
static int t_path_next;

/* "/tmp/dnas-test-<pid>-<tag>", from a small ring of buffers. */
static const char *tpath(const char *tag) {
    char *p = t_path_buf[t_path_next++ % 8];
    snprintf(p, 256, "/tmp/dnas-test-%d-%s", (int)getpid(), tag);
    return p;
}

static void rm_tmp_of(const char *path) {
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
}

static int write_raw(const char *path, const void *data, size_t n) {
    /* Unlink first: on ext4, truncating a file that has data forces a flush (~6 ms), which
     * would make the thousands of damaged copies below take tens of seconds. */
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Whole file via the library reader; NULL on failure. */
static char *slurp(const char *path, size_t *n) {
    char *d = NULL;
    if (dnas_read_file(path, &d, n) != DNAS_OK) return NULL;
    return d;
}

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* Deterministic filler (xorshift) so the big entry is not all zeros. */
static void fill(unsigned char *p, size_t n, uint64_t seed) {
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 32);
    }
}

#define BIG_BYTES (10u * 1024u * 1024u + 3u) /* 10 MB, odd so the tail is unaligned */

/* A small checkpoint with a few entries of varied size; returns 1 on success. */
static int write_small(const char *path, const char *kind) {
    dnas_ckpt_writer *w;
    float alpha[6 * 5];
    for (int i = 0; i < 30; i++) alpha[i] = 0.01f * (float)i - 0.1f;
    if (dnas_ckpt_write_begin(path, kind, &w) != DNAS_OK) return 0;
    dnas_ckpt_put(w, "alpha", alpha, sizeof alpha);
    dnas_ckpt_put_u64(w, "step", 12345);
    dnas_ckpt_put(w, "note", "hello", 5);
    return dnas_ckpt_write_commit(w) == DNAS_OK;
}

static void test_crc32c_vectors(void) {
    CHECK(dnas_crc32c(0, "123456789", 9) == 0xE3069283u, "check value %08x",
          dnas_crc32c(0, "123456789", 9));
    CHECK(dnas_crc32c(0, "", 0) == 0, "empty");
    unsigned char z[32], ff[32];
    memset(z, 0, 32);
    memset(ff, 0xff, 32);
    CHECK(dnas_crc32c(0, z, 32) == 0x8A9136AAu, "32 zeros (RFC 3720 B.4)");
    CHECK(dnas_crc32c(0, ff, 32) == 0x62A8AB43u, "32 0xff (RFC 3720 B.4)");
    /* Incremental at every split point and misalignment equals one pass. */
    unsigned char buf[100];
    fill(buf, sizeof buf, 7);
    uint32_t whole = dnas_crc32c(0, buf + 3, 90);
    for (size_t k = 0; k <= 90; k++)
        CHECK(dnas_crc32c(dnas_crc32c(0, buf + 3, k), buf + 3 + k, 90 - k) == whole, "split %zu", k);
}

static void test_roundtrip(void) {
    const char *p = tpath("rt.dnas");
    unsigned char *big = malloc(BIG_BYTES), *back = malloc(BIG_BYTES);
    float w3[3] = {1.5f, -2.25f, 3.0f};
    unsigned char odd[13];
    fill(big, BIG_BYTES, 42);
    fill(odd, sizeof odd, 9);
    dnas_ckpt_writer *w;
    CHECK(dnas_ckpt_write_begin(p, "nb201/darts1", &w) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_put(w, "weights", big, BIG_BYTES) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_put(w, "w3", w3, sizeof w3) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_put(w, "odd", odd, sizeof odd) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_put(w, "empty", NULL, 0) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_put_u64(w, "step", 0x0123456789abcdefull) == DNAS_OK, "%s", dnas_last_error());
    w3[0] = 99; /* put copied: later changes must not reach the file */
    CHECK(dnas_ckpt_write_commit(w) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_file_exists(p), "file written");
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    CHECK(!dnas_file_exists(tmp), "temp file left behind");

    dnas_ckpt *c = NULL;
    CHECK(dnas_ckpt_read(p, "nb201/darts1", &c) == DNAS_OK, "%s", dnas_last_error());
    if (c) {
        CHECK(strcmp(dnas_ckpt_kind(c), "nb201/darts1") == 0, "kind '%s'", dnas_ckpt_kind(c));
        size_t n = 0;
        const void *pw = dnas_ckpt_find(c, "weights", &n);
        CHECK(pw && n == BIG_BYTES && memcmp(pw, big, BIG_BYTES) == 0, "weights in place");
        CHECK(((uintptr_t)pw & 63) == 0, "entry 64-byte aligned");
        CHECK(dnas_ckpt_get(c, "weights", back, BIG_BYTES) == DNAS_OK && memcmp(back, big, BIG_BYTES) == 0,
              "weights get: %s", dnas_last_error());
        float r3[3] = {0};
        CHECK(dnas_ckpt_get(c, "w3", r3, sizeof r3) == DNAS_OK, "%s", dnas_last_error());
        CHECK(r3[0] == 1.5f && r3[1] == -2.25f && r3[2] == 3.0f, "w3 values");
        const void *po = dnas_ckpt_find(c, "odd", &n);
        CHECK(po && n == sizeof odd && memcmp(po, odd, n) == 0 && ((uintptr_t)po & 63) == 0, "odd");
        const void *pe = dnas_ckpt_find(c, "empty", &n);
        CHECK(pe != NULL && n == 0, "empty entry present with 0 bytes");
        CHECK(dnas_ckpt_get(c, "empty", NULL, 0) == DNAS_OK, "%s", dnas_last_error());
        uint64_t v = 0;
        CHECK(dnas_ckpt_get_u64(c, "step", &v) == DNAS_OK && v == 0x0123456789abcdefull, "u64");
        const unsigned char *raw = dnas_ckpt_find(c, "step", &n);
        CHECK(raw && n == 8 && raw[0] == 0xef && raw[7] == 0x01, "u64 stored little-endian");
        CHECK(dnas_ckpt_find(c, "nope", &n) == NULL && n == 0, "absent entry");
        /* Wrong size and missing entries name the entry, the file and the sizes. */
        dnas_status st = dnas_ckpt_get(c, "w3", r3, 8);
        CHECK(st == DNAS_ERR_FORMAT && contains(dnas_last_error(), "'w3'") &&
                  contains(dnas_last_error(), p) && contains(dnas_last_error(), "12 bytes") &&
                  contains(dnas_last_error(), "expected 8"),
              "size mismatch: %s", dnas_last_error());
        st = dnas_ckpt_get(c, "nope", r3, 12);
        CHECK(st == DNAS_ERR_FORMAT && contains(dnas_last_error(), "'nope'") && contains(dnas_last_error(), p),
              "missing entry: %s", dnas_last_error());
        CHECK(dnas_ckpt_get_u64(c, "w3", &v) == DNAS_ERR_FORMAT, "u64 of a 12-byte entry");
        dnas_ckpt_free(c);
    }
    /* A checkpoint without entries is valid too. */
    CHECK(dnas_ckpt_write_begin(p, "k", &w) == DNAS_OK && dnas_ckpt_write_commit(w) == DNAS_OK, "%s",
          dnas_last_error());
    c = NULL;
    CHECK(dnas_ckpt_read(p, "k", &c) == DNAS_OK && dnas_ckpt_find(c, "weights", NULL) == NULL, "%s",
          dnas_last_error());
    dnas_ckpt_free(c);
    unlink(p);
    free(big);
    free(back);
}

static void test_wrong_kind(void) {
    const char *p = tpath("kind.dnas");
    CHECK(write_small(p, "nb201/darts1"), "%s", dnas_last_error());
    dnas_ckpt *c = NULL;
    dnas_status st = dnas_ckpt_read(p, "darts/gdas", &c);
    CHECK(st == DNAS_ERR_FORMAT && c == NULL, "status %d", (int)st);
    char want[512];
    snprintf(want, sizeof want, "%s: checkpoint is for 'nb201/darts1', expected 'darts/gdas'", p);
    CHECK(strcmp(dnas_last_error(), want) == 0, "message: %s", dnas_last_error());
    CHECK(dnas_ckpt_read(p, NULL, &c) == DNAS_OK && strcmp(dnas_ckpt_kind(c), "nb201/darts1") == 0,
          "any kind: %s", dnas_last_error());
    dnas_ckpt_free(c);
    unlink(p);
}

/* Reads `len` bytes of `data` as a file: must fail with DNAS_ERR_FORMAT naming the path. */
static int rejects(const char *p, const unsigned char *data, size_t len, const char *must_say) {
    if (!write_raw(p, data, len)) return 0;
    dnas_ckpt *c = NULL;
    dnas_status st = dnas_ckpt_read(p, NULL, &c);
    int ok = st == DNAS_ERR_FORMAT && c == NULL && contains(dnas_last_error(), p) &&
             (!must_say || contains(dnas_last_error(), must_say));
    if (!ok) printf("  len %zu: status %d, '%s'\n", len, (int)st, dnas_last_error());
    dnas_ckpt_free(c);
    return ok;
}

static void test_truncated_small(void) {
    const char *p = tpath("ts.dnas"), *q = tpath("ts-copy.dnas");
    CHECK(write_small(p, "nb201/darts1"), "%s", dnas_last_error());
    size_t n = 0;
    unsigned char *d = (unsigned char *)slurp(p, &n);
    CHECK(d && n > 64, "read back %zu", n);
    int bad = 0;
    for (size_t len = 0; d && len < n; len++) {
        char hdr[96];
        snprintf(hdr, sizeof hdr, "truncated (%zu bytes, header says %zu)", len, n);
        /* Past the fixed 32-byte prefix the exact message is promised. */
        if (!rejects(q, d, len, len >= 32 ? hdr : "truncated")) bad++;
    }
    CHECK(bad == 0, "%d truncation lengths not rejected cleanly", bad);
    dnas_free(d);
    unlink(p);
    unlink(q);
}

static void test_truncated_big(void) {
    const char *p = tpath("tb.dnas"), *q = tpath("tb-copy.dnas");
    unsigned char *big = malloc(BIG_BYTES);
    fill(big, BIG_BYTES, 3);
    dnas_ckpt_writer *w;
    CHECK(dnas_ckpt_write_begin(p, "darts/darts2", &w) == DNAS_OK, "%s", dnas_last_error());
    dnas_ckpt_put(w, "weights", big, BIG_BYTES);
    dnas_ckpt_put(w, "momentum", big, 4096);
    CHECK(dnas_ckpt_write_commit(w) == DNAS_OK, "%s", dnas_last_error());
    size_t n = 0;
    unsigned char *d = (unsigned char *)slurp(p, &n);
    CHECK(d && n > BIG_BYTES, "size %zu", n);
    size_t lens[] = {0, 7, 31, 32, 100, 4096, n / 2, n - 4097, n - 1};
    for (size_t i = 0; d && i < sizeof lens / sizeof lens[0]; i++)
        CHECK(rejects(q, d, lens[i], "truncated"), "length %zu", lens[i]);
    dnas_free(d);
    free(big);
    unlink(p);
    unlink(q);
}

static void test_bitflips(void) {
    const char *p = tpath("bf.dnas"), *q = tpath("bf-copy.dnas");
    CHECK(write_small(p, "nb201/darts1"), "%s", dnas_last_error());
    size_t n = 0;
    unsigned char *d = (unsigned char *)slurp(p, &n);
    CHECK(d != NULL, "%s", dnas_last_error());
    int missed = 0;
    for (size_t bit = 0; d && bit < 8 * n; bit++) {
        d[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (!rejects(q, d, n, NULL)) missed++;
        d[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    CHECK(missed == 0, "%d of %zu bit flips not detected", missed, 8 * n);
    /* Flips past the magic report corruption, not some other problem. */
    if (d) {
        d[40] ^= 4;
        CHECK(rejects(q, d, n, "checksum mismatch (file corrupt)"), "body flip message");
        d[40] ^= 4;
        d[17] ^= 1; /* total-size field: the prefix CRC catches it before it is believed */
        CHECK(rejects(q, d, n, "checksum mismatch (file corrupt)"), "size-field flip message");
        d[17] ^= 1;
        d[0] ^= 1;
        CHECK(rejects(q, d, n, "not a dnas checkpoint"), "magic flip message");
        d[0] ^= 1;
        /* Appended bytes are caught as well. */
        unsigned char *longer = malloc(n + 1);
        memcpy(longer, d, n);
        longer[n] = 0;
        CHECK(rejects(q, longer, n + 1, "trailing data"), "appended byte");
        free(longer);
        CHECK(rejects(q, (const unsigned char *)"hello world, not a checkpoint at all", 36,
                      "not a dnas checkpoint"), "foreign file");
    }
    dnas_free(d);
    unlink(p);
    unlink(q);
}

static void test_unsupported_version(void) {
    /* A future version with a valid prefix CRC: the reader must refuse by version, not crash. */
    const char *p = tpath("ver.dnas"), *q = tpath("ver-copy.dnas");
    CHECK(write_small(p, "k"), "%s", dnas_last_error());
    size_t n = 0;
    unsigned char *d = (unsigned char *)slurp(p, &n);
    if (d) {
        d[8] = 2;
        uint32_t crc = dnas_crc32c(0, d, 28);
        for (int i = 0; i < 4; i++) d[28 + i] = (unsigned char)(crc >> (8 * i));
        CHECK(rejects(q, d, n, "version 2 is not supported"), "future version");
    }
    dnas_free(d);
    unlink(p);
    unlink(q);
}

static void test_missing_file(void) {
    const char *p = tpath("does-not-exist.dnas");
    dnas_ckpt *c = (dnas_ckpt *)&c; /* must be reset to NULL */
    dnas_status st = dnas_ckpt_read(p, "k", &c);
    CHECK(st == DNAS_ERR_IO && c == NULL, "status %d", (int)st);
    CHECK(contains(dnas_last_error(), p), "message names the path: %s", dnas_last_error());
    /* A directory is not a checkpoint either. */
    const char *dir = tpath("dir-not-ckpt");
    mkdir(dir, 0755);
    st = dnas_ckpt_read(dir, "k", &c);
    CHECK(st == DNAS_ERR_IO && contains(dnas_last_error(), dir), "directory: %s", dnas_last_error());
    rmdir(dir);
}

static int same_bytes(const char *p, const unsigned char *want, size_t n) {
    size_t m = 0;
    char *d = slurp(p, &m);
    int same = d && m == n && memcmp(d, want, n) == 0;
    dnas_free(d);
    return same;
}

static void test_failed_commit_keeps_old(void) {
    const char *p = tpath("keep.dnas");
    CHECK(write_small(p, "nb201/darts1"), "%s", dnas_last_error());
    size_t n = 0;
    unsigned char *good = (unsigned char *)slurp(p, &n);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    dnas_ckpt_writer *w;
    unsigned char *big = calloc(1, BIG_BYTES);

    /* 1. The disk fills up mid-write (simulated by a file-size limit). */
    struct rlimit old_lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {1 << 20, old_lim.rlim_max};
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    CHECK(dnas_ckpt_write_begin(p, "nb201/darts1", &w) == DNAS_OK, "begin");
    dnas_ckpt_put(w, "weights", big, BIG_BYTES);
    dnas_status st = dnas_ckpt_write_commit(w);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, old_sig);
    CHECK(st == DNAS_ERR_IO && contains(dnas_last_error(), p), "disk full: %d %s", (int)st,
          dnas_last_error());
    CHECK(good && same_bytes(p, good, n), "old file changed after a failed write");
    CHECK(!dnas_file_exists(tmp), "temp left after a failed write");

    /* 2. The temp name is taken by a directory: cannot even create the temp. */
    mkdir(tmp, 0755);
    CHECK(dnas_ckpt_write_begin(p, "nb201/darts1", &w) == DNAS_OK, "begin");
    dnas_ckpt_put_u64(w, "step", 1);
    st = dnas_ckpt_write_commit(w);
    CHECK(st == DNAS_ERR_IO && contains(dnas_last_error(), p), "temp is a dir: %s", dnas_last_error());
    CHECK(good && same_bytes(p, good, n), "old file changed (temp is a dir)");
    rmdir(tmp);

    /* 3. A failed put poisons the writer: the commit writes nothing. */
    CHECK(dnas_ckpt_write_begin(p, "nb201/darts1", &w) == DNAS_OK, "begin");
    dnas_ckpt_put_u64(w, "step", 1);
    CHECK(dnas_ckpt_put_u64(w, "step", 2) == DNAS_ERR_INVALID_ARG, "duplicate name accepted");
    st = dnas_ckpt_write_commit(w);
    CHECK(st == DNAS_ERR_INVALID_ARG && contains(dnas_last_error(), "duplicate") &&
              contains(dnas_last_error(), p),
          "poisoned commit: %s", dnas_last_error());
    CHECK(good && same_bytes(p, good, n), "old file changed (poisoned writer)");
    CHECK(!dnas_file_exists(tmp), "temp left (poisoned writer)");

    /* 4. The directory does not exist. */
    const char *nodir = tpath("no-such-dir/x.dnas");
    CHECK(dnas_ckpt_write_begin(nodir, "k", &w) == DNAS_OK, "begin");
    st = dnas_ckpt_write_commit(w);
    CHECK(st == DNAS_ERR_IO && contains(dnas_last_error(), nodir), "no dir: %s", dnas_last_error());

    /* 5. The target is a directory: rename fails, the temp is removed. */
    const char *dirp = tpath("is-a-dir");
    mkdir(dirp, 0755);
    CHECK(dnas_ckpt_write_begin(dirp, "k", &w) == DNAS_OK, "begin");
    st = dnas_ckpt_write_commit(w);
    CHECK(st == DNAS_ERR_IO && contains(dnas_last_error(), dirp), "target dir: %s", dnas_last_error());
    rm_tmp_of(dirp);
    char dtmp[300];
    snprintf(dtmp, sizeof dtmp, "%s.tmp", dirp);
    CHECK(!dnas_file_exists(dtmp), "temp left (target is a dir)");
    rmdir(dirp);

    /* 6. Abort leaves nothing behind. */
    const char *ab = tpath("aborted.dnas");
    CHECK(dnas_ckpt_write_begin(ab, "k", &w) == DNAS_OK, "begin");
    dnas_ckpt_put(w, "x", big, 100);
    dnas_ckpt_write_abort(w);
    CHECK(!dnas_file_exists(ab), "abort wrote a file");
    dnas_ckpt_write_abort(NULL);

    free(big);
    dnas_free(good);
    unlink(p);
    rm_tmp_of(p);
}

static void test_bad_arguments(void) {
    const char *p = tpath("args.dnas");
    dnas_ckpt_writer *w = NULL;
    CHECK(dnas_ckpt_write_begin(p, "", &w) == DNAS_ERR_INVALID_ARG && w == NULL, "empty kind");
    char longname[300];
    memset(longname, 'a', 299);
    longname[299] = 0;
    CHECK(dnas_ckpt_write_begin(p, longname, &w) == DNAS_ERR_INVALID_ARG, "long kind");
    CHECK(dnas_ckpt_write_begin(NULL, "k", &w) == DNAS_ERR_INVALID_ARG, "NULL path");
    CHECK(dnas_ckpt_write_begin(p, "k", &w) == DNAS_OK, "begin");
    CHECK(dnas_ckpt_put(w, "", "x", 1) == DNAS_ERR_INVALID_ARG, "empty name");
    dnas_ckpt_write_abort(w);
    CHECK(dnas_ckpt_write_begin(p, "k", &w) == DNAS_OK, "begin");
    CHECK(dnas_ckpt_put(w, longname, "x", 1) == DNAS_ERR_INVALID_ARG, "long name");
    dnas_ckpt_write_abort(w);
    CHECK(dnas_ckpt_write_begin(p, "k", &w) == DNAS_OK, "begin");
    CHECK(dnas_ckpt_put(w, "n", NULL, 4) == DNAS_ERR_INVALID_ARG, "NULL data");
    dnas_ckpt_write_abort(w);
    longname[255] = 0; /* the longest allowed name round-trips */
    CHECK(dnas_ckpt_write_begin(p, longname, &w) == DNAS_OK, "begin 255");
    CHECK(dnas_ckpt_put_u64(w, longname, 7) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_write_commit(w) == DNAS_OK, "%s", dnas_last_error());
    dnas_ckpt *c = NULL;
    uint64_t v = 0;
    CHECK(dnas_ckpt_read(p, longname, &c) == DNAS_OK && dnas_ckpt_get_u64(c, longname, &v) == DNAS_OK &&
              v == 7,
          "%s", dnas_last_error());
    dnas_ckpt_free(c);
    unlink(p);
}

/* Out of memory at every allocation of a write and of a read: a clean DNAS_ERR_OOM, no leak
 * (ASan checks), and the old file intact. */
static void test_out_of_memory(void) {
    const char *p = tpath("oom.dnas");
    CHECK(write_small(p, "k"), "%s", dnas_last_error());
    size_t n = 0;
    unsigned char *good = (unsigned char *)slurp(p, &n);
    dnas_failing_allocator fa;
    int write_ok = 0, read_ok = 0;
    for (long k = 1; k < 50 && !write_ok; k++) {
        dnas_failing_allocator_install(&fa, k);
        dnas_ckpt_writer *w = NULL;
        dnas_status st = dnas_ckpt_write_begin(p, "k", &w);
        if (st == DNAS_OK) {
            dnas_ckpt_put(w, "a", "abc", 3);
            dnas_ckpt_put_u64(w, "b", 5);
            st = dnas_ckpt_write_commit(w);
        }
        dnas_set_allocator(NULL);
        if (st == DNAS_OK) write_ok = 1;
        else {
            CHECK(st == DNAS_ERR_OOM, "write, fail at %ld: %d %s", k, (int)st, dnas_last_error());
            CHECK(same_bytes(p, good, n), "old file changed, fail at %ld", k);
        }
    }
    CHECK(write_ok, "write never succeeded");
    for (long k = 1; k < 50 && !read_ok; k++) {
        dnas_failing_allocator_install(&fa, k);
        dnas_ckpt *c = NULL;
        dnas_status st = dnas_ckpt_read(p, "k", &c);
        dnas_set_allocator(NULL);
        if (st == DNAS_OK) {
            read_ok = 1;
            uint64_t v = 0;
            CHECK(dnas_ckpt_get_u64(c, "b", &v) == DNAS_OK && v == 5, "value after OOM retries");
        } else {
            CHECK(st == DNAS_ERR_OOM && c == NULL, "read, fail at %ld: %d", k, (int)st);
        }
        dnas_ckpt_free(c);
    }
    CHECK(read_ok, "read never succeeded");
    dnas_free(good);
    unlink(p);
}

static void test_atomic_write(void) {
    const char *p = tpath("atomic.txt");
    CHECK(dnas_write_file_atomic(p, "old contents", 12) == DNAS_OK, "%s", dnas_last_error());
    CHECK(same_bytes(p, (const unsigned char *)"old contents", 12), "first write");
    CHECK(dnas_write_file_atomic(p, "new", 3) == DNAS_OK, "%s", dnas_last_error());
    CHECK(same_bytes(p, (const unsigned char *)"new", 3), "replaced");
    CHECK(dnas_write_file_atomic(p, NULL, 0) == DNAS_OK, "%s", dnas_last_error());
    CHECK(same_bytes(p, (const unsigned char *)"", 0), "empty");
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    CHECK(!dnas_file_exists(tmp), "temp left");
    const char *bad = tpath("no-such-dir/atomic.txt");
    CHECK(dnas_write_file_atomic(bad, "x", 1) == DNAS_ERR_IO && contains(dnas_last_error(), bad),
          "missing dir: %s", dnas_last_error());
    /* The streamed form: abort leaves the old file alone. */
    CHECK(dnas_write_file_atomic(p, "keep", 4) == DNAS_OK, "%s", dnas_last_error());
    dnas_atomic_file f;
    CHECK(dnas_atomic_open(&f, p) == DNAS_OK, "%s", dnas_last_error());
    dnas_atomic_write(&f, "discard", 7);
    dnas_atomic_abort(&f);
    CHECK(same_bytes(p, (const unsigned char *)"keep", 4) && !dnas_file_exists(tmp), "abort");
    dnas_atomic_abort(&f); /* twice is harmless */
    unlink(p);
}

static void test_append_line(void) {
    const char *p = tpath("log.jsonl");
    unlink(p);
    CHECK(dnas_append_line(p, "{\"step\":1}") == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_append_line(p, "{\"step\":2}") == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_append_line(p, "") == DNAS_OK, "%s", dnas_last_error());
    const char *want = "{\"step\":1}\n{\"step\":2}\n\n";
    CHECK(same_bytes(p, (const unsigned char *)want, strlen(want)), "contents");
    CHECK(dnas_append_line(p, "two\nlines") == DNAS_ERR_INVALID_ARG, "embedded newline");
    CHECK(same_bytes(p, (const unsigned char *)want, strlen(want)), "unchanged after refusal");
    const char *bad = tpath("no-such-dir/log.jsonl");
    CHECK(dnas_append_line(bad, "x") == DNAS_ERR_IO && contains(dnas_last_error(), bad), "%s",
          dnas_last_error());
    unlink(p);
}

static void test_mkdir_and_exists(void) {
    const char *base = tpath("mk"), *deep = tpath("mk/a//b/c/");
    CHECK(!dnas_file_exists(base), "fresh");
    CHECK(dnas_mkdir_p(deep) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_mkdir_p(deep) == DNAS_OK, "again: %s", dnas_last_error());
    struct stat sb;
    char c_dir[300];
    snprintf(c_dir, sizeof c_dir, "%s/a/b/c", base);
    CHECK(stat(c_dir, &sb) == 0 && S_ISDIR(sb.st_mode), "created %s", c_dir);
    char file[300], under[300];
    snprintf(file, sizeof file, "%s/a/file", base);
    snprintf(under, sizeof under, "%s/a/file/sub", base);
    CHECK(dnas_write_file_atomic(file, "x", 1) == DNAS_OK && dnas_file_exists(file), "file");
    CHECK(dnas_mkdir_p(under) == DNAS_ERR_IO && contains(dnas_last_error(), file), "through a file: %s",
          dnas_last_error());
    CHECK(dnas_mkdir_p(file) == DNAS_ERR_IO, "onto a file");
    unlink(file);
    rmdir(c_dir);
    snprintf(c_dir, sizeof c_dir, "%s/a/b", base);
    rmdir(c_dir);
    snprintf(c_dir, sizeof c_dir, "%s/a", base);
    rmdir(c_dir);
    rmdir(base);
    CHECK(!dnas_file_exists(base), "cleaned");
    CHECK(dnas_mkdir_p("") == DNAS_ERR_INVALID_ARG, "empty path");
}

static void test_read_file(void) {
    const char *p = tpath("read.txt");
    CHECK(write_raw(p, "abc\0def", 7), "setup");
    char *d = NULL;
    size_t n = 0;
    CHECK(dnas_read_file(p, &d, &n) == DNAS_OK && n == 7 && memcmp(d, "abc\0def", 8) == 0,
          "contents + NUL");
    dnas_free(d);
    unlink(p);
    CHECK(dnas_read_file(p, &d, &n) == DNAS_ERR_IO && d == NULL && contains(dnas_last_error(), p),
          "missing: %s", dnas_last_error());
}

static void test_sbuf(void) {
    dnas_sbuf s = {0};
    dnas_sb_json_string(&s, "a\"b\\c/d\n\t\r\b\f\x01\x1f\x7f" "\xc3\xa9z");
    const char *want = "\"a\\\"b\\\\c/d\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f\xc3\xa9z\"";
    CHECK(!s.oom && s.buf && strcmp(s.buf, want) == 0 && s.len == strlen(want), "escaped: %s",
          s.buf ? s.buf : "(null)");
    dnas_sb_free(&s);
    CHECK(s.buf == NULL && s.len == 0, "freed");
    dnas_sb_printf(&s, "{\"k\":");
    dnas_sb_json_string(&s, NULL);
    dnas_sb_printf(&s, ",\"e\":");
    dnas_sb_json_string(&s, "");
    dnas_sb_printf(&s, "}");
    CHECK(s.buf && strcmp(s.buf, "{\"k\":null,\"e\":\"\"}") == 0, "%s", s.buf ? s.buf : "(null)");
    dnas_sb_free(&s);
    /* Growth across many appends, including one longer than any buffer so far. */
    for (int i = 0; i < 5000; i++) dnas_sb_printf(&s, "%d,", i % 10);
    dnas_sb_printf(&s, "%s", "");
    int ok = !s.oom && s.len == 10000;
    for (int i = 0; ok && i < 5000; i++) ok = s.buf[2 * i] == '0' + i % 10 && s.buf[2 * i + 1] == ',';
    CHECK(ok && s.buf[s.len] == 0, "5000 appends");
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    dnas_sb_free(&s);
    dnas_sb_printf(&s, "<%s>", big);
    CHECK(s.len == 3001 && s.buf[0] == '<' && s.buf[3000] == '>' && s.buf[3001] == 0, "long append");
    dnas_sb_free(&s);
    /* Out of memory: the flag sticks and the buffer stays a valid string. */
    dnas_sb_printf(&s, "ok");
    dnas_failing_allocator fa;
    dnas_failing_allocator_install(&fa, 1);
    dnas_sb_printf(&s, "%s", big);
    dnas_sb_json_string(&s, "y");
    dnas_set_allocator(NULL);
    dnas_sb_printf(&s, "more");
    CHECK(s.oom && strcmp(s.buf, "ok") == 0 && s.len == 2, "oom sticks: '%s'", s.buf);
    dnas_sb_free(&s);
}

int main(void) {
    RUN(test_crc32c_vectors);
    RUN(test_roundtrip);
    RUN(test_wrong_kind);
    RUN(test_truncated_small);
    RUN(test_truncated_big);
    RUN(test_bitflips);
    RUN(test_unsupported_version);
    RUN(test_missing_file);
    RUN(test_failed_commit_keeps_old);
    RUN(test_bad_arguments);
    RUN(test_out_of_memory);
    RUN(test_atomic_write);
    RUN(test_append_line);
    RUN(test_mkdir_and_exists);
    RUN(test_read_file);
    RUN(test_sbuf);
    TEST_EXIT();
}
