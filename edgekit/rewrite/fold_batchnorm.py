"""Fold BatchNorm into the convolution or linear layer that feeds it.

Matched: in a chain, Conv2d → BatchNorm2d, Conv3d → BatchNorm3d or Linear → BatchNorm1d, optionally with a
ChannelShuffle (or identity-like modules) between the two.
Replaced: the conv/linear gets W·γ/σ and bias (b − μ)·γ/σ + β; the BatchNorm becomes Identity.
A DY-Conv (`DynamicConv2d`) takes it too, into each of its K kernels and biases: its output is
Σ_k π_k·conv_k(x) with Σ_k π_k = 1, so an affine map after it is the same map inside every term.
Through a shuffle the BatchNorm's per-channel parameters are first permuted back to the conv's
channel order (a BN after a fixed permutation is the permuted BN before it), which is exact.
Applies: eval mode (running statistics), BN with track_running_stats.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d
from edgekit.models.layers import ChannelShuffle
from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.chain import chains, is_passthrough


def bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with bn(x) == x * scale + shift per channel (eval mode)."""
    inv = torch.rsqrt(bn.running_var.double() + bn.eps)
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(inv)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(inv)
    scale = gamma * inv
    return scale, beta - bn.running_mean.double() * scale


@torch.no_grad()
def fold_affine_into(layer: nn.Module, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """layer(x) * scale + shift, folded into the layer's (out-channel) weight and bias."""
    w = layer.weight.double()
    shape = (-1,) + (1,) * (w.dim() - 1)
    b = layer.bias.double() if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    layer.weight.copy_((w * scale.view(shape)).to(layer.weight.dtype))
    new_bias = (b * scale + shift).to(layer.weight.dtype)
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias)
    else:
        layer.bias.copy_(new_bias)


@torch.no_grad()
def _fold_into_dynamic_conv(layer: DynamicConv2d, scale: torch.Tensor, shift: torch.Tensor) -> None:
    w = layer.weight.double()
    layer.weight.copy_((w * scale.view(1, -1, *([1] * (w.dim() - 2)))).to(layer.weight.dtype))
    k = layer.weight.shape[0]
    b = layer.bias.double() if layer.bias is not None else torch.zeros(k, layer.out_channels, dtype=torch.float64)
    new_bias = (b * scale.view(1, -1) + shift.view(1, -1)).to(layer.weight.dtype)
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias)
    else:
        layer.bias.copy_(new_bias)


class FoldBatchNorm:
    name = "fold_batchnorm"

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        changed = 0
        for chain in chains(model):
            for i, slot in enumerate(chain):
                bn = slot.module
                if not isinstance(bn, (nn.BatchNorm2d, nn.BatchNorm1d, nn.BatchNorm3d)) or bn.running_var is None:
                    continue
                perm = None
                j = i - 1
                while j >= 0 and (is_passthrough(chain[j].module) or isinstance(chain[j].module, ChannelShuffle)):
                    m = chain[j].module
                    if isinstance(m, ChannelShuffle):
                        p = m.permutation(bn.num_features)
                        perm = p if perm is None else p[perm]
                    j -= 1
                if j < 0:
                    continue
                layer = chain[j].module
                dyconv = isinstance(layer, DynamicConv2d) and isinstance(bn, nn.BatchNorm2d)
                ok = (isinstance(layer, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)) or \
                     (isinstance(layer, nn.Conv3d) and isinstance(bn, nn.BatchNorm3d)) or \
                     (isinstance(layer, nn.Linear) and isinstance(bn, nn.BatchNorm1d)) or dyconv
                out_ch = (layer.out_channels if dyconv else layer.weight.shape[0]) if ok else -1
                if not ok or out_ch != bn.num_features:
                    continue
                scale, shift = bn_affine(bn)
                if perm is not None:  # BN sees y[perm]; its channel i acts on conv channel perm[i]
                    inv = torch.empty_like(perm)
                    inv[perm] = torch.arange(len(perm))
                    scale, shift = scale[inv], shift[inv]
                if dyconv:
                    _fold_into_dynamic_conv(layer, scale, shift)
                else:
                    fold_affine_into(layer, scale, shift)
                slot.replace(nn.Identity())
                changed += 1
        return changed
