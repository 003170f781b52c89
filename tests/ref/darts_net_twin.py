"""PyTorch twin of the dnas discrete networks (docs ALGORITHMS.md section A3 and A1/A2):

  NetworkCIFAR    DARTS's evaluation network of a genotype (src/space/darts_net.c), with the
                  auxiliary head and drop path, drop-path masks drawn exactly as
                  src/ops/droppath.c draws them (Philox4x32-10, implemented here in numpy);
  NB201Network    the NAS-Bench-201 benchmark network of an arch string (src/space/nb201_net.c),
                  used for parameter counts.

Written from the specification, not from reference code. state_dict() keys are exactly the C
builders' parameter and buffer names:

    stem.0.weight, stem.1.{weight,bias,running_mean,running_var}
    cells.{k}.preprocess0.op.{1,2}.*          ReLU-conv1x1-BN (op.0 is the ReLU)
    cells.{k}.preprocess0.{conv_1,conv_2,bn}.* FactorizedReduce (after a reduction cell)
    cells.{k}._ops.{j}.op.{1,2,3,5,6,7}.*     sep_conv: ReLU dw pw BN ReLU dw pw BN
    cells.{k}._ops.{j}.op.{1,2,3}.*           dil_conv: ReLU dw pw BN
    cells.{k}._ops.{j}.{conv_1,conv_2,bn}.*   skip_connect at stride 2 (FactorizedReduce)
    auxiliary_head.features.{2,3,5,6}.*, auxiliary_head.classifier.*
    classifier.{weight,bias}

Run this file to print the parameter counts it knows (DARTS_V2 3,349,342, DARTS_V1 3,169,414,
aux head 476,426 are asserted) and to check Philox against Random123's known answers.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Philox4x32-10 (Salmon et al., SC'11), as src/core/rng.c: a 64-bit counter fills words 0-1 of
# the 128-bit counter (2-3 are 0), a 64-bit key fills the two key words.

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)
LO = np.uint64(0xFFFFFFFF)


def philox4x32_10(key, ctr):
    """key: (k0, k1) uint32; ctr: uint32 array (..., 4). Returns uint32 array (..., 4)."""
    c = np.asarray(ctr, dtype=np.uint32).copy()
    k0, k1 = np.uint32(key[0]), np.uint32(key[1])
    with np.errstate(over="ignore"):
        for _ in range(10):
            p0 = M0 * c[..., 0].astype(np.uint64)
            p1 = M1 * c[..., 2].astype(np.uint64)
            n0 = (p1 >> np.uint64(32)).astype(np.uint32) ^ c[..., 1] ^ k0
            n1 = (p1 & LO).astype(np.uint32)
            n2 = (p0 >> np.uint64(32)).astype(np.uint32) ^ c[..., 3] ^ k1
            n3 = (p0 & LO).astype(np.uint32)
            c = np.stack([n0, n1, n2, n3], axis=-1)
            k0 = np.uint32(k0 + W0)
            k1 = np.uint32(k1 + W1)
    return c


def philox64(key, counters):
    """dnas_philox(key, counter) for a uint64 key and an array of uint64 counters."""
    counters = np.asarray(counters, dtype=np.uint64)
    ctr = np.zeros(counters.shape + (4,), dtype=np.uint32)
    ctr[..., 0] = (counters & LO).astype(np.uint32)
    ctr[..., 1] = (counters >> np.uint64(32)).astype(np.uint32)
    key = int(key)
    return philox4x32_10((key & 0xFFFFFFFF, key >> 32), ctr)


def check_philox():
    """Random123's known-answer vectors for philox4x32_10."""
    kat = [
        ((0, 0), (0, 0, 0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF,) * 4, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0xA4093822, 0x299F31D0), (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
         (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ]
    for key, ctr, want in kat:
        got = tuple(int(v) for v in philox4x32_10(key, np.array(ctr, dtype=np.uint32)))
        assert got == want, "philox KAT: %s != %s" % ([hex(v) for v in got], [hex(v) for v in want])


DROPPATH_DOMAIN = 0x44524F5050415448  # "DROPPATH", src/ops/ops.h DNAS_DROPPATH_DOMAIN


def droppath_scales(key, step, ordinal, n, p):
    """dnas_droppath_scales: per-sample factor (u < keep) / keep, float32 arithmetic."""
    assert 0 <= p < 1 and step < 2 ** 32 and ordinal < 2 ** 16
    i = np.arange(n, dtype=np.uint64)
    ctr = (np.uint64(step) << np.uint64(32)) | (np.uint64(ordinal) << np.uint64(16)) | (i // np.uint64(4))
    words = philox64(int(key) ^ DROPPATH_DOMAIN, ctr)[np.arange(n), (i % np.uint64(4)).astype(np.int64)]
    u = (words >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    keep = np.float32(1.0) - np.float32(p)
    return np.where(u < keep, np.float32(1.0) / keep, np.float32(0.0)).astype(np.float32), u < keep


class DropPath:
    """The masks of one forward: the k-th drop path call of the network gets ordinal k, as the
    C builder numbers drop-path nodes in construction order (cell, node, first op, second)."""

    def __init__(self, p, key, step):
        self.p, self.key, self.step, self.count, self.masks = p, key, step, 0, []

    def __call__(self, x):
        _, mask = droppath_scales(self.key, self.step, self.count, x.shape[0], self.p)
        self.count += 1
        self.masks.append(mask)
        keep = 1.0 - float(np.float32(self.p))
        m = torch.tensor(mask, dtype=x.dtype).view(-1, 1, 1, 1)
        return x.div(keep).mul(m)  # the reference's drop_path: divide by keep, then mask


# ---------------------------------------------------------------------------------------------
# DARTS NetworkCIFAR

PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")

# (normal pairs, normal_concat, reduce pairs, reduce_concat); ALGORITHMS.md §A3.
GENOTYPES = {
    "DARTS_V2": ([("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                  ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
                 [2, 3, 4, 5],
                 [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                  ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
                 [2, 3, 4, 5]),
    "DARTS_V1": ([("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
                  ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
                 [2, 3, 4, 5],
                 [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
                  ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
                 [2, 3, 4, 5]),
    "PC_DARTS": ([("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
                  ("sep_conv_5x5", 0), ("sep_conv_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_3x3", 1)],
                 [2, 3, 4, 5],
                 [("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
                  ("sep_conv_3x3", 0), ("sep_conv_3x3", 3), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2)],
                 [2, 3, 4, 5]),
}


def bn(c):
    return nn.BatchNorm2d(c)  # affine, running statistics, momentum 0.1, eps 1e-5


class ReLUConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), bn(cout))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.bn = bn(cout)

    def forward(self, x):
        x = F.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class SepConv(nn.Module):
    def __init__(self, c, k, stride):
        super().__init__()
        p = k // 2
        self.op = nn.Sequential(
            nn.ReLU(), nn.Conv2d(c, c, k, stride, p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), bn(c),
            nn.ReLU(), nn.Conv2d(c, c, k, 1, p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), bn(c))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    def __init__(self, c, k, stride):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(), nn.Conv2d(c, c, k, stride, k - 1, dilation=2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), bn(c))

    def forward(self, x):
        return self.op(x)


class Pool(nn.Module):
    def __init__(self, kind, stride):
        super().__init__()
        self.kind, self.stride = kind, stride

    def forward(self, x):
        if self.kind == "max":
            return F.max_pool2d(x, 3, self.stride, 1)
        return F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class Identity(nn.Module):
    def forward(self, x):
        return x


def make_op(name, c, stride):
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return Pool("max", stride)
    if name == "avg_pool_3x3":
        return Pool("avg", stride)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(c, c)
    if name.startswith("sep_conv"):
        return SepConv(c, int(name[-1]), stride)
    if name.startswith("dil_conv"):
        return DilConv(c, int(name[-1]), stride)
    raise ValueError("unknown op " + name)


class Cell(nn.Module):
    def __init__(self, genotype, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c)
        self.preprocess1 = ReLUConvBN(c_p, c)
        pairs, concat = (genotype[2], genotype[3]) if reduction else (genotype[0], genotype[1])
        self._ops = nn.ModuleList()
        self._indices = [j for _, j in pairs]
        for name, j in pairs:
            self._ops.append(make_op(name, c, 2 if reduction and j < 2 else 1))
        self._concat = list(concat)
        self.multiplier = len(concat)

    def forward(self, s0, s1, drop):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self._ops) // 2):
            h = []
            for e in range(2):
                op = self._ops[2 * i + e]
                y = op(states[self._indices[2 * i + e]])
                if drop is not None and not isinstance(op, Identity):
                    y = drop(y)
                h.append(y)
            states.append(h[0] + h[1])
        return torch.cat([states[i] for i in self._concat], dim=1)


class AuxiliaryHead(nn.Module):
    def __init__(self, c, classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), bn(128), nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False), bn(768), nn.ReLU())
        self.classifier = nn.Linear(768, classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class NetworkCIFAR(nn.Module):
    def __init__(self, C, classes, layers, auxiliary, genotype):
        super().__init__()
        if isinstance(genotype, str):
            genotype = GENOTYPES[genotype]
        self._layers = layers
        self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), bn(3 * C))
        c_pp, c_p, c = 3 * C, 3 * C, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        c_aux = None
        for k in range(layers):
            reduction = k in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2
            cell = Cell(genotype, c_pp, c_p, c, reduction, reduction_prev)
            reduction_prev = reduction
            self.cells.append(cell)
            c_pp, c_p = c_p, cell.multiplier * c
            if k == 2 * layers // 3:
                c_aux = c_p
        if auxiliary:
            self.auxiliary_head = AuxiliaryHead(c_aux, classes)
        self.classifier = nn.Linear(c_p, classes)

    def forward(self, x, drop=None):
        """Returns (logits, aux logits or None); the aux head runs in training mode only."""
        aux = None
        s0 = s1 = self.stem(x)
        for k, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop if self.training else None)
            if k == 2 * self._layers // 3 and hasattr(self, "auxiliary_head") and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1)), aux


def count_weights(model, aux=False):
    """Parameters, the auxiliary head excluded unless aux (as count_parameters_in_MB)."""
    return sum(p.numel() for n, p in model.named_parameters()
               if aux or not n.startswith("auxiliary_head"))


# ---------------------------------------------------------------------------------------------
# NAS-Bench-201 benchmark network (TinyNetwork with InferCells), for parameter counts

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def parse_nb201(arch):
    nodes = arch.split("+")
    ops = []
    for i, node in enumerate(nodes):
        parts = [p for p in node.split("|") if p]
        assert len(parts) == i + 1, arch
        for j, p in enumerate(parts):
            name, src = p.split("~")
            assert int(src) == j and name in NB201_OPS, arch
            ops.append(name)
    return ops


class NB201Network(nn.Module):
    def __init__(self, arch, C=16, N=5, classes=10):
        super().__init__()
        ops = parse_nb201(arch)
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), bn(C))
        self.cells = nn.ModuleList()
        c = C
        for stage in range(3):
            if stage:
                blk = nn.Module()
                blk.conv_a = nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1, bias=False), bn(2 * c))
                blk.conv_b = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, 1, 1, bias=False), bn(2 * c))
                blk.downsample = nn.Conv2d(c, 2 * c, 1, bias=False)
                self.cells.append(blk)
                c *= 2
            for _ in range(N):
                cell = nn.ModuleList()
                for op in ops:
                    if op in ("nor_conv_1x1", "nor_conv_3x3"):
                        k = 1 if op == "nor_conv_1x1" else 3
                        cell.append(nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2, bias=False), bn(c)))
                self.cells.append(cell)
        self.lastact = bn(c)
        self.classifier = nn.Linear(c, classes)


if __name__ == "__main__":
    check_philox()
    for name in GENOTYPES:
        m = NetworkCIFAR(36, 10, 20, True, name)
        print("%-9s C36 L20: %d weights (aux head excluded), aux head %d" %
              (name, count_weights(m), count_weights(m, True) - count_weights(m)))
    assert count_weights(NetworkCIFAR(36, 10, 20, False, "DARTS_V2")) == 3349342
    assert count_weights(NetworkCIFAR(36, 10, 20, False, "DARTS_V1")) == 3169414
    assert sum(p.numel() for p in AuxiliaryHead(576, 10).parameters()) == 476426
    print("Philox KAT ok; counts ok")
