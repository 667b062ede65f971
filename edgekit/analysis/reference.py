"""Reference inputs and PyTorch outputs stored with an export, so parity can be measured anywhere.

`<file>.edgekit.ref.npz` sits next to the model and its sidecar (which names it under "reference"):

  x          the inputs exactly as the runtime takes them (layout, dtype, quantized for integer I/O)
  y          PyTorch's outputs for them (float32; for integer inputs, on the dequantized values)
  y_export   the export machine's runtime outputs (dequantized): the x86 result to compare ARM with
  out_scale, out_zero_point   dequantization of an integer output (absent for float outputs)

A device (a Raspberry Pi, the emulated aarch64 one) runs `x` with its own runtime and the host
compares what comes back with `y` (`compare_outputs`): max |diff| × output scale, cosine, top-1
agreement — the metrics of export-time parity. numpy only: `edgekit bench --parity` needs no torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError

SUFFIX = ".edgekit.ref.npz"
N_REFERENCE = 2


def reference_path(model_file) -> Path:
    p = Path(model_file)
    return p.with_name(p.name + SUFFIX)


def reference_samples(input_shape, calib=None, n: int = N_REFERENCE) -> list[np.ndarray]:
    """NCHW float inputs (1, C, H, W): calibration samples when given (INT8 is judged in its
    distribution), else a seeded normal one and a structured one (checkerboard, saturating)."""
    from edgekit.analysis.parity import SATURATING, parity_inputs, structured_inputs

    if calib is not None:
        return [np.ascontiguousarray(x[None] if x.ndim == len(input_shape) else x, dtype=np.float32) for x in list(calib)[:n]]
    return (parity_inputs(tuple(input_shape), n=1) + [structured_inputs(tuple(input_shape))[SATURATING]])[:n]


def make_reference(model, runner, samples, nhwc: bool) -> dict:
    """The arrays of the .ref.npz for `samples`, run through PyTorch `model` and the export `runner`."""
    import torch

    from edgekit.analysis.parity import from_runner_output, to_runner_input

    in_spec, out_spec = runner.inputs()[0], runner.outputs()[0]
    xs, ys, ys_rt = [], [], []
    with torch.no_grad():
        for x in samples:
            feed, ref_in = to_runner_input(x, in_spec, nhwc)
            y = model(torch.from_numpy(ref_in))
            y = y[0] if isinstance(y, (tuple, list)) else y
            xs.append(feed)
            ys.append(y.float().numpy())
            ys_rt.append(from_runner_output(runner.run(feed)[0], out_spec))
    arrays = {"x": np.stack(xs), "y": np.stack(ys).astype(np.float32), "y_export": np.stack(ys_rt)}
    if out_spec.quantization is not None and np.issubdtype(np.dtype(out_spec.dtype), np.integer):
        arrays["out_scale"] = np.float64(out_spec.quantization[0])
        arrays["out_zero_point"] = np.int64(out_spec.quantization[1])
    return arrays


def write_reference(path, arrays: dict) -> None:
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_reference(model_file) -> dict:
    """The arrays of `model_file`'s reference set; EdgekitError (one line) when it has none."""
    p = reference_path(model_file)
    if not p.is_file():
        raise EdgekitError(f"{Path(model_file).name} has no reference inputs ({p.name}): re-export it with this "
                           f"edgekit (exports write them next to the sidecar) to check parity on a device")
    try:
        with np.load(p) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise EdgekitError(f"cannot read {p}: {exc}") from None


def dequantize_outputs(arrays: dict, y: np.ndarray) -> np.ndarray:
    if "out_scale" in arrays and np.issubdtype(y.dtype, np.integer):
        return ((y.astype(np.float32) - float(arrays["out_zero_point"])) * float(arrays["out_scale"])).astype(np.float32)
    return np.asarray(y, np.float32)


def compare_outputs(arrays: dict, y_device: np.ndarray, precision: str | None = None) -> dict:
    """Parity of a device's outputs against PyTorch (as at export), plus against the export machine's
    runtime: {max_abs_diff, rel_max_abs_diff, output_scale, cosine, top1_agreement, n_inputs,
    tolerance, ok, vs_export_runtime: {max_abs_diff, rel_max_abs_diff}}."""
    from edgekit.analysis.parity import TOLERANCES, compare, per_output_parity

    if isinstance(y_device, dict):  # several outputs: y_0, y_1, ... in the order of output_names
        names = [str(n) for n in arrays["output_names"]]
        if len(y_device) != len(names):
            raise EdgekitError(f"the device returned {len(y_device)} outputs, the reference has {len(names)}")
        refs = [[arrays[f"y:{n}"][i] for n in names] for i in range(len(arrays[f"y:{names[0]}"]))]
        outs = [[np.asarray(y_device[f"y_{j}"][i], np.float32) for j in range(len(names))] for i in range(len(refs))]
        result = per_output_parity(refs, outs, names, TOLERANCES.get(precision or ""))
        exp = [[arrays[f"y_export:{n}"][i] for n in names] for i in range(len(refs))]
        diff = max(float(np.abs(np.asarray(e, np.float64) - o).max()) for er, orow in zip(exp, outs)
                   for e, o in zip(er, orow))
        result["vs_export_runtime"] = {"max_abs_diff": diff, "rel_max_abs_diff": diff / result["output_scale"]}
        return result
    out = dequantize_outputs(arrays, np.asarray(y_device))
    if out.shape != arrays["y"].shape:
        raise EdgekitError(f"the device returned outputs of shape {out.shape}, the reference has {arrays['y'].shape}")
    parity = compare(list(arrays["y"]), list(out), tolerance=TOLERANCES.get(precision or ""))
    result = parity.to_dict()
    if "y_export" in arrays:
        diff = float(np.abs(arrays["y_export"].astype(np.float64) - out).max())
        result["vs_export_runtime"] = {"max_abs_diff": diff, "rel_max_abs_diff": diff / parity.output_scale}
    return result


def make_reference_io(model, runner, samples, io) -> dict:
    """The .ref.npz arrays of a model with several inputs/outputs: `x:NAME` per input (as the runtime
    takes it), `y:NAME` per output (PyTorch) and `y_export:NAME` (the export machine's runtime), with
    `input_names` / `output_names` giving the order."""
    from edgekit.analysis.parity import feed_for, from_runner_output, torch_outputs

    in_specs, out_specs = runner.inputs(), runner.outputs()
    feeds = {s.name: [] for s in io.inputs}
    ys = {n: [] for n in io.output_names}
    ys_rt = {n: [] for n in io.output_names}
    for sample in samples:
        for spec, rt_spec, x in zip(io.inputs, in_specs, sample):
            feeds[spec.name].append(feed_for(x, rt_spec))
        for name, y in zip(io.output_names, torch_outputs(model, sample)):
            ys[name].append(y)
        got = runner.run(*(feeds[s.name][-1] for s in io.inputs))
        for name, y, spec in zip(io.output_names, got, out_specs):
            ys_rt[name].append(from_runner_output(y, spec))
    arrays = {"input_names": np.array(io.input_names), "output_names": np.array(io.output_names)}
    arrays |= {f"x:{k}": np.stack(v) for k, v in feeds.items()}
    arrays |= {f"y:{k}": np.stack(v).astype(np.float32) for k, v in ys.items()}
    arrays |= {f"y_export:{k}": np.stack(v) for k, v in ys_rt.items()}
    return arrays
