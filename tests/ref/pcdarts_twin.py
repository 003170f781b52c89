"""PyTorch twin of the dnas PC-DARTS search supernet on the DARTS space (docs ALGORITHMS.md
B7 on top of A3), written from the specification, reusing darts_twin.py's ops and naming.

Per mixed edge (PC-DARTS model_search.py MixedOp, K = 4): the ops, built for C/K channels,
see the first C/K channels of the state; the other channels bypass (MaxPool 2x2 stride 2 on
reduction edges); edge = channel_shuffle(cat(mixed, bypass), K). A node sums its edges
weighted by softmax(beta) over the node's incoming edges. state_dict() keys equal the C
builder's parameter names (src/space/darts.c; bypass and shuffle have no parameters).

Run this file to print the weight count of the C=16, L=8 search network (the C unit test
tests/unit/test_pcdarts.c holds the number)."""

import torch
import torch.nn as nn

from darts_twin import (N_EDGES, N_NODES, NONE, MAX, AVG, SKIP, SEP3, SEP5, DIL3, DIL5,
                        FactorizedReduce, ReLUConvBN, candidates, edge_index, make_op)

N_WEIGHTS_PC_FULL = 299578  # C=16, L=8, K=4, 10 classes (tests/unit/test_pcdarts.c)


def channel_shuffle(x, groups):
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


class PCMixedOp(nn.Module):
    def __init__(self, C, stride, cols, track, K):
        super().__init__()
        self.K, self.stride = K, stride
        self._ops = nn.ModuleDict({str(k): make_op(k, C // K, stride, track) for k in cols})

    def forward(self, x, w):
        cp = x.shape[1] // self.K
        xa, xb = x[:, :cp], x[:, cp:]
        terms = [w[int(k)] * op(xa) for k, op in self._ops.items() if int(k) != NONE]
        y = sum(terms) if terms else xa[:, :, ::self.stride, ::self.stride] * 0.0
        if self.stride == 2:
            xb = nn.functional.max_pool2d(xb, 2, 2)
        return channel_shuffle(torch.cat([y, xb], dim=1), self.K)


class PCCell(nn.Module):
    def __init__(self, C_pp, C_p, C, reduction, reduction_prev, cand, track, K):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(C_pp, C, track) if reduction_prev
                            else ReLUConvBN(C_pp, C, track))
        self.preprocess1 = ReLUConvBN(C_p, C, track)
        self._ops = nn.ModuleList()
        for i in range(N_NODES):
            for j in range(i + 2):
                stride = 2 if reduction and j < 2 else 1
                self._ops.append(PCMixedOp(C, stride, cand[edge_index(i, j)], track, K))

    def forward(self, s0, s1, weights, edge_w):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(N_NODES):
            states.append(sum(edge_w[edge_index(i, j)] * self._ops[edge_index(i, j)](h, weights[edge_index(i, j)])
                              for j, h in enumerate(states)))
        return torch.cat(states[2:], dim=1)


class PCDartsSupernet(nn.Module):
    def __init__(self, C=16, layers=8, classes=10, ops="", track=False, K=4):
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
            self.cells.append(PCCell(C_pp, C_p, C_cur, reduction, reduction_prev,
                                     self.cand[int(reduction)], track, K))
            reduction_prev = reduction
            C_pp, C_p = C_p, 4 * C_cur
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, classes)

    def mix(self, alpha):
        mask = torch.zeros_like(alpha, dtype=torch.bool)
        for t in range(2):
            for e in range(N_EDGES):
                mask[t, e, list(self.cand[t][e])] = True
        return torch.softmax(alpha.masked_fill(~mask, float("-inf")), dim=-1)

    @staticmethod
    def edge_mix(beta):
        """beta (2, 14) -> softmax over each node's incoming edges."""
        out = []
        for t in range(2):
            parts, start = [], 0
            for i in range(N_NODES):
                parts.append(torch.softmax(beta[t, start:start + i + 2], dim=0))
                start += i + 2
            out.append(torch.cat(parts))
        return torch.stack(out)

    def forward(self, x, alpha, beta):
        w, ew = self.mix(alpha), self.edge_mix(beta)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            t = int(cell.reduction)
            s0, s1 = s1, cell(s0, s1, w[t], ew[t])
        return self.classifier(self.global_pooling(s1).flatten(1))


def n_weights(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    full = PCDartsSupernet(16, 8, 10)
    print("PC-DARTS search network (C=16, L=8, K=4): %d weights" % n_weights(full))
    assert n_weights(full) == N_WEIGHTS_PC_FULL
    small = PCDartsSupernet(8, 5, 10)
    print("small (C=8, L=5): %d weights" % n_weights(small))
