#!/usr/bin/env python3
"""Latency of one model file on this machine: a self-contained script and the shared timing code.

This file is copied as-is to devices (Raspberry Pi over SSH) and run there with whatever runtime
the device has, so it imports only the standard library, numpy and that runtime — never edgekit:

    python3 device_bench.py MODEL --runtime auto --threads 1 --warmup 10 --runs 100 [--seconds S] --json

It loads the model (init = load + compile), makes deterministic inputs, warms up, times runs with
time.perf_counter_ns and prints ONE JSON object:

    {"runtime", "runtime_version", "model", "threads", "warmup", "runs", "seconds", "init_ms",
     "first_run_ms", "latency_ms": {"median","mean","p90","p99","min","max","std","cv"},
     "samples_ms": [...] (at most 1000, evenly strided when there were more runs),
     "peak_rss_mb", "peak_rss_delta_mb", "rss_delta_mb",
     "host": {"machine","system","python","cpu_count"}, "inputs": [{"name","shape","dtype"}]}

`edgekit bench` imports `latency_stats`, `timed_runs`, `host_info` and `MemoryProbe` from here, so
local and remote numbers come from the same code. Exit code 2 and one line on stderr for a bad
file, an unknown or missing runtime.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

MAX_SAMPLES = 1000
EXTENSIONS = {".onnx": ("onnxruntime", "openvino"), ".tflite": ("litert",), ".xml": ("openvino",),
              ".pte": ("executorch",)}


class BenchError(Exception):
    """A user mistake (bad file, unknown or missing runtime): one line, exit 2."""


# --------------------------------------------------------------------------- statistics


def latency_stats(samples_ms) -> dict:
    """median, mean, p90, p99, min, max, std (population) and cv (std/mean) of latencies in ms.

    Percentiles interpolate linearly between order statistics (numpy's default), so p90 of
    [1..10] is 9.1. An empty list is an error: a benchmark that ran nothing has no latency.
    """
    xs = sorted(float(x) for x in samples_ms)
    if not xs:
        raise ValueError("latency_stats needs at least one sample")
    n = len(xs)
    mean = math.fsum(xs) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / n)
    return {"median": _percentile(xs, 50), "mean": mean, "p90": _percentile(xs, 90), "p99": _percentile(xs, 99),
            "min": xs[0], "max": xs[-1], "std": std, "cv": (std / mean) if mean > 0 else 0.0}


def _percentile(sorted_xs, q: float) -> float:
    pos = (len(sorted_xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def capped_samples(samples_ms, cap: int = MAX_SAMPLES) -> list:
    """At most `cap` samples, evenly strided over the run so drift over time stays visible."""
    xs = list(samples_ms)
    if len(xs) <= cap:
        return xs
    step = len(xs) / cap
    return [xs[int(i * step)] for i in range(cap)]


def timed_runs(run, warmup: int = 10, runs: int = 100, seconds: float | None = None,
               max_runs: int = 1_000_000) -> list:
    """Call `run()` `warmup` times untimed, then time it; latencies in ms.

    With `seconds`, runs until that much wall time has been spent timing (at least one run,
    at most `max_runs`); otherwise exactly `runs` times.
    """
    for _ in range(max(0, warmup)):
        run()
    samples = []
    clock = time.perf_counter_ns
    if seconds is not None:
        deadline = clock() + int(seconds * 1e9)
        while len(samples) < max_runs:
            t0 = clock()
            run()
            t1 = clock()
            samples.append((t1 - t0) / 1e6)
            if t1 >= deadline:
                break
    else:
        for _ in range(max(1, runs)):
            t0 = clock()
            run()
            samples.append((clock() - t0) / 1e6)
    return samples


# --------------------------------------------------------------------------- host and memory


def host_info() -> dict:
    return {"machine": platform.machine(), "system": platform.system(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "node": platform.node()}


def _maxrss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _current_rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class MemoryProbe:
    """Resident memory before loading a model and after running it.

    peak_rss_mb is the process's high-water mark (getrusage maxrss); peak_rss_delta_mb its rise
    since `start()` — exact in a fresh process (the device script), but 0 when an earlier model in
    the same process had already pushed the mark higher. rss_delta_mb (Linux /proc) is the rise in
    current RSS, which stays meaningful when several models are benchmarked in one process.
    """

    def start(self) -> "MemoryProbe":
        self.peak0 = _maxrss_mb()
        self.rss0 = _current_rss_mb()
        return self

    def result(self) -> dict:
        peak = _maxrss_mb()
        rss = _current_rss_mb()
        return {"peak_rss_mb": _round(peak), "peak_rss_delta_mb": _round(_sub(peak, self.peak0)),
                "rss_delta_mb": _round(_sub(rss, self.rss0))}


def _sub(a, b):
    return None if a is None or b is None else max(0.0, a - b)


def _round(x, nd: int = 3):
    return None if x is None else round(x, nd)


# --------------------------------------------------------------------------- runtimes


def make_inputs(specs, seed: int = 0) -> list:
    """Deterministic inputs: standard normal for floats, full range for ints (edgekit's random_inputs, except
    that locally an integer-I/O input with a known scale gets the same normal values quantized)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _, shape, dtype in specs:
        dt = np.dtype(dtype)
        if np.issubdtype(dt, np.floating):
            out.append(rng.standard_normal(shape).astype(dt))
        elif dt == np.bool_:
            out.append(rng.integers(0, 1, size=shape, endpoint=True).astype(dt))
        else:
            info = np.iinfo(dt)
            out.append(rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dt))
    return out


def dist_version(*names) -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:
        return None
    for n in names:
        try:
            return version(n)
        except PackageNotFoundError:
            continue
    return None


def _load_onnxruntime(path, threads):
    import onnxruntime as ort

    types = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
             "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool", "tensor(double)": "float64"}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    specs = [(a.name, tuple(d if isinstance(d, int) else 1 for d in a.shape), types.get(a.type, "float32"))
             for a in sess.get_inputs()]

    def runner(arrays):
        feed = {s[0]: a for s, a in zip(specs, arrays)}
        return lambda: sess.run(None, feed)

    return ort.__version__, specs, runner


def _load_litert(path, threads):
    try:
        from ai_edge_litert.interpreter import Interpreter
        version = dist_version("ai-edge-litert")
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # the older standalone wheel
        version = dist_version("tflite-runtime", "tflite_runtime")
    interp = Interpreter(model_path=path, num_threads=threads)  # XNNPACK is the default CPU delegate
    interp.allocate_tensors()
    details = interp.get_input_details()
    specs = [(d["name"], tuple(int(x) for x in d["shape"]), d["dtype"].__name__ if hasattr(d["dtype"], "__name__")
              else str(d["dtype"])) for d in details]

    def runner(arrays):
        idx = [d["index"] for d in details]

        def run():
            for i, a in zip(idx, arrays):
                interp.set_tensor(i, a)
            interp.invoke()

        return run

    return version, specs, runner


def _load_openvino(path, threads):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(path)
    compiled = core.compile_model(model, "CPU", openvino_config(threads))
    request = compiled.create_infer_request()
    specs = []
    for i, port in enumerate(compiled.inputs):
        shape = tuple(d.get_length() if d.is_static else 1 for d in port.get_partial_shape())
        name = port.get_any_name() if port.get_names() else f"input_{i}"
        specs.append((name, shape, port.get_element_type().to_dtype().name))

    def runner(arrays):
        feed = {i: a for i, a in enumerate(arrays)}
        return lambda: request.infer(feed)

    return ov.get_version().split("-")[0], specs, runner


def _load_executorch(path, threads):
    """A .pte on executorch's Python runtime. Its pip bindings link libtorch, so this imports torch."""
    import numpy as np
    from executorch.extension.pybindings import portable_lib as lib
    import torch

    if lib._threadpool_get_thread_count() != threads:  # one process-wide pool (XNNPACK's), all cores by default
        lib._unsafe_reset_threadpool(int(threads))
    module = lib._load_for_executorch(path)
    meta = module.method_meta("forward")
    dtypes = {"ScalarType.Float": "float32", "ScalarType.Half": "float16", "ScalarType.Char": "int8",
              "ScalarType.Byte": "uint8", "ScalarType.Int": "int32", "ScalarType.Long": "int64"}
    specs = []
    for i in range(meta.num_inputs()):
        info = meta.input_tensor_meta(i)
        specs.append((f"input_{i}", tuple(int(d) for d in info.sizes()), dtypes.get(str(info.dtype()), "float32")))

    def runner(arrays):
        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
        return lambda: module.forward(tensors)

    runner.predict = lambda arrays: [o.numpy() for o in runner(arrays)()]
    return dist_version("executorch"), specs, runner


# f32 keeps the artifact's own precision: OpenVINO's CPU plugin otherwise computes in bf16 on CPUs
# that have it (AVX512-BF16, AMX), which changes both speed and accuracy behind the user's back.
# Quantized (INT8) IRs still run their int8 kernels under this hint.
OPENVINO_CONFIG = {"NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


def openvino_config(threads: int) -> dict:
    return {**OPENVINO_CONFIG, "INFERENCE_NUM_THREADS": threads}


LOADERS = {"onnxruntime": (_load_onnxruntime, "onnxruntime"), "litert": (_load_litert, "ai_edge_litert"),
           "openvino": (_load_openvino, "openvino"),
           "executorch": (_load_executorch, "executorch.extension.pybindings.portable_lib")}  # imports torch


def _installed(runtime: str) -> bool:
    import importlib.util

    mods = ("ai_edge_litert", "tflite_runtime") if runtime == "litert" else (LOADERS[runtime][1],)
    for m in mods:
        try:
            if importlib.util.find_spec(m) is not None:
                return True
        except (ImportError, ValueError):  # a broken or blocked install counts as absent
            continue
    return False


def pick_runtime(path: str, runtime: str = "auto") -> str:
    ext = os.path.splitext(path)[1].lower()
    if runtime != "auto":
        if runtime not in LOADERS:
            raise BenchError(f"unknown runtime {runtime!r}; choose from auto, {', '.join(LOADERS)}")
        if ext not in EXTENSIONS or runtime not in EXTENSIONS[ext]:
            raise BenchError(f"{runtime} cannot open {ext or 'extension-less'} files")
        if not _installed(runtime):
            raise BenchError(f"runtime {runtime} is not installed on this machine")
        return runtime
    if ext not in EXTENSIONS:
        raise BenchError(f"cannot tell the runtime of {path} (expected .onnx, .tflite, .xml or .pte)")
    for name in EXTENSIONS[ext]:
        if _installed(name):
            return name
    raise BenchError(f"no runtime for {ext} files is installed on this machine (need {' or '.join(EXTENSIONS[ext])})")


def bench_file(path: str, runtime: str = "auto", threads: int = 1, warmup: int = 10, runs: int = 100,
               seconds: float | None = None, seed: int = 0) -> dict:
    """Load, warm up and time one model file; the JSON object the script prints."""
    if not os.path.isfile(path):
        raise BenchError(f"model file not found: {path}")
    name = pick_runtime(path, runtime)
    loader = LOADERS[name][0]
    preimport_runtime(name)  # the runtime's own code is not the model's memory

    mem = MemoryProbe().start()
    t0 = time.perf_counter_ns()
    try:
        version, specs, make_run = loader(path, threads)
    except Exception as exc:  # the runtimes raise their own types for corrupt files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise BenchError(f"{name} cannot load {path}: {first}") from None
    init_ms = (time.perf_counter_ns() - t0) / 1e6
    run = make_run(make_inputs(specs, seed))
    t0 = time.perf_counter_ns()
    run()
    first_run_ms = (time.perf_counter_ns() - t0) / 1e6
    samples = timed_runs(run, warmup=warmup, runs=runs, seconds=seconds)
    return {"runtime": name, "runtime_version": version, "model": os.path.basename(path), "threads": threads,
            "warmup": warmup, "runs": len(samples), "seconds": seconds, "init_ms": init_ms,
            "first_run_ms": first_run_ms, "latency_ms": latency_stats(samples), "samples_ms": capped_samples(samples),
            **mem.result(), "host": host_info(),
            "inputs": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in specs]}


def preimport_runtime(runtime: str) -> None:
    import importlib

    import numpy  # noqa: F401

    if runtime == "litert":
        try:
            importlib.import_module("ai_edge_litert.interpreter")
        except ImportError:
            importlib.import_module("tflite_runtime.interpreter")
    else:
        importlib.import_module(LOADERS[runtime][1])


def _summary(r: dict) -> str:
    s = r["latency_ms"]
    return (f"{r['model']} on {r['runtime']} {r['runtime_version']} ({r['threads']} thread(s), {r['runs']} runs): "
            f"median {s['median']:.3f} ms, p90 {s['p90']:.3f}, p99 {s['p99']:.3f}, min {s['min']:.3f}, "
            f"cv {100 * s['cv']:.1f}%, init {r['init_ms']:.1f} ms, peak RSS {r['peak_rss_mb']} MB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="device_bench.py", description="Time one model file with the local runtime.")
    ap.add_argument("model")
    ap.add_argument("--runtime", default="auto", help="auto | onnxruntime | litert | openvino | executorch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=None, help="time for this long instead of --runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object (default: one summary line)")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.runs < 1 or args.warmup < 0 or (args.seconds is not None and args.seconds <= 0):
        print("error: --threads and --runs must be >= 1, --warmup >= 0, --seconds > 0", file=sys.stderr)
        return 2
    try:
        result = bench_file(args.model, args.runtime, args.threads, args.warmup, args.runs, args.seconds, args.seed)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else _summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
