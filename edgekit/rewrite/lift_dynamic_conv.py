"""Dynamic convolutions the user wrote themselves, recognised by what they compute (name `lift_dynamic_conv`).

Matched: a convolution (1-, 2-, 3-D, any groups / stride / padding / dilation) whose weight — and bias —
is a linear (or affine) function of a small input-dependent tensor c (K ≤ MAX_K numbers at batch 1),
however it is written: `mm` / `matmul` / `einsum` / `(c[..., None] * W).sum(1)` of a parameter bank,
a per-sample loop (one iteration at batch 1), the batch folded into the groups (groups = g at batch 1).
How: one batch-1 forward finds the convolutions whose weight is not a parameter or buffer and the
modules running when they are called; the innermost such module whose input the weight depends on
is traced with torch.export (strict=False, batch 1: loops unroll, folded groups become g). In its ATen
graph, c is the last node every input→weight (and →bias) path goes through; the weight subgraph is
evaluated at c = 0 and c = e_k, giving a base kernel W_0 and K kernels W_k, and W(c) = W_0 + Σ c_k W_k
is checked on random c (and on the real c) in the model's dtype (float64 under the pipeline).
Replaced: the traced module, with that conv swapped for `StaticBranches`: K (+1 when W_0 ≠ 0) static
nn.ConvNd, each output × c_k (c reshaped to (1, K, 1, …), sliced), summed — the coefficient comes from
the user's own attention subgraph, as traced. Everything else in the module is kept as traced.
Applies: every target; edgekit's own DynamicConv2d (and anything inside it) is skipped — it has its
tuned forms (`dyconv_forms`). A module that cannot be traced, called more than once, or whose weight
is not linear in any small cut is left exactly as it was, and listed in `details["left"]` with
"conv weight computed from the input at <path>".
"""

from __future__ import annotations

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.verify import checked_replacement

MAX_K = 32  # K of published DY-Conv / CondConv is 4–16; a larger cut is a feature map or a kernel, not an attention
CONV_FNS = {torch.conv1d, torch.conv2d, torch.conv3d, nn.functional.conv1d, nn.functional.conv2d,
            nn.functional.conv3d, torch.convolution}


class StaticBranches(nn.Module):
    """y = conv_0(x) + Σ_k c_k · conv_k(x): K static convs mixed by the coefficient tensor c (numel K)."""

    def __init__(self, convs: list[nn.Module], k: int, base: nn.Module | None, dims: int):
        super().__init__()
        self.branches = nn.ModuleList(convs)
        self.base = base
        self.k, self.dims = k, dims

    def forward(self, x, c):
        # one slice per coefficient, not split: ExecuTorch's XNNPACK partitioner leaves split_with_sizes on
        # default kernels (5 partitions on the CondConv EfficientNet, 1 with slices); LiteRT delegates both
        pi = c.reshape(1, self.k, *([1] * self.dims))
        y = self.base(x) if self.base is not None else None
        for k, conv in enumerate(self.branches):
            t = conv(x) * pi[:, k:k + 1]
            y = t if y is None else y + t
        return y


class _Sites(TorchFunctionMode):
    """Records, per convolution with a computed weight, the stack of modules running at the call."""

    def __init__(self, static: set[int], stack: list):
        super().__init__()
        self.static, self.stack, self.sites = static, stack, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in CONV_FNS:
            w = args[1] if len(args) > 1 else kwargs.get("weight")
            if isinstance(w, torch.Tensor) and w.untyped_storage().data_ptr() not in self.static:
                self.sites.append(list(self.stack))
        return func(*args, **kwargs)


def _find_sites(model: nn.Module, input_shape):
    """(sites: module stacks, outermost first; inputs: id → first input args; calls: id → count)."""
    from edgekit.models.examples import example_inputs

    static = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    stack, inputs, calls = [], {}, {}

    def pre(m, args):
        stack.append(m)
        calls[id(m)] = calls.get(id(m), 0) + 1
        inputs.setdefault(id(m), args)

    def post(m, args, out):
        stack.pop()

    hooks = [h for m in model.modules() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    p = next((t for t in model.parameters() if t.is_floating_point()), None)
    mode = _Sites(static, stack)
    try:
        with torch.no_grad(), mode:
            model.eval()(*example_inputs(input_shape, dtype=p.dtype if p is not None else torch.float32))
    finally:
        for h in hooks:
            h.remove()
    return mode.sites, inputs, calls


def _conv_args(node):
    """(input, weight, bias, stride, padding, dilation, groups) of an ATen conv node, or None."""
    t = node.target
    a = list(node.args) + [None] * 9
    if t in (torch.ops.aten.conv1d.default, torch.ops.aten.conv2d.default, torch.ops.aten.conv3d.default):
        w = a[1]
        dims = len(w.meta["val"].shape) - 2
        one = [1] * dims
        return (a[0], w, a[2], a[3] if a[3] is not None else one, a[4] if a[4] is not None else [0] * dims,
                a[5] if a[5] is not None else one, a[6] if a[6] is not None else 1)
    if t is torch.ops.aten.convolution.default and not a[6]:  # not transposed
        return a[0], a[1], a[2], a[3], a[4], a[5], a[8]
    return None


def _expand(v, dims):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return tuple(v * dims if len(v) == 1 else v)


class _Graph:
    """Node values of one real run of an exported graph, and re-evaluation with one node overridden."""

    def __init__(self, gm: torch.fx.GraphModule, x):
        self.gm = gm
        self.nodes = list(gm.graph.nodes)
        self.order = {n: i for i, n in enumerate(self.nodes)}
        self.env = {}
        placeholders = [n for n in self.nodes if n.op == "placeholder"]
        self.inputs = set(placeholders)
        flat = list(x)
        for n in self.nodes:
            if n.op == "placeholder":
                self.env[n] = flat.pop(0)
            elif n.op == "get_attr":
                obj = gm
                for part in n.target.split("."):
                    obj = getattr(obj, part)
                self.env[n] = obj
            elif n.op == "call_function":
                self.env[n] = self._call(n, self.env)
            elif n.op == "call_module":
                self.env[n] = self._call(n, self.env)
        self.dynamic = self._reach(self.inputs)

    def _call(self, n, env):
        args = torch.fx.node.map_arg(n.args, lambda a: env[a])
        kwargs = torch.fx.node.map_arg(n.kwargs, lambda a: env[a])
        fn = self.gm.get_submodule(n.target) if n.op == "call_module" else n.target
        return fn(*args, **kwargs)

    def _reach(self, sources, blocked=None):
        out = set(sources)
        for n in self.nodes:
            if n in out or n is blocked:
                continue
            if any(a in out for a in n.all_input_nodes):
                out.add(n)
        return out

    def ancestors(self, targets):
        seen, todo = set(), [t for t in targets if t is not None]
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(n.all_input_nodes)
        return seen

    def evaluate(self, cut, value, targets):
        """targets' values with the node `cut` set to `value` (only its descendants recomputed)."""
        anc = self.ancestors(targets)
        below = self._reach({cut}) & anc
        local = dict(self.env)
        local[cut] = value
        for n in sorted(below - {cut}, key=self.order.get):
            local[n] = self._call(n, local)
        return [local[t] if t is not None else None for t in targets]


def _linear_bank(g: _Graph, w, b):
    """(cut node, base (W_0, b_0), [(W_k, b_k)]) when w (and b) are affine in a small dominating node."""
    targets = [w, b if b in g.dynamic else None] if isinstance(b, torch.fx.Node) else [w, None]
    anc = g.ancestors(targets) & g.dynamic
    for c in sorted(anc, key=g.order.get, reverse=True):
        val = g.env.get(c)
        if not isinstance(val, torch.Tensor) or not val.is_floating_point() or val.numel() > MAX_K or c in g.inputs:
            continue
        still = g._reach(g.inputs, blocked=c)  # input → target paths avoiding c: c does not dominate
        if any(t in still for t in targets if t is not None):
            continue
        k = val.numel()
        try:
            def at(v):
                return g.evaluate(c, v.reshape(val.shape), targets)

            zero = at(torch.zeros(k, dtype=val.dtype))
            bank = []
            for i in range(k):
                e = torch.zeros(k, dtype=val.dtype)
                e[i] = 1
                wk, bk = at(e)
                bank.append((wk - zero[0], None if bk is None else bk - zero[1]))
            gen = torch.Generator().manual_seed(0)
            tol = 1e-9 if val.dtype == torch.float64 else 1e-4
            for coeff in (torch.randn(k, generator=gen, dtype=val.dtype), val.reshape(-1)):
                got = at(coeff)
                for j, ref in enumerate(got):
                    if ref is None:
                        continue
                    pred = zero[j] + sum(coeff[i] * bank[i][j] for i in range(k))
                    if (pred - ref).abs().max() > tol * max(1.0, float(ref.abs().max())):
                        raise ValueError("not linear")
        except Exception:  # not affine in c (or c cannot be set alone): try an earlier node
            continue
        return c, zero, bank
    return None


def _static_conv(weight, bias, stride, padding, dilation, groups, in_ch):
    dims = weight.dim() - 2
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
    conv = cls(in_ch, weight.shape[0], tuple(weight.shape[2:]), _expand(stride, dims), _expand(padding, dims),
               _expand(dilation, dims), int(groups), bias=bias is not None).to(weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias.reshape(-1))
    return conv


def lift_module(module: nn.Module, args) -> tuple[nn.Module, int] | None:
    """module traced at `args` with its dynamic convs made static: (replacement, convs lifted), or None.
    Never raises: whatever it cannot trace, evaluate or rebuild is left to export as it is."""
    try:
        return _lift(module, args)
    except Exception:  # the module is untouched (all edits are on the traced copy)
        return None


def _lift(module: nn.Module, args):
    args = tuple(a.clone() for a in args)  # recorded by a hook: later in-place ops may share its storage

    def fresh():
        return tuple(a.clone() for a in args)

    try:
        ep = torch.export.export(module, fresh(), strict=False)
        gm = ep.module()
        g = _Graph(gm, list(fresh()))
    except Exception:  # untraceable (data-dependent control flow, ...): left as it is
        return None
    changed = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        conv = _conv_args(node)
        if conv is None:
            continue
        x, w, b, stride, padding, dilation, groups = conv
        if not isinstance(w, torch.fx.Node) or w not in g.dynamic:
            continue
        found = _linear_bank(g, w, b)
        if found is None:
            continue
        c, (w0, b0), bank = found
        in_ch = g.env[x].shape[1]
        static_b = g.env[b] if isinstance(b, torch.fx.Node) and b not in g.dynamic else None
        convs = [_static_conv(wk, bk, stride, padding, dilation, groups, in_ch) for wk, bk in bank]
        base = None
        if float(w0.abs().max()) > 0 or (b0 is not None and float(b0.abs().max()) > 0) or static_b is not None:
            bias0 = static_b if b0 is None else (b0 if static_b is None else b0 + static_b)
            base = _static_conv(w0, bias0, stride, padding, dilation, groups, in_ch)
        name = f"lifted_conv{changed}"
        gm.add_submodule(name, StaticBranches(convs, len(bank), base, w0.dim() - 2))
        with gm.graph.inserting_before(node):
            new = gm.graph.call_module(name, (x, c))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        changed += 1
    if not changed:
        return None
    # only what the graph uses is kept: the K-kernel bank is gone, its kernels are in the static convs
    gm = checked_replacement(module, gm, args)
    return None if gm is None else (gm, changed)


class LiftUserDynamicConv:
    """Pass: user-written dynamic convs → traced module with K static convs (see the module docstring)."""

    name = "lift_dynamic_conv"

    def __init__(self):
        self.details: dict = {}

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        from edgekit.models.dyconv import DynamicConv2d

        try:
            sites, inputs, calls = _find_sites(model, ctx.input_shape)
        except Exception:  # the model's own forward fails here too: the passes after this one will say so
            sites = []
        if not sites:
            self.details = {}
            return 0
        names = {id(m): n for n, m in model.named_modules()}
        parents = {id(ch): (p, key) for p in model.modules() for key, ch in p.named_children()}
        done, lifted, left, changed = set(), [], [], 0
        for stack in sites:
            if any(isinstance(m, DynamicConv2d) for m in stack):
                continue  # edgekit's own: its tuned forms come next
            if any(id(m) in done for m in stack):
                continue
            result = None
            for m in reversed(stack):  # innermost first: the smallest module holding weight and coefficients
                if m is model or id(m) not in parents or calls.get(id(m), 0) != 1:
                    break
                args = inputs.get(id(m), ())
                if not args or not all(isinstance(a, torch.Tensor) for a in args):
                    break
                result = lift_module(m, args)
                if result is not None:
                    parent, key = parents[id(m)]
                    setattr(parent, key, result[0])
                    done.add(id(m))
                    lifted.append(names.get(id(m), key))
                    changed += result[1]
                    break
            if result is None:
                where = names.get(id(stack[-1]), "") if stack else ""
                left.append(f"conv weight computed from the input at {where or '<model>'}")
        self.details = {k: v for k, v in (("lifted", lifted), ("left", left)) if v}
        return changed
