"""Calibration data for a model with several inputs: one array per input name.

    data = load_per_input("calib.npz", io, size=128)   # {"image": (N,3,64,64) f32, "tokens": (N,12) i64}

Sources: an `.npz` with one array per input name (an extra `y` array is labels and is ignored here),
a folder with one sub-folder per input name holding one `.npy` per sample (sorted by file name, the
same names in every sub-folder), or `synthetic` (samples per input kind, as parity uses: a smoke
test, accuracy meaningless). Arrays are model-ready (preprocessed, in the model's layout), and
integer inputs must hold integer ids inside the input's range: edgekit never normalises or
quantizes token ids. Every mismatch is one line naming the input. numpy only (`split_for_max_drop` runs
the float model, through torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError

SYNTHETIC = "synthetic"
DEFAULT_SYNTHETIC = 64


def _from_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files if k != "y"}
    except (OSError, ValueError) as exc:
        raise EdgekitError(f"cannot read calibration data {path}: {exc}") from None


def _from_folder(path: Path) -> dict[str, np.ndarray]:
    subs = sorted(p for p in path.iterdir() if p.is_dir())
    if not subs:
        raise EdgekitError(f"--calib {path}: a model with several inputs takes one sub-folder per input name "
                           f"(or an .npz with one array per input)")
    arrays, names = {}, None
    for sub in subs:
        files = sorted(sub.glob("*.npy"))
        stems = [f.stem for f in files]
        if names is None:
            names = stems
        elif stems != names:
            raise EdgekitError(f"--calib {path}: {sub.name}/ holds other sample files than {subs[0].name}/ "
                               f"(each sample needs one .npy per input, with the same file name)")
        try:
            arrays[sub.name] = np.stack([np.load(f) for f in files]) if files else np.zeros((0,))
        except (OSError, ValueError) as exc:
            raise EdgekitError(f"cannot read calibration data in {sub}: {exc}") from None
    return arrays


def _synthetic(io, size: int | None, seed: int) -> dict[str, np.ndarray]:
    from edgekit.analysis.sample_inputs import sample_set

    samples = sample_set(io, size or DEFAULT_SYNTHETIC, seed)
    return {s.name: np.concatenate([sample[i] for sample in samples]) for i, s in enumerate(io.inputs)}


def check_per_input(arrays: dict[str, np.ndarray], io, where: str = "calibration data") -> dict[str, np.ndarray]:
    """`arrays` checked against the IO spec (names, sample counts, shapes, integer ids in range) and cast
    to each input's dtype, in the spec's order."""
    names = io.input_names
    missing = [n for n in names if n not in arrays]
    if missing:
        have = ", ".join(sorted(arrays)) or "nothing"
        raise EdgekitError(f"{where} has no array for input {missing[0]!r} (it has {have}): one array per input name")
    extra = sorted(set(arrays) - set(names))
    if extra:
        raise EdgekitError(f"{where}: array {extra[0]!r} names no input of the model (inputs: {', '.join(names)})")
    counts = {n: len(arrays[n]) for n in names}
    if len(set(counts.values())) > 1:
        raise EdgekitError(f"{where}: the inputs have different sample counts ("
                           + ", ".join(f"{n} {c}" for n, c in counts.items()) + ")")
    if not counts[names[0]]:
        raise EdgekitError(f"{where} holds no samples")
    out = {}
    for spec in io.inputs:
        a = np.asarray(arrays[spec.name])
        if tuple(a.shape[1:]) != tuple(spec.shape):
            raise EdgekitError(f"{where}: array {spec.name!r} has samples of shape {tuple(a.shape[1:])}, the input "
                               f"takes {tuple(spec.shape)}")
        if spec.is_integer:
            if not np.issubdtype(a.dtype, np.integer):
                raise EdgekitError(f"{where}: input {spec.name!r} is {spec.dtype} (ids), its array is {a.dtype}: "
                                   "give the integer ids themselves (edgekit never quantizes or normalises them)")
            if spec.range is not None and (a.min() < spec.range[0] or a.max() >= spec.range[1]):
                raise EdgekitError(f"{where}: ids of {spec.name!r} span {int(a.min())}..{int(a.max())}, outside "
                                   f"[{int(spec.range[0])}, {int(spec.range[1])}) (the model's vocabulary)")
            out[spec.name] = a.astype(spec.dtype)
        else:
            out[spec.name] = a.astype(np.float32)
    return out


def load_per_input(calib, io, size: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """{input name: (N, *shape)} calibration arrays for the IO spec `io` (see the module docstring);
    `size` takes a deterministic subset of N."""
    if str(calib) == SYNTHETIC:
        return check_per_input(_synthetic(io, size, seed), io, "synthetic calibration data")
    p = Path(calib)
    if p.is_dir():
        arrays = _from_folder(p)
    elif p.suffix.lower() == ".npz" and p.is_file():
        arrays = _from_npz(p)
    else:
        raise EdgekitError(f"--calib {calib}: a model with several inputs takes an .npz with one array per input "
                           f"name ({', '.join(io.input_names)}), a folder with one sub-folder per input, or "
                           f"'synthetic'")
    data = check_per_input(arrays, io, f"--calib {p.name}")
    n = len(data[io.input_names[0]])
    if size is not None and size < n:
        idx = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
        data = {k: v[idx] for k, v in data.items()}
    return data


def split_for_max_drop(model, io, data: dict[str, np.ndarray]):
    """(calibration part, (held-out part, OutputReference)) for `--max-drop` on a model with several
    inputs or outputs: the last quarter of the samples is held out and the float model's (`model`,
    PyTorch) outputs on it are the reference every INT8 variant is judged against, per output (see
    edgekit.exporters.quantize_policy.OutputReference). No labels are needed."""
    from edgekit.analysis.parity import torch_outputs
    from edgekit.exporters.quantize_policy import OutputReference

    n = len(data[io.input_names[0]])
    n_eval = max(1, n // 4)
    if n - n_eval < 1:
        raise EdgekitError(f"--max-drop needs at least 2 calibration samples, got {n}")
    calib = {k: v[:-n_eval] for k, v in data.items()}
    held = {k: v[-n_eval:] for k, v in data.items()}
    refs = [torch_outputs(model, tuple(held[name][i:i + 1] for name in io.input_names)) for i in range(n_eval)]
    outputs = [np.concatenate([r[j] for r in refs]) for j in range(len(io.output_names))]
    return calib, (held, OutputReference(outputs, list(io.output_names)))
