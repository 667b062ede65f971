"""Parameters and multiply-adds of a PyTorch model, counted from one real forward pass.

Published convention: conv + linear multiply-adds (bias and BatchNorm not counted).
Element-wise multiply-adds of dynamic parts (Dynamic Shift-Max, DY-ReLU, DY-Conv kernel
aggregation) are reported separately under `dynamic`. A module can report its own cost by
defining `count_madds(inputs, output) -> {"conv": n, "dynamic": n}` (per sample); edgekit's own
dynamic modules do, and nothing inside them is counted again.

Everything else is counted at the ATen level (a TorchDispatchMode sees every convolution and matrix
product however it is written: nn.Conv2d, `F.conv2d` with a computed weight, `F.linear`, `torch.mm` /
`matmul` / `bmm` / `einsum`, the traced graphs the rewrites produce): a convolution costs output elements
x input channels per group x kernel volume, a matrix product M x N x K. A matrix product whose result
becomes a convolution's weight or bias (through views, reshapes, slices, copies: a user's kernel mixing,
`torch.mm(attention, bank)`) is kernel aggregation, counted under `dynamic`, like edgekit's DY-Conv.
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


_AT = torch.ops.aten
# ops through which a kernel computed by a matrix product stays "that kernel" (its storage or a copy of it)
_CARRY = {"view", "_unsafe_view", "reshape", "permute", "transpose", "t", "select", "slice", "clone", "contiguous",
          "alias", "expand", "squeeze", "unsqueeze", "_reshape_alias", "flatten", "unflatten", "split",
          "split_with_sizes", "unbind", "chunk", "narrow", "index", "index_select", "repeat", "_to_copy", "detach",
          "lift_fresh", "movedim", "as_strided"}
_MATMUL = {"mm", "addmm", "bmm", "baddbmm", "dot", "mv", "addmv"}


def _op_name(func) -> str:
    return func._overloadpacket.__name__ if hasattr(func, "_overloadpacket") else getattr(func, "__name__", "")


def _tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for y in x:
            yield from _tensors(y)


class _Counter:
    """The ATen ops of one forward: convolutions and matrix products with their per-sample MAdds and the module
    that called them; which products feed a convolution's weight/bias (kernel aggregation)."""

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self
        # origin: id of a tensor computed from a matrix product -> that product's record index; keep holds those
        # tensors so their ids stay theirs for the whole forward
        self.stack, self.records, self.origin, self.keep = [], [], {}, []

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                counter.see(func, args, kwargs or {}, out)
                return out

        self.mode = Mode()

    def _origin(self, t) -> set:
        return self.origin.get(id(t), set()) if isinstance(t, torch.Tensor) else set()

    def _mark(self, out, src: set) -> None:
        for t in _tensors(out):
            self.origin[id(t)] = src
        self.keep.append(out)

    def _add(self, op, owner, madds, out) -> int:
        shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) and out.dim() > 1 else ()
        self.records.append({"op": op, "owner": owner, "madds": int(madds), "kind": "conv", "shape": shape})
        return len(self.records) - 1

    def see(self, func, args, kwargs, out):
        """Counted at batch 1: every output element is one sample's work, also when the model folds something
        into the batch (TCN's 25 proposals through one Conv1d) or the batch into the groups."""
        name = _op_name(func)
        owner = self.stack[-1] if self.stack else None
        if owner is not None and owner[2]:  # inside a module that counts itself
            return
        if name == "convolution":
            x, w = args[0], args[1]
            transposed = args[6] if len(args) > 6 else False
            # transposed: each input element meets Cout/groups x kernel volume weights
            self._add(name, owner, (x if transposed else out).numel() * w.shape[1] * w[0, 0].numel(), out)
            for src in self._origin(w) | self._origin(args[2] if len(args) > 2 else None):
                self.records[src]["kind"] = "dynamic"  # the product made this conv's weight: kernel aggregation
        elif name in _MATMUL:  # nn.Linear, matmul, einsum, GRU/RNN steps all arrive as these
            a = args[1] if name in ("addmm", "baddbmm", "addmv") else args[0]
            macs = a.numel() if name in ("mv", "addmv", "dot") else out.numel() * a.shape[-1]  # (.., M, K) @ (.., K, N)
            self._mark(out, {self._add(name, owner, macs, out)})
        elif name == "mkldnn_rnn_layer":  # CPU LSTM: x (T, N, in), W_ih (4H, in), W_hh (4H, H), per layer
            x, w_ih, w_hh = args[0], args[1], args[2]
            self._add("lstm", owner, x.shape[0] * x.shape[1] * (w_ih.numel() + w_hh.numel()), out[0])
        elif name in _CARRY:
            src = set().union(*(self._origin(t) for t in _tensors(list(args) + list(kwargs.values()))))
            if src:
                self._mark(out, src)


@torch.no_grad()
def count_madds(model: nn.Module, input_shape) -> MaddsReport:
    """Count on one forward pass of a batch-1 input of per-sample `input_shape` ((C, H, W) for an image,
    (C, T, H, W) for a clip), or of every input of an IO spec; the batch dimension 1 is prepended."""
    from edgekit.models.examples import example_inputs
    from edgekit.models.io_spec import as_io

    io = as_io(input_shape)
    input_shape = (1, *io.inputs[0].shape)
    layers: list[LayerCount] = []
    counter = _Counter()  # records ops and self-counting modules in call order
    names = {id(m): n for n, m in model.named_modules()}

    def pre(m, inputs):
        counter.stack.append((names.get(id(m), type(m).__name__), m, hasattr(m, "count_madds")))

    def post(m, inputs, out):
        name, _, own = counter.stack.pop()
        if own and isinstance(out, torch.Tensor):
            c = m.count_madds(inputs, out)
            counter.records.append({"layer": LayerCount(name, type(m).__name__, tuple(out.shape[1:]),
                                                        sum(p.numel() for p in m.parameters(recurse=False)),
                                                        int(c.get("conv", 0)), int(c.get("dynamic", 0)))})

    hooks = [h for m in model.modules() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    was_training = model.training
    model.eval()
    try:
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        with counter.mode:
            model(*example_inputs(io, dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for r in counter.records:  # in call order (a module that counts itself: when it returns)
        if "layer" in r:
            layers.append(r["layer"])
            continue
        owner = r["owner"]
        m = owner[1] if owner else None
        module_op = isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                                   nn.ConvTranspose3d, nn.Linear))
        kind = type(m).__name__ if module_op else f"{r['op']}" + (f" in {type(m).__name__}" if m is not None else "")
        params = sum(p.numel() for p in m.parameters(recurse=False)) if module_op else 0
        conv, dyn = (r["madds"], 0) if r["kind"] == "conv" else (0, r["madds"])
        layers.append(LayerCount(owner[0] if owner else "", kind, r["shape"], params, conv, dyn))
    return MaddsReport(
        params=count_params(model),
        conv_madds=sum(layer.conv for layer in layers),
        dynamic_madds=sum(layer.dynamic for layer in layers),
        input_shape=tuple(input_shape),
        layers=layers,
    )
