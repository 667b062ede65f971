"""LiteRT (TFLite) runner: ai-edge-litert's Interpreter with the XNNPACK delegate.

XNNPACK is LiteRT's default CPU delegate: the builtin op resolver applies it on the first
`allocate_tensors()`, with the interpreter's thread count. On a device that only has
tflite-runtime, its Interpreter is used the same way. No torch.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.runtimes.base import TensorSpec
from edgekit.runtimes.device_bench import error_line, litert_options


def interpreter_module():
    """The installed Interpreter module: ai_edge_litert, else tflite_runtime."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter  # type: ignore[no-redef]
        except ImportError:
            raise ModuleNotFoundError("no LiteRT interpreter", name="ai_edge_litert") from None
    return interpreter


@contextlib.contextmanager
def captured_native_stderr(sink: list):
    """Collect what native code writes to fd 2 (LiteRT's INFO lines) instead of printing it."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to capture
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode("utf-8", "replace"))


def make_interpreter(path, threads: int = 1, xnnpack: bool = True):
    """An allocated Interpreter for `path`; `xnnpack=False` keeps every op on the builtin kernels.

    The runtime's own log lines from loading and delegation are kept in `interp.edgekit_log`.
    """
    mod = interpreter_module()
    resolver = mod.OpResolverType.AUTO if xnnpack else mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    log: list[str] = []
    try:
        with captured_native_stderr(log):
            interp = mod.Interpreter(model_path=str(path), **litert_options(threads),
                                     experimental_op_resolver_type=resolver)
            interp.allocate_tensors()
        interp.edgekit_log = "".join(log)
    except (ValueError, RuntimeError) as exc:
        raise EdgekitError(f"LiteRT cannot load {path}: {error_line(exc, ''.join(log))}") from None
    return interp


def _spec(detail: dict) -> TensorSpec:
    dtype = np.dtype(detail["dtype"]).name
    quant = None
    if np.issubdtype(np.dtype(detail["dtype"]), np.integer):
        scale, zero_point = detail.get("quantization", (0.0, 0))
        if scale:
            quant = (float(scale), int(zero_point))
    return TensorSpec(detail["name"], tuple(int(d) for d in detail["shape"]), dtype, quant)


class LiteRTRunner:
    runtime = "litert"

    def __init__(self, path, threads: int = 1, xnnpack: bool = True):
        if threads < 1:
            raise EdgekitError(f"--threads must be at least 1 (got {threads})")
        self.path = Path(path)
        self.threads = threads
        self.xnnpack = xnnpack
        self.interpreter = make_interpreter(self.path, threads, xnnpack)
        self._in = self.interpreter.get_input_details()
        self._out = self.interpreter.get_output_details()

    def inputs(self) -> list[TensorSpec]:
        return [_spec(d) for d in self._in]

    def outputs(self) -> list[TensorSpec]:
        return [_spec(d) for d in self._out]

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        if len(arrays) != len(self._in):
            raise EdgekitError(f"{self.path.name} takes {len(self._in)} input(s), got {len(arrays)}")
        for detail, a in zip(self._in, arrays):
            a = np.asarray(a)
            if tuple(a.shape) != tuple(detail["shape"]):
                raise EdgekitError(f"input {detail['name']} of {self.path.name} has shape "
                                   f"{tuple(int(d) for d in detail['shape'])}, got {a.shape}")
            self.interpreter.set_tensor(detail["index"], np.ascontiguousarray(a, dtype=detail["dtype"]))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self._out]
