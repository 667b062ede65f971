"""edgekit's exports against the stock paths, side by side in one run, M0–M3, at 1 thread and at every
thread count up to the machine's cores (issues 6 and 11).

For each model (same weights everywhere: seeded, BatchNorm statistics from data) and each runtime of
the RUNTIMES table (runtime → stock maker, edgekit target, runner):
  onnxruntime  stock torch.onnx.export            vs  edgekit export --target onnx
  LiteRT       stock litert_torch.convert          vs  edgekit export --target tflite
  OpenVINO     stock ONNX read by OpenVINO         vs  edgekit export --target openvino
  ExecuTorch   stock torch.export → XNNPACK .pte   vs  edgekit export --target executorch
  (--int8)     stock INT8 of each runtime          vs  edgekit export --int8 (synthetic calibration)
the stock and edgekit files are each loaded once per thread count, with the runner settings every
edgekit bench states (device_bench.thread_settings), and ALL of them are timed in one process (a
fresh one per model and runtime: runtimes do not share a process safely, see run_isolated),
interleaved in short blocks over many rounds (stock.round_times), so background load on a shared
machine hits them alike (ExecuTorch: the files of one thread count at a time, as its thread pool is
process-wide; its N/1 thr ratios pair rounds of consecutive phases). Ratios are medians over rounds of the per-round ratio (stock.pair_ratio);
absolute numbers do not travel.

    python benchmarks/peer.py                               # M0–M3, FP32, threads 1..cores
    python benchmarks/peer.py --models m0 --threads 1,2     # explicit thread counts
    python benchmarks/peer.py --models m0 --int8            # add the INT8 paths
    python benchmarks/peer.py --cache /tmp/peer -o benchmarks/results/peer.md   # reuse converted files
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stock import (model_and_weights, pair_ratio, quiet, round_times, round_times_per_count,  # noqa: E402
                   stock_int8, stock_onnx, stock_tflite)


@dataclass(frozen=True)
class Peer:
    """One runtime of the comparison: how its stock file is made, which edgekit target it runs, and
    how a file is opened on it at a thread count (a Runner: .inputs(), .run(*arrays))."""

    stock: Callable  # (model, size, path) -> path
    suffix: str      # of the stock file (its INT8 file: stock.stock_int8's, same suffix except OpenVINO's .xml)
    target: str      # edgekit export --target
    runner: Callable  # (path, threads) -> Runner


def _open(runtime: str):
    def runner(path, threads):
        from edgekit.runtimes.base import open_runner

        return open_runner(path, runtime, threads)
    return runner


def stock_executorch(model, size: int, path: Path) -> Path:
    """Stock ExecuTorch: torch.export of the unmodified model, lowered to the XNNPACK delegate."""
    import torch

    from edgekit.exporters.executorch import export_program, lower_to_pte

    with quiet(), torch.no_grad():
        path.write_bytes(lower_to_pte(export_program(model.eval(), torch.zeros(1, 3, size, size))))
    return path


# runtime → Peer. A new runtime is one row (its stock maker, edgekit target and runner).
# executorch: one process-wide thread pool, resized by the runner when the thread count changes.
RUNTIMES = {
    "onnxruntime": Peer(stock_onnx, ".onnx", "onnx", _open("onnxruntime")),
    "litert": Peer(stock_tflite, ".tflite", "tflite", _open("litert")),
    # OpenVINO's stock path reads the stock ONNX file (what ov.convert_model("m.onnx") sees)
    "openvino": Peer(stock_onnx, ".onnx", "openvino", _open("openvino")),
    "executorch": Peer(stock_executorch, ".pte", "executorch", _open("executorch")),
}


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def edgekit_export(name: str, target: str, weights: Path, size: int, out: Path, precision: str = "fp32") -> dict:
    """{"file", "meta"} of `edgekit export --target target`, through the API the CLI uses."""
    from edgekit.exporters.pipeline import export_model

    kw = {"precision": "int8", "calib": "synthetic", "calib_size": 32} if precision == "int8" else {}
    with quiet():
        result = export_model(name, target, weights=str(weights), input_size=size, out=out, n_parity=2, **kw)
    return {"file": result.exports[0].file, "meta": result.exports[0].meta}


def partitions(path: Path) -> str:
    module = {".tflite": "census_tflite", ".pte": "census_executorch"}.get(path.suffix)
    if module is None:
        return ""
    import importlib

    d = importlib.import_module(f"edgekit.analysis.{module}").census(path)["delegate"]
    return f"{d['partitions']} / {d['default_kernel_ops']}"


def files_for(variant: str, size: int, runtimes: list[str], int8: bool, work: Path) -> list[tuple]:
    """[(precision, runtime, stock file, edgekit export)] for one model; files already in `work`
    (a --cache directory) are reused, so a re-run times the same files without converting again."""
    name = f"micronet-{variant}"
    work.mkdir(parents=True, exist_ok=True)
    model, weights = model_and_weights(name, size, work)
    out = []
    for precision in ("fp32", "int8") if int8 else ("fp32",):
        calib = None
        if precision == "int8":
            import numpy as np

            calib = np.random.default_rng(0).standard_normal((32, 3, size, size)).astype(np.float32)
        for rt in runtimes:
            peer = RUNTIMES[rt]
            d = work / precision / rt
            d.mkdir(parents=True, exist_ok=True)
            if precision == "fp32":
                stock = d / f"{name}-stock{peer.suffix}"
                if not stock.is_file():
                    peer.stock(model, size, stock)
            else:
                stock = d / f"{name}-stock-int8{'.xml' if rt == 'openvino' else peer.suffix}"
                if not stock.is_file():
                    stock = stock_int8(rt, model, size, calib, d, name)
            edge = d / "edgekit"
            found = sorted(f for f in edge.glob(f"{name}*") if f.suffix in (".onnx", ".tflite", ".xml", ".pte"))
            if found:
                from edgekit.artifact import read_sidecar

                export = {"file": found[0], "meta": read_sidecar(found[0])}
            else:
                export = edgekit_export(name, peer.target, weights, size, edge, precision)
            out.append((precision, rt, Path(stock), export))
    return out


def run_model(variant: str, size: int, threads: list[int], rounds: int, block: int, runtimes: list[str],
              int8: bool, work: Path) -> list[dict]:
    import numpy as np

    from edgekit.runtimes.base import random_inputs

    name = f"micronet-{variant}"
    rows = []
    for precision, rt, stock, export in files_for(variant, size, runtimes, int8, work):
        edge = Path(export["file"])
        calls, pool_per_process = {}, False
        for side, path in (("stock", stock), ("edgekit", edge)):
            for n in threads:
                runner = RUNTIMES[rt].runner(path, n)
                pool_per_process |= getattr(runner, "process_wide_threads", False)
                arrays = random_inputs(runner.inputs())
                calls[(side, n)] = (lambda r=runner, a=arrays: r.run(*a))
        times = (round_times_per_count(calls, threads, rounds, block) if pool_per_process
                 else round_times(calls, rounds, block))
        for n in threads:
            s, e = statistics.median(times[("stock", n)]), statistics.median(times[("edgekit", n)])
            row = {"model": name, "precision": precision, "runtime": rt, "threads": n, "stock_ms": s,
                   "edgekit_ms": e, "ratio": pair_ratio(times, ("edgekit", n), ("stock", n)),
                   "stock_scaling": pair_ratio(times, ("stock", n), ("stock", threads[0])),
                   "edgekit_scaling": pair_ratio(times, ("edgekit", n), ("edgekit", threads[0])),
                   "stock_partitions": partitions(stock), "edgekit_partitions": partitions(edge),
                   "edgekit_madds": (export["meta"].get("madds") or {}).get("graph_madds")}
            rows.append(row)
            print(f"{name:12s} {precision:5s} {rt:12s} {n} thr  stock {s:7.3f} ms  edgekit {e:7.3f} ms  "
                  f"ratio {row['ratio']:5.2f}  edgekit {n}/{threads[0]} thr {row['edgekit_scaling']:5.2f}  "
                  f"stock {row['stock_scaling']:5.2f}", flush=True)
        del calls, times
    return rows


def run_isolated(*args) -> list[dict]:
    """run_model(*args) in a fresh process: each runtime brings its own copy of XNNPACK and its own
    thread pools, and they do not share a process safely (LiteRT's 2-thread interpreter alive next to
    an ExecuTorch program: "XNN Runtime invoke failed with code: xnn_status_invalid_state", then a
    segfault); a device runs one runtime at a time, and so does each timing here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_model, *args).result()


def table(rows: list[dict]) -> str:
    first = min((r["threads"] for r in rows), default=1)
    lines = ["| model | precision | runtime | threads | stock ms | edgekit ms | edgekit/stock | "
             f"stock N/{first} thr | edgekit N/{first} thr | XNNPACK partitions / default-kernel ops (stock → edgekit) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        parts = f"{r['stock_partitions']} → {r['edgekit_partitions']}" if r["stock_partitions"] else ""
        scale = (f"{r['stock_scaling']:.2f} | {r['edgekit_scaling']:.2f}" if r["threads"] != first else "- | -")
        lines.append(f"| {r['model']} | {r['precision']} | {r['runtime']} | {r['threads']} | {r['stock_ms']:.3f} | "
                     f"{r['edgekit_ms']:.3f} | {r['ratio']:.2f} | {scale} | {parts} |")
    return "\n".join(lines)


def load_line() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {machine_cores()} cores"
    except OSError:
        return ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["m0", "m1", "m2", "m3"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", default=None, help="comma list (default: 1 up to the machine's cores)")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES), help=f"comma list of {', '.join(RUNTIMES)}")
    ap.add_argument("--rounds", type=int, default=60, help="interleaved rounds (ratio = median over rounds)")
    ap.add_argument("--block", type=int, default=10, help="runs per file per round")
    ap.add_argument("--int8", action="store_true", help="also the INT8 paths (slow: INT8 policy timing)")
    ap.add_argument("--cache", type=Path, help="keep converted files here and reuse them on the next run")
    ap.add_argument("-o", "--out", type=Path, help="write the Markdown table here")
    args = ap.parse_args(argv)
    threads = ([int(t) for t in args.threads.split(",")] if args.threads
               else list(range(1, machine_cores() + 1)))
    runtimes = [r for r in args.runtimes.split(",") if r]
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        ap.error(f"unknown runtime(s) {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}")
    rows = []
    before = load_line()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.cache or Path(tmp)
        for v in args.models:
            for rt in runtimes:
                rows += run_isolated(v, args.size, threads, args.rounds, args.block, [rt], args.int8, root / v)
    md = table(rows)
    print("\n" + md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            f"# edgekit vs stock, {args.size}x{args.size}, batch 1, threads {','.join(map(str, threads))}, one run\n\n"
            f"All files of one model and runtime timed interleaved in one process ({args.rounds} rounds of "
            f"{args.block} runs); edgekit/stock and N/{threads[0]} thr are medians of per-round ratios. "
            f"Machine: {before} at the start, {load_line()} at the end.\n\n{md}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
