#include "files.h"
#include "../core/alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* "<s><suffix>" in a fresh dnas_alloc'd buffer, or NULL (message set). */
static char *str_concat(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    char *p = dnas_alloc(a + b + 1, "path string");
    if (!p) return NULL;
    memcpy(p, s, a);
    memcpy(p + a, suffix, b + 1);
    return p;
}

/* ---- atomic replacement ------------------------------------------------------------------ */

static void atomic_release(dnas_atomic_file *f) {
    dnas_free(f->path);
    dnas_free(f->tmp);
    f->fp = NULL;
    f->path = f->tmp = NULL;
    f->st = DNAS_OK;
}

dnas_status dnas_atomic_open(dnas_atomic_file *f, const char *path) {
    if (!f || !path || !*path)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_atomic_open: empty path");
    *f = (dnas_atomic_file){0};
    f->path = str_concat(path, "");
    f->tmp = str_concat(path, ".tmp");
    if (!f->path || !f->tmp) {
        atomic_release(f);
        return DNAS_ERR_OOM;
    }
    /* O_TRUNC, not O_EXCL: a temp left by a crashed run must not block every later save. */
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: cannot create temp file %s: %s", path, f->tmp,
                                   strerror(errno));
        atomic_release(f);
        return st;
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: cannot open temp file %s: %s", path, f->tmp,
                                   strerror(errno));
        close(fd);
        unlink(f->tmp);
        atomic_release(f);
        return st;
    }
    return DNAS_OK;
}

dnas_status dnas_atomic_write(dnas_atomic_file *f, const void *data, size_t bytes) {
    if (!f || !f->fp) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_atomic_write: file not open");
    if (f->st != DNAS_OK) return f->st;
    if (bytes == 0) return DNAS_OK;
    errno = 0;
    if (fwrite(data, 1, bytes, f->fp) != bytes)
        f->st = dnas_fail(DNAS_ERR_IO, "%s: write failed: %s", f->tmp,
                          errno ? strerror(errno) : "short write");
    return f->st;
}

void dnas_atomic_abort(dnas_atomic_file *f) {
    if (!f) return;
    if (f->fp) fclose(f->fp);
    if (f->tmp) unlink(f->tmp);
    atomic_release(f);
}

/* fsync the directory holding `path` so the rename itself survives a crash. `scratch` has room
 * for strlen(path) + 1 bytes. Filesystems that cannot fsync a directory (EINVAL) are accepted. */
static dnas_status fsync_parent_dir(const char *path, char *scratch) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(scratch, ".");
    } else if (slash == path) {
        strcpy(scratch, "/");
    } else {
        memcpy(scratch, path, (size_t)(slash - path));
        scratch[slash - path] = 0;
    }
    int fd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return dnas_fail(DNAS_ERR_IO, "%s: written, but cannot open directory %s to fsync it: %s",
                         path, scratch, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc != 0 && err != EINVAL)
        return dnas_fail(DNAS_ERR_IO, "%s: written, but fsync of directory %s failed: %s", path,
                         scratch, strerror(err));
    return DNAS_OK;
}

dnas_status dnas_atomic_commit(dnas_atomic_file *f) {
    if (!f || !f->fp) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_atomic_commit: file not open");
    if (f->st != DNAS_OK) {
        dnas_status st = f->st;
        dnas_atomic_abort(f);
        return st;
    }
    dnas_status st = DNAS_OK;
    /* Data must be on disk before the rename publishes it, or a crash could leave `path`
     * pointing at an empty or partial file. */
    if (fflush(f->fp) != 0)
        st = dnas_fail(DNAS_ERR_IO, "%s: write failed: %s", f->tmp, strerror(errno));
    else if (fsync(fileno(f->fp)) != 0)
        st = dnas_fail(DNAS_ERR_IO, "%s: fsync failed: %s", f->tmp, strerror(errno));
    int rc = fclose(f->fp);
    f->fp = NULL;
    if (st == DNAS_OK && rc != 0)
        st = dnas_fail(DNAS_ERR_IO, "%s: close failed: %s", f->tmp, strerror(errno));
    if (st == DNAS_OK && rename(f->tmp, f->path) != 0)
        st = dnas_fail(DNAS_ERR_IO, "%s: cannot rename %s over it: %s", f->path, f->tmp,
                       strerror(errno));
    if (st != DNAS_OK) {
        unlink(f->tmp);
        atomic_release(f);
        return st;
    }
    st = fsync_parent_dir(f->path, f->tmp); /* tmp is no longer needed; reuse it as scratch */
    atomic_release(f);
    return st;
}

dnas_status dnas_write_file_atomic(const char *path, const void *data, size_t bytes) {
    dnas_atomic_file f;
    DNAS_TRY(dnas_atomic_open(&f, path));
    dnas_atomic_write(&f, data, bytes); /* a failure sticks and is returned by the commit */
    return dnas_atomic_commit(&f);
}

/* ---- other file operations --------------------------------------------------------------- */

dnas_status dnas_append_line(const char *path, const char *line) {
    if (!path || !*path || !line)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_append_line: NULL or empty argument");
    if (strchr(line, '\n'))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: line to append contains a newline", path);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return dnas_fail(DNAS_ERR_IO, "%s: cannot open for append: %s", path, strerror(errno));
    /* One writev so the line and its newline land together (O_APPEND makes it one append). */
    struct iovec iov[2] = {{(void *)line, strlen(line)}, {(void *)"\n", 1}};
    int n = 2;
    struct iovec *v = iov;
    while (n > 0) {
        ssize_t w = writev(fd, v, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: append failed: %s", path, strerror(errno));
            close(fd);
            return st;
        }
        size_t done = (size_t)w;
        while (n > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    /* No fsync per line (it costs milliseconds per step on some disks): a run fsyncs its logs
     * with dnas_fsync_file right before each checkpoint, which is when durability matters. */
    if (close(fd) != 0) return dnas_fail(DNAS_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    return DNAS_OK;
}

dnas_status dnas_fsync_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return DNAS_OK; /* nothing written yet */
        return dnas_fail(DNAS_ERR_IO, "%s: cannot open to fsync: %s", path, strerror(errno));
    }
    dnas_status st = DNAS_OK;
    if (fsync(fd) != 0) st = dnas_fail(DNAS_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    close(fd);
    return st;
}

/* mkdir one component; an existing directory (or symlink to one) is success. */
static dnas_status mkdir_one(const char *dir, const char *full) {
    if (mkdir(dir, 0755) == 0) return DNAS_OK;
    int err = errno;
    struct stat sb;
    if (err == EEXIST) {
        if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) return DNAS_OK;
        return dnas_fail(DNAS_ERR_IO, "cannot create directory %s: %s exists and is not a directory",
                         full, dir);
    }
    return dnas_fail(DNAS_ERR_IO, "cannot create directory %s: %s: %s", full, dir, strerror(err));
}

dnas_status dnas_mkdir_p(const char *path) {
    if (!path || !*path) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_mkdir_p: empty path");
    char *p = str_concat(path, "");
    if (!p) return DNAS_ERR_OOM;
    dnas_status st = DNAS_OK;
    /* Create each prefix ending before a '/', skipping the root and repeated slashes. */
    for (char *s = p + 1; *s && st == DNAS_OK; s++) {
        if (*s != '/' || s[-1] == '/') continue;
        *s = 0;
        st = mkdir_one(p, path);
        *s = '/';
    }
    if (st == DNAS_OK) st = mkdir_one(p, path);
    dnas_free(p);
    return st;
}

int dnas_file_exists(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0;
}

dnas_status dnas_open_regular(const char *path, int *fd, uint64_t *size) {
    *fd = -1;
    *size = 0;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. */
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f < 0) {
        int err = errno;
        dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: cannot open: %s", path, strerror(err));
        errno = err;
        return st;
    }
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(f);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: %s", path,
                                   S_ISDIR(sb.st_mode) ? "is a directory, not a file"
                                                       : "not a regular file (a FIFO, device or socket)");
        errno = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL; /* not the open's error: see files.h */
        return st;
    }
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: fcntl failed: %s", path, strerror(errno));
        close(f);
        return st;
    }
    *fd = f;
    *size = (uint64_t)sb.st_size;
    return DNAS_OK;
}

dnas_status dnas_lock_dir(const char *dir, int *fd) {
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) return dnas_fail(DNAS_ERR_IO, "%s: cannot open the directory: %s", dir, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0) return DNAS_OK;
    int err = errno;
    close(*fd);
    *fd = -1;
    if (err == EWOULDBLOCK)
        return dnas_fail(DNAS_ERR_IO, "%s: in use by another dnas process (a search there is "
                         "running); wait for it to end or stop it first", dir);
    return dnas_fail(DNAS_ERR_IO, "%s: cannot lock the directory: %s", dir, strerror(err));
}

void dnas_unlock_dir(int fd) {
    if (fd >= 0) close(fd); /* closing the only descriptor releases the flock */
}

dnas_status dnas_read_file(const char *path, char **data, size_t *bytes) {
    if (!path || !data || !bytes) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_read_file: NULL argument");
    *data = NULL;
    *bytes = 0;
    int fd;
    uint64_t fsize;
    DNAS_TRY(dnas_open_regular(path, &fd, &fsize));
    if (fsize >= (uint64_t)SIZE_MAX) {
        close(fd);
        return dnas_fail(DNAS_ERR_OOM, "%s: file too large to read into memory", path);
    }
    size_t size = (size_t)fsize, got = 0;
    char *buf = dnas_alloc(size + 1, path);
    if (!buf) {
        close(fd);
        return DNAS_ERR_OOM;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            dnas_status st = dnas_fail(DNAS_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            dnas_free(buf);
            close(fd);
            return st;
        }
        if (r == 0) break; /* shrank while we read: return what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *bytes = got;
    return DNAS_OK;
}

/* ---- string builder ---------------------------------------------------------------------- */

/* Room for `extra` more chars plus the NUL; 0 (and oom set) if that cannot be had. */
static int sb_reserve(dnas_sbuf *s, size_t extra) {
    if (s->oom) return 0;
    if (extra > SIZE_MAX - 1 - s->len) {
        s->oom = 1;
        dnas_fail(DNAS_ERR_OOM, "string buffer size overflow");
        return 0;
    }
    size_t need = s->len + extra + 1;
    if (s->buf && need <= s->cap) return 1;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = dnas_alloc(cap, "string buffer");
    if (!p) {
        s->oom = 1;
        return 0;
    }
    if (s->buf) memcpy(p, s->buf, s->len + 1);
    else p[0] = 0;
    dnas_free(s->buf);
    s->buf = p;
    s->cap = cap;
    return 1;
}

void dnas_sb_printf(dnas_sbuf *s, const char *fmt, ...) {
    if (s->oom) return;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    size_t avail = s->buf ? s->cap - s->len : 0;
    int n = vsnprintf(s->buf ? s->buf + s->len : NULL, avail, fmt, ap);
    if (n < 0) {
        s->oom = 1; /* an encoding error: nothing sensible to append */
        dnas_fail(DNAS_ERR_INVALID_ARG, "string buffer: formatting '%s' failed", fmt);
        if (s->buf) s->buf[s->len] = 0;
    } else if ((size_t)n < avail) {
        s->len += (size_t)n;
    } else {
        if (s->buf) s->buf[s->len] = 0; /* undo the truncated partial output */
        if (sb_reserve(s, (size_t)n)) {
            vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap2);
            s->len += (size_t)n;
        }
    }
    va_end(ap2);
    va_end(ap);
}

void dnas_sb_json_string(dnas_sbuf *s, const char *str) {
    if (!str) {
        dnas_sb_printf(s, "null");
        return;
    }
    /* Size exactly first, so the escaping loop writes without further checks. */
    size_t need = 2;
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        unsigned c = *p;
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
            need += 2;
        else if (c < 0x20 || c == 0x7f)
            need += 6;
        else
            need += 1;
    }
    if (!sb_reserve(s, need)) return;
    static const char hex[] = "0123456789abcdef";
    char *o = s->buf + s->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        unsigned c = *p;
        char e = 0;
        switch (c) {
        case '"': e = '"'; break;
        case '\\': e = '\\'; break;
        case '\n': e = 'n'; break;
        case '\r': e = 'r'; break;
        case '\t': e = 't'; break;
        case '\b': e = 'b'; break;
        case '\f': e = 'f'; break;
        default: break;
        }
        if (e) {
            *o++ = '\\';
            *o++ = e;
        } else if (c < 0x20 || c == 0x7f) { /* DEL is legal JSON, but keep logs printable */
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = 0;
    s->len += need;
}

void dnas_sb_free(dnas_sbuf *s) {
    if (!s) return;
    dnas_free(s->buf);
    *s = (dnas_sbuf){0};
}

/* ---- CRC-32C ----------------------------------------------------------------------------- */

#if defined(__SSE4_2__) && defined(__x86_64__)
#include <nmmintrin.h>

uint32_t dnas_crc32c(uint32_t crc, const void *data, size_t bytes) {
    const unsigned char *p = data;
    uint64_t c = ~crc;
    for (; bytes && ((uintptr_t)p & 7); bytes--) c = _mm_crc32_u8((uint32_t)c, *p++);
    for (; bytes >= 8; bytes -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
    }
    for (; bytes; bytes--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

#else
#include <pthread.h>

/* Slicing-by-8: table[k][b] is the CRC of byte b followed by k zero bytes. Built once. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_table[0][b] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int b = 0; b < 256; b++)
            crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^ crc_table[0][crc_table[k - 1][b] & 0xff];
}

uint32_t dnas_crc32c(uint32_t crc, const void *data, size_t bytes) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    for (; bytes >= 8; bytes -= 8, p += 8) {
        /* Byte-wise loads keep this independent of the host's endianness and alignment. */
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
            crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    }
    for (; bytes; bytes--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return ~c;
}
#endif
