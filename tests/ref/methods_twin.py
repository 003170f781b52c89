#!/usr/bin/env python3
"""Writes tests/ref/methods_fixture.bin: the seed methods (ALGORITHMS.md B2 iDARTS, B4 GAEA,
B3 DARTS-PT scoring) computed by the PyTorch twin (nb201_twin.py) on the small NB201 supernet
of the other fixtures (C=8, N=1, 10 classes, batch 8, track_bn 0, PyTorch default init from
make_fixtures.MODEL_SEED, so param/* equals the other fixtures' start state). Read by
tests/ref/test_methods_twin.c. About 20 s on 2 cores, deterministic (same bytes on re-run with
the same torch build; checked with torch 2.15.0). Writer/reader: make_fixtures.py (DNASFIX1).

Entries (float32 unless int32 is said; (6,5) = edges x ops as in README.md):
  config                int32 [C, N, classes, batch, image 16, track_bn, 0]
  param/<name>          the start weights (every parameter); running statistics start at 0 / 1
  idarts/hyper          [gamma 0.025, K 2, eps 0.01]
  idarts/{xt,yt,xv,yv}  train / valid batch (8,3,16,16), int32 (8)
  idarts/alpha (6,5)    0.5 randn (softmax mix over all 5 ops)
  idarts/ga_val         dL_val/dalpha at the start weights
  idarts/mixed          d/dalpha (dL_tr/dw . S) as idarts.c forms it (float32 replay): S = sum_{k<=K}
                        v_k, v_{k+1} = v_k - gamma H v_k, v_0 = dL_val/dw, H v by central
                        differences at w +- r v, r = (float)(eps/|v|), (g+ - g-) * (1/(2r)); the
                        mixed term by central differences of dL_tr/dmix at w +- R S, R = eps/|v0|,
                        then the softmax backward m (gm - sum m gm)
  idarts/galpha         ga_val - gamma mixed: what dnas_idarts_hypergradient must give
  idarts/{mixed,galpha}_exact  the same with exact (double-backprop) H v and mixed term, float64
  idarts/{mixed,galpha}_ref    the reference notebook's recipe: exact H v, finite-difference
                        mixed term, float64
  idarts/v0/<name>, idarts/D/<name>, idarts/D_exact/<name>  for the tensors outside the cells and
                        those of cells.0 (cell conv biases left out): v0, and the Neumann part
                        D = 2 H v0 + H v1 (finite differences; exact)
  gaea/hyper            [lr 0.025, momentum 0.9, wd 3e-4, clip 5, eta 0.1, floor 1e-5, entropy reg 0.01]
  gaea/{xt,yt,xv,yv}    train / valid batch
  gaea/theta (6,5)      start theta on the no-none simplex (column 0 = 0), three entries at the
                        1e-5 floor with a positive gradient, so the EG step clamps them
  gaea/clamped int32 (6,5)  1 where the unregularised step clamped
  gaea/{plain,ent}/{theta_after,train_loss,valid_loss,grad_norm}  one step (theta EG step on
                        the valid batch, then loss / backward / clip_grad_norm_(5) / SGD without
                        Nesterov on the train batch with the new theta), entropy reg 0 and 0.01
  gaea/plain/param_after/<name>, gaea/plain/buffer_after/<name>  every weight and statistic after
  gaea/ent/param_after/<name>   the idarts/D subset of tensors after the regularised step
  pt/config int32       [image 32, images 32, decided row 2, its op 3]
  pt/pixels int32       (32*3*32*32/4): the uint8 CIFAR-layout pixels, 4 per int32 little-endian
  pt/labels int32 (32)  the base mix's own predictions
  pt/alpha (6,5)        0.5 randn; pt/mix = softmax(alpha) with row 2 one-hot (op 3)
  pt/{loss,acc} (6,5)   mean loss and accuracy (%) over the 32 images (4 batches of 8, train-mode
                        BN, pixels normalised as data/loader.c does) with mix[r][k] set to 0
  pt/base_loss, pt/base_acc  the same unmasked
  pt/choice int32 (6)   per row the first op of lowest accuracy (DARTS-PT's pick)
  pt/margin             smallest top-1/top-2 logit gap relative to the batch's max |logit|
                        over the 31 x 32 predictions (>= 1e-4 by the choice of the image seed)

Prints the float32-vs-float64 noise floor and the finite-difference-vs-exact gap of iDARTS.

Usage: pip install torch numpy; python3 tests/ref/methods_twin.py [--out PATH]
"""

import copy
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (BATCH, CLASSES, IMAGE, buffer_items, config_and_params,  # noqa: E402
                           forward_mix, is_cell_conv_bias, new_model, param_items, save_fixture)
from twin_common import deterministic, parse_out, random_batch, relerr  # noqa: E402

DATA_SEED = 31337
# iDARTS (idarts.c): K Neumann terms, step gamma, finite-difference eps (graph/hvp.h, 0.01)
ID_GAMMA, ID_K, FD_EPS = 0.025, 2, 0.01
# GAEA defaults of config.c (gaea_release NB201): SGD lr/momentum/wd, no Nesterov, clip 5, EG lr
GA_LR, GA_MOM, GA_WD, GA_CLIP, GA_ETA, GA_FLOOR, GA_ENT = 0.025, 0.9, 3e-4, 5.0, 0.1, 1e-5, 0.01
GA_CAND = (1, 2, 3, 4)  # --ops no-none
# DARTS-PT scoring: 32 images of 32x32 (the loader's size) in 4 batches, row 2 decided as op 3
PT_IMAGE, PT_N, PT_FIXED_ROW, PT_FIXED_OP = 32, 32, 2, 3
PT_MIN_MARGIN = 1e-4  # relative top-1/top-2 logit margin, ~100x the logits' float error
CIFAR10_MEAN, CIFAR10_STD = (125.3, 123.0, 113.9), (63.0, 62.1, 66.7)  # data/cifar.c


def set_weights(params, ws):
    with torch.no_grad():
        for p, v in zip(params, ws):
            p.copy_(v)


def sumsq(vs):
    return float(sum((v.double() ** 2).sum() for v in vs))


def softmax_backward(m, gm):
    """mix.c's dnas_mix_softmax_backward: ga = m * (gm - sum(m * gm)) per row."""
    return m * (gm - (m * gm).sum(dim=1, keepdim=True))


# ---------------------------------------------------------------------------------------------
# iDARTS

def idarts(model0, alpha0, d, dtype, eps=FD_EPS):
    """The hypergradient of idarts.c at the start weights, in `dtype`, both ways:
    fd:    v0 = dL_val/dw; S = sum_{k<=K} v_k, v_{k+1} = v_k - gamma (H v_k), H v by central
           differences of weight gradients at w +- r v, r = eps/|v|; mixed term by central
           differences of dL_tr/dmix at w +- R S, R = eps/|v0|, through the softmax backward;
    exact: the same with H v = d/dw (dL_tr/dw . v) and mixed = d/dalpha (dL_tr/dw . S) by double
           backprop. g = dL_val/dalpha - gamma * mixed."""
    out = OrderedDict()
    model = copy.deepcopy(model0).to(dtype).train()
    names = [k for k, _ in param_items(model)]
    params = [p for _, p in param_items(model)]
    w0 = [p.detach().clone() for p in params]
    xt, yt, xv, yv = d["xt"].to(dtype), d["yt"], d["xv"].to(dtype), d["yv"]
    gamma = torch.tensor(ID_GAMMA, dtype=dtype)
    alpha = alpha0.to(dtype).clone().requires_grad_(True)
    mix = F.softmax(alpha.detach(), dim=-1)

    gs = torch.autograd.grad(F.cross_entropy(model(xv, alpha), yv), params + [alpha])
    v0, ga_val = [g.detach() for g in gs[:-1]], gs[-1].detach()

    def grads_at(ws):
        set_weights(params, ws)
        m = mix.clone().requires_grad_(True)
        gs = torch.autograd.grad(F.cross_entropy(forward_mix(model, xt, m), yt), params + [m])
        return [g.detach() for g in gs[:-1]], gs[-1].detach()

    def fd(v, eps):
        """hvp.c: r = (float)(eps / |v|) (|v| in double), (grad(w+rv) - grad(w-rv)) * (1/(2r))."""
        r = torch.tensor(eps / math.sqrt(sumsq(v)), dtype=dtype)
        gp, mp = grads_at([a + r * b for a, b in zip(w0, v)])
        gm, mm = grads_at([a - r * b for a, b in zip(w0, v)])
        set_weights(params, w0)
        inv = 1.0 / (2.0 * r)
        return [(a - b) * inv for a, b in zip(gp, gm)], (mp - mm) * inv

    def exact_hvp(v):
        set_weights(params, w0)
        gw = torch.autograd.grad(F.cross_entropy(model(xt, alpha.detach()), yt), params, create_graph=True)
        return [h.detach() for h in torch.autograd.grad(sum((g * u).sum() for g, u in zip(gw, v)), params)]

    def exact_mixed(S):
        set_weights(params, w0)
        a = alpha.detach().clone().requires_grad_(True)
        gw = torch.autograd.grad(F.cross_entropy(model(xt, a), yt), params, create_graph=True)
        (h,) = torch.autograd.grad(sum((g * u).sum() for g, u in zip(gw, S)), [a])
        return h.detach()

    # "ref": the reference notebook's mix, exact H v in the Neumann terms and the mixed term
    # by finite differences
    for kind in ("fd", "exact", "ref"):
        vk, S, hvs = list(v0), list(v0), []
        for _ in range(ID_K):
            hv = fd(vk, eps)[0] if kind == "fd" else exact_hvp(vk)
            hvs.append(hv)
            vk = [a - gamma * b for a, b in zip(vk, hv)]
            S = [a + b for a, b in zip(S, vk)]
        if kind != "exact":
            # R = 0.01 / |v0|, passed to the helper as eps = 0.01 |S| / |v0|
            n0, nS = math.sqrt(sumsq(v0)), math.sqrt(sumsq(S))
            mixed = softmax_backward(mix, fd(S, eps * nS / n0)[1])
        else:
            mixed = exact_mixed(S)
        sfx = "" if kind == "fd" else "_" + kind
        out["mixed" + sfx] = mixed
        out["galpha" + sfx] = ga_val - gamma * mixed
        # D = 2 H v0 + H v1 (= (3 v0 - S) / gamma for K = 2): the Neumann part alone
        if kind != "ref":
            for k, a, b in zip(names, hvs[0], hvs[1]):
                out["D%s/%s" % (sfx, k)] = 2 * a + b
        out["normS" + sfx] = torch.tensor([math.sqrt(sumsq(S))], dtype=torch.float64)
    out["ga_val"] = ga_val
    for k, v in zip(names, v0):
        out["v0/" + k] = v
    return out


# ---------------------------------------------------------------------------------------------
# GAEA

def gaea_grad_theta(model, theta, x, y, reg):
    """dL/dtheta of the arch loss (CE + reg * sum_cand theta log(theta |O|)), with the loss."""
    t = theta.clone().requires_grad_(True)
    ce = F.cross_entropy(forward_mix(model, x, t), y)
    cand = t[:, list(GA_CAND)]
    loss = ce + reg * (cand * torch.log(cand * len(GA_CAND))).sum() if reg > 0 else ce
    (g,) = torch.autograd.grad(loss, [t])
    return g.detach(), ce.detach()


def eg_step(theta, g, dtype):
    """gaea.c dnas_eg_step: theta * exp(-eta g) on the candidates, clamp >= 1e-5 (float),
    renormalise each row (sum in double); non-candidates 0. Returns theta and the clamped mask."""
    t = torch.zeros_like(theta)
    c = list(GA_CAND)
    t[:, c] = theta[:, c] * torch.exp(-torch.tensor(GA_ETA, dtype=dtype) * g[:, c])
    floor = torch.tensor(GA_FLOOR, dtype=torch.float32).to(dtype)
    clamped = torch.zeros_like(theta, dtype=torch.bool)
    clamped[:, c] = t[:, c] < floor
    t = torch.where(clamped, floor, t)
    return (t.double() / t.double().sum(dim=1, keepdim=True)).to(dtype), clamped


def gaea(model0, theta0, d, dtype, reg):
    """One GAEA step (gaea.c: arch step first): theta EG step on (xv, yv), then the weight step
    on (xt, yt) with the new theta: loss, backward, clip_grad_norm_(5), SGD without Nesterov."""
    out = OrderedDict()
    model = copy.deepcopy(model0).to(dtype).train()
    theta = theta0.to(dtype)
    g, vloss = gaea_grad_theta(model, theta, d["xv"].to(dtype), d["yv"], reg)
    theta1, clamped = eg_step(theta, g, dtype)
    opt = torch.optim.SGD(model.parameters(), lr=GA_LR, momentum=GA_MOM, weight_decay=GA_WD, nesterov=False)
    opt.zero_grad(set_to_none=True)
    tloss = F.cross_entropy(forward_mix(model, d["xt"].to(dtype), theta1), d["yt"])
    tloss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), GA_CLIP)
    opt.step()
    out["grad_theta"] = g
    out["theta_after"] = theta1
    out["clamped"] = clamped
    out["train_loss"] = tloss.detach().reshape(1)
    out["valid_loss"] = vloss.reshape(1)
    out["grad_norm"] = norm.detach().reshape(1)
    for k, p in param_items(model):
        out["param_after/" + k] = p.detach().clone()
    for k, b in buffer_items(model):
        out["buffer_after/" + k] = b.detach().clone()
    return out


def gaea_start_theta(model0, d, g):
    """A non-uniform start theta on the no-none simplex with some entries at the 1e-5 floor
    whose gradient is positive, so that the EG step's clamp acts there."""
    theta = torch.zeros(6, 5)
    theta[:, 1:] = F.softmax(0.8 * torch.randn(6, 4, generator=g), dim=-1)
    model = copy.deepcopy(model0).float().train()
    for row in (0, 3, 5):
        # the gradient moves when theta does: try the columns until the floor entry's is > 0
        grad, _ = gaea_grad_theta(model, theta, d["xv"], d["yv"], 0.0)
        for k in sorted(GA_CAND, key=lambda c: -float(grad[row, c])):
            t = theta.clone()
            others = [c for c in GA_CAND if c != k]
            t[row, others] *= (1 - GA_FLOOR) / t[row, others].sum()
            t[row, k] = GA_FLOOR
            if float(gaea_grad_theta(model, t, d["xv"], d["yv"], 0.0)[0][row, k]) > 0:
                theta = t
                break
    return theta


# ---------------------------------------------------------------------------------------------
# DARTS-PT scores

def normalise_pixels(pix, dtype):
    """loader.c's lookup: ((float)p / 255.0f - mean) / std in float32, mean/std = (float)(m/255)."""
    x = pix.to(torch.float32) / torch.tensor(255.0, dtype=torch.float32)
    m = torch.tensor([np.float32(v / 255.0) for v in CIFAR10_MEAN], dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor([np.float32(v / 255.0) for v in CIFAR10_STD], dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).to(dtype)


def pt_eval(model, x, y, mix):
    """Loss (mean over images) and correct count of the supernet with mixing weights `mix`,
    in batches of BATCH, train-mode BN (batch statistics), no grad; and the smallest
    top-1 / top-2 logit margin relative to the batch's largest |logit| (how far each prediction
    is from a tie, against the engines' normwise logit error of ~1e-6)."""
    loss, correct, margin = 0.0, 0, float("inf")
    with torch.no_grad():
        for b in range(0, x.shape[0], BATCH):
            lg = forward_mix(model, x[b:b + BATCH], mix)
            loss += float(F.cross_entropy(lg, y[b:b + BATCH], reduction="sum"))
            correct += int((lg.argmax(1) == y[b:b + BATCH]).sum())
            top = lg.topk(2, dim=1).values
            margin = min(margin, float((top[:, 0] - top[:, 1]).min() / lg.abs().max()))
    return loss / x.shape[0], correct, margin


def pt_table(model0, alpha, pix, labels, dtype):
    model = copy.deepcopy(model0).to(dtype).train()
    x = normalise_pixels(pix, dtype)
    base = F.softmax(alpha.to(dtype), dim=-1)
    base[PT_FIXED_ROW] = 0
    base[PT_FIXED_ROW, PT_FIXED_OP] = 1
    out = OrderedDict()
    bl, bc, margin = pt_eval(model, x, labels, base)
    loss, acc = torch.zeros(6, 5, dtype=torch.float64), torch.zeros(6, 5, dtype=torch.float64)
    for r in range(6):
        for k in range(5):
            m = base.clone()
            m[r, k] = 0
            l, c, mg = pt_eval(model, x, labels, m)
            loss[r, k], acc[r, k] = l, 100.0 * c / x.shape[0]
            margin = min(margin, mg)
    out["mix"] = base
    out["base_loss"] = torch.tensor([bl], dtype=torch.float64)
    out["base_acc"] = torch.tensor([100.0 * bc / x.shape[0]], dtype=torch.float64)
    out["loss"] = loss
    out["acc"] = acc
    # DARTS-PT keeps the op whose removal gives the lowest accuracy (first one on ties)
    out["choice"] = torch.tensor([int(np.argmin(acc[r].numpy())) for r in range(6)], dtype=torch.int32)
    out["margin"] = torch.tensor([margin], dtype=torch.float64)
    return out


def pt_data(model0, alpha_pt, seed):
    """Random uint8 images; labels = the base mix's own predictions (accuracy 100 % unmasked,
    and each masked op's accuracy counts the predictions it flips; random labels would give
    ~10 % everywhere). Returns them with the float32 table."""
    g = torch.Generator().manual_seed(seed)
    pix = torch.randint(0, 256, (PT_N, 3, PT_IMAGE, PT_IMAGE), generator=g, dtype=torch.int64)
    with torch.no_grad():
        base = F.softmax(alpha_pt, dim=-1)
        base[PT_FIXED_ROW] = 0
        base[PT_FIXED_ROW, PT_FIXED_OP] = 1
        x = normalise_pixels(pix, torch.float32)
        m = copy.deepcopy(model0).train()
        labels = torch.cat([forward_mix(m, x[b:b + BATCH], base).argmax(1) for b in range(0, PT_N, BATCH)])
    return pix, labels, pt_table(model0, alpha_pt, pix, labels, torch.float32)


# ---------------------------------------------------------------------------------------------

def main():
    args = parse_out("methods_fixture.bin", __doc__)

    deterministic()
    model0 = new_model()
    g = torch.Generator().manual_seed(DATA_SEED)

    def batch():
        return random_batch(g, BATCH, IMAGE, CLASSES)

    d = OrderedDict()
    d["xt"], d["yt"] = batch()
    d["xv"], d["yv"] = batch()
    alpha_id = 0.5 * torch.randn(6, 5, generator=g)
    dg = OrderedDict()
    dg["xt"], dg["yt"] = batch()
    dg["xv"], dg["yv"] = batch()
    theta0 = gaea_start_theta(model0, dg, g)
    alpha_pt = 0.5 * torch.randn(6, 5, generator=g)
    for attempt in range(20):
        # images whose 31 x 32 predictions are all far from a logit tie, so that both engines
        # must count the same correct predictions
        pix, labels, p32 = pt_data(model0, alpha_pt, DATA_SEED + 1 + attempt)
        if float(p32["margin"]) >= PT_MIN_MARGIN:
            break
    else:
        raise SystemExit("no image set without a near-tie found")

    # sanity: forward_mix(softmax(alpha)) is the twin's own forward
    with torch.no_grad():
        m = copy.deepcopy(model0).train()
        assert torch.equal(m(d["xt"], alpha_id), forward_mix(m, d["xt"], F.softmax(alpha_id, dim=-1)))

    i32 = idarts(model0, alpha_id, d, torch.float32)
    i64 = idarts(model0, alpha_id, d, torch.float64)
    # check of the finite-difference machinery: in float64 with eps 1e-6 (no ReLU kink crossed)
    # it must reproduce the exact double-backprop products
    ismall = idarts(model0, alpha_id, d, torch.float64, eps=1e-6)
    gp32, gp64 = gaea(model0, theta0, dg, torch.float32, 0.0), gaea(model0, theta0, dg, torch.float64, 0.0)
    ge32, ge64 = gaea(model0, theta0, dg, torch.float32, GA_ENT), gaea(model0, theta0, dg, torch.float64, GA_ENT)
    assert int(gp32["clamped"].sum()) >= 3 and torch.equal(gp32["clamped"], gp64["clamped"])
    p64 = pt_table(model0, alpha_pt, pix, labels, torch.float64)
    assert torch.equal(p32["acc"], p64["acc"]), "float32 and float64 accuracies differ: a near-tie"

    names = [k for k, _ in param_items(model0)]
    # the tensors written for the Neumann part and the regularised GAEA step: all outside the
    # cells, and the first cell's (cell conv biases left out: their gradient, H v included, is
    # exactly 0 and only rounding noise is computed)
    small = [k for k in names if (not k.startswith("cells.") or k.startswith("cells.0.")) and not is_cell_conv_bias(k)]
    e = config_and_params(model0)
    # iDARTS
    e["idarts/hyper"] = torch.tensor([ID_GAMMA, ID_K, FD_EPS])
    for k in ("xt", "yt", "xv", "yv"):
        e["idarts/" + k] = d[k].to(torch.int32) if k[0] == "y" else d[k]
    e["idarts/alpha"] = alpha_id
    for k in ("ga_val", "mixed", "galpha"):
        e["idarts/" + k] = i32[k]
    for k in ("mixed_exact", "galpha_exact", "mixed_ref", "galpha_ref"):
        e["idarts/" + k] = i64[k].float()
    for k in small:
        e["idarts/v0/" + k] = i32["v0/" + k]
        e["idarts/D/" + k] = i32["D/" + k]
        e["idarts/D_exact/" + k] = i64["D_exact/" + k].float()
    # GAEA
    e["gaea/hyper"] = torch.tensor([GA_LR, GA_MOM, GA_WD, GA_CLIP, GA_ETA, GA_FLOOR, GA_ENT])
    for k in ("xt", "yt", "xv", "yv"):
        e["gaea/" + k] = dg[k].to(torch.int32) if k[0] == "y" else dg[k]
    e["gaea/theta"] = theta0
    e["gaea/clamped"] = gp32["clamped"].to(torch.int32)
    for tag, r, keep in (("plain", gp32, names), ("ent", ge32, small)):
        for k in ("theta_after", "train_loss", "valid_loss", "grad_norm"):
            e["gaea/%s/%s" % (tag, k)] = r[k]
        for k in keep:
            e["gaea/%s/param_after/%s" % (tag, k)] = r["param_after/" + k]
    for k, _ in buffer_items(model0):
        e["gaea/plain/buffer_after/" + k] = gp32["buffer_after/" + k]
    # DARTS-PT
    e["pt/config"] = torch.tensor([PT_IMAGE, PT_N, PT_FIXED_ROW, PT_FIXED_OP], dtype=torch.int32)
    e["pt/pixels"] = torch.from_numpy(pix.numpy().astype(np.uint8).reshape(-1).view("<i4").copy())
    e["pt/labels"] = labels.to(torch.int32)
    e["pt/alpha"] = alpha_pt
    for k in ("mix", "base_loss", "base_acc", "loss", "acc", "choice", "margin"):
        e["pt/" + k] = p32[k].float() if p32[k].dtype == torch.float64 else p32[k]

    size = save_fixture(args.out, e, check_values=True)
    print("wrote %s: %d entries, %d bytes (torch %s)" % (args.out, len(e), size, torch.__version__))

    # ---- report
    def worst(r32, r64, prefix, keys=None):
        ks = [k for k in r32 if k.startswith(prefix)] if keys is None else [prefix + k for k in keys]
        return max(relerr(r32[k], r64[k]) for k in ks)

    print("iDARTS (gamma %g, K %d, eps %g): max|ga_val| %.3g, max|gamma*mixed| %.3g (fd), %.3g (exact); |S| %.4g fd, %.4g exact"
          % (ID_GAMMA, ID_K, FD_EPS, float(i32["ga_val"].abs().max()), ID_GAMMA * float(i32["mixed"].abs().max()),
             ID_GAMMA * float(i64["mixed_exact"].abs().max()), float(i32["normS"]), float(i64["normS_exact"])))
    print("  float32 vs float64 (normwise rel): ga_val %.2e, mixed %.2e, galpha %.2e, D (worst tensor) %.2e; "
          "exact: mixed %.2e, galpha %.2e, D %.2e"
          % (relerr(i32["ga_val"], i64["ga_val"]), relerr(i32["mixed"], i64["mixed"]), relerr(i32["galpha"], i64["galpha"]),
             worst(i32, i64, "D/", small), relerr(i32["mixed_exact"], i64["mixed_exact"]),
             relerr(i32["galpha_exact"], i64["galpha_exact"]), worst(i32, i64, "D_exact/", small)))
    print("  finite differences (eps 0.01) vs exact, float64: mixed %.2e, galpha %.2e, D (worst tensor) %.2e"
          % (relerr(i64["mixed"], i64["mixed_exact"]), relerr(i64["galpha"], i64["galpha_exact"]),
             max(relerr(i64["D/" + k], i64["D_exact/" + k]) for k in small)))
    print("  float32 fd vs float64 exact: mixed %.2e, galpha %.2e"
          % (relerr(i32["mixed"], i64["mixed_exact"]), relerr(i32["galpha"], i64["galpha_exact"])))
    cos = lambda a, b: float((a.double() * b.double()).sum() / (a.double().norm() * b.double().norm()))  # noqa: E731
    print("  cosine(fd, exact): galpha %.3f, mixed %.3f; |v0| %.4g" % (
        cos(i64["galpha"], i64["galpha_exact"]), cos(i64["mixed"], i64["mixed_exact"]),
        math.sqrt(sum(float((v.double() ** 2).sum()) for k, v in i64.items() if k.startswith("v0/")))))
    print("  ours (float32 fd) vs the reference's recipe (float64, exact H v, fd mixed term): mixed %.2e, galpha %.2e;"
          " reference recipe vs exact: galpha %.2e" % (relerr(i32["mixed"], i64["mixed_ref"]),
                                                      relerr(i32["galpha"], i64["galpha_ref"]),
                                                      relerr(i64["galpha_ref"], i64["galpha_exact"])))
    print("  float64 fd with eps 1e-6 vs exact: mixed %.2e, galpha %.2e, D %.2e"
          % (relerr(ismall["mixed"], ismall["mixed_exact"]), relerr(ismall["galpha"], ismall["galpha_exact"]),
             max(relerr(ismall["D/" + k], ismall["D_exact/" + k]) for k in small)))
    for tag, r32, r64 in (("plain", gp32, gp64), ("ent %g" % GA_ENT, ge32, ge64)):
        th_el = float(((r32["theta_after"].double() - r64["theta_after"]).abs()
                       / r64["theta_after"].abs().clamp_min(1e-300))[:, 1:].max())
        print("GAEA %s: losses train %.6f valid %.6f, grad norm %.4f; max|g_theta| %.3g; clamped %d; "
              "f32 vs f64: theta elementwise %.2e, params %.2e, losses %.2e"
              % (tag, float(r32["train_loss"]), float(r32["valid_loss"]), float(r32["grad_norm"]),
                 float(r32["grad_theta"][:, 1:].abs().max()), int(r32["clamped"].sum()), th_el,
                 worst(r32, r64, "param_after/", small), max(relerr(r32[k], r64[k]) for k in ("train_loss", "valid_loss"))))
    print("  clamped entries: g_theta %s" % ["%.4g" % float(v) for v in gp32["grad_theta"][gp32["clamped"]]])
    print("PT (image seed %d): base loss %.5f acc %.2f; min relative logit margin %.3g; f32 vs f64 loss table %.2e"
          % (DATA_SEED + 1 + attempt, float(p32["base_loss"]), float(p32["base_acc"]), float(p32["margin"]), relerr(p32["loss"], p64["loss"])))
    for r in range(6):
        print("  row %d: acc %s loss %s choice %d" % (r, ["%.2f" % v for v in p32["acc"][r].tolist()],
                                                      ["%.4f" % v for v in p32["loss"][r].tolist()], int(p32["choice"][r])))


if __name__ == "__main__":
    main()
