"""ONNX Runtime runner (CPU execution provider).

Threads as a device user sets them (device_bench.ort_session_config): intra_op_num_threads = threads,
inter_op_num_threads 1, sequential execution, and the spin-wait choice between ops
(session.intra_op.allow_spinning; `spinning=None` = edgekit's measured default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.runtimes.base import TensorSpec, with_io_quantization

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
              "tensor(uint8)": "uint8", "tensor(int32)": "int32", "tensor(int64)": "int64"}


class OnnxRuntimeRunner:
    runtime = "onnxruntime"

    def __init__(self, path, threads: int = 1, profile: bool = False, spinning: bool | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self.threads = threads
        from edgekit.runtimes.device_bench import ort_session_options

        if threads < 1:
            raise EdgekitError(f"--threads must be at least 1 (got {threads})")
        opts = ort_session_options(threads, spinning)  # the settings every bench result states
        if profile:
            opts.enable_profiling = True
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            from edgekit.runtimes.device_bench import error_line

            raise EdgekitError(f"onnxruntime cannot load {self.path}: {error_line(exc)}") from None
        # integer I/O (--int8-io): scale / zero point recorded in the model's metadata
        self._io = self.session.get_modelmeta().custom_metadata_map.get("int8_io")

    @staticmethod
    def _spec(arg) -> TensorSpec:
        shape = tuple(d if isinstance(d, int) else 1 for d in arg.shape)
        return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, "float32"))

    def inputs(self) -> list[TensorSpec]:
        return with_io_quantization([self._spec(a) for a in self.session.get_inputs()], self._io, "input")

    def outputs(self) -> list[TensorSpec]:
        return with_io_quantization([self._spec(a) for a in self.session.get_outputs()], self._io, "output")

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        feed = {spec.name: a for spec, a in zip(self.inputs(), arrays)}
        return self.session.run(None, feed)
