/* All library memory goes through one replaceable allocator (see dnas_set_allocator).
 * Aligned to 64 bytes so every tensor starts on a cache line / AVX-512 boundary. */
#ifndef DNAS_CORE_ALLOC_H
#define DNAS_CORE_ALLOC_H
#include <stddef.h>
#include "../../include/dnas.h"

#define DNAS_ALIGN 64

/* Returns NULL and sets the error message on failure; `what` names the allocation. */
void *dnas_alloc(size_t bytes, const char *what);
void *dnas_calloc(size_t bytes, const char *what);
void dnas_free(void *p);

#endif
