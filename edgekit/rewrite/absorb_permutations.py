"""The channel permutations left by the shuffle fold, each in the form the target runs fastest.

Matched: every `PermuteChannels` of kind transpose / transpose2 / conv (what
`fold_channel_shuffles` inserts where a layout cannot be folded into weights), with the module
right after it in its Sequential (its *consumer*).
Replaced, per site, by the cheapest of (`costs`: estimated ns from constants fit to measurements):
  - keep: the grid transpose(s) (on LiteRT: RESHAPE + TRANSPOSE + RESHAPE, with the NHWC↔NCHW
    transposes the converter wraps around them);
  - conv: a 1×1 convolution with a 0/1 permutation matrix (`PermuteChannels` kind conv);
  - slices: a concat of up to `MAX_SLICES` channel slices (measured 3-4× a conv: never chosen);
  - densify: when the consumer is a convolution (or a `ConvShiftMax`, whose grouped conv and dense
    shifted copy both read the permuted tensor), the permutation moves into the consumer's input
    columns: W' = W[:, inverse(perm)], a grouped conv becomes dense first (block-diagonal, zeros
    elsewhere: `densify_grouped_pointwise.densify`). No op is left for the permutation at all.
Exact: a permutation matrix has one 1 per row, and the densified conv only adds products x·0.
Costs MAdds (conv: C² per pixel; densify: the grouped conv's C_in·C_out·(1 − 1/groups) per pixel),
reported by the pipeline like any conv's.
Applies: the targets in `PREFERRED`. Measured (benchmarks/results/permutation_forms.md, 224, 1 thread,
one interleaved run per model), with / without this pass: LiteRT M0 0.95, M1 0.90, M2 0.96, M3 0.87;
OpenVINO 0.95, 0.93, 0.96, 0.93; onnxruntime (onnx target) M0 1.00, M2 1.01: off there.
Zero transposes (`force="no_transpose"`) is not the fastest: before a Shift-Max and before the 7×7 /
14×14 expansions the grid transpose is the cheapest form (M3: 1.03× stock with none vs 0.66× with them).
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext, input_shapes
from edgekit.rewrite.densify_grouped_pointwise import densify
from edgekit.rewrite.permute_channels import PermuteChannels, inverse, runs
from edgekit.rewrite.shift_max_static import StaticShiftMax

FORMS = ("keep", "conv", "densify", "slices")
POLICIES = FORMS + ("no_transpose",)  # no_transpose: the cheapest form that is not a transpose
MAX_SLICES = 24  # a concat of more slices than this is not offered


def _consumer_convs(m: nn.Module) -> list[nn.Conv2d] | None:
    """The convs that read the consumer's input directly, if all of its input goes through them."""
    from edgekit.rewrite.shift_max_from_producer import ConvShiftMax

    if type(m) is nn.Conv2d:
        return [m]
    if isinstance(m, ConvShiftMax):
        return [m.conv, m.conv_s]
    return None


@torch.no_grad()
def absorb_into(m: nn.Module, perm: torch.Tensor) -> nn.Module:
    """`m` rewritten so that m'(x) == m(x[:, perm]) (grouped convs made dense)."""
    from edgekit.rewrite.shift_max_from_producer import ConvShiftMax

    inv = inverse(perm)

    def absorbed(conv: nn.Conv2d) -> nn.Conv2d:
        dense = densify(conv) if conv.groups > 1 else conv
        dense.weight.copy_(dense.weight[:, inv].clone())
        return dense

    if type(m) is nn.Conv2d:
        return absorbed(m)
    assert isinstance(m, ConvShiftMax)
    m.conv = absorbed(m.conv)
    m.conv_s = absorbed(m.conv_s)
    return m


class AbsorbPermutations:
    name = "absorb_permutations"
    PREFERRED = {"onnx": False, "tflite": True, "openvino": True}

    # ns per unit at 1 thread, least-squares fits to benchmarks/permutation_forms.py sites (the 30
    # distinct sites of M0 + M3 at 224, µs above the same site without the permutation):
    #   transpose: per element per grid transpose; conv: per MAdd of the C×C permutation conv;
    #   dense / grouped: per MAdd of a 1×1 conv, a grouped one costing grouped[0] + grouped[1]/n with
    #   n outputs per group (XNNPACK and oneDNN run small groups far below GEMM speed: densifying the
    #   M3 56×56 site is 17 µs faster than the grouped conv alone); slices: per element, 12+ slices.
    # LiteRT fit rms: transpose 1.4 µs, conv 8.5 µs (values 1-356), densify 4.9 µs (-17..53).
    COSTS = {
        "tflite": {"transpose": 0.193, "conv": 0.0082, "dense": 0.0103, "grouped": (0.0284, 0.0750), "slices": 1.4},
        "openvino": {"transpose": 0.438, "conv": 0.0082, "dense": 0.0090, "grouped": (0.0187, 0.0552), "slices": 1.1},
    }

    def __init__(self, force: str | None = None):
        if force is not None and force not in POLICIES:
            raise ValueError(f"force must be one of {POLICIES}")
        self.force = force
        self.chosen: list[str] = []
        self.k = self.COSTS["tflite"]

    @classmethod
    def preferred(cls, target: str) -> bool:
        return cls.PREFERRED.get(target, False)

    def costs(self, p: PermuteChannels, consumer: nn.Module | None, hw: int) -> dict[str, float]:
        """Estimated ns of each form available at this site (what it adds over no permutation)."""
        k, c = self.k, len(p.perm)
        out = {"conv": k["conv"] * c * c * hw}
        as_transpose = p if p.kind != "conv" else PermuteChannels(p.perm, p.channels_last, conv_below=0)
        if as_transpose.kind in ("transpose", "transpose2"):
            # In front of a Shift-Max (its shifted copies are channel slices) the transpose form was
            # measured no slower than no permutation at all (M3 56×56: LiteRT −3 µs, OpenVINO −19 µs):
            # the runtimes then take those slices in channels-first layout.
            out["keep"] = 0.0 if isinstance(consumer, StaticShiftMax) else \
                k["transpose"] * len(as_transpose.grids) * c * hw
        if len(runs(p.perm)) <= MAX_SLICES:
            out["slices"] = k["slices"] * c * hw
        convs = _consumer_convs(consumer) if consumer is not None else None
        if convs is not None:
            cost = 0.0
            for cv in convs:
                if cv.groups == 1:
                    continue
                pixels = hw * cv.kernel_size[0] * cv.kernel_size[1] // (cv.stride[0] * cv.stride[1])
                dense = cv.in_channels * cv.out_channels * pixels
                per_group = cv.out_channels // cv.groups
                cost += k["dense"] * dense - (k["grouped"][0] + k["grouped"][1] / per_group) * dense / cv.groups
            out["densify"] = cost
        return out

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        self.k = self.COSTS.get(ctx.target, self.COSTS["tflite"])
        self.chosen = []
        if not any(isinstance(m, PermuteChannels) for m in model.modules()):
            return 0
        hw = {k: int(v[2] * v[3]) for k, v in input_shapes(model, ctx.input_shape, PermuteChannels).items()}
        for parent in list(model.modules()):
            if not isinstance(parent, nn.Sequential):
                continue
            for i in range(len(parent)):
                p = parent[i]
                if not (isinstance(p, PermuteChannels) and p.kind in ("transpose", "transpose2", "conv")):
                    continue
                if id(p) not in hw:  # not run by the forward pass: leave it
                    continue
                consumer = parent[i + 1] if i + 1 < len(parent) else None
                costs = self.costs(p, consumer, hw[id(p)])
                if self.force is None:
                    form = min(costs, key=costs.get)
                elif self.force == "no_transpose":
                    form = min((f for f in costs if f != "keep"), key=costs.get)
                else:  # a probe's forced form; "conv" where it does not apply
                    form = self.force if self.force in costs else "conv"
                self.chosen.append(form)
                if form == "conv" and p.kind != "conv":
                    parent[i] = PermuteChannels(p.perm, p.channels_last, conv_below=len(p.perm))
                elif form == "keep" and p.kind == "conv":  # the grid transpose(s) instead
                    parent[i] = PermuteChannels(p.perm, p.channels_last, conv_below=0)
                elif form == "slices":
                    parent[i] = PermuteChannels(p.perm, p.channels_last, max_runs=MAX_SLICES)
                elif form == "densify":
                    parent[i + 1] = absorb_into(consumer, p.perm)
                    parent[i] = nn.Identity()
        return len(self.chosen)
