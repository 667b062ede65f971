"""Parameters and multiply-adds of a PyTorch model, counted from one real forward pass.

Published convention: conv + linear multiply-adds (bias and BatchNorm not counted).
Element-wise multiply-adds of dynamic parts (Dynamic Shift-Max, DY-ReLU, DY-Conv kernel
aggregation) are reported separately under `dynamic`. A module can report its own cost by
defining `count_madds(inputs, output) -> {"conv": n, "dynamic": n}` (per sample); the ones it
computes with functional calls (a per-sample conv kernel, say) are only visible that way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class LayerCount:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    conv: int  # conv + linear multiply-adds, per sample
    dynamic: int  # element-wise multiply-adds of dynamic ops, per sample


@dataclass
class MaddsReport:
    params: int
    conv_madds: int
    dynamic_madds: int
    input_shape: tuple[int, ...]
    layers: list[LayerCount] = field(default_factory=list)

    @property
    def total_madds(self) -> int:
        return self.conv_madds + self.dynamic_madds

    def to_dict(self, per_layer: bool = False) -> dict:
        d = {
            "params": self.params,
            "conv_madds": self.conv_madds,
            "dynamic_madds": self.dynamic_madds,
            "total_madds": self.total_madds,
            "input_shape": list(self.input_shape),
        }
        if per_layer:
            d["layers"] = [vars(layer) | {"output_shape": list(layer.output_shape)} for layer in self.layers]
        return d


def _conv_madds(m: nn.modules.conv._ConvNd, out: torch.Tensor) -> int:
    """Any rank (Conv1d/2d/3d): output elements × input channels per group × kernel volume."""
    kernel = 1
    for k in m.kernel_size:
        kernel *= k
    return out[0].numel() * (m.in_channels // m.groups) * kernel


def _linear_madds(m: nn.Linear, out: torch.Tensor) -> int:
    return out[0].numel() * m.in_features


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_madds(model: nn.Module, input_shape) -> MaddsReport:
    """Count on one forward pass of a batch-1 input of per-sample `input_shape` ((C, H, W) for an image,
    (C, T, H, W) for a clip), or of every input of an IO spec; the batch dimension 1 is prepended."""
    from edgekit.models.examples import example_inputs
    from edgekit.models.io_spec import as_io

    io = as_io(input_shape)
    input_shape = (1, *io.inputs[0].shape)
    layers: list[LayerCount] = []
    hooks = []

    def hook(name):
        def fn(m, inputs, out):
            if not isinstance(out, torch.Tensor):
                return
            conv = dynamic = 0
            if hasattr(m, "count_madds"):
                c = m.count_madds(inputs, out)
                conv, dynamic = int(c.get("conv", 0)), int(c.get("dynamic", 0))
            elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                conv = _conv_madds(m, out)
            elif isinstance(m, nn.Linear):
                conv = _linear_madds(m, out)
            else:
                return
            params = sum(p.numel() for p in m.parameters(recurse=False))
            layers.append(LayerCount(name, type(m).__name__, tuple(out.shape[1:]), params, conv, dynamic))

        return fn

    for name, m in model.named_modules():
        if hasattr(m, "count_madds") or isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            hooks.append(m.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        model(*example_inputs(io, dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return MaddsReport(
        params=count_params(model),
        conv_madds=sum(layer.conv for layer in layers),
        dynamic_madds=sum(layer.dynamic for layer in layers),
        input_shape=tuple(input_shape),
        layers=layers,
    )
