#!/usr/bin/env python3
"""The twin's state after each of the 5 DARTS-V1 steps of tests/ref/nb201_fixture.bin (same
start state, same batches, same settings: make_fixtures.py), so that the C test can check each
step from the twin's own state before it (tests/ref/test_nb201_twin.c, "one-step errors"):

  tests/ref/nb201_steps_fixture.bin
    steps/<s>/param/<name>     weights after step s (s = 0..4; before step 0: param/ of the
    steps/<s>/momentum/<name>  SGD momentum buffers      main fixture, zero momentum and Adam)
    steps/<s>/alpha            alpha
    steps/<s>/adam_m, adam_v   Adam's exp_avg, exp_avg_sq of alpha
    steps/<s>/buffer/<name>    BN running statistics (track_bn 0)
    steps/<s>/bn1_buffer/<name> the same with cell BN statistics (track_bn 1)
    steps/<s>/train_loss, valid_loss
    kinks/threshold            KINK_THRESHOLD (below)
    kinks/shape/<relu>         int32 NCHW shape of each ReLU's input (our graph's node names)
    kinks/<s>/<p>/<relu>/index int32: flat NCHW indices of the inputs of that ReLU with |x| <
                               KINK_THRESHOLD in the forward p of step s (train: the w step's,
                               valid: the arch step's); only ReLUs that have some
    kinks/<s>/<p>/<relu>/x     the twin's values there (its side: on iff x > 0)
    kinks/<s>/<p>/summary      int32 [ReLUs, their inputs, inputs written] of that forward

The C test puts its own ReLUs on the twin's side at those inputs (a kink a build's rounding
could cross: KINK_THRESHOLD says why that threshold).

It also prints why a free-running multi-step comparison cannot be tight: how far the float32
trajectory moves when the start weights move by one float ulp, against float32 vs float64 from
the same start (the rounding noise of one run).

Usage: python3 tests/ref/make_nb201_steps_fixture.py [--out-dir DIR] [--no-perturb]
"""

import argparse
import copy
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
from nb201_twin import NB201Supernet, ResBlock  # noqa: E402

import torch.nn.functional as F  # noqa: E402  (the module the twin calls F.relu through)

# The twin's ReLU inputs with |x| below this are written as kinks/...: where a build's own
# rounding could put them on the other side of 0 (test_nb201_twin.c, run_v1_steps). Measured
# over all 10 forwards of the 5 steps, each from the twin's state: our ReLU inputs differ from
# the twin's by at most 5.8e-6 (ARCH=x86-64) and 4.7e-6 (default build), about 1.3e-6 of the
# largest |x| of that ReLU (1.6 to 4.4); the one input that flips (step 0's arch forward; in
# ARCH=x86-64, after a later kernel change in the default build) is 8.4e-7 in the twin, -3.5e-8
# in ours. 1e-3 is 170 times the largest difference,
# and only ~180 of the 127,000 inputs of a forward lie below it.
KINK_THRESHOLD = 1e-3


def relu_names(model):
    """Our graph's names (src/space/nb201.c) of the twin's ReLUs, in the order its forward
    calls F.relu: ResNet block i: cells.i.relu_a, cells.i.relu_b; search cell i: cells.i.relu0..2
    (one per source node); then lastact.relu."""
    names = []
    for i, cell in enumerate(model.cells):
        if isinstance(cell, ResBlock):
            names += ["cells.%d.relu_a" % i, "cells.%d.relu_b" % i]
        else:
            names += ["cells.%d.relu%d" % (i, j) for j in range(3)]
    return names + ["lastact.relu"]


class ReluInputs:
    """While active, records the input of every F.relu call (the twin's only kink), in call
    order; the result is the original F.relu's, so nothing computed changes."""

    def __enter__(self):
        self.xs = []
        self._relu = F.relu

        def relu(x, inplace=False):
            self.xs.append(x.detach().clone())
            return self._relu(x, inplace=inplace)

        F.relu = relu
        return self

    def __exit__(self, *exc):
        F.relu = self._relu
        return False

    def named(self, model):
        names = relu_names(model)
        assert len(self.xs) == len(names), "%d ReLU calls, expected %d" % (len(self.xs), len(names))
        return list(zip(names, self.xs))


def run_steps(model, alpha, data, dtype, bn1_model=None, relu_log=None):
    """The 5 DARTS-V1 steps of make_fixtures.v1_steps, recording the whole state after each.
    bn1_model (track_bn 1, same weights) runs the same steps alongside for its statistics.
    relu_log (a list) gets, per step, {"train": ..., "valid": ...}: the (name, input) of every
    ReLU of the w step's forward and of the arch step's forward."""
    w_opt = mf.new_w_opt(model)
    a_opt = torch.optim.Adam([alpha], lr=mf.A_LR, betas=mf.A_BETAS, weight_decay=mf.A_WD, eps=mf.A_EPS)
    states = []
    bn1_alpha = alpha.detach().clone().requires_grad_(True) if bn1_model is not None else None
    if bn1_model is not None:
        bn1_w = mf.new_w_opt(bn1_model)
        bn1_a = torch.optim.Adam([bn1_alpha], lr=mf.A_LR, betas=mf.A_BETAS, weight_decay=mf.A_WD, eps=mf.A_EPS)
    for s in range(mf.STEPS):
        xt, yt = data["v1/%d/xt" % s].to(dtype), data["v1/%d/yt" % s]
        xv, yv = data["v1/%d/xv" % s].to(dtype), data["v1/%d/yv" % s]
        with ReluInputs() as rt:
            tl = mf.w_step(model, w_opt, xt, yt, alpha)[0]
        a_opt.zero_grad(set_to_none=True)
        with ReluInputs() as rv:
            vloss = mf.xent(model, xv, yv, alpha)
        if relu_log is not None:
            relu_log.append({"train": rt.named(model), "valid": rv.named(model)})
        (alpha.grad,) = torch.autograd.grad(vloss, [alpha])
        a_opt.step()
        st = OrderedDict()
        for k, p in mf.param_items(model):
            st["param/" + k] = p.detach().clone()
        for k, p in mf.param_items(model):
            st["momentum/" + k] = w_opt.state[p]["momentum_buffer"].detach().clone()
        st["alpha"] = alpha.detach().clone()
        st["adam_m"] = a_opt.state[alpha]["exp_avg"].detach().clone()
        st["adam_v"] = a_opt.state[alpha]["exp_avg_sq"].detach().clone()
        for k, b in mf.buffer_items(model):
            st["buffer/" + k] = b.detach().clone()
        st["train_loss"] = tl.reshape(1)
        st["valid_loss"] = vloss.detach().reshape(1)
        if bn1_model is not None:
            mf.w_step(bn1_model, bn1_w, xt, yt, bn1_alpha)
            bn1_a.zero_grad(set_to_none=True)
            (bn1_alpha.grad,) = torch.autograd.grad(mf.xent(bn1_model, xv, yv, bn1_alpha), [bn1_alpha])
            bn1_a.step()
            for k, p in mf.param_items(bn1_model):  # train mode: the same run as track_bn 0
                assert torch.equal(p, st["param/" + k]), k
            for k, b in mf.buffer_items(bn1_model):
                st["bn1_buffer/" + k] = b.detach().clone()
        states.append(st)
    return states


def kink_entries(e, relu_log):
    """The twin's near-zero ReLU inputs of every step's two forwards (kinks/ in the docstring)."""
    e["kinks/threshold"] = torch.tensor([KINK_THRESHOLD], dtype=torch.float32)
    for name, x in relu_log[0]["train"]:
        e["kinks/shape/" + name] = torch.tensor(list(x.shape), dtype=torch.int32)
    for s, passes in enumerate(relu_log):
        for p in ("train", "valid"):
            elems = near = 0
            for name, x in passes[p]:
                flat = x.reshape(-1)
                idx = torch.nonzero(flat.abs() < KINK_THRESHOLD).reshape(-1)
                elems += flat.numel()
                near += idx.numel()
                if idx.numel():
                    e["kinks/%d/%s/%s/index" % (s, p, name)] = idx.to(torch.int32)
                    e["kinks/%d/%s/%s/x" % (s, p, name)] = flat[idx]
            e["kinks/%d/%s/summary" % (s, p)] = torch.tensor([len(passes[p]), elems, near], dtype=torch.int32)
            print("step %d %s forward: %d ReLUs, %d inputs, %d with |x| < %g (nearest %.2g)" % (
                s, p, len(passes[p]), elems, near, KINK_THRESHOLD,
                min(x.abs().min().item() for _, x in passes[p])))


def nudge_one_ulp(model, seed):
    """Every float32 weight moved by one ulp, up or down at random."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in mf.param_items(model):
            up = torch.randint(0, 2, p.shape, generator=g).bool()
            toward = torch.where(up, torch.full_like(p, float("inf")), torch.full_like(p, float("-inf")))
            p.copy_(torch.nextafter(p, toward))


def perturbation_report(model0, alpha0, data, ref32):
    """Drift of the 5-step float32 trajectory from a 1-ulp start perturbation, per step."""
    def drift(states, step):
        a, b = states[step], ref32[step]
        w = max(mf.relerr(a[k], b[k]) for k in a if k.startswith("param/") and not mf.is_cell_conv_bias(k[6:]))
        da = mf.relerr(a["alpha"] - alpha0, b["alpha"] - alpha0)
        return w, da

    m64 = copy.deepcopy(model0).double().train()
    s64 = run_steps(m64, alpha0.double().clone().requires_grad_(True), data, torch.float64)
    print("float32 trajectory vs float64 from the same start (weights / alpha change, normwise):")
    print("  " + "  ".join("step %d: %.1e / %.1e" % ((s,) + drift(s64, s)) for s in range(mf.STEPS)))
    for seed in (1, 2, 3):
        m = copy.deepcopy(model0).float().train()
        nudge_one_ulp(m, seed)
        sp = run_steps(m, alpha0.clone().requires_grad_(True), data, torch.float32)
        print("start weights +-1 ulp (draw %d):" % seed)
        print("  " + "  ".join("step %d: %.1e / %.1e" % ((s,) + drift(sp, s)) for s in range(mf.STEPS)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--no-perturb", action="store_true", help="skip the perturbation report")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # fixed reduction order: same bytes on re-run
    torch.manual_seed(mf.MODEL_SEED)
    model0 = NB201Supernet(mf.C, mf.N, mf.CLASSES, track_bn=bool(mf.TRACK_BN)).float().train()
    torch.manual_seed(mf.MODEL_SEED)
    model0_bn = NB201Supernet(mf.C, mf.N, mf.CLASSES, track_bn=True).float().train()
    data = mf.make_data()
    alpha0 = data["alpha"]

    relu_log = []
    states = run_steps(copy.deepcopy(model0), alpha0.clone().requires_grad_(True), data,
                       torch.float32, bn1_model=copy.deepcopy(model0_bn), relu_log=relu_log)
    # the same trajectory as the main fixture's free run
    main = mf.read_fixture(os.path.join(os.path.dirname(os.path.abspath(__file__)), "nb201_fixture.bin"))
    last = states[-1]
    assert np.array_equal(main["v1/alpha_final"], last["alpha"].numpy()), "alpha differs from nb201_fixture.bin"
    for k, v in last.items():
        if k.startswith("param/"):
            assert np.array_equal(main["v1/param_final/" + k[6:]], v.numpy()), k

    e = OrderedDict()
    for s, st in enumerate(states):
        for k, v in st.items():
            e["steps/%d/%s" % (s, k)] = v
    kink_entries(e, relu_log)
    path = os.path.join(args.out_dir, "nb201_steps_fixture.bin")
    mf.write_fixture(path, e)
    back = mf.read_fixture(path)
    assert list(back.keys()) == list(e.keys())
    print("wrote %s: %d entries, %d bytes" % (path, len(e), os.path.getsize(path)))
    if not args.no_perturb:
        perturbation_report(model0, alpha0, data, states)


if __name__ == "__main__":
    main()
