"""Keep video activations in the frames layout between frames-layout ops (no transposes between them).

Matched: a model (traceable by torch.fx) holding `FramesModule`s (conv3d_frames, pool3d_frames) —
each of which on its own converts clip → frames → clip around itself.
Replaced: the model becomes an fx.GraphModule in which a value stays (T, C, H, W) frames from the
first frames op on: the input clip is converted once (`to_frames`), every FramesModule runs in its
"frames" layout, element-wise ops between frames values (ReLU-like modules and functions, add,
mul, and modules whose forward is element-wise per channel such as the TAN residual blocks once
their inner ops are frames ops) pass the layout through, and a value is converted back
(`from_frames`) only where something else consumes it (a flatten, a head, the output).
Exact: only where conversions sit changes. Applies: batch-1 clips (the frames layout is one clip),
models fx can trace; others keep the per-op conversions (still exact, still delegated).
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
from torch import nn

from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.frames import FramesModule, from_frames, to_frames

ELEMENTWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.SiLU, nn.Tanh, nn.GELU,
                       nn.LeakyReLU, nn.Identity, nn.Dropout)
ELEMENTWISE_FUNCTIONS = {operator.add, operator.mul, operator.sub, torch.add, torch.mul, torch.relu,
                         torch.nn.functional.relu, torch.nn.functional.relu6, torch.sigmoid, torch.maximum}
ELEMENTWISE_METHODS = {"relu", "relu_", "add", "add_", "mul", "sigmoid"}


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, FramesModule) or super().is_leaf_module(m, qualname)


def _elementwise(node: fx.Node, modules: dict) -> bool:
    if node.op == "call_module":
        return isinstance(modules[node.target], ELEMENTWISE_MODULES)
    if node.op == "call_function":
        return node.target in ELEMENTWISE_FUNCTIONS
    if node.op == "call_method":
        return node.target in ELEMENTWISE_METHODS
    return False


def keep_frames_layout(model: nn.Module) -> int:
    """Rewire `model` in place (its class gets the traced forward); the number of FramesModules wired."""
    if not any(isinstance(m, FramesModule) for m in model.modules()):
        return 0
    try:
        graph = _Tracer().trace(model)
    except Exception:  # not traceable: the per-op conversions stay
        return 0
    modules = dict(model.named_modules())
    frames_of: dict[fx.Node, fx.Node] = {}  # clip node → its frames form (created on demand)
    clip_of: dict[fx.Node, fx.Node] = {}  # frames node → its clip form
    in_frames: set[fx.Node] = set()
    wired = 0

    def as_frames(n: fx.Node, before: fx.Node) -> fx.Node:
        if n in in_frames:
            return n
        if n not in frames_of:
            with graph.inserting_before(before):
                frames_of[n] = graph.call_function(to_frames, (n,))
        return frames_of[n]

    def as_clip(n: fx.Node, before: fx.Node) -> fx.Node:
        if n not in in_frames:
            return n
        if n not in clip_of:
            with graph.inserting_before(before):
                clip_of[n] = graph.call_function(from_frames, (n,))
        return clip_of[n]

    for node in list(graph.nodes):
        if node.op in ("placeholder", "get_attr"):
            continue
        inputs = [a for a in node.all_input_nodes]
        if node.op == "call_module" and isinstance(modules[node.target], FramesModule):
            node.args = (as_frames(node.args[0], node), *node.args[1:])
            modules[node.target].layout = "frames"
            in_frames.add(node)
            wired += 1
        elif inputs and any(a in in_frames for a in inputs) and _elementwise(node, modules) \
                and all(a in in_frames for a in inputs):
            in_frames.add(node)
        else:
            node.args = fx.node.map_arg(node.args, lambda a: as_clip(a, node))
            node.kwargs = fx.node.map_arg(node.kwargs, lambda a: as_clip(a, node))
    if not wired:
        return 0
    graph.lint()
    gm = fx.GraphModule(model, graph)
    # The model keeps its identity, submodules and attributes (card, ...): only its forward changes,
    # to the generated one, which reads the same submodule paths.
    model.__class__ = type(f"{type(model).__name__}InFrames", (type(model),), {"forward": type(gm).forward})
    return wired


class KeepFramesLayout:
    name = "keep_frames_layout"

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        return keep_frames_layout(model)


# Targets that run Conv3D and 3-D pools natively and faster than the frames form: OpenVINO's CPU plugin
# (benchmarks/results/video_peer.md: its frames form took 1.28x / 1.11x its Conv3D graph for
# c3d-small / tan-small at 1 thread, 1.33x / 1.38x at 2).
KEEPS_CONV3D = ("openvino",)


def video_passes(target: str) -> list:
    """The video passes in pipeline order (after fold_batchnorm, which folds Conv3d + BatchNorm3d);
    each is a no-op on a model without Conv3D / 3-D pools. None for targets in KEEPS_CONV3D."""
    if target in KEEPS_CONV3D:
        return []
    from edgekit.rewrite.conv3d_frames import Conv3dToFrames
    from edgekit.rewrite.pool3d_frames import Pool3dToFrames

    return [Conv3dToFrames(), Pool3dToFrames(), KeepFramesLayout()]
