"""The stream transform's proof: stepping over a whole video equals the clip model on the whole video.

`check_stream_exact(model, step, frames=48)` runs float64 copies of both on the same random video:
the step model chunk by chunk from zero states, the clip model once on all frames. Output time k
comes out of step k + delay_steps; it must equal the clip output at time k for every k the video
determines (the clip model's right-edge padding frames have no streamed counterpart yet), to within
`EXACT_TOL` of the output's scale. For a model ending in a global temporal pool the reference is that
pool applied to the whole-video features over each window (and `window_vs_separate` measures how
that differs from running the clip model on each window on its own, where every window starts from
zero padding).
"""

from __future__ import annotations

import copy

import torch

from edgekit.errors import EdgekitError
from edgekit.rewrite.verify import EXACT_TOL


class StreamNotExact(EdgekitError):
    """The step model does not reproduce the clip model: a bug in the transform (or an injected one)."""


def run_stream(step, video: torch.Tensor) -> list[torch.Tensor]:
    """Step over `video` (1, C, T, ...) from zero states: one tensor per output, the steps concatenated
    along time (temporal outputs) or stacked on a new axis 1 (per-step outputs after a global pool)."""
    s = step.frames_per_step
    n_steps = video.shape[2] // s
    if n_steps < 1:
        raise EdgekitError(f"the video has {video.shape[2]} frames, fewer than one step ({s} frames)")
    dtype = video.dtype
    states = step.zero_states(dtype)
    n_out = len(step.output_names)
    per_output: list[list[torch.Tensor]] = [[] for _ in range(n_out)]
    with torch.no_grad():
        for i in range(n_steps):
            res = step(video[:, :, i * s:(i + 1) * s], *states)
            for j in range(n_out):
                per_output[j].append(res[j])
            states = list(res[n_out:])
    return [torch.cat(o, 2) if _temporal(step, j) else torch.stack(o, 1) for j, o in enumerate(per_output)]


def _temporal(step, j: int) -> bool:
    return not step.has_window_pool or step.output_kinds[j] == "temporal"


def clip_outputs(model, video: torch.Tensor) -> list[torch.Tensor]:
    from edgekit.models.examples import flatten_outputs

    with torch.no_grad():
        return list(flatten_outputs(model(video)))


def windowed_reference(step, video: torch.Tensor) -> list[torch.Tensor]:
    """Per-step outputs of a model with a global temporal pool, from the whole video: the pool over the
    window ending at video frame (k+1)·S − 1, applied to the whole-video features, for every k."""
    gm = step.gm
    pool_name = next(k for k, v in step.ops.items() if v.kind == "window_pool")
    pool_node = next(n for n in gm.graph.nodes if n.name == pool_name)
    downstream = {pool_node.name}
    for n in gm.graph.nodes:
        if any(a.name in downstream for a in n.all_input_nodes):
            downstream.add(n.name)
    env = _interpret(gm, {}, video, skip=downstream)
    feat = env[pool_node.args[0].name]
    op = step.ops[pool_name]
    m, wf = op.m, op.window_frames
    n_steps = video.shape[2] // step.frames_per_step
    outs = []
    for k in range(n_steps):
        end = (k + 1) * m
        if end - wf < 0 or end > feat.shape[2]:
            outs.append(None)
            continue
        pooled = gm.get_submodule(pool_node.target)(feat[:, :, end - wf:end])
        e = _interpret(gm, dict(env) | {pool_node.name: pooled}, video, skip=set(), only=downstream - {pool_node.name})
        outs.append([e[n] for n in step.output_names])
    return outs


def _interpret(gm, env, video, skip, only=None):
    env = dict(env)
    with torch.no_grad():
        for node in gm.graph.nodes:
            if node.op == "output" or node.name in skip or (only is not None and node.name not in only):
                if node.op == "placeholder" and node.name not in env:
                    env[node.name] = video
                continue
            args = torch.fx.node.map_arg(node.args, lambda n: env[n.name])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n.name])
            if node.op == "placeholder":
                env[node.name] = video
            elif node.op == "get_attr":
                obj = gm
                for part in node.target.split("."):
                    obj = getattr(obj, part)
                env[node.name] = obj
            elif node.op == "call_module":
                env[node.name] = gm.get_submodule(node.target)(*args, **kwargs)
            elif node.op == "call_method":
                env[node.name] = getattr(args[0], node.target)(*args[1:], **kwargs)
            else:
                env[node.name] = node.target(*args, **kwargs)
    return env


def compare(step, model, video: torch.Tensor, streamed=None) -> dict:
    """{output name: (max |streamed − clip| / clip scale, compared positions)} on this video.
    `streamed`: the outputs of a run elsewhere (a runtime), as `run_stream` returns them (warm-up
    steps included); default: run `step` here."""
    return {n: (float(e.max()) if len(e) else 0.0, len(e)) for n, e in position_errors(step, model, video, streamed).items()}


def position_errors(step, model, video: torch.Tensor, streamed=None) -> dict:
    """{output name: per compared output position, max |streamed − clip| / clip scale} (numpy, in
    output-time order): what `compare` maximises, kept per position to see an error grow over a stream."""
    import numpy as np

    if streamed is None:
        streamed = run_stream(step, video)
    n_steps = video.shape[2] // step.frames_per_step
    video = video[:, :, :n_steps * step.frames_per_step]
    D = step.delay_steps
    result = {}
    if step.has_window_pool:
        refs = windowed_reference(step, video)
        for j, name in enumerate(step.output_names):
            if step.output_kinds[j] == "temporal":
                raise EdgekitError("--stream: a model with both a global pool and per-time-step outputs is not supported yet")
            diffs, scale = [], 0.0
            for k in range(n_steps - D):
                if refs[k] is None:
                    continue
                ref, got = refs[k][j], streamed[j][:, k + D]
                diffs.append(float((got - ref).abs().max()))
                scale = max(scale, float(ref.abs().max()))
            result[name] = np.asarray(diffs) / max(scale, 1e-30)
        return result
    clip = clip_outputs(model, video)
    for j, name in enumerate(step.output_names):
        got = streamed[j][:, :, D * _m_out(step, j):]
        ref = clip[j]
        n = min(got.shape[2], ref.shape[2])
        if n < 1:
            raise EdgekitError(f"the video is too short to compare: {video.shape[2]} frames, delay {D} steps")
        d = (got[:, :, :n] - ref[:, :, :n]).abs()
        per = d.transpose(0, 2).reshape(n, -1).max(1).values  # time is axis 2
        scale = float(ref[:, :, :n].abs().max())
        result[name] = per.double().numpy() / max(scale, 1e-30)
    return result


def thirds(errors) -> dict:
    """max error over the first, middle and last third of the compared positions, and last / first:
    an error that grows with the number of steps (state fed back re-scaled or clipped) shows as growth."""
    import numpy as np

    parts = [p for p in np.array_split(np.asarray(errors, dtype=float), 3)]
    first, middle, last = (float(p.max()) if len(p) else 0.0 for p in parts)
    return {"first": first, "middle": middle, "last": last, "growth": last / max(first, 1e-30)}


INT8_STREAM_RATIO = 1.5  # streamed INT8 error / the INT8 clip model's error, at most
INT8_GROWTH = 1.5  # error over the last third of a stream / over the first third, at most


def int8_stream_problems(errors, clip_int8_error: float, ratio: float = INT8_STREAM_RATIO,
                         growth: float = INT8_GROWTH) -> list[str]:
    """What is wrong with a streamed INT8 run whose per-position errors (`position_errors`) are
    `errors`, against the INT8 clip model's error on the same video (`clip_int8_error`, x scale):
    the stream must be about as good as the clip model and must not get worse as it runs."""
    t = thirds(errors)
    worst = max(t["first"], t["middle"], t["last"])
    out = []
    if worst > ratio * clip_int8_error:
        out.append(f"streamed INT8 error {worst:.3g} x scale > {ratio} x the INT8 clip model's {clip_int8_error:.3g}")
    if t["growth"] > growth:
        out.append(f"streamed INT8 error grows over the stream: first third {t['first']:.3g}, last {t['last']:.3g}")
    return out


def teacher_forced(step, run_one, video: torch.Tensor) -> list[float]:
    """Per output: max over the steps of |runtime − float step| / output scale when the runtime's step
    (`run_one(chunk, *states)` → its outputs, numpy) is fed the FLOAT step model's states — the error
    of one step on its own, without any state it produced itself."""
    import numpy as np

    s, n_out = step.frames_per_step, len(step.output_names)
    states = step.zero_states()
    diffs, scales = [0.0] * n_out, [0.0] * n_out
    with torch.no_grad():
        for i in range(video.shape[2] // s):
            chunk = video[:, :, i * s:(i + 1) * s]
            res = step(chunk, *states)
            got = run_one(chunk.numpy(), *[t.numpy() for t in states])
            for j in range(n_out):
                ref = res[j].numpy()
                diffs[j] = max(diffs[j], float(np.abs(np.asarray(got[j]).reshape(ref.shape) - ref).max()))
                scales[j] = max(scales[j], float(np.abs(ref).max()))
            states = list(res[n_out:])
    return [d / max(sc, 1e-30) for d, sc in zip(diffs, scales)]


def _m_out(step, j: int) -> int:
    return step.output_frames_per_step[j]


def check_stream_exact(model, step, frames: int = 48, seed: int = 0, tol: float = EXACT_TOL) -> dict:
    """Prove in float64 that `step` streams `model` exactly over a random video of `frames` frames;
    raises StreamNotExact naming the output and the difference otherwise. Returns compare()'s dict."""
    model64 = copy.deepcopy(model).double().eval()
    step64 = copy.deepcopy(step).double().eval()
    gen = torch.Generator().manual_seed(seed)
    c, _, *rest = step.clip_shape
    video = torch.randn((1, c, frames, *rest), generator=gen, dtype=torch.float64)
    result = compare(step64, model64, video)
    for name, (rel, n) in result.items():
        if not rel <= tol:
            raise StreamNotExact(f"--stream: output {name} streamed differs from the clip model by {rel:.2e} x its "
                                 f"scale over {n} positions (bound {tol:.0e}): the step model is wrong")
    return result


def window_vs_separate(model, step, frames: int = 48, seed: int = 0) -> dict:
    """How the streamed window pool differs from running the clip model on each window separately
    (float64): max |difference| / output scale and the compared windows."""
    model64 = copy.deepcopy(model).double().eval()
    step64 = copy.deepcopy(step).double().eval()
    gen = torch.Generator().manual_seed(seed)
    c, _, *rest = step.clip_shape
    video = torch.randn((1, c, frames, *rest), generator=gen, dtype=torch.float64)
    streamed = run_stream(step64, video)
    S, D, W = step.frames_per_step, step.delay_steps, step.window
    n_steps = frames // S
    diff, scale, count = 0.0, 0.0, 0
    for k in range(n_steps - D):
        end = (k + 1) * S
        if end - W < 0:
            continue
        ref = clip_outputs(model64, video[:, :, end - W:end])[0]
        got = streamed[0][:, k + D]
        diff = max(diff, float((got - ref).abs().max()))
        scale = max(scale, float(ref.abs().max()))
        count += 1
    return {"rel_max_abs_diff": diff / max(scale, 1e-30), "windows": count, "window_frames": W}
