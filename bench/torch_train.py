#!/usr/bin/env python3
"""PyTorch anchor for `dnas bench train` (issue: DARTS space): times one training step of a
DARTS evaluation network (NetworkCIFAR of a published genotype, our twin
tests/ref/darts_net_twin.py) as quark0's cnn/train.py runs it, on random data:
  zero grads, forward with drop path (per-sample Bernoulli masks, divide by keep) and the
  auxiliary head, loss = main + 0.4 * aux, backward, clip the grad norm to 5,
  SGD(lr 0.025, momentum 0.9, weight decay 3e-4).
Prints one JSON line with the median ms per step and the process's peak resident memory.

Usage: python3 bench/torch_train.py [--genotype DARTS_V2] [--threads 2] [--batch 96]
                                    [--channels 36] [--layers 20] [--drop-path 0.2]
                                    [--warmup 2] [--steps 5]
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from darts_net_twin import NetworkCIFAR, count_weights  # noqa: E402


class BernoulliDropPath:
    """quark0's drop_path: one Bernoulli(keep) draw per sample, x / keep * mask."""

    def __init__(self, p):
        self.p = p

    def __call__(self, x):
        keep = 1.0 - self.p
        mask = torch.empty(x.size(0), 1, 1, 1, device=x.device).bernoulli_(keep)
        return x.div(keep).mul(mask)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genotype", default="DARTS_V2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--channels", type=int, default=36)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--drop-path", type=float, default=0.2)
    ap.add_argument("--auxiliary", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = NetworkCIFAR(args.channels, 10, args.layers, bool(args.auxiliary), args.genotype).train()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=0.025, momentum=0.9, weight_decay=3e-4)
    drop = BernoulliDropPath(args.drop_path) if args.drop_path > 0 else None
    B = args.batch
    pool = [(torch.randn(B, 3, 32, 32), torch.randint(0, 10, (B,))) for _ in range(2)]

    def step(i):
        x, y = pool[i % 2]
        opt.zero_grad(set_to_none=True)
        logits, aux = model(x, drop)
        loss = F.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + 0.4 * F.cross_entropy(aux, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()

    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        step(i)
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "genotype": args.genotype,
        "threads": args.threads, "batch": B, "channels": args.channels, "layers": args.layers,
        "drop_path": args.drop_path, "auxiliary": args.auxiliary, "warmup": args.warmup,
        "steps": args.steps, "ms_median": round(statistics.median(times), 3),
        "ms_min": round(min(times), 3), "n_weights": count_weights(model),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }))


if __name__ == "__main__":
    main()
