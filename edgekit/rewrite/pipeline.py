"""Run the rewrite passes on a copy of a model, prove each step equivalent, and log what changed.

    model2, log = rewrite_for_export(model, input_shape=(3, H, W), target="onnx")

`model2` is a new eval-mode module (the original is deep-copied, never touched) computing the same
outputs within 1e-5 × output scale, at batch 1, with no gather/index ops, no 5-D tensors and no
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
from edgekit.rewrite.verify import check_equivalent, op_census

TARGETS = ("onnx", "tflite", "openvino", "executorch")


@dataclass
class PassRecord:
    name: str
    changed: int
    ops_before: dict[str, int] = field(default_factory=dict)
    ops_after: dict[str, int] = field(default_factory=dict)
    madds_before: int = 0
    madds_after: int = 0
    max_abs_diff: float = 0.0  # relative to the original model's output scale
    seconds: float = 0.0
    details: dict = field(default_factory=dict)  # pass-specific: e.g. the DY-Conv form of each layer

    def to_dict(self) -> dict:
        return asdict(self)


def default_passes(target: str) -> list:
    """Pass order for a target. Shift-Max must be static before shuffles are folded around it."""
    from edgekit.rewrite.dyconv_forms import DynamicConvToStaticForms
    from edgekit.rewrite.dyrelu_static import DYReLUToStatic
    from edgekit.rewrite.absorb_permutations import AbsorbPermutations
    from edgekit.rewrite.fuse_separable_depthwise import FuseSeparableDepthwise

    from edgekit.rewrite.shift_max_from_producer import ShiftMaxFromProducer

    from edgekit.rewrite.shift_max_slices import ShiftMaxToSlices
    from edgekit.rewrite.frames_layout import video_passes

    form = "tflite" if target == "executorch" else target  # ExecuTorch's XNNPACK takes LiteRT's form + slices
    passes = [FoldBatchNorm(), ShiftMaxToStatic(), DYReLUToStatic(), DynamicConvToStaticForms(), FoldChannelShuffles()]
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
                       passes: list | None = None, tol: float = 1e-5,
                       tune: bool = False) -> tuple[nn.Module, list[PassRecord]]:
    if target not in TARGETS:
        raise EdgekitError(f"unknown rewrite target {target!r}: use one of {', '.join(TARGETS)}")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) != 3:
        raise EdgekitError(f"input shape {input_shape} is not (C, H, W)")
    ctx = RewriteContext(shape, target, tune)
    reference = model
    was_training = model.training
    work = copy.deepcopy(model).eval()
    model.train(was_training)
    reference_eval = reference if not was_training else copy.deepcopy(model).eval()
    log: list[PassRecord] = []
    with torch.no_grad():
        ops = op_census(work, shape).ops
        madds = _madds(work, shape)
        diff = 0.0
        for p in passes if passes is not None else default_passes(target):
            t0 = time.perf_counter()
            changed = int(p.apply(work, ctx))
            work.eval()
            ops_after = op_census(work, shape).ops if changed else ops
            madds_after = _madds(work, shape) if changed else madds
            if verify and changed:  # cumulative: the rewritten model so far against the original
                diff = check_equivalent(reference_eval, work, shape, tol=tol)
            log.append(PassRecord(p.name, changed, ops, ops_after, madds, madds_after, diff,
                                  time.perf_counter() - t0, dict(getattr(p, "details", None) or {})))
            ops, madds = ops_after, madds_after
    return work, log
