#!/bin/sh
# Benchmarks, each printing ours beside its anchor from the same run:
#   bench_conv     conv kernels vs oneDNN (GFLOP/s)
#   bench_kernels  memory-bound kernels (GB/s)
#   dnas bench step  the whole NB201 DARTS-V1 step vs the PyTorch twin (bench/torch_step.py)
set -e
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
for b in "$BUILD"/bench/*; do
    [ -x "$b" ] && "$b"
done
"$BUILD"/dnas bench step --space nb201 --algo darts1 --batch 64 --threads "$THREADS"
