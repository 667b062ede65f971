"""Video zoo: edgekit's exports against the stock paths, every runtime, 1 and 2 threads (issue 15).

For each video model (same weights everywhere: seeded, BatchNorm statistics from data):
  onnxruntime  stock torch.onnx.export      vs  edgekit export --target onnx
  LiteRT       stock litert_torch.convert    vs  edgekit export --target tflite
  OpenVINO     stock ONNX read by OpenVINO   vs  edgekit export --target openvino
All six files of a model are timed interleaved in one process per thread count (stock.time_alternating:
blocks of runs, order flipped every round), so every ratio — including edgekit on LiteRT against stock
onnxruntime — comes from one run on a noisy shared machine; absolute numbers do not travel.

    python benchmarks/video_peer.py                                   # c3d-small, tan-small, s3d-small
    python benchmarks/video_peer.py --models c3d-small --threads 1
    python benchmarks/video_peer.py -o benchmarks/results/video_peer.md
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stock import model_and_weights, quiet, stock_onnx, stock_tflite, time_alternating  # noqa: E402

RUNTIME_OF = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}
RUNTIMES = ("onnxruntime", "litert", "openvino")
NOTES: list[str] = []


def delegation(path: Path) -> str:
    from edgekit.analysis.census_tflite import census

    d = census(path)["delegate"]
    return f"{d['partitions']} / {d['default_kernel_ops']}"


def files_for(name: str, size: int, tmp: Path) -> tuple[dict, dict, dict]:
    """(stock files by runtime, edgekit files by runtime, edgekit sidecars by runtime)."""
    import torch

    from edgekit.exporters.pipeline import export_model

    model, weights = model_and_weights(name, size, tmp)
    example = torch.zeros((1, *model.card.input_size))
    try:
        onnx = stock_onnx(model, size, tmp / f"{name}-stock.onnx", example=example)
    except Exception as exc:  # torch's default (dynamo) exporter fails on some 3-D ops: say so, use TorchScript's
        first = re.sub(r"\x1b\[[0-9;]*m", "", str(exc).strip().splitlines()[0])[:160]  # no terminal colours
        NOTES.append(f"{name}: stock torch.onnx.export fails ({type(exc).__name__}: {first}); "
                     "its stock ONNX is torch.onnx.export(dynamo=False)")
        onnx = tmp / f"{name}-stock.onnx"
        with quiet(), torch.no_grad():
            torch.onnx.export(model, (example,), str(onnx), dynamo=False)
    stock = {"onnxruntime": onnx, "litert": stock_tflite(model, size, tmp / f"{name}-stock.tflite", example=example),
             "openvino": onnx}
    exports = []
    for target in RUNTIME_OF:
        with quiet():
            exports += export_model(name, target, weights=str(weights), input_size=size, out=tmp / "edgekit",
                                    n_parity=4).exports
    edge = {RUNTIME_OF[e.target]: e.file for e in exports}
    metas = {RUNTIME_OF[e.target]: e.meta for e in exports}
    return stock, edge, metas


def run_model(name: str, size: int, threads: list[int], rounds: int, block: int, tmp: Path) -> list[dict]:
    import numpy as np

    from edgekit.runtimes.base import open_runner

    stock, edge, metas = files_for(name, size, tmp)
    shape = tuple(metas["onnxruntime"]["card"]["input_size"])
    feed = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    parts = {"stock": delegation(stock["litert"]), "edgekit": delegation(edge["litert"])}
    rows = []
    for n in threads:
        runners = {}
        for rt in RUNTIMES:
            runners[f"stock {rt}"] = open_runner(stock[rt], rt, threads=n)
            runners[f"edgekit {rt}"] = open_runner(edge[rt], rt, threads=n)
        ms = time_alternating(runners, {k: feed for k in runners}, rounds, block)
        for rt in RUNTIMES:
            s, e = ms[f"stock {rt}"], ms[f"edgekit {rt}"]
            rows.append({"model": name, "shape": shape, "threads": n, "runtime": rt, "stock_ms": s, "edgekit_ms": e,
                         "ratio": e / s, "vs_stock_onnxruntime": e / ms["stock onnxruntime"],
                         "parity": metas[rt]["parity"]["rel_max_abs_diff"],
                         "delegation": f"{parts['stock']} → {parts['edgekit']}" if rt == "litert" else "",
                         "madds": metas[rt]["madds"]["graph_madds"]})
            print(f"{name:10s} {n}T {rt:12s} stock {s:8.2f} ms  edgekit {e:8.2f} ms  ratio {e / s:5.2f}  "
                  f"vs stock onnxruntime {e / ms['stock onnxruntime']:5.2f}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | input | threads | runtime | stock ms | edgekit ms | edgekit/stock | edgekit / stock onnxruntime "
             "| FP32 parity (x output scale) | XNNPACK partitions / default-kernel ops (stock → edgekit) |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {'×'.join(map(str, r['shape']))} | {r['threads']} | {r['runtime']} | "
                     f"{r['stock_ms']:.2f} | {r['edgekit_ms']:.2f} | {r['ratio']:.2f} | {r['vs_stock_onnxruntime']:.2f} | "
                     f"{r['parity']:.1e} | {r['delegation']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="c3d-small,tan-small,s3d-small")
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--block", type=int, default=4)
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgekit-video-peer-") as tmp:
        for name in args.models.split(","):
            rows += run_model(name.strip(), args.size, threads, args.rounds, args.block, Path(tmp))
    text = (f"# Video zoo: edgekit vs stock, every runtime ({args.rounds} rounds × {args.block} runs, "
            "medians, all six files of a model interleaved in one process per thread count)\n\n" + table(rows)
            + "".join(f"\n- {n}" for n in NOTES))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
