"""Clip model → step model: the stream transform.

    step = build_step_model(model, (3, 16, 112, 112))
    outs_and_states = step(chunk, *step.zero_states())

The clip model is traced (torch.fx); every value gets a temporal rate r (video frames per frame of
it) and a lag L (frames behind the video, in its own frames). With S = frames_per_step = lcm of all
rates, a value of rate r carries m = S/r new frames per step. Per op:
- per-frame ops (element-wise, BatchNorm, activations, spatial-only convs and pools, per-time-step
  heads) run on the chunk as they are: same r, same L;
- a temporal conv/pool (kernel k, dilation d, stride s, left padding p) needs, for its newest output,
  input frames up to L + (k−1)d − p − s + 1 ahead, so L' = ⌈(L + (k−1)d − p − s + 1)/s⌉ ("same"
  padding: look-ahead becomes lag) and it keeps B = L'·s + p − L input frames as state — a dilated
  layer's d·(k−1), not k−1;
- a residual add (any op joining temporal values) delays every branch to the largest lag (a `Delay`
  state), so branches with different look-ahead line up automatically;
- a global temporal pool becomes a pool over the last `window` frames (`WindowPool`), after which
  values are per step (no time axis);
- the outputs are delayed to a whole number of steps: output time k comes out of step k + delay_steps.
Anything else touching the time axis raises EdgekitError naming the op and why.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.rewrite.stream.layers import from_seq, to_seq, Delay, StreamConv, StreamOp, StreamPool, ValidFrames, WindowPool

PER_FRAME_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.ReLU, nn.ReLU6, nn.Hardswish,
                     nn.Hardsigmoid, nn.Sigmoid, nn.SiLU, nn.GELU, nn.Tanh, nn.LeakyReLU, nn.Identity,
                     nn.Dropout, nn.Dropout3d, nn.Dropout1d, nn.ELU, nn.PReLU)
ELEMENTWISE = {operator.add, operator.mul, operator.sub, operator.truediv, torch.add, torch.mul, torch.sub,
               torch.div, torch.maximum, torch.minimum, "add", "mul", "sub", "div", "add_", "mul_"}
UNARY = {F.relu, torch.relu, torch.sigmoid, torch.tanh, F.hardswish, F.silu, F.gelu, F.relu6, F.hardsigmoid,
         torch.clamp, "relu", "sigmoid", "tanh", "clamp", "contiguous", "clone", "relu_"}


@dataclass
class Value:
    temporal: bool  # has a time axis (2 for (N, C, T, H, W) and (N, C, T))
    rate: int = 1
    lag: int = 0
    rank: int = 0
    stepwise: bool = False  # no time axis, but a new value every step (after a global temporal pool)


def _name(node) -> str:
    return f"{node.op}:{node.target if isinstance(node.target, str) else getattr(node.target, '__name__', node.target)}"


def _unsupported(node, why: str):
    raise EdgekitError(f"--stream: cannot stream {node.name} ({_op_label(node)}): {why}")


def _op_label(node) -> str:
    if node.op == "call_module":
        return type(node.graph.owning_module.get_submodule(node.target)).__name__
    t = node.target
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def _temporal_params(m: nn.Module) -> tuple[int, int, int, int]:
    """(kernel, stride, padding, dilation) along time of a Conv/Pool 1d or 3d."""
    def first(v):
        return v[0] if isinstance(v, (tuple, list)) else v
    dil = getattr(m, "dilation", 1)
    return first(m.kernel_size), first(m.stride if m.stride is not None else m.kernel_size), \
        first(m.padding), first(dil)


TEMPORAL_MODULES = (nn.Conv1d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool3d)
GLOBAL_POOLS = (nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)


def _spatial_part(m: nn.Module) -> nn.Module | None:
    """The per-frame (spatial) part of a 3-D pool, or None when it has none."""
    if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)):
        return None
    k, s, p = (tuple(v) if isinstance(v, (tuple, list)) else (v,) * 3
               for v in (m.kernel_size, m.stride if m.stride is not None else m.kernel_size, m.padding))
    if k[1:] == (1, 1) and s[1:] == (1, 1) and p[1:] == (0, 0):
        return None
    if isinstance(m, nn.MaxPool3d):
        d = m.dilation if isinstance(m.dilation, (tuple, list)) else (m.dilation,) * 3
        return nn.MaxPool3d((1, *k[1:]), (1, *s[1:]), (0, *p[1:]), (1, *d[1:]), ceil_mode=m.ceil_mode)
    return nn.AvgPool3d((1, *k[1:]), (1, *s[1:]), (0, *p[1:]), ceil_mode=m.ceil_mode,
                        count_include_pad=m.count_include_pad)


FRAMES_SAFE = {operator.add, operator.mul, operator.sub, operator.truediv, torch.add, torch.mul, torch.sub,
               torch.div, torch.maximum, torch.minimum, F.relu, torch.relu, torch.sigmoid, torch.tanh, F.hardswish,
               F.silu, F.gelu, F.relu6, F.hardsigmoid, "add", "mul", "sub", "div", "relu", "sigmoid", "tanh",
               "contiguous", "clone"}
SAME_ON_FRAMES = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.SiLU, nn.GELU, nn.Tanh,
                  nn.LeakyReLU, nn.Identity, nn.Dropout, nn.ELU)


def frames_module(m: nn.Module) -> nn.Module | None:
    """The module that computes per-frame module `m` (of a 5-D clip) on frames (m, C, H, W), or None."""
    from edgekit.rewrite.conv3d_frames import FramesConv3d

    if isinstance(m, SAME_ON_FRAMES):
        return m
    if isinstance(m, nn.BatchNorm3d) and m.track_running_stats:
        bn = nn.BatchNorm2d(m.num_features, m.eps, affine=m.affine)
        bn.load_state_dict(m.state_dict())
        return bn.eval()
    if isinstance(m, nn.Conv3d) and m.padding_mode == "zeros" and not isinstance(m.padding, str):
        f = FramesConv3d(m, "stacked")
        f.layout = "frames"
        return f
    if isinstance(m, (nn.MaxPool3d, nn.AvgPool3d)) and not m.ceil_mode:
        k, st, p = (tuple(v) if isinstance(v, (tuple, list)) else (v,) * 3
                    for v in (m.kernel_size, m.stride if m.stride is not None else m.kernel_size, m.padding))
        if isinstance(m, nn.MaxPool3d):
            d = m.dilation if isinstance(m.dilation, (tuple, list)) else (m.dilation,) * 3
            return nn.MaxPool2d(k[1:], st[1:], p[1:], d[1:])
        return nn.AvgPool2d(k[1:], st[1:], p[1:], count_include_pad=m.count_include_pad,
                            divisor_override=m.divisor_override)
    if isinstance(m, nn.AdaptiveAvgPool3d):
        osz = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * 3
        if osz[1] is not None and osz[2] is not None:
            return nn.AdaptiveAvgPool2d(tuple(osz[1:]))
    if isinstance(m, nn.AdaptiveMaxPool3d):
        osz = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * 3
        if osz[1] is not None and osz[2] is not None:
            return nn.AdaptiveMaxPool2d(tuple(osz[1:]))
    return None


FUNCTIONAL_POOLS = {F.adaptive_avg_pool3d: nn.AdaptiveAvgPool3d, F.adaptive_max_pool3d: nn.AdaptiveMaxPool3d,
                    F.adaptive_avg_pool1d: nn.AdaptiveAvgPool1d, F.adaptive_max_pool1d: nn.AdaptiveMaxPool1d}


def _module_of(gm, node) -> nn.Module:
    """The module a node calls; a functional adaptive pool as its module."""
    if node.op == "call_module":
        return gm.get_submodule(node.target)
    size = node.args[1] if len(node.args) > 1 else node.kwargs["output_size"]
    return FUNCTIONAL_POOLS[node.target](size)


class StepModel(nn.Module):
    """The step model: forward(chunk, *states) → (*outputs, *next_states), states in `state_names` order.

    Built by `build_step_model`; `stream_info()` is what the sidecar's `stream` entry records."""

    def __init__(self, gm, plan, ops, frames_per_step, delay_steps, input_name, output_names, window):
        super().__init__()
        self.gm = gm
        self.plan = plan  # node name → (action, detail)
        self.ops = nn.ModuleDict({k: v for k, v in ops.items() if isinstance(v, (StreamOp, WindowTap))})
        self.pre = nn.ModuleDict({k: v for k, v in ops.items() if not isinstance(v, (StreamOp, WindowTap))})
        self.frames_per_step = frames_per_step
        self.delay_steps = delay_steps
        self.input_name = input_name
        self.output_names = output_names
        self.window = window
        self.frames_mods = nn.ModuleDict()  # node name → the per-frame module run on frames
        self.frames_layout = False
        self.state_keys: list[str] = []  # op key per state, in state order
        self._state_shapes: list[tuple] = []

    # ----------------------------------------------------------------------------- running
    def forward(self, x, *states):
        probing = not states
        given = dict(zip(self.state_keys, states)) if not probing else {}
        new_states: dict[str, torch.Tensor] = {}
        env: dict[str, object] = {}
        frames: set[str] = set()  # values held as frames (m, C, H, W) instead of clip chunks (1, C, m, H, W)
        outputs = None

        def as_clip(name):
            return from_seq(env[name], 5) if name in frames else env[name]

        def as_frames(name):
            return env[name] if name in frames else to_seq(env[name])

        for node in self.gm.graph.nodes:
            action, detail = self.plan[node.name]
            if action == "input":
                env[node.name] = x
                if self.frames_layout and x.dim() == 5:
                    env[node.name] = to_seq(x)
                    frames.add(node.name)
                continue
            if action == "output":
                outputs = [self._run_op(k, as_clip(n.name), given, new_states, probing) if k else as_clip(n.name)
                           for n, k in detail]
                continue
            if action == "stream":
                pre, key = detail
                src = node.args[0].name
                v = as_frames(src) if self.ops[key].frames_io else as_clip(src)
                for p in pre:
                    v = self._run_op(p, v, given, new_states, probing) if p in self.ops else self.pre[p](v)
                env[node.name] = self._run_op(key, v, given, new_states, probing)
                if self.ops[key].frames_io and self.ops[key].kind != "window_pool":
                    frames.add(node.name)
                continue
            if node.name in self.frames_mods:  # a per-frame module, run on frames
                env[node.name] = self.frames_mods[node.name](as_frames(node.args[0].name))
                frames.add(node.name)
                continue
            in_frames = [a for a in node.all_input_nodes if a.name in frames]
            elementwise = in_frames and node.op != "call_module" and node.target in FRAMES_SAFE and \
                len(in_frames) == len(node.all_input_nodes)
            pick = (lambda n: env[n.name]) if elementwise else (lambda n: as_clip(n.name))
            args = torch.fx.node.map_arg(node.args, pick)
            kwargs = torch.fx.node.map_arg(node.kwargs, pick)
            if action == "align":  # delays on some temporal arguments, then the op per frame
                args = list(args)
                for pos, key in detail:
                    if self.ops[key].frames_io and not elementwise:  # the op runs on a clip chunk here
                        args[pos] = from_seq(self._run_op(key, to_seq(args[pos]), given, new_states, probing), 5)
                    else:
                        args[pos] = self._run_op(key, args[pos], given, new_states, probing)
                args = tuple(args)
            if action == "get_attr":
                env[node.name] = self._attr(node.target)
            elif node.op == "call_module":
                env[node.name] = self.gm.get_submodule(node.target)(*args, **kwargs)
            elif node.op == "call_method":
                env[node.name] = getattr(args[0], node.target)(*args[1:], **kwargs)
            else:
                env[node.name] = node.target(*args, **kwargs)
            if elementwise:
                frames.add(node.name)
        if probing:
            self.state_keys = ([k for k in self.ops if k in new_states])
            self._state_shapes = [tuple(new_states[k].shape) for k in self.state_keys]
        nxt = [new_states[k] for k in self.state_keys]
        return (*outputs, *nxt)

    def _attr(self, target):
        obj = self.gm
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj

    def _run_op(self, key, value, given, new_states, probing):
        op: StreamOp = self.ops[key]
        if isinstance(op, WindowTap):
            src = self.ops[op.source]
            w = src.last_window
            return src._out(w[op.start:op.start + op.m] if src.rank == 5 else w[:, :, op.start:op.start + op.m])
        valid = None
        if op.mask and f"{key}_valid" in self.ops:
            valid = self._run_op(f"{key}_valid", value, given, new_states, probing)
        state = op.zero_state(value) if probing else given.get(key)
        y, nxt = op(value, state, valid)
        if nxt is not None:
            new_states[key] = nxt
        return y

    # ----------------------------------------------------------------------------- state
    def probe(self, chunk: torch.Tensor):
        with torch.no_grad():
            self(chunk)

    def zero_states(self, dtype=torch.float32) -> list[torch.Tensor]:
        return [torch.zeros(s, dtype=dtype) for s in self._state_shapes]

    @property
    def state_names(self) -> list[str]:
        return [f"state_{i}_{_safe(k)}" for i, k in enumerate(self.state_keys)]

    def state_list(self) -> list[dict]:
        return [{"name": n, "shape": list(s), "dtype": "float32", "bytes": 4 * math.prod(s),
                 "op": k, "frames": (self.ops[k].state_frames if k in self.ops else 0)}
                for n, s, k in zip(self.state_names, self._state_shapes, self.state_keys)]


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in key)


def _lcm(values) -> int:
    out = 1
    for v in values:
        out = out * v // math.gcd(out, v)
    return out


def build_step_model(model: nn.Module, input_shape, window: int | None = None,
                     frames_layout: bool = True) -> StepModel:
    """The step model of `model` (a clip model over input (C, T, H, W) or a sequence model over (C, T)).

    `window`: frames of the video a global temporal pool averages over (default: the clip length T)."""
    import copy

    from torch.fx.passes.shape_prop import ShapeProp

    model = copy.deepcopy(model).eval()
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (2, 4):
        raise EdgekitError(f"--stream needs a video (C, T, H, W) or sequence (C, T) input; this model takes "
                           f"{shape}: it has no time axis")
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 - data-dependent Python cannot become a static step graph
        raise EdgekitError(f"--stream: the model could not be traced into a static graph "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise EdgekitError(f"--stream supports one video input; this model takes {len(placeholders)}")
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(torch.zeros((1, *shape)))
    except Exception as exc:  # noqa: BLE001 - the user's model rejects its own input shape
        raise EdgekitError(f"--stream: the model does not run on a (1, {', '.join(map(str, shape))}) input "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    clip_t = shape[1]
    window = window or clip_t

    def meta_shape(n):
        tm = n.meta.get("tensor_meta")
        return tuple(tm.shape) if tm is not None and hasattr(tm, "shape") else None

    # pass 1: rates (independent of frames_per_step)
    rates: dict[str, int] = {}
    for node in gm.graph.nodes:
        ins = [a for a in node.all_input_nodes if a.name in rates]
        r = max([rates[a.name] for a in ins], default=1)
        if node.op == "placeholder":
            rates[node.name] = 1
            continue
        if not ins:
            continue
        if node.op == "call_module" or node.target in FUNCTIONAL_POOLS:
            m = _module_of(gm, node)
            if isinstance(m, TEMPORAL_MODULES):
                r *= _temporal_params(m)[1]
            elif isinstance(m, GLOBAL_POOLS):
                continue  # time axis gone
        if node.op in ("call_method", "call_function") and _reduces_time(node):
            continue
        rates[node.name] = r
    S = _lcm(rates.values())

    values: dict[str, Value] = {}
    plan: dict[str, tuple] = {}
    ops: dict[str, StreamOp] = {}
    pools: list[tuple[str, WindowPool]] = []

    def temporal_args(node):
        return [a for a in node.all_input_nodes if values.get(a.name) is not None and values[a.name].temporal]

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            values[node.name] = Value(True, 1, 0, len(shape) + 1)
            plan[node.name] = ("input", None)
            continue
        if node.op == "get_attr":
            values[node.name] = Value(False)
            plan[node.name] = ("get_attr", None)
            continue
        if node.op == "output":
            continue
        targs = temporal_args(node)
        stepwise = any(values[a.name].stepwise for a in node.all_input_nodes if a.name in values)
        out_shape = meta_shape(node)
        if not targs:
            values[node.name] = Value(False, stepwise=stepwise)
            plan[node.name] = ("run", None)
            continue
        if stepwise:
            _unsupported(node, "it joins a per-step value (after a global temporal pool) with a temporal one")
        v0 = values[targs[0].name]
        rank = v0.rank
        if node.op == "call_module" or node.target in FUNCTIONAL_POOLS:
            m = _module_of(gm, node)
            if len(targs) != 1:
                _unsupported(node, "a module with several temporal inputs")
            if isinstance(m, TEMPORAL_MODULES):
                if rank not in (3, 5):
                    _unsupported(node, f"its input is {rank}-D; time must be axis 2 of (N, C, T) or (N, C, T, H, W)")
                k, s, p, d = _temporal_params(m)
                if isinstance(m, (nn.Conv1d, nn.Conv3d)):
                    if isinstance(m.padding, str):
                        _unsupported(node, f"padding={m.padding!r}: give the padding as numbers")
                    if m.padding_mode != "zeros":
                        _unsupported(node, f"padding_mode={m.padding_mode!r}: only zero padding has a causal "
                                           "start (the state starts at zero)")
                if isinstance(m, (nn.MaxPool1d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool3d)) and m.ceil_mode:
                    _unsupported(node, "ceil_mode=True pads the end depending on the clip length")
                if isinstance(m, (nn.AvgPool1d, nn.AvgPool3d)) and p and not m.count_include_pad:
                    _unsupported(node, "count_include_pad=False with temporal padding: the divisor depends on "
                                       "the frame's distance to the video's ends")
                if (k, s, p, d) == (1, 1, 0, 1):
                    values[node.name] = Value(True, v0.rate, v0.lag, len(out_shape))
                    plan[node.name] = ("run", None)
                    continue
                m_in = S // v0.rate
                L = v0.lag
                lag = max(0, -(-(L + (k - 1) * d - p - s + 1) // s), -(-(L - p) // s))
                B = lag * s + p - L
                is_max = isinstance(m, (nn.MaxPool1d, nn.MaxPool3d))
                mask = None
                if p > 0 and (L > 0 or is_max):
                    mask = "neg" if is_max else "zero"
                key = node.name
                pre = []
                if isinstance(m, (nn.Conv1d, nn.Conv3d)):
                    op = StreamConv(key, rank, m_in, L, B, m, mask)
                else:
                    spatial = _spatial_part(m)
                    if spatial is not None:
                        ops[f"{node.name}_spatial"] = spatial
                        pre.append(f"{node.name}_spatial")
                    op = StreamPool(key, rank, m_in, L, B, "max" if is_max else "avg", k, s, d, mask)
                ops[key] = op
                if mask:
                    ops[f"{key}_valid"] = ValidFrames(f"{key}_valid", m_in, L, B + m_in)
                plan[node.name] = ("stream", (pre, key))
                values[node.name] = Value(True, v0.rate * s, lag, len(out_shape))
                continue
            if isinstance(m, GLOBAL_POOLS):
                osz = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * (rank - 2)
                if osz[0] is None:
                    values[node.name] = Value(True, v0.rate, v0.lag, len(out_shape))
                    plan[node.name] = ("run", None)
                    continue
                if osz[0] != 1:
                    _unsupported(node, f"an adaptive pool to {osz[0]} time steps depends on the clip length")
                how = "max" if isinstance(m, (nn.AdaptiveMaxPool3d, nn.AdaptiveMaxPool1d)) else "avg"
                pre = []
                if rank == 5 and tuple(osz[1:]) != tuple(meta_shape(targs[0])[3:]):
                    ops[f"{node.name}_spatial"] = (nn.AdaptiveMaxPool3d if how == "max" else nn.AdaptiveAvgPool3d)(
                        (None, *osz[1:]))
                    pre.append(f"{node.name}_spatial")
                if window % v0.rate:
                    _unsupported(node, f"the window of {window} frames is not a multiple of the pool's input rate "
                                       f"{v0.rate} frames")
                wf = window // v0.rate
                m_in = S // v0.rate
                if wf < m_in:
                    _unsupported(node, f"the window ({window} frames) is shorter than one step ({S} frames)")
                op = WindowPool(node.name, rank, m_in, v0.lag, wf, how)
                ops[node.name] = op
                pools.append((node.name, op))
                plan[node.name] = ("stream", (pre, node.name))
                values[node.name] = Value(False, stepwise=True)
                continue
            if isinstance(m, PER_FRAME_MODULES):
                values[node.name] = Value(True, v0.rate, v0.lag, len(out_shape))
                plan[node.name] = ("run", None)
                continue
            if isinstance(m, nn.Linear) and rank - 1 != 2:
                values[node.name] = Value(True, v0.rate, v0.lag, len(out_shape))
                plan[node.name] = ("run", None)
                continue
            _unsupported(node, "this module is not one the stream transform knows to be per-frame or temporal")
        # call_function / call_method
        t = node.target
        if _reduces_time(node):
            _unsupported(node, "a reduction over the time axis; use an adaptive pool to stream it as a window")
        if t in ELEMENTWISE or (t is torch.cat and _cat_dim(node) not in (2, -rank + 2)):
            rs = {values[a.name].rate for a in targs}
            if len(rs) > 1:
                _unsupported(node, f"it joins temporal values at different rates {sorted(rs)} (frames per frame)")
            lag = max(values[a.name].lag for a in targs)
            detail = []
            flat_args = list(node.args)
            for pos, a in enumerate(flat_args):
                if isinstance(a, torch.fx.Node) and a in targs and values[a.name].lag < lag:
                    key = f"{node.name}_delay{pos}"
                    va = values[a.name]
                    shared = _window_holding(a, lag - va.lag, ops, plan)
                    if shared is not None:  # the frames are already in a temporal op's window: no state
                        ops[key] = WindowTap(key, shared, ops[shared].state_frames - (lag - va.lag), S // va.rate)
                    else:
                        ops[key] = Delay(key, va.rank, S // va.rate, va.lag, lag - va.lag)
                    detail.append((pos, key))
            if t is torch.cat and any(values[a.name].lag != lag for a in targs):
                _unsupported(node, "torch.cat of branches with different delays is not supported yet")
            plan[node.name] = ("align", detail) if detail else ("run", None)
            values[node.name] = Value(True, v0.rate, lag, len(out_shape) if out_shape else rank)
            continue
        if len(targs) == 1 and t in REDUCTIONS:  # over axes after time only (_reduces_time refused the rest)
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            dims = dims if isinstance(dims, (tuple, list)) else (dims,)
            if all(d > 2 for d in dims):
                values[node.name] = Value(True, v0.rate, v0.lag, len(out_shape))
                plan[node.name] = ("run", None)
                continue
        if len(targs) == 1 and t in UNARY:
            values[node.name] = Value(True, v0.rate, v0.lag, len(out_shape))
            plan[node.name] = ("run", None)
            continue
        if len(targs) == 1 and (t is torch.flatten or t == "flatten"):
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            in_shape = meta_shape(targs[0])
            start = start % rank
            end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
            end = end % rank
            if start > 2 or end < 2 or (start == 2 and all(s == 1 for s in in_shape[3:end + 1])):
                values[node.name] = Value(True, v0.rate, v0.lag, len(out_shape))
                plan[node.name] = ("run", None)
                continue
            _unsupported(node, f"flatten({start}, {end}) merges the time axis with other axes")
        _unsupported(node, "this operation is not one the stream transform knows to be per-frame")

    # outputs: every output delayed to a whole number of steps, the same for all
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    out_nodes = list(_flatten_nodes(out_node.args[0]))
    infos = []
    for n in out_nodes:
        v = values[n.name]
        if v.temporal:
            m_o = S // v.rate
            infos.append((n, m_o, v.lag, None))
        elif v.stepwise:
            pool = _pool_of(n, pools)
            infos.append((n, pool.m, pool.lag, pool))
        else:
            raise EdgekitError(f"--stream: output {n.name} does not depend on the video")
    delay_steps = max(-(-lag // m_o) for _, m_o, lag, _ in infos)
    detail = []
    for n, m_o, lag, pool in infos:
        extra = delay_steps * m_o - lag
        if pool is not None:
            if extra:
                pool_key = pool.name
                pre, key = plan[pool_key]
                dkey = f"{pool_key}_align"
                rank = pool.rank
                ops[dkey] = Delay(dkey, rank, pool.m, pool.lag, extra)
                plan[pool_key] = ("stream", (pre + [dkey], key))
                pool.lag += extra
            detail.append((n, None))
        elif extra:
            key = f"{n.name}_align"
            ops[key] = Delay(key, values[n.name].rank, m_o, lag, extra)
            detail.append((n, key))
        else:
            detail.append((n, None))
    plan[out_node.name] = ("output", detail)
    step = StepModel(gm, plan, ops, S, delay_steps, placeholders[0].name, [n.name for n in out_nodes], window)
    if frames_layout and len(shape) == 4:  # one conversion in, frames throughout, one out per output
        step.frames_layout = True
        for op in step.ops.values():
            if isinstance(op, StreamOp):
                op.frames_io = op.rank == 5
        for op in step.ops.values():
            if isinstance(op, WindowTap):
                op.frames_io = step.ops[op.source].frames_io
        for key in list(step.pre):
            fm = frames_module(step.pre[key])
            if fm is None:
                raise EdgekitError(f"--stream: internal: no frames form of {type(step.pre[key]).__name__}")
            step.pre[key] = fm
        for node in gm.graph.nodes:
            if plan[node.name][0] == "run" and node.op == "call_module" and values[node.name].temporal \
                    and values[node.name].rank == 5:
                fm = frames_module(gm.get_submodule(node.target))
                if fm is not None:
                    step.frames_mods[node.name] = fm
    step.eval()
    step.input_shape = (shape[0], S, *shape[2:])
    step.clip_shape = shape
    step.has_window_pool = bool(pools)
    step.output_kinds = ["temporal" if values[n.name].temporal else "per_step" for n in out_nodes]
    step.output_frames_per_step = [S // values[n.name].rate if values[n.name].temporal else 1 for n in out_nodes]
    step.probe(torch.zeros((1, *step.input_shape)))
    return step


class WindowTap(nn.Module):
    """A delayed branch read out of the window of a temporal op on the same value (a residual's
    identity next to its "same"-padded conv): frames [start, start + m) of that window are the value
    `state_frames − start` frames late — the delay, with no state of its own."""

    kind = "tap"
    state_frames = 0
    mask = None
    frames_io = False

    def __init__(self, name: str, source: str, start: int, m: int):
        super().__init__()
        self.name, self.source, self.start, self.m = name, source, start, m


def _window_holding(node, delay: int, ops, plan) -> str | None:
    """The key of a StreamConv/StreamPool whose input is `node` (no spatial pre-step) and whose window
    holds `delay` frames of history, or None."""
    for user in node.users:
        entry = plan.get(user.name)
        if entry and entry[0] == "stream":
            pre, key = entry[1]
            op = ops.get(key)
            if not pre and isinstance(op, (StreamConv, StreamPool)) and user.args[0] is node and \
                    op.state_frames >= delay:
                return key
    return None


def _pool_of(node, pools):
    """The WindowPool a per-step output comes from (one global pool per model)."""
    seen, stack = set(), [node]
    names = dict(pools)
    while stack:
        n = stack.pop()
        if n.name in names:
            return names[n.name]
        if n.name in seen:
            continue
        seen.add(n.name)
        stack.extend(n.all_input_nodes)
    raise EdgekitError(f"--stream: output {node.name} has no time axis and no global temporal pool")


def _flatten_nodes(a):
    if isinstance(a, torch.fx.Node):
        yield a
    elif isinstance(a, (tuple, list)):
        for x in a:
            yield from _flatten_nodes(x)
    elif isinstance(a, dict):
        for x in a.values():
            yield from _flatten_nodes(x)


def _cat_dim(node) -> int:
    return node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)


REDUCTIONS = ("mean", "sum", "amax", torch.mean, torch.sum, torch.amax)


def _reduces_time(node) -> bool:
    if node.target not in REDUCTIONS:
        return False
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    if dims is None:
        return True
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    return any(d == 2 or d < 0 for d in dims)  # a negative dim may be time: refused rather than guessed


def step_madds(step: StepModel) -> int:
    """Conv + linear multiply-adds of one step (the convention of analysis/flops.py): the stream ops'
    own count plus every per-frame conv and linear the step runs."""
    counted = []

    def hook(m, inputs, out):
        k = 1
        if isinstance(m, nn.Linear):
            counted.append(out[0].numel() * m.in_features)
            return
        if hasattr(m, "count_madds"):
            counted.append(m.count_madds(inputs, out)["conv"])
            return
        for v in m.kernel_size:
            k *= v
        counted.append(out[0].numel() * (m.in_channels // m.groups) * k)

    hooks = [m.register_forward_hook(hook) for m in step.modules()
             if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) or hasattr(m, "count_madds")]
    try:
        dtype = next((p.dtype for p in step.parameters() if p.is_floating_point()), torch.float32)
        with torch.no_grad():
            step(torch.zeros((1, *step.input_shape), dtype=dtype), *step.zero_states(dtype))
    finally:
        for h in hooks:
            h.remove()
    return sum(counted)  # WindowConv (a stream conv's kernel) reports itself through its hook too


def stream_info(step: StepModel, clip_madds: int | None = None) -> dict:
    """The sidecar's `stream` entry."""
    states = step.state_list()
    per_step = step_madds(step)
    info = {"frames_per_step": step.frames_per_step, "delay_steps": step.delay_steps,
            "input": {"name": step.input_name, "shape": [1, *step.input_shape]},
            "outputs": [{"name": n, "kind": k, "frames_per_step": f}
                        for n, k, f in zip(step.output_names, step.output_kinds, step.output_frames_per_step)],
            "states": [{k: s[k] for k in ("name", "shape", "dtype", "bytes")} for s in states],
            "state_bytes": sum(s["bytes"] for s in states),
            "madds_per_step": per_step, "clip_shape": list(step.clip_shape)}
    if step.has_window_pool:
        info["window_frames"] = step.window
        info["window_steps"] = step.window // step.frames_per_step
    if clip_madds:
        info["clip_madds"] = int(clip_madds)
        info["step_over_clip_madds"] = round(per_step / clip_madds, 4)
    return info
