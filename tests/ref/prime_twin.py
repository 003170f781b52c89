#!/usr/bin/env python3
"""Writes tests/ref/prime_fixture.bin: DARTS-PRIME's mixing transform, loss, alpha gradient and
regularisers (ALGORITHMS-2.md section B) computed by a PyTorch twin, for
tests/ref/test_prime_twin.c. Written from the specification (section B(a), B(b)); the supernet
is darts_twin.py's DARTS search network with the per-node BN ("statebn") added here, its weights
set by make_darts_fixture.py's name-hash rule (so nothing but alpha, the batch and results is
stored, and both sides start bit-identical).

Configuration: DARTS space, C = 4, L = 5 layers (reduction cells 1 and 3), 10 classes, batch 4,
16x16, cell BN without running statistics, train mode (batch statistics), as darts_fixture.bin.
alpha has the C layout (2, 14, 9): cell type (normal, reduce) x edge x the 8 DARTS columns
plus 'noise' (never a candidate here).

The transform a(alpha), written from the specification:
  softmax  a = softmax over each row's candidates (the 8 columns, 'none' included), 0 elsewhere;
  clip     a = clip(alpha, 0, 1) on live entries (candidate without 'none', and not pruned),
           0 elsewhere. The mask M prunes every entry that was <= 0 after a weight step
           (clip/alpha_pre below); clip/alpha then holds POSITIVE values on the pruned entries
           (so only the mask can zero them), entries above 1 (the clip is active), one entry
           exactly 1.0 and live entries below 0.
  The clip's gradient passes on 0 <= alpha <= 1, bounds included: the subgradient of the torch
  1.x clamp the reference ran with (pytorch PR 7049). torch 2.15's scalar clamp gives 0 at the
  bounds, so the twin does not use clamp's autograd (see README).
  With statebn each intermediate node's sum goes through BatchNorm without affine parameters
  (batch statistics, eps 1e-5) before later nodes and the concat read it.

D(w): the projection onto discrete cells (the DARTS genotype rule): per node, the 2 incoming
edges with the largest best non-'none' candidate weight, and that op on each, as a 0/1 matrix.
Every decision D makes in this fixture has a margin of at least MIN_MARGIN (checked), so
float32 round-off cannot flip it on either side.

Regularisers (sum over the two cell types g; a = a(alpha), D on detached values):
  prox         (t/T) (rho/2) ||(a_g - D(a_g)) . cand||_2
  admm code    (rho/2) ||(a_g - Z_g + U_g) . M||_2
  admm clean   (rho/2) ||(a_g - Z_g + U_g) . M||_2^2
ADMM Z/U updates: code Z' = D(a(alpha + U)), U' = U + (alpha - Z') . M;
                  clean Z' = D(a(alpha) + U over live ops), U' = U + (a(alpha) - Z') . M.
Regulariser values and gradients are computed in float64 from the float32 alpha.

Entries (float32 unless int32 is said):
  config int32 (6)             [C, L, classes, batch, image, track_bn]
  prime/hyper (3)              [rho, t, T]: the penalty weight, the clock (fractional epochs) at
                               the alpha step and the total epochs of the prox ramp t/T
  x (4,3,16,16), y int32 (4)   the batch (the alpha step's validation batch)
  clip/alpha_pre (2,14,9)      alpha at the weight step whose mask rule prunes alpha <= 0
  clip/mask int32 (2,14,9)     1 live, 0 pruned or not a candidate ('none', 'noise')
  clip/alpha (2,14,9)          alpha at the alpha step
  {sec}mix (2,14,9)            a(alpha): the mixing weights
  {sec}out/logits (4,10), {sec}out/loss (1)
  {sec}grad/stem.0.weight, {sec}grad/classifier.weight, {sec}grad/classifier.bias
  {sec}grad/alpha (2,14,9)     dloss/dalpha (0 on non-candidates)
    sec = clip/ (statebn on, the default with clip), softmax/ (statebn off, the default),
          softmax_bn/ (softmax with --state-bn 1; alpha = softmax/alpha)
  softmax/alpha (2,14,9)       0.5 randn on the 8 columns
  pen/{act}/z, pen/{act}/u     ADMM state for the penalty: Z a projection of a random point,
                               U = 0.05 randn on live entries (act = clip, softmax; softmax: M = cand)
  pen/{act}/{prox,admm_code,admm_clean}/value (1), .../galpha (2,14,9)
                               the regulariser and its alpha gradient at {act}/alpha, with
                               prox scale (t/T) rho/2 and ADMM scale rho/2
  pen/{act}/update_{code,clean}/z, .../u   Z', U' of the ADMM update from (alpha, Z, U)
  step/{clip_prox,softmax_prox,clip_admm_code,clip_admm_clean}/galpha
                               the whole alpha step's gradient d(L_val + regulariser)/dalpha
                               (clip: statebn on; softmax: off), the ADMM ones at pen/clip/z, u

Usage: pip install torch numpy; python3 tests/ref/prime_twin.py [--out PATH]   (a few seconds)
"""
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from darts_twin import DartsSupernet, N_NODES, N_EDGES, NONE, edge_index  # noqa: E402
from make_darts_fixture import C, L, CLASSES, BATCH, IMAGE, TRACK_BN  # noqa: E402
from make_fixtures import save_fixture  # noqa: E402
from twin_common import deterministic, parse_out, relerr, rule_models, seeded_batch  # noqa: E402

COLS = 9
DATA_SEED = 14141
RHO, CLOCK, EPOCHS = 0.1, 1.5, 5.0
MIN_MARGIN = 1e-5
BN_EPS = 1e-5
GRAD_PARAMS = ("stem.0.weight", "classifier.weight", "classifier.bias")

# clip/alpha's hand-placed entries: (cell type, edge, column) -> value. Pruned ones are <= 0 in
# alpha_pre (one exactly 0) and positive at the alpha step. Edges of node i: i(i+3)/2 + j.
PRUNED = {(0, 0, 2): -0.2, (0, 3, 5): 0.0, (0, 9, 4): -0.05, (1, 1, 7): -0.3, (1, 6, 1): 0.0,
          (1, 12, 3): -0.1}
PRUNED_LATER = 0.7
ABOVE = {(0, 1, 4): 1.3, (0, 4, 6): 1.0, (0, 7, 3): 2.5, (1, 3, 2): 1.6, (1, 10, 7): 1.0}
BELOW = {(0, 11, 6): -0.15, (1, 5, 1): -0.05}


def cand_mask(clip):
    c = torch.zeros(2, N_EDGES, COLS, dtype=torch.bool)
    c[:, :, 1 if clip else 0:8] = True  # columns 0..7 = the DARTS ops; clip drops 'none'
    return c


def act(alpha, live, clip):
    """a(alpha), differentiable; live = candidates (softmax) or candidates and not pruned (clip)."""
    if clip:
        inside = (alpha >= 0) & (alpha <= 1)  # the gradient passes on [0, 1], bounds included
        return torch.where(inside & live, alpha, alpha.detach().clamp(0, 1) * live)
    return torch.softmax(alpha.masked_fill(~live, float("-inf")), dim=-1).masked_fill(~live, 0.0)


def project(w, cand):
    """D(w) as a 0/1 numpy matrix, and the smallest margin of its decisions."""
    w = np.asarray(w, dtype=np.float64)
    z, margin = np.zeros_like(w), math.inf
    for t in range(2):
        for i in range(N_NODES):
            best, score, gap = [], [], []
            for j in range(i + 2):
                r = edge_index(i, j)
                ks = [k for k in range(COLS) if k != NONE and cand[t, r, k]]
                v = w[t, r, ks]
                o = np.argsort(-v, kind="stable")
                best.append(ks[o[0]])
                score.append(v[o[0]])
                gap.append(v[o[0]] - v[o[1]] if len(ks) > 1 else math.inf)
            order = np.argsort(-np.array(score), kind="stable")
            for j in order[:2]:
                z[t, edge_index(i, j), best[j]] = 1.0
                margin = min(margin, gap[j])
            if i + 2 > 2:
                margin = min(margin, score[order[1]] - score[order[2]])
    return z, margin


def forward(model, x, w, node_bn):
    """darts_twin's supernet with mixing weights w (2, 14, 9) and optional BN on node sums."""
    s0 = s1 = model.stem(x)
    for cell in model.cells:
        wt = w[1] if cell.reduction else w[0]
        states = [cell.preprocess0(s0), cell.preprocess1(s1)]
        for i in range(N_NODES):
            s = sum(cell._ops[edge_index(i, j)](h, wt[edge_index(i, j)])
                    for j, h in enumerate(states))
            if node_bn:
                s = F.batch_norm(s, None, None, training=True, eps=BN_EPS)
            states.append(s)
        s0, s1 = s1, torch.cat(states[2:], dim=1)
    return model.classifier(model.global_pooling(s1).flatten(1))


def loss_and_grads(model, x, y, alpha, live, clip, node_bn):
    model.zero_grad(set_to_none=True)
    a = alpha.clone().requires_grad_(True)
    w = act(a, live, clip)
    logits = forward(model, x, w, node_bn)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    params = dict(model.named_parameters())
    grads = OrderedDict((n, params[n].grad.detach().clone()) for n in GRAD_PARAMS)
    return w.detach(), logits.detach(), loss.detach().reshape(1), grads, a.grad.detach().clone()


def penalty(alpha, cand, live, clip, kind, z=None, u=None):
    """The regulariser's value and alpha gradient, float64."""
    a64 = alpha.double().clone().requires_grad_(True)
    a = act(a64, live, clip)
    total = a64.new_zeros(())
    d = torch.from_numpy(project(a.detach().numpy(), cand)[0]) if kind == "prox" else None
    for g in range(2):
        if kind == "prox":
            r = (a[g] - d[g]) * cand[g]
            total = total + (CLOCK / EPOCHS) * RHO / 2 * r.norm()
        else:
            r = (a[g] - z[g].double() + u[g].double()) * live[g]
            total = total + RHO / 2 * (r.pow(2).sum() if kind == "admm_clean" else r.norm())
    (ga,) = torch.autograd.grad(total, [a64])
    return total.detach().reshape(1), ga * cand


def admm_update(alpha, cand, live, clip, z, u, clean):
    """Z', U' of one ADMM update, and D's margin; float64."""
    a64, u64 = alpha.double(), u.double()
    if clean:
        a = act(a64, live, clip)
        # pruned ops cannot be chosen (prime.c: their U is stale from when they were live)
        zn, margin = project((a + u64).masked_fill(live == 0, float("-inf")).numpy(), cand)
        zn = torch.from_numpy(zn)
        return zn, u64 + (a - zn) * live, margin
    zn, margin = project(act(a64 + u64, live, clip).numpy(), cand)
    zn = torch.from_numpy(zn)
    return zn, u64 + (a64 - zn) * live, margin


def main():
    args = parse_out("prime_fixture.bin")
    deterministic()

    g, x, y = seeded_batch(DATA_SEED, BATCH, IMAGE, CLASSES)
    cand_c, cand_s = cand_mask(True), cand_mask(False)

    # clip alphas: 0.1 + 0.5 U(0,1) on the candidates, then the hand-placed entries
    pre = (0.1 + 0.5 * torch.rand(2, N_EDGES, COLS, generator=g)) * cand_c
    for k, v in PRUNED.items():
        pre[k] = v
    mask = cand_c & (pre > 0)  # the weight step's rule: alpha <= 0 is pruned for good
    alpha_c = pre.clone()
    for k in PRUNED:
        alpha_c[k] = PRUNED_LATER
    for k, v in list(ABOVE.items()) + list(BELOW.items()):
        alpha_c[k] = v
        pre[k] = v if v > 0 else 0.3  # live at the weight step
    assert int((cand_c & ~mask).sum()) == len(PRUNED)
    alpha_s = 0.5 * torch.randn(2, N_EDGES, COLS, generator=g) * cand_s

    e = OrderedDict()
    e["config"] = torch.tensor([C, L, CLASSES, BATCH, IMAGE, TRACK_BN], dtype=torch.int32)
    e["prime/hyper"] = torch.tensor([RHO, CLOCK, EPOCHS])
    e["x"], e["y"] = x, y.to(torch.int32)
    e["clip/alpha_pre"], e["clip/mask"], e["clip/alpha"] = pre, mask.to(torch.int32), alpha_c
    e["softmax/alpha"] = alpha_s

    model, m64 = rule_models(lambda: DartsSupernet(C, L, CLASSES, ops="all", track=bool(TRACK_BN)))
    galpha = {}
    for sec, alpha, live, clip, node_bn in (("clip/", alpha_c, mask, True, True),
                                            ("softmax/", alpha_s, cand_s, False, False),
                                            ("softmax_bn/", alpha_s, cand_s, False, True)):
        w, logits, loss, grads, ga = loss_and_grads(model, x, y, alpha, live, clip, node_bn)
        w64, l64, s64, g64, ga64 = loss_and_grads(m64, x.double(), y, alpha.double(), live, clip,
                                                  node_bn)
        print("%-11s loss %.7f; float32 vs float64: logits %.2e, loss %.2e, alpha grad %.2e, "
              "stem grad %.2e" % (sec, loss.item(), relerr(logits, l64), relerr(loss, s64),
                                  relerr(ga, ga64), relerr(grads["stem.0.weight"],
                                                           g64["stem.0.weight"])))
        e[sec + "mix"] = w
        e[sec + "out/logits"], e[sec + "out/loss"] = logits, loss
        for n, t in grads.items():
            e[sec + "grad/" + n] = t
        e[sec + "grad/alpha"] = ga * (cand_c if clip else cand_s)
        galpha[sec] = ga.double() * (cand_c if clip else cand_s)

    # The regularisers and the ADMM update, at each activation's alpha.
    margins = []
    for name, alpha, cand, live, clip in (("clip", alpha_c, cand_c, mask, True),
                                          ("softmax", alpha_s, cand_s, cand_s, False)):
        zsrc = torch.rand(2, N_EDGES, COLS, generator=g) * live
        z = torch.from_numpy(project(zsrc.numpy(), cand)[0]).float()
        u = 0.05 * torch.randn(2, N_EDGES, COLS, generator=g) * live
        p = "pen/%s/" % name
        e[p + "z"], e[p + "u"] = z, u
        margins.append(project(act(alpha.double(), live, clip).numpy(), cand)[1])
        for kind in ("prox", "admm_code", "admm_clean"):
            v, ga = penalty(alpha, cand, live, clip, kind, z, u)
            e[p + kind + "/value"], e[p + kind + "/galpha"] = v, ga
            print("%s %-10s %.6f, |galpha| max %.3g" % (p, kind, v.item(), ga.abs().max().item()))
            if name == "clip" or kind == "prox":
                tot = galpha["clip/" if clip else "softmax/"] + ga
                e["step/%s_%s/galpha" % (name, kind)] = tot
        for mode in ("code", "clean"):
            zn, un, mg = admm_update(alpha, cand, live, clip, z, u, mode == "clean")
            margins.append(mg)
            e[p + "update_%s/z" % mode], e[p + "update_%s/u" % mode] = zn, un
    print("smallest margin of D's decisions: %.3g (needs >= %g)" % (min(margins), MIN_MARGIN))
    assert min(margins) >= MIN_MARGIN, margins

    # Document the clamp convention of this torch (the twin does not depend on it).
    t1 = torch.tensor([0.0, 1.0], requires_grad=True)
    torch.clamp(t1, 0.0, 1.0).sum().backward()
    print("torch %s clamp(0, 1) gradient at 0 and 1: %s (the twin passes it: bounds included)"
          % (torch.__version__, t1.grad.tolist()))

    size = save_fixture(args.out, e)
    print("wrote %s: %d entries, %d bytes" % (args.out, len(e), size))


if __name__ == "__main__":
    main()
