"""Reads a directory of dnas TensorBoard event files with the tensorboard package's own readers
and compares what they see with an expectation. Driven by tests/unit/test_tfevents.c.

    python3 tests/ref/check_tfevents.py DIR EXPECTED.json

EXPECTED.json: {"files": N, "scalars": {"tag": [[step, value], ...], ...}}: the number of
events.out.tfevents.* files in DIR, and exactly the scalar tags TensorBoard must show, each with
its (step, value) points in order, after TensorBoard has applied the SessionLog START purge.

Checks: every record of every file passes tensorboard's CRC-checking record reader; each file
starts with file_version "brain.Event:2" then a SessionLog START; EventAccumulator (what the
TensorBoard server builds on) shows exactly the expected tags, steps and values (float32).
Prints one line per problem and exits 1 on a mismatch, 2 if tensorboard is missing."""
import glob
import json
import math
import os
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors as tb_errors
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as tb_records
except ImportError as e:
    print("FAIL: the python tensorboard package is not installed (%s): run scripts/setup, or "
          "python3 -m pip install tensorboard" % e)
    sys.exit(2)


def records(path):
    """Every record of a file, CRCs checked by tensorboard's own reader."""
    reader = tb_records.PyRecordReader_New(path.encode(), 0, b"", None)
    out = []
    while True:
        try:
            reader.GetNext()
        except tb_errors.OutOfRangeError:
            return out
        out.append(reader.record())


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 1
    directory, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        want = json.load(f)
    bad = []
    files = sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*")))
    if len(files) != want["files"]:
        bad.append("%d event files in %s, want %d: %s" % (len(files), directory, want["files"], files))
    n_records = 0
    for path in files:
        try:
            recs = records(path)
        except tb_errors.DataLossError as e:
            bad.append("%s: %s" % (path, e))
            continue
        n_records += len(recs)
        events = [event_pb2.Event.FromString(r) for r in recs]
        if len(events) < 2 or events[0].file_version != "brain.Event:2":
            bad.append("%s: first event is not file_version brain.Event:2" % path)
        elif events[1].session_log.status != event_pb2.SessionLog.START:
            bad.append("%s: second event is not a SessionLog START" % path)
        for ev in events:
            if not (ev.wall_time > 1.0e9):
                bad.append("%s: implausible wall_time %r" % (path, ev.wall_time))
                break

    acc = event_accumulator.EventAccumulator(directory, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = sorted(acc.Tags()["scalars"])
    want_tags = sorted(want["scalars"])
    if tags != want_tags:
        bad.append("tags %s, want %s" % (tags, want_tags))
    n_points = 0
    for tag in want_tags:
        if tag not in tags:
            continue
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        exp = [(int(s), float(v)) for s, v in want["scalars"][tag]]
        n_points += len(got)
        if [s for s, _ in got] != [s for s, _ in exp]:
            bad.append("%s: steps %s, want %s" % (tag, [s for s, _ in got], [s for s, _ in exp]))
            continue
        for (s, g), (_, e) in zip(got, exp):
            if not math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-6):  # float32 on the wire
                bad.append("%s: step %d value %r, want %r" % (tag, s, g, e))
    for line in bad:
        print("FAIL: " + line)
    if bad:
        return 1
    print("ok: %d files, %d records, %d tags, %d points read back by tensorboard %s"
          % (len(files), n_records, len(tags), n_points, __import__("tensorboard").__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
