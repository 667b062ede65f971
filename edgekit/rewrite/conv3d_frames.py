"""Conv3D → 2-D convolutions over time-shifted frames (time folded into the batch).

Matched: every `nn.Conv3d` with zero padding mode and integer padding (Conv3D(k_t×k_h×k_w) with
stride, dilation, groups; temporal 1-D convolutions are the k_h = k_w = 1 case).
Replaced: `FramesConv3d`. A Conv3D is exactly Σ_k conv2d(tap_k(x), W[:, :, k]) where tap_k holds, for
each output frame t, input frame t·s_t − p_t + k·d_t (a zero frame in the temporal padding): the
temporal padding is zero frames concatenated in, the spatial part is the 2-D conv's own padding.
Forms (`FORMS`):
- "stacked" (groups = 1): the k_t taps concatenated along channels, one conv2d with the kernel
  (C_out, k_t·C_in, k_h, k_w) — time in the batch, the temporal kernel in the channels.
- "sum": k_t conv2d + (k_t − 1) adds (any groups).
- "channels": time folded into channels instead: the clip as (1, T'·k_t·C_in, H, W), one grouped
  conv2d with T' groups (the kernel repeated per output frame).
`PREFERRED_FORM` holds what measured fastest (benchmarks/results/video_forms.md).
Applies: eval mode; the padding mode 'zeros' (others keep their Conv3d).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.rewrite.base import RewriteContext, replace_children
from edgekit.rewrite.frames import FramesModule, cat, tap, triple

FORMS = ("stacked", "sum", "channels")
# target → form, from benchmarks/video_forms.py (C3D-small at 8×112×112, 1 thread)
PREFERRED_FORM = {"onnx": "stacked", "tflite": "stacked", "openvino": "stacked"}


class FramesConv3d(FramesModule):
    def __init__(self, conv: nn.Conv3d, form: str = "stacked"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown Conv3D form {form!r}; choose from {', '.join(FORMS)}")
        if form != "sum" and conv.groups != 1:
            form = "sum"
        self.form = form
        self.kt, kh, kw = conv.kernel_size
        self.st, sh, sw = conv.stride
        self.pt, ph, pw = triple(conv.padding)
        self.dt, dh, dw = conv.dilation
        self.groups = conv.groups
        self.out_channels = conv.out_channels
        self.conv2d = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
        w = conv.weight.detach()  # (C_out, C_in/g, k_t, k_h, k_w)
        if form == "sum":  # one (C_out, C_in/g, k_h, k_w) kernel per tap, stacked on dim 0
            w2 = w.permute(2, 0, 1, 3, 4).contiguous()
        else:  # channel k·C_in + c of the stacked taps
            w2 = w.permute(0, 2, 1, 3, 4).reshape(w.shape[0], self.kt * w.shape[1], kh, kw)
        # parameters, as the Conv3d's were (code that reads a model's dtype from its parameters still can)
        self.weight = nn.Parameter(w2.clone(), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
        self.madds_per_output = w.shape[1] * self.kt * kh * kw

    def frames(self, x):
        taps = [tap(x, k, self.kt, self.st, self.pt, self.dt) for k in range(self.kt)]
        if self.form == "sum":
            y = F.conv2d(taps[0], self.weight[0], self.bias, groups=self.groups, **self.conv2d)
            for k in range(1, self.kt):
                y = y + F.conv2d(taps[k], self.weight[k], None, groups=self.groups, **self.conv2d)
            return y
        stacked = cat(taps, 1)  # (T', k_t·C_in, H, W)
        if self.form == "stacked":
            return F.conv2d(stacked, self.weight, self.bias, **self.conv2d)
        t_out = stacked.shape[0]  # "channels": (1, T'·k_t·C_in, H, W), one group per output frame
        y = F.conv2d(stacked.reshape(1, -1, *stacked.shape[2:]), self.weight.repeat(t_out, 1, 1, 1),
                     None if self.bias is None else self.bias.repeat(t_out), groups=t_out, **self.conv2d)
        return y.reshape(t_out, self.out_channels, *y.shape[2:])

    def count_madds(self, inputs, out) -> dict:
        return {"conv": self.per_sample(out).numel() * self.madds_per_output}


def _eligible(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv3d) and m.padding_mode == "zeros" and not isinstance(m.padding, str)


class Conv3dToFrames:
    """Every eligible Conv3d → `FramesConv3d` in the target's preferred form (or `form`)."""

    name = "conv3d_to_frames"

    def __init__(self, form: str | None = None):
        self.form = form
        self.details: dict = {}

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        form = self.form or PREFERRED_FORM.get(ctx.target, "stacked")
        self.details = {"form": form}
        return replace_children(model, lambda m: FramesConv3d(m, form) if _eligible(m) else None)
