#include "alloc.h"
#include "status.h"
#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *ud, size_t bytes) {
    (void)ud;
    void *p = NULL;
    size_t rounded = (bytes + DNAS_ALIGN - 1) / DNAS_ALIGN * DNAS_ALIGN;
    if (posix_memalign(&p, DNAS_ALIGN, rounded ? rounded : DNAS_ALIGN) != 0) return NULL;
    return p;
}
static void default_free(void *ud, void *p) { (void)ud; free(p); }

/* The process-wide allocator: explicit (set by the embedding program), never hidden state of
 * a computation. Counters make "fail the N-th allocation" testable. */
static dnas_allocator current = {default_alloc, default_free, NULL};

void dnas_set_allocator(const dnas_allocator *a) {
    if (a) current = *a;
    else current = (dnas_allocator){default_alloc, default_free, NULL};
}

void *dnas_alloc(size_t bytes, const char *what) {
    void *p = current.alloc(current.user, bytes);
    if (!p) dnas_fail(DNAS_ERR_OOM, "out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}

void *dnas_calloc(size_t bytes, const char *what) {
    void *p = dnas_alloc(bytes, what);
    if (p) memset(p, 0, bytes);
    return p;
}

void dnas_free(void *p) {
    if (p) current.free(current.user, p);
}

/* Test allocator: fails the N-th call (1-based), counting from installation. */
static void *failing_alloc(void *ud, size_t bytes) {
    dnas_failing_allocator *f = ud;
    f->calls++;
    if (f->fail_at > 0 && f->calls == f->fail_at) return NULL;
    return default_alloc(NULL, bytes);
}

void dnas_failing_allocator_install(dnas_failing_allocator *f, long fail_at) {
    f->calls = 0;
    f->fail_at = fail_at;
    dnas_allocator a = {failing_alloc, default_free, f};
    dnas_set_allocator(&a);
}
