/* The safetensors writer and reader (src/io/safetensors.c): the exact bytes of a hand-worked
 * example (header JSON, sorted keys, offsets, space padding to an 8-byte data start), a round
 * trip of many tensors through a file, every fault the reader must refuse (each a one-line
 * DNAS_ERR_FORMAT naming the file), bad arguments and bad paths. */
#include "test.h"
#include "io/safetensors.h"
#include "core/alloc.h"
#include <stdint.h>
#include <unistd.h>

static char dir[256];

static const char *path_of(const char *name) {
    static char p[4][512];
    static int k;
    char *s = p[k++ & 3];
    snprintf(s, sizeof p[0], "%s/%s", dir, name);
    return s;
}

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | b[k];
    return v;
}

/* b: F32 [2] = {1, 2}; a: I64 scalar = 7; metadata {"k": "v\"q"}. The header is worked out by
 * hand: "__metadata__" first, then "a" before "b" (sorted), data in that order. */
static void test_hand_example(void) {
    float bv[2] = {1.0f, 2.0f};
    int64_t av = 7;
    dnas_st_tensor t[2] = {{"b", DNAS_ST_F32, 1, {2}, bv}, {"a", DNAS_ST_I64, 0, {0}, &av}};
    dnas_st_meta m[1] = {{"k", "v\"q"}};
    char *buf = NULL;
    size_t n = 0;
    dnas_status st = dnas_st_encode(t, 2, m, 1, "hand", &buf, &n);
    CHECK(st == DNAS_OK, "encode: %s", dnas_last_error());
    if (st != DNAS_OK) return;
    const char *want = "{\"__metadata__\":{\"k\":\"v\\\"q\"},"
                       "\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    size_t wl = strlen(want), hl = le64((const unsigned char *)buf);
    size_t padded = wl + (8 - (8 + wl) % 8) % 8;
    CHECK(hl == padded, "header length %zu, want %zu (%zu + padding to 8)", hl, padded, wl);
    CHECK((8 + hl) % 8 == 0, "data starts at %zu: not 8-byte aligned", 8 + hl);
    CHECK(n == 8 + hl + 16, "file is %zu bytes, want %zu", n, 8 + hl + 16);
    if (hl == padded && n == 8 + hl + 16) {
        CHECK(memcmp(buf + 8, want, wl) == 0, "header is\n%.*s\nwant\n%s", (int)hl, buf + 8, want);
        for (size_t i = wl; i < hl; i++) CHECK(buf[8 + i] == ' ', "padding byte %zu is not a space", i);
        int64_t a;
        float b[2];
        memcpy(&a, buf + 8 + hl, 8);
        memcpy(b, buf + 8 + hl + 8, 8);
        CHECK(a == 7 && b[0] == 1.0f && b[1] == 2.0f, "data bytes wrong");
        printf("  header (%zu bytes + %zu spaces): %s\n", wl, hl - wl, want);
    }
    /* Our reader takes it back, metadata unescaped. */
    dnas_st_file f;
    st = dnas_st_parse(buf, n, "hand", &f);
    CHECK(st == DNAS_OK, "parse: %s", dnas_last_error());
    if (st == DNAS_OK) {
        const dnas_st_entry *ea = dnas_st_find(&f, "a"), *eb = dnas_st_find(&f, "b");
        CHECK(ea && ea->dtype == DNAS_ST_I64 && ea->ndim == 0 && ea->bytes == 8, "entry a");
        CHECK(eb && eb->dtype == DNAS_ST_F32 && eb->ndim == 1 && eb->shape[0] == 2, "entry b");
        const char *v = dnas_st_meta_get(&f, "k");
        CHECK(v && !strcmp(v, "v\"q"), "metadata k = %s", v ? v : "(none)");
    }
    dnas_st_free(&f);
    /* No tensors, no metadata: "{}" and six spaces. */
    char *e = NULL;
    size_t en = 0;
    CHECK(dnas_st_encode(NULL, 0, NULL, 0, "empty", &e, &en) == DNAS_OK && en == 16 &&
              !memcmp(e + 8, "{}      ", 8) && le64((unsigned char *)e) == 8,
          "an empty file must be 8 + \"{}\" + 6 spaces");
    dnas_free(e);
    dnas_free(buf);
}

/* Many tensors of assorted shapes and sizes (odd byte counts included) through a file. */
static void test_round_trip(void) {
    enum { N = 40 };
    dnas_st_tensor t[N];
    char names[N][32];
    float *data[N];
    unsigned seed = 12345;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "layer.%d.%s", (i * 7) % N, i % 2 ? "weight" : "bias");
        int ndim = i % 5;
        size_t numel = 1;
        memset(&t[i], 0, sizeof t[i]);
        t[i].name = names[i];
        t[i].dtype = DNAS_ST_F32;
        t[i].ndim = ndim;
        for (int d = 0; d < ndim; d++) {
            t[i].shape[d] = 1 + (i + d) % 3;
            numel *= (size_t)t[i].shape[d];
        }
        data[i] = malloc(numel * sizeof(float));
        for (size_t k = 0; k < numel; k++) {
            seed = seed * 1103515245u + 12345u;
            data[i][k] = (float)(seed >> 8) / 65536.0f - 128.0f;
        }
        t[i].data = data[i];
    }
    dnas_st_meta m[2] = {{"space", "nb201"}, {"genotype", "|nor_conv_3x3~0|+|none~0|skip_connect~1|"}};
    const char *p = path_of("rt.safetensors");
    dnas_status st = dnas_st_write(p, t, N, m, 2);
    CHECK(st == DNAS_OK, "write: %s", dnas_last_error());
    dnas_st_file f;
    st = dnas_st_read(p, &f);
    CHECK(st == DNAS_OK, "read: %s", dnas_last_error());
    if (st == DNAS_OK) {
        CHECK(f.n == N && f.n_meta == 2, "%d tensors, %d metadata", f.n, f.n_meta);
        for (int i = 1; i < f.n; i++)
            CHECK(strcmp(f.t[i - 1].name, f.t[i].name) < 0, "keys not sorted at %s", f.t[i].name);
        for (int i = 0; i < N; i++) {
            const dnas_st_entry *e = dnas_st_find(&f, names[i]);
            CHECK(e && e->ndim == t[i].ndim && !memcmp(e->shape, t[i].shape, sizeof(int64_t) * (size_t)e->ndim),
                  "%s: missing or wrong shape", names[i]);
            size_t numel = 1;
            for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
            CHECK(e && e->bytes == numel * 4 && !memcmp(e->data, data[i], e->bytes), "%s: data", names[i]);
        }
        const char *g = dnas_st_meta_get(&f, "genotype");
        CHECK(g && !strcmp(g, m[1].value), "metadata genotype");
    }
    dnas_st_free(&f);
    for (int i = 0; i < N; i++) free(data[i]);
    unlink(p);
}

/* A header text in a file: 8-byte length + text + `data` bytes of zeros. */
static dnas_status parse_text(const char *header, size_t data, size_t claim_extra) {
    size_t hl = strlen(header), n = 8 + hl + data;
    unsigned char *b = calloc(n, 1);
    uint64_t v = hl + claim_extra;
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(v >> (8 * k));
    memcpy(b + 8, header, hl);
    dnas_st_file f;
    dnas_status st = dnas_st_parse(b, n, "bad.safetensors", &f);
    dnas_st_free(&f);
    free(b);
    return st;
}

static void test_reader_refuses(void) {
    const struct {
        const char *what, *header;
        size_t data, extra;
    } bad[] = {
        {"header length past the end", "{}", 0, 100},
        {"not an object", "[1]", 0, 0},
        {"text after the object", "{} x", 0, 0},
        {"truncated data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0},
        {"size not dtype x shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, 0},
        {"a hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0},
        {"an overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0},
        {"bytes left over", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, 0},
        {"unknown dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0},
        {"extra key", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 1, 0},
        {"missing key", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, 0},
        {"duplicate name", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                           "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, 0},
        {"begin after end", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,0]}}", 1, 0},
        {"negative dimension", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, 0},
        {"metadata not strings", "{\"__metadata__\":{\"k\":1}}", 0, 0},
        {"unterminated string", "{\"a", 0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dnas_status st = parse_text(bad[i].header, bad[i].data, bad[i].extra);
        const char *msg = dnas_last_error();
        CHECK(st == DNAS_ERR_FORMAT && strstr(msg, "bad.safetensors") && !strchr(msg, '\n'),
              "%s: status %d, message '%s'", bad[i].what, (int)st, msg);
        printf("  %-24s -> %s\n", bad[i].what, msg);
    }
    CHECK(parse_text("{}", 0, 0) == DNAS_OK, "the empty file must parse");
    unsigned char short_file[5] = {0};
    dnas_st_file f;
    CHECK(dnas_st_parse(short_file, 5, "bad.safetensors", &f) == DNAS_ERR_FORMAT, "5-byte file");
}

static void test_bad_args_and_paths(void) {
    float v = 1;
    dnas_st_tensor dup[2] = {{"w", DNAS_ST_F32, 1, {1}, &v}, {"w", DNAS_ST_F32, 1, {1}, &v}};
    dnas_st_tensor meta_name[1] = {{"__metadata__", DNAS_ST_F32, 1, {1}, &v}};
    dnas_st_tensor empty_name[1] = {{"", DNAS_ST_F32, 1, {1}, &v}};
    dnas_st_tensor neg[1] = {{"w", DNAS_ST_F32, 1, {-2}, &v}};
    dnas_st_tensor nodata[1] = {{"w", DNAS_ST_F32, 1, {1}, NULL}};
    dnas_st_meta dupm[2] = {{"k", "1"}, {"k", "2"}};
    const struct {
        const char *what;
        const dnas_st_tensor *t;
        int n;
        const dnas_st_meta *m;
        int nm;
    } cases[] = {{"duplicate name", dup, 2, NULL, 0}, {"__metadata__ as a name", meta_name, 1, NULL, 0},
                 {"empty name", empty_name, 1, NULL, 0}, {"negative dimension", neg, 1, NULL, 0},
                 {"no data", nodata, 1, NULL, 0}, {"duplicate metadata key", NULL, 0, dupm, 2}};
    const char *p = path_of("args.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dnas_status st = dnas_st_write(p, cases[i].t, cases[i].n, cases[i].m, cases[i].nm);
        CHECK(st == DNAS_ERR_INVALID_ARG && strstr(dnas_last_error(), p), "%s: status %d (%s)",
              cases[i].what, (int)st, dnas_last_error());
        CHECK(access(p, F_OK) != 0, "%s: a file was written", cases[i].what);
    }
    dnas_st_tensor ok1[1] = {{"w", DNAS_ST_F32, 1, {1}, &v}};
    dnas_status st = dnas_st_write("/nonexistent-dnas-dir/x.safetensors", ok1, 1, NULL, 0);
    CHECK(st == DNAS_ERR_IO && strstr(dnas_last_error(), "/nonexistent-dnas-dir/x.safetensors"),
          "write into a missing directory: %d %s", (int)st, dnas_last_error());
    printf("  write into a missing directory -> %s\n", dnas_last_error());
    dnas_st_file f;
    st = dnas_st_read(path_of("missing.safetensors"), &f);
    CHECK(st == DNAS_ERR_IO && strstr(dnas_last_error(), "missing.safetensors"),
          "read a missing file: %d %s", (int)st, dnas_last_error());
    printf("  read a missing file -> %s\n", dnas_last_error());
    /* A truncated file on disk names the file. */
    st = dnas_st_write(p, ok1, 1, NULL, 0);
    CHECK(st == DNAS_OK, "write: %s", dnas_last_error());
    CHECK(truncate(p, 20) == 0, "truncate");
    st = dnas_st_read(p, &f);
    CHECK(st == DNAS_ERR_FORMAT && strstr(dnas_last_error(), p), "truncated: %d %s", (int)st,
          dnas_last_error());
    printf("  read a truncated file -> %s\n", dnas_last_error());
    unlink(p);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dnas-test-safetensors-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) return 1;
    RUN(test_hand_example);
    RUN(test_round_trip);
    RUN(test_reader_refuses);
    RUN(test_bad_args_and_paths);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    TEST_EXIT();
}
