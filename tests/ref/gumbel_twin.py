#!/usr/bin/env python3
"""Writes tests/ref/gumbel_fixture.bin: SNAS (ALGORITHMS.md B5) and GDAS (B6) mixing transforms
and arch gradients computed by the PyTorch twin (nb201_twin.py) on the small NB201 supernet of
the other fixtures (C=8, N=1, 10 classes, batch 8, image 16, track_bn 0, start weights from
make_fixtures.MODEL_SEED, so param/* equals the other fixtures'), at FIXED Gumbel noise G stored
in the file (the twin need not reproduce our Philox). Read by tests/ref/test_gumbel_twin.c.
Format: make_fixtures.py (DNASFIX1). Deterministic (no randomness outside seeded generators).

All 5 ops are candidates ('none' included, as in AutoDL's NB201 space). The 3 search cells
share the one (6,5) alpha.

Entries (float32 unless int32 is said; (6,5) = edges x ops):
  config int32          [C, N, classes, batch, image, track_bn, 0]
  param/<name>          the start weights
  xv, yv                one batch (8,3,16,16), int32 (8)
  snas/tau (1)          the temperature (0.7)
  snas/alpha (6,5)      1 + 0.5 randn (SNAS' logits)
  snas/G (6,5)          fixed Gumbel noise -log(-log U)
  snas/z (6,5)          softmax((alpha + G) / tau): the relaxed sample the forward mixes with
  snas/loss (1)         CE at that mix
  snas/galpha (6,5)     d CE / d alpha through the relaxed sample (autograd)
  gdas/tau (1)          the temperature (3.0)
  gdas/alpha (6,5)      0.5 randn
  gdas/G (6,5)          fixed Gumbel noise; per row redrawn until the sampled op is not 'none'
                        and p's top-2 logits differ by >= 0.05 (an argmax robust to rounding)
  gdas/p (6,5)          softmax((log_softmax(alpha) + G) / tau)
  gdas/k int32 (6)      argmax p: the sampled op per edge
  gdas/loss (1)         CE of AutoDL's forward_gdas: with h = onehot(k) - p.detach() + p, each
                        edge adds h_k * op_k(x) + sum_{j != k} h_j (the zero-valued scalars that
                        carry d/dh_j = sum of the node's output gradient)
  gdas/galpha (6,5)     d CE / d alpha through that forward (autograd, straight through)

Usage: python3 tests/ref/gumbel_twin.py [--out PATH]
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nb201_twin import ResBlock, EDGES  # noqa: E402
from make_fixtures import (BATCH, CLASSES, IMAGE, config_and_params, forward_mix,  # noqa: E402
                           new_model, save_fixture)
from twin_common import deterministic, parse_out, seeded_batch  # noqa: E402

DATA_SEED = 5151
SNAS_TAU, GDAS_TAU = 0.7, 3.0
MIN_MARGIN = 0.05


def gumbel(shape, g):
    u = torch.rand(shape, generator=g, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    return (-torch.log(-torch.log(u))).float()


def run_op(edge, o, x, xr):
    if o == 0:
        return torch.zeros_like(x)
    if o == 1:
        return x
    if o == 2:
        return edge.nor_conv_1x1(x, xr)
    if o == 3:
        return edge.nor_conv_3x3(x, xr)
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def gdas_cell(cell, x, h, k):
    """AutoDL forward_gdas on one search cell: only op k[e] runs on edge e."""
    nodes, relus, e = [x], [], 0
    for i in range(1, 4):
        relus.append(F.relu(nodes[i - 1]))
        acc = None
        for j in range(i):
            edge = cell.edges["%d<-%d" % (i, j)]
            for o in range(h.shape[1]):
                t = h[e, o] * run_op(edge, o, nodes[j], relus[j]) if o == k[e] else h[e, o]
                acc = t if acc is None else acc + t
            e += 1
        nodes.append(acc)
    return nodes[3]


def forward_gdas(model, x, h, k):
    x = model.stem(x)
    for cell in model.cells:
        x = cell(x) if isinstance(cell, ResBlock) else gdas_cell(cell, x, h, k)
    x = model.lastact(x)
    return model.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    args = parse_out("gumbel_fixture.bin")
    deterministic()
    model = new_model()
    g, xv, yv = seeded_batch(DATA_SEED, BATCH, IMAGE, CLASSES)
    e = config_and_params(model)
    e["xv"], e["yv"] = xv, yv.to(torch.int32)
    rows = len(EDGES)

    # SNAS: the relaxed sample at fixed noise
    alpha = (1.0 + 0.5 * torch.randn(rows, 5, generator=g)).requires_grad_(True)
    G = gumbel((rows, 5), g)
    z = F.softmax((alpha + G) / SNAS_TAU, dim=-1)
    loss = F.cross_entropy(forward_mix(model, xv, z), yv)
    (ga,) = torch.autograd.grad(loss, [alpha])
    e["snas/tau"] = torch.tensor([SNAS_TAU])
    e["snas/alpha"], e["snas/G"], e["snas/z"] = alpha.detach(), G, z.detach()
    e["snas/loss"], e["snas/galpha"] = loss.detach().reshape(1), ga

    # GDAS: hard straight-through sample at fixed noise
    alpha = (0.5 * torch.randn(rows, 5, generator=g)).requires_grad_(True)
    ls = F.log_softmax(alpha.detach(), dim=-1)
    G = torch.empty(rows, 5)
    for r in range(rows):
        while True:
            gr = gumbel((5,), g)
            x = ((ls[r] + gr) / GDAS_TAU).double()
            top = torch.topk(x, 2).values
            if int(torch.argmax(x)) != 0 and float(top[0] - top[1]) >= MIN_MARGIN:
                break
        G[r] = gr
    p = F.softmax((F.log_softmax(alpha, dim=-1) + G) / GDAS_TAU, dim=-1)
    k = p.detach().argmax(dim=-1)
    onehot = F.one_hot(k, 5).to(p.dtype)
    h = onehot - p.detach() + p
    loss = F.cross_entropy(forward_gdas(model, xv, h, k.tolist()), yv)
    (ga,) = torch.autograd.grad(loss, [alpha])
    e["gdas/tau"] = torch.tensor([GDAS_TAU])
    e["gdas/alpha"], e["gdas/G"], e["gdas/p"] = alpha.detach(), G, p.detach()
    e["gdas/k"] = k.to(torch.int32)
    e["gdas/loss"], e["gdas/galpha"] = loss.detach().reshape(1), ga
    save_fixture(args.out, e)
    print("wrote", args.out, "sampled ops", k.tolist())


if __name__ == "__main__":
    main()
