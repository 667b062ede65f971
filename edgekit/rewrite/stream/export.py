"""`edgekit export MODEL --stream`: the step model as what the export pipeline exports.

`prepare_stream(model, card, window, verify)` builds the step model, proves it in float64 (stepping
over a 48-frame video equals the whole-video clip model) and gives the card of the step model: its
IO spec is the chunk of `frames_per_step` frames (the clip input's name) plus the `state_*` inputs,
and the clip model's outputs plus one `<state>_next` output per state. The pipeline then rewrites,
converts and checks it like any multi-input model; `StreamExport.measure(target, file)` adds the
sidecar's `stream` entry with the parity of the streamed outputs on the target's runtime against
the whole-video PyTorch clip model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from edgekit.models.io_spec import InputSpec, IOSpec, OutputSpec

PARITY_FRAMES = 48
STREAM_TOL = {"fp32": 1e-4, "fp16": 1e-2, "int8": 1e-1}


@dataclass
class StreamExport:
    clip_model: torch.nn.Module
    clip_card: object
    step: torch.nn.Module
    card: object
    exact: dict = field(default_factory=dict)
    window_vs_separate: dict | None = None
    info: dict = field(default_factory=dict)

    calib_video: np.ndarray | None = None

    def calibration(self, calib, card_size: int | None = None) -> dict:
        """Per-input INT8 calibration of the step model: the calibration clips (loaded and preprocessed
        as the clip model's) streamed one after another as ONE video through the float step model
        (state carried from clip to clip, as a deployed step model runs), every step's chunk and
        states kept — so each state, and every window a temporal op reads, is calibrated on the
        values it holds in a running stream. Restarting from zero states at every clip (the first
        design) left the deep states (lag ≥ one clip) calibrated on the zero-filled warm-up only:
        their ranges were too small and the streamed INT8 outputs 0.5 × scale off."""
        from edgekit.calibration import load_calibration

        clips, _ = load_calibration(calib, self.clip_card, size=card_size, seed=0)
        self.calib_video = np.concatenate(list(clips.astype(np.float32)), axis=1)[None]
        return stream_samples(self.step, self.calib_video, [i.name for i in self.card.io.inputs])

    def video(self, frames: int = PARITY_FRAMES, seed: int = 0) -> np.ndarray:
        if self.calib_video is not None and self.calib_video.shape[2] >= frames:
            return self.calib_video[:, :, :max(frames, self.calib_video.shape[2] // self.step.frames_per_step
                                                * self.step.frames_per_step)]
        c, _, *rest = self.step.clip_shape
        rng = np.random.default_rng(seed)
        return rng.standard_normal((1, c, frames, *rest)).astype(np.float32)

    def measure(self, target: str, path, precision: str = "fp32", runner=None) -> dict:
        """The sidecar's `stream` entry, with the streamed parity on `path`'s runtime."""
        from edgekit.rewrite.stream.verify import INT8_GROWTH, position_errors, teacher_forced, thirds
        from edgekit.runtimes.stream_runner import StreamRunner

        entry = dict(self.info)
        video = self.video()
        sr = StreamRunner(path, entry=entry, runner=runner)
        boundary = state_boundary(sr.runner, len(entry["outputs"]))
        streamed = [torch.from_numpy(np.ascontiguousarray(o)) for o in sr.run_video(video, aligned=False)]
        step, x = self.step.float().eval(), torch.from_numpy(video)
        with torch.no_grad():
            errors = position_errors(step, self.clip_model.float().eval(), x, streamed=streamed)
        tol = STREAM_TOL.get(precision, 1e-4)
        outputs = {}
        forced = teacher_forced(step, sr.runner.run, x) if precision == "int8" else [None] * len(errors)
        for n, e, f in zip(names_of(entry), errors.values(), forced):
            r = float(e.max()) if len(e) else 0.0
            o = outputs[n] = {"rel_max_abs_diff": r, "positions": len(e), "ok": bool(r <= tol)}
            if precision == "int8":  # does the error grow as the state is fed back? (it must not)
                o["by_position"] = {k: round(v, 6) for k, v in thirds(e).items()}
                o["grows"] = bool(o["by_position"]["growth"] > INT8_GROWTH)
                o["teacher_forced"] = f  # one step fed the float model's states
        entry["parity"] = {"runtime": sr.runtime, "video_frames": int(video.shape[2]), "tolerance": tol,
                           "video": "calibration clips, one after another" if self.calib_video is not None
                           and video.shape[2] >= PARITY_FRAMES and self.calib_video.shape[2] >= PARITY_FRAMES
                           else "random normal",
                           "reference": "clip model (PyTorch, float32) on the whole video"
                                        + (", pooled over each window" if self.step.has_window_pool else ""),
                           "outputs": outputs, "state_boundary": boundary}
        return entry


def state_boundary(runner, n_out: int) -> str:
    """How the states cross the file's boundary: "float" (INT8 files too: the quantizers put Q/DQ on
    the conv inputs inside, so a new state is a float slice of a float window and goes back unchanged).
    An integer state (per-name --int8-io) is refused with one line: its input and its `_next` output get
    their own (scale, zero point) from their own ranges, so feeding one back as the other re-scales it
    every step (measured: the test's injected 8 % mismatch drives the user detector to 0.44 × scale)."""
    from edgekit.errors import EdgekitError

    ins, outs = runner.inputs()[1:], runner.outputs()[n_out:]
    bad = [(i, o) for i, o in zip(ins, outs) if _integer(i.dtype) or _integer(o.dtype)]
    if bad:
        i, o = bad[0]
        untied = [(a.name, a.quantization, b.quantization) for a, b in bad if a.quantization != b.quantization]
        detail = (f"; {len(untied)} of them with an input (scale, zero point) other than their output's, e.g. "
                  f"{untied[0][0]} {_qp(untied[0][1])} vs {_qp(untied[0][2])}") if untied else ""
        raise EdgekitError(f"--stream: {len(bad)} state(s) cross the file as integers ({i.name}: {i.dtype} in, "
                           f"{o.dtype} out){detail}; the states must stay float at the boundary: export without "
                           f"--int8-io (the step is INT8 inside either way)")
    return "float"


def _integer(dtype) -> bool:
    return np.issubdtype(np.dtype(dtype), np.integer)


def _qp(q) -> str:
    return "none" if q is None else f"({float(q[0]):.4g}, {int(q[1])})"


def stream_samples(step, video: np.ndarray, names: list[str]) -> dict:
    """{input name: (steps, ...)}: the chunk and the states the float `step` sees at every step of
    `video` (1, C, T, ...) streamed from zero states."""
    s = step.frames_per_step
    per = {n: [] for n in names}
    step = step.float().eval()
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(video, dtype=np.float32))
        states = step.zero_states()
        for i in range(x.shape[2] // s):
            chunk = x[:, :, i * s:(i + 1) * s]
            for n, t in zip(names, (chunk, *states)):
                per[n].append(t.numpy().copy())
            states = list(step(chunk, *states)[len(step.output_names):])
    return {n: np.concatenate(v, 0) for n, v in per.items()}


def names_of(entry: dict) -> list[str]:
    return [o["name"] for o in entry["outputs"]]


def prepare_stream(model, card, window: int | None = None, verify: bool = True) -> StreamExport:
    from edgekit.analysis.flops import count_madds
    from edgekit.errors import EdgekitError
    from edgekit.rewrite.stream.transform import build_step_model, stream_info
    from edgekit.rewrite.stream.verify import check_stream_exact, window_vs_separate

    io = card.io
    if len(io.inputs) != 1:
        raise EdgekitError(f"--stream supports one video input; {card.name} takes {len(io.inputs)} "
                           f"({', '.join(io.input_names)})")
    shape = tuple(io.inputs[0].shape)
    if window is not None and len(shape) >= 2 and window < 1:
        raise EdgekitError(f"--window {window}: give a number of frames >= 1")
    step = build_step_model(model, shape, window=window)
    if window is not None and not step.has_window_pool:
        raise EdgekitError(f"--window only applies to a model ending in a global temporal pool; {card.name} "
                           "has per-time-step outputs")
    exact = check_stream_exact(model, step, PARITY_FRAMES) if verify else {}
    sep = window_vs_separate(model, step, PARITY_FRAMES) if step.has_window_pool else None
    names = list(io.output_names) if io.outputs else ["logits"]
    if len(names) != len(step.output_names):
        names = [f"output_{i}" for i in range(len(step.output_names))] if len(step.output_names) > 1 else ["logits"]
    states = step.state_list()
    inputs = [InputSpec(io.inputs[0].name, tuple(step.input_shape), "float32", "clip" if len(shape) == 4 else "sequence",
                        layout=io.inputs[0].layout or ("CTHW" if len(shape) == 4 else "CT"),
                        preprocessing=io.inputs[0].preprocessing)]
    inputs += [InputSpec(s["name"], tuple(s["shape"][1:]), "float32", "state") for s in states]
    outputs = [OutputSpec(n, "logits" if k == "per_step" else "tensor") for n, k in zip(names, step.output_kinds)]
    outputs += [OutputSpec(f"{s['name']}_next", "state") for s in states]
    step_io = IOSpec(tuple(inputs), tuple(outputs))
    step_card = card.with_io(step_io)
    step_card = dataclasses.replace(step_card, name=card.name, extra={**card.extra, "stream": True})
    step.card = step_card
    clip_madds = count_madds(model, shape).conv_madds
    info = stream_info(step, clip_madds)
    for o, n in zip(info["outputs"], names):
        o["name"] = n
    info["exact_float64"] = {n: {"rel_max_abs_diff": r, "positions": k} for n, (r, k) in
                             zip(names, exact.values())} if exact else None
    if sep is not None:
        info["window_vs_separate_windows"] = sep
    return StreamExport(model, card, step, step_card, exact, sep, info)
