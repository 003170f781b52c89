"""bench/record_run.py: the row it appends for a search finished by hand (its cell from RUN.out,
its time from RUN.log, the accuracies from `dnas query`), and its refusals (an unfinished
search, a failed query)."""
import json
import os
import subprocess
import sys

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "bench", "record_run.py")
CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def fake_dnas(tmp_path, ok=True):
    """A stand-in for `dnas query ARCH --table T` printing what the real one prints."""
    p = tmp_path / "dnas"
    body = ('echo "arch            $2"\n'
            'echo "cifar10         valid 90.20  test 93.76"\n'
            'echo "cifar100        valid 70.71  test 71.11"\n'
            'echo "imagenet16-120  valid 40.78  test 41.44"\n') if ok else \
        'echo "dnas: no such table" >&2\nexit 1\n'
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)
    return str(p)


def run_dir(tmp_path, done=True):
    d = tmp_path / "snas-s2"
    (tmp_path / "snas-s2.out").write_text(SKIP + "\n" + CONV + "\n")
    (tmp_path / "snas-s2.log").write_text(
        "resuming\nepoch 420/420 ...\n" + ("search done in 1234.5 s\n" if done else ""))
    return str(d)


def run(*args):
    return subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args],
                          capture_output=True, text=True)


def test_appends_the_last_cell_with_its_accuracies(tmp_path):
    out = tmp_path / "q.jsonl"
    out.write_text('{"method": "earlier"}\n')
    r = run(out, "snas", 2, run_dir(tmp_path), "abc1234", "resumed by hand",
            fake_dnas(tmp_path), "t.csv")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(rows) == 2 and rows[0] == {"method": "earlier"}
    row = rows[1]
    assert row["arch"] == CONV and row["method"] == "snas" and row["seed"] == 2
    assert (row["c10_test"], row["c100_test"], row["in16_test"]) == (93.76, 71.11, 41.44)
    assert row["c10_valid"] == 90.20 and row["skip_connect"] == 0
    assert row["seconds"] == 1234.5 and row["note"] == "resumed by hand"


def test_refuses_an_unfinished_search(tmp_path):
    out = tmp_path / "q.jsonl"
    r = run(out, "snas", 2, run_dir(tmp_path, done=False), "abc", "n", fake_dnas(tmp_path), "t")
    assert r.returncode != 0 and "did not finish" in r.stderr
    assert not out.exists()


def test_refuses_a_failed_query(tmp_path):
    out = tmp_path / "q.jsonl"
    r = run(out, "snas", 2, run_dir(tmp_path), "abc", "n", fake_dnas(tmp_path, ok=False), "t")
    assert r.returncode != 0 and "no such table" in r.stderr
    assert not out.exists()
