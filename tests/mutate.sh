#!/usr/bin/env bash
# Mutation check of the test suite: re-injects known bugs one at a time and checks that the
# tests catch each. It never touches this working tree: it copies the tracked and untracked
# (not ignored) files to a temporary directory, builds there, and mutates only that copy, which
# is removed on exit (also on Ctrl-C).
#
# Prints one line per mutant, "caught" or "SURVIVED", and exits non-zero if any survived, or if a
# mutation no longer applies (the source changed: update its pattern here) or does not compile.
#
# usage: tests/mutate.sh [-a] [-k] [NAME...]
#   -a      run every unit and ref test binary for each mutant (default: the relevant ones)
#   -k      keep the temporary copy (its path is printed)
#   NAME    run only these mutants (default: all)
# env: JOBS (make -j, default 2), CC, ARCH and the other Makefile switches pass through.
set -u

all=0 keep=0
while getopts ak o; do
    case $o in
    a) all=1 ;;
    k) keep=1 ;;
    *) echo "usage: $0 [-a] [-k] [NAME...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dnas-mutate.XXXXXX") || exit 2
cleanup() { if [ $keep = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM HUP
SRC=$TMP/src
B=build-mut
SHARED=${DNAS_SHARED_DATA:-$(cd "$ROOT/../shared/data" 2>/dev/null && pwd)} # tests read the real data
mkdir -p "$SRC"

# ---- the copy: tracked and untracked-but-not-ignored files, no build directories ------------
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z -co --exclude-standard | grep -zv '^build[^/]*/' |
        while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -xf - -C "$SRC" || { echo "cannot copy the tree" >&2; exit 2; }
else
    (cd "$ROOT" && tar --exclude='./build*' -cf - .) | tar -xf - -C "$SRC" || exit 2
fi

BINS_ALL="$B/tests/unit/test_train $B/tests/unit/test_graph $B/tests/ref/test_nb201_twin $B/tests/unit/test_methods $B/tests/ref/test_methods_twin $B/tests/unit/test_prime $B/tests/unit/test_darts_net $B/tests/unit/test_cpu_kernels $B/tests/unit/test_conv_isa $B/tests/unit/test_split_file $B/tests/unit/test_gaea_combo $B/tests/unit/test_cpu_conv $B/tests/unit/test_lazy_bn $B/tests/unit/test_conv_dnnl"
if [ $all = 1 ]; then
    BINS_ALL=$(cd "$SRC" && ls tests/unit/test_*.c tests/ref/test_*.c | sed "s|^tests/\(.*\)\.c$|$B/tests/\1|")
fi

build() { make -C "$SRC" BUILD=$B -j"${JOBS:-2}" $BINS_ALL >"$TMP/build.log" 2>&1; }

# Runs test binaries from another directory (/), as a user could: returns 0 when all pass.
# Writes their output to $TMP/run.log.
run_tests() {
    local rc=0 t
    : >"$TMP/run.log"
    for t in "$@"; do
        (cd / && BUILD="$SRC/$B" DNAS_SHARED_DATA="$SHARED" timeout 600 "$SRC/$t") >>"$TMP/run.log" 2>&1 || rc=1
    done
    grep -q '^FAIL ' "$TMP/run.log" && rc=1
    return $rc
}

echo "mutation check of $ROOT (copy in $TMP)"
if ! build; then
    tail -20 "$TMP/build.log"
    echo "the unmutated copy does not build" >&2
    exit 2
fi
if ! run_tests $BINS_ALL || grep -q '^SKIP ' "$TMP/run.log"; then
    grep '^FAIL\|^SKIP\|check failed' "$TMP/run.log" | head -20
    echo "the unmutated tests do not all pass (run from /)" >&2
    exit 2
fi
echo "baseline: $(grep -c '^PASS ' "$TMP/run.log") cases pass, run from /, no skips"

# ---- the mutants ------------------------------------------------------------------------------
# name ~ file ~ sed expression (or TRUNCATE / DELETE) ~ test binaries
T_TWIN=$B/tests/ref/test_nb201_twin
T_TRAIN=$B/tests/unit/test_train
T_GRAPH=$B/tests/unit/test_graph
T_METH=$B/tests/unit/test_methods
T_MTWIN=$B/tests/ref/test_methods_twin
T_PRIME=$B/tests/unit/test_prime
T_DNET=$B/tests/unit/test_darts_net
T_KERN=$B/tests/unit/test_cpu_kernels
T_LAZY=$B/tests/unit/test_lazy_bn
T_ISA=$B/tests/unit/test_conv_isa
T_SPLIT=$B/tests/unit/test_split_file
T_GCOMBO=$B/tests/unit/test_gaea_combo
T_CONV=$B/tests/unit/test_cpu_conv
T_DNNL=$B/tests/unit/test_conv_dnnl
MUTANTS=(
"adam-no-weight-decay~src/train/adam.c~s/float d = g\[i\] + o->weight_decay \* w\[i\];/float d = g[i];/~$T_TRAIN $T_TWIN"
"bn-momentum-0.9~src/ops/batchnorm.c~s/(dnas_bn_p){1e-5f, 0\.1f, 0}/(dnas_bn_p){1e-5f, 0.9f, 0}/~$T_TWIN"
"bn-running-var-biased~src/backend/cpu/cpu_bn.c~s/double uvar = npix > 1 ? var \* M \/ (M - 1\.0) : var;/double uvar = var;/~$T_TWIN"
"bn-eval-uses-batch-stats~src/ops/batchnorm.c~s/return g->training || !n->a\.bn\.track;/return 1;/~$T_TWIN"
"clip-never-scales~src/train/clip.c~s/if (coef < 1\.0)/if (coef < 0.0)/~$T_TRAIN $T_TWIN"
"clip-never-called~src/search/search.c~s/if (s->cfg\.grad_clip > 0)/if (0 \&\& s->cfg.grad_clip > 0)/~$T_TWIN"
"cosine-off-by-one~src/train/schedule.c~s|cos(M_PI \* epoch / epochs)|cos(M_PI * epoch / (epochs + 1))|~$T_TRAIN"
"cosine-no-halving~src/train/schedule.c~s|(1\.0f + (float)cos(M_PI \* epoch / epochs)) / 2\.0f|(1.0f + (float)cos(M_PI * epoch / epochs))|~$T_TRAIN"
"plan-overlap-at-last-use~src/graph/plan.c~s/if (act\[j\]\.end >= iv\[i\]\.start)/if (act[j].end > iv[i].start)/~$T_GRAPH $T_TWIN"
"plan-saved-values-not-kept~src/graph/plan.c~s/int end = x->keep ? T : /int end = /~$T_GRAPH $T_TWIN"
"softmax-backward-sign~src/search/mix.c~s/ga\[k\] = m\[k\] \* (gm\[k\] - dot);/ga[k] = m[k] * (gm[k] + dot);/~$T_TWIN"
"sgd-nesterov-swapped~src/train/sgd.c~s/d = o->nesterov ? d + mu \* buf\[i\] : buf\[i\];/d = o->nesterov ? buf[i] : d + mu * buf[i];/~$T_TRAIN $T_TWIN"
"sgd-momentum-dampened~src/train/sgd.c~s/buf\[i\] = mu \* buf\[i\] + d;/buf[i] = mu * buf[i] + (1.0f - mu) * d;/~$T_TRAIN $T_TWIN"
"idarts-mixed-term-sign~src/search/idarts.c~s/s->galpha\[i\] = p->ga_val\[i\] - gamma \* s->galpha\[i\];/s->galpha[i] = p->ga_val[i] + gamma * s->galpha[i];/~$T_MTWIN"
"idarts-kinks-not-frozen~src/search/idarts.c~s/st = dnas_graph_set_kinks(g, DNAS_KINKS_FROZEN);/st = dnas_graph_set_kinks(g, DNAS_KINKS_FREE);/~$T_MTWIN"
"hvp-missing-half~src/graph/hvp.c~s|const float inv = 1\.0f / (2\.0f \* r);|const float inv = 1.0f / r;|~$T_METH $T_MTWIN"
"neumann-one-term-short~src/search/idarts.c~s/for (int k = 0; k < K; k++) {/for (int k = 1; k < K; k++) {/~$T_METH $T_MTWIN"
"gaea-no-clamp~src/search/gaea.c~s/if (!(t\[k\] >= GAEA_FLOOR)) t\[k\] = GAEA_FLOOR;/(void)0;/~$T_METH $T_MTWIN"
"gaea-eg-sign~src/search/gaea.c~s/t\[k\] \*= expf(-eta \* g\[k\]);/t[k] *= expf(eta * g[k]);/~$T_METH $T_MTWIN"
"pt-keeps-least-harmful~src/select/pt.c~s/if (best < 0 || acc\[k\] < acc\[best\]) best = k;/if (best < 0 || acc[k] > acc[best]) best = k;/~$T_METH $T_MTWIN"
"pt-renormalises~src/select/pt.c~s/w\[row \* cols + k\] = 0\.0f;/w[row * cols + k] = 0.0f; for (int q = 0; q < cols; q++) w[row * cols + q] *= 1.25f;/~$T_METH $T_MTWIN"
"bn-alias-scale-ignored~src/ops/batchnorm.c~s/dnas_grad_scale(g, n->out)/1.0f/~$T_GRAPH $T_TWIN"
"alias-lifetime-not-extended~src/graph/plan.c~s/if (alias_end\[v\] > gend) gend = alias_end\[v\];/(void)alias_end;/~$T_GRAPH $T_TWIN"
"admm-clean-pruned-projectable~src/search/prime.c~s/live_at(p->cand, p->mask, i) ? a\[i\] + u\[i\] : -INFINITY/a[i] + u[i]/~$T_PRIME"
"droppath-add-scales-swapped~src/ops/droppath.c~s|n->scratch + (size_t)i \* N, N, per)|n->scratch + (size_t)(1 - i) * N, N, per)|~$T_DNET"
"droppath-add-reuses-stream~src/ops/droppath.c~s|n->a\.droppath\.ord\[1\] = drop_b ? o : -1;|n->a.droppath.ord[1] = drop_b ? 0 : -1;|~$T_DNET"
"maxpool-s2-columns-swapped~src/backend/cpu/cpu_pool.c~s|vo += pick(at, dyimg, ro\[0\] + (size_t)m, C, q2\[0\], cw);|vo += pick(at, dyimg, ro[0] + (size_t)m, C, q0[0], cw);|~$T_KERN"
"bn-relu-bwd-unmasked~src/backend/cpu/cpu_bn.c~s|    if (!RELU) return v;|    return v;|~$T_KERN"
"bn-relu-fwd-no-max~src/backend/cpu/cpu_bn.c~s|v8f_store(y + o, RELU ? (dnas_v8f)((dnas_v8i)v \& (dnas_v8i)(v > z)) : v);|v8f_store(y + o, v + 0 * z);|~$T_KERN"
# (the *_round_ forms, rounding 8 = to nearest without exceptions: the build's
# -ffp-contract=fast would fuse a plain mul + add back into the FMA)
"avx512-gather-unfused~src/backend/cpu/cpu_conv.c~s|a\[r\]\[0\] = _mm512_fmadd_ps(b, w0, a\[r\]\[0\]);|a[r][0] = _mm512_add_round_ps(_mm512_mul_round_ps(b, w0, 8), a[r][0], 8);|~$T_ISA"
"avx512-wgrad-unfused~src/backend/cpu/cpu_conv.c~s|a\[r\]\[0\] = _mm512_fmadd_ps(b, d0, a\[r\]\[0\]);|a[r][0] = _mm512_add_round_ps(_mm512_mul_round_ps(b, d0, 8), a[r][0], 8);|~$T_ISA"
"split-file-duplicate-allowed~src/data/split_file.c~s|if (seen\[v\] == tag)|if (0 \&\& seen[v] == tag)|~$T_SPLIT"
"gaea-edge-lr-ignored~src/search/gaea.c~s|if (s->cfg\.edge_lr > 0) eta = (float)s->cfg\.edge_lr;|(void)0;|~$T_GCOMBO"
"pw-chunk-partial-skipped~src/backend/cpu/cpu_conv.c~s|for (long ch = 1; ch < nch; ch++)$|for (long ch = 2; ch < nch; ch++)|~$T_CONV"
"colsum-second-row-repeated~src/backend/cpu/cpu_conv.c~s|s1 = f8_add(s1, f8_loadu(d + C));|s1 = f8_add(s1, f8_loadu(d));|~$T_CONV"
"dw-flat-bias-dropped~src/backend/cpu/cpu_conv.c~s|A->brep = A->bpk ? br : NULL;|A->brep = NULL;|~$T_ISA"
"dw-flat-leftover-short~src/backend/cpu/cpu_conv.c~s|for (int j = full; j < DW; j++, nl++) {|for (int j = full; j < DW - 1; j++, nl++) {|~$T_ISA"
"lazy-bn-shift-dropped~src/backend/cpu/cpu_eltwise.c~s|Bi\[c\] = lz ? m\[i\] \* b\[i\]\[c\] : 0\.0f;|Bi[c] = 0.0f;|~$T_KERN $T_GRAPH"
"lazy-bn-dot-shift-dropped~src/ops/batchnorm.c~s|d += (double)la\[k\] \* sums\[c + k\] + (double)lb\[k\] \* sums\[k\];|d += (double)la[k] * sums[c + k] + 0.0 * lb[k];|~$T_GRAPH"
"lazy-bn-dot-never-taken-by-sum~src/ops/wsum.c~s|if (wants_m \&\& !producer_bwd_runs(g, v))|if (0 \&\& !producer_bwd_runs(g, v))|~$T_GRAPH"
"lazy-pool-unscaled-dy~src/ops/pool.c~s|dnas_grad_scale(g, n->out), y->shape, dot|1.0f, y->shape, dot|~$T_LAZY"
"lazy-pool-dot-never-taken-by-sum~src/ops/wsum.c~s|else DNAS_TRY(dnas_pool_lazy_dot(g, n->in\[i\], y->grad, \&d));|else d = 0.0;|~$T_LAZY"
"lazy-pool-input-not-pooled~src/backend/cpu/cpu_eltwise.c~s|                    xs\[i\] = t;|                    xs[i] = x[g + i] + p0 * C;|~$T_KERN $T_LAZY"
"lazy-pool-dot-low-half-dropped~src/backend/cpu/cpu_pool.c~s|al += v4d_load_f(t + j) \* v4d_load_f(x + j);|(void)al;|~$T_KERN $T_LAZY"
"pool-skip-reader-between-ignored~src/graph/plan.c~s|for (int q = pi + 1; q < wi \&\& reads == 1; q++)|for (int q = wi; q < wi \&\& reads == 1; q++)|~$T_GRAPH"
"pool-skip-acc-ignored~src/ops/pool.c~s|w->acc\[i\], sdot|1, sdot|~$T_GRAPH"
"pool-skip-term-dropped~src/backend/cpu/cpu_pool.c~s|if (ACC) u = v8f_load(dx + j) + mv \* gv;|if (ACC) u = v8f_load(dx + j);|~$T_KERN $T_GRAPH"
"pool-skip-also-taken-by-sum~src/ops/wsum.c~s|if (skip_taken_by_pool(g, n, i)) continue;|(void)skip_taken_by_pool;|~$T_GRAPH"
"avgpool16-load-short~src/backend/cpu/cpu_pool.c~s|memcpy(\&v, p, sizeof(float) \* (size_t)n);|memcpy(\&v, p, sizeof(float) * (size_t)(n - 1));|~$T_KERN"
"concat-relu-bwd-unmasked~src/backend/cpu/cpu_eltwise.c~s|(dnas_v8f)((dnas_v8i)v8f_load(s + i) \& (dnas_v8i)(v8f_load(q + i) > z))|v8f_load(s + i) + 0 * z|~$T_KERN $T_DNET"
"dnnl-wgrad-overwrites~src/backend/cpu/cpu_conv_dnnl.c~s|for (size_t i = 0; i < nw; i++) dw\[i\] += tw\[i\];|for (size_t i = 0; i < nw; i++) dw[i] = tw[i];|~$T_CONV $T_DNNL"
"dnnl-always-declined~src/backend/cpu/cpu_conv_dnnl.c~s|(strncmp(impl, \"jit\", 3) \&\& strncmp(impl, \"brg\", 3))|(1)|~$T_DNNL"
"dnnl-created-at-default-threads~src/backend/cpu/cpu_conv_dnnl.c~s|omp_set_num_threads(T); /\* at creation \*/|(void)0;|~$T_DNNL"
"fixture-truncated~tests/ref/nb201_fixture.bin~TRUNCATE~$T_TWIN"
"fixture-missing~tests/ref/optim_fixture.bin~DELETE~$T_TRAIN"
)

survived=0 broken=0 n=0
for m in "${MUTANTS[@]}"; do
    IFS='~' read -r name file expr tests <<<"$m"
    if [ $# -gt 0 ]; then
        want=0
        for a in "$@"; do [ "$a" = "$name" ] && want=1; done
        [ $want = 1 ] || continue
    fi
    [ $all = 1 ] && tests=$BINS_ALL
    n=$((n + 1))
    f=$SRC/$file
    if [ ! -f "$f" ]; then
        printf '%-28s NOT APPLIED (%s missing)\n' "$name" "$file"
        broken=$((broken + 1))
        continue
    fi
    cp -p "$f" "$TMP/orig"
    case $expr in
    TRUNCATE) head -c 5000 "$TMP/orig" >"$f" ;;
    DELETE) rm -f "$f" ;;
    *) sed -e "$expr" "$TMP/orig" >"$f" ;;
    esac
    if [ -f "$f" ] && cmp -s "$f" "$TMP/orig"; then
        printf '%-28s NOT APPLIED (pattern not found in %s: update tests/mutate.sh)\n' "$name" "$file"
        broken=$((broken + 1))
    elif ! build; then
        printf '%-28s BROKEN (does not compile)\n' "$name"
        grep -m3 'error' "$TMP/build.log"
        broken=$((broken + 1))
    elif run_tests $tests; then
        printf '%-28s SURVIVED (%s)\n' "$name" "$tests"
        survived=$((survived + 1))
    else
        why=$(grep '^FAIL ' "$TMP/run.log" | awk '{print $2}' | tr '\n' ' ')
        first=$(grep -m1 'check failed' "$TMP/run.log" | sed 's/^ *check failed at //' | cut -c1-100)
        printf '%-28s caught by %s(%s)\n' "$name" "${why:-a crash }" "$first"
    fi
    # Restore the copy, newer than every object built from the mutant, so make rebuilds it.
    cp -p "$TMP/orig" "$f"
    touch "$f"
done
# The restored copy must build and pass again (nothing left mutated).
if [ $n -gt 0 ] && { ! build || ! run_tests $BINS_ALL; }; then
    echo "the restored copy does not pass" >&2
    exit 2
fi
echo "$n mutants: $((n - survived - broken)) caught, $survived survived, $broken not applied or broken"
[ $survived -eq 0 ] && [ $broken -eq 0 ]
