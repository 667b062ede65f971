#!/usr/bin/env python3
"""Latency of one model file on this machine: a self-contained script and the shared timing code.

This file is copied as-is to devices (Raspberry Pi over SSH) and run there with whatever runtime
the device has, so it imports only the standard library, numpy and that runtime — never edgekit:

    python3 device_bench.py MODEL --runtime auto --threads 1 --warmup 10 --runs 100 [--seconds S] --json

It loads the model (init = load + compile), makes deterministic inputs, warms up, times runs with
time.perf_counter_ns and prints ONE JSON object (one line); with `--threads 1,2,4` one such line per
thread count, the counts timed interleaved in one process, each line also carrying
"speedup_vs_1_thread" and "oversubscribed" (more threads than cores; also warned on stderr):

    {"runtime", "runtime_version", "model", "threads", "thread_settings", "warmup", "runs", "seconds", "init_ms",
     "first_run_ms", "latency_ms": {"median","mean","p90","p99","min","max","std","cv"},
     "samples_ms": [...] (at most 1000, evenly strided when there were more runs),
     "peak_rss_mb", "peak_rss_delta_mb", "rss_delta_mb",
     "host": {"machine","system","python","cpu_count","emulated"}, "inputs": [{"name","shape","dtype"}],
     "interpreter": {"executable","python","numpy","runtimes": {dist: version}},
     "emulated": how (e.g. "qemu-aarch64") or null, "latency_note" (only when emulated: not a latency),
     "delegation": {partitions, delegated_ops, default_kernel_ops, ...} (LiteRT: what THIS build delegates)}

`--predict IN.npz OUT.npz` also runs the samples `x` of IN and saves the first output of each as `y`
(with `--runs 0`, only that, printing {"kind": "predict", ...}): how parity and accuracy are measured on
a device (edgekit bench --parity, edgekit eval --ssh).

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
import re
import sys
import time

MAX_SAMPLES = 1000
EXTENSIONS = {".onnx": ("onnxruntime", "openvino"), ".tflite": ("litert",), ".xml": ("openvino",),
              ".pte": ("executorch",)}


class BenchError(Exception):
    """A user mistake (bad file, unknown or missing runtime): one line, exit 2."""


# OpenVINO nests its errors under "Exception from FILE:LINE:" headers; the message proper follows them
# (compile_model of a file the aarch64 plugin refuses: three lines, the last "object is not initialized").
_WHERE = re.compile(r"^Exception from \S+:\d+:?$")


def error_line(exc, extra: str = "") -> str:
    """The one line of a runtime's error worth printing (at most 200 characters): the first line of
    `exc` (and then `extra`, e.g. the runtime's captured log) that is not an OpenVINO location header."""
    lines = [ln.strip() for ln in (str(exc) + "\n" + extra).splitlines() if ln.strip()]
    said = [ln for ln in lines if not _WHERE.match(ln)]
    return (said or lines or [type(exc).__name__])[0][:200]


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
            "cpu_count": os.cpu_count(), "cpus_available": available_cpus(), "node": platform.node(),
            "emulated": emulation()}


EMULATED_NOTE = "emulated (qemu-user): these times say nothing about a device's latency"


def emulation() -> str | None:
    """How this interpreter is emulated, or None on real hardware.

    edgekit's emulated-device wrappers set EDGEKIT_EMULATED; without it, an ARM machine whose
    /proc/cpuinfo reads like an x86 one (qemu-user passes the host's through) is emulated too."""
    mark = os.environ.get("EDGEKIT_EMULATED")
    if mark:
        return mark
    machine = platform.machine().lower()
    if machine.startswith(("aarch64", "arm")):
        try:
            with open("/proc/cpuinfo") as f:
                text = f.read()
        except OSError:
            return None
        if any(line.split(":")[0].strip() in ("vendor_id", "flags") for line in text.splitlines()):
            return f"qemu-user ({machine} on an x86 host)"
        if "qemu" in text.lower():  # edgekit's emulated userland names itself in its /proc/cpuinfo
            return "qemu-user"
    return None


def interpreter_info() -> dict:
    """Which python ran this script and which runtimes (with versions) it can import."""
    import importlib.util

    runtimes = {}
    for dist, module in RUNTIME_DISTS:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            runtimes[dist] = dist_version(dist) or "?"
    return {"executable": sys.executable, "python": platform.python_version(), "numpy": dist_version("numpy"),
            "runtimes": runtimes}


# (distribution, import name) of every runtime this script can drive
RUNTIME_DISTS = (("onnxruntime", "onnxruntime"), ("ai-edge-litert", "ai_edge_litert"),
                 ("tflite-runtime", "tflite_runtime"), ("openvino", "openvino"), ("executorch", "executorch"))


def available_cpus() -> int | None:
    """Cores this process may run on (its affinity mask, e.g. a container's cpuset), else cpu_count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


# --------------------------------------------------------------------------- thread counts


def parse_threads(value) -> list:
    """`--threads` as given: 2, "2" or "1,2,4" -> [2] / [1, 2, 4] (order kept, repeats dropped).
    BenchError (one line) for anything but whole numbers >= 1."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    out = []
    for item in items:
        text = str(item).strip()
        if not text.lstrip("-").isdigit():
            raise BenchError(f"--threads takes a whole number or a comma list like 1,2,4 (got {value!r})")
        if int(text) < 1:
            raise BenchError(f"--threads must be at least 1 (got {value})")
        if int(text) not in out:
            out.append(int(text))
    if not out:
        raise BenchError("--threads is empty")
    return out


def thread_scaling(results) -> list:
    """Per result (in place; returns the list): `speedup_vs_1_thread` = the same file's median at 1
    thread / its median (null without a 1-thread result of that file, runtime and machine), and
    `oversubscribed` = more threads than the machine's usable cores (host cpus_available)."""
    def key(r):
        return (r.get("file") or r.get("model"), r.get("runtime"), r.get("where", "local"))

    base = {key(r): r["latency_ms"]["median"] for r in results if r.get("threads") == 1}
    for r in results:
        one, med = base.get(key(r)), r["latency_ms"]["median"]
        r["speedup_vs_1_thread"] = (one / med) if one and med else None
        host = r.get("host") or {}
        cores = host.get("cpus_available") or host.get("cpu_count")
        r["oversubscribed"] = bool(cores) and r.get("threads", 1) > cores
    return results


def oversubscription_warning(results) -> str | None:
    """One line naming the thread counts above the machine's cores, or None."""
    over = sorted({r["threads"] for r in results if r.get("oversubscribed")})
    if not over:
        return None
    host = (results[0].get("host") or {}) if results else {}
    cores = host.get("cpus_available") or host.get("cpu_count")
    return (f"warning: --threads {','.join(map(str, over))} is more than the {cores} core(s) of this machine; "
            f"those threads share cores, so their timings do not show the scaling of a bigger device")


def interleave(calls, runs: int = 100, seconds: float | None = None, progress=None) -> list:
    """Time several zero-argument callables side by side in interleaved blocks (A x k, B x k, A x k, ...)
    until each has `runs` samples or `seconds` of timing; one list of ms samples per callable.

    Blocks of k = min(10, runs/10) runs keep each model's caches warm within a block while spreading
    background load evenly over all of them. `progress(done, total)` is called per round.
    """
    samples = [[] for _ in calls]
    block = max(1, min(10, runs // 10)) if seconds is None else 5
    if seconds is None:
        total = runs * len(calls)
        while any(len(s) < runs for s in samples):
            for call, s in zip(calls, samples):
                k = min(block, runs - len(s))
                if k > 0:
                    s += timed_runs(call, warmup=0, runs=k)
            if progress:
                progress(sum(len(s) for s in samples), total)
    else:
        spent = [0.0] * len(calls)
        while any(t < seconds * 1e3 for t in spent):
            for i, call in enumerate(calls):
                if spent[i] < seconds * 1e3:
                    new = timed_runs(call, warmup=0, runs=block)
                    samples[i] += new
                    spent[i] += sum(new)
            if progress:
                progress(min(spent) / 1e3, seconds)
    return samples


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


def int_ranges(model_path) -> dict:
    """{input name: (low, high)} of the integer inputs an edgekit export declares (token ids inside the
    model's vocabulary), read from the sidecar `<model>.edgekit.json` next to the file (shipped with it
    to a device); {} without one. Random ids over an int's full range would index outside an
    embedding table (LiteRT: 'Embedding Lookup: index out of bounds')."""
    try:
        with open(str(model_path) + ".edgekit.json") as f:
            io = json.load(f).get("io") or {}
    except (OSError, ValueError):
        return {}
    return {s["name"]: (int(s["range"][0]), int(s["range"][1])) for s in io.get("inputs", [])
            if s.get("range") is not None and str(s.get("dtype", "")).startswith("int")}


def make_inputs(specs, seed: int = 0, ranges: dict | None = None) -> list:
    """Deterministic inputs: standard normal for floats, full range for ints (edgekit's random_inputs, except
    that locally an integer-I/O input with a known scale gets the same normal values quantized); integer
    inputs named in `ranges` (int_ranges) get ids inside their [low, high)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for name, shape, dtype in specs:
        dt = np.dtype(dtype)
        if np.issubdtype(dt, np.floating):
            out.append(rng.standard_normal(shape).astype(dt))
        elif dt == np.bool_:
            out.append(rng.integers(0, 1, size=shape, endpoint=True).astype(dt))
        elif ranges and name in ranges:
            out.append(rng.integers(ranges[name][0], ranges[name][1], size=shape).astype(dt))
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
    opts = ort_session_options(threads)
    sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    specs = [(a.name, tuple(d if isinstance(d, int) else 1 for d in a.shape), types.get(a.type, "float32"))
             for a in sess.get_inputs()]

    def runner(arrays):
        feed = {s[0]: a for s, a in zip(specs, arrays)}
        return lambda: sess.run(None, feed)

    runner.predict = lambda arrays: sess.run(None, {s[0]: a for s, a in zip(specs, arrays)})
    return ort.__version__, specs, runner


def _load_litert(path, threads):
    try:
        from ai_edge_litert.interpreter import Interpreter
        version = dist_version("ai-edge-litert")
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # the older standalone wheel
        version = dist_version("tflite-runtime", "tflite_runtime")
    interp = Interpreter(model_path=path, **litert_options(threads))  # XNNPACK is the default CPU delegate
    interp.allocate_tensors()
    delegation = litert_delegation(interp)
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

    def predict(arrays):
        runner(arrays)()
        return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]

    runner.predict = predict
    runner.delegation = delegation
    return version, specs, runner


def delegate_partitions(ops: list, delegated: list) -> list:
    """Original node indices each DELEGATE node replaced (one set per partition): walk back from the
    DELEGATE node's outputs to its inputs through the original producers."""
    producer = {t: op["index"] for op in ops for t in op["outputs"]}
    partitions = []
    for d in delegated:
        boundary = set(d["inputs"])
        members, seen, stack = set(), set(), list(d["outputs"])
        while stack:
            t = stack.pop()
            if t in seen or t in boundary or t not in producer:
                continue
            seen.add(t)
            node = producer[t]
            if node not in members:
                members.add(node)
                stack.extend(ops[node]["inputs"])
        partitions.append(members)
    return partitions


def litert_delegation(interp) -> dict | None:
    """What THIS runtime build delegates to XNNPACK (its version decides: e.g. which INT8 ops it takes):
    partitions, delegated ops, ops left on the default kernels by type. None when the build does not
    expose its node list. After allocate_tensors the node list is the model's nodes followed by one
    DELEGATE node per partition."""
    raw = getattr(interp, "_interpreter", None)
    try:
        nodes = [{"index": i, "op": raw.NodeName(i), "inputs": [int(t) for t in raw.NodeInputs(i) if t >= 0],
                  "outputs": [int(t) for t in raw.NodeOutputs(i) if t >= 0]} for i in range(raw.NumNodes())]
    except Exception:  # an interpreter without the introspection calls
        return None
    first = next((i for i, n in enumerate(nodes) if n["op"] == "DELEGATE"), len(nodes))
    ops, delegates = nodes[:first], [n for n in nodes[first:] if n["op"] == "DELEGATE"]
    covered = set().union(*delegate_partitions(ops, delegates)) if delegates else set()
    left = {}
    for op in ops:
        if op["index"] not in covered:
            left[op["op"]] = left.get(op["op"], 0) + 1
    return {"delegate": "XNNPACK", "partitions": len(delegates), "delegated_ops": len(covered),
            "default_kernel_ops": len(ops) - len(covered),
            "default_kernel_by_type": dict(sorted(left.items(), key=lambda kv: -kv[1]))}


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

    def predict(arrays):
        request.infer({i: a for i, a in enumerate(arrays)})
        return [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]

    runner.predict = predict
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


# One pool per process, and a reset destroys the pool the programs loaded before it run on (undefined:
# "XNN Runtime invoke failed ... xnn_status_invalid_state", then a segfault): bench_threads times each
# count right after loading it, one count after another, instead of interleaving the counts.
_load_executorch.process_wide_threads = True


# f32 keeps the artifact's own precision: OpenVINO's CPU plugin otherwise computes in bf16 on CPUs
# that have it (AVX512-BF16, AMX), which changes both speed and accuracy behind the user's back.
# Quantized (INT8) IRs still run their int8 kernels under this hint.
OPENVINO_CONFIG = {"NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


def openvino_config(threads: int) -> dict:
    return {**OPENVINO_CONFIG, "INFERENCE_NUM_THREADS": threads}


# What a device user would set for `threads` intra-op threads, per runtime: the runners (edgekit.runtimes.*)
# and this script apply exactly these, and every bench result states them ("thread_settings").
# onnxruntime: one session, ops run in sequence (inter-op 1) each split over `threads` workers. Between ops
# the workers may spin-wait for the next one (session.intra_op.allow_spinning, onnxruntime's default on).
# On: with the machine otherwise idle, as a device is (benchmarks/results/threads.md, "quiet machine": 2
# threads, one session per process), spinning off / on is 1.07 (M0) and 1.16 (M3) for edgekit's ONNX, 1.13 /
# 1.08 for stock. The earlier choice of off came from a machine with 5-20 other processes on 2 cores, where
# spinning workers only take cores from others: on such a host, `OnnxRuntimeRunner(..., spinning=False)`.
ORT_ALLOW_SPINNING = True


def ort_session_config(threads: int, spinning: bool | None = None) -> dict:
    spin = ORT_ALLOW_SPINNING if spinning is None else spinning
    return {"intra_op_num_threads": int(threads), "inter_op_num_threads": 1, "execution_mode": "sequential",
            "session.intra_op.allow_spinning": "1" if spin else "0"}


def ort_session_options(threads: int, spinning: bool | None = None):
    """onnxruntime SessionOptions for `threads` (ort_session_config), all graph optimizations, quiet log."""
    import onnxruntime as ort

    cfg = ort_session_config(threads, spinning)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = cfg["intra_op_num_threads"]
    opts.inter_op_num_threads = cfg["inter_op_num_threads"]
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", cfg["session.intra_op.allow_spinning"])
    return opts


def litert_options(threads: int) -> dict:
    """Interpreter keyword arguments: `threads` for the XNNPACK delegate (LiteRT's default CPU delegate,
    which takes the interpreter's thread count) and for the builtin kernels."""
    return {"num_threads": int(threads)}


def thread_settings(runtime: str, threads: int) -> dict:
    """The runtime's own settings for `threads`, as the runner applies them (stated in bench results)."""
    if runtime == "onnxruntime":
        return ort_session_config(threads)
    if runtime == "openvino":
        return openvino_config(threads)
    if runtime == "litert":
        return {**litert_options(threads), "delegate": "XNNPACK"}
    return {"threads": int(threads)}


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
    return bench_threads(path, runtime, [threads], warmup, runs, seconds, seed)[0]


def bench_threads(path: str, runtime: str = "auto", threads=(1,), warmup: int = 10, runs: int = 100,
                  seconds: float | None = None, seed: int = 0) -> list:
    """`bench_file` at each thread count of `threads`: one loaded model per count, timed interleaved
    (`interleave`) so the speed-ups hold under background load; one JSON object per count, with
    `speedup_vs_1_thread` and `oversubscribed` (thread_scaling)."""
    if not os.path.isfile(path):
        raise BenchError(f"model file not found: {path}")
    name = pick_runtime(path, runtime)
    loader = LOADERS[name][0]
    preimport_runtime(name)  # the runtime's own code is not the model's memory
    sequential = getattr(loader, "process_wide_threads", False)
    loaded, all_samples = [], []
    for n in parse_threads(list(threads)):  # load and warm up one at a time: each memory reading is its own
        mem = MemoryProbe().start()
        t0 = time.perf_counter_ns()
        try:
            version, specs, make_run = loader(path, n)
        except Exception as exc:  # the runtimes raise their own types for corrupt files
            raise BenchError(f"{name} cannot load {path}: {error_line(exc)}") from None
        init_ms = (time.perf_counter_ns() - t0) / 1e6
        run = make_run(make_inputs(specs, seed, int_ranges(path)))
        t0 = time.perf_counter_ns()
        run()
        first_run_ms = (time.perf_counter_ns() - t0) / 1e6
        for _ in range(max(0, warmup)):
            run()
        facts = {"delegation": make_run.delegation} if getattr(make_run, "delegation", None) else {}
        loaded.append((n, version, specs, run, init_ms, first_run_ms, {**mem.result(), **facts}))
        if sequential:  # timed before the next count resets the pool under it
            all_samples += interleave([run], runs, seconds)
    if not sequential:
        all_samples = interleave([item[3] for item in loaded], runs, seconds)
    results = []
    for (n, version, specs, _, init_ms, first_run_ms, mem), samples in zip(loaded, all_samples):
        results.append({
            "runtime": name, "runtime_version": version, "model": os.path.basename(path), "threads": n,
            "thread_settings": thread_settings(name, n), "warmup": warmup, "runs": len(samples),
            "seconds": seconds, "init_ms": init_ms, "first_run_ms": first_run_ms,
            "latency_ms": latency_stats(samples), "samples_ms": capped_samples(samples), **mem,
            "host": host_info(), "inputs": [{"name": n_, "shape": list(s), "dtype": d} for n_, s, d in specs],
            "interleaved_with": 1 if sequential else len(loaded), "interpreter": interpreter_info(),
            **({"threads_note": SEQUENTIAL_NOTE} if sequential and len(loaded) > 1 else {}), **_emulated_fields()})
    return thread_scaling(results)


SEQUENTIAL_NOTE = ("thread counts timed one after another, not interleaved: the runtime has one process-wide "
                   "thread pool")


def _emulated_fields() -> dict:
    """`emulated` (how, or null) and, when emulated, the note that these are not latencies."""
    how = emulation()
    return {"emulated": how, **({"latency_note": EMULATED_NOTE} if how else {})}


def predict_file(path: str, inputs_npz: str, outputs_npz: str, runtime: str = "auto", threads: int = 1) -> dict:
    """Run the model on each sample of `inputs_npz` (array "x": N samples, each shaped and typed like
    the model's only input) and save its first output per sample to `outputs_npz` (array "y").

    This is how edgekit measures parity and accuracy on a device: the host prepares the inputs
    (reference inputs from the sidecar, or preprocessed labeled data) and compares what comes back."""
    import numpy as np

    if not os.path.isfile(path):
        raise BenchError(f"model file not found: {path}")
    name = pick_runtime(path, runtime)
    preimport_runtime(name)
    try:
        version, specs, make_run = LOADERS[name][0](path, threads)
    except Exception as exc:
        raise BenchError(f"{name} cannot load {path}: {error_line(exc)}") from None
    try:
        with np.load(inputs_npz) as data:
            arrays = {k: data[k] for k in data.files}
        x = arrays["x"] if "x" in arrays else None
        names = [str(n) for n in arrays["input_names"]] if x is None else None
    except (OSError, KeyError, ValueError) as exc:
        raise BenchError(f"cannot read the inputs {inputs_npz}: {exc}") from None
    if x is None:  # several inputs: "x:NAME" per input in the model's order; outputs saved as y_0, y_1, ...
        return _predict_several(path, name, version, specs, make_run, arrays, names, outputs_npz)
    if len(specs) != 1:
        raise BenchError(f"{os.path.basename(path)} has {len(specs)} inputs; only single-input models can be "
                         f"checked on the device")
    _, shape, dtype = specs[0]
    if tuple(x.shape[1:]) != tuple(shape) or x.dtype != np.dtype(dtype):
        raise BenchError(f"the inputs are {x.dtype} {tuple(x.shape[1:])} but {os.path.basename(path)} takes "
                         f"{dtype} {tuple(shape)}")
    t0 = time.perf_counter()
    ys = [np.asarray(make_run.predict([np.ascontiguousarray(sample)])[0]) for sample in x]
    np.savez(outputs_npz, y=np.stack(ys) if ys else np.zeros((0,), np.float32))
    return {"kind": "predict", "runtime": name, "runtime_version": version, "model": os.path.basename(path),
            "samples": int(len(x)), "seconds": round(time.perf_counter() - t0, 3), "host": host_info(),
            "emulated": emulation(), "interpreter": interpreter_info()}


def _predict_several(path, name, version, specs, make_run, arrays, names, outputs_npz) -> dict:
    import numpy as np

    if len(names) != len(specs):
        raise BenchError(f"the inputs hold {len(names)} arrays but {os.path.basename(path)} takes {len(specs)}")
    xs = []
    for input_name, (_, shape, dtype) in zip(names, specs):
        x = arrays.get("x:" + input_name)
        if x is None or tuple(x.shape[1:]) != tuple(shape) or x.dtype != np.dtype(dtype):
            got = "missing" if x is None else f"{x.dtype} {tuple(x.shape[1:])}"
            raise BenchError(f"input {input_name}: {got}, but {os.path.basename(path)} takes {dtype} {tuple(shape)}")
        xs.append(x)
    n = len(xs[0])
    t0 = time.perf_counter()
    outs = [[np.asarray(o) for o in make_run.predict([np.ascontiguousarray(x[i]) for x in xs])] for i in range(n)]
    n_out = len(outs[0]) if outs else 0
    np.savez(outputs_npz, **{f"y_{j}": np.stack([o[j] for o in outs]) for j in range(n_out)})
    return {"kind": "predict", "runtime": name, "runtime_version": version, "model": os.path.basename(path),
            "samples": int(n), "seconds": round(time.perf_counter() - t0, 3), "host": host_info(),
            "emulated": emulation(), "interpreter": interpreter_info()}


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
    return ((f"EMULATED ({r['emulated']}), not latencies: " if r.get("emulated") else "") + f"{r['model']} on {r['runtime']} {r['runtime_version']} ({r['threads']} thread(s), {r['runs']} runs): "
            f"median {s['median']:.3f} ms, p90 {s['p90']:.3f}, p99 {s['p99']:.3f}, min {s['min']:.3f}, "
            f"cv {100 * s['cv']:.1f}%, init {r['init_ms']:.1f} ms, peak RSS {r['peak_rss_mb']} MB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="device_bench.py", description="Time one model file with the local runtime.")
    ap.add_argument("model")
    ap.add_argument("--runtime", default="auto", help="auto | onnxruntime | litert | openvino | executorch")
    ap.add_argument("--threads", default="1", help="intra-op threads: N, or a comma list 1,2,4 (one result each)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=None, help="time for this long instead of --runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object (default: one summary line)")
    ap.add_argument("--predict", nargs=2, metavar=("IN_NPZ", "OUT_NPZ"),
                    help="also run the samples x of IN_NPZ and save the outputs y to OUT_NPZ (with --runs 0: only this)")
    args = ap.parse_args(argv)
    if args.predict and args.runs == 0:
        try:
            result = predict_file(args.model, *args.predict, runtime=args.runtime,
                                  threads=parse_threads(args.threads)[0])
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(result))
        return 0
    if args.runs < 1 or args.warmup < 0 or (args.seconds is not None and args.seconds <= 0):
        print("error: --runs must be >= 1, --warmup >= 0, --seconds > 0", file=sys.stderr)
        return 2
    try:
        threads = parse_threads(args.threads)
        results = bench_threads(args.model, args.runtime, threads, args.warmup, args.runs, args.seconds, args.seed)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    warning = oversubscription_warning(results)
    if warning:
        print(warning, file=sys.stderr)
    for result in results:  # one JSON object (one line) per thread count
        print(json.dumps(result) if args.json else _summary(result))
    if args.predict:
        try:
            result = predict_file(args.model, *args.predict, runtime=args.runtime, threads=results[0]["threads"])
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
