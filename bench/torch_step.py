#!/usr/bin/env python3
"""PyTorch anchor for `dnas bench step` (docs ANCHORS.md): times one DARTS-V1 search step of the
full-size NAS-Bench-201 supernet (C=16, N=5, 10 classes, 1,692,826 weights) built by our twin
tests/ref/nb201_twin.py, on random data; with --space darts, of the DARTS CNN search network
(C=16, 8 layers, 1,930,618 weights, tests/ref/darts_twin.py) with quark0's first-order
settings (SGD without Nesterov, weight decay 3e-4).

One step, as AutoDL DARTS-V1 runs it (w step first, then the arch step):
  w step:    zero grads, forward on a train batch, backward, clip the weights' grad norm to 5,
             SGD(lr 0.025, momentum 0.9, Nesterov, weight decay 5e-4)
  arch step: zero grads, forward on a validation batch with the updated weights, backward,
             Adam on alpha (lr 3e-4, betas (0.5, 0.999), weight decay 1e-3)
By default the arch backward is a plain loss.backward(), which also computes the weight
gradients, as the reference does; --arch-backward alpha differentiates w.r.t. alpha only
(torch.autograd.grad), which lets autograd skip the weight-gradient convolutions.

Prints one JSON line, e.g.
  {"impl": "pytorch", "torch": "2.15.0", "threads": 2, "batch": 64, "ms_median": ..., ...}

Usage: python3 bench/torch_step.py [--threads 2] [--batch 64] [--warmup 5] [--steps 20]
                                   [--device cpu|cuda] [--cuda-graph]
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from nb201_twin import N_WEIGHTS_FULL, NB201Supernet, new_alpha  # noqa: E402
import resource  # noqa: E402

W_LR, W_MOMENTUM, W_WD, W_CLIP = 0.025, 0.9, 5e-4, 5.0
A_LR, A_BETAS, A_WD = 3e-4, (0.5, 0.999), 1e-3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--image", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--cuda-graph", action="store_true", help="capture the whole step in one CUDA graph")
    ap.add_argument("--arch-backward", choices=("all", "alpha"), default="all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--space", choices=("nb201", "darts"), default="nb201")
    args = ap.parse_args()
    if args.cuda_graph and args.device != "cuda":
        ap.error("--cuda-graph needs --device cuda")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True

    if args.space == "nb201":
        model = NB201Supernet(16, 5, 10, track_bn=False).to(dev).train()
        n_expected, nesterov, wd = N_WEIGHTS_FULL, True, W_WD
        alpha = new_alpha().to(dev).requires_grad_(True)
    else:
        import darts_twin
        model = darts_twin.DartsSupernet(16, 8, 10).to(dev).train()
        n_expected, nesterov, wd = darts_twin.N_WEIGHTS_FULL, False, 3e-4
        alpha = (1e-3 * torch.randn(2, darts_twin.N_EDGES, darts_twin.N_OPS)).to(dev).requires_grad_(True)
    n_weights = sum(p.numel() for p in model.parameters())
    assert n_weights == n_expected, n_weights
    weights = list(model.parameters())
    w_opt = torch.optim.SGD(weights, lr=W_LR, momentum=W_MOMENTUM, nesterov=nesterov, weight_decay=wd)
    a_opt = torch.optim.Adam([alpha], lr=A_LR, betas=A_BETAS, weight_decay=A_WD,
                             capturable=args.cuda_graph)

    B, H = args.batch, args.image
    # a few distinct random batches, cycled (generating data is not part of the step)
    pool = [(torch.randn(B, 3, H, H, device=dev), torch.randint(0, 10, (B,), device=dev)) for _ in range(4)]
    xt, yt = pool[0][0].clone(), pool[0][1].clone()  # static inputs (what a CUDA graph reads)
    xv, yv = pool[1][0].clone(), pool[1][1].clone()

    def load(i):
        a, b = pool[i % 4], pool[(i + 1) % 4]
        xt.copy_(a[0]); yt.copy_(a[1]); xv.copy_(b[0]); yv.copy_(b[1])  # noqa: E702

    def step():
        # weight step (alpha takes a gradient too, as in the reference where it is a parameter)
        w_opt.zero_grad(set_to_none=True)
        a_opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt, alpha), yt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights, W_CLIP)
        w_opt.step()
        # arch step
        a_opt.zero_grad(set_to_none=True)
        aloss = F.cross_entropy(model(xv, alpha), yv)
        if args.arch_backward == "all":
            aloss.backward()
        else:
            (alpha.grad,) = torch.autograd.grad(aloss, [alpha])
        a_opt.step()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    run = step
    if args.cuda_graph:
        # warm up on a side stream (optimizer state, cuDNN autotuning), then capture
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for i in range(3):
                load(i)
                step()
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        run = graph.replay

    times = []
    for i in range(args.warmup + args.steps):
        load(i)
        sync()
        t0 = time.perf_counter()
        run()
        sync()
        t1 = time.perf_counter()
        if i >= args.warmup:
            times.append((t1 - t0) * 1e3)

    res = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
        "cuda_graph": bool(args.cuda_graph),
        "threads": args.threads,
        "batch": B,
        "image": H,
        "arch_backward": args.arch_backward,
        "warmup": args.warmup,
        "steps": args.steps,
        "ms_median": round(statistics.median(times), 3),
        "ms_min": round(min(times), 3),
        "n_weights": n_weights,
        "space": args.space,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
