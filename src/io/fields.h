/* Tables of named settings: one table per configuration struct drives its CLI flags, its
 * checkpoint copy ("key=value" lines) and config.json, so a setting cannot exist in one and be
 * forgotten in another. Shared by the search's and the training's configurations. */
#ifndef DNAS_IO_FIELDS_H
#define DNAS_IO_FIELDS_H
#include "files.h"
#include <stddef.h>

typedef struct {
    const char *name;  /* the field's name; its flag is --name with '_' spelled '-' */
    char type;         /* s: char[], i: int, u: uint64, d: double */
    size_t off, size;  /* offset and size in the struct */
    const char *help;
} dnas_field;

/* The field named key (already in '_' spelling), or NULL. */
const dnas_field *dnas_field_find(const dnas_field *fields, int n, const char *key);
/* The field a flag names: '-' read as '_', and the CLI's short forms --out and --data for
 * out_dir and data_dir. Unknown flag or missing value: an error naming the flag as typed and
 * `dnas <command> --help`. */
dnas_status dnas_field_lookup(const dnas_field *fields, int n, const char *flag, const char *value,
                              const char *command, const dnas_field **out);
/* Parses value into the field of the struct at base; errors name the flag as typed. Strings
 * must fit and hold no control character (a newline would inject a line into the checkpoint's
 * copy); integers are plain decimal; doubles finite and within float range. */
dnas_status dnas_field_set(const dnas_field *f, void *base, const char *flag, const char *value);
/* The value as text: doubles exactly (%.17g reads back the same) or short (%g). */
void dnas_field_text(const dnas_field *f, const void *base, char *buf, size_t cap, int exact);
/* "  --flag  help [default]" lines. */
void dnas_fields_help(const dnas_field *fields, int n, const void *base, void *file);
/* Every field as "key=value" lines (json = 0) or one JSON object (json = 1). */
void dnas_fields_write(const dnas_field *fields, int n, const void *base, dnas_sbuf *sb, int json);
/* Splits "key=value" lines and hands each to set(ctx, key, value); malformed lines fail naming
 * the stored configuration. */
dnas_status dnas_fields_parse(const char *text, dnas_status (*set)(void *ctx, const char *key,
                                                                   const char *value),
                              void *ctx);

#endif
