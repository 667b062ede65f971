"""Dynamic Shift-Max whose shifted input comes from a permuted copy of the producing 1×1 conv.

Matched: a 1×1 Conv2d (any groups, BatchNorm already folded) followed by a `StaticShiftMax` (after
the layout pass, so its shift is final), with only static per-channel layers between: identity-like
modules, ReLU/ReLU6, depthwise convs (one output per input channel, also fused separable ones).
Those commute with a channel permutation once their per-channel weights are permuted too, so
x̃ = chain(conv(u))[:, shift] = chain_shift(conv_shift(u)).
Replaced: the conv and the Shift-Max become one `ConvShiftMax`: x = conv(u) as before, and
x̃ = x[:, shift] computed directly as conv_s(u), a 1×1 conv whose weight rows are the conv's rows
in shift order (written densely: a row keeps reading its own input group, and the rows of one
output group come from different groups). No slice, concat or mask is left: y = max_k(a_k·x + b_k·x̃).
Cost: the dense copy's MAdds (C_in·C per pixel), reported like any conv's; it trades the roll's
slices / concat and the masked multiply-adds for one convolution, which XNNPACK and onnxruntime
run at GEMM speed. Whether that pays is measured per runtime (see `PREFERRED`).
Applies: eval mode, batch 1.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.pool import hyper_coefficients
from edgekit.rewrite.chain import chains, is_passthrough
from edgekit.rewrite.shift_max_static import StaticShiftMax


PER_CHANNEL_ACTS = (nn.ReLU, nn.ReLU6, nn.Identity, nn.Dropout)


def _is_depthwise(m) -> bool:
    from edgekit.rewrite.fuse_separable_depthwise import SeparableFusedConv

    conv = m.conv if isinstance(m, SeparableFusedConv) else m
    return isinstance(conv, nn.Conv2d) and conv.groups == conv.in_channels == conv.out_channels


def is_per_channel(m) -> bool:
    return isinstance(m, PER_CHANNEL_ACTS) or (isinstance(m, nn.Sequential) and len(m) == 0) or _is_depthwise(m)


@torch.no_grad()
def permuted_copy(m: nn.Module, perm: torch.Tensor) -> nn.Module:
    """The per-channel module m acting on x[:, perm] and giving m(x)[:, perm]."""
    import copy

    from edgekit.rewrite.fuse_separable_depthwise import SeparableFusedConv

    out = copy.deepcopy(m)
    conv = out.conv if isinstance(out, SeparableFusedConv) else out
    if isinstance(conv, nn.Conv2d):
        conv.weight.copy_(conv.weight[perm])
        if conv.bias is not None:
            conv.bias.copy_(conv.bias[perm])
    if isinstance(out, SeparableFusedConv) and out.has_border:
        out.border = out.border[:, perm].clone()
    return out


class ConvShiftMax(nn.Module):
    def __init__(self, conv: nn.Conv2d, sm: StaticShiftMax, between: list[nn.Module] | None = None):
        super().__init__()
        c, k = sm.channels, sm.k
        self.channels, self.k = c, k
        self.conv = conv
        between = [m for m in (between or []) if not isinstance(m, (nn.Identity, nn.Dropout, nn.Sequential))]
        self.chain = nn.Sequential(*between)
        self.chain_s = nn.Sequential(*[permuted_copy(m, sm.shift) for m in between])
        with torch.no_grad():
            g, cin = conv.groups, conv.in_channels
            bi, bo = cin // g, c // g
            dense = torch.zeros(c, cin)
            for o in range(c):
                blk = o // bo
                dense[o, blk * bi:(blk + 1) * bi] = conv.weight[o, :, 0, 0]
            self.conv_s = nn.Conv2d(cin, c, 1, bias=conv.bias is not None)
            self.conv_s.weight.copy_(dense[sm.shift].view(c, cin, 1, 1))
            if conv.bias is not None:
                self.conv_s.bias.copy_(conv.bias[sm.shift])
            self.conv1 = sm.conv1
            lo, hi = sm.coef_lo, sm.coef_hi
            self.clip_max = float((hi - lo).max())
            self.conv2 = nn.Conv2d(sm.coef_w.shape[1], 2 * k * c, 1)
            self.conv2.weight.copy_(sm.coef_w.view(2 * k * c, -1, 1, 1))
            self.conv2.bias.copy_(sm.coef_b - lo)
            self.register_buffer("lo", lo.view(1, -1, 1, 1).clone(), persistent=False)

    def forward(self, u):
        x = self.chain(self.conv(u))
        xs = self.chain_s(self.conv_s(u))
        coef = hyper_coefficients(self, x)
        p = torch.split(coef, self.channels, dim=1)  # a_1, b_1(, a_2, b_2)
        out = x * p[0] + xs * p[1]
        if self.k == 2:
            out = torch.maximum(out, x * p[2] + xs * p[3])
        return out

    def count_madds(self, inputs, output) -> dict:
        return {"dynamic": 2 * self.k * output[0].numel()}


class ShiftMaxFromProducer:
    name = "shift_max_from_producer"
    # Measured on M0 at 224, 1 thread, stock = unmodified model, ratios of medians in one run
    # (benchmarks/rewrite_probe.py): with the separable fusion, LiteRT 0.92x stock (1.14x without
    # this pass), OpenVINO 0.58x (0.67x without); onnxruntime 1.01-1.04x either way (noise level),
    # so it keeps the cheaper-in-MAdds roll form there.
    PREFERRED = {"onnx": False, "tflite": True, "openvino": True}

    # Through ReLU6 + depthwise (M3's Shift-Max layers): LiteRT on M3 1.32x stock vs 1.10x without
    # (the copied depthwise convs cost more than the rolls they replace), so off everywhere.
    THROUGH_DEPTHWISE = {"onnx": False, "tflite": False, "openvino": False}

    def __init__(self, through_depthwise: bool | None = None):
        self.through_depthwise = through_depthwise

    @classmethod
    def preferred(cls, target: str) -> bool:
        return cls.PREFERRED.get(target, False)

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        if self.through_depthwise is None:
            self.through_depthwise = self.THROUGH_DEPTHWISE.get(ctx.target, False)
        changed = 0
        for chain in chains(model):
            for i, slot in enumerate(chain):
                conv = slot.module
                if not (isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.stride == (1, 1)
                        and conv.padding in ((0, 0), 0) and conv.dilation == (1, 1)):
                    continue
                j = i + 1
                while j < len(chain) and (is_passthrough(chain[j].module) or
                                          (self.through_depthwise and is_per_channel(chain[j].module))):
                    j += 1
                if j < len(chain) and isinstance(chain[j].module, StaticShiftMax) \
                        and chain[j].module.channels == conv.out_channels:
                    between = [chain[t].module for t in range(i + 1, j)]
                    slot.replace(ConvShiftMax(conv, chain[j].module, between).eval())
                    for t in range(i + 1, j + 1):
                        chain[t].replace(nn.Identity())
                    changed += 1
        return changed
