"""bench/trajectory.py: the NB201 accuracy of each epoch's argmax cell, from a search's log, and
its errors (missing log, a log without epoch lines, a cell not in the table)."""
import os
import subprocess
import sys

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "bench", "trajectory.py")
CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
HEADER = ("index,arch,c10valid_train_acc,c10valid_valid_acc,c10valid_test_acc,c10_test_acc,"
          "c100_train_acc,c100_valid_acc,c100_test_acc,in16_train_acc,in16_valid_acc,in16_test_acc")


def table(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "\n"
                 "0,%s,1,2,3,93.76,5,6,71.11,8,9,41.44\n"
                 "1,%s,1,2,3,54.30,5,6,15.61,8,9,16.32\n" % (CONV, SKIP))
    return str(p)


def run(*args):
    return subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True)


def epoch_line(e, n, cell):
    return "epoch %d/%d  train loss 0.5 acc 80.00%%  lr 0.02  %s\n" % (e, n, cell)


def test_trajectory_reads_each_epoch(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("search started\n" + "".join(
        epoch_line(e, 6, CONV if e < 4 else SKIP) for e in range(1, 7)) + "search done in 1 s\n")
    r = run(str(log), "--every", "2", "--table", table(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = [l.split() for l in r.stdout.splitlines()[1:-1]]
    # epochs 1 (first), 2, 4 (even, and a change of cell), 6 (last)
    assert [int(x[0]) for x in rows] == [1, 2, 4, 6]
    assert [float(x[1]) for x in rows] == [93.76, 93.76, 54.30, 54.30]
    assert [float(x[2]) for x in rows] == [71.11, 71.11, 15.61, 15.61]
    assert [int(x[4]) for x in rows] == [0, 0, 6, 6]
    assert rows[2][-1] == "(new)" and rows[1][-1] != "(new)"
    assert r.stdout.splitlines()[-1] == "best C10 93.76 at epoch 1; final 54.30 at epoch 6 of 6"


def test_trajectory_run_directory_means_its_log(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run.log").write_text(epoch_line(1, 1, SKIP))
    r = run(str(tmp_path / "run") + "/", "--table", table(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "final 54.30 at epoch 1 of 1" in r.stdout


def test_trajectory_errors(tmp_path):
    t = table(tmp_path)
    r = run(str(tmp_path / "missing.log"), "--table", t)
    assert r.returncode != 0 and "missing.log" in r.stderr
    empty = tmp_path / "empty.log"
    empty.write_text("nothing here\n")
    r = run(str(empty), "--table", t)
    assert r.returncode != 0 and "no 'epoch E/N" in r.stderr
    odd = tmp_path / "odd.log"
    odd.write_text(epoch_line(1, 1, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    r = run(str(odd), "--table", t)
    assert r.returncode != 0 and "not in the table" in r.stderr
    r = run(str(odd), "--table", str(tmp_path / "no.csv"))
    assert r.returncode != 0 and "no.csv" in r.stderr
    r = run(str(odd), "--every", "0", "--table", t)
    assert r.returncode != 0 and "--every" in r.stderr
