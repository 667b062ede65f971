"""Dynamic ReLU (Chen et al., arXiv 2003.10027): a piecewise-linear activation whose pieces
depend on the input, written as the common (export-hostile) implementation.

    y_c = max_k ( a_c^k(x) * x_c + b_c^k(x) ),   k = 1..K (K = 2)
    a = alpha + lambda_a * da,  b = beta + lambda_b * db,   [da, db] = 2*sigmoid(theta(x)) - 1
    theta(x) = fc2(relu(fc1(avgpool(x))))

Variants (which coefficients are shared):
  A  one function for the whole tensor: fc2 emits 2K numbers per sample;
  B  one function per channel:          fc2 emits 2KC numbers (layout (C, 2K) per sample);
  C  per channel and position: the B coefficients' residuals are multiplied by a spatial
     attention pi_i = min(gamma * softmax_i(spatial(x) / tau), 1), gamma = H*W/3, tau = 10,
     so a_{c,i}^k = alpha^k + lambda_a * da_c^k * pi_i (and likewise b).

Parameters and buffers, by name (what a rewrite pass can rely on):
  fc            nn.Sequential(Linear(C, squeeze), ReLU, Linear(squeeze, 2K * n)); n = 1 (A) or C (B, C);
                squeeze = max(1, C // reduction). Output index: A → [a_1..a_K, b_1..b_K];
                B/C → channel c, slot j at c*2K + j with slots [a_1..a_K, b_1..b_K].
  lambdas       buffer (2K,): [lambda_a]*K + [lambda_b]*K
  init_v        buffer (2K,): [*init_a, *init_b]  (alpha^1..alpha^K, beta^1..beta^K)
  spatial       (variant C only) nn.Sequential(Conv2d(C, 1, 1), BatchNorm2d(1))
  gamma_scale   (C) 3.0: gamma = H*W / gamma_scale;  tau (C) 10.0
Attributes: channels, k, variant.

With init_a=(1, 0), init_b=(0, 0) and a zero last FC (weight and bias), every Δ is 0 and the
module is exactly ReLU.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class DYReLU(nn.Module):
    def __init__(self, channels: int, reduction: int = 4, k: int = 2, variant: str = "A",
                 lambda_a: float = 1.0, lambda_b: float = 0.5,
                 init_a: tuple[float, ...] = (1.0, 0.0), init_b: tuple[float, ...] = (0.0, 0.0)):
        super().__init__()
        variant = variant.upper()
        if variant not in ("A", "B", "C"):
            raise ValueError(f"DY-ReLU variant must be A, B or C, not {variant!r}")
        if len(init_a) != k or len(init_b) != k:
            raise ValueError(f"init_a and init_b need k={k} values each")
        self.channels, self.k, self.variant = channels, k, variant
        squeeze = max(1, channels // reduction)
        n = 1 if variant == "A" else channels
        self.fc = nn.Sequential(nn.Linear(channels, squeeze), nn.ReLU(inplace=True), nn.Linear(squeeze, 2 * k * n))
        self.register_buffer("lambdas", torch.tensor([float(lambda_a)] * k + [float(lambda_b)] * k))
        self.register_buffer("init_v", torch.tensor([float(v) for v in (*init_a, *init_b)]))
        if variant == "C":
            self.spatial = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.BatchNorm2d(1))
            self.gamma_scale = 3.0
            self.tau = 10.0

    def residuals(self, x: torch.Tensor) -> torch.Tensor:
        """2*sigmoid(theta(x)) - 1: (B, 2K) for A, (B, C, 2K) for B and C."""
        theta = self.fc(torch.mean(x, dim=(2, 3)))
        theta = 2.0 * torch.sigmoid(theta) - 1.0
        if self.variant != "A":
            theta = theta.view(-1, self.channels, 2 * self.k)
        return theta

    def spatial_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Variant C: (B, 1, H, W) in [0, 1]."""
        b, _, h, w = x.shape
        z = self.spatial(x).view(b, -1) / self.tau
        pi = F.softmax(z, dim=1) * (h * w / self.gamma_scale)
        return torch.clamp(pi, max=1.0).view(b, 1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.k
        theta = self.residuals(x)
        if self.variant == "A":
            coefs = theta * self.lambdas + self.init_v  # (B, 2K)
            a = coefs[:, :k].view(-1, 1, 1, 1, k)
            b = coefs[:, k:].view(-1, 1, 1, 1, k)
            out = x.unsqueeze(-1) * a + b  # (B, C, H, W, K)
            return out.max(dim=-1)[0]
        if self.variant == "B":
            coefs = theta * self.lambdas + self.init_v  # (B, C, 2K)
            # the common implementation: move batch and channel last, broadcast (B, C, K)
            x_perm = x.permute(2, 3, 0, 1).unsqueeze(-1)  # (H, W, B, C, 1)
            out = x_perm * coefs[:, :, :k] + coefs[:, :, k:]
            return out.max(dim=-1)[0].permute(2, 3, 0, 1)
        # C: residuals scaled per position by the spatial attention
        pi = self.spatial_attention(x)  # (B, 1, H, W)
        coefs = (theta * self.lambdas).unsqueeze(-1).unsqueeze(-1) * pi.unsqueeze(2)  # (B, C, 2K, H, W)
        coefs = coefs + self.init_v.view(1, 1, -1, 1, 1)
        out = x.unsqueeze(2) * coefs[:, :, :k] + coefs[:, :, k:]  # (B, C, K, H, W)
        return out.max(dim=2)[0]

    def count_madds(self, inputs, output) -> dict:
        """Element-wise multiply-adds per sample (the FCs and the spatial conv are counted by hooks):
        K per output element for a_k*x + b_k; variant C adds 2K per element for residual*pi;
        coefficient scaling lambda*d + init is 2K per sample (A) or 2KC (B, C)."""
        n = output[0].numel()
        per_sample = 2 * self.k * (1 if self.variant == "A" else self.channels)
        spatial = 2 * self.k * n if self.variant == "C" else 0
        return {"dynamic": self.k * n + spatial + per_sample}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, k={self.k}, variant={self.variant!r}"
