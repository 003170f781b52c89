"""What the PyTorch twin scripts of tests/ref share: their command line (--out, a fixture next to
the scripts), the deterministic torch setup that makes a re-run write the same bytes, the seeded
random batch, the name-hash weight rule of the DARTS-space fixtures and the normwise relative
error they print. The fixture file format itself (write_fixture, read_fixture) is
make_fixtures.py's."""

import argparse
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def out_path(name):
    """tests/ref/<name>: where a fixture is written unless --out says otherwise."""
    return os.path.join(HERE, name)


def parse_out(name, doc=None):
    """The scripts' command line: --out PATH, by default tests/ref/<name>. With `doc`, --help
    shows it (the script's docstring)."""
    kw = dict(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter) if doc else {}
    ap = argparse.ArgumentParser(**kw)
    ap.add_argument("--out", default=out_path(name))
    return ap.parse_args()


def deterministic(seed=None):
    """Deterministic kernels on one thread (a fixed reduction order: the same bytes on re-run);
    with `seed`, torch's global generator seeded (the twins' default init draws from it)."""
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    if seed is not None:
        torch.manual_seed(seed)


def random_batch(g, batch, image, classes):
    """`batch` N(0,1) images (batch, 3, image, image) and int64 labels below `classes`, drawn from
    the generator g in that order."""
    return (torch.randn(batch, 3, image, image, generator=g),
            torch.randint(0, classes, (batch,), generator=g, dtype=torch.int64))


def seeded_batch(seed, batch, image, classes):
    """A fresh generator seeded with `seed`, and the first random_batch drawn from it."""
    g = torch.Generator().manual_seed(seed)
    x, y = random_batch(g, batch, image, classes)
    return g, x, y


def relerr(a, b):
    """Normwise relative difference max|a - b| / max|b|."""
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


# ---------------------------------------------------------------------------------------------
# The name-hash weight rule (make_darts_fixture.py's docstring; tests/ref/twin.h
# twin_init_by_rule computes it bit-identically): the fixtures need not store weights.

M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def rule_values(name, n):
    """The start values of a parameter's n elements (before the per-kind scaling), as doubles."""
    base = fnv1a64(name)
    return np.array([2.0 * ((splitmix64((base + j) & M64) >> 11) * 2.0 ** -53) - 1.0
                     for j in range(n)], dtype=np.float64)


def init_by_rule(model):
    """Every parameter of `model` by the rule: conv / linear weight and linear bias
    s / sqrt(fan_in), BN weight 1 + s / 8, BN bias s / 8 (s = rule_values)."""
    mods = dict(model.named_modules())
    with torch.no_grad():
        for name, p in model.named_parameters():
            s = rule_values(name, p.numel())
            mod = mods[name.rsplit(".", 1)[0]]
            if isinstance(mod, torch.nn.BatchNorm2d):
                v = 1.0 + s / 8 if name.endswith(".weight") else s / 8
            else:
                w = mod.weight
                fan_in = w.shape[1] * (w.shape[2] * w.shape[3] if w.dim() == 4 else 1)
                v = s * (1.0 / math.sqrt(fan_in))
            p.copy_(torch.from_numpy(v.astype(np.float32)).reshape(p.shape))


def rule_models(make):
    """make()'s model with the rule's weights, and a float64 copy of it (the same float32 start:
    the run that prints the float32 noise floor), both in train mode."""
    model = make()
    init_by_rule(model)
    model.train()
    m64 = make().double()
    m64.load_state_dict(model.state_dict())
    m64.train()
    return model, m64
