"""Dynamic Shift-Max without any gather, its hyper-function kept 4-D.

Matched: `edgekit.models.micronet.DynamicShiftMax` (y = max_k(a_k·x + b_k·x[:, index]), the
coefficients from avgpool → Linear → ReLU → Linear → h_sigmoid, 2-D in between).
Replaced: `StaticShiftMax`:
  - hyper-function: mean over H, W kept as (1, C, 1, 1) → 1×1 conv → ReLU → 1×1 conv → clamp with
    per-channel bounds. h_sigmoid, the (y − 0.5)·2·act_max mapping and the init offsets are folded
    into the second conv's weights and the clamp bounds, so no reshape to 2-D and back;
  - the channel shift: with x̃ = x[:, shift], every output channel i reads x[(i + o_i) mod C]; the
    distinct offsets o are few (two for MicroNet's two-level shift: one group + one channel, and one
    channel at a group's last channel). Each offset is one slice of cat(x, x) (a circular roll), and
    the 0/1 channel mask that says where the roll applies is folded into the b coefficients
    (masked-out coefficient channels get weight 0, bias 0 and bounds [0, 0]: exactly zero).
  So b·x̃ = Σ_o (b·mask_o)·roll_o(x). When the shift has a single offset there is no mask at all.
Applies: always (batch 1, any H×W). The shift can later be conjugated by a channel layout
(`permute_channels`), which the layout pass uses to drop channel shuffles around it.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.micronet import DynamicShiftMax
from edgekit.rewrite.base import RewriteContext, replace_children
from edgekit.rewrite.pool import hyper_coefficients


def shift_offsets(shift: torch.Tensor) -> list[int]:
    c = len(shift)
    return sorted(set(((shift - torch.arange(c)) % c).tolist()))


def combine(x, rolls: list, parts, k: int):
    """max over the k branches of a·x + Σ b·roll: `parts` holds per branch a, then one b per roll."""
    n = 1 + len(rolls)
    out = None
    for j in range(k):
        p = parts[j * n:(j + 1) * n]
        y = x * p[0]
        for r, b in zip(rolls, p[1:]):
            y = y + r * b
        out = y if out is None else torch.maximum(out, y)
    return out


class StaticShiftMax(nn.Module):
    """max_k(a_k·x + Σ_o b_k,o·roll_o(x)) with 4-D, static-shape ops only."""

    def __init__(self, channels: int, k: int, conv1: nn.Conv2d, coef_w: torch.Tensor, coef_b: torch.Tensor,
                 coef_lo: torch.Tensor, coef_hi: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.channels, self.k = channels, k
        self.conv1 = conv1
        # Per slot (a_1, b_1, a_2, b_2) and channel, before masking: rows of the second 1×1 conv.
        self.register_buffer("coef_w", coef_w, persistent=False)  # (2k·C, sq)
        self.register_buffer("coef_b", coef_b, persistent=False)  # (2k·C,)
        self.register_buffer("coef_lo", coef_lo, persistent=False)
        self.register_buffer("coef_hi", coef_hi, persistent=False)
        self.register_buffer("shift", shift.clone(), persistent=False)
        self.form = "elementwise"  # or "stacked" (fewest graph nodes; reshapes channels, so not for NHWC runtimes)
        self._build()

    @classmethod
    @torch.no_grad()
    def from_dynamic(cls, m: DynamicShiftMax) -> "StaticShiftMax":
        fc1, fc2 = m.fc[0], m.fc[2]
        c, k, scale = m.channels, m.k, m.scale
        conv1 = nn.Conv2d(c, fc1.out_features, 1)
        conv1.weight.copy_(fc1.weight.view(fc1.out_features, c, 1, 1))
        conv1.bias.copy_(fc1.bias)
        offsets = [m.init_a[0], m.init_b[0], m.init_a[1], m.init_b[1]][: 2 * k]
        # coef = relu6(z + 3)/6·scale − scale/2 + off = clamp(z·scale/6 + off, off − scale/2, off + scale/2)
        base = torch.tensor(offsets, dtype=torch.float64).repeat_interleave(c)
        w = fc2.weight.double() * (scale / 6.0)
        b = fc2.bias.double() * (scale / 6.0) + base
        lo, hi = base - scale / 2.0, base + scale / 2.0
        f = fc2.weight.dtype
        out = cls(c, k, conv1, w.to(f), b.to(f), lo.to(f), hi.to(f), m.index.clone())
        out.groups = m.groups
        return out

    @torch.no_grad()
    def _build(self) -> None:
        """Second conv and clamp bounds for the current shift: slots a_j, then b_j per offset."""
        c, k = self.channels, self.k
        self.offsets = shift_offsets(self.shift)
        delta = (self.shift - torch.arange(c)) % c
        rows_w, rows_b, rows_lo, rows_hi = [], [], [], []  # order: a_j, then b_j per offset, per branch j
        for j in range(k):
            a = slice(2 * j * c, (2 * j + 1) * c)
            rows_w.append(self.coef_w[a]); rows_b.append(self.coef_b[a])
            rows_lo.append(self.coef_lo[a]); rows_hi.append(self.coef_hi[a])
            bs = slice((2 * j + 1) * c, (2 * j + 2) * c)
            for o in self.offsets:
                keep = (delta == o)
                rows_w.append(self.coef_w[bs] * keep[:, None])
                rows_b.append(torch.where(keep, self.coef_b[bs], 0.0))
                rows_lo.append(torch.where(keep, self.coef_lo[bs], 0.0))
                rows_hi.append(torch.where(keep, self.coef_hi[bs], 0.0))
        # clamp(z, lo, hi) == clip(z − lo, 0, hi − lo) + lo; hi − lo is the same for every kept
        # channel (2·act_max) and masked channels are clip(0, 0, ·) + 0 == 0, so one scalar clip
        # (which runtimes fuse into the conv) and one add remain.
        w = torch.cat(rows_w)
        lo, hi = torch.cat(rows_lo), torch.cat(rows_hi)
        width = float((hi - lo).max())
        conv2 = nn.Conv2d(w.shape[1], w.shape[0], 1)
        conv2.weight.copy_(w.view(*w.shape, 1, 1))
        conv2.bias.copy_(torch.cat(rows_b) - lo)
        self.conv2 = conv2
        self.clip_max = width
        n = w.shape[0]
        self.register_buffer("lo", lo.view(1, n, 1, 1), persistent=False)

    @torch.no_grad()
    def permute_channels(self, layout: torch.Tensor) -> None:
        """Make this layer act on x[:, layout] (and produce y[:, layout]) instead of x."""
        c = self.channels
        inv = torch.empty_like(layout)
        inv[layout] = torch.arange(c)
        self.conv1.weight.copy_(self.conv1.weight[:, layout])
        rows = torch.cat([s * c + layout for s in range(2 * self.k)])
        self.coef_w = self.coef_w[rows]; self.coef_b = self.coef_b[rows]
        self.coef_lo = self.coef_lo[rows]; self.coef_hi = self.coef_hi[rows]
        self.shift = inv[self.shift[layout]]
        self._build()

    def forward(self, x):
        c = self.channels
        coef = hyper_coefficients(self, x)
        if self.form == "stacked":
            return self._stacked(x, coef)
        parts = torch.split(coef, c, dim=1)
        if self.offsets == [0]:
            rolls = [x]
        else:
            xx = torch.cat([x, x], dim=1)
            rolls = [x if o == 0 else xx[:, o:o + c] for o in self.offsets]
        return combine(x, rolls, parts, self.k)

    def _stacked(self, x, coef):
        """Few-node form: one concat of [x, rolls...] per branch, one multiply by all coefficients,
        then a sum over the terms and a max over the branches as reductions on a 4-D view."""
        n, c, h, w = x.shape
        xx = torch.cat([x, x], dim=1)
        terms = [x] + [x if o == 0 else xx[:, o:o + c] for o in self.offsets]
        z = torch.cat(terms * self.k, dim=1) * coef
        z = z.reshape(self.k, len(terms), c, h * w).sum(dim=1, keepdim=True)
        if self.k > 1:
            z = z.amax(dim=0, keepdim=True)
        return z.reshape(n, c, h, w)

    def count_madds(self, inputs, output) -> dict:
        """Element-wise multiply-adds: (1 + number of rolls) per output element per branch."""
        return {"dynamic": self.k * (1 + len(self.offsets)) * output[0].numel()}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, k={self.k}, offsets={self.offsets}, form={self.form}"


class ShiftMaxToStatic:
    """DynamicShiftMax → StaticShiftMax (see module docstring).

    Form: element-wise everywhere. Measured (benchmarks/rewrite_probe.py, M0 at 224, 1 thread):
    the "stacked" form has 30% fewer ONNX nodes (283 vs 346) but onnxruntime ran it 1.38x slower
    than stock (its ReduceSum/ReduceMax over a non-innermost axis are slow); on channels-last
    runtimes its channel-splitting reshapes would cost transposes as well.
    """

    name = "shift_max_static"
    FORMS = {"onnx": "elementwise", "tflite": "elementwise", "openvino": "elementwise"}

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        form = self.FORMS.get(ctx.target, "elementwise")

        def make(m):
            if not isinstance(m, DynamicShiftMax):
                return None
            new = StaticShiftMax.from_dynamic(m)
            new.form = form
            return new

        return replace_children(model, make)
