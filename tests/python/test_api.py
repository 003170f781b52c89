"""The Python package over libdnas.so: version, exports, errors, a step-by-step search that
matches the CLI bit for bit, set_alpha, resume, logging, the NB201 table."""
import json
import os
import re
import shutil
import subprocess
import threading

import numpy as np
import pytest

import dnas
from conftest import ROOT, run_tool

# A tiny reduced search: 128 images per half at batch 32 = 4 steps per epoch, C = 4, one cell
# per stage; a fraction of a second per epoch on one thread.
SETTINGS = dict(space="nb201", algo="darts1", channels=4, cells=1, train_images=128, batch=32,
                epochs=2, seed=3, threads=1, log_every=2)


def cli_args(settings):
    args = []
    for k, v in settings.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    return args


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def read(path):
    with open(path) as f:
        return f.read()


def log_without_rates(path):
    """log.jsonl's lines without steps_per_s (timing, the only field that may differ)."""
    out = []
    for line in read(path).splitlines():
        d = json.loads(line)
        d.pop("steps_per_s", None)
        out.append(d)
    return out


@pytest.fixture(scope="module")
def cli_run(tool, cifar, table, tmp_path_factory):
    """The reference: `dnas search` with SETTINGS, and its exact final alpha."""
    d = tmp_path_factory.mktemp("cli") / "run"
    rc, out = run_tool(tool, "search", *cli_args(SETTINGS), "--data", cifar, "--table", table,
                       "--progress", "0", "--out", d)
    assert rc == 0, out
    arch = out.strip().splitlines()[-1]
    # Its alpha, exactly: a finished search opened again holds its final checkpoint's state.
    # Opened in a copy, since opening trims log.jsonl back to what the checkpoint vouches for.
    copy = tmp_path_factory.mktemp("cli-copy") / "run"
    shutil.copytree(d, copy)
    with dnas.Search.resume(copy) as s:
        alpha, weights = s.alpha, s.weights
    return dict(dir=str(d), arch=arch, alpha=alpha, weights=weights)


def test_version():
    header = read(os.path.join(ROOT, "include", "dnas.h"))
    m = re.search(r'#define DNAS_VERSION_STRING "([^"]+)"', header)
    assert dnas.version() == "0.1.0" == m.group(1) == dnas.__version__


def test_shared_library_exports_only_dnas_symbols(build_dir):
    real = os.path.join(build_dir, "libdnas.so.0.1.0")
    assert os.path.realpath(os.path.join(build_dir, "libdnas.so")) == os.path.realpath(real)
    assert os.path.realpath(os.path.join(build_dir, "libdnas.so.0")) == os.path.realpath(real)
    try:
        nm = subprocess.run(["nm", "-D", "--defined-only", real], stdout=subprocess.PIPE,
                            text=True, check=True).stdout
    except FileNotFoundError:
        pytest.skip("nm is not installed")
    names = [line.split()[-1] for line in nm.splitlines() if line.strip()]
    others = [n for n in names if not n.startswith("dnas_")]
    assert not others, "exported symbols without the dnas_ prefix: %s" % others[:20]
    for needed in ("dnas_version", "dnas_session_open", "dnas_session_step", "dnas_search_run",
                   "dnas_set_log_callback", "dnas_search_config_new"):
        assert needed in names
    # Internal functions stay hidden.
    assert "dnas_search_step" not in names and "dnas_run_open" not in names
    soname = subprocess.run(["objdump", "-p", real], stdout=subprocess.PIPE, text=True).stdout
    assert re.search(r"SONAME\s+libdnas\.so\.0\b", soname), soname


def test_errors_raise_with_the_library_message(tmp_path, cifar):
    with pytest.raises(dnas.DnasError, match="unknown search method 'nope'"):
        dnas.Search(out=tmp_path / "a", algo="nope")
    with pytest.raises(dnas.DnasError, match=r"--epochs must lie in 1\.\.100000 \(got 0\)") as e:
        dnas.Search(out=tmp_path / "b", data=cifar, epochs=0)
    assert e.value.status_name == "invalid argument"
    with pytest.raises(dnas.DnasError, match="unknown flag --bogus_setting"):
        dnas.Search(out=tmp_path / "c", bogus_setting=1)
    with pytest.raises(dnas.DnasError, match="is not an integer"):
        dnas.Search(out=tmp_path / "d", epochs="two")
    with pytest.raises(dnas.DnasError, match="no data"):
        dnas.Search(out=tmp_path / "e", data="")
    with pytest.raises(dnas.DnasError, match="holds no checkpoint|cannot open|No such file"):
        dnas.Search.resume(tmp_path / "missing")
    with pytest.raises(dnas.DnasError, match="unknown preset 'slow'"):
        dnas.Search(out=tmp_path / "f", preset="slow")


def test_step_by_step_matches_cli_bit_for_bit(cli_run, cifar, table, tmp_path):
    """The issue's test: stepped from Python (in chunks that cross epoch ends), alpha read at
    every epoch, the same alpha, genotype and logs as `dnas search` bit for bit."""
    d = tmp_path / "py"
    per_epoch = []
    with dnas.Search(out=d, data=cifar, table=table, **SETTINGS) as s:
        assert s.steps_per_epoch == 4 and s.epochs == 2 and s.epoch == 0 and not s.done
        assert s.alpha.shape == (1, 6, 5)
        # Epoch 1 in pieces, epoch 2 by a call that asks for more steps than are left.
        for n in (1, 2, 1, 3, 5):
            e = s.epoch
            s.step(n)
            if s.epoch > e:
                per_epoch.append((s.alpha, s.weights, s.genotype()))
        assert s.total_steps == 8 and s.epoch == 2 and s.epoch_step == 0
        alpha, arch = s.alpha, s.genotype()
        r = s.finish()
    assert len(per_epoch) == 2
    assert np.array_equal(bits(alpha), bits(cli_run["alpha"])), "alpha differs from the CLI's"
    assert arch == r.arch == cli_run["arch"]
    assert r.epochs_done == 2 and r.dir == str(d)
    cli = cli_run["dir"]
    # Each epoch's weights and arch, as the CLI logged them (6 decimals) and byte for byte.
    lines = [json.loads(x) for x in read(os.path.join(cli, "alphas.jsonl")).splitlines()]
    for (a, w, g), line in zip(per_epoch, lines):
        assert g == line["arch"]
        assert ["%.6f" % v for v in w.reshape(-1)] == \
            ["%.6f" % v for row in line["alphas"] for v in row]
    for name in ("alphas.jsonl", "genotype.txt"):
        assert read(os.path.join(d, name)) == read(os.path.join(cli, name)), name
    assert log_without_rates(os.path.join(d, "log.jsonl")) == \
        log_without_rates(os.path.join(cli, "log.jsonl"))
    # The final state's weights: what the CLI's run directory holds.
    assert np.array_equal(bits(per_epoch[-1][1]), bits(cli_run["weights"]))


def test_set_alpha_then_genotype(cifar, tmp_path):
    with dnas.Search(out=tmp_path / "s", data=cifar, **dict(SETTINGS, epochs=1)) as s:
        ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
        a = np.zeros(s.shape, dtype=np.float32)
        a[0, :, ops.index("nor_conv_3x3")] = 5.0
        s.alpha = a
        assert np.array_equal(s.alpha, a)
        conv = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        assert s.genotype() == conv
        w = s.weights[0]
        e = np.exp(a[0] - a[0].max(axis=1, keepdims=True))
        assert np.allclose(w, e / e.sum(axis=1, keepdims=True), atol=1e-6)
        a[0, 0, :] = 0.0
        a[0, 0, ops.index("skip_connect")] = 6.0
        s.alpha = a
        g = s.genotype()
        assert g.count("skip_connect") == 1 and g.count("nor_conv_3x3") == 5
        s.step(1)  # the search goes on from the alpha set
        assert s.genotype() == g and not np.array_equal(s.alpha, a)
        with pytest.raises(ValueError, match="shape"):
            s.alpha = np.zeros((6, 5))
        bad = a.copy()
        bad[0, 2, 1] = np.nan
        with pytest.raises(dnas.DnasError, match="must be finite"):
            s.alpha = bad


def test_resume_continues_identically(cli_run, cifar, table, tmp_path):
    """Saved mid-epoch from Python, closed, resumed from Python: the same end as the CLI."""
    d = tmp_path / "r"
    with dnas.Search(out=d, data=cifar, table=table, **SETTINGS) as s:
        s.step(6)  # epoch 2, step 2 of 4
        s.save()
        saved = s.alpha
    with pytest.raises(dnas.DnasError, match="already holds a search"):
        dnas.Search(out=d, data=cifar, **SETTINGS)
    with dnas.Search.resume(d, threads=1) as s:
        assert (s.epoch, s.epoch_step, s.total_steps) == (1, 2, 6)
        assert np.array_equal(bits(s.alpha), bits(saved))
        assert s.config["seed"] == 3 and s.config["channels"] == 4
        s.run()
        r = s.finish()
        alpha = s.alpha
    assert np.array_equal(bits(alpha), bits(cli_run["alpha"]))
    assert r.arch == cli_run["arch"]
    for name in ("alphas.jsonl", "genotype.txt"):
        assert read(os.path.join(d, name)) == read(os.path.join(cli_run["dir"], name)), name


def test_run_directory_is_locked_while_open(cifar, tmp_path):
    with dnas.Search(out=tmp_path / "l", data=cifar, **SETTINGS) as s:
        with pytest.raises(dnas.DnasError):
            dnas.Search.resume(s.dir)
        with pytest.raises(dnas.DnasError, match="run it to its end before finishing"):
            s.finish()
    with dnas.Search.resume(tmp_path / "l") as s:  # released by close
        assert s.total_steps == 0
    s.close()
    with pytest.raises(dnas.DnasError, match="closed"):
        s.step()


def test_max_steps_and_interrupt(cifar, tmp_path):
    with dnas.Search(out=tmp_path / "m", data=cifar, max_steps=3, **SETTINGS) as s:
        with pytest.raises(dnas.Interrupted, match="--max-steps"):
            s.step(10)
        assert s.total_steps == 3
        with pytest.raises(dnas.Interrupted):
            s.step(1)
        assert s.total_steps == 3
    with dnas.Search(out=tmp_path / "i", data=cifar, **SETTINGS) as s:
        s.interrupt()
        with pytest.raises(dnas.Interrupted, match="interrupted at epoch 1 step 1"):
            s.step(5)
        s.step(1)  # reported once: the session goes on
        assert s.total_steps == 2
    # An interrupt from another thread while a step call runs.
    # (2,000 steps would take seconds even on a fast machine; the interrupt comes at 0.2 s.)
    with dnas.Search(out=tmp_path / "t", data=cifar, **dict(SETTINGS, epochs=500)) as s:
        t = threading.Timer(0.2, s.interrupt)
        t.start()
        with pytest.raises(dnas.Interrupted):
            s.step(2000)
        t.join()
        assert 0 < s.total_steps < 2000


def test_log_callback_and_logging(cifar, tmp_path, caplog):
    lines = []
    dnas.set_log(lambda level, line: lines.append((level, line)))
    try:
        with dnas.Search(out=tmp_path / "g", data=cifar, **dict(SETTINGS, epochs=1)) as s:
            s.run()
            s.finish()
    finally:
        dnas.set_log(None)
    assert any(lv == "info" and l.startswith("epoch 1/1  train loss") for lv, l in lines), lines
    assert any(lv == "info" and l.startswith("search done in") for lv, l in lines), lines
    assert not any("\n" in l or "\033" in l for _, l in lines)
    dnas.set_log("logging")
    try:
        with caplog.at_level("INFO", logger="dnas"):
            with dnas.Search.resume(tmp_path / "g") as s:
                s.finish()
    finally:
        dnas.set_log(None)
    assert any("had finished" in r.getMessage() for r in caplog.records)


def test_query(table):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    r = dnas.query(arch, table)
    assert set(r) == {"index", "c10_valid", "c10_test", "c100_valid", "c100_test", "in16_valid",
                      "in16_test"}
    assert 80 < r["c10_test"] < 100 and r["index"] >= 0
    with pytest.raises(dnas.DnasError, match="nor_conv_9x9"):
        dnas.query("|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", table)


def test_readme_example_runs(cifar, table, tmp_path):
    """README's Python example, as written, in a directory where its relative paths exist."""
    text = read(os.path.join(ROOT, "README.md"))
    section = text[text.index("\n## Python\n"):]
    code = section[section.index("```python\n") + 10:]
    code = code[:code.index("```")]
    code = code.replace("../shared/data/nb201/nb201.csv", table)
    os.makedirs(tmp_path / "data")
    os.symlink(cifar, tmp_path / "data" / "cifar-10-batches-bin")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    p = subprocess.run(["python3", "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    assert p.returncode == 0, p.stdout
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("|") and float(last.split()[-1]) > 0, p.stdout
    assert os.path.exists(tmp_path / "runs" / "py-demo" / "genotype.txt")


def test_finish_runs_the_configured_selection(tool, cifar, tmp_path):
    """select="pt": finish() runs DARTS-PT as `dnas search --select pt` does, same result."""
    settings = dict(SETTINGS, epochs=1, select="pt", pt_interval=1)
    rc, out = run_tool(tool, "search", *cli_args(settings), "--data", cifar, "--progress", "0",
                       "--out", tmp_path / "cli")
    assert rc == 0, out
    search_arch, selected = out.strip().splitlines()[-2:]
    with dnas.Search(out=tmp_path / "py", data=cifar, **settings) as s:
        s.run()
        r = s.finish()
        assert s.finish().selected_arch == r.selected_arch  # a second call: the same, no rerun
    assert r.arch == search_arch and r.select == "pt"
    assert r.selected_arch == selected
    assert read(tmp_path / "py" / "genotype-pt.txt") == read(tmp_path / "cli" / "genotype-pt.txt")
