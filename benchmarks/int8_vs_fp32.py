"""edgekit INT8 vs edgekit FP32 vs the stock INT8 path, per runtime, 1 thread, one run.

    python benchmarks/int8_vs_fp32.py [--models micronet-m0,...] [--runtimes onnxruntime,openvino,litert]
                                      [--size 224] [--calib 32] [--runs 200]

For each model (BatchNorm statistics set from data, as after training) and runtime:
  edgekit FP32   export_model(..., precision="fp32")       (rewritten graph)
  edgekit INT8   export_model(..., precision="int8")       (rewritten graph, measured per-layer precision)
  stock INT8     onnxruntime: quantize_static(QDQ, per-channel, every op type) of torch.onnx.export;
                 openvino: nncf.quantize (defaults) of the stock ONNX; litert: ai-edge-quantizer
                 static_wi8_ai8 (every supported op) of the stock litert_torch.convert.
All files of one model/runtime are timed in this one process with edgekit.runtimes.bench
(interleaved blocks). Calibration: standard-normal NCHW inputs (no trained weights here, so no
accuracy column here; `--digits` prints the accuracy table of the trained digits fixture instead).
The target is edgekit INT8 <= 0.7 x edgekit FP32. Numbers are printed as measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
TARGET_OF = {"onnxruntime": "onnx", "openvino": "openvino", "litert": "tflite"}

from stock import model_and_weights, quiet, stock_int8  # noqa: E402




def digits_accuracy(targets=("onnx", "openvino", "tflite"), calib_size: int = 256) -> int:
    """End to end on the trained digits fixture: `export_model` FP32 and INT8 per target, then top-1 of
    each file on its runtime over the 449 held-out digits (what `edgekit eval` reports)."""
    import importlib.util

    from edgekit.analysis.accuracy import runner_predict, topk_accuracy
    from edgekit.calibration import load_calibration
    from edgekit.exporters.pipeline import export_model
    from edgekit.runtimes.base import open_runner

    spec = importlib.util.spec_from_file_location("train", Path(__file__).resolve().parents[1] / "scripts" / "train_digits_fixture.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ek-digits-") as tmp:
        tmp = Path(tmp)
        f = train.train(tmp / "fixture")
        print(f"fixture: micronet-m0 trained on digits, held-out top-1 {f['test_top1']:.2f}% in {f['seconds']} s",
              file=sys.stderr, flush=True)
        for target in targets:
            top1, n_int8 = {}, {}
            for variant, precision, max_drop in (("fp32", "fp32", None), ("int8", "int8", None),
                                                 ("int8 --max-drop 0.5", "int8", 0.5)):
                kw = dict(calib=f["train"], calib_size=calib_size, max_drop=max_drop) if precision == "int8" else {}
                with quiet():
                    res = export_model(f["model"], target, weights=f["weights"], input_size=f["input_size"],
                                       precision=precision, out=tmp / f"{target}-{len(top1)}", n_parity=2, **kw)
                from edgekit.models.card import Card

                x, y = load_calibration(f["test"], Card.from_dict(res.exports[0].meta.get("card")))
                top1[variant] = topk_accuracy(runner_predict(open_runner(res.file), x), y).top1
                q = res.exports[0].meta.get("quantization") or {}
                n_int8[variant] = f"{q.get('n_int8')}/{(q.get('n_int8') or 0) + (q.get('n_float') or 0)}"
            rows.append((target, top1, n_int8))
            print(f"digits {target}: " + ", ".join(f"{k} {v:.2f} ({n_int8[k]})" for k, v in top1.items()),
                  file=sys.stderr, flush=True)
    print(f"\nTrained digits fixture (micronet-m0, 32x32, 449 held-out digits), export_model end to end, "
          f"{calib_size} calibration images from the training split\n")
    print("| target | FP32 top-1 | INT8 top-1 | drop | within 0.5 | INT8 layers | INT8 --max-drop 0.5 top-1 | drop "
          "| within 0.5 | INT8 layers |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---|---:|")
    for target, t, n in rows:
        a, b, c = t["fp32"], t["int8"], t["int8 --max-drop 0.5"]
        print(f"| {target} | {a:.2f} | {b:.2f} | {a - b:.2f} | {'yes' if a - b <= 0.5 else 'NO'} | {n['int8']} | "
              f"{c:.2f} | {a - c:.2f} | {'yes' if a - c <= 0.5 else 'NO'} | {n['int8 --max-drop 0.5']} |")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="micronet-m0,micronet-m1,micronet-m2,micronet-m3")
    ap.add_argument("--runtimes", default="onnxruntime,openvino,litert")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--no-stock", action="store_true")
    ap.add_argument("--digits", action="store_true", help="Only the accuracy table on the trained digits fixture.")
    args = ap.parse_args(argv)
    if args.digits:
        return digits_accuracy()

    import torch

    from edgekit.exporters.pipeline import export_model
    from edgekit.runtimes.bench import benchmark_files

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ek-int8-") as tmp:
        tmp = Path(tmp)
        for name in args.models.split(","):
            model, ckpt = model_and_weights(name, args.size, tmp)
            calib = np.random.default_rng(1).standard_normal((args.calib, 3, args.size, args.size)).astype(np.float32)
            for runtime in args.runtimes.split(","):
                target = TARGET_OF[runtime]
                files, notes = {}, {}
                t0 = time.perf_counter()
                with quiet():
                    fp32 = export_model(name, target, weights=ckpt, input_size=args.size, out=tmp / f"{runtime}-fp32",
                                        n_parity=2, force=True)
                files["edgekit fp32"] = fp32.file
                t1 = time.perf_counter()
                with quiet():
                    int8 = export_model(name, target, weights=ckpt, input_size=args.size, precision="int8",
                                        calib=calib, out=tmp / f"{runtime}-int8", n_parity=2, force=True)
                files["edgekit int8"] = int8.file
                q = int8.exports[0].meta.get("quantization") or {}
                notes["int8 export s"] = time.perf_counter() - t1
                notes["fp32 export s"] = t1 - t0
                notes["int8 layers"] = f"{q.get('n_int8')}/{(q.get('n_int8') or 0) + (q.get('n_float') or 0)}"
                notes["groups"] = ", ".join(f"{g}={v['precision']}" for g, v in (q.get("groups") or {}).items())
                notes["format"] = q.get("format", q.get("tool", ""))
                notes["cos"] = q.get("logits_cosine")
                if not args.no_stock:
                    try:
                        files["stock int8"] = stock_int8(runtime, model, args.size, calib, tmp, f"{name}-{runtime}")
                    except Exception as exc:  # report, keep going: the stock path is the thing that breaks
                        notes["stock"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
                labels = list(files)
                res = benchmark_files([files[k] for k in labels], runtime=runtime, threads=1, runs=args.runs)
                ms = {k: r["latency_ms"]["median"] for k, r in zip(labels, res)}
                rows.append((name, runtime, ms, notes))
                line = ", ".join(f"{k} {v:.3f} ms" for k, v in ms.items())
                print(f"{name} {runtime}: {line}; int8/fp32 {ms['edgekit int8'] / ms['edgekit fp32']:.2f}; "
                      f"{notes['int8 layers']} layers int8 ({notes['groups']})", file=sys.stderr, flush=True)

    print(f"\n1 thread, input {args.size}x{args.size}, {args.calib} calibration inputs, median of {args.runs} "
          "interleaved runs per file (edgekit.runtimes.bench), one process\n")
    print("| model | runtime | edgekit FP32 ms | edgekit INT8 ms | INT8/FP32 | target 0.7 | stock INT8 ms | "
          "edgekit INT8 / stock INT8 | INT8 layers | logits cos vs FP32 | what stayed float |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for name, runtime, ms, n in rows:
        r = ms["edgekit int8"] / ms["edgekit fp32"]
        stock = ms.get("stock int8")
        floats = ", ".join(g.split("=")[0] for g in n["groups"].split(", ") if g.endswith("=float")) or "-"
        stock_ms = f"{stock:.3f}" if stock else n.get("stock", "-")
        vs_stock = f"{ms['edgekit int8'] / stock:.2f}" if stock else "-"
        cos = f"{n['cos']:.4f}" if n["cos"] is not None else "-"
        print(f"| {name} | {runtime} | {ms['edgekit fp32']:.3f} | {ms['edgekit int8']:.3f} | {r:.2f} | "
              f"{'met' if r <= 0.7 else 'missed'} | {stock_ms} | {vs_stock} | {n['int8 layers']} | {cos} | {floats} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
