#!/usr/bin/env python3
"""Writes the reference fixtures for the C engine from the PyTorch twin (nb201_twin.py):

  tests/ref/nb201_fixture.bin     start state, forward/backward, 5 DARTS-V1 search steps
  tests/ref/nb201_fixture_v2.bin  start state, one weight step, one DARTS-V2 (unrolled) alpha gradient
  tests/ref/optim_fixture.bin     SGD / Adam / gradient clipping / cosine schedule on small vectors

Format and contents: tests/ref/README.md. Everything is computed in float32 (what the C engine
computes); the same computation is repeated in float64 from the same float32 start state and the
normwise relative differences are printed, as the noise floor the C tests can expect.

Usage: pip install torch numpy; python3 tests/ref/make_fixtures.py [--out-dir DIR]
"""

import argparse
import copy
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nb201_twin import NB201Supernet, ResBlock, new_alpha  # noqa: E402
from twin_common import deterministic, random_batch, relerr  # noqa: E402

MAGIC = b"DNASFIX1"
VERSION = 1
DT_F32, DT_I32 = 0, 1

# Small configuration (keep the files small; the C tests build the same net from "config").
C, N, CLASSES, BATCH, IMAGE, TRACK_BN, STEPS = 8, 1, 10, 8, 16, 0, 5
MODEL_SEED, DATA_SEED = 20261123, 777

# DARTS on NB201 (ALGORITHMS.md B1, AutoDL DARTS-V1/V2 settings).
W_LR, W_MOMENTUM, W_WD, W_CLIP = 0.025, 0.9, 5e-4, 5.0
A_LR, A_BETAS, A_WD, A_EPS = 3e-4, (0.5, 0.999), 1e-3, 1e-8
FD_R = 0.01
CLIP_ACTIVE = 1.0  # below the start gradient norm (about 4.0), so this clip really scales
OPTIM_SEED = 4242


# ---------------------------------------------------------------------------------------------
# the file format

def write_fixture(path, entries):
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<II", VERSION, len(entries)))
        for name, t in entries.items():
            t = t.detach().cpu()
            if t.dtype in (torch.int32, torch.int64):
                arr, dt = t.numpy().astype("<i4"), DT_I32
            else:
                arr, dt = t.numpy().astype("<f4"), DT_F32
            if arr.ndim == 0:
                arr = arr.reshape(1)
            nb = name.encode("utf-8")
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<II", dt, arr.ndim))
            f.write(struct.pack("<%di" % arr.ndim, *arr.shape))
            f.write(np.ascontiguousarray(arr).tobytes())


def read_fixture(path):
    """Reader, for checking what was written (and for anyone using the fixtures from Python)."""
    out = OrderedDict()
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == MAGIC, "bad magic"
    version, n = struct.unpack_from("<II", data, 8)
    assert version == VERSION
    off = 16
    for _ in range(n):
        (ln,) = struct.unpack_from("<I", data, off)
        off += 4
        name = data[off:off + ln].decode("utf-8")
        off += ln
        dt, nd = struct.unpack_from("<II", data, off)
        off += 8
        dims = struct.unpack_from("<%di" % nd, data, off)
        off += 4 * nd
        count = int(np.prod(dims)) if nd else 1
        arr = np.frombuffer(data, dtype="<f4" if dt == DT_F32 else "<i4", count=count, offset=off)
        off += 4 * count
        out[name] = arr.reshape(dims)
    assert off == len(data), "trailing bytes"
    return out


def save_fixture(path, entries, check_values=False):
    """write_fixture, then the file read back: the same names in the same order (with
    check_values, the same values too). Returns the file's size in bytes."""
    write_fixture(path, entries)
    back = read_fixture(path)
    assert list(back.keys()) == list(entries.keys())
    if check_values:
        for k, t in entries.items():
            assert np.array_equal(back[k], t.detach().numpy().astype(back[k].dtype).reshape(back[k].shape)), k
    return os.path.getsize(path)


# ---------------------------------------------------------------------------------------------
# the start state every NB201 fixture shares (also fair_drnas_twin.py, gumbel_twin.py,
# methods_twin.py)

def new_model(track_bn=bool(TRACK_BN)):
    """The small supernet at its start state: PyTorch's default init drawn right after
    torch.manual_seed(MODEL_SEED), float32, train mode."""
    torch.manual_seed(MODEL_SEED)
    return NB201Supernet(C, N, CLASSES, track_bn=track_bn).float().train()


def config_and_params(model, steps=0):
    """The first entries of a fixture on that supernet: config [C, N, classes, batch, image,
    track_bn, steps] and param/<name>, the start weights."""
    e = OrderedDict()
    e["config"] = torch.tensor([C, N, CLASSES, BATCH, IMAGE, TRACK_BN, steps], dtype=torch.int32)
    for k, p in param_items(model):
        e["param/" + k] = p.detach().clone()
    return e


def forward_mix(model, x, w):
    """NB201Supernet.forward with the mixing weights w given (instead of softmax(alpha))."""
    x = model.stem(x)
    for cell in model.cells:
        x = cell(x) if isinstance(cell, ResBlock) else cell(x, w)
    x = model.lastact(x)
    return model.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


# ---------------------------------------------------------------------------------------------
# the computations (run once in float32 for the files, once in float64 for the noise floor)

def param_items(model):
    return list(model.named_parameters())


def buffer_items(model):
    return [(k, b) for k, b in model.named_buffers() if not k.endswith("num_batches_tracked")]


def xent(model, x, y, alpha):
    return F.cross_entropy(model(x, alpha), y)


def w_step(model, w_opt, x, y, alpha, clip=W_CLIP):
    """DARTS-V1 weight step: zero grads, loss, backward, clip the weights' grad norm, SGD.
    Returns the loss and the gradient norm before clipping."""
    w_opt.zero_grad(set_to_none=True)
    loss = xent(model, x, y, alpha.detach())
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    w_opt.step()
    return loss.detach(), norm.detach()


def clip_names(model):
    """The parameters written for the active-clip step: every one outside the cells (small;
    the clip coefficient is global, so any tensor shows whether it was applied)."""
    return [k for k, _ in param_items(model) if not k.startswith("cells.")]


def v1_steps(model, alpha, data, dtype):
    """The 5 DARTS-V1 steps (w step, then arch step with the updated weights)."""
    w_opt = new_w_opt(model)
    a_opt = torch.optim.Adam([alpha], lr=A_LR, betas=A_BETAS, weight_decay=A_WD, eps=A_EPS)
    tl, vl = [], []
    for s in range(STEPS):
        xt, yt = data["v1/%d/xt" % s].to(dtype), data["v1/%d/yt" % s]
        xv, yv = data["v1/%d/xv" % s].to(dtype), data["v1/%d/yv" % s]
        tl.append(w_step(model, w_opt, xt, yt, alpha)[0])
        a_opt.zero_grad(set_to_none=True)
        vloss = xent(model, xv, yv, alpha)  # with the updated weights
        (alpha.grad,) = torch.autograd.grad(vloss, [alpha])
        a_opt.step()
        vl.append(vloss.detach())
    return tl, vl


def eval_logits(model, x, alpha):
    """Forward in evaluation mode: BNs with running statistics use them, the others (cell BNs
    without tracking) still normalise with batch statistics."""
    model.eval()
    with torch.no_grad():
        out = model(x, alpha.detach())
    model.train()
    return out


def new_w_opt(model):
    return torch.optim.SGD(model.parameters(), lr=W_LR, momentum=W_MOMENTUM, nesterov=True,
                           weight_decay=W_WD)


def compute_v1(model0, alpha0, data, dtype):
    out = OrderedDict()
    # forward / backward at the start state
    model = copy.deepcopy(model0).to(dtype).train()
    alpha = alpha0.to(dtype).clone().requires_grad_(True)
    x, y = data["x"].to(dtype), data["y"]
    logits = model(x, alpha)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    out["out/logits"] = logits.detach()
    out["out/loss"] = loss.detach().reshape(1)
    for k, p in param_items(model):
        out["grad/" + k] = p.grad.detach().clone()
    out["grad/alpha"] = alpha.grad.detach().clone()

    # 5 DARTS-V1 steps from the start state (fresh copy: fresh BN running statistics)
    model = copy.deepcopy(model0).to(dtype).train()
    alpha = alpha0.to(dtype).clone().requires_grad_(True)
    tl, vl = v1_steps(model, alpha, data, dtype)
    out["v1/train_loss"] = torch.stack(tl)
    out["v1/valid_loss"] = torch.stack(vl)
    out["v1/alpha_final"] = alpha.detach().clone()
    for k, p in param_items(model):
        out["v1/param_final/" + k] = p.detach().clone()
    for k, b in buffer_items(model):
        out["v1/buffer_final/" + k] = b.detach().clone()
    out["v1/eval_logits"] = eval_logits(model, x, alpha)

    # one weight step from the start state whose clip (CLIP_ACTIVE) is below the gradient norm
    model = copy.deepcopy(model0).to(dtype).train()
    _, norm = w_step(model, new_w_opt(model), x, y, alpha0.to(dtype), clip=CLIP_ACTIVE)
    out["clip/max_norm"] = torch.tensor([CLIP_ACTIVE], dtype=dtype)
    out["clip/norm"] = norm.reshape(1)
    names = clip_names(model)
    for k, p in param_items(model):
        if k in names:
            out["clip/param_after/" + k] = p.detach().clone()
    return out


def compute_bn1(model0_bn, alpha0, data, dtype):
    """The same 5 DARTS-V1 steps with track_bn = 1 (the cell BNs keep running statistics as
    well). Train-mode results equal the track_bn = 0 ones; what differs is the running
    statistics of the cell BNs and every evaluation-mode forward."""
    out = OrderedDict()
    model = copy.deepcopy(model0_bn).to(dtype).train()
    alpha = alpha0.to(dtype).clone().requires_grad_(True)
    x = data["x"].to(dtype)
    out["bn1/eval_logits_start"] = eval_logits(model, x, alpha)
    v1_steps(model, alpha, data, dtype)
    for k, p in param_items(model):
        out["bn1/param_final/" + k] = p.detach().clone()  # not written: equals v1/param_final
    for k, b in buffer_items(model):
        out["bn1/buffer_final/" + k] = b.detach().clone()
    out["bn1/eval_logits"] = eval_logits(model, x, alpha)
    return out


def compute_v2(model0, alpha0, data, dtype, fd_r=FD_R):
    """DARTS second order (ALGORITHMS.md B1; quark0 architect.py / AutoDL DARTS-V2):
    one ordinary weight step first (so the momentum buffer is non-zero), then the unrolled
    alpha gradient at the resulting w, by central finite differences and by exact double backward."""
    out = OrderedDict()
    model = copy.deepcopy(model0).to(dtype).train()
    alpha = alpha0.to(dtype).clone().requires_grad_(True)
    w_opt = new_w_opt(model)
    w_step(model, w_opt, data["v2/xt0"].to(dtype), data["v2/yt0"], alpha)
    for k, b in buffer_items(model):
        out["v2/buffer_after_step0/" + k] = b.detach().clone()
    names = [k for k, _ in param_items(model)]
    params = [p for _, p in param_items(model)]
    buf = [w_opt.state[p]["momentum_buffer"].detach().clone() for p in params]
    for k, b in zip(names, buf):
        out["v2/momentum/" + k] = b
    for k, p in zip(names, params):
        out["v2/param_after_step0/" + k] = p.detach().clone()

    xt, yt = data["v2/xt"].to(dtype), data["v2/yt"]
    xv, yv = data["v2/xv"].to(dtype), data["v2/yv"]
    w = [p.detach().clone() for p in params]

    def set_weights(ws):
        with torch.no_grad():
            for p, v in zip(params, ws):
                p.copy_(v)

    # w' = w - lr * (momentum * buf + dL_tr/dw + wd * w)   (no Nesterov, no clipping)
    gw = torch.autograd.grad(xent(model, xt, yt, alpha.detach()), params)
    w_unrolled = [wi - W_LR * (W_MOMENTUM * bi + gi + W_WD * wi) for wi, bi, gi in zip(w, buf, gw)]
    # v = dL_val(w')/dw', g1 = dL_val(w')/dalpha. The reference runs w' as a model copy, so
    # this forward's running-statistics update is lost: save and restore them around it.
    set_weights(w_unrolled)
    saved = [b.detach().clone() for _, b in buffer_items(model)]
    grads = torch.autograd.grad(xent(model, xv, yv, alpha), params + [alpha])
    with torch.no_grad():
        for (_, b), v0 in zip(buffer_items(model), saved):
            b.copy_(v0)
    v, g1 = [g.detach() for g in grads[:-1]], grads[-1].detach()
    # h = (dL_tr(w + R v)/dalpha - dL_tr(w - R v)/dalpha) / (2R), R = 0.01 / ||v||, at the current w
    R = fd_r / torch.cat([t.reshape(-1) for t in v]).norm()
    set_weights([wi + R * vi for wi, vi in zip(w, v)])
    (gp,) = torch.autograd.grad(xent(model, xt, yt, alpha), [alpha])
    set_weights([wi - R * vi for wi, vi in zip(w, v)])
    (gm,) = torch.autograd.grad(xent(model, xt, yt, alpha), [alpha])
    h = (gp - gm) / (2 * R)
    # running statistics after the arch step: updated by the forwards at w, w + Rv and w - Rv
    for k, b in buffer_items(model):
        out["v2/buffer_after/" + k] = b.detach().clone()
    # exact: h = d/dalpha [ (dL_tr/dw)(w, alpha) . v ]
    set_weights(w)
    gw = torch.autograd.grad(xent(model, xt, yt, alpha), params, create_graph=True)
    dot = sum((gi * vi).sum() for gi, vi in zip(gw, v))
    (h_exact,) = torch.autograd.grad(dot, [alpha])
    out["v2/g1"] = g1
    out["v2/h"] = h.detach()
    out["v2/galpha"] = (g1 - W_LR * h).detach()
    out["v2/galpha_exact"] = (g1 - W_LR * h_exact).detach()
    out["v2/h_exact"] = h_exact.detach()  # not written (printed only)
    return out


SGD_CASES = (  # name, lr, momentum, weight decay, nesterov
    ("plain", 0.1, 0.0, 0.0, False),
    ("momentum", 0.1, 0.9, 1e-2, False),
    ("nesterov", 0.1, 0.9, 1e-2, True),
)
ADAM_CASES = (  # name, lr, beta1, beta2, eps, weight decay (coupled L2)
    ("plain", 0.01, 0.9, 0.999, 1e-8, 0.0),
    ("wd", 0.01, 0.5, 0.999, 1e-8, 0.1),
)
COSINE_CASES = ((0.025, 0.001, 7), (0.025, 0.001, 50), (0.1, 0.0, 4))  # lr0, eta_min, epochs
OPTIM_N, OPTIM_STEPS = 37, 4


def compute_optim():
    """The optimisers of the search on a 37-vector over 4 steps of fixed gradients, gradient
    clipping, and the cosine schedule, all with torch's own classes (float32)."""
    g = torch.Generator().manual_seed(OPTIM_SEED)
    e = OrderedDict()
    w0 = torch.randn(OPTIM_N, generator=g)
    grads = torch.randn(OPTIM_STEPS, OPTIM_N, generator=g)
    e["w0"], e["grads"] = w0, grads

    def run(opt_fn, prefix, state_keys):
        p = torch.nn.Parameter(w0.clone())
        opt = opt_fn([p])
        ws = []
        for k in range(OPTIM_STEPS):
            p.grad = grads[k].clone()
            opt.step()
            ws.append(p.detach().clone())
        e[prefix + "/w"] = torch.stack(ws)  # (steps, n): the weights after each step
        for sk, name in state_keys:
            e[prefix + "/" + name] = opt.state[p][sk].detach().clone()

    for name, lr, mom, wd, nest in SGD_CASES:
        e["sgd/%s/hyper" % name] = torch.tensor([lr, mom, wd, float(nest)])
        run(lambda ps: torch.optim.SGD(ps, lr=lr, momentum=mom, weight_decay=wd, nesterov=nest),
            "sgd/" + name, [("momentum_buffer", "buf")] if mom > 0 else [])
    for name, lr, b1, b2, eps, wd in ADAM_CASES:
        e["adam/%s/hyper" % name] = torch.tensor([lr, b1, b2, eps, wd])
        run(lambda ps: torch.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd),
            "adam/" + name, [("exp_avg", "m"), ("exp_avg_sq", "v")])

    # clip_grad_norm_: one case above the limit (scaled), one below (left alone)
    for name, scale, max_norm in (("big", 1.0, 2.5), ("small", 0.05, 2.5)):
        gv = scale * torch.randn(1000, generator=g)
        p = torch.nn.Parameter(torch.zeros(1000))
        p.grad = gv.clone()
        norm = torch.nn.utils.clip_grad_norm_([p], max_norm)
        e["clip/%s/g" % name] = gv
        e["clip/%s/max_norm" % name] = torch.tensor([max_norm])
        e["clip/%s/norm" % name] = norm.reshape(1)
        e["clip/%s/out" % name] = p.grad.detach().clone()

    # CosineAnnealingLR(T_max = epochs): the learning rate of epochs 0..epochs
    for i, (lr0, eta_min, epochs) in enumerate(COSINE_CASES):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=lr0)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=eta_min)
        lrs = []
        for _ in range(epochs + 1):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        e["cosine/%d/hyper" % i] = torch.tensor([lr0, eta_min, float(epochs)], dtype=torch.float64)
        e["cosine/%d/lr" % i] = torch.tensor(lrs, dtype=torch.float64)
    return e


def make_data():
    g = torch.Generator().manual_seed(DATA_SEED)

    def batch():
        return random_batch(g, BATCH, IMAGE, CLASSES)

    d = OrderedDict()
    d["x"], d["y"] = batch()
    d["alpha"] = new_alpha(g)
    for s in range(STEPS):
        d["v1/%d/xt" % s], d["v1/%d/yt" % s] = batch()
        d["v1/%d/xv" % s], d["v1/%d/yv" % s] = batch()
    for k in ("xt0", "xt", "xv"):
        d["v2/" + k], d["v2/y" + k[1:]] = batch()
    return d


def start_entries(model0, data):
    e = OrderedDict()
    e["config"] = torch.tensor([C, N, CLASSES, BATCH, IMAGE, TRACK_BN, STEPS], dtype=torch.int32)
    e["x"] = data["x"]
    e["y"] = data["y"].to(torch.int32)
    e["alpha"] = data["alpha"]
    for k, p in param_items(model0):
        e["param/" + k] = p.detach().clone()
    for k, b in buffer_items(model0):
        e["buffer/" + k] = b.detach().clone()
    return e


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()

    deterministic()
    model0 = new_model()
    # the same net with cell BN running statistics: same seed, so the same weights
    model0_bn = new_model(track_bn=True)
    for (k, p), (k2, p2) in zip(param_items(model0), param_items(model0_bn)):
        assert k == k2 and torch.equal(p, p2), k
    data = make_data()
    alpha0 = data["alpha"]

    r32 = compute_v1(model0, alpha0, data, torch.float32)
    r64 = compute_v1(model0, alpha0, data, torch.float64)
    b32 = compute_bn1(model0_bn, alpha0, data, torch.float32)
    b64 = compute_bn1(model0_bn, alpha0, data, torch.float64)
    for k in param_items(model0):
        assert torch.equal(b32["bn1/param_final/" + k[0]], r32["v1/param_final/" + k[0]]), k[0]
    v32 = compute_v2(model0, alpha0, data, torch.float32)
    v64 = compute_v2(model0, alpha0, data, torch.float64)

    # fixture 1
    e1 = start_entries(model0, data)
    e1.update((k, v) for k, v in r32.items() if k.startswith(("out/", "grad/")))
    for s in range(STEPS):
        for k in ("xt", "yt", "xv", "yv"):
            t = data["v1/%d/%s" % (s, k)]
            e1["v1/%d/%s" % (s, k)] = t.to(torch.int32) if k[0] == "y" else t
    e1.update((k, v) for k, v in r32.items() if k.startswith(("v1/", "clip/")))
    for k, b in buffer_items(model0_bn):
        e1["bn1/buffer/" + k] = b.detach().clone()
    e1.update((k, v) for k, v in b32.items() if not k.startswith("bn1/param_final/"))
    # fixture 2
    e2 = start_entries(model0, data)
    for k in ("xt0", "yt0", "xt", "yt", "xv", "yv"):
        t = data["v2/" + k]
        e2["v2/" + k] = t.to(torch.int32) if k[0] == "y" else t
    e2.update((k, v) for k, v in v32.items() if k != "v2/h_exact")

    paths = []
    e3 = compute_optim()
    for name, e in (("nb201_fixture.bin", e1), ("nb201_fixture_v2.bin", e2), ("optim_fixture.bin", e3)):
        path = os.path.join(args.out_dir, name)
        size = save_fixture(path, e, check_values=True)
        paths.append(path)
        print("wrote %s: %d entries, %d bytes" % (path, len(e), size))

    print("torch %s; config C=%d N=%d classes=%d batch=%d image=%d track_bn=%d; %d weights"
          % (torch.__version__, C, N, CLASSES, BATCH, IMAGE, TRACK_BN,
             sum(p.numel() for p in model0.parameters())))
    print("loss %.6f; v1 train loss %s; v1 valid loss %s" % (
        r32["out/loss"].item(), ["%.5f" % t for t in r32["v1/train_loss"].tolist()],
        ["%.5f" % t for t in r32["v1/valid_loss"].tolist()]))

    print("float32 vs float64 (same float32 start), normwise max|a32-a64|/max|a64|:")

    def group(res32, res64, prefix, label, keep=lambda k: True):
        ks = [k for k in res32 if k.startswith(prefix) and keep(k)]
        worst = max(ks, key=lambda k: relerr(res32[k], res64[k]))
        print("  %-30s %.2e  (worst: %s)" % (label, relerr(res32[worst], res64[worst]), worst))

    live = lambda k: not is_cell_conv_bias(k)  # noqa: E731
    group(r32, r64, "out/logits", "out/logits")
    group(r32, r64, "out/loss", "out/loss")
    group(r32, r64, "grad/alpha", "grad/alpha")
    group(r32, r64, "grad/", "grad/* (but cell conv biases)", live)
    dead = [k for k in r32 if k.startswith("grad/") and is_cell_conv_bias(k)]
    print("  %-30s %.2e float32, %.2e float64 (exactly 0 in exact arithmetic)" % (
        "max|grad/ cell conv biases|", max(float(r32[k].abs().max()) for k in dead),
        max(float(r64[k].abs().max()) for k in dead)))
    group(r32, r64, "v1/train_loss", "v1/train_loss")
    group(r32, r64, "v1/valid_loss", "v1/valid_loss")
    group(r32, r64, "v1/alpha_final", "v1/alpha_final")
    print("  %-30s %.2e" % ("v1 alpha change (final-init)",
                            relerr(r32["v1/alpha_final"] - alpha0, r64["v1/alpha_final"] - alpha0.double())))
    group(r32, r64, "v1/param_final/", "v1/param_final/*")
    group(r32, r64, "v1/buffer_final/", "v1/buffer_final/*")
    group(r32, r64, "v1/eval_logits", "v1/eval_logits")
    group(r32, r64, "clip/norm", "clip/norm")
    group(r32, r64, "clip/param_after/", "clip/param_after/*")
    group(b32, b64, "bn1/buffer_final/", "bn1/buffer_final/*")
    group(b32, b64, "bn1/eval_logits_start", "bn1/eval_logits_start")
    group(b32, b64, "bn1/eval_logits", "bn1/eval_logits")
    group(v32, v64, "v2/buffer_after/", "v2/buffer_after/*")
    group(v32, v64, "v2/momentum/", "v2/momentum/* (but cell biases)", live)
    group(v32, v64, "v2/momentum/", "v2/momentum/* cell conv biases", lambda k: not live(k))
    group(v32, v64, "v2/param_after_step0/", "v2/param_after_step0/*")
    for k in ("v2/g1", "v2/h", "v2/h_exact", "v2/galpha", "v2/galpha_exact"):
        group(v32, v64, k, k)
    print("DARTS-V2 finite difference (R = 0.01/||v||) vs exact Hessian-vector product, normwise relative:")
    for lab, res in (("float32", v32), ("float64", v64)):
        print("  %s: h %.2e, galpha %.2e  (max|h| FD %.3g exact %.3g; max|g1| %.3g)" % (
            lab, relerr(res["v2/h"], res["v2/h_exact"]),
            relerr(res["v2/galpha"], res["v2/galpha_exact"]), float(res["v2/h"].abs().max()),
            float(res["v2/h_exact"].abs().max()), float(res["v2/g1"].abs().max())))
    print("  float32 FD galpha vs float64 exact galpha: %.2e" % relerr(v32["v2/galpha"], v64["v2/galpha_exact"]))
    for r in (1e-4, 1e-6):
        t = compute_v2(model0, alpha0, data, torch.float64, fd_r=r)
        print("  float64 FD with R = %g/||v||: h vs exact %.2e, galpha vs exact %.2e" % (
            r, relerr(t["v2/h"], t["v2/h_exact"]), relerr(t["v2/galpha"], t["v2/galpha_exact"])))
    print("  (the gap at R = 0.01/||v|| is ReLU kinks crossed by the +-R v perturbation: the loss is only\n"
          "   piecewise smooth, so the DARTS finite difference is not the Hessian there; the C engine\n"
          "   should match v2/galpha, the same finite difference, not v2/galpha_exact)")


def is_cell_conv_bias(name):
    """Cell conv biases feed a batch-statistics BN: the loss does not depend on them."""
    return ".edges." in name and name.endswith(".conv.bias")

if __name__ == "__main__":
    main()
