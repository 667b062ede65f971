"""Fold BatchNorm into the convolution or linear layer that feeds it.

Matched: in a chain, Conv2d → BatchNorm2d or Linear → BatchNorm1d, optionally with a
ChannelShuffle (or identity-like modules) between the two.
Replaced: the conv/linear gets W·γ/σ and bias (b − μ)·γ/σ + β; the BatchNorm becomes Identity.
Through a shuffle the BatchNorm's per-channel parameters are first permuted back to the conv's
channel order (a BN after a fixed permutation is the permuted BN before it), which is exact.
Applies: eval mode (running statistics), BN with track_running_stats.
"""

from __future__ import annotations

import torch
from torch import nn

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


class FoldBatchNorm:
    name = "fold_batchnorm"

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        changed = 0
        for chain in chains(model):
            for i, slot in enumerate(chain):
                bn = slot.module
                if not isinstance(bn, (nn.BatchNorm2d, nn.BatchNorm1d)) or bn.running_var is None:
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
                ok = (isinstance(layer, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)) or \
                     (isinstance(layer, nn.Linear) and isinstance(bn, nn.BatchNorm1d))
                out_ch = layer.weight.shape[0] if ok else -1
                if not ok or out_ch != bn.num_features:
                    continue
                scale, shift = bn_affine(bn)
                if perm is not None:  # BN sees y[perm]; its channel i acts on conv channel perm[i]
                    inv = torch.empty_like(perm)
                    inv[perm] = torch.arange(len(perm))
                    scale, shift = scale[inv], shift[inv]
                fold_affine_into(layer, scale, shift)
                slot.replace(nn.Identity())
                changed += 1
        return changed
