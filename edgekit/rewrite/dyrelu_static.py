"""DY-ReLU in a static broadcasting 4-D form.

Matched: `edgekit.models.dyrelu.DYReLU` (variants A, B, C), whose common implementation goes
2-D for the hyper-function and 5-D (or permutes batch and channels last) for the max over K.
Replaced: `StaticDYReLU`: mean over H, W kept (1, C, 1, 1) → 1×1 conv → ReLU → 1×1 conv whose
output rows are reordered slot-major ([a_1 … a_K, b_1 … b_K], each 1 or C channels) → sigmoid →
(2σ − 1)·λ + init computed exactly as the original does; split into (1, n, 1, 1) pieces that
broadcast over x; y = max_k(x·a_k + b_k) with K − 1 element-wise maxima. Variant C: the spatial
attention's conv takes its BatchNorm folded in; the softmax over positions is written with
4-D max / exp / sum / divide (no flatten), then clamped and broadcast as (1, 1, H, W).
Applies: any input size; batch 1.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.dyrelu import DYReLU
from edgekit.rewrite.base import RewriteContext, replace_children
from edgekit.rewrite.fold_batchnorm import bn_affine, fold_affine_into


class StaticDYReLU(nn.Module):
    def __init__(self, m: DYReLU):
        super().__init__()
        k, c = m.k, m.channels
        self.k, self.channels, self.variant = k, c, m.variant
        n = 1 if m.variant == "A" else c
        self.n = n
        fc1, fc2 = m.fc[0], m.fc[2]
        with torch.no_grad():
            self.conv1 = nn.Conv2d(c, fc1.out_features, 1)
            self.conv1.weight.copy_(fc1.weight.view(*fc1.weight.shape, 1, 1))
            self.conv1.bias.copy_(fc1.bias)
            # fc2 row for (channel i, slot j) is i*2K + j (A: j); make it slot-major j*n + i.
            order = torch.arange(2 * k * n).view(n, 2 * k).t().reshape(-1)
            self.conv2 = nn.Conv2d(fc2.in_features, 2 * k * n, 1)
            self.conv2.weight.copy_(fc2.weight[order].view(2 * k * n, -1, 1, 1))
            self.conv2.bias.copy_(fc2.bias[order])
            lam = m.lambdas.repeat_interleave(n)  # slot-major, like the rows
            init = m.init_v.repeat_interleave(n)
            # The original's arithmetic op for op ((2σ − 1)·λ + init, on tiny tensors: free), so that
            # this pass adds no rounding difference at all.
            self.register_buffer("lam", lam.view(1, -1, 1, 1), persistent=False)
            self.register_buffer("init", init.view(1, -1, 1, 1), persistent=False)
            if m.variant == "C":
                spatial = nn.Conv2d(c, 1, 1)
                spatial.weight.copy_(m.spatial[0].weight)
                spatial.bias.copy_(m.spatial[0].bias)
                fold_affine_into(spatial, *bn_affine(m.spatial[1]))
                self.spatial = spatial
                self.tau, self.gamma_scale = float(m.tau), float(m.gamma_scale)

    def forward(self, x):
        h = torch.relu(self.conv1(x.mean((2, 3), keepdim=True)))
        theta = 2.0 * torch.sigmoid(self.conv2(h)) - 1.0
        if self.variant != "C":
            coef = theta * self.lam + self.init
        else:
            z = self.spatial(x) / self.tau
            e = torch.exp(z - z.amax((2, 3), keepdim=True))
            hw = x.shape[2] * x.shape[3]
            pi = torch.clamp(e / e.sum((2, 3), keepdim=True) * (hw / self.gamma_scale), max=1.0)
            coef = (theta * self.lam) * pi + self.init
        parts = torch.split(coef, self.n, dim=1)
        k = self.k
        out = x * parts[0] + parts[k]
        for j in range(1, k):
            out = torch.maximum(out, x * parts[j] + parts[k + j])
        return out

    def count_madds(self, inputs, output) -> dict:
        n = output[0].numel()
        return {"dynamic": self.k * n + (2 * self.k * n if self.variant == "C" else 0)}


class DYReLUToStatic:
    name = "dyrelu_static"

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        return replace_children(model, lambda m: StaticDYReLU(m).eval() if isinstance(m, DYReLU) else None)
