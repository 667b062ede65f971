"""DY-Conv to a static form, chosen per layer: the pass the pipeline runs (name `dyconv_static`).

Forms (each its own module, each exact, no input-dependent conv weight):
  branches   `dyconv_static.DynamicConvBranches`: K static convs, each × π_k, summed.
  stacked    `dyconv_stacked.DynamicConvStacked`: one conv with K·Cout outputs, × π, summed.
  input_mix  `dyconv_input_mix.DynamicConvInputMix`: π mixes K copies of the input, one conv
             with K·Cin inputs.
  tiled      `dyconv_tiled.DynamicConvTiled`: the input tiled K times, one conv with K·groups
             groups (a depthwise conv stays depthwise), × π, K slices summed.
All cost K× the conv's MAdds; they differ in graph nodes and in which tensor is K-fold.

Choice per layer:
  - `ctx.tune` (`edgekit rewrite/export --tune-forms`, `rewrite_for_export(..., tune=True)`):
    every form is exported as a one-layer model at the layer's real input shape and timed on the
    target runtime (`edgekit.rewrite.tune`); the fastest wins unless the rule's form is within
    MARGIN of it (see `pick`). Layers with the same configuration and input shape are measured once.
  - otherwise `default_form`, a rule from benchmarks/dyconv_forms.py (results in
    benchmarks/results/dyconv_forms.md).
`details` (after `apply`) holds, per layer, its name, input shape, the form and, when tuned, the
median ms of every candidate; the pipeline puts it in the PassRecord.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d
from edgekit.rewrite.base import RewriteContext, input_shapes
from edgekit.rewrite.dyconv_input_mix import DynamicConvInputMix
from edgekit.rewrite.dyconv_stacked import DynamicConvStacked
from edgekit.rewrite.dyconv_static import DynamicConvBranches
from edgekit.rewrite.dyconv_tiled import DynamicConvTiled

FORMS = {"branches": DynamicConvBranches, "stacked": DynamicConvStacked, "input_mix": DynamicConvInputMix,
         "tiled": DynamicConvTiled}


def layer_kind(m: DynamicConv2d) -> str:
    if m.groups == m.in_channels == m.out_channels:
        return "depthwise"
    if m.groups > 1:
        return "grouped"
    return "pointwise" if m.kernel_size == (1, 1) else "dense"


def rule_kind(m: DynamicConv2d) -> str:
    """layer_kind, with 1×1 convs split by which side is wider: the K-fold tensor of input_mix is
    the input, that of the stacked / branch forms the output."""
    kind = layer_kind(m)
    if kind == "pointwise":
        return "expand" if m.out_channels > m.in_channels else "project"
    return kind


def default_form(m: DynamicConv2d, input_shape, target: str) -> str:
    """The untuned choice: RULE[target][rule_kind], else the K-branch form."""
    return RULE.get(target, {}).get(rule_kind(m), "branches")


# benchmarks/dyconv_forms.py, 224×224, 1 thread, benchmarks/results/dyconv_forms.md. Per layer, the
# geometric mean of form/branches latency over the distinct layers of mobilenetv3-small-dyconv:
#   1×1 expansions: input_mix 0.67 (onnxruntime), 0.93 (LiteRT);
#   depthwise: every other form is slower, stacked 2.3–2.6×, tiled 1.5×, input_mix 5–8×;
#   1×1 projections: stacked 0.98 / 0.92 (onnxruntime: noise; LiteRT: the whole model with
#   projections stacked ran 0.96× / 0.97× of the rule without, two interleaved runs).
# resnet18-dyconv (dense 3×3) whole model: stacked 1.00 / 1.03 / 1.02, tiled 1.04 / 1.01 / 1.05,
# input_mix 1.02 / 1.32 / 1.08 of branches (onnxruntime / LiteRT / OpenVINO): branches stays.
RULE: dict[str, dict[str, str]] = {
    "onnx": {"expand": "input_mix"},
    "tflite": {"expand": "input_mix", "project": "stacked"},
}


# A measured form replaces the rule's only when it is faster by more than this: candidates timed alone
# within a few % of each other are noise on a shared machine, and the rule is backed by whole models.
MARGIN = 0.03


def pick(timings: dict[str, float], default: str, margin: float = MARGIN) -> str:
    """The fastest form, unless `default` is within `margin` of it."""
    fastest = min(timings, key=timings.get)
    if default in timings and timings[default] <= timings[fastest] * (1 + margin):
        return default
    return fastest


def layer_key(m: DynamicConv2d, input_shape) -> tuple:
    return (m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
            m.bias is not None, m.k, tuple(input_shape))


class DynamicConvToStaticForms:
    name = "dyconv_static"

    def __init__(self, forms: tuple[str, ...] | None = None, seconds: float | None = None,
                 picks: dict[str, str] | None = None):
        """forms: the candidates (the first one replaces the rule's pick when that is not among them);
        seconds: timing per candidate when tuning; picks: layer name → form, fixed (benchmarks)."""
        unknown = [f for f in (*(forms or ()), *(picks or {}).values()) if f not in FORMS]
        if unknown:
            from edgekit.errors import EdgekitError

            raise EdgekitError(f"unknown DY-Conv form(s) {', '.join(unknown)}: use {', '.join(FORMS)}")
        self.forms = tuple(forms or FORMS)
        self.seconds = seconds
        self.picks = dict(picks or {})
        self.details: dict = {}

    def choose(self, m: DynamicConv2d, shape, ctx: RewriteContext, cache: dict) -> tuple[str, dict | None]:
        if shape is None or not ctx.tune:  # the rule (also for a layer the forward pass did not reach)
            form = default_form(m, shape, ctx.target)
            return (form if form in self.forms else self.forms[0]), None
        key = layer_key(m, shape)
        if key not in cache:
            from edgekit.rewrite.tune import SECONDS, measure_forms

            candidates = {f: FORMS[f](m).eval() for f in self.forms}
            cache[key] = measure_forms(candidates, shape, ctx.target, self.seconds or SECONDS)
        timings = cache[key]
        default = default_form(m, shape, ctx.target)
        return pick(timings, default if default in self.forms else self.forms[0]), timings

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        names = {id(m): n for n, m in model.named_modules()}
        with torch.no_grad():
            shapes = {k: tuple(v[1:]) for k, v in input_shapes(model, ctx.input_shape, DynamicConv2d).items()}
        layers, cache, changed = [], {}, 0
        for parent in list(model.modules()):
            for key, child in list(parent.named_children()):
                if not isinstance(child, DynamicConv2d):
                    continue
                shape = shapes.get(id(child))
                name = names.get(id(child), key)
                if name in self.picks:
                    form, timings = self.picks[name], None
                else:
                    form, timings = self.choose(child, shape, ctx, cache)
                setattr(parent, key, FORMS[form](child).eval())
                layers.append({"name": name, "kind": layer_kind(child),
                               "input_shape": list(shape) if shape else None, "form": form,
                               **({"timings_ms": timings, "fastest": min(timings, key=timings.get)}
                                  if timings is not None else {})})
                changed += 1
        self.details = {"mode": "picks" if self.picks else "tuned" if ctx.tune else "rule", "target": ctx.target,
                        "forms": dict(Counter(r["form"] for r in layers)), "layers": layers} if layers else {}
        return changed
