#!/bin/sh
# One search step, ours against the PyTorch twin (bench/torch_step.py), in alternating rounds:
# dnas, pytorch, dnas, pytorch, ... each round a fresh process of each running a few steps, so
# that a slow phase of a shared machine lands on both sides rather than on one. Prints every
# round's median ms/step and peak resident memory of both, then the median of the per-round
# time ratios dnas/pytorch with its spread (min-max and interquartile range).
#
#   sh bench/step_vs_torch.sh [--rounds 5] [--steps 2] [--warmup 1] [--threads 2]
#                             [--space nb201|darts] [--batch 64]
# BUILD (default build) picks the dnas binary, PYTHON (python3) the interpreter. On a machine
# shared with other jobs, OMP_WAIT_POLICY=passive (README) helps both sides alike. The defaults
# are sized to finish within 5 minutes on 2 idle cores (NB201, batch 64: 3 steps per side and
# round, PyTorch's of several seconds dominating).
set -e
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
ROUNDS=5 STEPS=2 WARMUP=1 THREADS=2 SPACE=nb201 BATCH=64
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "step_vs_torch.sh: $1 needs a value" >&2; exit 2; }
    case $1 in
    --rounds) ROUNDS=$2 ;;
    --steps) STEPS=$2 ;;
    --warmup) WARMUP=$2 ;;
    --threads) THREADS=$2 ;;
    --space) SPACE=$2 ;;
    --batch) BATCH=$2 ;;
    *) echo "step_vs_torch.sh: unknown flag $1" >&2; exit 2 ;;
    esac
    shift 2
done
DNAS="$BUILD/dnas"
[ -x "$DNAS" ] || { echo "step_vs_torch.sh: no $DNAS (make, or set BUILD)" >&2; exit 1; }
HERE=$(dirname "$0")
echo "DARTS-V1 step, $SPACE batch $BATCH, $THREADS threads, $ROUNDS rounds of $STEPS steps after $WARMUP warm-up"
printf '%-6s %12s %12s %8s %10s %10s\n' round "dnas ms" "pytorch ms" ratio "dnas MiB" "torch MiB"
RES=$(mktemp)
trap 'rm -f "$RES"' EXIT
r=1
while [ "$r" -le "$ROUNDS" ]; do
    ours=$("$DNAS" bench step --space "$SPACE" --algo darts1 --batch "$BATCH" --threads "$THREADS" \
        --steps "$STEPS" --warmup "$WARMUP" --peak 0 --anchor none)
    o_ms=$(echo "$ours" | sed -n 's/.*: \([0-9.]*\) ms\/step median.*/\1/p')
    o_mb=$(echo "$ours" | sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p')
    theirs=$("$PYTHON" "$HERE/torch_step.py" --space "$SPACE" --batch "$BATCH" --threads "$THREADS" \
        --steps "$STEPS" --warmup "$WARMUP")
    t_ms=$(echo "$theirs" | sed -n 's/.*"ms_median": \([0-9.]*\).*/\1/p')
    t_mb=$(echo "$theirs" | sed -n 's/.*"peak_rss_mb": \([0-9.]*\).*/\1/p')
    if [ -z "$o_ms" ] || [ -z "$t_ms" ]; then
        echo "step_vs_torch.sh: round $r: could not read a time (dnas: '$ours'; pytorch: '$theirs')" >&2
        exit 1
    fi
    echo "$o_ms $t_ms $o_mb $t_mb" >>"$RES"
    awk -v r="$r" '{ printf "%-6d %12.1f %12.1f %8.3f %10.0f %10.0f\n", r, $1, $2, $1 / $2, $3, $4 }' <<EOF
$o_ms $t_ms $o_mb $t_mb
EOF
    r=$((r + 1))
done
# Quantiles by linear interpolation between order statistics (R's type 7); POSIX awk only.
quantiles='function q(p,   h, lo) { h = (NR - 1) * p + 1; lo = int(h); return lo >= NR ? v[NR] : v[lo] + (h - lo) * (v[lo + 1] - v[lo]) }
    { v[NR] = $1 }'
awk '{ print $1 / $2 }' "$RES" | sort -g | awk "$quantiles"'
    END { printf "ratio dnas/pytorch: median %.3f (min %.3f, max %.3f; IQR %.3f-%.3f) over %d rounds: pytorch %.2fx slower\n",
                 q(0.5), v[1], v[NR], q(0.25), q(0.75), NR, 1 / q(0.5) }'
o_rss=$(awk '{ print $3 }' "$RES" | sort -g | awk "$quantiles"' END { print q(0.5) }')
t_rss=$(awk '{ print $4 }' "$RES" | sort -g | awk "$quantiles"' END { print q(0.5) }')
awk -v o="$o_rss" -v t="$t_rss" 'BEGIN { printf "peak RSS (median over rounds): dnas %.0f MiB, pytorch %.0f MiB (dnas/pytorch %.2f)\n", o, t, o / t }'
