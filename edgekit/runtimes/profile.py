"""Per-op latency from each runtime's own profiler, grouped by op type.

- onnxruntime: `SessionOptions.enable_profiling`; the JSON trace's "Node" events (kernel time of
  each node as executed, i.e. after graph fusions) are attributed to the "model_run" they fall in.
- OpenVINO: `PERF_COUNT` on the compiled model; `InferRequest.profiling_info` (layer type, kernel
  implementation, real time). The CPU plugin reports running means since compilation, so a node's
  time is the mean over the profiled runs with the warmup's share taken out. OpenVINO also reads
  .tflite and .onnx directly.
- LiteRT: not available from Python. Checked in ai-edge-litert 2.3.0: the Interpreter has no
  profiler hook (`experimental_force_delegate_node_profiling` only matters to a C++ profiler), and
  the Python CompiledModel wrapper exposes none either; libLiteRt.so does export a CompiledModel
  profiler C API (LiteRtCompiledModelGetProfiler / LiteRtGetProfilerEvents), but switching it on
  needs runtime options the library does not export. So `profile_file` raises a one-line error
  naming the alternatives: OpenVINO's counters on the same .tflite graph (`--runtime openvino`,
  other kernels), or TFLite's `benchmark_model --enable_op_profiling=true` on the device.
  Delegate coverage (which ops XNNPACK takes) is measured by `edgekit inspect`.

Result schema (`edgekit profile --json`):
  kind "profile", file, name, runtime, runtime_version, threads, warmup, runs,
  latency_ms {median,...} of the profiled runs (wall clock, profiler on),
  op_total_ms   sum of the per-node times (what the profiler accounts for in one run),
  wall_stat     "median" (onnxruntime: per-node medians) or "mean" (OpenVINO: its counters are
                means), wall_ms: that statistic of the wall clock, the like-for-like comparison
                for op_total_ms (the rest is runtime overhead between ops),
  ops   [{op, nodes, ms, pct, kernels}]  by op type, slowest first; a node's ms is its median
        over the profiled runs, an op type's the sum over its nodes,
        pct = share of op_total_ms
  nodes [{name, op, ms, pct, kernel}]    slowest individual nodes
  host {...}
No torch.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.runtimes import device_bench as db

PROFILERS = {"onnxruntime": (".onnx",), "openvino": (".xml", ".onnx", ".tflite"), "litert": (".tflite",),
             "executorch": (".pte",)}
DEFAULT_RUNTIME = {".onnx": "onnxruntime", ".tflite": "litert", ".xml": "openvino", ".pte": "executorch"}

LITERT_UNAVAILABLE = ("LiteRT per-op profiling is not exposed by the ai-edge-litert Python Interpreter; "
                      "use `--runtime openvino` for a per-op view of this .tflite graph, or TFLite's "
                      "benchmark_model --enable_op_profiling=true on the device")


def _pick(path: Path, runtime: str) -> str:
    suffix = path.suffix.lower()
    if runtime == "auto":
        if suffix not in DEFAULT_RUNTIME:
            raise EdgekitError(f"cannot tell the runtime of {path} (expected .onnx, .tflite, .xml or .pte); pass --runtime")
        return DEFAULT_RUNTIME[suffix]
    if runtime not in PROFILERS:
        from edgekit.errors import did_you_mean

        raise EdgekitError(f"unknown runtime {runtime!r}{did_you_mean(runtime, PROFILERS)}; "
                           f"choose from auto, {', '.join(PROFILERS)}")
    if suffix not in PROFILERS[runtime]:
        raise EdgekitError(f"{runtime} cannot profile {suffix or 'extension-less'} files "
                           f"(it reads {', '.join(PROFILERS[runtime])})")
    return runtime


def profile_file(path, runtime: str = "auto", threads: int = 1, warmup: int = 5, runs: int = 20,
                 top: int = 10) -> dict:
    """Profile `path` for `runs` inferences after `warmup`; the dict described in the module docstring."""
    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"model file not found: {p}")
    if threads < 1 or runs < 1 or warmup < 0 or top < 1:
        raise EdgekitError("--threads, --runs and --top must be at least 1, --warmup 0 or more")
    name = _pick(p, runtime)
    if name == "litert":
        raise EdgekitError(LITERT_UNAVAILABLE)
    try:
        db.preimport_runtime(name)
    except ImportError as exc:
        raise EdgekitError(f"runtime {name} is not installed ({exc.name} missing): pip install 'edgekit[{name}]'") \
            from None
    fn = {"onnxruntime": _profile_onnxruntime, "openvino": _profile_openvino}.get(name)
    if name == "executorch":  # ETDump events of the XNNPACK kernels (edgekit.runtimes.executorch_profile)
        from edgekit.runtimes.executorch_profile import profile_executorch as fn
    samples, per_run = fn(p, threads, warmup, runs)
    result = summarize(p, name, threads, warmup, samples, per_run, top)
    stat = "mean" if name == "openvino" else "median"
    result.update(wall_stat=stat, wall_ms=result["latency_ms"][stat])
    return result



def summarize(path: Path, runtime: str, threads: int, warmup: int, samples: list[float],
              per_run: list[list[tuple[str, str, str, float]]], top: int) -> dict:
    """Group node times (name, op type, kernel, ms) of each profiled run (or of one mean run) by op type;
    `samples` are the wall-clock latencies of the same runs."""
    from edgekit import __version__
    from edgekit.runtimes.bench import RUNTIME_DISTS

    # per node, the median over the profiled runs: one preempted run on a shared machine must not
    # inflate an op (a node missing from a run counts as 0 there)
    runs: list[dict[tuple[str, str], float]] = []
    kernels: dict[tuple[str, str], str] = {}
    for run in per_run:
        this: dict[tuple[str, str], float] = defaultdict(float)
        for node, op, kernel, ms in run:
            this[(node, op)] += ms
            kernels[(node, op)] = kernel
        runs.append(this)
    node_ms = {k: _median([r.get(k, 0.0) for r in runs]) for k in kernels}
    total = sum(node_ms.values())
    by_op: dict[str, dict] = {}
    for (node, op), ms in node_ms.items():
        entry = by_op.setdefault(op, {"op": op, "nodes": 0, "ms": 0.0, "kernels": set()})
        entry["nodes"] += 1
        entry["ms"] += ms
        if kernels[(node, op)]:
            entry["kernels"].add(kernels[(node, op)])
    ops = sorted(by_op.values(), key=lambda e: -e["ms"])
    for e in ops:
        e["pct"] = 100.0 * e["ms"] / total if total else 0.0
        e["kernels"] = sorted(e["kernels"])
    nodes = sorted(({"name": node, "op": op, "ms": ms, "pct": 100.0 * ms / total if total else 0.0,
                     "kernel": kernels[(node, op)]} for (node, op), ms in node_ms.items()), key=lambda e: -e["ms"])
    return {"kind": "profile", "schema": 1, "file": str(path), "name": path.name, "runtime": runtime,
            "runtime_version": db.dist_version(*RUNTIME_DISTS[runtime]), "threads": threads, "warmup": warmup,
            "runs": len(samples), "latency_ms": db.latency_stats(samples), "op_total_ms": total,
            "ops_total": len(ops), "ops": ops[:top], "nodes": nodes[:top], "host": db.host_info(),
            "edgekit_version": __version__}


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _profile_onnxruntime(path: Path, threads: int, warmup: int, runs: int):
    import onnxruntime as ort

    from edgekit.runtimes.base import input_ranges, random_inputs
    from edgekit.runtimes.onnxruntime_runner import OnnxRuntimeRunner

    with tempfile.TemporaryDirectory(prefix="edgekit-profile-") as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        try:
            sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EdgekitError(f"onnxruntime cannot load {path}: {db.error_line(exc)}") from None
        specs = [OnnxRuntimeRunner._spec(a) for a in sess.get_inputs()]
        feed = {s.name: a for s, a in zip(specs, random_inputs(specs, ranges=input_ranges(path)))}
        samples = []
        for i in range(warmup + runs):
            t0 = time.perf_counter_ns()
            sess.run(None, feed)
            if i >= warmup:
                samples.append((time.perf_counter_ns() - t0) / 1e6)
        trace = json.loads(Path(sess.end_profiling()).read_text())
    return samples, parse_ort_trace(trace, skip=warmup)


def parse_ort_trace(events: list[dict], skip: int = 0) -> list[list[tuple[str, str, str, float]]]:
    """Per model_run (after the first `skip`): [(node name, op type, provider, ms)] from the trace."""
    run_spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                       if e.get("cat") == "Session" and e.get("name") == "model_run")[skip:]
    per_run: list[list] = [[] for _ in run_spans]
    starts = [s for s, _ in run_spans]
    import bisect

    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        i = bisect.bisect_right(starts, e["ts"]) - 1
        if i < 0 or e["ts"] > run_spans[i][1]:
            continue  # a warmup run's node
        args = e.get("args", {})
        node = e["name"][: -len("_kernel_time")]
        per_run[i].append((node, args.get("op_name", "?"), args.get("provider", ""), e["dur"] / 1e3))
    return per_run


def _profile_openvino(path: Path, threads: int, warmup: int, runs: int):
    import openvino as ov

    from edgekit.runtimes.base import TensorSpec, input_ranges, random_inputs

    core = ov.Core()
    try:
        model = core.read_model(str(path))
        compiled = core.compile_model(model, "CPU", {**db.openvino_config(threads), "PERF_COUNT": True})
    except Exception as exc:
        raise EdgekitError(f"openvino cannot load {path}: {db.error_line(exc)}") from None
    request = compiled.create_infer_request()
    specs = [TensorSpec(port.get_any_name() if port.get_names() else f"in{i}",
                        tuple(d.get_length() if d.is_static else 1 for d in port.get_partial_shape()),
                        port.get_element_type().to_dtype().name) for i, port in enumerate(compiled.inputs)]
    feed = dict(enumerate(random_inputs(specs, ranges=input_ranges(path))))

    def counters() -> dict[tuple[str, str, str], float]:
        return {(i.node_name, i.node_type, i.exec_type): i.real_time.total_seconds() * 1e3
                for i in request.profiling_info if i.status == i.Status.EXECUTED}

    # The CPU plugin reports each node's running MEAN over every inference since compilation, so
    # the profiled runs' mean is recovered from the two running means: (m_t·n_t − m_w·n_w) / runs.
    for _ in range(warmup):
        request.infer(feed)
    before = counters() if warmup else {}
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        request.infer(feed)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    after = counters()
    total = warmup + runs
    mean_run = [(node, op, kernel, max(0.0, (ms * total - before.get((node, op, kernel), 0.0) * warmup) / runs))
                for (node, op, kernel), ms in after.items()]
    return samples, [mean_run]
