#!/usr/bin/env python3
"""Writes tests/ref/darts_net_fixture.bin from the PyTorch twin (darts_net_twin.py): the DARTS_V2
evaluation network (NetworkCIFAR) at a small size, in training mode,

  a/  auxiliary head and drop path off: logits, loss, every weight gradient, BN running
      statistics after the forward;
  b/  auxiliary head on (weight 0.4) and drop path on (p 0.2) with the masks drawn exactly as
      src/ops/droppath.c draws them at (key, step): masks, logits, auxiliary logits, the main,
      auxiliary and total loss, every weight gradient, running statistics;
  eval/ the evaluation-mode forward after b/ (running statistics, no auxiliary head, no drop
      path): logits and the main loss;
  count/ parameter counts of full-size networks (DARTS cells at C 36, L 20; the auxiliary head
      on 576 channels; NB201 networks of a few arch strings at C 16, N 5), 10 classes.

The weights and running statistics are not stored: both sides compute them from each tensor's
name (init_by_name), which keeps the file small although the auxiliary head alone has 410k
weights. Of the one large gradient (auxiliary_head.features.5.weight, 768x128x2x2) every 11th
element (PyTorch OIHW order) and the norm are stored (b/grad_sample/, b/grad_norm/).

Other entries: config int32 [C, L, classes, batch, image, sample stride] = [8, 6, 10, 4, 32, 11];
dp/key_step int32 = uint32 halves [key lo, key hi, step lo, step hi]; dp/p_auxw float32
[drop probability, auxiliary weight]; x (4,3,32,32) NCHW, y int32 (4); b/masks (34, 4) = the
drop-path factors (0 or 1/keep) of drop-path node k (construction order: cell, node, first op,
second op; identities have none) and sample i. File format (DNASFIX1): tests/ref/README.md.

The same computation in float64 from the same start state is printed beside each entry as
the noise floor the C test can expect.

Usage: pip install torch numpy; python3 tests/ref/make_darts_net_fixture.py [--out PATH]
"""

import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from darts_net_twin import (NetworkCIFAR, NB201Network, AuxiliaryHead, DropPath,  # noqa: E402
                            check_philox, count_weights, philox64)
from make_fixtures import save_fixture  # noqa: E402
from twin_common import deterministic, fnv1a64, parse_out, relerr, seeded_batch  # noqa: E402

C, L, CLASSES, BATCH, IMAGE = 8, 6, 10, 4, 32  # cells 2 and 4 reduce; aux head on cell 4 (8x8)
GENOTYPE = "DARTS_V2"
AUX_WEIGHT = 0.4
DROP_P = 0.2
DP_KEY, DP_STEP = 0x5EED5EED12345678, 17
DATA_SEED = 31337
BIG = "auxiliary_head.features.5.weight"
BIG_STRIDE = 11
NB201_ARCHS = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
)


def uniform_by_name(name, n):
    """u[i] in [0,1), 24 bits: word i%4 of Philox block i/4 at key fnv1a64(name) (float64)."""
    i = np.arange(n, dtype=np.uint64)
    words = philox64(fnv1a64(name), i // np.uint64(4))[np.arange(n), (i % np.uint64(4)).astype(np.int64)]
    return (words >> np.uint32(8)).astype(np.float64) / 16777216.0


def init_by_name(model):
    """Deterministic start state both sides compute (tests/ref/test_darts_net_twin.c):
    v = 2u - 1; conv / linear weight v/sqrt(fan_in); linear bias 0.1 v; BN weight 1 + 0.25 v,
    bias 0.25 v; running mean 0.1 v, running var 1 + 0.5 u. Values in PyTorch element order."""
    bn_prefixes = {n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue
            prefix, leaf = name.rsplit(".", 1)
            u = uniform_by_name(name, t.numel())
            v = 2.0 * u - 1.0
            if prefix in bn_prefixes:
                val = {"weight": 1.0 + 0.25 * v, "bias": 0.25 * v, "running_mean": 0.1 * v,
                       "running_var": 1.0 + 0.5 * u}[leaf]
            elif leaf == "weight":
                val = v / math.sqrt(t.numel() // t.shape[0])
            else:
                val = 0.1 * v
            t.copy_(torch.from_numpy(val.astype(np.float32)).view(t.shape))


def params(model):
    return list(model.named_parameters())


def buffers(model):
    return [(n, b) for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")]


def run(dtype, x, y):
    """Every computed entry, in `dtype` (start state always the float32 init_by_name one)."""
    e = OrderedDict()
    # a/: no aux head, no drop path.
    m = NetworkCIFAR(C, CLASSES, L, False, GENOTYPE)
    init_by_name(m)
    m = m.to(dtype).train()
    logits, _ = m(x.to(dtype))
    loss = F.cross_entropy(logits, y)
    loss.backward()
    e["a/logits"] = logits.detach()
    e["a/loss"] = loss.detach()
    for n, p in params(m):
        e["a/grad/" + n] = p.grad.detach()
    for n, b in buffers(m):
        e["a/buffer/" + n] = b.detach().clone()
    # b/: aux head and drop path; then eval/ on the same model.
    m = NetworkCIFAR(C, CLASSES, L, True, GENOTYPE)
    init_by_name(m)
    m = m.to(dtype).train()
    drop = DropPath(DROP_P, DP_KEY, DP_STEP)
    logits, aux = m(x.to(dtype), drop)
    loss_main = F.cross_entropy(logits, y)
    loss_aux = F.cross_entropy(aux, y)
    loss = loss_main + AUX_WEIGHT * loss_aux
    loss.backward()
    scales = np.stack(drop.masks).astype(np.float32) / np.float32(1.0 - np.float32(DROP_P))
    e["b/masks"] = torch.from_numpy(scales)
    e["b/logits"] = logits.detach()
    e["b/aux_logits"] = aux.detach()
    e["b/loss_main"] = loss_main.detach()
    e["b/loss_aux"] = loss_aux.detach()
    e["b/loss"] = loss.detach()
    for n, p in params(m):
        g = p.grad.detach()
        if n == BIG:
            e["b/grad_sample/" + n] = g.flatten()[::BIG_STRIDE].clone()
            e["b/grad_norm/" + n] = g.norm().reshape(1)
        else:
            e["b/grad/" + n] = g
    for n, b in buffers(m):
        e["b/buffer/" + n] = b.detach().clone()
    m.eval()
    with torch.no_grad():
        logits, aux = m(x.to(dtype))
    assert aux is None
    e["eval/logits"] = logits
    e["eval/loss"] = F.cross_entropy(logits, y)
    return e


def counts():
    e = OrderedDict()
    for name in ("DARTS_V2", "DARTS_V1", "PC_DARTS"):
        e["count/darts/" + name] = torch.tensor([count_weights(NetworkCIFAR(36, 10, 20, False, name))],
                                                dtype=torch.int32)
    e["count/aux576"] = torch.tensor([sum(p.numel() for p in AuxiliaryHead(576, 10).parameters())],
                                     dtype=torch.int32)
    for arch in NB201_ARCHS:
        e["count/nb201/" + arch] = torch.tensor([sum(p.numel() for p in NB201Network(arch).parameters())],
                                                dtype=torch.int32)
    return e


def main():
    args = parse_out("darts_net_fixture.bin")
    check_philox()
    deterministic()
    _, x, y = seeded_batch(DATA_SEED, BATCH, IMAGE, CLASSES)

    e = OrderedDict()
    e["config"] = torch.tensor([C, L, CLASSES, BATCH, IMAGE, BIG_STRIDE], dtype=torch.int32)
    # key and step as uint32 halves (low, high), bit patterns in int32
    halves = [DP_KEY & 0xFFFFFFFF, DP_KEY >> 32, DP_STEP & 0xFFFFFFFF, DP_STEP >> 32]
    e["dp/key_step"] = torch.tensor(np.array(halves, dtype=np.uint32).view(np.int32))
    e["dp/p_auxw"] = torch.tensor([DROP_P, AUX_WEIGHT], dtype=torch.float32)
    e["x"] = x
    e["y"] = y.to(torch.int32)
    e32 = run(torch.float32, x, y)
    e64 = run(torch.float64, x, y)
    e.update(e32)
    e.update(counts())
    size = save_fixture(args.out, e)

    # Noise floor: float32 against float64, normwise, worst per group.
    worst = {}
    for k, v in e32.items():
        group = k.split("/")[0] + "/" + (k.split("/")[1] if "/" in k else "")
        r = relerr(v, e64[k])
        if r > worst.get(group, (0, ""))[0]:
            worst[group] = (r, k)
    print("float32 vs float64 (max|a32-a64| / max|a64|), worst per group:")
    for g_, (r, k) in worst.items():
        print("  %-18s %.2e  (%s)" % (g_, r, k))
    m = e32["b/masks"]
    print("drop path: %d nodes x %d samples, %d dropped" % (m.shape[0], m.shape[1], int((m == 0).sum())))
    for k, v in e.items():
        if k.startswith("count/"):
            print("  %s = %d" % (k, int(v[0])))
    print("wrote %s (%d bytes, %d entries)" % (args.out, size, len(e)))


if __name__ == "__main__":
    main()
