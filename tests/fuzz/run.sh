#!/bin/sh
# Runs the libFuzzer harnesses that `make fuzz-build` puts in $FUZZ_BUILD (default $BUILD-fuzz).
#   sh tests/fuzz/run.sh smoke               each harness for $FUZZ_SMOKE_TIME seconds (default 3),
#                                            as `make test` does; new inputs are thrown away
#   sh tests/fuzz/run.sh SECONDS [NAME...]   a campaign (`make fuzz`); new inputs are kept in
#                                            $FUZZ_BUILD/corpus/NAME, the log in $FUZZ_BUILD/logs
# Each run starts from the committed corpus tests/fuzz/corpus/NAME, which it only reads.
# One line per harness, counted by tests/run.sh:
#   PASS fuzz_NAME: <executions> runs in <s> s, cov <edges> ft <features> corpus <inputs>
#   FAIL fuzz_NAME: ... and the reproducer that libFuzzer saved (crash-*, leak-*, timeout-*)
#   SKIP fuzz_NAME: ... when the harness is not built (no clang libFuzzer runtime here)
set -u
FUZZ_BUILD=${FUZZ_BUILD:-${BUILD:-build}-fuzz}
FUZZ_CC=${FUZZ_CC:-clang}
dir=$(dirname "$0")
what=${1:-smoke}
[ $# -gt 0 ] && shift
if [ "$what" = smoke ]; then secs=${FUZZ_SMOKE_TIME:-3}; else secs=$what; fi
names=${*:-$(for f in "$dir"/fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done)}

# Checks of reported, not yet fixed findings that the harnesses skip (tests/fuzz/known).
if [ -z "${DNAS_FUZZ_KNOWN+set}" ]; then
    DNAS_FUZZ_KNOWN=$(sed -e 's/#.*//' "$dir/known" 2>/dev/null | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
fi
export DNAS_FUZZ_KNOWN
[ -n "$DNAS_FUZZ_KNOWN" ] && echo "note: checks of known findings off: $DNAS_FUZZ_KNOWN (tests/fuzz/known)"

# Harness files go to tmpfs when there is one; removed at the end (also after a crash).
work=$(mktemp -d /dev/shm/dnas-fuzz-run.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP PIPE

fail=0
for name in $names; do
    bin=$FUZZ_BUILD/fuzz_$name
    if [ ! -x "$bin" ]; then
        if printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
            "$FUZZ_CC" -fsanitize=fuzzer,address,undefined -x c - -o "$work/probe" >/dev/null 2>&1; then
            echo "SKIP fuzz_$name: $bin is not built (make fuzz-build)"
        else
            echo "SKIP fuzz_$name: $FUZZ_CC cannot link libFuzzer targets (scripts/setup installs clang and libclang-rt-dev)"
        fi
        continue
    fi
    case $name in
        arch) opts="-max_len=512" ;;
        cifar) opts="-max_len=6200" ;;   # two 3074-byte records and the mode byte
        *) opts="-max_len=8192" ;;
    esac
    [ -f "$dir/dict/$name.dict" ] && opts="$opts -dict=$dir/dict/$name.dict"
    mkdir -p "$FUZZ_BUILD/artifacts"
    if [ "$what" = smoke ]; then
        new=$work/corpus-$name
        log=$work/$name.log
    else
        new=$FUZZ_BUILD/corpus/$name
        mkdir -p "$FUZZ_BUILD/logs"
        log=$FUZZ_BUILD/logs/$name.log
    fi
    mkdir -p "$new" "$work/tmp-$name"
    # shellcheck disable=SC2086
    TMPDIR=$work/tmp-$name "$bin" $opts -max_total_time="$secs" -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$FUZZ_BUILD/artifacts/$name-" "$new" "$dir/corpus/$name" >"$log" 2>&1
    rc=$?
    rm -rf "$work/tmp-$name"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    if [ $rc -eq 0 ]; then
        echo "PASS fuzz_$name: ${runs:-?} runs in $secs s, cov ${cov:-?} ft ${ft:-?} corpus ${corp:-?}"
    else
        tail -n 40 "$log"
        art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        echo "FAIL fuzz_$name: exit $rc after ${runs:-?} runs; reproducer: ${art:-none saved} (rerun: $bin <file>)"
        fail=1
    fi
done
exit $fail
