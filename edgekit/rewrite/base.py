"""What a rewrite pass is: a named object that edits a model in place and says how much it changed.

Each pass documents (in its class docstring) what it matches, what replaces it, and when it
applies. Passes run on a deep copy owned by the pipeline, in eval mode, batch 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn


@dataclass(frozen=True)
class RewriteContext:
    input_shape: tuple  # (C, H, W) — or the IO spec of a model with several inputs
    target: str = "onnx"  # onnx | tflite | openvino
    tune: bool = False  # choose forms by measuring them on the target runtime (slow)


class RewritePass(Protocol):
    name: str

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        """Rewrite `model` in place; return how many sites were changed (0: nothing matched)."""
        ...


@torch.no_grad()
def input_shapes(model: nn.Module, input_shape, types) -> dict[int, torch.Size]:
    """id(module) → the shape of its first input, for every module of `types` that one batch-1
    forward pass runs (modules the pass does not reach are absent)."""
    seen: dict[int, torch.Size] = {}

    def record(m, args):
        seen.setdefault(id(m), args[0].shape)

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, types)]
    from edgekit.models.examples import example_inputs

    p = next((t for t in model.parameters() if t.is_floating_point()), None)
    try:
        model.eval()(*example_inputs(input_shape, dtype=p.dtype if p is not None else torch.float32))
    finally:
        for h in hooks:
            h.remove()
    return seen


def replace_children(model: nn.Module, make) -> int:
    """Swap every submodule m for which `make(m)` returns a module (None: keep m); the number swapped."""
    changed = 0
    for parent in list(model.modules()):
        for key, child in list(parent.named_children()):
            new = make(child)
            if new is not None:
                setattr(parent, key, new)
                changed += 1
    return changed
