"""Dynamic convolution (Chen et al., arXiv 1912.03458): K kernels mixed per sample by an attention,
written as the common (export-hostile) implementation.

    pi(x) = softmax(attention(x) / temperature)             (B, K), 0 <= pi <= 1, sum pi = 1
    W(x)  = sum_k pi_k(x) * weight[k],  b(x) = sum_k pi_k(x) * bias[k]
    y     = conv2d(x, W(x), b(x))  per sample

The common implementation aggregates the per-sample kernels into one (B*out, in/groups, kh, kw)
tensor and folds the batch into the groups: x.view(1, B*C, H, W), conv with groups=B*groups,
then view back. Dynamic shapes and per-sample weights — exactly what edgekit's rewrite removes.

Parameters and attributes, by name (what a rewrite pass can rely on):
  weight        (K, out_ch, in_ch // groups, kh, kw)
  bias          (K, out_ch) or None
  attention     DynamicConvAttention: pool (AdaptiveAvgPool2d(1)), fc1 Linear(in_ch, hidden),
                relu, fc2 Linear(hidden, K) → logits (B, K); hidden = max(1, in_ch // reduction)
  temperature   float attribute (set_temperature); pi = softmax(logits / temperature)
  k, in_channels, out_channels, kernel_size, stride, padding, dilation, groups  (as nn.Conv2d, tuples)
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair


class DynamicConvAttention(nn.Module):
    """avgpool → FC → ReLU → FC: the K attention logits of each sample."""

    def __init__(self, in_ch: int, k: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, in_ch // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_ch, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(self.pool(x).flatten(1))))


class DynamicConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                 bias: bool = True, k: int = 4, reduction: int = 4, temperature: float = 30.0):
        super().__init__()
        if in_ch % groups or out_ch % groups:
            raise ValueError(f"in_ch {in_ch} and out_ch {out_ch} must be divisible by groups {groups}")
        self.in_channels, self.out_channels, self.groups, self.k = in_ch, out_ch, groups, k
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.temperature = float(temperature)
        self.attention = DynamicConvAttention(in_ch, k, reduction)
        self.weight = nn.Parameter(torch.empty(k, out_ch, in_ch // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(k, out_ch)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for i in range(self.k):  # each kernel initialised like an nn.Conv2d weight
            nn.init.kaiming_uniform_(self.weight[i], a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0, 0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def set_temperature(self, temperature: float) -> None:
        """Softmax temperature (annealed ~30 → 1 in training; inference uses the final value)."""
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        self.temperature = float(temperature)

    def attention_probs(self, x: torch.Tensor) -> torch.Tensor:
        """pi(x): (B, K), rows sum to 1."""
        return F.softmax(self.attention(x) / self.temperature, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        pi = self.attention_probs(x)  # (B, K)
        weight = torch.mm(pi, self.weight.view(self.k, -1))  # (B, out*in/g*kh*kw)
        weight = weight.view(b * self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        bias = torch.mm(pi, self.bias).view(-1) if self.bias is not None else None
        out = F.conv2d(x.reshape(1, b * c, h, w), weight, bias, self.stride, self.padding, self.dilation,
                       groups=self.groups * b)
        return out.view(b, self.out_channels, out.size(-2), out.size(-1))

    def count_madds(self, inputs, output) -> dict:
        """Per sample: the aggregated conv's MAdds ("conv"), and the kernel aggregation
        K * (|W_k| + |b_k|) ("dynamic"); the attention's Linear layers are counted by hooks."""
        kh, kw = self.kernel_size
        conv = output[0].numel() * (self.in_channels // self.groups) * kh * kw
        per_kernel = self.weight[0].numel() + (self.bias.shape[1] if self.bias is not None else 0)
        return {"conv": conv, "dynamic": self.k * per_kernel}

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
             f"padding={self.padding}, k={self.k}, temperature={self.temperature}")
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        return s + ("" if self.bias is not None else ", bias=False")
