"""One Runner protocol for every runtime: bench, eval, parity and remote all use it.

A runner loads one model file, describes its inputs/outputs, and runs numpy → numpy. No torch.
Runtimes are picked by file extension (`auto`) or by name; each lives in its own module and is
imported only when used, so a device needs just the one runtime it has.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from edgekit.errors import EdgekitError, did_you_mean


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "float32", "int8", "uint8", ...
    # (scale, zero_point) for integer tensors of a quantized model, else None
    quantization: tuple[float, int] | None = None


class Runner(Protocol):
    runtime: str  # "onnxruntime" | "litert" | "openvino"
    path: Path
    threads: int

    def inputs(self) -> list[TensorSpec]: ...

    def outputs(self) -> list[TensorSpec]: ...

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run once; arrays in input order, shapes/dtypes as `inputs()` says."""
        ...


def with_io_quantization(specs: list[TensorSpec], io_spec, kind: str) -> list[TensorSpec]:
    """`specs` with (scale, zero point) filled from an integer-I/O spec (edgekit.exporters.int8_io:
    {"input": {name, dtype, scale, zero_point}, "output": {...}} for one input and output, or per name
    {"inputs": [...], "outputs": [...]} for several; stored as JSON in ONNX metadata or OpenVINO
    rt_info), so that integer I/O is fed the same way whatever the runtime. Entries without a scale
    (token ids, never quantized) leave their tensor as it is."""
    if isinstance(io_spec, str):
        try:
            io_spec = json.loads(io_spec)
        except json.JSONDecodeError:
            return specs
    io_spec = io_spec or {}
    if kind + "s" in io_spec:  # several: matched by name, then by position
        entries = list(io_spec[kind + "s"])
        by_name = {e.get("name"): e for e in entries}
        pairs = [(s, by_name.get(s.name, entries[i] if len(entries) == len(specs) else None))
                 for i, s in enumerate(specs)]
    else:
        entry = io_spec.get(kind)
        if not entry or len(specs) != 1:
            return specs
        pairs = [(specs[0], entry)]
    return [replace(s, quantization=(float(e["scale"]), int(e["zero_point"])))
            if e and s.quantization is None and s.dtype == e.get("dtype") and e.get("scale") else s
            for s, e in pairs]


# runtime name → (module, class, file extensions it opens)
RUNTIMES = {
    "onnxruntime": ("edgekit.runtimes.onnxruntime_runner", "OnnxRuntimeRunner", (".onnx",)),
    "litert": ("edgekit.runtimes.litert_runner", "LiteRTRunner", (".tflite",)),
    "openvino": ("edgekit.runtimes.openvino_runner", "OpenVINORunner", (".xml", ".onnx")),
    "executorch": ("edgekit.runtimes.executorch_runner", "ExecuTorchRunner", (".pte",)),
}


def runtime_for(path, runtime: str = "auto") -> str:
    """Pick the runtime for a file: by name, or by extension when `auto`."""
    if runtime != "auto":
        if runtime not in RUNTIMES:
            raise EdgekitError(f"unknown runtime {runtime!r}{did_you_mean(runtime, RUNTIMES)}; "
                               f"choose from auto, {', '.join(RUNTIMES)}")
        return runtime
    suffix = Path(path).suffix.lower()
    for name, (_, _, exts) in RUNTIMES.items():
        if suffix in exts:
            return name
    raise EdgekitError(f"cannot tell the runtime of {path} (expected .onnx, .tflite, .xml or .pte); pass --runtime")


def open_runner(path, runtime: str = "auto", threads: int = 1) -> Runner:
    """Load `path` on `runtime` with `threads` intra-op threads. One-line errors for user mistakes."""
    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"model file not found: {p}")
    name = runtime_for(p, runtime)
    module_name, cls_name, exts = RUNTIMES[name]
    if p.suffix.lower() not in exts:
        raise EdgekitError(f"{name} cannot open {p.suffix} files (it opens {', '.join(exts)})")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("edgekit"):
            raise
        raise EdgekitError(f"runtime {name} is not installed ({exc.name} missing): pip install 'edgekit[{name}]'") from None
    try:
        return getattr(module, cls_name)(p, threads=threads)
    except ModuleNotFoundError as exc:  # runners import their runtime lazily, in the constructor
        if exc.name and exc.name.startswith("edgekit"):
            raise
        raise EdgekitError(f"runtime {name} is not installed ({exc.name} missing): pip install 'edgekit[{name}]'") from None


def random_inputs(specs: list[TensorSpec], seed: int = 0, ranges: dict | None = None) -> list[np.ndarray]:
    """Deterministic inputs matching `specs`: standard normal for floats, and for integer I/O with a
    (scale, zero point) the same normal values quantized; integer inputs named in `ranges` ({name:
    (low, high)}, `input_ranges(path)`) inside their range; other ints over their full range."""
    rng = np.random.default_rng(seed)
    out = []
    for s in specs:
        dt = np.dtype(s.dtype)
        if np.issubdtype(dt, np.floating):
            out.append(rng.standard_normal(s.shape).astype(dt))
        elif s.quantization is not None and s.quantization[0] > 0:
            scale, zp = s.quantization
            info = np.iinfo(dt)
            q = np.round(rng.standard_normal(s.shape) / scale) + zp
            out.append(np.clip(q, info.min, info.max).astype(dt))
        elif ranges and s.name in ranges:
            out.append(rng.integers(ranges[s.name][0], ranges[s.name][1], size=s.shape).astype(dt))
        else:
            info = np.iinfo(dt)
            out.append(rng.integers(info.min, info.max, size=s.shape, endpoint=True).astype(dt))
    return out


def input_ranges(path) -> dict:
    """{input name: (low, high)} of an export's integer inputs, from its sidecar (device_bench.int_ranges)."""
    from edgekit.runtimes.device_bench import int_ranges

    return int_ranges(path)
