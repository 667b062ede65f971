"""Latency of exported artifacts on this machine (or a device), with what they cost in MAdds.

`benchmark(path)` times one file; `benchmark_files(paths)` times several side by side in one
process, interleaved in blocks so that background load on a shared machine hits them alike and
their ratio is meaningful. Timing, statistics and memory come from `device_bench` — the very
script that runs on a Raspberry Pi — so local and remote numbers are computed the same way.
No torch.

Result schema (one dict per artifact; `edgekit bench --json` prints a list of them, and
`edgekit report` / `edgekit check` read them back). Keys always present unless marked "or null":

  kind               "bench"
  schema             1
  file               path as given; name: its file name
  where              "local" | "ssh://user@host[:port]" | "adb[:SERIAL]"
  runtime            "onnxruntime" | "litert" | "openvino";  runtime_version (or null)
  threads, warmup    as asked (one result per thread count of a --threads list);  runs: timed runs
                     actually made;  seconds: --seconds or null
  thread_settings    the runtime's own settings for `threads`, as applied (device_bench.thread_settings:
                     onnxruntime intra_op_num_threads / inter_op_num_threads 1 / allow_spinning,
                     OpenVINO INFERENCE_NUM_THREADS + PERFORMANCE_HINT LATENCY + NUM_STREAMS 1,
                     LiteRT num_threads for XNNPACK)
  speedup_vs_1_thread  the same file's 1-thread median / this median (null without a 1-thread result)
  oversubscribed     threads > the machine's usable cores (host cpus_available); also warned
  init_ms            load + compile (runner construction)
  first_run_ms       the first inference after init (cold caches, lazy allocation)
  latency_ms         {median, mean, p90, p99, min, max, std, cv}   (cv = std / mean)
  samples_ms         per-run latencies, at most 1000 (evenly strided)
  peak_rss_mb        process high-water mark (getrusage);  peak_rss_delta_mb: its rise over the
                     pre-load baseline (0 if an earlier model already set the mark);
                     rss_delta_mb: rise of current RSS over load + runs (Linux, or null)
  size_bytes         all files of the artifact (.xml + .bin together);  files: their names
  model, precision, target   from the sidecar (or null)
  madds              the model's multiply-adds (sidecar total_madds, else the graph's), or null
  graph_madds        multiply-adds counted in the exported graph (sidecar or graph), or null
  madds_source       "sidecar" | "graph" | null
  madds_target       the model card's published MAdds target (e.g. 4e6 for MicroNet-M0), or null
  madds_ratio_to_target   madds / madds_target, or null
  us_per_mmadd       median latency in µs per million MAdds, or null
  host               {machine, system, python, cpu_count, node}
  inputs             [{name, shape, dtype}]
  interleaved_with   how many files were timed together in this run (1 = alone)
  edgekit_version, timestamp (UTC ISO 8601)

Remote hooks (implemented in edgekit/runtimes/remote/ by their owner; same result schema, with
`where` set and host describing the device):

  edgekit.runtimes.remote.ssh.bench_over_ssh(target: str, files: list[Path], runtime: str,
      threads: int | list[int], warmup: int, runs: int, seconds: float | None, key: str | None) -> list[dict]
      (a list: one result per thread count, device_bench.py --threads 1,2,4 on the device)
      target is "user@host[:port]"; the device runs device_bench.py (this package's copy).
  edgekit.runtimes.remote.adb.bench_over_adb(serial: str | None, files: list[Path], threads: int,
      warmup: int, runs: int, seconds: float | None, benchmark_model: str | None, *,
      executor_runner: str | None) -> list[dict]
      serial None = the only device attached; .tflite files run with TFLite's benchmark_model, .pte
      files with ExecuTorch's executor_runner, each at a path on the device (None = the module's
      default).
Both raise EdgekitError for an unreachable device, failed auth or a runtime missing there.
`add_artifact_metadata(result, path)` fills the artifact keys for a remote result from the
local file and its sidecar.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from edgekit.artifact import read_sidecar
from edgekit.errors import EdgekitError
from edgekit.runtimes import device_bench as db

SCHEMA = 1
RUNTIME_DISTS = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
                 "litert": ("ai-edge-litert", "tflite-runtime"), "openvino": ("openvino",),
                 "executorch": ("executorch",)}


def artifact_files(path) -> list[Path]:
    """Every file the artifact consists of: the model, plus the .bin weights of an OpenVINO .xml."""
    p = Path(path)
    files = [p]
    if p.suffix.lower() == ".xml":
        weights = p.with_suffix(".bin")
        if weights.is_file():
            files.append(weights)
    return files


def graph_madds(path) -> int | None:
    """Multiply-adds counted in the exported graph itself (conv + linear, the published convention),
    or None when the format's counter (or the library it reads the graph with) is not installed."""
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".onnx":
            from edgekit.analysis.graph_madds import graph_madds as count

            return int(count(path).total)
        if suffix == ".tflite":
            from edgekit.analysis.census_tflite import op_list, op_madds
            from edgekit.runtimes.litert_runner import make_interpreter

            interp = make_interpreter(path, 1, xnnpack=False)
            return int(sum(op_madds(interp, op) for op in op_list(interp)))
        if suffix == ".xml":
            from edgekit.analysis import census_openvino

            count = getattr(census_openvino, "graph_madds", None)
            value = count(path) if count else census_openvino.census(path).get("graph_madds")
            return None if value is None else int(getattr(value, "total", value))
    except ImportError:
        return None
    except Exception:  # a graph the counter cannot read must not stop a benchmark: MAdds stay unknown
        return None
    return None


def add_artifact_metadata(result: dict, path) -> dict:
    """Size, model/precision/target and MAdds for `path` into `result` (in place); returns it."""
    p = Path(path)
    files = artifact_files(p)
    meta = read_sidecar(p)
    card = meta.get("card") or {}
    madds_meta = meta.get("madds") or {}
    madds = madds_meta.get("total_madds")
    gmadds = madds_meta.get("graph_madds")
    source = "sidecar" if madds else None
    if madds is None:
        gmadds = gmadds if gmadds is not None else graph_madds(p)
        madds = gmadds
        source = "graph" if madds else None
    target = card.get("madds_target") or meta.get("madds_target")
    median = (result.get("latency_ms") or {}).get("median")
    result.update({
        "file": str(path), "name": p.name,
        "size_bytes": sum(f.stat().st_size for f in files if f.is_file()),
        "files": [f.name for f in files],
        "model": meta.get("model") or card.get("name"), "precision": meta.get("precision"),
        "target": meta.get("target"),
        "madds": madds, "graph_madds": gmadds, "madds_source": source, "madds_target": target,
        "madds_ratio_to_target": (madds / target) if madds and target else None,
        "us_per_mmadd": (median * 1e3 / (madds / 1e6)) if madds and median else None,
    })
    return result


def _runtime_version(runtime: str) -> str | None:
    return db.dist_version(*RUNTIME_DISTS.get(runtime, ()))


def parse_threads(value) -> list[int]:
    """`--threads` as given: 2, "2", "1,2,4" or [1, 2] -> a list of counts >= 1 (order kept, repeats dropped)."""
    try:
        return db.parse_threads(value)
    except db.BenchError as exc:
        raise EdgekitError(str(exc)) from None


def _validate(threads, warmup: int, runs: int, seconds: float | None) -> list[int]:
    counts = parse_threads(threads)
    if warmup < 0:
        raise EdgekitError(f"--warmup must be 0 or more (got {warmup})")
    if runs < 1:
        raise EdgekitError(f"--runs must be at least 1 (got {runs})")
    if seconds is not None and seconds <= 0:
        raise EdgekitError(f"--seconds must be positive (got {seconds})")
    return counts


class _Timed:
    """One loaded model: runner, inputs, and the samples it has collected so far."""

    def __init__(self, path, runtime: str, threads: int, seed: int = 0):
        from edgekit.runtimes.base import input_ranges, open_runner, random_inputs, runtime_for

        self.path = Path(path)
        try:  # imported before the memory baseline: the runtime library's own memory is not the model's
            name = runtime_for(self.path, runtime)
            db.preimport_runtime(name)
        except EdgekitError:
            pass  # open_runner reports it in one line
        except ImportError as exc:
            raise EdgekitError(f"runtime {name} is not installed ({exc.name or exc} missing): "
                               f"pip install 'edgekit[{name}]'") from None
        self.memory = db.MemoryProbe().start()
        t0 = db.time.perf_counter_ns()
        self.runner = open_runner(self.path, runtime, threads)
        self.init_ms = (db.time.perf_counter_ns() - t0) / 1e6
        self.specs = self.runner.inputs()
        arrays = random_inputs(self.specs, seed, input_ranges(self.path))
        self.call = lambda: self.runner.run(*arrays)
        self.stream = _stream_step(self)
        if self.stream is not None:  # a step model: one step with live state (carried from the last step)
            stream_runner, chunk = self.stream.pop("_runner"), arrays[0]
            self.call = lambda: stream_runner.step(chunk)
        t0 = db.time.perf_counter_ns()
        self.call()
        self.first_run_ms = (db.time.perf_counter_ns() - t0) / 1e6
        self.samples: list[float] = []


def _stream_step(timed) -> dict | None:
    """For a step model (sidecar `stream` entry): what bench reports about it, plus its StreamRunner."""
    from edgekit.artifact import read_sidecar

    entry = read_sidecar(timed.path).get("stream")
    if not entry:
        return None
    from edgekit.runtimes.stream_runner import StreamRunner

    return {"_runner": StreamRunner(timed.path, entry=entry, runner=timed.runner),
            "frames_per_step": entry.get("frames_per_step"), "delay_steps": entry.get("delay_steps"),
            "state_bytes": entry.get("state_bytes"), "madds_per_step": entry.get("madds_per_step"),
            "states": len(entry.get("states", [])), "timed": "one step, state carried from the previous step"}


def benchmark_files(paths, runtime: str = "auto", threads: int | list[int] | str = 1, warmup: int = 10,
                    runs: int = 100, seconds: float | None = None, progress=None) -> list[dict]:
    """Benchmark several artifacts side by side: load all, warm each up, then time them in
    interleaved blocks (A×k, B×k, A×k, ...) until each has `runs` samples or `seconds` of timing.

    `threads` may be a list (or "1,2,4"): every file is then loaded once per thread count and all
    (file, count) pairs are interleaved together; results come file by file, counts in the order
    given, each with `speedup_vs_1_thread` and `oversubscribed`. Blocks of k = min(10, runs/10) runs
    keep each model's caches warm within a block while spreading background noise evenly over all
    models (device_bench.interleave). `progress(done, total)` is called per block round.
    """
    counts = _validate(threads, warmup, runs, seconds)
    paths = [Path(p) for p in paths]
    if not paths:
        raise EdgekitError("no model files given")
    for p in paths:
        if not p.is_file():
            raise EdgekitError(f"model file not found: {p}")
    models = []
    for p in paths:  # load and warm up one at a time, so each memory reading is that model's own
        for n in counts:
            m = _Timed(p, runtime, n)
            for _ in range(warmup):
                m.call()
            m.mem = m.memory.result()
            models.append(m)
    groups = [models]
    if len(counts) > 1 and any(getattr(m.runner, "process_wide_threads", False) for m in models):
        # ExecuTorch: one thread pool per process, and a runner whose pool was reset reloads its program
        # (executorch_runner): interleaving counts would time reloads. One count at a time instead.
        groups = [[m for m in models if m.runner.threads == n] for n in counts]
    done = 0
    for i, group in enumerate(groups):
        if len(groups) > 1:
            for m in group:  # the reload, if any, happens here, untimed
                m.call()

        def step(d, t, i=i, base=done):
            if progress:
                progress(d + base, runs * len(models)) if seconds is None else progress(d + i * seconds,
                                                                                       seconds * len(groups))
        for m, samples in zip(group, db.interleave([m.call for m in group], runs, seconds, step)):
            m.samples, m.interleaved_with = samples, len(group)
        done += runs * len(group)
    results = [_result(m, runtime, warmup, seconds, m.interleaved_with) for m in models]
    if len(groups) > 1:
        for r in results:
            r["threads_note"] = db.SEQUENTIAL_NOTE
    return db.thread_scaling(results)


def _result(m: _Timed, runtime: str, warmup: int, seconds, n_models: int) -> dict:
    from edgekit import __version__

    name = m.runner.runtime
    result = {
        "kind": "bench", "schema": SCHEMA, "where": "local", "runtime": name,
        "runtime_version": _runtime_version(name), "threads": m.runner.threads,
        "thread_settings": db.thread_settings(name, m.runner.threads), "warmup": warmup,
        "runs": len(m.samples), "seconds": seconds, "init_ms": m.init_ms, "first_run_ms": m.first_run_ms,
        "latency_ms": db.latency_stats(m.samples), "samples_ms": db.capped_samples(m.samples),
        **m.mem, "host": db.host_info(),
        "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in m.specs],
        "interleaved_with": n_models, "edgekit_version": __version__,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if m.stream is not None:
        result["stream"] = m.stream | {"ms_per_step": result["latency_ms"].get("median")}
    return add_artifact_metadata(result, m.path)


def benchmark(path, runtime: str = "auto", threads: int | list[int] | str = 1, warmup: int = 10, runs: int = 100,
              seconds: float | None = None) -> dict:
    """Time one artifact on this machine; the result dict described in this module's docstring
    (the first thread count's when `threads` is a list: use benchmark_files for all of them)."""
    return benchmark_files([path], runtime, threads, warmup, runs, seconds)[0]
