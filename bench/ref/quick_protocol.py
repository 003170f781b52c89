"""dnas's `--preset quick` protocol for the reference-code drivers in bench/ref (NOT part of
the dnas library): the data split ported from src/data/loader.c, CIFAR-10 binary loading,
augmentation, the per-edge arch string, and the per-epoch record / checkpoint / resume loop.

Each driver keeps its own model, optimisers, normalisation constants and per-batch step.
"""
import json, math, os, random, time
import numpy as np
import torch

OURS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]  # nb201_table.c
EDGES = ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]  # dnas rows 0; 1, 2; 3, 4, 5
BATCH = 64

# ---- dnas's split (loader.c: SplitMix64 hash, Fisher-Yates per class)
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


class QuickData:
    """CIFAR-10 train batches (binary) split as dnas does, each half capped to its first
    `images` (sorted) indices. Xtr / Xva: zero-padded uint8 (n, 3, 40, 40), pad pixels black
    as torchvision's; Ytr / Yva: int64 labels."""

    def __init__(self, data_dir, images):
        raw = np.concatenate([np.fromfile(f"{data_dir}/data_batch_{k}.bin", np.uint8)
                              .reshape(10000, 3073) for k in range(1, 6)])
        labels = raw[:, 0].astype(np.int64)
        tr, va = split(labels.tolist())
        self.tr_idx, self.va_idx = tr[:images], va[:images]
        def subset(idx):
            x = raw[idx, 1:].reshape(-1, 3, 32, 32)
            return (torch.from_numpy(np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))),
                    torch.from_numpy(labels[idx]))
        self.Xtr, self.Ytr = subset(self.tr_idx)
        self.Xva, self.Yva = subset(self.va_idx)


def normaliser(mean, std):
    """augment(X, ids): pad 4 + random crop 32 + h-flip (python `random`), then
    (x - mean) / std with mean / std in 0..255 pixel units, channels_last float batch."""
    mean = torch.tensor(mean).view(1, 3, 1, 1)
    std = torch.tensor(std).view(1, 3, 1, 1)
    def augment(X, ids):
        out = torch.empty(len(ids), 3, 32, 32, dtype=torch.uint8)
        for j, i in enumerate(ids.tolist()):
            dy, dx = random.randint(0, 8), random.randint(0, 8)
            img = X[i, :, dy:dy + 32, dx:dx + 32]
            out[j] = img.flip(2) if random.random() < 0.5 else img
        return ((out.float() - mean) / std).contiguous(memory_format=torch.channels_last)
    return augment


def arch_string(alpha):
    """argmax per row; alpha's rows in dnas edge order (EDGES), columns in OURS order."""
    k = alpha.argmax(1).tolist()
    e = [f"{OURS[k[i]]}~{j}" for i, j in zip(range(6), [0, 0, 1, 0, 1, 2])]
    return f"|{e[0]}|+|{e[1]}|{e[2]}|+|{e[3]}|{e[4]}|{e[5]}|"


def cosine_lr(ep, epochs, lr_max=0.025, lr_min=0.001):
    """CosineAnnealingLR(T_max=epochs, eta_min=lr_min) stepped once per epoch."""
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * ep / epochs)) / 2


def add_common_args(p, out, epochs):
    p.add_argument("--data", default="/work/main/build/data/cifar-10-batches-bin")
    p.add_argument("--out", default=out)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--epochs-run", type=int, default=0, help="stop after this many epochs (0: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--ckpt-every", type=int, default=5)
    p.add_argument("--resume", action="store_true")


def seed_all(seed):
    random.seed(seed); np.random.seed(seed); torch.manual_seed(seed)


class Meter:
    """Sums of loss * images, correct and images over an epoch, row 0 the train half's
    batches, row 1 the valid half's."""

    def __init__(self):
        self.s = np.zeros((2, 3))

    def add(self, half, loss, logits, y):
        self.s[half] += (loss.item() * len(y), (logits.argmax(1) == y).sum().item(), len(y))


class Run:
    """OUT/config.json, OUT/alphas.jsonl (one line per epoch) and OUT/ckpt.pt (every
    --ckpt-every epochs and at the stop): `states` maps checkpoint keys to objects with
    state_dict / load_state_dict (model, optimisers); the torch and python RNG states are
    saved too. With --resume an existing checkpoint is loaded and alphas.jsonl lines past
    it dropped; otherwise config.json is written (args + `config`) and alphas.jsonl emptied."""

    def __init__(self, a, states, config):
        self.a, self.states = a, states
        self.stop = a.epochs if a.epochs_run <= 0 else min(a.epochs, a.epochs_run)
        os.makedirs(a.out, exist_ok=True)
        self.ck = os.path.join(a.out, "ckpt.pt")
        self.log = os.path.join(a.out, "alphas.jsonl")
        self.start = 0
        if a.resume and os.path.exists(self.ck):
            s = torch.load(self.ck, weights_only=False)
            for k, obj in states.items():
                obj.load_state_dict(s[k])
            torch.set_rng_state(s["trng"]); random.setstate(s["prng"]); self.start = s["epoch"]
            with open(self.log) as f:  # drop lines past the checkpoint
                keep = [l for l in f if json.loads(l)["epoch"] < self.start]
            open(self.log, "w").writelines(keep)
            print(f"resumed at epoch {self.start}", flush=True)
        else:
            json.dump(vars(a) | config, open(os.path.join(a.out, "config.json"), "w"))
            open(self.log, "w").close()

    def epochs(self, opt):
        """yields (epoch, lr) from the start (or resume point) to the stop, lr = cosine_lr
        set on all of the weight optimiser `opt`'s groups."""
        for ep in range(self.start, self.stop):
            self.t0 = time.time()
            lr = cosine_lr(ep, self.a.epochs)
            for g in opt.param_groups:
                g["lr"] = lr
            yield ep, lr

    def end_epoch(self, ep, alpha, meter, lr, **extra):
        """alpha: raw logits, rows in dnas edge order (EDGES), columns in OURS order; meter:
        the epoch's Meter; extra: more fields for the record (and the printed line)."""
        (tl, tc, tn), (vl, vc, vn) = meter.s
        rec = {"epoch": ep, "alphas": [[round(v, 6) for v in r] for r in alpha.softmax(1).tolist()],
               "arch": arch_string(alpha),
               "logits": [[round(v, 6) for v in r] for r in alpha.tolist()],
               "train_loss": tl / tn, "train_acc": 100 * tc / tn, "valid_loss": vl / vn,
               "valid_acc": 100 * vc / vn, **extra, "lr": lr, "sec": time.time() - self.t0}
        with open(self.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        more = "".join(f" {k} {v:.3f}" for k, v in extra.items())
        print(f"epoch {ep} {rec['sec']:.1f}s train {rec['train_acc']:.1f} valid "
              f"{rec['valid_acc']:.1f}{more} {rec['arch']}", flush=True)
        if (ep + 1) % self.a.ckpt_every == 0 or ep + 1 == self.stop:
            s = {k: obj.state_dict() for k, obj in self.states.items()}
            torch.save(s | {"trng": torch.get_rng_state(), "prng": random.getstate(),
                            "epoch": ep + 1}, self.ck + ".tmp")
            os.replace(self.ck + ".tmp", self.ck)
