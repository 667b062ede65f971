"""Channel permutations the user wrote themselves, recognised by what they compute (name `lift_channel_permutation`).

Matched: a run of pure data-movement ops from one 4-D tensor A to a tensor B of A's shape that moves
whole channels: a gather with a constant index (`x[:, idx]` with an index buffer, `index_select`,
`gather`), `torch.roll` along channels, `cat` of channel slices, a 4-D/5-D channel shuffle
(`view`/`reshape` + `transpose`/`permute` + `view`), or any chain of these.
How: one batch-1 forward records the modules running when such an op is called (edgekit's own modules
are skipped: they have their passes); the innermost such module (called once, tensor inputs) is traced
with torch.export (strict=False, batch 1). In its ATen graph every region of movement ops (MOVE) whose
only input-dependent source is A is evaluated on a probe A[0, c, h, w] = (c·H + h)·W + w (exact
integers in float64/float32): B is a channel permutation iff B[0, i] == A[0, perm[i]] for one
permutation perm — that is the proof of the match.
Replaced: B by `PermuteChannels(perm)(A)` (slices, a 4-D grid transpose or a 1×1 permutation conv;
never a gather, never 5-D); when B's only consumer is a dense static 2-D conv, the permutation is
absorbed into its input columns instead (W' = W[:, inverse(perm)]): no op left at all. The traced
module must then compute what the original did on its recorded input (1e-9 × scale in float64), or
it is left as it was; the pipeline's `check_exact` proves the whole model after the pass.
Applies: every target. A module that cannot be traced or is called more than once is left exactly as
it was and, when its site is a gather with a tensor index (what stays a GATHER op), listed in
`details["left"]` with "channel gather at <path>".
"""

from __future__ import annotations

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.verify import checked_replacement
from edgekit.rewrite.permute_channels import PermuteChannels, inverse

_A = torch.ops.aten
# ATen ops that only move or copy elements (the index operand of the gathers must be a constant)
MOVE = {_A.view.default, _A.reshape.default, _A._unsafe_view.default, _A.permute.default, _A.transpose.int,
        _A.index.Tensor, _A.index_select.default, _A.gather.default, _A.roll.default, _A.cat.default,
        _A.slice.Tensor, _A.clone.default, _A.contiguous.default, _A.alias.default, _A.unsqueeze.default,
        _A.squeeze.dim, _A.squeeze.dims, _A.flatten.using_ints, _A.unflatten.int, _A.t.default,
        _A.expand.default, _A.select.int, _A.stack.default, _A.split.Tensor, _A.split_with_sizes.default,
        _A.chunk.default, _A.narrow.default, _A.movedim.int, _A.swapaxes.default, _A.flip.default,
        _A.channel_shuffle.default, _A.native_channel_shuffle.default, _A.pixel_shuffle.default}
# the user-level calls that gather (stay GATHER / GATHER_ND ops when no static form is found)
GATHER_FNS = {torch.index_select, torch.gather, torch.Tensor.__getitem__, torch.Tensor.index_select, torch.Tensor.gather}
# the user-level calls that may move channels: where to look for sites
SITE_FNS = {torch.roll, torch.index_select, torch.gather, torch.cat, torch.Tensor.__getitem__, torch.Tensor.index_select,
            torch.Tensor.gather, torch.Tensor.roll, torch.transpose, torch.Tensor.transpose, torch.permute,
            torch.Tensor.permute, torch.channel_shuffle, nn.functional.channel_shuffle}


def _edgekit_own(m: nn.Module) -> bool:
    return type(m).__module__.startswith("edgekit.")


class _Sites(TorchFunctionMode):
    """Module stacks at each call that may move channels (a tensor index for getitem)."""

    def __init__(self, stack: list, fns=None):
        super().__init__()
        self.stack, self.sites, self.fns = stack, [], SITE_FNS if fns is None else fns
        self.gathers: set[int] = set()  # ids of the innermost modules that call a gather with a tensor index

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.fns and self.stack:
            if func is not torch.Tensor.__getitem__ or _tensor_index(args[1] if len(args) > 1 else None):
                self.sites.append(list(self.stack))
                if func in GATHER_FNS:  # a gather left as it is stays a GATHER op: worth a line in the report
                    self.gathers.add(id(self.stack[-1]))
        return func(*args, **kwargs)


def _tensor_index(idx) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    return any(isinstance(i, torch.Tensor) and i.dim() > 0 for i in items)


def _find_sites(model: nn.Module, input_shape, fns=None, gathers: set | None = None):
    """(module stacks at each site call, outermost first; id → first input args; id → calls). `gathers`, when
    given, receives the ids of the innermost modules whose site is a gather with a tensor index."""
    from edgekit.models.examples import example_inputs

    stack, inputs, calls = [], {}, {}

    def pre(m, args):
        stack.append(m)
        calls[id(m)] = calls.get(id(m), 0) + 1
        inputs.setdefault(id(m), tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args))

    def post(m, args, out):
        stack.pop()

    hooks = [h for m in model.modules() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    p = next((t for t in model.parameters() if t.is_floating_point()), None)
    mode = _Sites(stack, fns)
    try:
        with torch.no_grad(), mode:
            model.eval()(*example_inputs(input_shape, dtype=p.dtype if p is not None else torch.float32))
    finally:
        for h in hooks:
            h.remove()
    if gathers is not None:
        gathers |= mode.gathers
    return mode.sites, inputs, calls


def _region(g, b):
    """(source, region nodes) when every input-dependent path into b runs through MOVE ops from one source."""
    sources, region, todo = set(), set(), [b]
    while todo:
        n = todo.pop()
        if n in region:
            continue
        if n.op != "call_function" or n.target not in MOVE or n in g.inputs:
            sources.add(n)
            continue
        region.add(n)
        todo.extend(a for a in n.all_input_nodes if a in g.dynamic)
    return (next(iter(sources)), region) if len(sources) == 1 else (None, region)


def channel_perm(g, a, b) -> torch.Tensor | None:
    """perm with b == a[:, perm] for every a, proven on the id probe; None if b is not a channel permutation."""
    va, vb = g.env[a], g.env[b]
    if not isinstance(va, torch.Tensor) or not isinstance(vb, torch.Tensor) or va.dim() != 4 or \
            va.shape[0] != 1 or vb.shape != va.shape or not va.is_floating_point():
        return None
    _, c, h, w = va.shape
    if c * h * w >= 2 ** 24 and va.dtype != torch.float64:
        return None  # the probe's ids would not be exact
    probe = torch.arange(c * h * w, dtype=va.dtype).reshape(va.shape)
    try:
        (out,) = g.evaluate(a, probe, [b])
    except Exception:
        return None
    hw = h * w
    perm = (out[0, :, 0, 0] / hw).round().long()
    if perm.min() < 0 or perm.max() >= c or not torch.equal(perm.sort().values, torch.arange(c)):
        return None
    expect = probe.reshape(c, hw)[perm].reshape(vb.shape)
    return perm if torch.equal(out, expect) else None


def _absorb(gm, g, b, perm, name) -> bool:
    """Fold the permutation into b's only consumer when it is a dense static conv2d: W' = W[:, inv]."""
    users = list(b.users)
    if len(users) != 1 or users[0].target not in (_A.conv2d.default, _A.convolution.default):
        return False
    conv = users[0]
    if conv.args[0] is not b or len(conv.args) < 2 or not isinstance(conv.args[1], torch.fx.Node):
        return False
    groups = conv.args[8] if conv.target is _A.convolution.default else (conv.args[6] if len(conv.args) > 6 else 1)
    if conv.target is _A.convolution.default and conv.args[6]:
        return False  # transposed
    wn = conv.args[1]
    if groups != 1 or wn.op != "get_attr" or wn in g.dynamic or len(wn.users) != 1:
        return False
    w = g.env[wn]
    gm.register_buffer(name, w[:, inverse(perm)].clone())
    with gm.graph.inserting_before(conv):
        new_w = gm.graph.get_attr(name)
    conv.replace_input_with(wn, new_w)
    return True


def lift_module(module: nn.Module, args, found: list | None = None):
    """(module traced with its channel permutations made static, count) or None; never raises. `found`, when
    given, receives the regions found to move whole channels (none: the module moves no whole channels, e.g.
    a layout permute around arithmetic, and there is nothing to report when it is left)."""
    try:
        return _lift(module, args, channel_perm, found)
    except Exception:
        return None


def _lift(module, args, find_perm, found: list | None = None):
    from edgekit.rewrite.lift_dynamic_conv import _Graph

    def fresh():
        return tuple(a.clone() for a in args)

    try:
        gm = torch.export.export(module, fresh(), strict=False).module()
        g = _Graph(gm, list(fresh()))
    except Exception:
        return None
    changed, done = 0, set()
    for b in reversed(list(gm.graph.nodes)):  # the last node of a region first: the whole region in one
        if b in done or b.op != "call_function" or b.target not in MOVE or b not in g.dynamic:
            continue
        a, region = _region(g, b)
        if a is None or not any(n.target not in (_A.clone.default, _A.contiguous.default, _A.alias.default)
                                for n in region):
            continue
        perm = find_perm(g, a, b)
        if perm is None:
            continue
        if found is not None:  # a channel permutation: if the module's check then rejects it, it is worth a line
            found.append(b.name)
        done |= region
        if torch.equal(perm, torch.arange(len(perm))):
            b.replace_all_uses_with(a)
        elif not _absorb(gm, g, b, perm, f"absorbed_weight{changed}"):
            name = f"lifted_perm{changed}"
            gm.add_submodule(name, PermuteChannels(perm))
            with gm.graph.inserting_before(b):
                new = gm.graph.call_module(name, (a,))
            b.replace_all_uses_with(new)
        else:
            b.replace_all_uses_with(a)  # the consumer reads A with permuted weight columns
        changed += 1
    if not changed:
        return None
    gm = checked_replacement(module, gm, args)
    return None if gm is None else (gm, changed)


class LiftChannelPermutation:
    """Pass: user-written channel gathers / rolls / slice-cats / shuffles → static permutations (module docstring)."""

    name = "lift_channel_permutation"

    def __init__(self):
        self.details: dict = {}

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        gathers: set[int] = set()
        try:
            sites, inputs, calls = _find_sites(model, ctx.input_shape, gathers=gathers)
        except Exception:  # the model's own forward fails here too: later passes say so
            sites = []
        names = {id(m): n for n, m in model.named_modules()}
        parents = {id(ch): (p, key) for p in model.modules() for key, ch in p.named_children()}
        done, lifted, left, changed = set(), [], [], 0
        for stack in sites:
            if any(_edgekit_own(m) for m in stack[1:]) or any(id(m) in done for m in stack):
                continue
            result, tried, found = None, False, []
            for m in reversed(stack):  # innermost first
                if m is model or id(m) not in parents or calls.get(id(m), 0) != 1:
                    break
                args = inputs.get(id(m), ())
                if not args or not all(isinstance(a, torch.Tensor) for a in args):
                    break
                tried = True
                result = lift_module(m, args, found)
                if result is not None:
                    m, result = self._widen(model, m, result, stack, parents, calls, inputs)
                    parent, key = parents[id(m)]
                    setattr(parent, key, result[0])
                    done.add(id(m))
                    lifted.append(names.get(id(m), key))
                    changed += result[1]
                    break
            # worth a line: a gather (stays a GATHER op) or a channel movement with no exact static form; not a
            # permute that moves no whole channels (a layout change around arithmetic, as public DY-ReLU's
            # permute to H, W, B, C), which converts to ordinary delegated ops
            if result is None and tried and (found or id(stack[-1]) in gathers):
                where = names.get(id(stack[-1]), "") or "<model>"
                msg = f"channel gather at {where}"
                if msg not in left:
                    left.append(msg)
        self.details = {k: v for k, v in (("lifted", lifted), ("left", left)) if v}
        return changed

    @staticmethod
    def _widen(model, m, result, stack, parents, calls, inputs):
        """The enclosing module instead, when tracing it lets a permutation left as an op be absorbed
        into the consumer conv (the consumer is usually outside the small module doing the shuffle)."""
        def left(gm):
            return sum(isinstance(x, PermuteChannels) for x in gm.modules())

        i = next(j for j, s in enumerate(stack) if s is m)
        if not left(result[0]) or i == 0:
            return m, result
        outer = stack[i - 1]
        args = inputs.get(id(outer), ())
        if outer is model or id(outer) not in parents or calls.get(id(outer), 0) != 1 or _edgekit_own(outer) \
                or not args or not all(isinstance(a, torch.Tensor) for a in args):
            return m, result
        wide = lift_module(outer, args)
        if wide is None or left(wide[0]) >= left(result[0]):
            return m, result
        return outer, wide
