/* Helpers for the end-to-end search tests that check what a run directory holds: its genotype
 * (parsed with the space API) and its checkpoint entries (resumed vs uninterrupted runs).
 * Include after test.h (CHECK) and e2e.h. */
#ifndef DNAS_E2E_SEARCH_H
#define DNAS_E2E_SEARCH_H
#include "io/checkpoint.h"
#include "space/space.h"

/* dir/genotype.txt's first line into text; 1 if the space `space` parses it, else 0 (said). */
static inline int e2e_read_genotype(const char *dir, const char *space, char *text, size_t cap) {
    char path[400];
    float onehot[DNAS_MAX_ARCH];
    snprintf(path, sizeof path, "%s/genotype.txt", dir);
    e2e_slurp(path, text, cap);
    text[strcspn(text, "\n")] = 0;
    const dnas_space *sp = dnas_space_find(space);
    if (!sp || sp->parse(text, onehot) != DNAS_OK) {
        printf("  %s: '%s' does not parse: %s\n", path, text, dnas_last_error());
        return 0;
    }
    return 1;
}

/* CHECKs that each of the n entries `names` is in both checkpoints a and b, with the same size,
 * and byte-identical (differ = 0: a resumed run against an uninterrupted one) or not (differ =
 * 1: a setting that must change them). Returns 1 when all were as wanted. */
static inline int e2e_ckpt_entries(const char *a, const char *b, const char *const *names, int n,
                                   int differ) {
    dnas_ckpt *ca = NULL, *cb = NULL;
    CHECK(dnas_ckpt_read(a, NULL, &ca) == DNAS_OK && dnas_ckpt_read(b, NULL, &cb) == DNAS_OK,
          "%s", dnas_last_error());
    int all = ca && cb;
    for (int i = 0; ca && cb && i < n; i++) {
        size_t na = 0, nb = 0;
        const void *pa = dnas_ckpt_find(ca, names[i], &na), *pb = dnas_ckpt_find(cb, names[i], &nb);
        const int same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
        const int ok = pa && pb && same != differ;
        CHECK(ok, "entry %s %s between %s and %s", names[i],
              !pa || !pb ? "missing" : differ ? "equal" : "differs", a, b);
        all &= ok;
    }
    dnas_ckpt_free(ca);
    dnas_ckpt_free(cb);
    return all;
}

#endif
