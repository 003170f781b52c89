/* dnas: the command-line tool. Uses only the public API (include/dnas.h).
 *   dnas info   --space nb201|darts [--algo A --classes K --batch B --channels C --cells N]
 *   dnas info   --space darts|nb201 --genotype G [--batch B --channels C --cells L --auxiliary 0|1]
 *   dnas search --space nb201 --algo darts1|darts2|idarts|gaea --out DIR [--preset quick] [--flag value ...]
 *   dnas search --resume DIR [--threads T --data DIR --table CSV --max-steps S --progress P]
 *   dnas select [--method magnitude|pt] DIR [--data D --table T --threads N]
 *   dnas query  '<NB201 arch string>' [--table nb201.csv]
 *   dnas report DIR [--table nb201.csv] [--out FILE]
 *   dnas bench  step --space nb201|darts --algo darts1 --batch 64 [--threads T|T1,T2 --steps S --warmup W --peak 0|1]
 *   dnas bench  peak [--threads N --seconds S]
 *   dnas bench  train --genotype G [--batch 96 --threads T --steps S --warmup W] (+ train flags)
 *   dnas train  --genotype NAME|FILE|TEXT [--space darts|nb201] --out DIR [--flag value ...]
 *   dnas train  --resume DIR [--threads T --data DIR --max-steps S --progress P]
 *   dnas export DIR --to pytorch OUT [--untrained]
 * Errors print one line "dnas: ..." and exit non-zero (2 for usage, 3 when a search or a
 * training stopped at --max-steps, 130 when interrupted). */
#include "dnas.h"
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static int fail(dnas_status st) {
    fprintf(stderr, "dnas: %s\n", dnas_last_error()[0] ? dnas_last_error() : dnas_status_string(st));
    if (st == DNAS_ERR_INTERRUPTED) return 130;
    return st == DNAS_ERR_INVALID_ARG ? 2 : 1;
}

/* Arguments are quoted with control characters escaped, so an error stays one printable line. */
static int usage_error(const char *fmt, const char *arg) {
    char clean[512];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)arg; *p && o + 5 < sizeof clean; p++) {
        if (*p < 0x20 || *p == 0x7f) o += (size_t)snprintf(clean + o, 5, "\\x%02x", *p);
        else clean[o++] = (char)*p;
    }
    clean[o] = 0;
    fprintf(stderr, "dnas: ");
    fprintf(stderr, fmt, clean);
    fprintf(stderr, " (see dnas --help)\n");
    return 2;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: dnas <command> [flags]\n"
            "  info   --space nb201|darts [--algo A --classes K --batch B --channels C --cells N]\n"
            "  info   --space darts|nb201 --genotype G [--batch B --channels C --cells L --auxiliary 0|1]\n"
            "  search --space nb201 --algo darts1|darts2|idarts|gaea --out DIR [--preset quick] [flags]\n"
            "  search --resume DIR [--threads T --data DIR --table CSV --max-steps S]\n"
            "  select [--method magnitude|pt] DIR [--data D --table T --threads N]\n"
            "  query  '<arch string>' [--table nb201.csv]\n"
            "  report DIR [--table nb201.csv] [--out FILE]   an HTML page of a run\n"
            "  bench  step --space nb201|darts --algo darts1 --batch 64 [--threads T|T1,T2 --steps S --warmup W --peak 0|1 --anchor CMD|none --device cpu|cuda]\n"
            "  bench  peak [--threads N --seconds S]   FMA-loop GFLOP/s for 1..N threads\n"
            "  bench  train --genotype DARTS_V2 [--batch 96 --threads T --steps S --warmup W --anchor CMD|none]\n"
            "  train  --genotype NAME|FILE|TEXT [--space darts|nb201] --out DIR [flags]\n"
            "  train  --resume DIR [--threads T --data DIR --max-steps S --progress P]\n"
            "  export DIR --to pytorch OUT [--untrained]   a train run as a standalone PyTorch module\n"
            "`dnas search --help` and `dnas train --help` list every flag with its default.\n");
}

/* Parses the integer value of a flag of a number-valued command (info, bench) within [lo, hi]. */
static int parse_int_in(const char *flag, const char *v, int *out, long lo, long hi) {
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || x < -1000000000L || x > 1000000000L)
        return usage_error("%s needs an integer value", flag);
    if (x < lo || x > hi) {
        fprintf(stderr, "dnas: %s must lie in %ld..%ld (got %ld)\n", flag, lo, hi, x);
        return 2;
    }
    *out = (int)x;
    return 0;
}

static int parse_int(const char *flag, const char *v, int *out) {
    return parse_int_in(flag, v, out, -1000000000L, 1000000000L);
}

static const char *find_flag(int argc, char **argv, const char *flag);
static int cmd_info_net(int argc, char **argv);

/* The FLOPs of a search step of `--algo` (darts1 by default) on the supernet info prints: the
 * method's defaults, then the size flags given (so pcdarts' partial channels apply). Computed
 * before anything is printed, so that a failure is one line. */
static int info_flops(int argc, char **argv, const dnas_supernet_config *c, dnas_search_config *sc_out,
                      dnas_step_flops *f) {
    const char *algo = find_flag(argc, argv, "--algo");
    dnas_search_config sc;
    dnas_status st = dnas_search_config_default(&sc, algo ? algo : "darts1");
    if (st != DNAS_OK) return fail(st);
    static const char *const keys[] = {"--space", "--batch", "--channels", "--cells", "--track-bn",
                                       "--pc-k", "--edge-norm", NULL};
    for (const char *const *k = keys; *k; k++) {
        const char *v = find_flag(argc, argv, *k);
        if (v && (st = dnas_search_config_set(&sc, *k + 2, v)) != DNAS_OK) return fail(st);
    }
    if (c->classes == 100) snprintf(sc.dataset, sizeof sc.dataset, "cifar100");
    sc.threads = 1;
    if ((st = dnas_search_flops(&sc, f)) != DNAS_OK) return fail(st);
    *sc_out = sc;
    return 0;
}

static int cmd_info(int argc, char **argv) {
    if (find_flag(argc, argv, "--genotype")) return cmd_info_net(argc, argv);
    dnas_supernet_config c;
    dnas_supernet_config_default(&c);
    /* The DARTS search network has L = 8 cells (ALGORITHMS.md §A3), NB201's N = 5 per stage. */
    const char *sp = find_flag(argc, argv, "--space");
    if (sp && !strcmp(sp, "darts")) c.cells = 8;
    for (int i = 0; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(k, "--space")) {
            if (!v) return usage_error("%s needs a value", k);
            c.space = v;
        /* The search's bounds (dnas search --help); sizes beyond them overflow or exhaust memory. */
        } else if (!strcmp(k, "--classes")) rc = parse_int_in(k, v, &c.classes, 2, 1000);
        else if (!strcmp(k, "--batch")) rc = parse_int_in(k, v, &c.batch, 1, 4096);
        else if (!strcmp(k, "--channels")) rc = parse_int_in(k, v, &c.channels, 1, 1024);
        else if (!strcmp(k, "--cells")) rc = parse_int_in(k, v, &c.cells, 1, 64);
        else if (!strcmp(k, "--track-bn")) rc = parse_int_in(k, v, &c.track_bn, 0, 1);
        else if (!strcmp(k, "--pc-k")) rc = parse_int_in(k, v, &c.pc_k, 1, 64);
        else if (!strcmp(k, "--edge-norm")) rc = parse_int_in(k, v, &c.edge_norm, 0, 1);
        else if (!strcmp(k, "--plan")) { i--; continue; } /* the plan is always printed */
        else if (!strcmp(k, "--algo")) { if (!v) return usage_error("%s needs a value", k); }
        else return usage_error("unknown flag %s for info", k);
        if (rc) return rc;
    }
    dnas_supernet *s = NULL;
    dnas_status st = dnas_supernet_create(&c, &s);
    if (st != DNAS_OK) return fail(st);
    dnas_supernet_info in;
    dnas_supernet_get_info(s, &in);
    dnas_search_config sc;
    dnas_step_flops f;
    int rc = info_flops(argc, argv, &c, &sc, &f);
    if (rc) {
        dnas_supernet_destroy(s);
        return rc;
    }
    printf("space          %s supernet (C=%d, %s=%d, %d classes, %dx%d input)\n", c.space,
           c.channels, strcmp(c.space, "darts") ? "N" : "L", c.cells, c.classes, c.image, c.image);
    printf("weights        %zu\n", in.n_weights);
    printf("bn buffers     %zu\n", in.n_buffers);
    printf("alpha          %d x %d\n", in.arch_rows, in.arch_cols);
    printf("graph nodes    %d\n", in.n_nodes);
    printf("planned peak   %.1f MiB activations+gradients for batch %d (weights+grads %.1f MiB)\n",
           in.peak_bytes / 1048576.0, c.batch, in.param_bytes / 1048576.0);
    printf("flops          forward %.2f GFLOP; backward for weights %.2f, alpha %.2f, both %.2f "
           "(batch %d)\n", f.forward / 1e9, f.backward_weights / 1e9, f.backward_arch / 1e9,
           f.backward_both / 1e9, sc.batch);
    /* The method's defaults may differ from the supernet above (GAEA: C = 24): say which. */
    printf("search step    %.2f GFLOP per %s step (C=%d, batch %d): weight step %.2f + arch step "
           "%.2f (%s)\n", f.step / 1e9, sc.algo, sc.channels, sc.batch, f.weight_step / 1e9,
           f.arch_step / 1e9, f.passes);
    dnas_supernet_destroy(s);
    return 0;
}

static const char *find_flag(int argc, char **argv, const char *flag) {
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag)) return argv[i + 1];
    return NULL;
}

/* Applies "--key value" flags to a search config (--out and --data are the library's short
 * forms of --out-dir and --data-dir, so its messages name the flag as typed). With `only`
 * (a NULL-terminated list), other flags are refused. --preset applies first, wherever it
 * stands, so that the other flags override what it sets. */
static int apply_flags(dnas_search_config *c, int argc, char **argv, const char *const *only) {
    const char *preset = only ? NULL : find_flag(argc, argv, "--preset");
    if (preset) {
        dnas_status st = dnas_search_config_preset(c, preset);
        if (st != DNAS_OK) return fail(st);
    }
    for (int i = 0; i < argc; i += 2) {
        if (strncmp(argv[i], "--", 2) != 0) return usage_error("unexpected argument '%s'", argv[i]);
        if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
        if (preset && !strcmp(argv[i], "--preset")) continue;
        if (only) {
            int ok = 0;
            for (const char *const *o = only; *o; o++) ok |= !strcmp(argv[i], *o);
            if (!strcmp(argv[i], "--resume")) continue;
            if (!ok)
                return usage_error("with --resume only --threads, --progress, --max-steps, --data and "
                                   "--table may be given, not %s (the rest is stored in the checkpoint)",
                                   argv[i]);
        }
        dnas_status st = dnas_search_config_set(c, argv[i] + 2, argv[i + 1]);
        if (st != DNAS_OK) return fail(st);
    }
    return 0;
}

static int select_and_print(const dnas_select_config *sc);

static int cmd_search(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            dnas_search_config c;
            dnas_search_config_default(&c, find_flag(argc, argv, "--algo"));
            printf("usage: dnas search --out DIR [--flag value ...]\n"
                   "       dnas search --resume DIR [--threads T --data DIR --table CSV --max-steps S --progress P]\n"
                   "(--out and --data are short for --out-dir and --data-dir)\n");
            dnas_search_config_help(&c, stdout);
            printf("A resume takes every other setting from DIR/checkpoint.dnas (edits to config.json\n"
                   "are ignored); --data and --table there must name the same data and table.\n"
                   "exit status: 0 the search finished (the final arch is printed on stdout),\n"
                   "  1 error, 2 usage error, 3 stopped by --max-steps (incomplete: nothing is\n"
                   "  printed on stdout; continue with --resume DIR), 130 interrupted (SIGINT/SIGTERM;\n"
                   "  continue with --resume DIR).\n");
            return 0;
        }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    dnas_search_result r;
    dnas_status st;
    const char *resume = find_flag(argc, argv, "--resume");
    dnas_search_config c;
    st = dnas_search_config_default(&c, resume ? NULL : find_flag(argc, argv, "--algo"));
    if (st != DNAS_OK) return fail(st);
    if (resume) {
        static const char *const allowed[] = {"--threads", "--progress", "--max-steps", "--data",
                                              "--data-dir", "--table", NULL};
        for (const char *p = resume; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return usage_error("%s", "--resume: the directory name contains a control character");
        if (strlen(resume) >= sizeof c.out_dir)
            return usage_error("%s", "--resume: directory name too long");
        snprintf(c.out_dir, sizeof c.out_dir, "%s", resume);
        int rc = apply_flags(&c, argc, argv, allowed);
        if (rc) return rc;
        c.resume = 1;
    } else {
        const char *table = getenv("DNAS_NB201_TABLE");
        if (table && (st = dnas_search_config_set(&c, "table", table)) != DNAS_OK) return fail(st);
        int rc = apply_flags(&c, argc, argv, NULL);
        if (rc) return rc;
    }
    c.stop = &stop_flag;
    st = dnas_search_run(&c, &r);
    if (st == DNAS_ERR_INTERRUPTED && !stop_flag && c.max_steps > 0) {
        /* Stopped by --max-steps: incomplete, so no architecture; a status of its own. */
        fprintf(stderr, "dnas: %s\n", dnas_last_error());
        return 3;
    }
    if (st != DNAS_OK) return fail(st);
    printf("%s\n", r.arch);
    if (!strcmp(r.select, "pt")) {
        dnas_select_config sc;
        memset(&sc, 0, sizeof sc);
        snprintf(sc.method, sizeof sc.method, "pt");
        snprintf(sc.dir, sizeof sc.dir, "%s", r.dir);
        sc.stop = &stop_flag;
        return select_and_print(&sc);
    }
    return 0;
}

static int select_and_print(const dnas_select_config *sc) {
    dnas_select_result r;
    dnas_status st = dnas_select_run(sc, &r);
    if (st != DNAS_OK) return fail(st);
    fprintf(stderr, "selection (%s) done in %.1f s: %s\n", sc->method, r.seconds, r.arch);
    if (r.has_bench)
        fprintf(stderr, "NAS-Bench-201 (200 epochs): CIFAR-10 valid %.2f test %.2f | CIFAR-100 valid "
                "%.2f test %.2f | ImageNet16-120 valid %.2f test %.2f\n", r.bench.c10_valid,
                r.bench.c10_test, r.bench.c100_valid, r.bench.c100_test, r.bench.in16_valid,
                r.bench.in16_test);
    printf("%s\n", r.arch);
    return 0;
}

/* dnas select [--method magnitude|pt] DIR [--data D --table T --threads N] */
static int cmd_select(int argc, char **argv) {
    dnas_select_config sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.method, sizeof sc.method, "magnitude");
    sc.progress = -1;
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *dst = NULL;
        size_t cap = 0;
        if (!strcmp(k, "--threads")) {
            int rc = parse_int_in(k, v, &sc.threads, 0, 256);
            if (rc) return rc;
            i++;
            continue;
        }
        if (!strcmp(k, "--method")) dst = sc.method, cap = sizeof sc.method;
        else if (!strcmp(k, "--data")) dst = sc.data_dir, cap = sizeof sc.data_dir;
        else if (!strcmp(k, "--table")) dst = sc.table, cap = sizeof sc.table;
        else if (!strncmp(k, "--", 2)) return usage_error("unknown flag %s for select", k);
        else if (sc.dir[0]) return usage_error("unexpected argument '%s'", k);
        else dst = sc.dir, cap = sizeof sc.dir, v = k, i--;
        if (!v) return usage_error("%s needs a value", k);
        for (const char *q = v; *q; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                return usage_error("%s: the value contains a control character", k);
        if (strlen(v) >= cap) return usage_error("%s: value too long", k);
        snprintf(dst, cap, "%s", v);
        i++;
    }
    if (!sc.dir[0]) return usage_error("%s", "select needs a run directory");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    sc.stop = &stop_flag;
    return select_and_print(&sc);
}

/* dnas report DIR: an HTML page of a run (a search's or a training's directory). */
static int cmd_report(int argc, char **argv) {
    const char *dir = NULL, *table = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--table") || !strcmp(argv[i], "--out")) {
            if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
            if (!strcmp(argv[i], "--table")) table = argv[++i];
            else out = argv[++i];
        } else if (!strncmp(argv[i], "--", 2)) {
            return usage_error("unknown flag %s for report", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    if (!dir) return usage_error("%s", "report needs a run directory: dnas report DIR");
    dnas_status st = dnas_report_write(dir, table, out);
    if (st != DNAS_OK) return fail(st);
    if (out) printf("%s\n", out);
    else printf("%s/report.html\n", dir);
    return 0;
}

static int cmd_query(int argc, char **argv) {
    const char *arch = NULL, *table = getenv("DNAS_NB201_TABLE");
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--table")) {
            if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
            table = argv[++i];
        } else if (!strncmp(argv[i], "--", 2)) {
            return usage_error("unknown flag %s for query", argv[i]);
        } else if (!arch) {
            arch = argv[i];
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    if (!arch) return usage_error("%s", "query needs an arch string");
    if (!table) table = "../shared/data/nb201/nb201.csv";
    dnas_nb201_result q;
    dnas_status st = dnas_nb201_query(table, arch, &q);
    if (st != DNAS_OK) return fail(st);
    printf("arch            %s\n", arch);
    printf("index           %d\n", q.index);
    printf("cifar10         valid %.2f  test %.2f\n", q.c10_valid, q.c10_test);
    printf("cifar100        valid %.2f  test %.2f\n", q.c100_valid, q.c100_test);
    printf("imagenet16-120  valid %.2f  test %.2f\n", q.in16_valid, q.in16_test);
    return 0;
}

/* Peak resident memory of this process so far, in MiB. */
static double peak_rss_mib(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_maxrss / 1024.0 : -1.0;
}

/* Runs a PyTorch anchor command line and returns its median ms (or a negative value) and its
 * peak resident memory (MiB, or -1). */
static double run_anchor(const char *full, double *rss) {
    char line[2048];
    *rss = -1;
    FILE *p = popen(full, "r");
    if (!p) return -1;
    double ms = -1;
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "\"ms_median\":");
        if (k) ms = atof(k + strlen("\"ms_median\":"));
        if ((k = strstr(line, "\"peak_rss_mb\":"))) *rss = atof(k + strlen("\"peak_rss_mb\":"));
    }
    int rc = pclose(p);
    return rc == 0 ? ms : -1;
}

static void print_anchor(const char *full, double ours_ms, double ours_rss) {
    double rss, t = run_anchor(full, &rss);
    if (t > 0) {
        printf("pytorch same step, same threads: %.1f ms/step median, peak RSS %.0f MiB\n", t, rss);
        printf("ratio   dnas/pytorch = %.3f (pytorch is %.2fx slower); memory dnas/pytorch = %.2f\n",
               ours_ms / t, t / ours_ms, rss > 0 ? ours_rss / rss : 0.0);
    } else {
        printf("pytorch anchor unavailable (`%s` failed; pip install torch)\n", full);
    }
}

/* dnas bench train --genotype G [--space S] [train flags] [--steps --warmup --anchor]. */
static int cmd_bench_train(int argc, char **argv) {
    const char *geno = find_flag(argc, argv, "--genotype"), *space = find_flag(argc, argv, "--space");
    char guessed[32];
    dnas_status st;
    if (!geno) geno = "DARTS_V2";
    if (!space) {
        if ((st = dnas_train_guess_space(geno, guessed, sizeof guessed)) != DNAS_OK) return fail(st);
        space = guessed;
    }
    dnas_train_config c;
    if ((st = dnas_train_config_default(&c, space)) != DNAS_OK) return fail(st);
    if ((st = dnas_train_config_set(&c, "genotype", geno)) != DNAS_OK) return fail(st);
    c.threads = 2;
    int steps = 5, warmup = 2;
    const char *anchor = "python3 bench/torch_train.py";
    for (int i = 0; i < argc; i += 2) {
        if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
        int rc = 0;
        if (!strcmp(argv[i], "--steps")) rc = parse_int(argv[i], argv[i + 1], &steps);
        else if (!strcmp(argv[i], "--warmup")) rc = parse_int(argv[i], argv[i + 1], &warmup);
        else if (!strcmp(argv[i], "--anchor")) anchor = argv[i + 1];
        else if (strncmp(argv[i], "--", 2)) return usage_error("unexpected argument '%s'", argv[i]);
        else if ((st = dnas_train_config_set(&c, argv[i] + 2, argv[i + 1])) != DNAS_OK) return fail(st);
        if (rc) return rc;
    }
    dnas_bench_result r;
    if ((st = dnas_bench_train(&c, warmup, steps, &r)) != DNAS_OK) return fail(st);
    double rss = peak_rss_mib();
    printf("dnas    train %s %s batch %d, C %d, %s %d, aux %d, drop path %g, %d threads: %.1f ms/step "
           "median (min %.1f, max %.1f, %d steps after %d warm-up), peak RSS %.0f MiB\n",
           c.space, c.genotype, c.batch, c.channels, strcmp(c.space, "darts") ? "N" : "L", c.cells,
           c.auxiliary, c.drop_path, c.threads, r.ms_median, r.ms_min, r.ms_max, r.steps, warmup, rss);
    fflush(stdout);
    if (strcmp(anchor, "none") && !strcmp(c.space, "darts")) {
        char full[1400];
        snprintf(full, sizeof full, "%s --genotype '%s' --threads %d --batch %d --channels %d "
                 "--layers %d --drop-path %g --auxiliary %d --steps %d --warmup %d", anchor,
                 c.genotype, c.threads, c.batch, c.channels, c.cells, c.drop_path, c.auxiliary,
                 steps, warmup);
        print_anchor(full, r.ms_median, rss);
    }
    return 0;
}

/* "1,2" -> {1, 2}: the thread counts of a scaling run. Returns 0 or a usage exit code. */
static int parse_threads(const char *v, int *t, int cap, int *n) {
    *n = 0;
    for (const char *p = v; p && *p;) {
        char *end = NULL;
        long x = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || x < 1 || x > 256 || *n == cap)
            return usage_error("--threads %s: give 1..256, or up to 8 counts like 1,2", v);
        t[(*n)++] = (int)x;
        p = *end ? end + 1 : end;
    }
    return *n ? 0 : usage_error("%s", "--threads needs a value");
}

/* dnas bench peak [--threads N] [--seconds S]: the FMA loop's GFLOP/s for 1..N threads. */
static int cmd_bench_peak(int argc, char **argv) {
    int threads = 2;
    double secs = 0.5;
    for (int i = 0; i < argc; i += 2) {
        if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
        int rc = 0;
        if (!strcmp(argv[i], "--threads")) rc = parse_int_in(argv[i], argv[i + 1], &threads, 1, 256);
        else if (!strcmp(argv[i], "--seconds")) secs = atof(argv[i + 1]);
        else return usage_error("unknown flag %s for bench peak", argv[i]);
        if (rc) return rc;
    }
    /* The build's own vector width first, then the machine's widest where that differs. */
    const char *isas[2] = {dnas_cpu_simd(), dnas_bench_peak_isa()};
    int n_isa = strcmp(isas[0], isas[1]) ? 2 : 1;
    for (int i = 0; i < n_isa; i++) {
        double one = 0;
        for (int k = 1; k <= threads; k++) {
            double g;
            int used;
            dnas_status st = dnas_bench_peak_for(k, secs, isas[i], &g, &used);
            if (st != DNAS_OK) return fail(st);
            if (used != k) {
                printf("peak    %d threads asked, %d ran (built without OpenMP)\n", k, used);
                break;
            }
            if (k == 1) one = g;
            printf("peak    %-8s %d thread%s: %.1f GFLOP/s single precision (multiply-add = 2; %.2fx one thread)%s\n",
                   isas[i], k, k > 1 ? "s" : "", g, one > 0 ? g / one : 0.0,
                   i == n_isa - 1 ? "" : " [this build's kernels]");
            fflush(stdout);
        }
    }
    printf("peak    the machine's peak is the %s figure (what `dnas bench step` divides by)\n", isas[n_isa - 1]);
    return 0;
}

static int cmd_bench(int argc, char **argv) {
    if (argc >= 1 && !strcmp(argv[0], "train")) return cmd_bench_train(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "peak")) return cmd_bench_peak(argc - 1, argv + 1);
    if (argc < 1 || strcmp(argv[0], "step"))
        return usage_error("%s", "usage: dnas bench step|train|peak [flags]");
    dnas_bench_config b;
    dnas_status st = dnas_search_config_default(&b.search, find_flag(argc, argv, "--algo"));
    if (st != DNAS_OK) return fail(st);
    b.search.threads = 2;
    b.warmup = 5;
    b.steps = 20;
    const char *anchor = "python3 bench/torch_step.py";
    const char *device = "cpu";
    int threads[8] = {2}, n_threads = 1, peak = 1;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
        int rc = 0;
        if (!strcmp(argv[i], "--steps")) rc = parse_int(argv[i], argv[i + 1], &b.steps);
        else if (!strcmp(argv[i], "--warmup")) rc = parse_int(argv[i], argv[i + 1], &b.warmup);
        else if (!strcmp(argv[i], "--threads")) rc = parse_threads(argv[i + 1], threads, 8, &n_threads);
        else if (!strcmp(argv[i], "--peak")) rc = parse_int_in(argv[i], argv[i + 1], &peak, 0, 1);
        else if (!strcmp(argv[i], "--anchor")) anchor = argv[i + 1];
        else if (!strcmp(argv[i], "--device")) device = argv[i + 1];
        else {
            st = dnas_search_config_set(&b.search, argv[i] + 2, argv[i + 1]);
            if (strncmp(argv[i], "--", 2) || st != DNAS_OK)
                return st != DNAS_OK ? fail(st) : usage_error("unexpected argument '%s'", argv[i]);
        }
        if (rc) return rc;
    }
    if (strcmp(device, "cpu")) {
        /* A missing device is the common case: say so in one line. Even with a device, the
         * graph's arena is host memory (issue #17), so stepping on cuda is not wired yet. */
        char dev_desc[64];
        if ((st = dnas_device_check(device, dev_desc, sizeof dev_desc)) != DNAS_OK) return fail(st);
        fprintf(stderr, "dnas: --device %s: %s found, but bench step cannot run there yet (the "
                        "graph arena is host memory; issue #17)\n", device, dev_desc);
        return 1;
    }
    dnas_bench_result r = {0};
    double first_ms = 0, rss = 0;
    for (int k = 0; k < n_threads; k++) {
        b.search.threads = threads[k];
        st = dnas_bench_step(&b, &r);
        if (st != DNAS_OK) return fail(st);
        rss = peak_rss_mib();
        printf("dnas    %s %s batch %d, %d threads: %.1f ms/step median (mean %.1f, min %.1f, max %.1f, %d steps after %d warm-up), peak RSS %.0f MiB\n",
               b.search.space, b.search.algo, b.search.batch, b.search.threads, r.ms_median, r.ms_mean,
               r.ms_min, r.ms_max, r.steps, b.warmup, rss);
        /* Steps of equal work: the median time is the robust one; else work and time are
         * both means (an arch step every k-th step). */
        double ms = r.flops_constant ? r.ms_median : r.ms_mean, rate = r.gflop_step / (ms / 1e3);
        printf("flops   %.2f GFLOP/step (counted by the graph) = %.1f GFLOP/s at the %s time", r.gflop_step,
               rate, r.flops_constant ? "median" : "mean");
        double pk = 0;
        int used = 0;
        if (peak && (st = dnas_bench_peak(b.search.threads, 0.3, &pk, &used)) != DNAS_OK) return fail(st);
        if (peak)
            printf("; peak %.1f GFLOP/s on %d thread%s (%s FMA loop, this process): %.1f%% of peak",
                   pk, used, used > 1 ? "s" : "", dnas_bench_peak_isa(), 100.0 * rate / pk);
        /* Earlier sessions divided by the AVX2 loop; print that fraction too where it differs. */
        double pk2 = 0;
        if (peak && strcmp(dnas_bench_peak_isa(), dnas_cpu_simd()) &&
            (st = dnas_bench_peak_for(b.search.threads, 0.3, dnas_cpu_simd(), &pk2, &used)) != DNAS_OK)
            return fail(st);
        if (pk2 > 0) printf(" (%.1f%% of the %s loop's %.1f)", 100.0 * rate / pk2, dnas_cpu_simd(), pk2);
        printf("; conv kernels %s", dnas_cpu_conv_isa());
        printf("\n");
        if (k == 0) first_ms = r.ms_median;
        else
            printf("scaling %d -> %d threads: %.1f -> %.1f ms/step median, speed-up %.2fx\n", threads[0],
                   threads[k], first_ms, r.ms_median, first_ms / r.ms_median);
        fflush(stdout);
    }
    if (strcmp(anchor, "none") && strcmp(b.search.algo, "darts1") == 0) {
        char full[1400];
        snprintf(full, sizeof full, "%s --space %s --threads %d --batch %d --steps %d --warmup %d",
                 anchor, b.search.space, b.search.threads, b.search.batch, b.steps, b.warmup);
        print_anchor(full, r.ms_median, rss);
    }
    return 0;
}

/* dnas info --genotype G: the network dnas train would train (no data, no run directory). */
static int cmd_info_net(int argc, char **argv) {
    const char *geno = find_flag(argc, argv, "--genotype"), *space = find_flag(argc, argv, "--space");
    char guessed[32];
    dnas_status st;
    if (!space) {
        if ((st = dnas_train_guess_space(geno, guessed, sizeof guessed)) != DNAS_OK) return fail(st);
        space = guessed;
    }
    dnas_train_config c;
    if ((st = dnas_train_config_default(&c, space)) != DNAS_OK) return fail(st);
    static const char *const allowed[] = {"--space", "--genotype", "--batch", "--channels",
                                          "--cells", "--auxiliary", "--plan", NULL};
    for (int i = 0; i < argc; i += 2) {
        int ok = 0;
        for (const char *const *o = allowed; *o; o++) ok |= !strcmp(argv[i], *o);
        if (!ok) return usage_error("unknown flag %s for info --genotype", argv[i]);
        if (!strcmp(argv[i], "--plan")) { i--; continue; } /* the plan is always printed */
        if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
        if ((st = dnas_train_config_set(&c, argv[i] + 2, argv[i + 1])) != DNAS_OK) return fail(st);
    }
    dnas_train_net_info in;
    if ((st = dnas_train_net_info_get(&c, &in)) != DNAS_OK) return fail(st);
    printf("space          %s network (C=%d, %s=%d, 10 classes, 32x32 input)\n", c.space,
           c.channels, strcmp(c.space, "darts") ? "N" : "L", c.cells);
    printf("genotype       %s\n", c.genotype);
    printf("weights        %zu (%.2f M)%s\n", in.n_weights, in.n_weights / 1e6,
           c.auxiliary ? ", auxiliary head excluded" : "");
    if (c.auxiliary) printf("auxiliary head %zu\n", in.n_aux_weights);
    printf("bn buffers     %zu\n", in.n_buffers);
    printf("graph nodes    %d\n", in.n_nodes);
    printf("planned peak   %.1f MiB activations+gradients for batch %d\n",
           in.peak_bytes / 1048576.0, c.batch);
    return 0;
}

/* dnas train: --genotype G [--space S] --out DIR [flags] | --resume DIR [session flags]. */
static int cmd_train(int argc, char **argv) {
    dnas_train_config c;
    dnas_status st;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            const char *sp = find_flag(argc, argv, "--space");
            if ((st = dnas_train_config_default(&c, sp ? sp : "darts")) != DNAS_OK) return fail(st);
            printf("usage: dnas train --genotype NAME|FILE|TEXT [--space darts|nb201] --out DIR [--flag value ...]\n"
                   "       dnas train --resume DIR [--threads T --data DIR --max-steps S --progress P]\n"
                   "--genotype: a published name (darts: DARTS_V1, DARTS_V2, PC_DARTS), a file holding\n"
                   "the genotype (e.g. a search's genotype.txt) or its text; --space defaults to nb201\n"
                   "for an arch string ('|...') and darts otherwise. Defaults (shown for --space %s)\n"
                   "are the space's protocol: darts = DARTS evaluation, nb201 = NB201 benchmark.\n"
                   "(--out and --data are short for --out-dir and --data-dir)\n", c.space);
            dnas_train_config_help(&c, stdout);
            printf("A resume takes every other setting from DIR/checkpoint.dnas; --space and\n"
                   "--genotype given with --resume must be the stored ones.\n"
                   "Run directory: config.json, log.jsonl, checkpoint.dnas, result.json (at the end).\n"
                   "exit status: 0 finished (last and best test accuracy on stdout), 1 error, 2 usage\n"
                   "  error, 3 stopped by --max-steps (continue with --resume DIR), 130 interrupted\n"
                   "  (SIGINT/SIGTERM; continue with --resume DIR).\n");
            return 0;
        }
    for (int i = 0; i < argc; i += 2) {
        if (strncmp(argv[i], "--", 2) != 0) return usage_error("unexpected argument '%s'", argv[i]);
        if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
    }
    const char *resume = find_flag(argc, argv, "--resume");
    if (resume) {
        if ((st = dnas_train_config_default(&c, NULL)) != DNAS_OK) return fail(st);
        for (const char *p = resume; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return usage_error("%s", "--resume: the directory name contains a control character");
        if (strlen(resume) >= sizeof c.out_dir) return usage_error("%s", "--resume: directory name too long");
        snprintf(c.out_dir, sizeof c.out_dir, "%s", resume);
        static const char *const allowed[] = {"--threads", "--progress", "--max-steps", "--data",
                                              "--data-dir", "--space", "--genotype", NULL};
        for (int i = 0; i < argc; i += 2) {
            if (!strcmp(argv[i], "--resume")) continue;
            int ok = 0;
            for (const char *const *o = allowed; *o; o++) ok |= !strcmp(argv[i], *o);
            if (!ok)
                return usage_error("with --resume only --threads, --progress, --max-steps and --data "
                                   "may be given (and --space/--genotype, which must match), not %s "
                                   "(the rest is stored in the checkpoint)", argv[i]);
            if ((st = dnas_train_config_set(&c, argv[i] + 2, argv[i + 1])) != DNAS_OK) return fail(st);
        }
        c.resume = 1;
    } else {
        const char *geno = find_flag(argc, argv, "--genotype"), *space = find_flag(argc, argv, "--space");
        char guessed[32];
        if (!geno) return usage_error("%s", "train needs --genotype NAME|FILE|TEXT (or --resume DIR)");
        if (!space) {
            if ((st = dnas_train_guess_space(geno, guessed, sizeof guessed)) != DNAS_OK) return fail(st);
            space = guessed;
        }
        if ((st = dnas_train_config_default(&c, space)) != DNAS_OK) return fail(st);
        for (int i = 0; i < argc; i += 2)
            if ((st = dnas_train_config_set(&c, argv[i] + 2, argv[i + 1])) != DNAS_OK) return fail(st);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    c.stop = &stop_flag;
    dnas_train_result r;
    st = dnas_train_run(&c, &r);
    if (st == DNAS_ERR_INTERRUPTED && !stop_flag && c.max_steps > 0) {
        fprintf(stderr, "dnas: %s\n", dnas_last_error());
        return 3;
    }
    if (st != DNAS_OK) return fail(st);
    printf("test_acc %.2f best_test_acc %.2f best_epoch %d\n", r.test_acc, r.best_test_acc,
           r.best_epoch + 1);
    return 0;
}

/* dnas export DIR --to pytorch OUT [--untrained] */
static int cmd_export(int argc, char **argv) {
    const char *dir = NULL, *to = NULL, *out = NULL;
    unsigned flags = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--to")) {
            if (i + 2 >= argc) return usage_error("%s needs a format and a directory: --to pytorch OUT", argv[i]);
            to = argv[++i];
            out = argv[++i];
        } else if (!strcmp(argv[i], "--untrained")) {
            flags |= DNAS_EXPORT_UNTRAINED;
        } else if (!strncmp(argv[i], "--", 2)) {
            return usage_error("unknown flag %s for export", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    if (!dir || !to) return usage_error("%s", "export needs: dnas export DIR --to pytorch OUT");
    if (strcmp(to, "pytorch")) return usage_error("--to %s: the only export format is pytorch", to);
    dnas_export_result r;
    dnas_status st = dnas_export_pytorch(dir, out, flags, &r);
    if (st != DNAS_OK) return fail(st);
    printf("%s: %s network, %zu weights%s", out, r.space, r.n_weights,
           r.n_aux_weights ? "" : "\n");
    if (r.n_aux_weights) printf(" + auxiliary head %zu\n", r.n_aux_weights);
    if (r.trained) printf("weights: trained (%d epoch%s, %ld steps)", r.epochs, r.epochs == 1 ? "" : "s", r.steps);
    else printf("weights: freshly initialised (untrained)");
    printf("; check batch: %s\n", r.inputs);
    printf("check it: cd %s && python3 -c 'import model; model.verify()'\n", out);
    return 0;
}

int main(int argc, char **argv) {
    const char *fail_at = getenv("DNAS_FAIL_ALLOC_AT");
    static dnas_failing_allocator fa;
    if (fail_at) dnas_failing_allocator_install(&fa, atol(fail_at)); /* tests: fail the N-th allocation */
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "search")) return cmd_search(argc - 2, argv + 2);
    if (!strcmp(cmd, "query")) return cmd_query(argc - 2, argv + 2);
    if (!strcmp(cmd, "select")) return cmd_select(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "report")) return cmd_report(argc - 2, argv + 2);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", cmd);
}
