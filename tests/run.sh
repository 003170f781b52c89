#!/bin/sh
# Runs every test binary under $BUILD/tests and prints one closing line
# "N passed, N failed, N skipped". A binary that dies without reporting counts as a failure.
BUILD=${BUILD:-build}
export BUILD
pass=0; fail=0; skip=0
log=$(mktemp)
# The libFuzzer smoke run (a few seconds per harness; SKIP lines without clang's fuzzer runtime)
# counts like one more binary. FUZZ_SMOKE=0 leaves it out.
smoke=tests/fuzz/run.sh
[ "${FUZZ_SMOKE:-1}" = 0 ] && smoke=
# The Python package's pytest suite (one PASS/FAIL/SKIP line per test; SKIP without pytest).
# PYTHON_TESTS=0 leaves it out.
python=tests/python/run.sh
[ "${PYTHON_TESTS:-1}" = 0 ] && python=
# TEST_DIRS="unit ..." runs only those subdirectories of $BUILD/tests (default: all of them),
# e.g. a cross build's unit tests, since e2e/ and ref/ need the data, the tool and host Python.
dirs=$BUILD/tests
if [ -n "${TEST_DIRS:-}" ]; then
    dirs=
    for d in $TEST_DIRS; do dirs="$dirs $BUILD/tests/$d"; done
fi
# RUNNER is put before each test binary, e.g. RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# runs a cross-compiled build under qemu-user (make cross-test-aarch64).
for t in $(find $dirs -type f -perm -u+x | sort) $smoke $python; do
    echo "== $t"
    t0=$(date +%s)
    case $t in
        *.sh) sh "$t" smoke >"$log" 2>&1 ;;
        *) ${RUNNER:-} "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    cat "$log"
    echo "   ($t: $(($(date +%s) - t0)) s)"
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $t exited with status $rc without reporting a failed case"
        fail=$((fail + 1))
    fi
done
rm -f "$log"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
