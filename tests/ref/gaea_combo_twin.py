#!/usr/bin/env python3
"""Writes tests/ref/gaea_combo_fixture.bin: GAEA's exponentiated-gradient (EG) arch step composed
with PC-DARTS (EEDARTS) and with GDAS (EGDAS), ALGORITHMS.md B4 (with B7 and B6), computed by
the PyTorch twins. Read by tests/ref/test_gaea_combo_twin.c, which drives the strategies
`gaea-pcdarts` and `gaea-gdas` (one arch step, weights frozen) from the same start state.

(1) gaea-pcdarts, on the PC-DARTS supernet of pcdarts_twin.py at the size of
    pcdarts_fixture.bin (C = 8, K = 4, L = 5, both reductions, full op set, batch 4, 16x16,
    train mode, name-hash weights as make_pcdarts_fixture.py). The op weights theta (2,14,9)
    and the edge weights beta (2,14) ARE the mixing weights (no softmax): each theta row is a
    point of its candidate simplex (column 8, 'noise', is not a candidate), beta a point of
    each node's incoming-edge simplex (gaea_release search_spaces/pc_darts: the edges enter
    the node sum as they are). Start: theta rows softmax(0.8 randn) with three entries at the
    1e-5 floor whose gradient is positive (so the step clamps them), beta per node
    softmax(0.8 randn). Arch loss = CE on one batch (arch weight decay 0: no entropic term,
    method_eedarts_space_pcdarts.yaml). One EG step, op lr 0.1 and edge lr 0.1:
      theta' = normalise_row(max(theta * exp(-0.1 dL/dtheta), 1e-5))  (candidates; else 0)
      beta'  = normalise_node(max(beta * exp(-0.1 dL/dbeta), 1e-5))
    (B4: clamp >= 1e-5, then renormalise; the script asserts that no beta entry comes near
    the floor, where the reference's edge update, which does not clamp, would differ.)

(2) gaea-gdas, on the small NB201 supernet (C = 8, N = 1, 10 classes, batch 8, 16x16,
    track_bn 0, name-hash weights), all 5 ops ('none' included: the EGDAS config's
    exclude_zero false). theta (6,5) rows softmax(0.7 randn). The Gumbel noise G is the one
    gdas.c draws for the first forward of a search with seed `gdas/config`[6] (Philox4x32-10 at
    key seed ^ (0x6DA5 * 0x9E3779B97F4A7C15), counter dnas_gumbel_counter(0, 0, 6, row, 0),
    G = -log(-log U), U = ((u >> 8) + 0.5) / 2^24, here in numpy, darts_net_twin.philox64);
    the seed is the first one >= 1 whose sample avoids 'none' on every edge with a top-2
    margin >= 0.05 in log theta + G. tau = 10 - 9.9 E / 249 at E = 180 epochs after the 50
    warm-up epochs (method_egdas_space_nasbench201.yaml: tau 10 -> 0.1 over 250 epochs).
      p = softmax((log theta + G) / tau), k = argmax p, h = onehot(k) - p.detach() + p,
      loss = CE of AutoDL's forward_gdas (gumbel_twin.py: only op k runs, the other h_j are
      added as zero-valued scalars) + r sum theta log(5 theta), r = 0.01,
      theta' = normalise_row(max(theta * exp(-0.01 dL/dtheta), 1e-5)).
    Also with r = 0 (the CE part alone).

Entries (float32 unless int32 is said):
  config int32 (7)          [C, L, classes, batch, image, track_bn, K] of (1)
  pc/hyper (4)              [op lr 0.1, edge lr 0.1, floor 1e-5, entropic reg 0]
  pc/x, pc/y                (4,3,16,16), int32 (4)
  pc/theta (2,14,9), pc/beta (2,14)      the start point
  pc/loss (1)               CE at the start point
  pc/grad_theta (2,14,9), pc/grad_beta (2,14)   dL/dtheta, dL/dbeta (autograd)
  pc/theta_after, pc/beta_after          after the EG step
  pc/clamped int32 (2,14,9) 1 where the theta step clamped
  gdas/config int32 (7)     [C, N, classes, batch, image, track_bn, seed]
  gdas/hyper (8)            [eg lr 0.01, entropic reg 0.01, tau_max 10, tau_min 0.1, epochs
                             250, warm-up 50, E 180, tau]
  gdas/x, gdas/y            (8,3,16,16), int32 (8)
  gdas/theta (6,5), gdas/G (6,5), gdas/p (6,5), gdas/k int32 (6)
  gdas/loss (1)             CE (without the regulariser)
  gdas/grad_ce (6,5), gdas/grad_reg (6,5), gdas/grad (6,5)   d CE / dtheta (straight through),
                            d(r sum theta log 5 theta)/dtheta, their sum
  gdas/theta_after (6,5)    the EG step with r = 0.01
  gdas/noreg/theta_after (6,5)  the EG step with r = 0

Prints the float32-vs-float64 noise floor of every computed entry. Deterministic (seeded
generators, deterministic kernels, one thread). About 20 s on 2 cores.

Usage: pip install torch numpy; python3 tests/ref/gaea_combo_twin.py [--out PATH]
"""

import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from darts_net_twin import check_philox, philox64  # noqa: E402
from gumbel_twin import forward_gdas  # noqa: E402
from make_fixtures import save_fixture  # noqa: E402
from nb201_twin import EDGES, NB201Supernet  # noqa: E402
from pcdarts_twin import PCDartsSupernet  # noqa: E402
from twin_common import deterministic, parse_out, relerr, rule_models, seeded_batch  # noqa: E402

FLOOR = 1e-5  # gaea.c GAEA_FLOOR, gaea_release normalize(min_v=1e-5)

# (1) GAEA PC-DARTS (EEDARTS): the size of pcdarts_fixture.bin; method_eedarts_space_pcdarts.yaml
PC_C, PC_L, PC_CLASSES, PC_BATCH, PC_IMAGE, PC_TRACK, PC_K = 8, 5, 10, 4, 16, 0, 4
PC_DATA_SEED = 6060
PC_ETA_OPS, PC_ETA_EDGES, PC_REG = 0.1, 0.1, 0.0
PC_COLS, PC_CAND = 9, tuple(range(8))  # 'all': columns 0..7, column 8 ('noise') not a candidate
PC_FLOOR_ROWS = ((0, 2), (0, 9), (1, 5))  # (group, edge): one entry each put at the floor
N_NODES = 4

# (2) GAEA GDAS (EGDAS) on NB201: method_egdas_space_nasbench201.yaml
G_C, G_N, G_CLASSES, G_BATCH, G_IMAGE, G_TRACK = 8, 1, 10, 8, 16, 0
G_DATA_SEED = 7171
G_ETA, G_REG = 0.01, 0.01
TAU_MAX, TAU_MIN, EPOCHS, WARMUP, E_TAU = 10.0, 0.1, 250, 50, 180
GDAS_STREAM = 0x6DA5  # gdas.c's key stream
MIN_MARGIN = 0.05
M64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------
# the EG step (B4; gaea.c dnas_eg_step)

def eg_rows(theta, g, eta, cand_mask):
    """Each row of theta (..., n): theta * exp(-eta g) on the candidates, clamped >= FLOOR
    (float32 floor), divided by the row sum (summed in float64); 0 off the candidates.
    Returns the new rows and where the clamp acted."""
    dt = theta.dtype
    t = torch.where(cand_mask, theta * torch.exp(-torch.tensor(eta, dtype=torch.float32).to(dt) * g),
                    torch.zeros((), dtype=dt))
    floor = torch.tensor(FLOOR, dtype=torch.float32).to(dt)
    clamped = cand_mask & (t < floor)
    t = torch.where(clamped, floor, t)
    return (t.double() / t.double().sum(dim=-1, keepdim=True)).to(dt), clamped


def node_slices():
    """The (start, count) of each node's incoming edges in the 14 edge rows."""
    out, start = [], 0
    for i in range(N_NODES):
        out.append((start, i + 2))
        start += i + 2
    return out


# ---------------------------------------------------------------------------------------------
# (1) GAEA PC-DARTS

class GaeaPCSupernet(PCDartsSupernet):
    """The PC-DARTS twin with GAEA's mixing: theta and beta are the mixing weights themselves."""

    def mix(self, alpha):
        return alpha

    @staticmethod
    def edge_mix(beta):
        return beta


def pc_cand_mask():
    m = torch.zeros(2, 14, PC_COLS, dtype=torch.bool)
    m[:, :, list(PC_CAND)] = True
    return m


def pc_grads(model, x, y, theta, beta):
    t = theta.clone().requires_grad_(True)
    b = beta.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x, t, b), y)
    gt, gb = torch.autograd.grad(loss, [t, b])
    return loss.detach(), gt.detach(), gb.detach()


def pc_step(model, x, y, theta, beta):
    loss, gt, gb = pc_grads(model, x, y, theta, beta)
    theta1, clamped = eg_rows(theta, gt, PC_ETA_OPS, pc_cand_mask())
    beta1 = torch.empty_like(beta)
    bclamped = torch.zeros_like(beta, dtype=torch.bool)
    for s, n in node_slices():
        beta1[:, s:s + n], bclamped[:, s:s + n] = eg_rows(beta[:, s:s + n], gb[:, s:s + n], PC_ETA_EDGES,
                                                          torch.ones(2, n, dtype=torch.bool))
    assert not bool(bclamped.any()), "a beta entry reached the floor"
    return OrderedDict(loss=loss.reshape(1), grad_theta=gt, grad_beta=gb, theta_after=theta1,
                       beta_after=beta1, clamped=clamped)


def pc_start(model, x, y, g):
    theta = torch.zeros(2, 14, PC_COLS)
    theta[:, :, :8] = F.softmax(0.8 * torch.randn(2, 14, 8, generator=g), dim=-1)
    beta = torch.empty(2, 14)
    for s, n in node_slices():
        beta[:, s:s + n] = F.softmax(0.8 * torch.randn(2, n, generator=g), dim=-1)
    for t, e in PC_FLOOR_ROWS:
        # the gradient moves when theta does: try the columns (not 'none', whose gradient is 0)
        # from the largest gradient down until the floor entry's gradient is > 0
        _, gt, _ = pc_grads(model, x, y, theta, beta)
        for k in sorted(PC_CAND[1:], key=lambda c: -float(gt[t, e, c])):
            th = theta.clone()
            others = [c for c in PC_CAND if c != k]
            th[t, e, others] *= (1 - FLOOR) / th[t, e, others].sum()
            th[t, e, k] = FLOOR
            if float(pc_grads(model, x, y, th, beta)[1][t, e, k]) > 0:
                theta = th
                break
        else:
            raise RuntimeError("no column of row (%d, %d) has a positive gradient at the floor" % (t, e))
    return theta, beta


def gaea_pcdarts(e):
    g, x, y = seeded_batch(PC_DATA_SEED, PC_BATCH, PC_IMAGE, PC_CLASSES)
    model, m64 = rule_models(lambda: GaeaPCSupernet(PC_C, PC_L, PC_CLASSES, track=bool(PC_TRACK), K=PC_K))
    theta, beta = pc_start(model, x, y, g)
    r32 = pc_step(model, x, y, theta, beta)
    r64 = pc_step(m64, x.double(), y, theta.double(), beta.double())
    assert torch.equal(r32["clamped"], r64["clamped"])
    n_cl = int(r32["clamped"].sum())
    assert n_cl == len(PC_FLOOR_ROWS), "the step clamps %d entries" % n_cl
    print("gaea-pcdarts C=%d L=%d K=%d: loss %.7f, clamped %d; float32 vs float64: loss %.2e, "
          "grad theta %.2e / %.2e, grad beta %.2e / %.2e, theta' %.2e / %.2e, beta' %.2e / %.2e "
          "(normal / reduce)"
          % (PC_C, PC_L, PC_K, r32["loss"].item(), n_cl, relerr(r32["loss"], r64["loss"]),
             relerr(r32["grad_theta"][0], r64["grad_theta"][0]), relerr(r32["grad_theta"][1], r64["grad_theta"][1]),
             relerr(r32["grad_beta"][0], r64["grad_beta"][0]), relerr(r32["grad_beta"][1], r64["grad_beta"][1]),
             relerr(r32["theta_after"][0], r64["theta_after"][0]), relerr(r32["theta_after"][1], r64["theta_after"][1]),
             relerr(r32["beta_after"][0], r64["beta_after"][0]), relerr(r32["beta_after"][1], r64["beta_after"][1])))
    c = pc_cand_mask()
    rel = ((r32["theta_after"] - r64["theta_after"]).abs() / r64["theta_after"].abs())[c].max().item()
    relb = ((r32["beta_after"] - r64["beta_after"]).abs() / r64["beta_after"].abs()).max().item()
    print("  elementwise relative, float32 vs float64: theta' %.2e, beta' %.2e; how far the step moves "
          "them (max |log ratio|): theta %.3g, beta %.3g"
          % (rel, relb, (r32["theta_after"][c] / theta[c]).log().abs().max().item(),
             (r32["beta_after"] / beta).log().abs().max().item()))
    e["config"] = torch.tensor([PC_C, PC_L, PC_CLASSES, PC_BATCH, PC_IMAGE, PC_TRACK, PC_K], dtype=torch.int32)
    e["pc/hyper"] = torch.tensor([PC_ETA_OPS, PC_ETA_EDGES, FLOOR, PC_REG])
    e["pc/x"], e["pc/y"] = x, y.to(torch.int32)
    e["pc/theta"], e["pc/beta"] = theta, beta
    for k in ("loss", "grad_theta", "grad_beta", "theta_after", "beta_after"):
        e["pc/" + k] = r32[k]
    e["pc/clamped"] = r32["clamped"].to(torch.int32)


# ---------------------------------------------------------------------------------------------
# (2) GAEA GDAS

def gdas_key(seed):
    return (seed ^ ((GDAS_STREAM * 0x9E3779B97F4A7C15) & M64)) & M64


def gumbel_counter(step, call, rows, row, attempt):
    return ((((step * 8 + (call & 7)) * rows + row) * 16 + attempt) * 4) & M64


def gdas_noise(seed, rows, cols):
    """gumbel.c dnas_gumbel_noise at gdas.c's draw of step 0, forward 0, try 0 (every column a
    candidate): G[r, k] = (float)-log(-log U), U = ((word >> 8) + 0.5) / 2^24 in double."""
    G = np.zeros((rows, cols), dtype=np.float32)
    key = gdas_key(seed)
    for r in range(rows):
        ctr = gumbel_counter(0, 0, rows, r, 0)
        words = philox64(key, [ctr + k // 4 for k in range(0, cols, 4)])
        for k in range(cols):
            u = int(words[k // 4][k % 4])
            U = ((u >> 8) + 0.5) * (1.0 / 16777216.0)
            G[r, k] = np.float32(-math.log(-math.log(U)))
    return torch.from_numpy(G)


def gdas_seed(theta):
    """The first seed whose draw avoids 'none' on every edge with a top-2 margin >= MIN_MARGIN."""
    lt = torch.log(theta.double())
    for seed in range(1, 10000):
        G = gdas_noise(seed, theta.shape[0], theta.shape[1])
        x = lt + G.double()
        top = torch.topk(x, 2, dim=-1).values
        if bool((x.argmax(dim=-1) != 0).all()) and float((top[:, 0] - top[:, 1]).min()) >= MIN_MARGIN:
            return seed, G
    raise RuntimeError("no seed below 10000 fits")


def gdas_tau():
    """gumbel.c dnas_gdas_temperature at E epochs after the warm-up (double, then float)."""
    return float(np.float32(TAU_MAX - (TAU_MAX - TAU_MIN) * E_TAU / (EPOCHS - 1)))


def gdas_step(model, x, y, theta, G, tau, reg):
    t = theta.clone().requires_grad_(True)
    p = F.softmax((torch.log(t) + G.to(t.dtype)) / tau, dim=-1)
    k = p.detach().argmax(dim=-1)
    h = F.one_hot(k, theta.shape[1]).to(p.dtype) - p.detach() + p
    ce = F.cross_entropy(forward_gdas(model, x, h, k.tolist()), y)
    (g_ce,) = torch.autograd.grad(ce, [t])
    t2 = theta.clone().requires_grad_(True)
    (g_reg,) = torch.autograd.grad(reg * (t2 * torch.log(t2 * theta.shape[1])).sum(), [t2])
    g = g_ce + g_reg
    theta1, clamped = eg_rows(theta, g, G_ETA, torch.ones_like(theta, dtype=torch.bool))
    assert not bool(clamped.any())
    return OrderedDict(p=p.detach(), k=k, loss=ce.detach().reshape(1), grad_ce=g_ce, grad_reg=g_reg.detach(),
                       grad=g, theta_after=theta1)


def gaea_gdas(e):
    g, x, y = seeded_batch(G_DATA_SEED, G_BATCH, G_IMAGE, G_CLASSES)
    rows = len(EDGES)
    theta = F.softmax(0.7 * torch.randn(rows, 5, generator=g), dim=-1)
    seed, G = gdas_seed(theta)
    tau = gdas_tau()
    model, m64 = rule_models(lambda: NB201Supernet(G_C, G_N, G_CLASSES, track_bn=bool(G_TRACK)))
    r32 = gdas_step(model, x, y, theta, G, tau, G_REG)
    r64 = gdas_step(m64, x.double(), y, theta.double(), G, tau, G_REG)
    n32 = gdas_step(model, x, y, theta, G, tau, 0.0)
    n64 = gdas_step(m64, x.double(), y, theta.double(), G, tau, 0.0)
    assert torch.equal(r32["k"], r64["k"])
    print("gaea-gdas NB201 C=%d N=%d: seed %d, tau %.6f, sampled ops %s, loss %.7f; float32 vs float64: p %.2e, "
          "loss %.2e, grad CE %.2e, grad reg %.2e, grad %.2e, theta' %.2e, theta' (r = 0) %.2e"
          % (G_C, G_N, seed, tau, r32["k"].tolist(), r32["loss"].item(), relerr(r32["p"], r64["p"]),
             relerr(r32["loss"], r64["loss"]), relerr(r32["grad_ce"], r64["grad_ce"]),
             relerr(r32["grad_reg"], r64["grad_reg"]), relerr(r32["grad"], r64["grad"]),
             relerr(r32["theta_after"], r64["theta_after"]), relerr(n32["theta_after"], n64["theta_after"])))
    print("  |grad CE| max %.3g, |grad reg| max %.3g; how far the step moves theta (max |log ratio|) %.3g"
          % (r32["grad_ce"].abs().max().item(), r32["grad_reg"].abs().max().item(),
             (r32["theta_after"] / theta).log().abs().max().item()))
    e["gdas/config"] = torch.tensor([G_C, G_N, G_CLASSES, G_BATCH, G_IMAGE, G_TRACK, seed], dtype=torch.int32)
    e["gdas/hyper"] = torch.tensor([G_ETA, G_REG, TAU_MAX, TAU_MIN, EPOCHS, WARMUP, E_TAU, tau])
    e["gdas/x"], e["gdas/y"] = x, y.to(torch.int32)
    e["gdas/theta"], e["gdas/G"] = theta, G
    e["gdas/p"], e["gdas/k"] = r32["p"], r32["k"].to(torch.int32)
    for k in ("loss", "grad_ce", "grad_reg", "grad", "theta_after"):
        e["gdas/" + k] = r32[k]
    e["gdas/noreg/theta_after"] = n32["theta_after"]


def main():
    args = parse_out("gaea_combo_fixture.bin", __doc__)
    deterministic()
    check_philox()
    e = OrderedDict()
    gaea_pcdarts(e)
    gaea_gdas(e)
    size = save_fixture(args.out, e, check_values=True)
    print("wrote %s: %d entries, %d bytes" % (args.out, len(e), size))


if __name__ == "__main__":
    main()
