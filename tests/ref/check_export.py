"""Checks a `dnas export --to pytorch` directory in PyTorch (driven by tests/e2e/test_export.c).

    python3 tests/ref/check_export.py OUT [--weights N --aux-weights M] [--rtol R]

- model.py imports nothing but torch and the standard library's json, os, struct;
- weights.safetensors is laid out as the format requires (8-byte header length, JSON header,
  data 8-byte aligned, keys sorted, offsets covering the buffer without holes; F32, and I64 for
  BN's num_batches_tracked), and its keys are exactly build().state_dict()'s, so
  load_state_dict(strict=True) works; if the `safetensors` package is installed, its own
  reader must read both files to the same tensors;
- the weight count (auxiliary head apart, as dnas counts it) equals --weights / --aux-weights
  (what `dnas info` reports) and the metadata;
- the exported module in eval mode gives dnas's logits on the check batch: the max error is
  printed and must be <= rtol x max(1, max |logit|), and model.verify() agrees;
- the module trains: a training-mode forward (with drop path for DARTS) and backward run, and
  a network with an auxiliary head returns (logits, aux_logits).

Prints "ok: ..." and exits 0, or names what failed and exits 1. Without torch it prints a SKIP
line and exits 0 (the C test reports the case as skipped).
"""

import ast
import importlib.util
import json
import os
import struct
import sys

try:
    import torch
except ImportError:
    print("SKIP: python3 has no torch (pip install torch) — the export was not checked in PyTorch")
    sys.exit(0)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def header_of(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if (8 + n) % 8:
        fail("%s: data starts at byte %d, not 8-byte aligned" % (path, 8 + n))
    text = data[8:8 + n].decode("utf-8")
    if not text.startswith("{") or text.rstrip(" ") != text.rstrip():
        fail("%s: header must start with '{' and be padded with spaces only" % path)
    head = json.loads(text)
    keys = [k for k in head if k != "__metadata__"]
    if keys != sorted(keys):
        fail("%s: tensor keys not sorted" % path)
    spans = sorted(tuple(head[k]["data_offsets"]) for k in keys)
    at = 0
    for b, e in spans:
        if b != at:
            fail("%s: hole or overlap at byte %d of the data" % (path, b))
        at = e
    if at != len(data) - 8 - n:
        fail("%s: tensors cover %d of %d data bytes" % (path, at, len(data) - 8 - n))
    for k in keys:
        want = "I64" if k.endswith("num_batches_tracked") or k == "labels" else "F32"
        if head[k]["dtype"] != want:
            fail("%s: %s has dtype %s, want %s" % (path, k, head[k]["dtype"], want))
    return head


def main():
    args = sys.argv[1:]
    if not args:
        fail("usage: check_export.py OUT [--weights N --aux-weights M] [--rtol R]")
    out = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    rtol = float(opts.get("--rtol", "1e-4"))

    src = open(os.path.join(out, "model.py")).read()
    for node in ast.walk(ast.parse(src)):
        mods = []
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods = [node.module or ""]
        for m in mods:
            if m.split(".")[0] not in ("torch", "json", "os", "struct"):
                fail("model.py imports %s: it must need only torch" % m)

    spec = importlib.util.spec_from_file_location("exported_model", os.path.join(out, "model.py"))
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)

    wpath, cpath = os.path.join(out, "weights.safetensors"), os.path.join(out, "check.safetensors")
    whead, chead = header_of(wpath), header_of(cpath)
    state, meta = model.read_safetensors(wpath)
    check, _ = model.read_safetensors(cpath)
    try:
        from safetensors.torch import load_file
        for ours, path in ((state, wpath), (check, cpath)):
            theirs = load_file(path)
            if set(theirs) != set(ours) or any(not torch.equal(theirs[k], ours[k]) for k in ours):
                fail("%s: the safetensors package reads other tensors than model.py" % path)
        reader = "model.py's reader and the safetensors package"
    except ImportError:
        reader = "model.py's reader (safetensors package not installed)"

    genotype = open(os.path.join(out, "genotype.txt")).read().strip()
    if not (genotype == meta["genotype"] == model.GENOTYPE):
        fail("genotype.txt, the metadata and model.GENOTYPE differ")

    net = model.build()
    keys = set(net.state_dict())
    if keys != set(state):
        fail("state_dict keys differ from the safetensors keys: only in the module %s, only in "
             "the file %s" % (sorted(keys - set(state))[:5], sorted(set(state) - keys)[:5]))
    net.load_state_dict(state, strict=True)
    for k, v in net.state_dict().items():
        if not torch.equal(v, state[k]):
            fail("%s did not load as it is in the file" % k)

    n, n_all = model.count_weights(net), model.count_weights(net, True)
    got = (n, n_all - n)
    want_meta = (int(meta["weights"]), int(meta["aux_weights"]))
    if got != want_meta:
        fail("weights %d + aux %d, the metadata says %d + %d" % (got + want_meta))
    if "--weights" in opts:
        want = (int(opts["--weights"]), int(opts.get("--aux-weights", "0")))
        if got != want:
            fail("weights %d + aux %d, dnas info says %d + %d" % (got + want))

    net.eval()
    with torch.no_grad():
        logits = net(check["inputs"])
    ref = check["logits"]
    err = (logits - ref).abs().max().item()
    scale = ref.abs().max().item()
    if not err <= rtol * max(1.0, scale):
        fail("logits differ from dnas's by %.3g (max |logit| %.3g, rtol %g)" % (err, scale, rtol))
    if abs(model.verify(rtol, verbose=False) - err) > 1e-12:
        fail("model.verify() measured another error")
    agree = (logits.argmax(1) == ref.argmax(1)).float().mean().item()

    # It trains: drop path and the auxiliary head in training mode, gradients everywhere.
    tnet = model.load(drop_path_prob=0.2) if model.SPACE == "darts" else model.load()
    tnet.train()
    y = tnet(check["inputs"][:2])
    aux = getattr(model, "AUXILIARY", False)
    if aux != isinstance(y, tuple):
        fail("training-mode output is %s, want %s" % (type(y).__name__, "a tuple" if aux else "logits"))
    loss = y[0].sum() + 0.4 * y[1].sum() if aux else y.sum()
    loss.backward()
    # (a cell's node that no later node reads, as node 2 under none~2, gets no gradient)
    if tnet.classifier.weight.grad is None or next(tnet.stem.parameters()).grad is None:
        fail("the stem or the classifier got no gradient in a training step")

    print("ok: %s, %d weights + %d auxiliary, %d tensors (%s), logits of %d images: max abs err "
          "%.3g, max |logit| %.3g, argmax agreement %.0f%%; train step ok"
          % (meta["space"], n, n_all - n, len(state), reader, ref.shape[0], err, scale, 100 * agree))


main()
