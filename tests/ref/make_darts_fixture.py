#!/usr/bin/env python3
"""Writes tests/ref/darts_fixture.bin from the PyTorch twin of the DARTS search supernet
(darts_twin.py): one forward and backward of a small supernet, for tests/ref/test_darts_twin.c.

Configuration: C = 4, L = 5 layers (reduction cells 1 and 3, so both kinds of preprocess0 and
the stride-2 FactorizedReduce skip appear), 10 classes, batch 4, 16x16 images, cell BN without
running statistics, train mode (batch statistics). Sections, each its own supernet:
  ""    the full DARTS space (8 ops per edge, 'none' included)
  "s1/" RobustDARTS S1 (a different 2-op set per edge)
  "s3/" RobustDARTS S3 ({none, skip_connect, sep_conv_3x3})

Entries (fixture format: tests/ref/README.md):
  config            int32 [C, L, classes, batch, image, track_bn]
  x, y              (4,3,16,16) N(0,1) images, int32 labels
  {sec}alpha        (2,14,9) 1e-3 N(0,1), noise column 0 (not a candidate of these variants)
  {sec}out/logits   (4,10); {sec}out/loss (1)
  {sec}grad/<name>  dloss/dparam of every parameter (state_dict order)
  {sec}grad/alpha   (2,14,9) dloss/dalpha (0 on non-candidates)

The weights are not stored (they would double the file): every parameter follows a rule
(twin_common.init_by_rule; tests/ref/twin.h twin_init_by_rule) that the C test computes
bit-identically (integer hashing, then IEEE-exact double operations and one rounding to
float32): for element j (PyTorch layout) of parameter `name`,
  h = splitmix64(fnv1a64(name) + j), s = 2 * (h >> 11) * 2^-53 - 1   (uniform in [-1, 1))
  conv / linear weight and linear bias: s / sqrt(fan_in)   (PyTorch's default init range)
  BN weight: 1 + s / 8;  BN bias: s / 8
The same is computed in float64 from the same float32 start and the normwise relative
differences are printed: the float32 noise floor the C test can expect.

Usage: pip install torch numpy; python3 tests/ref/make_darts_fixture.py [--out PATH]
"""

import os
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from darts_twin import DartsSupernet  # noqa: E402
from make_fixtures import save_fixture  # noqa: E402
from twin_common import deterministic, parse_out, relerr, rule_models, seeded_batch  # noqa: E402

C, L, CLASSES, BATCH, IMAGE, TRACK_BN = 4, 5, 10, 4, 16, 0
SECTIONS = (("", ""), ("s1/", "s1"), ("s3/", "s3"))
DATA_SEED = 4711


def forward_backward(model, x, y, alpha):
    model.zero_grad(set_to_none=True)
    a = alpha.clone().requires_grad_(True)
    logits = model(x, a)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    grads = OrderedDict((n, p.grad.detach().clone()) for n, p in model.named_parameters())
    return logits.detach(), loss.detach(), grads, a.grad.detach().clone()


def main():
    args = parse_out("darts_fixture.bin")
    deterministic()

    g, x, y = seeded_batch(DATA_SEED, BATCH, IMAGE, CLASSES)
    entries = OrderedDict()
    entries["config"] = torch.tensor([C, L, CLASSES, BATCH, IMAGE, TRACK_BN], dtype=torch.int32)
    entries["x"] = x
    entries["y"] = y.to(torch.int32)
    for sec, ops in SECTIONS:
        model, m64 = rule_models(lambda: DartsSupernet(C, L, CLASSES, ops=ops, track=bool(TRACK_BN)))
        alpha = 1e-3 * torch.randn(2, 14, 9, generator=g)
        alpha[:, :, 8] = 0.0
        logits, loss, grads, galpha = forward_backward(model, x, y, alpha)
        # The same in float64 from the same float32 start: the noise floor of the float32 run.
        l64, s64, g64, ga64 = forward_backward(m64, x.double(), y, alpha.double())
        worst = max(((relerr(grads[n], g64[n]), n) for n in grads))
        print("%-4s %d weights: loss %.7f; float32 vs float64: logits %.2e, loss %.2e, "
              "worst weight grad %.2e (%s), alpha grad %.2e"
              % (sec or "full", sum(p.numel() for p in model.parameters()), loss.item(),
                 relerr(logits, l64), relerr(loss.reshape(1), s64.reshape(1)), worst[0],
                 worst[1], relerr(galpha, ga64)))
        entries[sec + "alpha"] = alpha
        entries[sec + "out/logits"] = logits
        entries[sec + "out/loss"] = loss.reshape(1)
        for n, t in grads.items():
            entries[sec + "grad/" + n] = t
        entries[sec + "grad/alpha"] = galpha
    size = save_fixture(args.out, entries)
    print("wrote %s: %d entries, %d bytes" % (args.out, len(entries), size))


if __name__ == "__main__":
    main()
