"""The small protocol every export target implements; targets live in separate modules.

An exporter only converts: it writes its file(s) to the temporary paths it is given. The export
pipeline (edgekit/exporters/pipeline.py) owns everything common — model loading, rewrites,
atomic writes, parity against PyTorch, census, MAdds, the sidecar JSON and the report.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgekit.errors import EdgekitError, did_you_mean


@dataclass
class ExportOptions:
    target: str
    precision: str = "fp32"  # "fp32" | "fp16" | "int8"
    opset: int = 18
    nhwc: bool = False  # channels-last input (camera pipelines); TFLite
    int8_io: bool = False  # integer input/output tensors for INT8
    calib: Any = None  # np.ndarray (N, C, H, W) float32, preprocessed per the card, when precision == "int8"
    calib_method: str = "minmax"  # "minmax" | "percentile" | "entropy"
    extra: dict = field(default_factory=dict)


class Exporter(Protocol):
    target: str
    suffixes: tuple[str, ...]  # the files one export writes, main file first: (".onnx",) or (".xml", ".bin")

    def convert(self, model, example, out_paths: list[Path], options: ExportOptions) -> dict:
        """Convert eval-mode `model` (already rewritten) traced on `example` (1, C, H, W) to `out_paths`.

        Returns target-specific metadata for the sidecar (e.g. {"quantization": {...}}).
        """
        ...


def io_names(options: ExportOptions, n_in: int = 1) -> tuple[list[str], list[str]]:
    """(input names, output names) every target gives the graph: the IO spec's for a model with several
    inputs or outputs (options.extra["io"]), the classic `input` / `logits` otherwise."""
    io = options.extra.get("io")
    if io is None:
        return ["input"], ["logits"]
    return io.input_names, io.output_names


def as_args(example) -> tuple:
    """The example as a tuple of positional inputs (one tensor is the classic one-input form)."""
    return tuple(example) if isinstance(example, (tuple, list)) else (example,)


# target → (module, class)
EXPORTERS = {
    "onnx": ("edgekit.exporters.onnx", "OnnxExporter"),
    "tflite": ("edgekit.exporters.tflite", "TFLiteExporter"),
    "openvino": ("edgekit.exporters.openvino", "OpenVINOExporter"),
    "executorch": ("edgekit.exporters.executorch", "ExecuTorchExporter"),
}


def get_exporter(target: str) -> Exporter:
    if target not in EXPORTERS:
        raise EdgekitError(f"unknown target {target!r}{did_you_mean(target, EXPORTERS)}; choose from {', '.join(EXPORTERS)}, all")
    module_name, cls_name = EXPORTERS[target]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("edgekit"):
            raise EdgekitError(f"target {target} is not available in this build of edgekit") from None
        raise EdgekitError(f"target {target} needs {exc.name}: pip install -c constraints.txt 'edgekit[export]'") from None
    return getattr(module, cls_name)()
