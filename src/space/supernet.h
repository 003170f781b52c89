/* Internal view of the public dnas_supernet handle. */
#ifndef DNAS_SPACE_SUPERNET_H
#define DNAS_SPACE_SUPERNET_H
#include "space.h"

struct dnas_supernet {
    dnas_graph g;
    const dnas_space *space;
    dnas_supernet_config cfg;
    uint8_t *cand;             /* candidate columns of every alpha row (space.h) */
    int owns_backend;
};

/* Build on a given backend (the caller keeps ownership of `be`). */
dnas_status dnas_supernet_create_on(const dnas_supernet_config *c, dnas_backend *be,
                                    dnas_supernet **out);
#endif
