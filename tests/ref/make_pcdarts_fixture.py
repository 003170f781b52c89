#!/usr/bin/env python3
"""Writes tests/ref/pcdarts_fixture.bin from the PyTorch twin of the PC-DARTS search supernet
(pcdarts_twin.py): one forward and backward of a small supernet, for
tests/ref/test_pcdarts_twin.c.

Configuration: C = 8 with K = 4 (so the ops of a normal cell of the first stage see 2 channels,
a reduction cell's 4, the last stage's 8), L = 5 layers (reduction cells 1 and 3: both kinds of
preprocess0, the stride-2 FactorizedReduce skip on C/K channels, the 2x2 max-pooled bypass),
edge normalisation on, the full DARTS op set, 10 classes, batch 4, 16x16 images, cell BN without
running statistics, train mode (batch statistics).

The architecture weights are drawn at 0.5 N(0,1) (not the method's 1e-3 start) so that the
mixing weights differ clearly between ops and edges: an edge or column mapped to the wrong
weight changes the logits, not only the gradients.

Entries (fixture format: tests/ref/README.md):
  config         int32 [C, L, classes, batch, image, track_bn, K]
  x, y           (4,3,16,16) N(0,1) images, int32 labels
  alpha          (2,14,9) 0.5 N(0,1), column 8 ('noise', not a candidate) 0
  beta           (2,14) 0.5 N(0,1): edge weights, softmax over each node's incoming edges
  out/logits     (4,10); out/loss (1)
  grad/<name>    dloss/dparam of every parameter (state_dict order)
  grad/alpha     (2,14,9) dloss/dalpha (0 on non-candidates)
  grad/beta      (2,14) dloss/dbeta

The weights are not stored: every parameter follows make_darts_fixture.py's rule
(twin_common.init_by_rule: a hash of the parameter's name and element index, exact double
operations, one rounding to float32), which the C test reproduces bit-identically. The same is
computed in float64 from the same float32 start and the normwise relative differences are
printed: the float32 noise floor.

Usage: pip install torch numpy; python3 tests/ref/make_pcdarts_fixture.py [--out PATH]
"""

import os
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import save_fixture  # noqa: E402
from pcdarts_twin import PCDartsSupernet  # noqa: E402
from twin_common import deterministic, parse_out, relerr, rule_models, seeded_batch  # noqa: E402

C, L, CLASSES, BATCH, IMAGE, TRACK_BN, K = 8, 5, 10, 4, 16, 0, 4
DATA_SEED = 4712
ARCH_SCALE = 0.5


def forward_backward(model, x, y, alpha, beta):
    model.zero_grad(set_to_none=True)
    a = alpha.clone().requires_grad_(True)
    b = beta.clone().requires_grad_(True)
    logits = model(x, a, b)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    grads = OrderedDict((n, p.grad.detach().clone()) for n, p in model.named_parameters())
    return logits.detach(), loss.detach(), grads, a.grad.detach().clone(), b.grad.detach().clone()


def main():
    args = parse_out("pcdarts_fixture.bin")
    deterministic()

    g, x, y = seeded_batch(DATA_SEED, BATCH, IMAGE, CLASSES)
    alpha = ARCH_SCALE * torch.randn(2, 14, 9, generator=g)
    alpha[:, :, 8] = 0.0
    beta = ARCH_SCALE * torch.randn(2, 14, generator=g)

    model, m64 = rule_models(lambda: PCDartsSupernet(C, L, CLASSES, track=bool(TRACK_BN), K=K))
    logits, loss, grads, galpha, gbeta = forward_backward(model, x, y, alpha, beta)
    l64, s64, g64, ga64, gb64 = forward_backward(m64, x.double(), y, alpha.double(), beta.double())
    worst = max(((relerr(grads[n], g64[n]), n) for n in grads))
    print("PC-DARTS C=%d L=%d K=%d: %d weights, %d tensors, loss %.7f; float32 vs float64: "
          "logits %.2e, loss %.2e, worst weight grad %.2e (%s), alpha grad %.2e, beta grad %.2e"
          % (C, L, K, sum(p.numel() for p in model.parameters()), len(grads), loss.item(),
             relerr(logits, l64), relerr(loss.reshape(1), s64.reshape(1)), worst[0], worst[1],
             relerr(galpha, ga64), relerr(gbeta, gb64)))

    entries = OrderedDict()
    entries["config"] = torch.tensor([C, L, CLASSES, BATCH, IMAGE, TRACK_BN, K], dtype=torch.int32)
    entries["x"] = x
    entries["y"] = y.to(torch.int32)
    entries["alpha"] = alpha
    entries["beta"] = beta
    entries["out/logits"] = logits
    entries["out/loss"] = loss.reshape(1)
    for n, t in grads.items():
        entries["grad/" + n] = t
    entries["grad/alpha"] = galpha
    entries["grad/beta"] = gbeta
    size = save_fixture(args.out, entries)
    print("wrote %s: %d entries, %d bytes" % (args.out, len(entries), size))


if __name__ == "__main__":
    main()
