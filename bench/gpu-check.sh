#!/bin/sh
# The one script a lent-GPU session runs (issue #17), in well under 10 minutes:
#   1. builds with CUDA into $BUILD (default build-gpu): libdnas, the tool, libdnas_cuda.a and
#      the parity test (the CPU unit tests are not built or run here);
#   2. runs build/cuda/test_cuda_kernels: every CUDA kernel against the double reference;
#   3. `dnas bench step --device cuda` (today it reports the device and that the graph cannot
#      run there yet: the arena is host memory);
#   4. the PyTorch twin of one search step on cuda, eager and as one captured CUDA graph, with
#      torch.cuda.max_memory_allocated.
# Everything is also written to $OUT/gpu-check.log when $OUT is set. Exit status: that of the
# parity test (the measurements are informative).
# Usage: sh bench/gpu-check.sh            (from the repository root)
set -u
BUILD=${BUILD:-build-gpu}
LOG=${OUT:+$OUT/gpu-check.log}
LOG=${LOG:-/dev/null}
JOBS=$(nproc 2>/dev/null || echo 4)
say() { echo "$*" | tee -a "$LOG"; }
run() { say "\$ $*"; "$@" 2>&1 | tee -a "$LOG"; }

say "== gpu-check $(date -u +%FT%TZ) =="
run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
run make -j"$JOBS" BUILD="$BUILD" "$BUILD/dnas" "$BUILD/cuda/test_cuda_kernels"
if [ ! -x "$BUILD/cuda/test_cuda_kernels" ]; then
    say "FAIL: the CUDA parity test did not build (nvcc or cuDNN missing? see above)"
    exit 1
fi

say "== 1. kernel parity (CUDA vs double reference) =="
timeout 180 "$BUILD/cuda/test_cuda_kernels" > "${TMPDIR:-/tmp}/gpu-parity.$$" 2>&1
parity=$?
tee -a "$LOG" < "${TMPDIR:-/tmp}/gpu-parity.$$"
rm -f "${TMPDIR:-/tmp}/gpu-parity.$$"
say "parity exit status: $parity"

say "== 2. dnas bench step --device cuda =="
run timeout 120 "$BUILD/dnas" bench step --space nb201 --algo darts1 --batch 64 --device cuda \
    --steps 20 --warmup 5 --anchor none

say "== 3. PyTorch twin on cuda (eager, then whole-step CUDA graph) =="
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    for space in nb201 darts; do
        for graph in "" --cuda-graph; do
            run timeout 150 python3 - "$space" $graph <<'PY'
import runpy, sys, torch
space, rest = sys.argv[1], sys.argv[2:]
sys.argv = ["bench/torch_step.py", "--device", "cuda", "--space", space, "--batch", "64",
            "--warmup", "5", "--steps", "20"] + rest
torch.cuda.reset_peak_memory_stats()
try:
    runpy.run_path("bench/torch_step.py", run_name="__main__")
finally:
    print('{"space": "%s", "cuda_graph": %s, "max_memory_allocated_mb": %.1f}'
          % (space, "true" if rest else "false", torch.cuda.max_memory_allocated() / 2**20))
PY
        done
    done
else
    say "SKIP: torch with CUDA not importable"
fi
say "== done: parity $parity =="
exit $parity
