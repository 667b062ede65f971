"""User-style channel permutations, written the ways public code writes them (not edgekit's classes).

Used by tests/rewrite/test_lift_channel_permutation.py; also loadable as a model file
(`user_dynamic_layers.py:factory_<kind>`) so `edgekit export` sees exactly what a user would pass.
"""

import torch
from torch import nn


def shuffle_perm(c, g):
    return torch.arange(c).view(g, c // g).t().reshape(-1)


class Permute(nn.Module):
    """y = x with its channels moved, written one of the public ways (`kind`)."""

    def __init__(self, c, kind, groups=4):
        super().__init__()
        self.c, self.kind, self.g = c, kind, groups
        self.register_buffer("idx", shuffle_perm(c, groups))

    def forward(self, x):
        b, c, h, w = x.shape
        if self.kind == "index_buffer":
            return x[:, self.idx]
        if self.kind == "index_select":
            return torch.index_select(x, 1, self.idx)
        if self.kind == "gather":
            return torch.gather(x, 1, self.idx.view(1, -1, 1, 1).expand(b, c, h, w))
        if self.kind == "roll":
            return torch.roll(x, shifts=3, dims=1)
        if self.kind == "cat_slices":
            return torch.cat([x[:, c // 4:], x[:, :c // 4]], dim=1)
        if self.kind == "view_transpose":  # ShuffleNet's channel_shuffle: 5-D view
            return x.view(b, self.g, c // self.g, h, w).transpose(1, 2).contiguous().view(b, c, h, w)
        if self.kind == "reshape_permute":
            return x.reshape(b, self.g, c // self.g, h, w).permute(0, 2, 1, 3, 4).reshape(b, c, h, w)
        raise ValueError(self.kind)


class Block(nn.Module):
    """grouped 1×1 → ReLU → permutation → (dense 1×1 | BN + depthwise 3×3): both consumers of a shuffle."""

    def __init__(self, c, kind, dense):
        super().__init__()
        self.pw = nn.Conv2d(c, c, 1, groups=4)
        self.perm = Permute(c, kind)
        self.dense = dense
        self.after = nn.Conv2d(c, c, 1) if dense else nn.Sequential(nn.BatchNorm2d(c), nn.Conv2d(c, c, 3, padding=1, groups=c))

    def forward(self, x):
        y = torch.relu(self.pw(x))
        return x + self.after(self.perm(y))


KINDS = ("index_buffer", "index_select", "gather", "roll", "cat_slices", "view_transpose", "reshape_permute")


class Net(nn.Module):
    def __init__(self, kind, c=16):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(Block(c, kind, dense=True), Block(c, kind, dense=False))
        self.head = nn.Linear(c, 10)
        self.expected = 2  # permutations present

    def forward(self, x):
        x = self.blocks(torch.relu(self.stem(x)))
        return self.head(x.mean(dim=(2, 3)))


def _factory(cls, kind):
    """A seeded `FILE:factory` builder of cls(kind), as a user's model file exposes one."""
    def make():
        torch.manual_seed(0)
        return cls(kind).eval()
    return make


for _k in KINDS:
    globals()[f"factory_{_k}"] = _factory(Net, _k)


class UserDyReLU(nn.Module):
    """DY-ReLU as public code writes it: avgpool → FC → ReLU → FC → 2σ−1, coefficients (B, C, 2K) (B) or
    (B, 1, 2K) (A), a_k = 1/0 + λ_a·θ, b_k = λ_b·θ, then `(x.unsqueeze(-1) * a + b).max(dim=-1)[0]` (5-D);
    variant C multiplies a spatial softmax in; `form="maximum"` writes the max as torch.maximum of slices."""

    def __init__(self, c, variant="B", k=2, form="max", reduction=4):
        super().__init__()
        self.c, self.k, self.variant, self.form = c, k, variant, form
        n = 1 if variant == "A" else c
        self.n = n
        self.fc1, self.fc2 = nn.Linear(c, c // reduction), nn.Linear(c // reduction, 2 * k * n)
        self.register_buffer("lambdas", torch.tensor([1.0] * k + [0.5] * k))
        self.register_buffer("init_v", torch.tensor([1.0] + [0.0] * (2 * k - 1)))
        if variant == "C":
            self.spatial = nn.Conv2d(c, 1, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        theta = 2 * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3)))))) - 1
        coef = theta.view(b, self.n, 2 * self.k) * self.lambdas + self.init_v
        a = coef[:, :, :self.k].view(b, self.n, 1, 1, self.k)
        bb = coef[:, :, self.k:].view(b, self.n, 1, 1, self.k)
        if self.variant == "C":
            pi = torch.softmax(self.spatial(x).view(b, -1), dim=1).view(b, 1, h, w, 1) * (h * w / 3)
            a = a * pi.clamp(max=1.0)
        if self.form == "maximum":
            y = x.unsqueeze(-1) * a + bb
            out = y[..., 0]
            for j in range(1, self.k):
                out = torch.maximum(out, y[..., j])
            return out
        if self.form == "hwbc":  # the widely copied public DY-ReLU-B: x.permute(2, 3, 0, 1) against (B, C, 2K)
            c2 = coef.view(b, self.n, 2 * self.k)
            y = x.permute(2, 3, 0, 1).unsqueeze(-1) * c2[:, :, :self.k] + c2[:, :, self.k:]
            return torch.max(y, dim=-1)[0].permute(2, 3, 0, 1)
        if self.form == "amax":
            return (x.unsqueeze(-1) * a + bb).amax(dim=-1)
        return (x.unsqueeze(-1) * a + bb).max(dim=-1)[0]


class ActBlock(nn.Module):
    def __init__(self, c, variant, form):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.act = UserDyReLU(c, variant, form=form)

    def forward(self, x):
        return self.act(self.conv(x))


ACT_KINDS = ("A", "B", "C", "B_amax", "B_maximum", "B_hwbc")


class ActNet(nn.Module):
    def __init__(self, kind, c=16):
        super().__init__()
        variant, _, form = kind.partition("_")
        self.stem = nn.Conv2d(3, c, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(ActBlock(c, variant, form or "max"), ActBlock(c, variant, form or "max"))
        self.head = nn.Linear(c, 10)
        self.expected = 2

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


for _k in ACT_KINDS:
    globals()[f"factory_dyrelu_{_k}"] = _factory(ActNet, _k)
