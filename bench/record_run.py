"""Appends a quality-quick.jsonl row for a quick-protocol search that bench/quality.sh did not
finish itself (interrupted, then continued with `dnas search --resume DIR`).

usage: python3 bench/record_run.py RESULTS METHOD SEED RUN_DIR COMMIT NOTE [DNAS] [TABLE]

RUN_DIR is the run directory quality.sh made (it reads RUN_DIR.out for the derived cells and
RUN_DIR.log for the search time). The row has quality.sh's fields plus "note"; its "seconds"
are the last segment's only, which the note should say. DNAS (build/dnas) answers the NB201
query from TABLE ($DNAS_NB201_TABLE or ../shared/data/nb201/nb201.csv)."""
import json
import os
import subprocess
import sys
import time


def main(argv):
    if len(argv) < 7:
        sys.exit(__doc__)
    out, method, seed, d, commit, note = argv[1:7]
    dnas = argv[7] if len(argv) > 7 else "build/dnas"
    table = argv[8] if len(argv) > 8 else os.environ.get(
        "DNAS_NB201_TABLE", "../shared/data/nb201/nb201.csv")
    archs = [l.strip() for l in open(d + ".out") if l.strip().startswith("|")]
    if not archs:
        sys.exit("record_run.py: %s.out holds no cell" % d)
    secs = None
    for line in open(d + ".log"):
        if line.startswith("search done in "):
            secs = float(line.split()[3])
    if secs is None:
        sys.exit("record_run.py: %s.log has no 'search done' line: the search did not finish" % d)
    q = subprocess.run([dnas, "query", archs[-1], "--table", table], capture_output=True,
                       text=True)
    acc = {}
    for line in q.stdout.splitlines():
        p = line.split()
        if p and p[0] in ("cifar10", "cifar100", "imagenet16-120"):
            acc[p[0]] = (float(p[2]), float(p[4]))
    if len(acc) != 3:
        sys.exit("record_run.py: dnas query failed: %s" % q.stderr.strip())
    r = {"protocol": "quick", "method": method, "seed": int(seed), "arch": archs[-1],
         "c10_valid": acc["cifar10"][0], "c10_test": acc["cifar10"][1],
         "c100_test": acc["cifar100"][1], "in16_test": acc["imagenet16-120"][1],
         "skip_connect": archs[-1].count("skip_connect"), "seconds": secs,
         "search_seconds": secs, "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M"),
         "note": note}
    with open(out, "a") as f:
        f.write(json.dumps(r) + "\n")
    print(json.dumps(r))


if __name__ == "__main__":
    main(sys.argv)
