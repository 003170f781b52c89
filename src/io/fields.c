/* Named settings (fields.h). */
#include "fields.h"
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const dnas_field *dnas_field_find(const dnas_field *fields, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (strcmp(fields[i].name, key) == 0) return &fields[i];
    return NULL;
}

dnas_status dnas_field_lookup(const dnas_field *fields, int n, const char *flag, const char *value,
                              const char *command, const dnas_field **out) {
    char k[64];
    snprintf(k, sizeof k, "%s", flag);
    for (char *p = k; *p; p++)
        if (*p == '-') *p = '_';
    if (strcmp(k, "out") == 0) snprintf(k, sizeof k, "out_dir");
    if (strcmp(k, "data") == 0) snprintf(k, sizeof k, "data_dir");
    *out = dnas_field_find(fields, n, k);
    if (!*out)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "unknown flag --%s (see dnas %s --help)", flag, command);
    if (!value) return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s needs a value", flag);
    return DNAS_OK;
}

dnas_status dnas_field_set(const dnas_field *f, void *base_, const char *flag, const char *value) {
    char *base = (char *)base_ + f->off, *end = NULL;
    errno = 0;
    switch (f->type) {
    case 's':
        for (const unsigned char *q = (const unsigned char *)value; *q; q++)
            if (*q < 0x20 || *q == 0x7f)
                return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: the value contains a control "
                                 "character (byte 0x%02x at offset %zu), which is not allowed",
                                 flag, *q, (size_t)(q - (const unsigned char *)value));
        if (strlen(value) >= f->size)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: value too long (max %zu characters)",
                             flag, f->size - 1);
        memcpy(base, value, strlen(value) + 1);
        return DNAS_OK;
    case 'i': {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < -1000000000L || v > 1000000000L)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is not an integer", flag, value);
        *(int *)base = (int)v;
        return DNAS_OK;
    }
    case 'u': {
        if (strchr(value, '-'))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' must be >= 0", flag, value);
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is not a non-negative integer",
                             flag, value);
        *(uint64_t *)base = (uint64_t)v;
        return DNAS_OK;
    }
    case 'd': {
        double v = strtod(value, &end);
        /* Underflow gives the nearest representable value (a subnormal written back by
         * %.17g must parse again); only overflow is out of range. */
        if (errno == ERANGE && fabs(v) <= 1.0) errno = 0;
        if (errno == ERANGE && end != value && !*end)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is out of range", flag, value);
        if (errno || end == value || *end || !isfinite(v))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is not a number", flag, value);
        /* Searches and training compute in float: a larger value would become infinite. */
        if (fabs(v) > FLT_MAX)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--%s: '%s' is out of range (a float holds at "
                             "most %.3g)", flag, value, (double)FLT_MAX);
        *(double *)base = v;
        return DNAS_OK;
    }
    }
    return dnas_fail(DNAS_ERR_INTERNAL, "config field %s has a bad type", f->name);
}

void dnas_field_text(const dnas_field *f, const void *base_, char *buf, size_t cap, int exact) {
    const char *base = (const char *)base_ + f->off;
    switch (f->type) {
    case 's': snprintf(buf, cap, "%s", base); break;
    case 'i': snprintf(buf, cap, "%d", *(const int *)base); break;
    case 'u': snprintf(buf, cap, "%" PRIu64, *(const uint64_t *)base); break;
    default: snprintf(buf, cap, exact ? "%.17g" : "%g", *(const double *)base); break;
    }
}

void dnas_fields_help(const dnas_field *fields, int n, const void *base, void *file) {
    for (int i = 0; i < n; i++) {
        char flag[64], def[1100];
        snprintf(flag, sizeof flag, "%s", fields[i].name);
        for (char *p = flag; *p; p++)
            if (*p == '_') *p = '-';
        dnas_field_text(&fields[i], base, def, sizeof def, 0);
        fprintf(file, "  --%-20s %s [%s]\n", flag, fields[i].help, def);
    }
}

void dnas_fields_write(const dnas_field *fields, int n, const void *base, dnas_sbuf *sb, int json) {
    if (json) dnas_sb_printf(sb, "{");
    for (int i = 0; i < n; i++) {
        char v[1100];
        dnas_field_text(&fields[i], base, v, sizeof v, 1);
        if (!json) {
            dnas_sb_printf(sb, "%s=%s\n", fields[i].name, v);
            continue;
        }
        dnas_sb_printf(sb, "%s", i ? ", " : "");
        dnas_sb_json_string(sb, fields[i].name);
        dnas_sb_printf(sb, ": ");
        if (fields[i].type == 's') dnas_sb_json_string(sb, v);
        else dnas_sb_printf(sb, "%s", v);
    }
    if (json) dnas_sb_printf(sb, "}\n");
}

dnas_status dnas_fields_parse(const char *text, dnas_status (*set)(void *ctx, const char *key,
                                                                   const char *value),
                              void *ctx) {
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1200];
        if (len >= sizeof line) return dnas_fail(DNAS_ERR_FORMAT, "stored configuration: line too long");
        memcpy(line, p, len);
        line[len] = 0;
        char *eq = strchr(line, '=');
        if (!eq) return dnas_fail(DNAS_ERR_FORMAT, "stored configuration: malformed line '%s'", line);
        *eq = 0;
        DNAS_TRY(set(ctx, line, eq + 1));
        p = nl ? nl + 1 : p + len;
    }
    return DNAS_OK;
}
