#!/usr/bin/env python3
"""NB201 accuracy of a search's argmax cell at each epoch, from its log (`RUN.log`, the
`epoch E/N ... |cell|` lines that `dnas search` prints), looked up in the NB201 table: shows
where a search found good cells and when it left them (e.g. a late collapse to skip_connect).

  python3 bench/trajectory.py runs/quality/drnas-s1-20261130223703 [--every 10] [--table CSV]
  python3 bench/trajectory.py RUN.log [--every 10]

Prints: epoch, CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy, skips and cell, every k-th
epoch and at every change of cell (marked "(new)"). Columns are those of `dnas query` (c10_test_acc, c100_test_acc, in16_test_acc).
"""
import argparse
import csv
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TABLE = os.path.join(HERE, "..", "..", "shared", "data", "nb201", "nb201.csv")
LINE = re.compile(r"^epoch (\d+)/(\d+) .*?(\|[^ ]+\|)\s*$")


def load_table(path):
    rows = {}
    try:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rows[r["arch"]] = (float(r["c10_test_acc"]), float(r["c100_test_acc"]),
                                   float(r["in16_test_acc"]))
    except (OSError, KeyError, ValueError) as e:
        sys.exit("trajectory.py: cannot read the NB201 table %s: %s" % (path, e))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("log", help="a search's log (RUN.log) or its run directory")
    ap.add_argument("--every", type=int, default=10, help="print every k-th epoch (and the last)")
    ap.add_argument("--table", default=os.environ.get("DNAS_NB201_TABLE", DEFAULT_TABLE))
    a = ap.parse_args()
    if a.every < 1:
        sys.exit("trajectory.py: --every must be >= 1")
    path = a.log.rstrip("/")
    if os.path.isdir(path):
        path += ".log"
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        sys.exit("trajectory.py: %s" % e)
    epochs = []
    for line in lines:
        m = LINE.match(line)
        if m:
            epochs.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    if not epochs:
        sys.exit("trajectory.py: %s has no 'epoch E/N ... |cell|' lines" % path)
    table = load_table(a.table)
    last = epochs[-1][0]
    print("%6s %7s %7s %7s %5s  %s" % ("epoch", "C10", "C100", "IN16", "skips", "cell"))
    prev = None
    for e, n, cell in epochs:
        if cell not in table:
            sys.exit("trajectory.py: epoch %d: cell %s is not in the table" % (e, cell))
        changed = cell != prev
        if e % a.every == 0 or e == 1 or e == last or changed:
            c10, c100, in16 = table[cell]
            print("%6d %7.2f %7.2f %7.2f %5d  %s%s" % (e, c10, c100, in16,
                  cell.count("skip_connect"), cell, "  (new)" if changed and prev else ""))
        prev = cell
    best = max(epochs, key=lambda t: table[t[2]][0])
    print("best C10 %.2f at epoch %d; final %.2f at epoch %d of %d" % (
        table[best[2]][0], best[0], table[epochs[-1][2]][0], last, epochs[-1][1]))


if __name__ == "__main__":
    main()
