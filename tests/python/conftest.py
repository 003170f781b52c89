"""Fixtures of the Python tests, and the one line per test that tests/run.sh counts."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)


_reporter = None


@pytest.hookimpl(trylast=True)  # after the terminal reporter has registered
def pytest_configure(config):
    global _reporter
    _reporter = config.pluginmanager.get_plugin("terminalreporter")


@pytest.hookimpl(hookwrapper=True)
def pytest_report_teststatus(report, config):
    """No progress letters ('.', 'F'): the lines below are the progress, each from column 0."""
    outcome = yield
    category, _, word = outcome.get_result()
    outcome.force_result((category, "", word))


def pytest_runtest_logreport(report):
    """PASS name / FAIL name: why / SKIP name: why, on lines of their own."""
    name = report.nodeid.split("::", 1)[-1]
    line = None
    if report.when == "call" and report.passed:
        line = "PASS python " + name
    elif report.failed:
        why = str(report.longrepr).strip().splitlines()[-1] if report.longrepr else ""
        line = "FAIL python %s (%s): %s" % (name, report.when, why)
    elif report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        line = "SKIP python %s: %s" % (name, reason)
    if line and _reporter:
        _reporter.ensure_newline()
        _reporter.write_line(line)


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def tool(build_dir):
    path = os.path.join(build_dir, "dnas")
    if not os.path.exists(path):
        pytest.skip("%s is not built" % path)
    return path


@pytest.fixture(scope="session")
def cifar(build_dir):
    path = os.path.join(build_dir, "data", "cifar-10-batches-bin")
    if not os.path.exists(os.path.join(path, "data_batch_1.bin")):
        pytest.skip("no decoded CIFAR-10 in %s (make testdata)" % path)
    return path


@pytest.fixture(scope="session")
def table():
    shared = os.environ.get("DNAS_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
    path = os.path.join(shared, "nb201", "nb201.csv")
    if not os.path.exists(path):
        pytest.skip("no NAS-Bench-201 table at %s" % path)
    return os.path.abspath(path)


def run_tool(tool, *args):
    p = subprocess.run([tool] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout
