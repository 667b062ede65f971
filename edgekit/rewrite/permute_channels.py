"""A fixed channel permutation in the cheapest static 4-D form (never a gather).

`PermuteChannels(perm)` computes y = x[:, perm] as one of:
  - nothing, when perm is the identity;
  - a concat of slices, one per maximal run of consecutive source channels (a circular roll is
    two runs), when there are at most `MAX_RUNS` runs;
  - a grid transpose, when perm is a channel shuffle of some grid a×b: reshape (1, a, b, H·W),
    swap the two middle axes, reshape back (4-D throughout, no 5-D view); or two of them in a row.
    With `channels_last` (LiteRT, which lays tensors out NHWC) the same transpose is written on
    the NHWC view, (1, H·W, a, b) → (1, H·W, b, a), so the converter's layout transposes cancel
    against the neighbouring convolutions and one TRANSPOSE is left instead of three;
  - otherwise a 1×1 convolution with a 0/1 permutation matrix (exact: every output is one input
    times 1 plus zeros), the costly last resort; its MAdds are reported like any conv's. For few
    channels it is also the fastest form on LiteRT (see `conv_below`).
"""

from __future__ import annotations

import torch
from torch import nn

MAX_RUNS = 6


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


def _grids(c: int):
    """Every (outer, a, b, inner) with outer·a·b·inner == c and a, b > 1."""
    divs = [d for d in range(1, c + 1) if c % d == 0]
    for o in divs:
        for u in divs:
            if c % (o * u):
                continue
            rest = c // (o * u)
            for a in divs:
                if 1 < a < rest and rest % a == 0:
                    yield o, a, rest // a, u


def grid_matrix(c: int, grid) -> torch.Tensor:
    o, a, b, u = grid
    return torch.arange(c).view(o, a, b, u).transpose(1, 2).reshape(-1)


def grid_of(perm: torch.Tensor, channels_last: bool = False):
    """(outer, a, b, inner) with perm == arange(C).view(o, a, b, u).transpose(1, 2).flatten(), if any.

    Channels-last needs outer == 1 or inner == 1 to stay 4-D ((H·W, a, b, u) or (H·W, o, a, b))."""
    c = len(perm)
    for g in _grids(c):
        if channels_last and g[0] != 1 and g[3] != 1:
            continue
        if torch.equal(perm, grid_matrix(c, g)):
            return g
    return None


def grid_pair(perm: torch.Tensor, channels_last: bool = False):
    """Two grid transposes g1 then g2 with x[:, g1][:, g2] == x[:, perm], if any (general grids
    searched up to 128 channels, plain a×b grids above)."""
    c = len(perm)
    if c <= 128:
        grids = [g for g in _grids(c) if not channels_last or g[0] == 1 or g[3] == 1]
    else:
        grids = [(1, a, c // a, 1) for a in range(2, c) if c % a == 0]
    mats = {g: grid_matrix(c, g) for g in grids}
    for g1 in grids:
        for g2 in grids:
            if torch.equal(mats[g1][mats[g2]], perm):
                return g1, g2
    return None


def inverse(perm: torch.Tensor) -> torch.Tensor:
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    return inv


def realization(perm: torch.Tensor, channels_last: bool = False, max_runs: int = MAX_RUNS) -> str:
    r = runs(perm)
    if len(r) == 1:
        return "identity"
    if len(r) <= max_runs:
        return "slices"
    if grid_of(perm, channels_last) is not None:
        return "transpose"
    if grid_pair(perm, channels_last) is not None:
        return "transpose2"
    return "conv"


def realization_cost(perm: torch.Tensor, channels_last: bool = False) -> int:
    """Rough number of full-tensor passes (a 1×1 permutation conv counts as C/8 passes)."""
    kind = realization(perm, channels_last)
    return {"identity": 0, "slices": 1 + len(runs(perm)) // 2, "transpose": 2, "transpose2": 4}.get(
        kind, max(5, len(perm) // 8))


def _grid_transpose(x, grid, channels_last: bool):
    n, c, h, w = x.shape  # n == 1: rewritten models are batch 1
    o, a, b, u = grid
    if channels_last:
        v = (h * w, a, b, u) if o == 1 else (h * w, o, a, b)
        y = x.permute(0, 2, 3, 1).reshape(v).transpose(1, 2) if o == 1 else \
            x.permute(0, 2, 3, 1).reshape(v).transpose(2, 3)
        return y.reshape(n, h, w, c).permute(0, 3, 1, 2)
    return x.reshape(o, a, b, u * h * w).transpose(1, 2).reshape(n, c, h, w)


class PermuteChannels(nn.Module):
    """`conv_below`: use the 1×1 permutation conv instead of a transpose up to this many channels
    (LiteRT: a 16-channel permutation at 56×56 took 46 µs as an XNNPACK TRANSPOSE, 9 µs as a conv)."""

    def __init__(self, perm: torch.Tensor, channels_last: bool = False, conv_below: int = 0,
                 max_runs: int = MAX_RUNS):
        super().__init__()
        perm = perm.clone().long()
        self.register_buffer("perm", perm, persistent=False)
        self.kind = realization(perm, channels_last, max_runs)
        if self.kind in ("transpose", "transpose2") and len(perm) <= conv_below:
            self.kind = "conv"
        self.channels_last = channels_last
        self.runs = runs(perm)
        self.grids = [grid_of(perm, channels_last)] if self.kind == "transpose" else \
            list(grid_pair(perm, channels_last)) if self.kind == "transpose2" else []
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
        if self.kind in ("transpose", "transpose2"):
            for g in self.grids:
                x = _grid_transpose(x, g, self.channels_last)
            return x
        return self.conv(x)

    def extra_repr(self) -> str:
        return f"channels={len(self.perm)}, kind={self.kind}"
