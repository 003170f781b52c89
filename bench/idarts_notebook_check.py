#!/usr/bin/env python3
# Does stepping a deep copy of an SGD optimiser (iDARTS NB201 notebook, backward_step_unrolled)
# update the live network? Same call pattern as the notebook, on a tiny model.
import copy, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4)
before = [p.detach().clone() for p in net.parameters()]
x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
inner = copy.deepcopy(opt)
for _ in range(4):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 5)
    inner.step()
moved = max((p.detach() - b).abs().max().item() for p, b in zip(net.parameters(), before))
copies = inner.param_groups[0]['params']
print("torch", torch.__version__)
print("live weights moved by", moved)
print("optimiser copy holds the live tensors:", any(c is p for c in copies for p in net.parameters()))
print("grads of the copies:", [c.grad for c in copies][:2])
opt.step()
print("the real optimiser moves them by", max((p.detach() - b).abs().max().item() for p, b in zip(net.parameters(), before)))
