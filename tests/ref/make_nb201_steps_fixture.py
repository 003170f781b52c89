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
from nb201_twin import NB201Supernet  # noqa: E402


def run_steps(model, alpha, data, dtype, bn1_model=None):
    """The 5 DARTS-V1 steps of make_fixtures.v1_steps, recording the whole state after each.
    bn1_model (track_bn 1, same weights) runs the same steps alongside for its statistics."""
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
        tl = mf.w_step(model, w_opt, xt, yt, alpha)[0]
        a_opt.zero_grad(set_to_none=True)
        vloss = mf.xent(model, xv, yv, alpha)
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

    states = run_steps(copy.deepcopy(model0), alpha0.clone().requires_grad_(True), data,
                       torch.float32, bn1_model=copy.deepcopy(model0_bn))
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
    path = os.path.join(args.out_dir, "nb201_steps_fixture.bin")
    mf.write_fixture(path, e)
    back = mf.read_fixture(path)
    assert list(back.keys()) == list(e.keys())
    print("wrote %s: %d entries, %d bytes" % (path, len(e), os.path.getsize(path)))
    if not args.no_perturb:
        perturbation_report(model0, alpha0, data, states)


if __name__ == "__main__":
    main()
