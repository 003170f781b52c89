#!/usr/bin/env python3
"""Writes tests/ref/fair_drnas_fixture.bin: FairDARTS (ALGORITHMS.md B8) and DrNAS (B10) arch
gradients computed by the PyTorch twin (nb201_twin.py) on the small NB201 supernet of the other
fixtures (C=8, N=1, 10 classes, batch 8, image 16, track_bn 0, start weights from
make_fixtures.MODEL_SEED, so param/* equals the other fixtures'). Read by
tests/ref/test_fair_drnas_twin.c. Format: make_fixtures.py (DNASFIX1).

Entries (float32 unless int32 is said; (6,5) = edges x ops):
  config int32          [C, N, classes, batch, image, track_bn, 0]
  param/<name>          the start weights
  xv, yv                one batch (8,3,16,16), int32 (8)
  fair/alpha (6,5)      0.8 randn; 'none' (column 0) is not a candidate (--ops no-none)
  fair/mix (6,5)        sigmoid(alpha) on the candidates, 0 on 'none'
  fair/galpha (6,5)     d/dalpha [CE(mix) - 10 mean_cand (sigmoid(alpha) - 0.5)^2], 0 on 'none'
  fair/loss             that total loss
  drnas/alpha (6,5)     0.5 randn; beta = ELU(alpha) + 1 over all 5 ops
  drnas/gamma (6,5)     a FIXED sample x ~ Gamma(beta) (torch.distributions.Gamma.rsample)
  drnas/theta (6,5)     x / sum_row x: the Dirichlet sample the forward mixes with
  drnas/galpha (6,5)    d CE(theta) / d alpha through rsample's pathwise gradient (torch's
                        _standard_gamma_grad, the implicit reparameterisation drnas.c uses)

Usage: python3 tests/ref/fair_drnas_twin.py [--out PATH]
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (BATCH, CLASSES, IMAGE, config_and_params, forward_mix,  # noqa: E402
                           new_model, save_fixture)
from twin_common import deterministic, parse_out, seeded_batch  # noqa: E402

DATA_SEED = 4242
W01 = 10.0


def main():
    args = parse_out("fair_drnas_fixture.bin")
    deterministic()
    model = new_model()
    g, xv, yv = seeded_batch(DATA_SEED, BATCH, IMAGE, CLASSES)
    e = config_and_params(model)
    e["xv"], e["yv"] = xv, yv.to(torch.int32)

    # FairDARTS
    alpha = (0.8 * torch.randn(6, 5, generator=g)).requires_grad_(True)
    cand = torch.ones(6, 5)
    cand[:, 0] = 0
    sg = torch.sigmoid(alpha)
    mix = sg * cand
    l01 = -W01 * ((sg[:, 1:] - 0.5) ** 2).mean()
    loss = F.cross_entropy(forward_mix(model, xv, mix), yv) + l01
    (ga,) = torch.autograd.grad(loss, [alpha])
    e["fair/alpha"], e["fair/mix"] = alpha.detach(), mix.detach()
    e["fair/galpha"], e["fair/loss"] = ga * cand, loss.detach().reshape(1)

    # DrNAS at a fixed Gamma sample
    alpha = (0.5 * torch.randn(6, 5, generator=g)).requires_grad_(True)
    beta = F.elu(alpha) + 1
    torch.manual_seed(DATA_SEED + 1)
    x = torch.distributions.Gamma(beta, torch.ones_like(beta)).rsample()
    theta = x / x.sum(dim=1, keepdim=True)
    (ga,) = torch.autograd.grad(F.cross_entropy(forward_mix(model, xv, theta), yv), [alpha])
    e["drnas/alpha"], e["drnas/gamma"] = alpha.detach(), x.detach()
    e["drnas/theta"], e["drnas/galpha"] = theta.detach(), ga
    save_fixture(args.out, e)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
