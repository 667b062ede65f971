"""A task's data .npz (model inputs by name + ground truth) and a Runner's outputs over it, by name.

The npz holds model-ready arrays: one per input name of the file (a single-input model may call
its array `x`), batched over samples, plus the task's ground truth (docs/tasks.md). Arrays go in
as the input's dtype says: token ids stay integers, floats are not normalised again (the card's
preprocessing is for images read from disk; here the user already made the tensors), and a
channels-last image/clip input gets NCHW / NCTHW data transposed, as classification eval does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError


def load_npz(data: str) -> dict[str, np.ndarray]:
    p = Path(data)
    if p.suffix.lower() != ".npz":
        raise EdgekitError(f"--task data must be an .npz of model inputs and ground truth (docs/tasks.md), not {data}")
    if not p.is_file():
        raise EdgekitError(f"data not found: {data}")
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile / ValueError on a damaged or pickled file
        raise EdgekitError(f"{data} is not a readable .npz file ({type(exc).__name__})") from None


def split_inputs(arrays: dict, specs, data: str) -> tuple[list[np.ndarray], dict[str, np.ndarray], int]:
    """(input arrays in the model's input order, the remaining arrays = ground truth, sample count)."""
    names = [s.name for s in specs]
    inputs, used = [], set()
    for s in specs:
        key = s.name if s.name in arrays else ("x" if len(specs) == 1 and "x" in arrays else None)
        if key is None:
            raise EdgekitError(f"{data} has no array {s.name!r} for the model's input {s.name!r} "
                               f"(inputs: {', '.join(names)}; arrays: {', '.join(arrays) or 'none'})")
        inputs.append(arrays[key])
        used.add(key)
    counts = {n: len(a) if a.ndim else 0 for n, a in zip(names, inputs)}
    if len(set(counts.values())) != 1:
        raise EdgekitError(f"{data}: the inputs hold different sample counts: "
                           + ", ".join(f"{k} {v}" for k, v in counts.items()))
    n = next(iter(counts.values()))
    if n == 0:
        raise EdgekitError(f"{data} holds no samples")
    return inputs, {k: v for k, v in arrays.items() if k not in used}, n


def _feed(a: np.ndarray, spec) -> np.ndarray:
    from edgekit.analysis.accuracy import quantize_input
    from edgekit.layouts import match_layout

    dt = np.dtype(spec.dtype)
    if np.issubdtype(a.dtype, np.floating):
        a = match_layout(a, spec.shape)
        if np.issubdtype(dt, np.floating) or spec.quantization is not None:
            return np.ascontiguousarray(quantize_input(a, spec))
        raise EdgekitError(f"input {spec.name} takes {spec.dtype} (ids, indices) but the data is {a.dtype}")
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        if np.issubdtype(dt, np.integer) and spec.quantization is None:
            info = np.iinfo(dt)
            if a.size and (a.min() < info.min or a.max() > info.max):
                raise EdgekitError(f"input {spec.name} takes {spec.dtype}; the data's values {a.min()}..{a.max()} do not fit")
            return np.ascontiguousarray(a.astype(dt))
        if np.issubdtype(dt, np.floating):
            return np.ascontiguousarray(match_layout(a, spec.shape).astype(dt))
    raise EdgekitError(f"input {spec.name} takes {spec.dtype}; the data is {a.dtype}")


def _as_output(y, spec) -> np.ndarray:
    """A runtime's output as the metrics read it: float32, dequantized; integer outputs without a scale stay integers."""
    from edgekit.analysis.accuracy import dequantize_output

    y = np.asarray(y)
    return dequantize_output(y, spec) if spec.quantization is not None or np.issubdtype(y.dtype, np.floating) else y


def run_outputs(runner, inputs: list[np.ndarray], n: int, progress=None) -> dict[str, np.ndarray]:
    """Every output of `runner` over the `n` samples, by output name, batched (N, ...), dequantized."""
    from edgekit.runtimes.device_bench import error_line

    ispecs, ospecs = runner.inputs(), runner.outputs()
    feeds = [_feed(a, s) for a, s in zip(inputs, ispecs)]
    batch = ispecs[0].shape[0] if ispecs[0].shape and ispecs[0].shape[0] > 0 else 1
    outs: list[list[np.ndarray]] = [[] for _ in ospecs]
    for i in range(0, n, batch):
        chunk = [f[i:i + batch] for f in feeds]
        got = len(chunk[0])
        if got < batch:  # fixed-batch model: pad the tail with the last sample, dropped below
            chunk = [np.concatenate([c, np.repeat(c[-1:], batch - got, axis=0)]) for c in chunk]
        try:
            ys = runner.run(*chunk)
        except EdgekitError:
            raise
        except Exception as exc:  # the runtime's own error types: wrong shape, wrong dtype
            shapes = ", ".join(f"{s.name} {tuple(c.shape)} {c.dtype}" for s, c in zip(ispecs, chunk))
            raise EdgekitError(f"{runner.runtime} refused the data ({shapes}): {error_line(exc)}") from None
        for k, (y, s) in enumerate(zip(ys, ospecs)):
            y = _as_output(y, s)
            outs[k].append(y[:got] if y.ndim else y[None])
        if progress is not None:
            progress(min(i + batch, n))
    return {s.name: np.concatenate(o)[:n] for s, o in zip(ospecs, outs)}


def device_outputs(predict, runner, inputs: list[np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Every output over the `n` samples as a device computed them, by output name (N, ...), dequantized.

    `predict(x)` runs the file on the device over the reference-style set `x` (`x:NAME` arrays of
    (N, 1, ...) samples + `input_names`, what device_bench --predict reads) and returns its outputs
    (`y`, or `y_0`, `y_1`, ... in the file's output order); `runner` is the same file opened here, for
    the specs (dtypes, quantization) the inputs are fed and the outputs read with."""
    ispecs, ospecs = runner.inputs(), runner.outputs()
    if ispecs[0].shape and ispecs[0].shape[0] > 1:
        raise EdgekitError(f"a file with a fixed batch of {ispecs[0].shape[0]} is evaluated here, not on a device")
    feeds = {"x:" + s.name: _feed(a, s)[:, None] for a, s in zip(inputs, ispecs)}
    ys = predict({**feeds, "input_names": np.array([s.name for s in ispecs])})
    ys = [ys] if not isinstance(ys, dict) else [ys[f"y_{j}"] for j in range(len(ys))]
    if len(ys) != len(ospecs):
        raise EdgekitError(f"the device returned {len(ys)} outputs, the file has {len(ospecs)}")
    out = {}
    for y, s in zip(ys, ospecs):  # (N, 1, ...) per sample's batch of one -> (N, ...)
        y = np.asarray(y)
        out[s.name] = _as_output(y.reshape(n, *y.shape[2:]) if y.ndim >= 2 and y.shape[1] == 1 else y, s)
    return out
