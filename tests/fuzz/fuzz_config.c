/* The stored search configuration (config.c): the "key=value" text a checkpoint carries.
 * First input byte, bit 0:
 *   0: the rest is configuration text for dnas_search_config_parse;
 *   1: the rest is NUL-separated key, value, key, value ... for dnas_search_config_set (what the
 *      CLI flags do before a run writes its checkpoint).
 * Either way, whatever configuration results is written and parsed again (write -> parse round
 * trip): the stored text of a configuration the library accepted must read back to the same
 * configuration, or a checkpoint could not be resumed. The JSON form (config.json) must keep
 * every control character escaped. */
#include "fuzz_util.h"
#include <math.h>
#include "io/files.h"
#include "search/search.h"

static FILE *devnull;

static int has_subnormal(const dnas_search_config *c) {
    const double v[] = {c->lr,      c->lr_min,     c->momentum,   c->weight_decay,     c->grad_clip,
                        c->arch_lr, c->arch_beta1, c->arch_beta2, c->arch_weight_decay};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (fpclassify(v[i]) == FP_SUBNORMAL) return 1;
    return 0;
}

static void round_trip(const dnas_search_config *c) {
    dnas_sbuf a = {0}, b = {0}, j = {0};
    dnas_search_config_write(c, &a, 0);
    FZ_CHECK(!a.oom && a.buf, "write failed");
    dnas_search_config c2;
    FZ_CHECK(dnas_search_config_default(&c2, "darts1") == DNAS_OK, "%s", dnas_last_error());
    dnas_clear_error();
    dnas_status st = dnas_search_config_parse(a.buf, &c2);
    if (st != DNAS_OK && fz_known("config-subnormal") && has_subnormal(c)) goto out;
    FZ_CHECK(st == DNAS_OK, "the written configuration does not parse back (%s); text:\n%s",
             dnas_last_error(), a.buf);
    dnas_search_config_write(&c2, &b, 0);
    FZ_CHECK(!b.oom && b.buf && strcmp(a.buf, b.buf) == 0,
             "write -> parse -> write changed the configuration:\n%s---\n%s", a.buf,
             b.buf ? b.buf : "(null)");

    dnas_search_config_write(c, &j, 1);
    FZ_CHECK(!j.oom && j.buf && j.len >= 3, "JSON write failed");
    for (size_t i = 0; i + 1 < j.len; i++)
        FZ_CHECK((unsigned char)j.buf[i] >= 0x20, "raw control byte 0x%02x in config.json at %zu",
                 (unsigned char)j.buf[i], i);
    FZ_CHECK(j.buf[0] == '{' && strcmp(j.buf + j.len - 2, "}\n") == 0, "JSON framing: %s", j.buf);

    (void)dnas_search_config_check(c);  /* must not crash; the verdict may be either */
    if (devnull) dnas_search_config_help(c, devnull);
out:
    dnas_sb_free(&a);
    dnas_sb_free(&b);
    dnas_sb_free(&j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!devnull) devnull = fopen("/dev/null", "w");
    /* The payload as one NUL-terminated string plus a terminator for pair mode. */
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    dnas_search_config c;
    FZ_CHECK(dnas_search_config_default(&c, "darts1") == DNAS_OK, "%s", dnas_last_error());
    if ((data[0] & 1) == 0) {
        dnas_clear_error();
        if (dnas_search_config_parse(s, &c) == DNAS_OK) round_trip(&c);
        else fz_check_message(NULL);
    } else {
        const char *end = s + size - 1, *p = s;
        while (p < end) {
            const char *key = p;
            p += strlen(p) + 1;
            if (p > end) break;
            const char *value = p;
            p += strlen(p) + 1;
            dnas_clear_error();
            if (dnas_search_config_set(&c, key, value) != DNAS_OK) fz_check_message(NULL);
        }
        round_trip(&c);
    }
    free(s);
    return 0;
}
