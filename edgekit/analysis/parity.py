"""Parity of an exported model against PyTorch, measured on the real runtime.

Inputs are NCHW float32 in the model's normalised space: seeded standard-normal tensors and a
few structured images (flat, ramps, a checkerboard, a smooth pattern) that random noise never
exercises — saturated activations, constant channels, strong spatial structure. The runner side
gets the same tensors in its own layout and dtype: NHWC when the artifact is channels-last,
quantized with the input's (scale, zero point) when the artifact has integer I/O (the PyTorch
side then sees the dequantized values, so input rounding is not counted as error).

Metrics (worst case over inputs): max |ref − out|, that divided by the output scale (max |ref|
over all inputs), the lowest cosine similarity, and the fraction of inputs whose top-1 agrees.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgekit.layouts import to_channels_first, to_channels_last, wants_channels_last

# The tolerance the issue sets per precision, relative to the output scale. INT8 has none: its
# quality is judged by cosine, top-1 agreement and accuracy on real data, not by a bound.
TOLERANCES = {"fp32": 1e-4, "fp16": 1e-2}


@dataclass
class Parity:
    max_abs_diff: float
    rel_max_abs_diff: float
    output_scale: float
    cosine: float  # lowest over inputs
    top1_agreement: float  # fraction of inputs
    n_inputs: int
    tolerance: float | None = None  # relative; None when the precision has no bound

    @property
    def ok(self) -> bool:
        return self.tolerance is None or self.rel_max_abs_diff <= self.tolerance

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def structured_inputs(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Deterministic non-random images (1, C, H, W), in the normalised range of real data (±2.5).

    For a clip shape (C, T, H, W) each pattern moves two pixels to the right per frame (frame t is
    the image rolled by 2t), so temporal kernels see motion, not a still. Any other shape (a feature
    sequence C, T; a vector) gets the sequence patterns of analysis.sample_inputs (sinusoids over time)."""
    if len(shape) not in (3, 4):
        from edgekit.analysis.sample_inputs import structured_input
        from edgekit.models.io_spec import IOSpec

        spec = IOSpec.single(shape).inputs[0]
        return [structured_input(spec, k) for k in range(4)]
    if len(shape) == 4:
        c, t, h, w = shape
        return [np.stack([np.roll(im[0], 2 * i, axis=-1) for i in range(t)], axis=1)[None]
                for im in structured_inputs((c, h, w))]
    c, h, w = shape
    yy, xx = np.meshgrid(np.linspace(-1.0, 1.0, h), np.linspace(-1.0, 1.0, w), indexing="ij")
    chan = np.linspace(-1.0, 1.0, c)[:, None, None] if c > 1 else np.zeros((1, 1, 1))
    checker = ((np.arange(h)[:, None] // 4 + np.arange(w)[None, :] // 4) % 2) * 4.0 - 2.0
    images = [
        np.zeros((c, h, w)),  # the mean image
        2.0 * xx[None] * np.ones((c, 1, 1)) + 0.5 * chan,  # horizontal ramp, per-channel offset
        np.broadcast_to(checker, (c, h, w)) * (1.0 - 0.25 * chan),  # high-frequency, saturating
        2.0 * np.sin(3.0 * np.pi * (xx[None] + chan)) * np.cos(2.0 * np.pi * yy[None]),  # smooth texture
    ]
    return [im[None].astype(np.float32) for im in images]


# The order structured inputs join a parity set in: the saturating checkerboard first. It is the one
# that finds weight-rounding loss (OpenVINO's FP16 IR of MobileNetV3-Small: 1.5e-01 x output scale on
# it, 2.4e-04 on a normal input), and the reference inputs stored with every export (reference.py) are
# the first normal input and it: a parity check of n >= 2 inputs covers them.
STRUCTURED_ORDER = (2, 0, 1, 3)
SATURATING = STRUCTURED_ORDER[0]


def parity_inputs(shape: tuple[int, ...], n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """`n` inputs (1, *shape): seeded normal ones, then structured ones for half of them (the
    checkerboard first)."""
    patterns = structured_inputs(shape)
    structured = [patterns[i] for i in STRUCTURED_ORDER][: n // 2]
    rng = np.random.default_rng(seed)
    rand = [rng.standard_normal((1, *shape)).astype(np.float32) for _ in range(n - len(structured))]
    return rand + structured


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


def compare(refs: list[np.ndarray], outs: list[np.ndarray], tolerance: float | None = None) -> Parity:
    """Metrics over paired reference / runtime outputs (one array per input, same shape)."""
    if not refs:
        raise ValueError("no outputs to compare")
    scale = max(float(np.abs(r).max()) for r in refs) or 1.0
    max_abs = 0.0
    cosines, agree = [], 0
    for r, o in zip(refs, outs):
        r = np.asarray(r, np.float64).reshape(r.shape[0], -1)
        o = np.asarray(o, np.float64).reshape(r.shape)
        max_abs = max(max_abs, float(np.abs(r - o).max()))
        for rr, oo in zip(r, o):
            nr, no = np.linalg.norm(rr), np.linalg.norm(oo)
            cosines.append(1.0 if nr == no == 0 else float(rr @ oo / max(nr * no, 1e-30)))
        agree += int(np.array_equal(r.argmax(-1), o.argmax(-1)))
    return Parity(max_abs_diff=max_abs, rel_max_abs_diff=max_abs / scale, output_scale=scale,
                  cosine=min(cosines), top1_agreement=agree / len(refs), n_inputs=len(refs), tolerance=tolerance)


def to_runner_input(x: np.ndarray, spec, nhwc: bool) -> tuple[np.ndarray, np.ndarray]:
    """(array for the runner, float NCHW array PyTorch should see) for one NCHW float input (or an
    NCTHW clip; channels-last is then N,T,H,W,C)."""
    ref = x
    feed = x.transpose(to_channels_last(x.ndim)) if nhwc else x
    dt = np.dtype(spec.dtype)
    if np.issubdtype(dt, np.integer):
        if spec.quantization is None:
            raise ValueError(f"input {spec.name} is {dt} but carries no (scale, zero_point)")
        s, zp = spec.quantization
        feed = quantize(feed, s, zp, dt)
        deq = dequantize(feed, s, zp)
        ref = deq.transpose(to_channels_first(deq.ndim)) if nhwc else deq
    else:
        feed = feed.astype(dt)
    if tuple(feed.shape) != tuple(spec.shape):
        raise ValueError(f"runtime input {spec.name} has shape {tuple(spec.shape)}, expected {tuple(feed.shape)}"
                         f" ({'NHWC' if nhwc else 'NCHW'})")
    return np.ascontiguousarray(feed), np.ascontiguousarray(ref, dtype=np.float32)


def from_runner_output(y: np.ndarray, spec) -> np.ndarray:
    dt = np.dtype(spec.dtype)
    if np.issubdtype(dt, np.integer) and spec.quantization is not None:
        return dequantize(y, *spec.quantization)
    return np.asarray(y, np.float32)


def is_channels_last(spec, input_shape: tuple[int, ...]) -> bool:
    return wants_channels_last((1, *input_shape), spec.shape)


def measure_parity(model, runner, input_shape: tuple[int, int, int], *, n: int = 8, nhwc: bool | None = None,
                   precision: str = "fp32", seed: int = 0, inputs=None) -> Parity:
    """Run `model` (PyTorch, eval) and `runner` (any edgekit Runner) on the same inputs and compare.

    `nhwc=None` reads the layout from the runner's input shape. `inputs` (NCHW float32 samples,
    e.g. calibration data) replaces the random + structured inputs: an INT8 model is only
    meaningful on the distribution it was calibrated for.
    """
    import torch

    in_spec = runner.inputs()[0]
    if nhwc is None:
        nhwc = is_channels_last(in_spec, tuple(input_shape))
    out_spec = runner.outputs()[0]
    refs, outs = [], []
    with torch.no_grad():
        samples = parity_inputs(tuple(input_shape), n=n, seed=seed) if inputs is None else \
            [np.ascontiguousarray(x[None] if x.ndim == len(input_shape) else x, dtype=np.float32)
             for x in list(inputs)[:n]]
        for x in samples:
            feed, ref_in = to_runner_input(x, in_spec, nhwc)
            ref = model(torch.from_numpy(ref_in))
            if isinstance(ref, (tuple, list)):
                ref = ref[0]
            refs.append(ref.float().numpy())
            outs.append(from_runner_output(runner.run(feed)[0], out_spec))
    return compare(refs, outs, tolerance=TOLERANCES.get(precision))


def float32_noise(model, input_shape, *, n: int = 8, seed: int = 0) -> float:
    """The PyTorch model's own float32 error: max over the parity inputs of |fp32 - fp64| / max |fp64|.

    What a runtime can be expected to reach at best: an untrained network whose activations explode
    (outputs from 1e-2 to 1e4 across inputs) has a float32 noise far above FP32 parity's 1e-4, and a
    runtime that differs from PyTorch by about that much is computing the same function."""
    import copy

    import torch

    m64 = copy.deepcopy(model).double().eval()
    worst = 0.0
    with torch.no_grad():
        for x in parity_inputs(tuple(input_shape), n=n, seed=seed):
            a = model(torch.from_numpy(x))
            b = m64(torch.from_numpy(x).double())
            a, b = (a[0], b[0]) if isinstance(a, (tuple, list)) else (a, b)
            worst = max(worst, float((a.double() - b).abs().max() / max(float(b.abs().max()), 1e-30)))
    return worst


# ------------------------------------------------------------------------ several inputs / outputs

def feed_for(x: np.ndarray, spec) -> np.ndarray:
    """One input sample as the runtime takes it: its layout (channels-last where the file's input is), its dtype
    (a TFLite graph takes token ids as int32), and
    a float sample for an integer input with a (scale, zero point) (--int8-io) quantized on that grid."""
    if np.issubdtype(np.asarray(x).dtype, np.floating) and tuple(np.shape(x)) != tuple(spec.shape):
        from edgekit.layouts import match_layout

        x = match_layout(np.asarray(x), tuple(spec.shape))  # a channels-last input (--nhwc) of a several-input file
    if np.issubdtype(np.asarray(x).dtype, np.floating) and spec.quantization is not None:
        return np.ascontiguousarray(quantize(np.asarray(x, np.float32), *spec.quantization, np.dtype(spec.dtype)))
    feed = np.ascontiguousarray(x, dtype=np.dtype(spec.dtype))
    if tuple(feed.shape) != tuple(spec.shape):
        raise ValueError(f"runtime input {spec.name} has shape {tuple(spec.shape)}, expected {tuple(feed.shape)}")
    return feed


def torch_outputs(model, sample) -> list[np.ndarray]:
    """PyTorch's outputs (flattened, float32 numpy) for one sample (a tuple of batch-1 arrays)."""
    import torch

    from edgekit.models.examples import flatten_outputs

    with torch.no_grad():
        ys = flatten_outputs(model(*(torch.from_numpy(np.ascontiguousarray(x)) for x in sample)))
    return [y.float().numpy() for y in ys]


def per_output_parity(refs: list[list[np.ndarray]], outs: list[list[np.ndarray]], names: list[str],
                      tolerance: float | None) -> dict:
    """Parity per output (each against its own scale) and the worst case over them, as a sidecar dict:
    the top-level keys are those of a one-output Parity (the worst output's), plus `outputs`."""
    per = {}
    for j, name in enumerate(names):
        per[name] = compare([r[j] for r in refs], [o[j] for o in outs], tolerance=tolerance)
    worst_name = max(per, key=lambda n: per[n].rel_max_abs_diff)
    worst = per[worst_name]
    d = worst.to_dict()
    d["cosine"] = min(p.cosine for p in per.values())
    d["ok"] = all(p.ok for p in per.values())
    d["worst_output"] = worst_name
    d["outputs"] = {n: p.to_dict() for n, p in per.items()}
    return d


def measure_parity_io(model, runner, io, *, n: int = 8, precision: str = "fp32", seed: int = 0,
                      samples=None) -> dict:
    """Parity of a model with several inputs and/or outputs, per output, on samples made per input kind
    (edgekit.analysis.sample_inputs) or given (`samples`: a list of tuples of batch-1 arrays)."""
    from edgekit.analysis.sample_inputs import sample_set

    in_specs, out_specs = runner.inputs(), runner.outputs()
    samples = sample_set(io, n, seed) if samples is None else list(samples)[:n]
    refs, outs = [], []
    for sample in samples:
        feeds = [feed_for(x, s) for x, s in zip(sample, in_specs)]
        # PyTorch sees what the runtime was fed: a quantized (--int8-io) input's dequantized values
        seen = tuple(dequantize(f, *s.quantization) if s.quantization is not None and
                     np.issubdtype(np.asarray(x).dtype, np.floating) else x
                     for x, f, s in zip(sample, feeds, in_specs))
        refs.append(torch_outputs(model, seen))
        got = runner.run(*feeds)
        outs.append([from_runner_output(y, s) for y, s in zip(got, out_specs)])
    return per_output_parity(refs, outs, io.output_names, TOLERANCES.get(precision))
