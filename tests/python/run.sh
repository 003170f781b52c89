#!/bin/sh
# The Python package's tests (pytest, tests/python/test_*.py) against $BUILD's libdnas.so, one
# line per test for tests/run.sh to count: "PASS name", "FAIL name: why", "SKIP name: why".
# Any argument (tests/run.sh passes "smoke") is ignored.
BUILD=${BUILD:-build}
dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$dir/../.." && pwd)
case $BUILD in /*) b=$BUILD ;; *) b=$root/$BUILD ;; esac
if ! python3 -c "import pytest, numpy" 2>/dev/null; then
    echo "SKIP python: pytest or numpy is not installed (sh scripts/setup)"
    exit 0
fi
if [ ! -e "$b/libdnas.so.0" ]; then
    echo "FAIL python: $b/libdnas.so.0 is not built (make BUILD=$BUILD)"
    exit 1
fi
# A sanitizer build (make test-asan): Python loads the library only after ASan's runtime, and
# Python's own allocations are not ours to leak-check.
if readelf -d "$b/libdnas.so.0" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    LD_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so)${LD_PRELOAD:+ $LD_PRELOAD}"
    ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export LD_PRELOAD ASAN_OPTIONS
    if ! DNAS_LIB=$b/libdnas.so.0 PYTHONPATH=$root/python python3 -c "import dnas" >/dev/null 2>&1; then
        echo "SKIP python: cannot load the sanitizer build $b/libdnas.so.0 into Python"
        exit 0
    fi
fi
# $DNAS_LIB and PYTHONPATH pin the library and package under test (not a pip-installed copy).
BUILD=$b DNAS_LIB=$b/libdnas.so.0 PYTHONPATH=$root/python${PYTHONPATH:+:$PYTHONPATH} \
    python3 -m pytest -q -p no:cacheprovider --rootdir "$dir" "$dir"
rc=$?
[ $rc -eq 5 ] && echo "FAIL python: pytest collected no test"
exit $rc
