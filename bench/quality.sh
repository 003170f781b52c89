#!/bin/sh
# Search quality on the reduced CPU protocol (`--preset quick`, README): runs each METHOD for
# each seed, appends one JSON line per search to bench/results/quality-quick.jsonl (the file
# accumulates across sessions), then prints the table of NB201 test accuracies (mean +- std),
# skip_connect counts and wall time as a ratio to DARTS-V1's.
#   sh bench/quality.sh darts1 darts1-pt darts1-fix-pt idarts gaea-erm --seeds 3 [--first-seed 1]
#   sh bench/quality.sh --table-only
# Methods: darts1, darts2, darts1-pt, darts1-fix-pt, idarts, gaea (bilevel), gaea-erm, snas,
# gdas, pcdarts, pcdarts-k2, pcdarts-drnas201, drnas, fairdarts, darts-es, rdarts-l2, prime-clip, prime-clip-f1, drnas-25k,
# gdas-25k, gdas-n5c16 (flags_of below);
# idarts-nb = iDARTS as its NB201 notebook runs (supernet never trained, one hypergradient per
# batch), darts1-frozen = DARTS-V1's alpha on the untrained supernet.
set -eu
cd "$(dirname "$0")/.."
DNAS=${DNAS:-build/dnas}
DATA=${DNAS_DATA:-build/data/cifar-10-batches-bin}
TABLE=${DNAS_NB201_TABLE:-../shared/data/nb201/nb201.csv}
RESULTS=${RESULTS:-bench/results/quality-quick.jsonl}
RUNS=${RUNS:-runs/quality}
THREADS=${THREADS:-2}
seeds=3 first=1 methods="" table_only=0
while [ $# -gt 0 ]; do
    case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --first-seed) first=$2; shift 2 ;;
    --table-only) table_only=1; shift ;;
    -*) echo "quality.sh: unknown flag $1" >&2; exit 2 ;;
    *) methods="$methods $1"; shift ;;
    esac
done

flags_of() {
    case "$1" in
    darts1) echo "--algo darts1" ;;
    darts2) echo "--algo darts2" ;;
    darts1-pt) echo "--algo darts1 --select pt" ;;
    darts1-fix-pt) echo "--algo darts1 --fix-alpha 1 --select pt" ;;
    idarts) echo "--algo idarts" ;;
    idarts-nb) echo "--algo idarts --freeze-weights 1" ;; # the NB201 notebook as written
    darts1-frozen) echo "--algo darts1 --freeze-weights 1" ;; # alpha on the untrained supernet
    gaea) echo "--algo gaea" ;;
    gaea-erm) echo "--algo gaea --single-level 1" ;;
    snas) echo "--algo snas" ;;
    gdas) echo "--algo gdas" ;;
    pcdarts) echo "--algo pcdarts" ;;
    # Diagnostic, not a tuning: K = 2 gives each op 4 channels at C = 8, the count the paper's
    # C = 16, K = 4 gives; separates "too few channels per op" from the rest of the protocol.
    pcdarts-k2) echo "--algo pcdarts --pc-k 2" ;;
    # Diagnostic, not a tuning: PC-DARTS as DrNAS' NB201 code runs it (201-space/train_search.py
    # --method darts --k 4), where the paper table's PC-DARTS row most likely comes from: batch
    # 64, lr 0.025 -> 0.001, alpha Adam 3e-4, no edge normalisation, no warm-up; partial
    # channels and shuffle as ours. Tells PC-DARTS' DARTS-space settings apart from the method.
    pcdarts-drnas201) echo "--algo pcdarts --batch 64 --lr 0.025 --lr-min 0.001 --arch-lr 3e-4 --edge-norm 0 --warmup-epochs 0" ;;
    drnas) echo "--algo drnas" ;;
    fairdarts) echo "--algo fairdarts" ;;
    # DARTS-V1 (its weight decay, first order) stopped by the eigenvalue rule: the same run as
    # darts1 up to the stop, so its skips are the comparison RobustDARTS makes.
    darts-es) echo "--algo rdarts --rdarts-order 1 --rdarts-reg none" ;;
    # R-DARTS(L2), first order, the 3^k grid's 2.7e-3 (RobustDARTS' Fig. 7 range), no stop.
    rdarts-l2) echo "--algo rdarts --rdarts-order 1 --rdarts-es none --rdarts-factor 2.7e-3" ;;
    # DARTS-PRIME's clipped activation with its pruning mask, on NB201.
    prime-clip) echo "--algo prime --space nb201 --prime-act clip" ;;
    # Diagnostic, not a tuning: the same with f = 1 (an alpha step in half the iterations, 5.5x
    # prime-clip's alpha steps, data split 1:1), to see whether the clip activation prunes once
    # alpha can travel far enough; prime-clip moved its lowest alpha only 0.25 -> 0.148.
    prime-clip-f1) echo "--algo prime --space nb201 --prime-act clip --sched-freq 1" ;;
    # Diagnostic, not a tuning: DrNAS on all 25,000 images of each half for the paper's 100
    # epochs (each image seen 100 times, as in the paper, instead of quick's 280 over 5,000);
    # tests whether quick's late collapse to skip comes from the supernet overfitting.
    drnas-25k) echo "--algo drnas --train-images 25000 --epochs 100" ;;
    # Diagnostic, not a tuning: GDAS on all 25,000 images for AutoDL's 250 epochs (tau 10 ->
    # 0.1 over them): tells the 5,000-image reduction apart from the 3-cell one (session 6
    # found AutoDL's own GDAS departs the same way on quick).
    gdas-25k) echo "--algo gdas --train-images 25000 --epochs 250" ;;
    # Diagnostic, not a tuning: GDAS on the paper's supernet size (N = 5, C = 16) with quick's
    # data and schedule; session 10 ran its first 1,560 iterations (--max-steps).
    gdas-n5c16) echo "--algo gdas --cells 5 --channels 16" ;;
    *) echo "quality.sh: unknown method '$1'" >&2; return 2 ;;
    esac
}

now() { date +%s.%N; }

if [ "$table_only" = 0 ]; then
    [ -n "$methods" ] || { echo "usage: sh bench/quality.sh METHOD... [--seeds N]" >&2; exit 2; }
    [ -x "$DNAS" ] || { echo "quality.sh: $DNAS missing (run make)" >&2; exit 2; }
    [ -f "$DATA/data_batch_1.bin" ] || { echo "quality.sh: no CIFAR-10 in $DATA (make testdata)" >&2; exit 2; }
    mkdir -p "$RUNS" "$(dirname "$RESULTS")"
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    for m in $methods; do
        f=$(flags_of "$m")
        s=$first
        while [ "$s" -lt $((first + seeds)) ]; do
            dir="$RUNS/$m-s$s-$(date +%Y%m%d%H%M%S)"
            t0=$(now)
            # shellcheck disable=SC2086
            # stdout: the search's (magnitude) arch, then the selection's when --select pt
            # OpenMP's default wait policy: this supernet's kernels are short, and passive
            # waiting (a sleep at every barrier) made its steps 1.57x slower on 2 idle cores
            # (17.5 against 27.5 steps/s, SNAS, session 9). Run one search per core pair.
            "$DNAS" search --preset quick $f --seed "$s" --threads "$THREADS" \
                --data "$DATA" --table "$TABLE" --out "$dir" --progress 0 >"$dir.out" 2>"$dir.log" ||
                { echo "quality.sh: $m seed $s failed, see $dir.log" >&2; s=$((s + 1)); continue; }
            t1=$(now)
            python3 - "$RESULTS" "$m" "$s" "$t0" "$t1" "$dir" "$commit" "$TABLE" "$DNAS" "$THREADS" <<'PY'
import json, subprocess, sys, time
out, m, seed, t0, t1, d, commit, table, dnas, threads = sys.argv[1:]
archs = [l.strip() for l in open(d + ".out") if l.strip()]
search_s = None
for line in open(d + ".log"):
    if line.startswith("search done in "):
        search_s = float(line.split()[3])
def row_of(method, arch, seconds):
    q = subprocess.run([dnas, "query", arch, "--table", table], capture_output=True, text=True).stdout
    acc = {}
    for line in q.splitlines():
        p = line.split()
        if p and p[0] in ("cifar10", "cifar100", "imagenet16-120"):
            acc[p[0]] = (float(p[2]), float(p[4]))
    return {"protocol": "quick", "method": method, "seed": int(seed), "arch": arch,
            "c10_valid": acc["cifar10"][0], "c10_test": acc["cifar10"][1],
            "c100_test": acc["cifar100"][1], "in16_test": acc["imagenet16-120"][1],
            "skip_connect": arch.count("skip_connect"), "seconds": round(seconds, 1),
            "search_seconds": search_s, "threads": int(threads), "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M")}
# What a method claims beyond accuracy, from its log: DARTS-ES's stop, PRIME's pruning.
extra = {}
for line in open(d + "/log.jsonl"):
    if '"kind": "early_stop"' in line:
        j = json.loads(line)
        extra["stopped_at_epoch"], extra["stop_epoch"] = j["epoch"], j["stop_epoch"]
    elif '"kind": "prime"' in line:
        extra["pruned_ops"] = json.loads(line).get("pruned")
rows = [dict(row_of(m, archs[-1], float(t1) - float(t0)), **extra)]
# A darts1-pt run holds a plain darts1 search: its magnitude result is that method's row too.
if m == "darts1-pt" and len(archs) == 2 and search_s is not None:
    rows.append(row_of("darts1", archs[0], search_s))
with open(out, "a") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
        print("%-14s seed %s  C10 %.2f  C100 %.2f  IN16 %.2f  skip %d  %.0f s  %s" % (
            r["method"], seed, r["c10_test"], r["c100_test"], r["in16_test"], r["skip_connect"],
            r["seconds"], r["arch"]))
PY
            s=$((s + 1))
        done
    done
fi

python3 - "$RESULTS" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["method"], []).append(r)
def ms(v):
    return "%.2f ± %.2f" % (st.mean(v), st.pstdev(v)) if len(v) > 1 else "%.2f" % v[0]
base = st.mean(r["seconds"] for r in by["darts1"]) if "darts1" in by else None
print("protocol quick (bench/results/quality-quick.jsonl): NB201 test accuracy of the found cell")
print("%-14s %3s %-15s %-15s %-15s %-6s %-9s %s" % ("method", "n", "CIFAR-10", "CIFAR-100",
      "ImageNet16-120", "skips", "time [s]", "time / darts1"))
for m, rs in by.items():
    t = st.mean(r["seconds"] for r in rs)
    print("%-14s %3d %-15s %-15s %-15s %-6.1f %-9.0f %s" % (m, len(rs), ms([r["c10_test"] for r in rs]),
          ms([r["c100_test"] for r in rs]), ms([r["in16_test"] for r in rs]),
          st.mean(r["skip_connect"] for r in rs), t, "%.2f" % (t / base) if base else "-"))
PY
