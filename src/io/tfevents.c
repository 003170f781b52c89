/* TensorBoard event files (tfevents.h): protobuf encoded by hand, fields in number order as
 * protobuf's own serialiser writes them. Field numbers (event.proto, summary.proto):
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; SessionLog session_log = 7; }
 *   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
 *   SessionLog { SessionStatus status = 1; }   START = 1 */
#include "tfevents.h"
#include "files.h"
#include "../core/alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TAG_MAX 1024

struct dnas_tfevents {
    FILE *fp;
    char path[640];
    int failed; /* a write failed: later calls fail at once, naming the file */
};

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

typedef struct {
    uint8_t *b;
    size_t n, cap;
} pb;

static void put_byte(pb *p, uint8_t v) {
    if (p->n < p->cap) p->b[p->n] = v;
    p->n++; /* counted even past cap: the caller checks n <= cap once */
}
static void put_varint(pb *p, uint64_t v) {
    while (v >= 0x80) {
        put_byte(p, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_byte(p, (uint8_t)v);
}
static void put_key(pb *p, int field, int wt) { put_varint(p, (uint64_t)field << 3 | (uint64_t)wt); }
static void put_le(pb *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) put_byte(p, (uint8_t)(v >> (8 * i)));
}
static void put_bytes(pb *p, int field, const void *data, size_t n) {
    put_key(p, field, WT_LEN);
    put_varint(p, n);
    for (size_t i = 0; i < n; i++) put_byte(p, ((const uint8_t *)data)[i]);
}

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Event header: wall_time (now) and step. */
static void put_event_head(pb *p, int64_t step) {
    double t = wall_now();
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    put_key(p, 1, WT_FIXED64);
    put_le(p, bits, 8);
    if (step != 0) { /* proto3 leaves default values out */
        put_key(p, 2, WT_VARINT);
        put_varint(p, (uint64_t)step);
    }
}

uint32_t dnas_tfrecord_mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static dnas_status write_record(dnas_tfevents *w, const uint8_t *data, size_t n) {
    if (w->failed) return dnas_fail(DNAS_ERR_IO, "%s: an earlier write failed", w->path);
    uint8_t head[12], tail[4];
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)((uint64_t)n >> (8 * i));
    uint32_t lc = dnas_tfrecord_mask_crc(dnas_crc32c(0, head, 8));
    uint32_t dc = dnas_tfrecord_mask_crc(dnas_crc32c(0, data, n));
    for (int i = 0; i < 4; i++) {
        head[8 + i] = (uint8_t)(lc >> (8 * i));
        tail[i] = (uint8_t)(dc >> (8 * i));
    }
    if (fwrite(head, 1, 12, w->fp) != 12 || fwrite(data, 1, n, w->fp) != n ||
        fwrite(tail, 1, 4, w->fp) != 4) {
        w->failed = 1;
        return dnas_fail(DNAS_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    }
    return DNAS_OK;
}

/* Host name as a file-name part: letters, digits, '.', '-', '_' kept, anything else '_'. */
static void host_part(char *buf, size_t cap) {
    if (gethostname(buf, cap) != 0 || !buf[0]) snprintf(buf, cap, "localhost");
    buf[cap - 1] = 0;
    for (char *c = buf; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '_'))
            *c = '_';
}

dnas_status dnas_tfevents_open(const char *dir, int64_t start_step, dnas_tfevents **out) {
    *out = NULL;
    if (!dir || !dir[0]) return dnas_fail(DNAS_ERR_INVALID_ARG, "tfevents: no directory given");
    dnas_tfevents *w = dnas_calloc(sizeof *w, "tfevents writer");
    if (!w) return DNAS_ERR_OOM;
    char host[128];
    host_part(host, sizeof host);
    long now = (long)time(NULL);
    int fd = -1;
    for (int k = 0; k < 100 && fd < 0; k++) {
        int n = k ? snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%ld.%s.%d", dir, now, host, k)
                  : snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%ld.%s", dir, now, host);
        if (n < 0 || (size_t)n >= sizeof w->path) {
            dnas_free(w);
            return dnas_fail(DNAS_ERR_INVALID_ARG, "tfevents: directory name too long: %.80s...", dir);
        }
        fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0 || !(w->fp = fdopen(fd, "wb"))) {
        dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: cannot create: %s", w->path, strerror(errno));
        if (fd >= 0) close(fd);
        dnas_free(w);
        return st;
    }
    uint8_t buf[128];
    pb p = {buf, 0, sizeof buf};
    put_event_head(&p, 0);
    put_bytes(&p, 3, "brain.Event:2", strlen("brain.Event:2"));
    dnas_status st = write_record(w, buf, p.n);
    if (st == DNAS_OK) {
        uint8_t sl[2] = {1 << 3 | WT_VARINT, 1}; /* SessionLog{status: START} */
        p.n = 0;
        put_event_head(&p, start_step);
        put_bytes(&p, 7, sl, sizeof sl);
        st = write_record(w, buf, p.n);
    }
    if (st == DNAS_OK) st = dnas_tfevents_flush(w);
    if (st != DNAS_OK) {
        dnas_tfevents_close(w);
        return st;
    }
    *out = w;
    return DNAS_OK;
}

dnas_status dnas_tfevents_scalar(dnas_tfevents *w, const char *tag, int64_t step, double value) {
    if (!w || !tag) return dnas_fail(DNAS_ERR_INVALID_ARG, "tfevents: NULL writer or tag");
    size_t tn = strlen(tag);
    if (tn == 0 || tn > TAG_MAX)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: tag of %zu bytes (1..%d allowed)", w->path, tn, TAG_MAX);
    uint8_t vbuf[TAG_MAX + 16], sbuf[TAG_MAX + 32], ebuf[TAG_MAX + 64];
    pb v = {vbuf, 0, sizeof vbuf}, s = {sbuf, 0, sizeof sbuf}, e = {ebuf, 0, sizeof ebuf};
    float f = (float)value;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    put_bytes(&v, 1, tag, tn);
    put_key(&v, 2, WT_FIXED32);
    put_le(&v, bits, 4);
    put_bytes(&s, 1, vbuf, v.n);
    put_event_head(&e, step);
    put_bytes(&e, 5, sbuf, s.n);
    if (e.n > e.cap) return dnas_fail(DNAS_ERR_INTERNAL, "%s: event buffer too small", w->path);
    return write_record(w, ebuf, e.n);
}

dnas_status dnas_tfevents_flush(dnas_tfevents *w) {
    if (!w) return DNAS_OK;
    if (w->failed) return dnas_fail(DNAS_ERR_IO, "%s: an earlier write failed", w->path);
    if (fflush(w->fp) != 0) {
        w->failed = 1;
        return dnas_fail(DNAS_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    }
    return DNAS_OK;
}

void dnas_tfevents_close(dnas_tfevents *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    dnas_free(w);
}

const char *dnas_tfevents_path(const dnas_tfevents *w) { return w ? w->path : ""; }
