"""edgekit's exports against the stock paths, side by side in one run, M0–M3 (issue 6).

For each model (same weights everywhere: seeded, BatchNorm statistics from data):
  onnxruntime  stock torch.onnx.export            vs  edgekit export --target onnx
  LiteRT       stock litert_torch.convert          vs  edgekit export --target tflite
  OpenVINO     stock ONNX read by OpenVINO         vs  edgekit export --target openvino
  (--int8)     stock INT8 of each runtime          vs  edgekit export --int8 (synthetic calibration)
Files of one runtime are timed interleaved in one process (edgekit.runtimes.bench.benchmark_files),
1 thread, so their ratio holds on a noisy shared machine; absolute numbers do not travel.

    python benchmarks/peer.py                       # M0–M3, FP32
    python benchmarks/peer.py --models m0 --int8    # add the INT8 paths
    python benchmarks/peer.py -o benchmarks/results/peer.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stock import model_and_weights, quiet, stock_int8, stock_onnx, stock_tflite  # noqa: E402

RUNTIME_OF = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}
STOCK_INT8_RUNTIME = {"onnxruntime": "onnxruntime", "litert": "litert", "openvino": "openvino"}


def edgekit_exports(name: str, weights: Path, size: int, out: Path, precision: str = "fp32") -> dict[str, dict]:
    """runtime → {"file", "meta"} for every target, through the same API `edgekit export` uses."""
    from edgekit.exporters.pipeline import export_model

    kw = {"precision": "int8", "calib": "synthetic", "calib_size": 32} if precision == "int8" else {}
    with quiet():
        result = export_model(name, "all", weights=str(weights), input_size=size, out=out, n_parity=2, **kw)
    return {RUNTIME_OF[e.target]: {"file": e.file, "meta": e.meta} for e in result.exports}


def partitions(path: Path) -> str:
    if path.suffix != ".tflite":
        return ""
    from edgekit.analysis.census_tflite import census

    d = census(path)["delegate"]
    return f"{d['partitions']} / {d['default_kernel_ops']}"


def run_model(variant: str, size: int, runs: int, int8: bool, tmp: Path) -> list[dict]:
    from edgekit.runtimes.bench import benchmark_files

    name = f"micronet-{variant}"
    model, weights = model_and_weights(name, size, tmp)
    stock = {"onnxruntime": stock_onnx(model, size, tmp / f"{name}-stock.onnx"),
             "litert": stock_tflite(model, size, tmp / f"{name}-stock.tflite")}
    stock["openvino"] = stock["onnxruntime"]
    pairs = [("fp32", stock, edgekit_exports(name, weights, size, tmp / "fp32"))]
    if int8:
        import numpy as np

        calib = np.random.default_rng(0).standard_normal((32, 3, size, size)).astype(np.float32)
        stock8 = {rt: stock_int8(rt, model, size, calib, tmp, name) for rt in STOCK_INT8_RUNTIME}
        pairs.append(("int8", stock8, edgekit_exports(name, weights, size, tmp / "int8", "int8")))
    rows = []
    for precision, stock_files, edge in pairs:
        for runtime in ("onnxruntime", "litert", "openvino"):
            a, b = stock_files[runtime], edge[runtime]["file"]
            res = benchmark_files([a, b], runtime=runtime, threads=1, warmup=20, runs=runs)
            s, e = res[0]["latency_ms"]["median"], res[1]["latency_ms"]["median"]
            rows.append({"model": name, "precision": precision, "runtime": runtime, "stock_ms": s, "edgekit_ms": e,
                         "ratio": e / s, "stock_partitions": partitions(a), "edgekit_partitions": partitions(b),
                         "edgekit_madds": edge[runtime]["meta"].get("madds", {}).get("graph_madds")})
            print(f"{name:12s} {precision:5s} {runtime:12s} stock {s:7.3f} ms  edgekit {e:7.3f} ms  "
                  f"ratio {e / s:5.2f}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | precision | runtime | stock ms | edgekit ms | edgekit/stock | XNNPACK partitions / default-kernel ops (stock → edgekit) |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        parts = f"{r['stock_partitions']} → {r['edgekit_partitions']}" if r["stock_partitions"] else ""
        lines.append(f"| {r['model']} | {r['precision']} | {r['runtime']} | {r['stock_ms']:.3f} | {r['edgekit_ms']:.3f} "
                     f"| {r['ratio']:.2f} | {parts} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["m0", "m1", "m2", "m3"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--int8", action="store_true", help="also the INT8 paths (slow: INT8 policy timing)")
    ap.add_argument("-o", "--out", type=Path, help="write the Markdown table here")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for v in args.models:
            rows += run_model(v, args.size, args.runs, args.int8, Path(tmp))
    md = table(rows)
    print("\n" + md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# edgekit vs stock, {args.size}x{args.size}, batch 1, 1 thread, one run\n\n{md}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
