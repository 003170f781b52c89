/* `dnas select` as a user runs it: magnitude equals the search's own arch; DARTS-PT decides
 * every edge, and a selection stopped by SIGTERM resumes to the same result as an
 * uninterrupted one; bad input (unknown method, unfinished run, corrupt checkpoint, a run of
 * another space, a genotype file that would be overwritten) gives one line naming the flag
 * or file, a non-zero exit, and writes nothing. */
#include "test.h"
#include "e2e.h"
#include "io/checkpoint.h"

static char base[256];

static void dir_of(char *d, size_t cap, const char *name) {
    snprintf(d, cap, "%s/%s", base, name);
}

/* A finished tiny search (C=4, N=1, 64 + 64 images, 1 epoch). */
static int tiny_search(const char *d, const char *extra) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s search --algo darts1 --channels 4 --cells 1 --batch 16 "
             "--epochs 1 --train-images 64 --threads 1 --progress 0 --pt-interval 1 --data %s "
             "--out %s %s > %s.out 2>&1", e2e_tool(), e2e_cifar_dir(), d, extra ? extra : "", d);
    return system(cmd);
}

static void first_line(const char *path, char *buf, size_t cap) {
    e2e_slurp(path, buf, cap);
    char *nl = strchr(buf, '\n');
    if (nl) *nl = 0;
}

static void test_magnitude_and_pt(void) {
    char d[300], p[400], mag[1100], geno[1100], pt[1100];
    dir_of(d, sizeof d, "a");
    CHECK(tiny_search(d, NULL) == 0, "tiny search failed");
    snprintf(p, sizeof p, "%s/genotype.txt", d);
    first_line(p, geno, sizeof geno);
    int rc = e2e_run(e2e_argv(e2e_tool(), "select", d, NULL));
    CHECK(rc == 0, "select (magnitude): exit %d: %s", rc, e2e_out);
    snprintf(p, sizeof p, "%s/genotype-magnitude.txt", d);
    first_line(p, mag, sizeof mag);
    CHECK(strcmp(mag, geno) == 0, "magnitude %s differs from the search's %s", mag, geno);

    rc = e2e_run(e2e_argv(e2e_tool(), "select", "--method", "pt", d, "--threads", "1", NULL));
    CHECK(rc == 0, "select --method pt: exit %d: %s", rc, e2e_out);
    CHECK(strstr(e2e_out, "decision 6/6") != NULL, "six decisions expected: %s", e2e_out);
    snprintf(p, sizeof p, "%s/genotype-pt.txt", d);
    first_line(p, pt, sizeof pt);
    CHECK(strncmp(pt, "|", 1) == 0 && strlen(pt) > 40, "pt genotype '%s'", pt);
    /* Rerunning a finished selection reports the same result and rewrites nothing. */
    rc = e2e_run(e2e_argv(e2e_tool(), "select", "--method", "pt", d, NULL));
    CHECK(rc == 0 && strstr(e2e_out, pt) != NULL, "rerun: exit %d: %s", rc, e2e_out);
}

/* SIGTERM during the selection (after its first decision), then a rerun: same genotype and
 * same decision log as the uninterrupted selection of test_magnitude_and_pt. */
static void test_pt_resume_identical(void) {
    char a[300], d[300], cmd[1400], p[400], out[400], buf[65536], want[65536], got[65536];
    dir_of(a, sizeof a, "a");
    dir_of(d, sizeof d, "b");
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/checkpoint.dnas %s/config.json %s/log.jsonl "
             "%s/alphas.jsonl %s/genotype.txt %s/", d, a, a, a, a, a, d);
    CHECK(system(cmd) == 0, "copy of the run failed");
    snprintf(p, sizeof p, "%s/select-pt.jsonl", d);
    snprintf(out, sizeof out, "%s.sel.out", d);
    pid_t pid = e2e_spawn(e2e_argv(e2e_tool(), "select", "--method", "pt", d, "--threads", "1", NULL), out);
    int status = 0, done = 0;
    for (int i = 0; i < 60000; i++) {
        e2e_slurp(p, buf, sizeof buf);
        if (strstr(buf, "\"decision\": 1,")) break;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            done = 1;
            break;
        }
        usleep(1000);
    }
    if (!done) {
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
    }
    CHECK(!done && WIFEXITED(status) && WEXITSTATUS(status) == 130,
          "selection not interrupted mid-way (done %d, status %d)", done, status);
    int rc = e2e_run(e2e_argv(e2e_tool(), "select", "--method", "pt", d, "--threads", "1", NULL));
    CHECK(rc == 0, "resumed selection: exit %d: %s", rc, e2e_out);
    CHECK(strstr(e2e_out, "resuming the selection") != NULL, "did not resume: %s", e2e_out);
    snprintf(p, sizeof p, "%s/genotype-pt.txt", a);
    e2e_slurp(p, want, sizeof want);
    snprintf(p, sizeof p, "%s/genotype-pt.txt", d);
    e2e_slurp(p, got, sizeof got);
    CHECK(strcmp(want, got) == 0, "resumed selection chose %s, uninterrupted %s", got, want);
    /* The decision lines (not the result lines, whose seconds differ) are identical. */
    snprintf(p, sizeof p, "%s/select-pt.jsonl", a);
    e2e_slurp(p, want, sizeof want);
    snprintf(p, sizeof p, "%s/select-pt.jsonl", d);
    e2e_slurp(p, got, sizeof got);
    char *r1 = strstr(want, "{\"kind\": \"result\""), *r2 = strstr(got, "{\"kind\": \"result\"");
    if (r1) *r1 = 0;
    if (r2) *r2 = 0;
    CHECK(strcmp(want, got) == 0, "decision logs differ:\n%s\nvs\n%s", want, got);
    unlink(out);
}

static void test_bad_input(void) {
    char a[300], u[300], c[300], o[300], p[400], cmd[1400], buf[4096];
    dir_of(a, sizeof a, "a");
    /* Unknown method: names the flag, exit 2. */
    int rc = e2e_run(e2e_argv(e2e_tool(), "select", "--method", "best", a, NULL));
    CHECK(rc == 2 && strstr(e2e_out, "--method") && e2e_count_lines(e2e_out) == 1,
          "unknown method: exit %d: %s", rc, e2e_out);

    /* An unfinished run: refused, nothing written. */
    dir_of(u, sizeof u, "unfinished");
    CHECK(tiny_search(u, "--max-steps 1") == 3 << 8, "--max-steps run did not stop with exit 3");
    rc = e2e_run(e2e_argv(e2e_tool(), "select", "--method", "pt", u, NULL));
    CHECK(rc != 0 && strstr(e2e_out, "checkpoint.dnas") && strstr(e2e_out, "--resume") &&
          e2e_count_lines(e2e_out) == 1, "unfinished run: exit %d: %s", rc, e2e_out);
    snprintf(p, sizeof p, "%s/genotype-pt.txt", u);
    CHECK(!e2e_file_exists(p), "an unfinished run got %s", p);
    snprintf(p, sizeof p, "%s/select-pt.dnas", u);
    CHECK(!e2e_file_exists(p), "an unfinished run got %s", p);

    /* A corrupt checkpoint: one flipped byte, refused naming the file. */
    dir_of(c, sizeof c, "corrupt");
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/checkpoint.dnas %s/ && printf 'X' | dd of=%s/checkpoint.dnas "
             "bs=1 seek=3000 conv=notrunc 2>/dev/null", c, a, c, c);
    CHECK(system(cmd) == 0, "corrupting failed");
    rc = e2e_run(e2e_argv(e2e_tool(), "select", c, NULL));
    CHECK(rc == 1 && strstr(e2e_out, "checkpoint.dnas") && e2e_count_lines(e2e_out) == 1,
          "corrupt checkpoint: exit %d: %s", rc, e2e_out);

    /* A run of another space (a valid checkpoint of kind search/darts). */
    dir_of(o, sizeof o, "other");
    snprintf(cmd, sizeof cmd, "mkdir -p %s", o);
    CHECK(system(cmd) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/checkpoint.dnas", o);
    dnas_ckpt_writer *w = NULL;
    CHECK(dnas_ckpt_write_begin(p, "search/darts", &w) == DNAS_OK, "writer: %s", dnas_last_error());
    const char cfg[] = "space=darts\nalgo=darts1\n";
    if (w) {
        CHECK(dnas_ckpt_put(w, "config", cfg, sizeof cfg - 1) == DNAS_OK, "put");
        CHECK(dnas_ckpt_write_commit(w) == DNAS_OK, "commit: %s", dnas_last_error());
    }
    rc = e2e_run(e2e_argv(e2e_tool(), "select", o, NULL));
    CHECK(rc != 0 && strstr(e2e_out, "checkpoint.dnas") && strstr(e2e_out, "darts") &&
          e2e_count_lines(e2e_out) == 1, "another space: exit %d: %s", rc, e2e_out);

    /* A genotype file holding something else is never overwritten. */
    snprintf(p, sizeof p, "%s/genotype-magnitude.txt", a);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("mine\n", f);
        fclose(f);
    }
    rc = e2e_run(e2e_argv(e2e_tool(), "select", a, NULL));
    e2e_slurp(p, buf, sizeof buf);
    CHECK(rc != 0 && strstr(e2e_out, "genotype-magnitude.txt") && strcmp(buf, "mine\n") == 0,
          "genotype overwritten or not refused: exit %d: %s / file '%s'", rc, e2e_out, buf);
}

int main(void) {
    snprintf(base, sizeof base, "/tmp/dnas-e2e-select-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", base);
    if (system(cmd) != 0) return 1;
    RUN(test_magnitude_and_pt);
    RUN(test_pt_resume_identical);
    RUN(test_bad_input);
    e2e_rm_rf(base);
    TEST_EXIT();
}
