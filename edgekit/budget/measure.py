"""Latency of several artifacts timed side by side in one process, for the budget check.

Each artifact keeps its own runtime (a budget may compare an ONNX Runtime file with a LiteRT one),
so this opens one Runner per artifact and interleaves them itself: all are loaded and warmed up,
then timed in blocks of `block` runs, round-robin, until each has `runs` samples. Background load
on a shared CI machine then hits every artifact alike and the ratio of medians stays meaningful
even when the absolute numbers drift. Timing and statistics are device_bench's, like `edgekit bench`.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from edgekit.runtimes import device_bench as db


def interleaved_latency(items: list[tuple], threads: int = 1, warmup: int = 10, runs: int = 100,
                        block: int = 10, progress=None) -> dict[str, dict]:
    """{name: bench dict} for (name, file, runtime) or (name, file, runtime, threads) items, timed
    interleaved in one process; an item without its own thread count gets `threads`."""
    from edgekit.runtimes.base import input_ranges, open_runner, random_inputs
    from edgekit.runtimes.bench import add_artifact_metadata

    loaded = []
    for name, path, runtime, *own in items:
        t0 = db.time.perf_counter_ns()
        runner = open_runner(path, runtime, own[0] if own else threads)
        init_ms = (db.time.perf_counter_ns() - t0) / 1e6
        specs = runner.inputs()
        arrays = random_inputs(specs, ranges=input_ranges(path))

        def call(runner=runner, arrays=arrays):
            runner.run(*arrays)

        for _ in range(max(0, warmup)):
            call()
        loaded.append((name, path, runner, specs, call, init_ms, []))

    total = runs * len(loaded)
    while any(len(samples) < runs for *_, samples in loaded):
        for *_, call, _init, samples in loaded:
            k = min(block, runs - len(samples))
            if k > 0:
                samples += db.timed_runs(call, warmup=0, runs=k)
        if progress:
            progress(sum(len(s) for *_, s in loaded), total)

    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    out = {}
    for name, path, runner, specs, _call, init_ms, samples in loaded:
        result = {"kind": "bench", "schema": 1, "where": "local", "budget_name": name, "runtime": runner.runtime,
                  "runtime_version": db.dist_version(*_DISTS.get(runner.runtime, ())), "threads": runner.threads,
                  "thread_settings": db.thread_settings(runner.runtime, runner.threads), "warmup": warmup, "runs": len(samples), "seconds": None, "init_ms": init_ms,
                  "latency_ms": db.latency_stats(samples), "samples_ms": db.capped_samples(samples),
                  "host": db.host_info(),
                  "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in specs],
                  "interleaved_with": len(loaded), "timestamp": now}
        out[name] = add_artifact_metadata(result, path)
    return out


_DISTS = {"onnxruntime": ("onnxruntime",), "litert": ("ai-edge-litert", "tflite-runtime"), "openvino": ("openvino",)}
