#include "alloc.h"
#include "status.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *ud, size_t bytes) {
    (void)ud;
    void *p = NULL;
    if (bytes > SIZE_MAX - DNAS_ALIGN) return NULL; /* the rounding below would wrap */
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

/* Every block starts with a header naming the allocator that made it, so dnas_free hands it
 * back to that one even when dnas_set_allocator ran in between (a test that installs a
 * failing allocator, an embedder that swaps). DNAS_ALIGN bytes keep the caller's pointer
 * aligned. */
typedef struct {
    dnas_allocator a;
} block_header;
_Static_assert(sizeof(block_header) <= DNAS_ALIGN, "allocation header must fit in DNAS_ALIGN");

void *dnas_alloc(size_t bytes, const char *what) {
    const dnas_allocator a = current;
    char *base = bytes <= SIZE_MAX - DNAS_ALIGN ? a.alloc(a.user, bytes + DNAS_ALIGN) : NULL;
    if (!base) {
        dnas_fail(DNAS_ERR_OOM, "out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
    block_header h = {a};
    memcpy(base, &h, sizeof h);
    return base + DNAS_ALIGN;
}

void *dnas_calloc(size_t bytes, const char *what) {
    void *p = dnas_alloc(bytes, what);
    if (p) memset(p, 0, bytes);
    return p;
}

void dnas_free(void *p) {
    if (!p) return;
    char *base = (char *)p - DNAS_ALIGN;
    block_header h;
    memcpy(&h, base, sizeof h);
    h.a.free(h.a.user, base);
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
