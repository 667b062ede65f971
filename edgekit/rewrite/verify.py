"""Equivalence proof and op census used by every rewrite pass, its tests, and the exporters.

`check_equivalent` runs both models on the same random batch-1 inputs and compares outputs
relative to the reference output's scale. The bound is `tol` (1e-5), or twice the reference's own
float32 rounding error (its float32 output against its float64 output on the same inputs) when
that is larger: some deep models are that sensitive (MobileNetV2-DY-ReLU at 64×64 with data-set
BatchNorm statistics: 1.03e-5 between its own float32 and float64 outputs), and BatchNorm folding
has to round the folded weights to float32, so no exact rewrite could meet 1e-5 there. `op_census` records the aten ops one forward pass
executes (so Python-level indexing like `x[:, idx]` shows up as `index`) and the largest tensor
rank seen, which is how "no gather, no 5-D tensor" is checked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from edgekit.errors import EdgekitError

# aten ops that read data through an index tensor: what becomes Gather/GatherND in exported graphs.
GATHER_OPS = frozenset({"index", "index_select", "gather", "take", "_index_put_impl_", "index_put", "embedding"})


def _batch1(input_shape) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    return shape if len(shape) == 4 else (1, *shape)


@torch.no_grad()
def check_equivalent(a: nn.Module, b: nn.Module, input_shape, n: int = 4, tol: float = 1e-5,
                     seed: int = 0) -> float:
    """Max |a(x) - b(x)| / max |a(x)| over `n` random N(0,1) batch-1 inputs; raises past `tol`."""
    gen = torch.Generator().manual_seed(seed)
    shape = _batch1(input_shape)
    worst = 0.0
    for _ in range(n):
        x = torch.randn(shape, generator=gen)
        ya, yb = a(x.clone()), b(x.clone())
        if ya.shape != yb.shape:
            raise EdgekitError(f"rewritten model output shape {tuple(yb.shape)} != original {tuple(ya.shape)}")
        scale = float(ya.abs().max())
        diff = float((ya - yb).abs().max())
        if not torch.isfinite(yb).all():
            raise EdgekitError("rewritten model produced non-finite outputs; re-run with --no-rewrite and report it")
        worst = max(worst, diff / scale if scale > 0 else diff)
    if worst > tol:
        noise = float32_noise(a, shape, n, seed)
        if worst > 2 * noise:
            raise EdgekitError(f"rewritten model differs from the original by {worst:.3g} x output scale "
                               f"(tolerance {max(tol, 2 * noise):.3g}); export with --no-rewrite and report the model")
    return worst


@torch.no_grad()
def float32_noise(model: nn.Module, input_shape, n: int = 4, seed: int = 0) -> float:
    """Max |model_fp32(x) − model_fp64(x)| / max |model_fp64(x)| on the same inputs as check_equivalent."""
    import copy

    gen = torch.Generator().manual_seed(seed)
    shape = _batch1(input_shape)
    m64 = copy.deepcopy(model).double()
    worst = 0.0
    for _ in range(n):
        x = torch.randn(shape, generator=gen)
        y32, y64 = model(x.clone()).double(), m64(x.double())
        scale = float(y64.abs().max())
        worst = max(worst, float((y32 - y64).abs().max()) / scale if scale > 0 else 0.0)
    return worst


class _Recorder(TorchDispatchMode):
    def __init__(self, static_ptrs: set[int] | None = None):
        super().__init__()
        self.ops: Counter = Counter()
        self.max_rank = 0
        self.static_ptrs = static_ptrs or set()
        self.dynamic_conv_weights = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        self.ops[name] += 1
        if name == "convolution" and len(args) > 1 and isinstance(args[1], torch.Tensor):
            if args[1].untyped_storage().data_ptr() not in self.static_ptrs:
                self.dynamic_conv_weights += 1
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.max_rank = max(self.max_rank, t.dim())
        return out


@dataclass
class OpCensus:
    ops: dict[str, int] = field(default_factory=dict)  # aten op name → times executed in one forward
    max_rank: int = 0  # largest tensor rank produced by any op
    dynamic_conv_weights: int = 0  # convolutions whose weight is computed (not a parameter/buffer)

    @property
    def gathers(self) -> int:
        return sum(n for op, n in self.ops.items() if op in GATHER_OPS)


@torch.no_grad()
def op_census(model: nn.Module, input_shape) -> OpCensus:
    """The aten ops of one batch-1 eval forward pass of `model` (weights untouched)."""
    was_training = model.training
    model.eval()
    static = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    rec = _Recorder(static)
    x = torch.zeros(_batch1(input_shape))
    try:
        with rec:
            model(x)
    finally:
        model.train(was_training)
    return OpCensus(dict(sorted(rec.ops.items())), rec.max_rank, rec.dynamic_conv_weights)
