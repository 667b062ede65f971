"""Run a step model (`edgekit export --stream`) over a video on its runtime, carrying the state. No torch.

    runner = StreamRunner("tan-small-stream.tflite")          # the sidecar's `stream` entry says how
    outputs = runner.run_video(video)                         # video: (1, C, T, H, W) float32

The step file's inputs are the next `frames_per_step` frames, then the states (all zero at the start);
its outputs are the step's outputs, then the new states in the order of the state inputs. Output time
k comes out of step k + delay_steps: `run_video` drops the first delay_steps steps' outputs, so its
result lines up with the clip model run on the whole video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.artifact import read_sidecar
from edgekit.errors import EdgekitError
from edgekit.runtimes.base import open_runner


def stream_entry(path) -> dict:
    entry = read_sidecar(path).get("stream")
    if not entry:
        raise EdgekitError(f"{path} is not a step model (its sidecar has no `stream` entry): export it with --stream")
    return entry


class StreamRunner:
    def __init__(self, path, runtime: str = "auto", threads: int = 1, entry: dict | None = None, runner=None):
        self.path = Path(path)
        self.entry = entry if entry is not None else stream_entry(path)
        self.runner = runner if runner is not None else open_runner(path, runtime, threads=threads)
        self.frames_per_step = int(self.entry["frames_per_step"])
        self.delay_steps = int(self.entry["delay_steps"])
        self.n_out = len(self.entry["outputs"])
        specs = self.runner.inputs()
        self.chunk_shape = tuple(self.entry["input"]["shape"])
        if len(specs) != 1 + len(self.entry["states"]):
            raise EdgekitError(f"{path}: {len(specs)} inputs, the sidecar's stream entry describes "
                               f"{1 + len(self.entry['states'])} (frames + states)")
        self.reset()

    @property
    def runtime(self) -> str:
        return self.runner.runtime

    def reset(self) -> None:
        self.states = [np.zeros(s["shape"], dtype=np.dtype(s.get("dtype", "float32"))) for s in self.entry["states"]]
        self.steps = 0

    def step(self, chunk: np.ndarray) -> list[np.ndarray]:
        """One step: the step's outputs (the state advances)."""
        res = self.runner.run(np.ascontiguousarray(chunk, dtype=np.float32), *self.states)
        self.states = [np.asarray(r).reshape(s.shape) for r, s in zip(res[self.n_out:], self.states)]
        self.steps += 1
        return [np.asarray(r) for r in res[:self.n_out]]

    def check_video(self, video: np.ndarray) -> int:
        """Number of whole steps in `video` (1, C, T, ...); one-line errors for a wrong shape or length."""
        want = self.chunk_shape
        if video.ndim != len(want) or video.shape[0] != 1 or video.shape[1] != want[1] or \
                tuple(video.shape[3:]) != tuple(want[3:]):
            frame = "x".join(map(str, want[3:])) or "-"
            raise EdgekitError(f"the video has shape {tuple(video.shape)}; this step model takes frames of "
                               f"{want[1]} channels x {frame} (video (1, {want[1]}, T, {', '.join(map(str, want[3:]))}))")
        n = video.shape[2] // self.frames_per_step
        if n < 1:
            raise EdgekitError(f"the video has {video.shape[2]} frames, fewer than one step "
                               f"({self.frames_per_step} frames)")
        return n

    def run_video(self, video: np.ndarray, aligned: bool = True) -> list[np.ndarray]:
        """Step over the whole video from zero state: one array per output — temporal outputs
        concatenated along time (axis 2), per-step outputs (after a window pool) stacked on axis 1.
        `aligned`: drop the delay_steps warm-up steps, so index k is output time k."""
        n = self.check_video(video)
        self.reset()
        s = self.frames_per_step
        per = [[] for _ in range(self.n_out)]
        for i in range(n):
            for j, y in enumerate(self.step(video[:, :, i * s:(i + 1) * s])):
                per[j].append(y)
        start = self.delay_steps if aligned else 0
        out = []
        for j, o in enumerate(per):
            o = o[start:]
            if not o:
                out.append(np.zeros((0,), dtype=np.float32))
            elif self.entry["outputs"][j].get("kind") == "temporal":
                out.append(np.concatenate(o, axis=2))
            else:
                out.append(np.stack(o, axis=1))
        return out
