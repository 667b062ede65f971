"""Equivalence proof and op census used by every rewrite pass, its tests, and the exporters.

Exactness is proven in float64, where rounding can neither hide a wrong pass nor fail a right one.
`check_exact(reference, rewritten, shape)` runs float64 copies of both modules on the same random
batch-1 inputs and raises `RewriteNotExact` when they differ by more than `EXACT_TOL` (1e-9) of the
reference's output scale — far above float64 rounding (~1e-15 here) and far below any real mistake
(a shift off by one channel is ~1e-1). The pipeline runs the passes themselves in float64
(`float64_mode`), so folded weights are computed exactly and rounded to float32 once, at the end.

The float32 difference (`max_rel_diff` of the float32 models) is then only measured and reported, as parity is: two
correct float32 graphs round differently (folded BatchNorm, fused k×k kernels), and their difference
can exceed the original's own float32 noise, so it is never a reason to refuse a checkpoint.

`op_census` records the aten ops one forward pass executes (so Python-level indexing like
`x[:, idx]` shows up as `index`) and the largest tensor rank seen, which is how "no gather, no 5-D
tensor" is checked. Every `input_shape` here is the per-sample shape — (C, H, W) for images,
(C, T, H, W) for clips — and batch 1 is prepended.
"""

from __future__ import annotations

import contextlib
import copy
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from edgekit.errors import EdgekitError

# aten ops that read data through an index tensor: what becomes Gather/GatherND in exported graphs.
GATHER_OPS = frozenset({"index", "index_select", "gather", "take", "_index_put_impl_", "index_put", "embedding"})

EXACT_TOL = 1e-9  # float64 bound, relative to the reference output's scale


class RewriteNotExact(EdgekitError):
    """A rewrite changed what the model computes: a bug in the pass, never the user's weights."""


def batch1(input_shape) -> tuple[int, ...]:
    """(1, *per-sample shape)."""
    return (1, *(int(s) for s in input_shape))


def _inputs(input_shape, n: int, seed: int, dtype) -> list[tuple[torch.Tensor, ...]]:
    """`n` seeded samples, each a tuple of batch-1 tensors: one per input of the IO spec (or of the
    per-sample shape), floats of `dtype`, integer ids inside their range."""
    from edgekit.models.examples import example_inputs

    gen = torch.Generator().manual_seed(seed)
    return [example_inputs(input_shape, fill="randn", dtype=dtype, generator=gen) for _ in range(n)]


def _outputs(y) -> tuple[torch.Tensor, ...]:
    from edgekit.models.examples import flatten_outputs

    return flatten_outputs(y)


@contextlib.contextmanager
def default_dtype(dtype):
    """New modules and floating tensors default to `dtype` inside."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def float64_mode():
    """Passes build their replacement modules in float64 inside this context."""
    return default_dtype(torch.float64)


def as_float64(model: nn.Module) -> nn.Module:
    """A float64 eval-mode deep copy of `model` (the original is untouched)."""
    return copy.deepcopy(model).double().eval()


def _rel_diff(ya, yb) -> float:
    """Worst relative difference over the outputs, each against its own scale."""
    ta, tb = _outputs(ya), _outputs(yb)
    if len(ta) != len(tb):
        raise RewriteNotExact(f"rewritten model returns {len(tb)} outputs, the original {len(ta)}")
    return max(_rel_diff1(a, b) for a, b in zip(ta, tb))


def _rel_diff1(ya: torch.Tensor, yb: torch.Tensor) -> float:
    if ya.shape != yb.shape:
        raise RewriteNotExact(f"rewritten model output shape {tuple(yb.shape)} != original {tuple(ya.shape)}")
    if not torch.isfinite(yb).all():
        raise RewriteNotExact("rewritten model produced non-finite outputs; re-run with --no-rewrite and report it")
    scale = float(ya.abs().max())
    diff = float((ya.double() - yb.double()).abs().max())
    return diff / scale if scale > 0 else diff


@torch.no_grad()
def max_rel_diff(a: nn.Module, b: nn.Module, input_shape, n: int = 4, seed: int = 0,
                 dtype=torch.float32) -> float:
    """Max |a(x) - b(x)| / max |a(x)| over `n` random N(0,1) batch-1 inputs of `dtype` (models as they are)."""
    worst = 0.0
    for xs in _inputs(input_shape, n, seed, dtype):
        worst = max(worst, _rel_diff(a(*(x.clone() for x in xs)), b(*(x.clone() for x in xs))))
    return worst


@torch.no_grad()
def check_exact(reference: nn.Module, rewritten: nn.Module, input_shape, n: int = 2, seed: int = 0,
                tol: float = EXACT_TOL, what: str = "rewritten model") -> float:
    """Float64 proof: max relative difference of float64 copies of both; raises RewriteNotExact past `tol`.

    Modules already in float64 are used as they are (no copy)."""
    def f64(m):
        p = next(iter(m.parameters()), None)
        return m if p is not None and p.dtype == torch.float64 else as_float64(m)

    try:
        a, b = f64(reference), f64(rewritten)
        worst = max_rel_diff(a, b, input_shape, n=n, seed=seed, dtype=torch.float64)
    except RewriteNotExact:
        raise
    except RuntimeError as exc:  # a module that does not run in float64 (hard-coded float32 tensors, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgekitError(f"cannot prove the rewrite exact: the model does not run in float64 ({first}); "
                           "export with --no-verify to skip the proof") from None
    if worst > tol:
        raise RewriteNotExact(f"{what} differs from the original by {worst:.3g} x output scale in float64 "
                              f"(exactness bound {tol:.0e}): the rewrite is wrong; export with --no-rewrite "
                              "and report the model")
    return worst


def check_equivalent(a: nn.Module, b: nn.Module, input_shape, n: int = 4, tol: float = EXACT_TOL,
                     seed: int = 0) -> float:
    """Prove `b` exact against `a` in float64 (raises past `tol`), then return their float32 difference.

    `a` and `b` are not modified (float64 copies are made for the proof)."""
    check_exact(a, b, input_shape, n=min(n, 2), seed=seed, tol=tol)
    return max_rel_diff(copy.deepcopy(a).float(), copy.deepcopy(b).float(), input_shape, n=n, seed=seed)


@torch.no_grad()
def float32_noise(model: nn.Module, input_shape, n: int = 4, seed: int = 0) -> float:
    """Max |model_fp32(x) − model_fp64(x)| / max |model_fp64(x)|: the model's own float32 rounding."""
    m64 = as_float64(model)
    worst = 0.0
    for xs in _inputs(input_shape, n, seed, torch.float32):
        worst = max(worst, _rel_diff(m64(*(x.double() if x.is_floating_point() else x for x in xs)),
                                     model(*(x.clone() for x in xs))))
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


def checked_replacement(module: nn.Module, gm: torch.fx.GraphModule, args) -> torch.fx.GraphModule | None:
    """A traced copy of `module` after a pass edited its graph: dead code dropped, as a plain GraphModule (the
    exported one refuses train()/eval()), or None when it does not compute what `module` computed on its own
    recorded input `args` (1e-9 x scale in float64, 1e-4 in float32). The lift passes' local proof; the
    pipeline then proves the whole model."""
    gm.graph.eliminate_dead_code()
    gm = torch.fx.GraphModule(gm, gm.graph)
    with torch.no_grad():
        ref, got = module(*(a.clone() for a in args)), gm(*(a.clone() for a in args))
    if not isinstance(ref, torch.Tensor) or not isinstance(got, torch.Tensor) or ref.shape != got.shape:
        return None
    tol = 1e-9 if ref.dtype == torch.float64 else 1e-4
    if (ref - got).abs().max() > tol * max(1.0, float(ref.abs().max())):
        return None
    return gm


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
    from edgekit.models.examples import example_inputs

    p = next(iter(model.parameters()), None)
    xs = example_inputs(input_shape, dtype=p.dtype if p is not None else torch.float32)
    try:
        with rec:
            model(*xs)
    finally:
        model.train(was_training)
    return OpCensus(dict(sorted(rec.ops.items())), rec.max_rank, rec.dynamic_conv_weights)
