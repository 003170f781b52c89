/* Internal view of the public dnas_supernet handle. */
#ifndef DNAS_SPACE_SUPERNET_H
#define DNAS_SPACE_SUPERNET_H
#include "space.h"

struct dnas_supernet {
    dnas_graph g;
    const dnas_space_desc *space;
    dnas_supernet_config cfg;
    int owns_backend;
};

/* Build on a given backend (the caller keeps ownership of `be`). */
dnas_status dnas_supernet_create_on(const dnas_supernet_config *c, dnas_backend *be,
                                    dnas_supernet **out);
#endif
