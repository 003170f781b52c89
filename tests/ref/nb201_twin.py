"""PyTorch twin of the dnas NAS-Bench-201 search supernet (docs ALGORITHMS.md section A1).

Written from the specification, not from the reference code. The module hierarchy is chosen so
that state_dict() keys are exactly the parameter names of the C builder (src/space/nb201.c):

    stem.conv.weight, stem.bn.{weight,bias,running_mean,running_var}
    cells.{i}.edges.{a}<-{b}.nor_conv_1x1.conv.{weight,bias}     (search cell, i in 0..3N+1)
    cells.{i}.edges.{a}<-{b}.nor_conv_1x1.bn[.running_*]         (BN affine=False)
    cells.{i}.edges.{a}<-{b}.nor_conv_3x3.conv.{weight,bias}
    cells.{i}.conv_a.conv.weight, cells.{i}.conv_a.bn.*          (ResNet block at i = N, 2N+1)
    cells.{i}.conv_b.conv.weight, cells.{i}.conv_b.bn.*
    cells.{i}.downsample.conv.weight
    lastact.bn.{weight,bias,running_*}
    classifier.{weight,bias}

The architecture parameters alpha (6 x 5) are NOT part of the module: they are passed to
forward(), so that fixtures and benchmarks can treat them separately.

Operations (alpha column order): none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3.
Edges (alpha row order): 0: 1<-0, 1: 2<-0, 2: 2<-1, 3: 3<-0, 4: 3<-1, 5: 3<-2.

Run this file to check the weight count of the full-size network (1,692,826).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
N_WEIGHTS_FULL = 1692826  # C=16, N=5, 10 classes


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d -> BatchNorm2d. The conv carries a bias exactly when the BN is not affine."""

    def __init__(self, cin, cout, k, stride, pad, affine, track):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=not affine)
        self.bn = nn.BatchNorm2d(cout, affine=affine, track_running_stats=track)

    def forward(self, x, x_relu=None):
        if x_relu is None:
            x_relu = F.relu(x)
        return self.bn(self.conv(x_relu))


class MixedEdge(nn.Module):
    """One edge of a search cell. Only the two conv ops have state; none, skip_connect and
    avg_pool_3x3 are computed functionally in forward()."""

    def __init__(self, C, track):
        super().__init__()
        self.nor_conv_1x1 = ReLUConvBN(C, C, 1, 1, 0, affine=False, track=track)
        self.nor_conv_3x3 = ReLUConvBN(C, C, 3, 1, 1, affine=False, track=track)

    def terms(self, x, x_relu, w):
        """The weighted op outputs in alpha column order (the 'none' term is exactly zero and
        is left out: it contributes nothing to the sum and a zero d/dw_none either way)."""
        return [
            w[1] * x,
            w[2] * self.nor_conv_1x1(x, x_relu),
            w[3] * self.nor_conv_3x3(x, x_relu),
            w[4] * F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False),
        ]

    def forward(self, x, w):
        return sum(self.terms(x, F.relu(x), w))


class SearchCell(nn.Module):
    """4 nodes; node 0 = input; node i = sum over j < i of edge(i<-j)(node j); output node 3."""

    def __init__(self, C, track):
        super().__init__()
        self.edges = nn.ModuleDict()
        for i, j in EDGES:
            self.edges["%d<-%d" % (i, j)] = MixedEdge(C, track)

    def forward(self, x, weights):
        nodes = [x]
        relus = []
        e = 0
        for i in range(1, 4):
            relus.append(F.relu(nodes[i - 1]))  # one ReLU per source node, shared by its edges
            acc = None
            for j in range(i):
                for t in self.edges["%d<-%d" % (i, j)].terms(nodes[j], relus[j], weights[e]):
                    acc = t if acc is None else acc + t
                e += 1
            nodes.append(acc)
        return nodes[3]


class Downsample(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride=1, padding=0, bias=False)

    def forward(self, x):
        return self.conv(F.avg_pool2d(x, 2, stride=2, padding=0))


class ResBlock(nn.Module):
    """ResNet basic block, stride 2: (ReLU-conv3x3/2-BN -> ReLU-conv3x3-BN) + (avgpool2 -> conv1x1).
    Affine BN with running statistics whatever the cell BN setting."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, 2, 1, affine=True, track=True)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1, 1, affine=True, track=True)
        self.downsample = Downsample(cin, cout)

    def forward(self, x, weights=None):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Stem(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.conv = nn.Conv2d(3, C, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(C)

    def forward(self, x):
        return self.bn(self.conv(x))


class LastAct(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.bn = nn.BatchNorm2d(C)

    def forward(self, x):
        return F.relu(self.bn(x))


class NB201Supernet(nn.Module):
    def __init__(self, C=16, N=5, classes=10, track_bn=False):
        super().__init__()
        self.C, self.N, self.classes, self.track_bn = C, N, classes, track_bn
        self.stem = Stem(C)
        cells = []
        c = C
        for stage in range(3):
            if stage > 0:
                cells.append(ResBlock(c, 2 * c))
                c *= 2
            for _ in range(N):
                cells.append(SearchCell(c, track_bn))
        self.cells = nn.ModuleList(cells)
        self.lastact = LastAct(c)
        self.classifier = nn.Linear(c, classes)

    def weights(self):
        """The supernet weights (everything that is a parameter; alpha is not)."""
        return list(self.parameters())

    def forward(self, x, alpha):
        w = F.softmax(alpha, dim=-1)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x) if isinstance(cell, ResBlock) else cell(x, w)
        x = self.lastact(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


def new_alpha(generator=None, dtype=torch.float32):
    """6 x 5 architecture parameters, 1e-3 * N(0, 1)."""
    return 1e-3 * torch.randn(len(EDGES), len(OPS), generator=generator, dtype=dtype)


def count_weights(model):
    return sum(p.numel() for p in model.parameters())


def _self_check():
    m = NB201Supernet(16, 5, 10)
    n = count_weights(m)
    assert n == N_WEIGHTS_FULL, n
    keys = [k for k in m.state_dict().keys() if not k.endswith("num_batches_tracked")]
    assert "cells.0.edges.1<-0.nor_conv_1x1.conv.weight" in keys
    assert "cells.5.downsample.conv.weight" in keys and "cells.11.conv_b.bn.bias" in keys
    assert len(m.cells) == 17
    y = m(torch.randn(2, 3, 32, 32), new_alpha())
    assert y.shape == (2, 10)
    return n, len(keys)


# Asserted whenever the module is imported, as the brief requires (cheap: builds the net once).
_N_CHECKED, _N_KEYS = _self_check()

if __name__ == "__main__":
    print("NB201 supernet C=16 N=5 classes=10: %d weights, %d state_dict entries" % (_N_CHECKED, _N_KEYS))
    for k, v in NB201Supernet(8, 1, 10).state_dict().items():
        print("%-55s %s" % (k, tuple(v.shape)))
