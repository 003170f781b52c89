"""PyTorch twin of the dnas DARTS search supernet (docs ALGORITHMS.md sections A3, A4).

Written from the specification, not from the reference code. The module hierarchy is chosen so
that state_dict() keys are exactly the parameter names of the C builder (src/space/darts.c),
which follow quark0's module names:

    stem.0.weight, stem.1.{weight,bias,running_mean,running_var}   (conv 3x3 3->3C, affine BN)
    cells.{i}.preprocess0.op.1.weight      ReLUConvBN 1x1 (op.2 = BN affine=False)
    cells.{i}.preprocess0.conv_{1,2}.weight  FactorizedReduce after a reduction cell
    cells.{i}.preprocess1.op.1.weight
    cells.{i}._ops.{e}._ops.{k}...         edge e (0..13), op column k (PRIMITIVES order):
        max/avg pool: .0 pool, .1 BN          skip (stride 2): .conv_1/.conv_2 (FactorizedReduce)
        sep_conv: .op.{1,2,5,6}.weight        dil_conv: .op.{1,2}.weight
    classifier.{weight,bias}

An edge builds only its candidate ops (`cand`, per cell type and edge), so the S1-S5 variants
are the same class. The architecture weights are not module parameters: forward(x, alpha) takes
alpha of shape (2, 14, 9) (normal, reduce; columns = the 8 PRIMITIVES then 'noise') and mixes
each edge with the softmax of its candidate columns.

Run this file to check the weight count of the full-size search network (1,930,618).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "noise")
NONE, MAX, AVG, SKIP, SEP3, SEP5, DIL3, DIL5, NOISE = range(9)
N_EDGES, N_OPS, N_NODES = 14, 9, 4
N_WEIGHTS_FULL = 1930618  # C=16, L=8, 10 classes

S1 = (  # RobustDARTS S1 (ALGORITHMS.md A4): [cell type][edge] -> two columns
    ((SKIP, DIL3), (SKIP, DIL5), (SKIP, DIL5), (SKIP, SEP3), (SKIP, DIL3), (MAX, SKIP),
     (SKIP, SEP3), (SKIP, SEP3), (SKIP, DIL3), (SKIP, SEP3), (MAX, SKIP), (SKIP, DIL3),
     (DIL3, DIL5), (DIL3, DIL5)),
    ((MAX, AVG), (MAX, DIL3), (MAX, AVG), (MAX, AVG), (SKIP, DIL5), (MAX, AVG), (MAX, SEP3),
     (SKIP, DIL3), (SKIP, DIL5), (MAX, AVG), (MAX, AVG), (SKIP, DIL5), (SKIP, DIL5),
     (SKIP, DIL5)))


def candidates(ops=""):
    """cand[t][e] = tuple of candidate columns of cell type t, edge e."""
    sets = {"": range(8), "all": range(8), "s2": (SKIP, SEP3), "s3": (NONE, SKIP, SEP3),
            "s4": (SEP3, NOISE), "s5": range(1, 8), "no-none": range(1, 8)}
    if ops == "s1":
        return [[tuple(sorted(S1[t][e])) for e in range(N_EDGES)] for t in range(2)]
    return [[tuple(sets[ops]) for _ in range(N_EDGES)] for _ in range(2)]


def edge_index(node, state):
    return node * (node + 3) // 2 + state


def bn(C, track):
    return nn.BatchNorm2d(C, affine=False, track_running_stats=track)


class ReLUConvBN(nn.Module):
    def __init__(self, cin, cout, track):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), bn(cout, track))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    """ReLU, then two 1x1 stride-2 convs (the second on x without its first row and column),
    concatenated, then BN."""

    def __init__(self, cin, cout, track):
        super().__init__()
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.bn = bn(cout, track)

    def forward(self, x):
        x = F.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class SepConv(nn.Module):
    def __init__(self, C, k, stride, track):
        super().__init__()
        p = k // 2
        self.op = nn.Sequential(
            nn.ReLU(), nn.Conv2d(C, C, k, stride, p, groups=C, bias=False),
            nn.Conv2d(C, C, 1, bias=False), bn(C, track),
            nn.ReLU(), nn.Conv2d(C, C, k, 1, p, groups=C, bias=False),
            nn.Conv2d(C, C, 1, bias=False), bn(C, track))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    def __init__(self, C, k, stride, track):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(), nn.Conv2d(C, C, k, stride, k - 1, dilation=2, groups=C, bias=False),
            nn.Conv2d(C, C, 1, bias=False), bn(C, track))

    def forward(self, x):
        return self.op(x)


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride] * 0.0


class Noise(nn.Module):
    """S4's noise: N(0,1) of the strided shape (torch's generator, not the C engine's Philox:
    fixtures never contain it)."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return torch.randn_like(x[:, :, ::self.stride, ::self.stride])


def make_op(k, C, stride, track):
    if k == NONE:
        return Zero(stride)
    if k in (MAX, AVG):
        pool = (nn.MaxPool2d(3, stride, 1) if k == MAX
                else nn.AvgPool2d(3, stride, 1, count_include_pad=False))
        return nn.Sequential(pool, bn(C, track))  # the search MixedOp's BN after pools
    if k == SKIP:
        return nn.Identity() if stride == 1 else FactorizedReduce(C, C, track)
    if k in (SEP3, SEP5):
        return SepConv(C, 3 if k == SEP3 else 5, stride, track)
    if k in (DIL3, DIL5):
        return DilConv(C, 3 if k == DIL3 else 5, stride, track)
    return Noise(stride)


class MixedOp(nn.Module):
    def __init__(self, C, stride, cols, track):
        super().__init__()
        self._ops = nn.ModuleDict({str(k): make_op(k, C, stride, track) for k in cols})

    def forward(self, x, w):
        return sum(w[int(k)] * op(x) for k, op in self._ops.items())


class Cell(nn.Module):
    def __init__(self, C_pp, C_p, C, reduction, reduction_prev, cand, track):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(C_pp, C, track) if reduction_prev
                            else ReLUConvBN(C_pp, C, track))
        self.preprocess1 = ReLUConvBN(C_p, C, track)
        self._ops = nn.ModuleList()
        for i in range(N_NODES):
            for j in range(i + 2):
                stride = 2 if reduction and j < 2 else 1
                self._ops.append(MixedOp(C, stride, cand[edge_index(i, j)], track))

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(N_NODES):
            states.append(sum(self._ops[edge_index(i, j)](h, weights[edge_index(i, j)])
                              for j, h in enumerate(states)))
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    def __init__(self, C=16, layers=8, classes=10, ops="", track=False):
        super().__init__()
        self.cand = candidates(ops)
        self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(3 * C))
        C_pp, C_p, C_cur = 3 * C, 3 * C, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_cur *= 2
            self.cells.append(Cell(C_pp, C_p, C_cur, reduction, reduction_prev,
                                   self.cand[int(reduction)], track))
            reduction_prev = reduction
            C_pp, C_p = C_p, 4 * C_cur
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, classes)

    def mix(self, alpha):
        """Softmax of each row over its candidate columns; 0 elsewhere (alpha: (2, 14, 9))."""
        mask = torch.zeros_like(alpha, dtype=torch.bool)
        for t in range(2):
            for e in range(N_EDGES):
                mask[t, e, list(self.cand[t][e])] = True
        return torch.softmax(alpha.masked_fill(~mask, float("-inf")), dim=-1)

    def forward(self, x, alpha):
        w = self.mix(alpha)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w[1] if cell.reduction else w[0])
        return self.classifier(self.global_pooling(s1).flatten(1))


def n_weights(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    full = DartsSupernet(16, 8, 10)
    print("full search network (C=16, L=8): %d weights" % n_weights(full))
    assert n_weights(full) == N_WEIGHTS_FULL
    small = DartsSupernet(4, 5, 10)
    print("small (C=4, L=5): %d weights, %d tensors" % (n_weights(small), len(small.state_dict())))
    for name, t in list(small.state_dict().items())[:12]:
        print("  %-45s %s" % (name, tuple(t.shape)))
