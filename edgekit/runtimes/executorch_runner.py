"""ExecuTorch runner: a .pte program on executorch's Python runtime (XNNPACK delegate, portable kernels).

Threads: ExecuTorch has one process-wide threadpool (XNNPACK runs on it), sized to all cores by
default; the runner resets it to `threads` (`_unsafe_reset_threadpool`) before loading. A program's
XNNPACK runtime keeps the pool it was loaded with, and a reset destroys that pool: running a program
loaded before a reset is undefined (measured: "XNN Runtime invoke failed with code:
xnn_status_invalid_state", then a segfault, with 1- and 2-thread programs interleaved in one process).
So every reset bumps a generation count, and a runner whose program predates the current pool loads it
again before running (`reloads` counts it). Runners of different counts in one process are therefore
correct but pay a reload at each switch: time them one count at a time (`process_wide_threads`).
The executorch pip wheel's Python bindings link libtorch (libtorch.so, libtorch_python.so) and
import torch first: this runner therefore loads torch, unlike the other runners. Inputs and outputs
cross as torch tensors that share memory with the numpy arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.runtimes.base import TensorSpec
from edgekit.runtimes.litert_runner import captured_native_stderr

# ExecuTorch ScalarType → numpy dtype name (the ones a .pte from edgekit can have at its boundary)
_DTYPES = {"ScalarType.Float": "float32", "ScalarType.Half": "float16", "ScalarType.Char": "int8",
           "ScalarType.Byte": "uint8", "ScalarType.Int": "int32", "ScalarType.Long": "int64",
           # executorch 1.5's method meta prints the ScalarType's number (c10 numbering)
           "6": "float32", "5": "float16", "1": "int8", "0": "uint8", "3": "int32", "4": "int64"}


def portable_lib():
    """executorch's Python bindings (imports torch: the wheel's bindings link libtorch)."""
    from executorch.extension.pybindings import portable_lib as lib

    return lib


_POOL = {"generation": 0}  # bumped at every reset of the process-wide pool


def set_threads(n: int) -> int:
    """Size the process-wide pool to `n` threads; returns the pool's generation (see module docstring)."""
    lib = portable_lib()
    if lib._threadpool_get_thread_count() != n:
        lib._unsafe_reset_threadpool(int(n))
        _POOL["generation"] += 1
    return _POOL["generation"]


def _spec(name: str, info) -> TensorSpec:
    return TensorSpec(name, tuple(int(s) for s in info.sizes()), _DTYPES.get(str(info.dtype()), "float32"))


def _io_names(path: Path, n_in: int, n_out: int) -> tuple[list[str], list[str]]:
    from edgekit.artifact import read_sidecar

    io = read_sidecar(path).get("io") or {}
    names_in = [s["name"] for s in io.get("inputs", [])]
    names_out = [s["name"] for s in io.get("outputs", [])]
    if len(names_in) != n_in or len(names_out) != n_out or (n_in == 1 and n_out == 1):
        return [f"input_{i}" for i in range(n_in)], [f"output_{i}" for i in range(n_out)]
    return names_in, names_out


class ExecuTorchRunner:
    runtime = "executorch"
    process_wide_threads = True  # one pool per process: runners of other counts must not interleave

    def __init__(self, path, threads: int = 1, etdump: bool = False):
        if threads < 1:
            raise EdgekitError(f"--threads must be at least 1 (got {threads})")
        self.path = Path(path)
        self.threads = threads
        lib = portable_lib()
        import torch

        self._torch = torch
        self.log: list[str] = []  # the runtime's own lines (cpuinfo probing, threadpool resets)
        self.etdump = etdump
        self.reloads = 0
        try:
            self._load()
            meta = self.module.method_meta("forward")
        except Exception as exc:  # the bindings raise RuntimeError with the runtime's error code
            from edgekit.runtimes.device_bench import error_line

            raise EdgekitError(f"ExecuTorch cannot load {self.path}: {error_line(exc)}") from None
        # A .pte stores no tensor names: the export's IO spec (sidecar, else `<file>.io.json` written
        # beside it during export) names them in the method's order.
        names_in, names_out = _io_names(self.path, meta.num_inputs(), meta.num_outputs())
        self._in = [_spec(names_in[i], meta.input_tensor_meta(i)) for i in range(meta.num_inputs())]
        self._out = [_spec(names_out[i], meta.output_tensor_meta(i)) for i in range(meta.num_outputs())]

    def _load(self) -> None:
        """(Re)load the program on a pool of `threads` threads."""
        lib = portable_lib()
        with captured_native_stderr(self.log):
            self._generation = set_threads(self.threads)
            self.module = None  # the old program goes before the new one is made
            self.module = lib._load_for_executorch(str(self.path), enable_etdump=self.etdump,
                                                   debug_buffer_size=(1 << 24) if self.etdump else 0)

    def inputs(self) -> list[TensorSpec]:
        return list(self._in)

    def outputs(self) -> list[TensorSpec]:
        return list(self._out)

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        if len(arrays) != len(self._in):
            raise EdgekitError(f"{self.path.name} takes {len(self._in)} input(s), got {len(arrays)}")
        tensors = []
        for spec, a in zip(self._in, arrays):
            a = np.ascontiguousarray(a, dtype=spec.dtype)
            if tuple(a.shape) != spec.shape:
                raise EdgekitError(f"input {spec.name} of {self.path.name} has shape {spec.shape}, got {a.shape}")
            tensors.append(self._torch.from_numpy(a))
        if portable_lib()._threadpool_get_thread_count() != self.threads or self._generation != _POOL["generation"]:
            self._load()  # another runner resized the pool: this program's XNNPACK runtime held the old one
            self.reloads += 1
        try:
            outs = self.module.forward(tensors)
        except RuntimeError as exc:  # the runtime's error code (its own log, on stderr, names the kernel)
            raise EdgekitError(f"ExecuTorch failed to run {self.path.name}: {str(exc).strip()[:160]}") from None
        return [o.numpy().copy() for o in outs]

    def write_etdump(self, path) -> None:
        """The event trace of the runs so far (needs `etdump=True`)."""
        self.module.write_etdump_result_to_file(str(path))
