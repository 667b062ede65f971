"""A fixed channel permutation in the cheapest static 4-D form (never a gather).

`PermuteChannels(perm)` computes y = x[:, perm] as one of:
  - nothing, when perm is the identity;
  - a concat of slices, one per maximal run of consecutive source channels (a circular roll is
    two runs), when there are at most `MAX_RUNS` runs;
  - a grid transpose, when perm is a channel shuffle of some grid a×b: reshape (1, a, b, H·W),
    swap the two middle axes, reshape back (4-D throughout, no 5-D view);
  - otherwise a 1×1 convolution with a 0/1 permutation matrix (exact: every output is one input
    times 1 plus zeros), the costly last resort; its MAdds are reported like any conv's.
"""

from __future__ import annotations

import torch
from torch import nn

MAX_RUNS = 4


def runs(perm: torch.Tensor) -> list[tuple[int, int]]:
    """[(start, stop)] source ranges whose concatenation is perm."""
    out = []
    start = prev = int(perm[0])
    for v in perm[1:].tolist():
        if v != prev + 1:
            out.append((start, prev + 1))
            start = v
        prev = v
    out.append((start, prev + 1))
    return out


def grid_of(perm: torch.Tensor) -> tuple[int, int] | None:
    """(a, b) with perm == arange(a·b).view(a, b).t().flatten(), if any (a, b > 1)."""
    c = len(perm)
    for a in range(2, c):
        if c % a == 0 and torch.equal(perm, torch.arange(c).view(a, c // a).t().reshape(-1)):
            return a, c // a
    return None


def inverse(perm: torch.Tensor) -> torch.Tensor:
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    return inv


def realization(perm: torch.Tensor) -> str:
    r = runs(perm)
    if len(r) == 1:
        return "identity"
    if len(r) <= MAX_RUNS:
        return "slices"
    if grid_of(perm) is not None:
        return "transpose"
    return "conv"


def realization_cost(perm: torch.Tensor) -> int:
    """Rough number of full-tensor passes (a 1×1 permutation conv counts as C/8 passes)."""
    kind = realization(perm)
    return {"identity": 0, "slices": 1 + len(runs(perm)) // 2, "transpose": 2}.get(kind, max(3, len(perm) // 8))


class PermuteChannels(nn.Module):
    def __init__(self, perm: torch.Tensor):
        super().__init__()
        perm = perm.clone().long()
        self.register_buffer("perm", perm, persistent=False)
        self.kind = realization(perm)
        self.runs = runs(perm)
        self.grid = grid_of(perm)
        if self.kind == "conv":
            c = len(perm)
            self.conv = nn.Conv2d(c, c, 1, bias=False)
            with torch.no_grad():
                w = torch.zeros(c, c)
                w[torch.arange(c), perm] = 1.0
                self.conv.weight.copy_(w.view(c, c, 1, 1))

    def forward(self, x):
        if self.kind == "identity":
            return x
        if self.kind == "slices":
            return torch.cat([x[:, a:b] for a, b in self.runs], dim=1)
        if self.kind == "transpose":
            n, c, h, w = x.shape
            a, b = self.grid
            return x.reshape(n, a, b, h * w).transpose(1, 2).reshape(n, c, h, w)
        return self.conv(x)

    def extra_repr(self) -> str:
        return f"channels={len(self.perm)}, kind={self.kind}"
