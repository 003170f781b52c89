#!/usr/bin/env python3
"""Comparison driver, NOT part of the dnas library: runs the REFERENCE GDAS
(D-X-Y/AutoDL-Projects, exps/NAS-Bench-201-algos/GDAS.py + TinyNetworkGDAS) on CPU under
dnas's `--preset quick` protocol, to tell protocol effects from implementation effects.

Imported from the AutoDL checkout (--autodl, not copied): TinyNetworkGDAS and the NB201 op list.
Reproduced here from GDAS.py (semantics kept): per batch a weight step on the train batch
(SGD, clip_grad_norm_(network.parameters(), 5) as there, i.e. over alpha's stale grad too),
then an arch step on the paired valid batch (Adam, coupled weight decay); tau set per epoch
tau_max - (tau_max - tau_min) * epoch / (E - 1); LR cosine by epoch (AutoDL's
CosineAnnealingLR ignores the step fraction).
Replaced by dnas's quick protocol: C = 8, N = 1, 700 epochs, and the data: dnas's stratified
split (seed 0; ported from src/data/loader.c) capped to the first 5,000 (sorted) indices of
each half; each train image paired with a uniformly drawn valid image (AutoDL's
SearchDataset); both augmented (pad 4 + random crop 32 + h-flip), AutoDL's normalisation.

Output OUT/alphas.jsonl, one line per epoch in dnas's format ("alphas" = softmax(alpha) per
edge, NB201 op order, edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) plus raw logits, accuracies,
tau, lr, seconds. --epochs-run stops early while the schedules stay those of --epochs.
OUT/ckpt.pt (every --ckpt-every epochs) lets --resume continue a stopped run.
"""
import argparse, json, math, os, random, sys, time
import numpy as np
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--autodl", default="/tmp/autodl")
p.add_argument("--data", default="/work/main/build/data/cifar-10-batches-bin")
p.add_argument("--out", default="/work/main/runs/autodl-gdas/s1")
p.add_argument("--epochs", type=int, default=700)
p.add_argument("--epochs-run", type=int, default=0, help="stop after this many epochs (0: all)")
p.add_argument("--seed", type=int, default=1)
p.add_argument("--images", type=int, default=5000)
p.add_argument("--ckpt-every", type=int, default=5)
p.add_argument("--resume", action="store_true")
a = p.parse_args()
sys.path.insert(0, a.autodl)
from xautodl.models.cell_searchs.search_model_gdas import TinyNetworkGDAS  # noqa: E402
from xautodl.models.cell_operations import SearchSpaceNames  # noqa: E402

torch.set_num_threads(1)
OPS = SearchSpaceNames["nas-bench-201"]
OURS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]  # nb201_table.c
PERM = [OPS.index(o) for o in OURS]  # identity today; kept so a reorder would be caught
EDGES = ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]  # dnas rows 0; 1, 2; 3, 4, 5

# ---- data: CIFAR-10 binary, dnas's split (loader.c: SplitMix64 hash, Fisher-Yates per class)
M64 = (1 << 64) - 1
def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)
def hash5(seed, stream, x, y, w):
    g = 0x9E3779B97F4A7C15
    h = mix64((seed + g) & M64)
    for v in (stream, x, y, w):
        h = mix64((h + v + g) & M64)
    return h
def below(h, n):
    m = (h >> 32) * n
    if (m & 0xFFFFFFFF) < n:
        t = ((1 << 32) - n) % n
        while (m & 0xFFFFFFFF) < t:
            h = mix64((h + 1) & M64)
            m = (h >> 32) * n
    return m >> 32
def split(labels, seed=0, STREAM_SPLIT=1):
    tr, va = [], []
    for c in range(10):
        v = [i for i in range(len(labels)) if labels[i] == c]
        for i in range(len(v) - 1, 0, -1):
            j = below(hash5(seed, STREAM_SPLIT, c, i, 0), i + 1)
            v[i], v[j] = v[j], v[i]
        tr += v[: len(v) // 2]
        va += v[len(v) // 2:]
    return sorted(tr), sorted(va)

raw = np.concatenate([np.fromfile(f"{a.data}/data_batch_{k}.bin", np.uint8).reshape(10000, 3073)
                      for k in range(1, 6)])
labels = raw[:, 0].astype(np.int64)
tr_idx, va_idx = split(labels.tolist())
tr_idx, va_idx = tr_idx[: a.images], va_idx[: a.images]
def subset(idx):  # zero-padded uint8 (n, 3, 40, 40): pad pixels are black, as torchvision's
    x = raw[idx, 1:].reshape(-1, 3, 32, 32)
    return torch.from_numpy(np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))), torch.from_numpy(labels[idx])
Xtr, Ytr = subset(tr_idx)
Xva, Yva = subset(va_idx)
MEAN = torch.tensor([125.3, 123.0, 113.9]).view(1, 3, 1, 1)  # AutoDL / dnas_cifar_norm
STD = torch.tensor([63.0, 62.1, 66.7]).view(1, 3, 1, 1)
def augment(X, ids):
    out = torch.empty(len(ids), 3, 32, 32, dtype=torch.uint8)
    for j, i in enumerate(ids.tolist()):
        dy, dx = random.randint(0, 8), random.randint(0, 8)
        img = X[i, :, dy:dy + 32, dx:dx + 32]
        out[j] = img.flip(2) if random.random() < 0.5 else img
    return ((out.float() - MEAN) / STD).contiguous(memory_format=torch.channels_last)

# ---- model and optimisers, as GDAS.py builds them (GDAS.sh: BN=0, tau 10 -> 0.1)
random.seed(a.seed); np.random.seed(a.seed); torch.manual_seed(a.seed)
net = TinyNetworkGDAS(8, 1, 4, 10, OPS, affine=False, track_running_stats=False)
net = net.to(memory_format=torch.channels_last)  # layout only: ~30% faster on 1 CPU thread
w_opt = torch.optim.SGD(net.get_weights(), 0.025, momentum=0.9, weight_decay=5e-4, nesterov=True)
a_opt = torch.optim.Adam(net.get_alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
crit = nn.CrossEntropyLoss()
E, start = a.epochs, 0
os.makedirs(a.out, exist_ok=True)
ck = os.path.join(a.out, "ckpt.pt")
if a.resume and os.path.exists(ck):
    s = torch.load(ck, weights_only=False)
    net.load_state_dict(s["net"]); w_opt.load_state_dict(s["w"]); a_opt.load_state_dict(s["a"])
    torch.set_rng_state(s["trng"]); random.setstate(s["prng"]); start = s["epoch"]
    with open(os.path.join(a.out, "alphas.jsonl")) as f:  # drop lines past the checkpoint
        keep = [l for l in f if json.loads(l)["epoch"] < start]
    open(os.path.join(a.out, "alphas.jsonl"), "w").writelines(keep)
    print(f"resumed at epoch {start}", flush=True)
else:
    json.dump(vars(a) | {"C": 8, "N": 1, "lr": 0.025, "lr_min": 0.001, "momentum": 0.9,
              "nesterov": True, "wd": 5e-4, "clip": 5, "arch_lr": 3e-4, "arch_betas": [0.5, 0.999],
              "arch_wd": 1e-3, "tau": [10, 0.1], "batch": 64, "train_first": tr_idx[:5],
              "valid_first": va_idx[:5]}, open(os.path.join(a.out, "config.json"), "w"))
    open(os.path.join(a.out, "alphas.jsonl"), "w").close()

def arch_string(alpha):
    k = alpha.argmax(1).tolist()
    e = [f"{OPS[k[i]]}~{j}" for i, j in zip(range(6), [0, 0, 1, 0, 1, 2])]
    return f"|{e[0]}|+|{e[1]}|{e[2]}|+|{e[3]}|{e[4]}|{e[5]}|"

stop = E if a.epochs_run <= 0 else min(E, a.epochs_run)
net.train()
for ep in range(start, stop):
    t0 = time.time()
    lr = 0.001 + (0.025 - 0.001) * (1 + math.cos(math.pi * ep / E)) / 2
    for g in w_opt.param_groups:
        g["lr"] = lr
    net.set_tau(10 - (10 - 0.1) * ep / (E - 1))
    perm = torch.randperm(len(Ytr))
    m = np.zeros(4)  # train loss / correct, valid loss / correct (sums)
    for b in range(0, len(perm), 64):
        ti = perm[b:b + 64]
        vi = torch.tensor([random.randrange(len(Yva)) for _ in ti])  # SearchDataset pairing
        x, y, vx, vy = augment(Xtr, ti), Ytr[ti], augment(Xva, vi), Yva[vi]
        w_opt.zero_grad()
        _, logits = net(x)
        loss = crit(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5)
        w_opt.step()
        m[0] += loss.item() * len(y); m[1] += (logits.argmax(1) == y).sum().item()
        a_opt.zero_grad()
        _, logits = net(vx)
        loss = crit(logits, vy)
        loss.backward()
        a_opt.step()
        m[2] += loss.item() * len(vy); m[3] += (logits.argmax(1) == vy).sum().item()
    al = net.arch_parameters.detach()[:, PERM]
    n = len(Ytr)
    rec = {"epoch": ep, "alphas": [[round(v, 6) for v in r] for r in al.softmax(1).tolist()],
           "arch": arch_string(net.arch_parameters.detach()),
           "logits": [[round(v, 6) for v in r] for r in al.tolist()],
           "train_loss": m[0] / n, "train_acc": 100 * m[1] / n, "valid_loss": m[2] / n,
           "valid_acc": 100 * m[3] / n, "tau": net.get_tau(), "lr": lr, "sec": time.time() - t0}
    with open(os.path.join(a.out, "alphas.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"epoch {ep} {rec['sec']:.1f}s train {rec['train_acc']:.1f} valid {rec['valid_acc']:.1f} "
          f"tau {rec['tau']:.3f} {rec['arch']}", flush=True)
    if (ep + 1) % a.ckpt_every == 0 or ep + 1 == stop:
        torch.save({"net": net.state_dict(), "w": w_opt.state_dict(), "a": a_opt.state_dict(),
                    "trng": torch.get_rng_state(), "prng": random.getstate(), "epoch": ep + 1},
                   ck + ".tmp")
        os.replace(ck + ".tmp", ck)
print("final", arch_string(net.arch_parameters.detach()), flush=True)
