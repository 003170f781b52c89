#!/usr/bin/env python3
"""Comparison driver, NOT part of the dnas library: runs the REFERENCE PC-DARTS on NAS-Bench-201
(xiangning-chen/DrNAS, 201-space/train_search.py --method darts --k 4, the code behind the
PC-DARTS row of DrNAS's NB201 table) on CPU under dnas's `--preset quick` protocol, to tell
protocol effects from implementation effects.

Imported from the DrNAS checkout (--drnas, not copied): TinyNetwork (search_model.py, with
NAS201SearchCell_PartialChannel: an edge's ops see 1/k of the channels, the rest bypass, then
channel shuffle), NAS_BENCH_201, Architect (architect.py: Adam on alpha, betas (0.5, 0.999),
weight decay = reg_scale 1e-3 as its l2 path sets it; args.arch_weight_decay is unused there),
and the CIFAR mean / std read from utils._data_transforms_cifar10. To import on CPU,
torch.Tensor.cuda / nn.Module.cuda return self (TinyNetwork builds a Dirichlet anchor on
.cuda()), and torchvision.transforms, imported by utils.py only for those transforms, is a stub
that records its arguments.
Reproduced here from train_search.py's main() / train() (semantics kept): TinyNetwork(C, N,
max_nodes 4, 10 classes, CrossEntropyLoss, NAS_BENCH_201, k, species 'softmax'), default
affine=False / track_running_stats=True; per train batch FIRST the arch step on a random valid
batch (their next(iter(valid_queue)) over a SubsetRandomSampler: 64 distinct valid images drawn
anew each time), first-order (unrolled=False), from the first epoch (their `if epoch >= 15`
is commented out); THEN the weight step on the train batch: SGD(model.get_weights(), 0.025,
momentum 0.9, weight decay 3e-4), clip_grad_norm_(model.parameters(), 5) (alpha's grad from
the train loss included, as there), both optimisers' grads zeroed around it as there; LR
cosine to 0.001 by epoch (CosineAnnealingLR stepped per epoch); batch 64, the last train
batch of an epoch partial (no drop_last); both halves augmented (pad 4 + random crop 32 +
h-flip; valid_queue also uses train_transform there), DrNAS's normalisation. Their per-epoch
infer() (eval mode, no grad, no effect on the search) and NB201 API queries are left out.
Replaced by dnas's quick protocol: C = 8, N = 1 (theirs 16, 5), 140 epochs (DARTS's 50 scaled
by 14/5 as quick scales it), and the data: dnas's stratified split (seed 0; ported from
src/data/loader.c) capped to the first 5,000 (sorted) indices of each half, instead of
torchvision's CIFAR-10 train set split 25,000 / 25,000 in file order.

Output OUT/alphas.jsonl, one line per epoch in dnas's format ("alphas" = softmax(alpha) per
edge, NB201 op order, edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, mapped from TinyNetwork's
edge2index) plus raw logits, "arch" (argmax per edge, checked against model.genotype()), the
weight steps' train and the arch steps' valid loss / accuracy (train-mode BN, as computed
during the search), lr, seconds. --epochs-run stops early while the schedule stays that of
--epochs. OUT/ckpt.pt (every --ckpt-every epochs) lets --resume continue a stopped run.
The protocol parts (split, loading, augmentation, record, checkpoint) are in quick_protocol.py.
"""
import argparse, os, sys, types
import torch
import torch.nn as nn
from types import SimpleNamespace
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quick_protocol as qp  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--drnas", default="/tmp/drnas", help="extracted xiangning-chen/DrNAS tree")
p.add_argument("--k", type=int, default=4, help="partial channel parameter (1: plain DARTS)")
qp.add_common_args(p, out="/work/main/runs/ref-pcdarts/s1", epochs=140)
a = p.parse_args()

# ---- import DrNAS on a CPU-only machine
torch.Tensor.cuda = lambda self, *args, **kw: self
nn.Module.cuda = lambda self, *args, **kw: self
class Recorded:  # stand-in for a torchvision transform: keeps its arguments
    def __init__(self, *args, **kw):
        self.args, self.kw = args, kw
tv = types.ModuleType("torchvision")
tv.transforms = types.ModuleType("torchvision.transforms")
def transform(name):  # module __getattr__: any transform class name gives a Recorded subclass
    if name.startswith("_"):
        raise AttributeError(name)
    return type(name, (Recorded,), {})
tv.transforms.__getattr__ = transform
sys.modules |= {"torchvision": tv, "torchvision.transforms": tv.transforms}
sys.path[:0] = [os.path.join(a.drnas, "201-space"), a.drnas]
import utils as drnas_utils  # noqa: E402
from search_model import TinyNetwork  # noqa: E402
from cell_operations import NAS_BENCH_201  # noqa: E402
from architect import Architect  # noqa: E402

torch.set_num_threads(1)
PERM = [NAS_BENCH_201.index(o) for o in qp.OURS]  # identity today; kept to catch a reorder

tf = drnas_utils._data_transforms_cifar10(SimpleNamespace(cutout=False))[0].args[0]
assert [type(t).__name__ for t in tf] == ["RandomCrop", "RandomHorizontalFlip", "ToTensor",
                                          "Normalize"]
assert tf[0].args == (32,) and tf[0].kw == {"padding": 4}
MEAN, STD = tf[3].args  # 0..1 units (after ToTensor)
d = qp.QuickData(a.data, a.images)
augment = qp.normaliser([255 * v for v in MEAN], [255 * v for v in STD])

# ---- model and optimisers, as train_search.py builds them (defaults of its argparse)
hp = SimpleNamespace(learning_rate=0.025, learning_rate_min=0.001, momentum=0.9,
                     weight_decay=3e-4, grad_clip=5, arch_learning_rate=3e-4, reg_type="l2",
                     reg_scale=1e-3)
qp.seed_all(a.seed)
crit = nn.CrossEntropyLoss()
class Tally(nn.CrossEntropyLoss):  # the model's criterion (Architect's _loss): keeps its last call
    def forward(self, logits, target):
        loss = super().forward(logits, target)
        self.last = (loss.detach(), logits.detach(), target)
        return loss
model = TinyNetwork(C=8, N=1, max_nodes=4, num_classes=10, criterion=Tally(),
                    search_space=NAS_BENCH_201, k=a.k, species="softmax")
# (left NCHW: model.to(memory_format=torch.channels_last) measured ~5% slower here)
ROWS = [model.edge2index[e] for e in qp.EDGES]  # their alpha row of each dnas edge
w_opt = torch.optim.SGD(model.get_weights(), hp.learning_rate, momentum=hp.momentum,
                        weight_decay=hp.weight_decay)
architect = Architect(model, hp)
a_def = architect.optimizer.defaults
run = qp.Run(a, {"net": model, "w": w_opt, "a": architect.optimizer},
             {"C": 8, "N": 1, "lr": hp.learning_rate, "lr_min": hp.learning_rate_min,
              "momentum": hp.momentum, "nesterov": False, "wd": hp.weight_decay,
              "clip": hp.grad_clip, "arch_lr": a_def["lr"], "arch_betas": list(a_def["betas"]),
              "arch_wd": a_def["weight_decay"], "unrolled": False, "batch": qp.BATCH,
              "mean": MEAN, "std": STD, "edge_rows": ROWS, "train_first": d.tr_idx[:5],
              "valid_first": d.va_idx[:5]})

def alpha():
    return model.arch_parameters()[0].detach()[ROWS][:, PERM]

for ep, lr in run.epochs(w_opt):
    m = qp.Meter()
    perm = torch.randperm(len(d.Ytr))
    for b in range(0, len(perm), qp.BATCH):
        model.train()
        ti = perm[b:b + qp.BATCH]
        x, y = augment(d.Xtr, ti), d.Ytr[ti]
        vi = torch.randperm(len(d.Yva))[:qp.BATCH]  # next(iter(valid_queue))
        architect.step(x, y, augment(d.Xva, vi), d.Yva[vi], lr, w_opt, unrolled=False)
        m.add(1, *model._criterion.last)
        w_opt.zero_grad()
        architect.optimizer.zero_grad()
        logits = model(x)
        loss = crit(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        w_opt.step()
        w_opt.zero_grad()
        architect.optimizer.zero_grad()
        m.add(0, loss, logits, y)
    assert qp.arch_string(alpha()) == model.genotype().tostr()
    run.end_epoch(ep, alpha(), m, lr)
print("final", qp.arch_string(alpha()), flush=True)
