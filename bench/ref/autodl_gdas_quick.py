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
The protocol parts (split, loading, augmentation, record, checkpoint) are in quick_protocol.py.
"""
import argparse, os, random, sys
import torch
import torch.nn as nn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quick_protocol as qp  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--autodl", default="/tmp/autodl")
qp.add_common_args(p, out="/work/main/runs/autodl-gdas/s1", epochs=700)
a = p.parse_args()
sys.path.insert(0, a.autodl)
from xautodl.models.cell_searchs.search_model_gdas import TinyNetworkGDAS  # noqa: E402
from xautodl.models.cell_operations import SearchSpaceNames  # noqa: E402

torch.set_num_threads(1)
OPS = SearchSpaceNames["nas-bench-201"]
PERM = [OPS.index(o) for o in qp.OURS]  # identity today; kept so a reorder would be caught

d = qp.QuickData(a.data, a.images)
augment = qp.normaliser([125.3, 123.0, 113.9], [63.0, 62.1, 66.7])  # AutoDL / dnas_cifar_norm

# ---- model and optimisers, as GDAS.py builds them (GDAS.sh: BN=0, tau 10 -> 0.1)
qp.seed_all(a.seed)
net = TinyNetworkGDAS(8, 1, 4, 10, OPS, affine=False, track_running_stats=False)
net = net.to(memory_format=torch.channels_last)  # layout only: ~30% faster on 1 CPU thread
w_opt = torch.optim.SGD(net.get_weights(), 0.025, momentum=0.9, weight_decay=5e-4, nesterov=True)
a_opt = torch.optim.Adam(net.get_alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
crit = nn.CrossEntropyLoss()
E = a.epochs
run = qp.Run(a, {"net": net, "w": w_opt, "a": a_opt},
             {"C": 8, "N": 1, "lr": 0.025, "lr_min": 0.001, "momentum": 0.9,
              "nesterov": True, "wd": 5e-4, "clip": 5, "arch_lr": 3e-4, "arch_betas": [0.5, 0.999],
              "arch_wd": 1e-3, "tau": [10, 0.1], "batch": qp.BATCH, "train_first": d.tr_idx[:5],
              "valid_first": d.va_idx[:5]})

net.train()
for ep, lr in run.epochs(w_opt):
    net.set_tau(10 - (10 - 0.1) * ep / (E - 1))
    perm = torch.randperm(len(d.Ytr))
    m = qp.Meter()
    for b in range(0, len(perm), qp.BATCH):
        ti = perm[b:b + qp.BATCH]
        vi = torch.tensor([random.randrange(len(d.Yva)) for _ in ti])  # SearchDataset pairing
        x, y, vx, vy = augment(d.Xtr, ti), d.Ytr[ti], augment(d.Xva, vi), d.Yva[vi]
        w_opt.zero_grad()
        _, logits = net(x)
        loss = crit(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5)
        w_opt.step()
        m.add(0, loss, logits, y)
        a_opt.zero_grad()
        _, logits = net(vx)
        loss = crit(logits, vy)
        loss.backward()
        a_opt.step()
        m.add(1, loss, logits, vy)
    run.end_epoch(ep, net.arch_parameters.detach()[:, PERM], m, lr, tau=net.get_tau())
print("final", qp.arch_string(net.arch_parameters.detach()[:, PERM]), flush=True)
