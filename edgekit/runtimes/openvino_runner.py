"""OpenVINO runner: a model (.xml IR or .onnx) compiled for the CPU plugin.

Compiled for latency at batch 1: one stream, `threads` inference threads, and f32 inference
precision. The CPU plugin otherwise picks bf16/fp16 execution on hardware that has it, which
would make FP32 parity against PyTorch meaningless; FP16 IRs still decompress their weights to
f32 at load time. No torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.runtimes.base import TensorSpec, with_io_quantization
from edgekit.runtimes.device_bench import error_line


def compile_config(threads: int = 1, precision: str = "f32") -> dict:
    """INFERENCE_NUM_THREADS, PERFORMANCE_HINT LATENCY, NUM_STREAMS 1 (device_bench.openvino_config)."""
    from edgekit.runtimes.device_bench import openvino_config

    return {**openvino_config(int(threads)), "INFERENCE_PRECISION_HINT": precision}


def _spec(port, ir_port=None) -> TensorSpec:
    """`ir_port`: the same port of the IR as read: compiling can merge tensor names (a no-op Reshape folded
    into its Concat gives the output both names), so the IR's own name wins when it is one of them."""
    pshape = port.get_partial_shape()
    shape = tuple(d.get_length() if d.is_static else 1 for d in pshape) if pshape.rank.is_static else ()
    dtype = np.dtype(port.get_element_type().to_dtype()).name
    names = port.get_names()
    ir_names = ir_port.get_names() if ir_port is not None else set()
    if len(ir_names) == 1 and ir_names <= names:
        name = next(iter(ir_names))
    else:
        name = port.get_any_name() if names else f"{port.get_node().get_friendly_name()}:{port.get_index()}"
    return TensorSpec(name, shape, dtype)


def _specs(compiled_ports, ir_ports) -> list[TensorSpec]:
    ir = ir_ports if len(ir_ports) == len(compiled_ports) else [None] * len(compiled_ports)
    return [_spec(p, q) for p, q in zip(compiled_ports, ir)]


class OpenVINORunner:
    runtime = "openvino"

    def __init__(self, path, threads: int = 1, device: str = "CPU", precision: str = "f32"):
        import openvino as ov

        if threads < 1:
            raise EdgekitError(f"--threads must be at least 1 (got {threads})")
        self.path = Path(path)
        self.threads = threads
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(self.path))
            self.compiled = self.core.compile_model(self.model, device, compile_config(threads, precision))
        except RuntimeError as exc:
            raise EdgekitError(f"OpenVINO cannot load {self.path}: {error_line(exc)}") from None
        self.request = self.compiled.create_infer_request()
        # integer I/O (--int8-io): scale / zero point recorded in the IR's rt_info
        key = ["edgekit", "int8_io"]
        self._io = self.model.get_rt_info(key).astype(str) if self.model.has_rt_info(key) else None

    def property(self, name: str):
        """A property of the compiled model as the plugin reports it (e.g. INFERENCE_NUM_THREADS)."""
        return self.compiled.get_property(name)

    def inputs(self) -> list[TensorSpec]:
        return with_io_quantization(_specs(self.compiled.inputs, self.model.inputs), self._io, "input")

    def outputs(self) -> list[TensorSpec]:
        return with_io_quantization(_specs(self.compiled.outputs, self.model.outputs), self._io, "output")

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        ins = self.compiled.inputs
        if len(arrays) != len(ins):
            raise EdgekitError(f"{self.path.name} takes {len(ins)} input(s), got {len(arrays)}")
        for i, (port, a) in enumerate(zip(ins, arrays)):
            want = _spec(port)
            if tuple(np.shape(a)) != want.shape:
                raise EdgekitError(f"input {want.name} of {self.path.name} has shape {want.shape}, got {np.shape(a)}")
            self.request.set_input_tensor(i, _ov_tensor(np.ascontiguousarray(a, dtype=want.dtype)))
        self.request.infer()
        return [self.request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]


def _ov_tensor(a: np.ndarray):
    import openvino as ov

    return ov.Tensor(a)
