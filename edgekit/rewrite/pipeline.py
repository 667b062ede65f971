"""Run the rewrite passes on a copy of a model, prove each step equivalent, and log what changed.

    model2, log = rewrite_for_export(model, input_shape=(3, H, W), target="onnx")

`model2` is a new eval-mode module (the original is deep-copied, never touched) proven to compute the
same outputs in float64 (within 1e-9 × output scale, `verify.check_exact`), at batch 1, with no gather/index ops, no 5-D tensors and no
input-dependent conv weights. `log` holds one PassRecord per pass: `ops_before` / `ops_after` are
the aten ops one forward pass executes (name → count, from `verify.op_census`), MAdds are
`edgekit.analysis.flops.count_madds` totals (conv + linear + dynamic element-wise).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.fold_batchnorm import FoldBatchNorm
from edgekit.rewrite.fold_channel_shuffles import FoldChannelShuffles
from edgekit.rewrite.shift_max_static import ShiftMaxToStatic
from edgekit.rewrite.verify import EXACT_TOL, as_float64, check_exact, float64_mode, max_rel_diff, op_census

TARGETS = ("onnx", "tflite", "openvino", "executorch")


@dataclass
class PassRecord:
    name: str
    changed: int
    ops_before: dict[str, int] = field(default_factory=dict)
    ops_after: dict[str, int] = field(default_factory=dict)
    madds_before: int = 0
    madds_after: int = 0
    max_abs_diff: float = 0.0  # float32 difference from the original, relative to its output scale (measured)
    seconds: float = 0.0
    details: dict = field(default_factory=dict)  # pass-specific: e.g. the DY-Conv form of each layer
    exact_diff: float = 0.0  # the same in float64: the exactness proof (bounded by verify.EXACT_TOL)

    def to_dict(self) -> dict:
        return asdict(self)


def default_passes(target: str) -> list:
    """Pass order for a target. Shift-Max must be static before shuffles are folded around it."""
    from edgekit.rewrite.dyconv_forms import DynamicConvToStaticForms
    from edgekit.rewrite.dyrelu_static import DYReLUToStatic
    from edgekit.rewrite.lift_dynamic_conv import LiftUserDynamicConv
    from edgekit.rewrite.lift_channel_permutation import LiftChannelPermutation
    from edgekit.rewrite.lift_dynamic_activation import LiftDynamicActivation
    from edgekit.rewrite.absorb_permutations import AbsorbPermutations
    from edgekit.rewrite.fuse_separable_depthwise import FuseSeparableDepthwise

    from edgekit.rewrite.shift_max_from_producer import ShiftMaxFromProducer

    from edgekit.rewrite.shift_max_slices import ShiftMaxToSlices
    from edgekit.rewrite.frames_layout import video_passes

    form = "tflite" if target == "executorch" else target  # ExecuTorch's XNNPACK takes LiteRT's form + slices
    # LiftUserDynamicConv: dynamic convs the user wrote, recognised by what they compute (edgekit's own
    # DynamicConv2d is left to DynamicConvToStaticForms, which picks its tuned form); LiftChannelPermutation:
    # user channel gathers / rolls / slice-cats / shuffles → static permutations; LiftDynamicActivation: user
    # DY-ReLU 5-D max over K → 4-D maxima (both skip edgekit's own modules)
    passes = [FoldBatchNorm(), ShiftMaxToStatic(), DYReLUToStatic(), LiftUserDynamicConv(),
              LiftChannelPermutation(), LiftDynamicActivation(), DynamicConvToStaticForms(), FoldChannelShuffles()]
    passes += video_passes(form)  # Conv3D / 3-D pools → frames layout (issue 15); no-ops on image models
    if ShiftMaxFromProducer.preferred(form):
        passes.append(ShiftMaxFromProducer())
    if FuseSeparableDepthwise.preferred(form):
        passes.append(FuseSeparableDepthwise())
    if AbsorbPermutations.preferred(form):  # last: it sees the final consumers of each permutation
        passes.append(AbsorbPermutations())
    if ShiftMaxToSlices.preferred(target):  # after the layout passes: it wraps the final Shift-Max forms
        passes.append(ShiftMaxToSlices())
    return passes


def _madds(model, input_shape) -> int:
    from edgekit.analysis.flops import count_madds

    return int(count_madds(model, input_shape).total_madds)


def rewrite_for_export(model: nn.Module, input_shape, target: str = "onnx", verify: bool = True,
                       passes: list | None = None, tol: float = EXACT_TOL,
                       tune: bool = False) -> tuple[nn.Module, list[PassRecord]]:
    """Rewrite a copy of `model` for `target`; (rewritten float32 eval module, one PassRecord per pass).

    The passes run on a float64 copy, so every folded or fused weight is computed exactly; with
    `verify`, each pass that changed something is proven exact against the float64 original
    (`verify.check_exact`, relative bound `tol`). The result is that float64 model rounded once
    to the original's dtype; its float32 difference from the original is measured per pass and
    reported (`max_abs_diff`), never judged. `input_shape` is the per-sample shape: (C, H, W), or
    (C, T, H, W) for clips; batch 1 is prepended.
    """
    if target not in TARGETS:
        raise EdgekitError(f"unknown rewrite target {target!r}: use one of {', '.join(TARGETS)}")
    from edgekit.models.io_spec import IOSpec

    if isinstance(input_shape, IOSpec):  # several inputs: every proof and census runs on all of them
        shape = input_shape if not input_shape.is_single else tuple(input_shape.inputs[0].shape)
    else:
        shape = tuple(int(s) for s in input_shape)
        if len(shape) < 1 or any(s < 1 for s in shape):
            raise EdgekitError(f"input shape {input_shape} is not a per-sample shape such as (C, H, W)")
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    was_training = model.training
    reference = copy.deepcopy(model).eval()  # the caller's model is never touched, not even its mode
    model.train(was_training)
    reference.float()
    log: list[PassRecord] = []
    with torch.no_grad():
        with float64_mode():
            reference64 = as_float64(reference)
            work = as_float64(reference)
            ops = op_census(work, shape).ops
            madds = _madds(work, shape)
        ctx = RewriteContext(shape, target, tune)
        exact = f32 = 0.0
        for p in passes if passes is not None else default_passes(target):
            t0 = time.perf_counter()
            with float64_mode():  # replacements are built in float64: folded weights exact
                changed = int(p.apply(work, ctx))
                work.eval()
                ops_after = op_census(work, shape).ops if changed else ops
                madds_after = _madds(work, shape) if changed else madds
                if verify and changed:  # cumulative: the rewritten model so far against the original
                    exact = check_exact(reference64, work, shape, tol=tol, what=f"after pass {p.name}, the model")
            if verify and changed:
                f32 = max_rel_diff(reference, copy.deepcopy(work).float(), shape)
            log.append(PassRecord(p.name, changed, ops, ops_after, madds, madds_after, f32,
                                  time.perf_counter() - t0, dict(getattr(p, "details", None) or {}), exact))
            ops, madds = ops_after, madds_after
    return work.to(dtype).eval(), log
