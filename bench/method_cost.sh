#!/bin/sh
# Cost of one search step of each method on the quick protocol's supernet (C = 8, N = 1, batch
# 64), measured back to back in one run, as a ratio to DARTS-V1's; times the method's steps per
# search gives the search's wall-time ratio without the noise of searches sharing a machine.
#   sh bench/method_cost.sh [THREADS]
set -eu
cd "$(dirname "$0")/.."
DNAS=${DNAS:-build/dnas}
T=${1:-2}
run() { # name, flags...
    n=$1; shift
    # shellcheck disable=SC2086
    ms=$("$DNAS" bench step --space nb201 --channels 8 --cells 1 --batch 64 \
        --threads "$T" --steps 40 --warmup 5 --anchor none "$@" | sed -n 's/.*: \([0-9.]*\) ms\/step median.*/\1/p')
    echo "$n $ms"
}
{
    run darts1 --algo darts1
    run darts1-fix --algo darts1 --fix-alpha 1
    run darts2 --algo darts2
    run idarts --algo idarts
    run idarts-nb --algo idarts --freeze-weights 1
    run gaea --algo gaea --channels 8
    run snas --algo snas
    run gdas --algo gdas
    run pcdarts --algo pcdarts --warmup-epochs 0
    run fairdarts --algo fairdarts
    run drnas --algo drnas
    run darts1 --algo darts1
} | awk '{ if ($1 == "darts1" && !b) b = $2; printf "%-12s %8.1f ms/step  %5.2f x darts1\n", $1, $2, $2 / b }'
