"""Max over K affine forms the user wrote with a 5-D broadcast, recognised by what it computes
(name `lift_dynamic_activation`).

Matched: y = max over the last axis of T, T of rank ≥ 5 built by element-wise ops (mul / add / sub / div)
from tensors broadcast along that axis: DY-ReLU A/B/C as public code writes it,
`(x.unsqueeze(-1) * a + b).max(dim=-1)[0]` / `amax(-1)`, with a, b views or slices of the
hyper-function's output (1, C·2K) → (1, C, 1, 1, K) (a variant-C spatial factor is just another
operand). The channel shift of a user Shift-Max (`x[:, idx]`, `roll`) is `lift_channel_permutation`'s.
How: one batch-1 forward records the modules calling max / amax; the innermost (called once, tensor
inputs) is traced with torch.export (strict=False, batch 1). The selection T[..., k] is pushed through
the element-wise ops: an operand broadcast along the axis (`unsqueeze(-1)`, `expand`) gives its source,
a view of a small tensor gives a 2-D reshape (N, K) → transpose → row k → reshape (no 5-D, no gather),
a slice along the axis shifts k, a constant is sliced once.
Replaced: the max by K − 1 element-wise `maximum`s of K 4-D affine forms — the form `dyrelu_static`
produces for edgekit's own DYReLU. The traced module must then compute what the original did on its
recorded input (1e-9 × scale in float64), or it is left as it was; the pipeline proves the whole model.
Applies: every target; edgekit's own modules are skipped (`dyrelu_static` / `shift_max_static` have
them). Anything else (max indices used, a non-element-wise op in T) is left and listed in
`details["left"]` as "max over K affine forms at <path>".
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.verify import checked_replacement

_A = torch.ops.aten
ELEMENTWISE = {_A.mul.Tensor, _A.add.Tensor, _A.sub.Tensor, _A.div.Tensor, _A.mul.Scalar, _A.add.Scalar,
               _A.sub.Scalar, _A.div.Scalar}
UNARY = {_A.clamp.default, _A.clamp_min.default, _A.clamp_max.default, _A.relu.default, _A.sigmoid.default,
         _A.neg.default, _A.exp.default, _A.hardsigmoid.default, _A.tanh.default}
VIEWS = {_A.view.default, _A.reshape.default, _A._unsafe_view.default, _A.unsqueeze.default}
SITE_FNS = {torch.max, torch.amax, torch.Tensor.max, torch.Tensor.amax, torch.maximum}
SMALL = 1 << 16  # a coefficient tensor (C·K numbers), not a feature map


class _NotMatched(Exception):
    pass


def _last_dim_max(node):
    """(T, K) when node is amax(T, [-1]) / max.dim(T, -1)[0] over the last axis of a rank ≥ 5 T."""
    if node.op != "call_function":
        return None
    if node.target is _A.amax.default:
        t, dims = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        keep = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
    elif node.target is _A.select.int:  # T[..., k] of a 5-D broadcast (torch.maximum of slices)
        t, dims, keep = node.args[0], [node.args[1]], False
        if not isinstance(t, torch.fx.Node) or t.target not in ELEMENTWISE:
            return None
    elif node.target is _A.max.dim:
        t, dims = node.args[0], [node.args[1]]
        keep = node.args[2] if len(node.args) > 2 else False
    else:
        return None
    val = t.meta["val"] if isinstance(t, torch.fx.Node) and "val" in t.meta else None
    if val is None or val.dim() < 5 or keep or list(dims) not in ([-1], [val.dim() - 1]):
        return None
    return t, int(val.shape[-1])


class _Select:
    """Builds, in front of `at`, a node computing T[..., k] for T's operand nodes (see the docstring)."""

    def __init__(self, gm, g, at):
        self.gm, self.g, self.at, self.n = gm, g, at, 0

    def fn(self, target, *args):
        with self.gm.graph.inserting_before(self.at):
            return self.gm.graph.call_function(target, args)

    def __call__(self, n, k, kk):
        if not isinstance(n, torch.fx.Node):
            return n  # a Python scalar broadcasts
        val = self.g.env[n]
        if not isinstance(val, torch.Tensor):
            raise _NotMatched
        if val.dim() == 0:
            return n
        last = val.shape[-1]
        if n.target in ELEMENTWISE:
            return self.fn(n.target, *(self(a, k, kk) for a in n.args))
        if last == 1:  # broadcast along the axis
            if n.target is _A.unsqueeze.default and n.args[1] in (-1, val.dim() - 1):
                return n.args[0]
            if n.target in UNARY:  # e.g. a clamped spatial attention (variant C): the op on the 4-D source
                return self.fn(n.target, self(n.args[0], k, kk), *n.args[1:])
            if n.target in VIEWS and isinstance(n.args[0], torch.fx.Node):  # reshape the view's source
                return self.fn(_A.reshape.default, n.args[0], list(val.shape[:-1]))
            return self.fn(_A.reshape.default, n, list(val.shape[:-1]))
        if last != kk:
            raise _NotMatched
        if n.target is _A.expand.default:
            return self(n.args[0], k, kk)
        if n.target is _A.slice.Tensor and n.args[1] in (-1, val.dim() - 1):
            src = self.g.env[n.args[0]]
            start = n.args[2] if len(n.args) > 2 and n.args[2] is not None else 0
            step = n.args[4] if len(n.args) > 4 else 1
            if step != 1:
                raise _NotMatched
            start = start + src.shape[-1] if start < 0 else start
            return self._row(n.args[0], start + k, src.shape[-1], list(val.shape[:-1]))
        if n not in self.g.dynamic:  # a constant: its slice becomes a buffer
            name = f"act_const{self.n}"
            self.n += 1
            self.gm.register_buffer(name, val[..., k].clone())
            with self.gm.graph.inserting_before(self.at):
                return self.gm.graph.get_attr(name)
        if val.numel() > SMALL:
            raise _NotMatched
        return self._row(n, k, kk, list(val.shape[:-1]))

    def _row(self, src, k, d, like):
        """src (last axis d) as (N, d) → transposed → row k → reshaped to `like`. Any view of src with
        the same last axis has the same (N, d) matrix: the reshape starts from the view's source (no 5-D)."""
        while src.target in VIEWS and isinstance(src.args[0], torch.fx.Node) and \
                self.g.env[src.args[0]].numel() % d == 0 and (src.target is not _A.unsqueeze.default):
            src = src.args[0]
        flat = self.fn(_A.reshape.default, src, [-1, d])
        rows = self.fn(_A.permute.default, flat, [1, 0])
        row = self.fn(_A.select.int, rows, 0, k)
        return self.fn(_A.reshape.default, row, like)


def _lift(module, args):
    from edgekit.rewrite.lift_dynamic_conv import _Graph

    def fresh():
        return tuple(a.clone() for a in args)

    try:
        gm = torch.export.export(module, fresh(), strict=False).module()
        g = _Graph(gm, list(fresh()))
    except Exception:
        return None
    changed = 0
    for node in list(gm.graph.nodes):
        found = _last_dim_max(node)
        if found is None:
            continue
        t, kk = found
        out = node
        if node.target is _A.max.dim:  # only the values may be used, not the indices
            users = list(node.users)
            values = [u for u in users if u.args[1] == 0]
            if len(values) != 1 or any(u.args[1] != 0 and u.users for u in users):
                continue
            out = values[0]
        sel = _Select(gm, g, out)
        try:
            if node.target is _A.select.int:  # one slice T[..., k] (a torch.maximum of slices): itself
                forms = [sel(t, node.args[2] % kk, kk)]
            else:
                forms = [sel(t, k, kk) for k in range(kk)]
        except _NotMatched:
            continue
        y = forms[0]
        for f in forms[1:]:
            y = sel.fn(_A.maximum.default, y, f)
        out.replace_all_uses_with(y)
        changed += 1
    if not changed:
        return None
    gm = checked_replacement(module, gm, args)
    return None if gm is None else (gm, changed)


def lift_module(module: nn.Module, args):
    """(module traced with its 5-D max-of-affine forms made 4-D, count) or None; never raises."""
    try:
        return _lift(module, args)
    except Exception:
        return None


class LiftDynamicActivation:
    """Pass: user DY-ReLU-style 5-D broadcast + max over K → K − 1 4-D maxima (module docstring)."""

    name = "lift_dynamic_activation"

    def __init__(self):
        self.details: dict = {}

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        from edgekit.rewrite.lift_channel_permutation import _edgekit_own, _find_sites

        try:
            sites, inputs, calls = _find_sites(model, ctx.input_shape, SITE_FNS)
        except Exception:
            sites = []
        names = {id(m): n for n, m in model.named_modules()}
        parents = {id(ch): (p, key) for p in model.modules() for key, ch in p.named_children()}
        done, lifted, left, changed = set(), [], [], 0
        for stack in sites:
            if any(_edgekit_own(m) for m in stack[1:]) or any(id(m) in done for m in stack):
                continue
            m = stack[-1]
            if m is model or id(m) not in parents or calls.get(id(m), 0) != 1:
                continue
            args = inputs.get(id(m), ())
            if not args or not all(isinstance(a, torch.Tensor) for a in args):
                continue
            result = lift_module(m, args)
            if result is None:
                msg = f"max over K affine forms at {names.get(id(m), '') or '<model>'}"
                if msg not in left:
                    left.append(msg)
                continue
            parent, key = parents[id(m)]
            setattr(parent, key, result[0])
            done.add(id(m))
            lifted.append(names.get(id(m), key))
            changed += result[1]
        self.details = {k: v for k, v in (("lifted", lifted), ("left", left)) if v}
        return changed
