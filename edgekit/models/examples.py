"""Torch-side inputs and outputs of a model described by an IO spec.

`example_inputs(io)` builds the batch-1 tensors a model is traced, probed or proven on (floats of the
requested dtype, integer inputs as int64 ids inside their range), and `flatten_outputs(y)` turns
whatever `forward` returns (a tensor, a tuple or list, a dict, a namedtuple, nested) into the tuple of
tensors that exported graphs return, in a fixed order.
"""

from __future__ import annotations

import torch

from edgekit.models.io_spec import IOSpec, as_io


def example_inputs(io, fill: str = "zeros", dtype=torch.float32, generator: torch.Generator | None = None,
                   batch: int = 1) -> tuple[torch.Tensor, ...]:
    """One tensor per input of `io` (an IOSpec or a per-sample shape): zeros, or seeded normals
    (`fill="randn"`); integer inputs get ids inside their range either way."""
    io = as_io(io)
    out = []
    for spec in io.inputs:
        shape = (batch, *spec.shape)
        if spec.is_integer:
            lo, hi = spec.range if spec.range is not None else (0, 2)
            lo, hi = int(lo), max(int(lo) + 1, int(hi))
            if fill == "zeros":
                out.append(torch.full(shape, lo, dtype=getattr(torch, spec.dtype)))
            else:
                out.append(torch.randint(lo, hi, shape, generator=generator).to(getattr(torch, spec.dtype)))
        elif fill == "zeros":
            out.append(torch.zeros(shape, dtype=dtype))
        else:
            out.append(torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype))
    return tuple(out)


def flatten_outputs(y) -> tuple[torch.Tensor, ...]:
    if isinstance(y, torch.Tensor):
        return (y,)
    if isinstance(y, dict):
        return tuple(t for v in y.values() for t in flatten_outputs(v))
    if isinstance(y, (tuple, list)):
        return tuple(t for v in y for t in flatten_outputs(v))
    raise TypeError(f"forward() returned a {type(y).__name__}; edgekit exports tensors, tuples, lists and dicts of them")


def output_names_of(y, io: IOSpec) -> list[str]:
    """Declared names when the spec has them, dict keys for a dict, else output_0, output_1, ...
    (a single output keeps the classic name `logits`)."""
    flat = flatten_outputs(y)
    if io.outputs and len(io.outputs) == len(flat):
        return io.output_names
    if isinstance(y, dict) and all(isinstance(v, torch.Tensor) for v in y.values()):
        return [str(k) for k in y]
    if hasattr(y, "_fields") and len(y._fields) == len(flat):  # namedtuple
        return list(y._fields)
    if len(flat) == 1:
        return ["logits"]
    return [f"output_{i}" for i in range(len(flat))]


class FlatOutputs(torch.nn.Module):
    """`inner` returning a flat tuple of tensors (what every exporter and runtime sees)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *xs):
        return flatten_outputs(self.inner(*xs))
