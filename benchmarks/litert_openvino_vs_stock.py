"""edgekit's TFLite and OpenVINO exports vs the stock conversions of the unmodified model, 1 thread.

    python benchmarks/litert_openvino_vs_stock.py [--models micronet-m0,micronet-m3] [--size 224]

For each model: BatchNorm statistics are set from data (as after training), then
  - edgekit: `export_model(name, "all", weights=...)` — rewrites, conversion, parity, census for
    ONNX, TFLite and OpenVINO in one go (its wall time is the "one model to all three targets"
    conversion time);
  - stock LiteRT: `litert_torch.convert(model, (x,))` of the unmodified model;
  - stock OpenVINO: `torch.onnx.export(model, (x,), path)` with torch's defaults, read by OpenVINO.
All four files run in this one process on the same runners edgekit uses (LiteRT + XNNPACK, 1
thread; OpenVINO CPU, 1 thread, 1 stream, latency hint, f32 inference precision), in alternating
blocks so machine load hits all alike. Absolute times on a shared machine mean little: compare the
ratios. XNNPACK partitions and ops left on default kernels are read from the runtime.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")

import numpy as np  # noqa: E402


sys.path.insert(0, str(Path(__file__).resolve().parent))
from stock import interleave_args, model_and_weights, stock_onnx as _stock_onnx, time_alternating  # noqa: E402


def stock_tflite(model, size: int, path: Path) -> float:
    import torch

    from edgekit.exporters.tflite import litert_convert

    t0 = time.perf_counter()
    with torch.no_grad():
        path.write_bytes(litert_convert(model, torch.zeros(1, 3, size, size)))
    return time.perf_counter() - t0


def stock_onnx(model, size: int, path: Path) -> float:
    """Conversion seconds of the stock ONNX export (see stock.py)."""
    t0 = time.perf_counter()
    _stock_onnx(model, size, path)
    return time.perf_counter() - t0


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    interleave_args(ap, rounds=20)
    args = ap.parse_args(argv)

    import torch

    from edgekit.analysis.census_openvino import census as ov_census
    from edgekit.analysis.census_tflite import census as tfl_census
    from edgekit.exporters.pipeline import export_model
    from edgekit.runtimes.base import open_runner

    rows = []
    with tempfile.TemporaryDirectory(prefix="ek-bench-") as tmp:
        tmp = Path(tmp)
        for name in args.models.split(","):
            model, ckpt = model_and_weights(name, args.size, tmp)
            t0 = time.perf_counter()
            res = export_model(name, "all", weights=ckpt, input_size=args.size, out=tmp / "edgekit", n_parity=4)
            all_s = time.perf_counter() - t0
            by_target = {e.target: e for e in res.exports}
            conv_s = {t: e.meta.get("conversion_seconds") for t, e in by_target.items()}
            files = {"litert stock": tmp / f"{name}-stock.tflite", "openvino stock": tmp / f"{name}-stock.onnx"}
            stock_s = {"litert": stock_tflite(model, args.size, files["litert stock"]),
                       "openvino": stock_onnx(model, args.size, files["openvino stock"])}
            files["litert edgekit"] = by_target["tflite"].file
            files["openvino edgekit"] = by_target["openvino"].file
            runners = {k: open_runner(f, runtime=k.split()[0], threads=1) for k, f in files.items()}
            x = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
            feeds = {k: x for k in runners}
            with torch.no_grad():
                ref = model(torch.from_numpy(x)).numpy()
            diffs = {k: rel_diff(ref, r.run(x)[0]) for k, r in runners.items()}
            ms = time_alternating(runners, feeds, args.rounds, args.block)
            ct_s, ct_e = tfl_census(files["litert stock"]), tfl_census(files["litert edgekit"])
            co_s, co_e = ov_census(files["openvino stock"]), ov_census(files["openvino edgekit"])
            rows.append(dict(name=name, ms=ms, diffs=diffs, ct_s=ct_s, ct_e=ct_e, co_s=co_s, co_e=co_e,
                             all_s=all_s, conv_s=conv_s, stock_s=stock_s))
            print(f"{name}: LiteRT stock {ms['litert stock']:.3f} edgekit {ms['litert edgekit']:.3f} ms "
                  f"(x{ms['litert edgekit'] / ms['litert stock']:.2f}); OpenVINO stock {ms['openvino stock']:.3f} "
                  f"edgekit {ms['openvino edgekit']:.3f} ms (x{ms['openvino edgekit'] / ms['openvino stock']:.2f}); "
                  f"all targets {all_s:.1f} s", file=sys.stderr, flush=True)

    import ai_edge_litert
    import openvino

    print(f"\nai-edge-litert {getattr(ai_edge_litert, '__version__', '?')} (XNNPACK), openvino "
          f"{openvino.get_version().split('-')[0]} (CPU, f32), torch {torch.__version__}; 1 thread, input "
          f"{args.size}x{args.size}, median of {args.rounds} alternating blocks of {args.block} runs\n")
    print("LiteRT (XNNPACK)\n")
    print("| model | stock ms | edgekit ms | edgekit/stock | partitions stock → edgekit | default-kernel ops "
          "| TRANSPOSE/RESHAPE/GATHER stock → edgekit | nodes | graph MAdds stock → edgekit | rel. diff vs PyTorch |")
    print("|---|---:|---:|---:|---|---|---|---|---|---:|")
    for r in rows:
        s, e, ds, de = r["ct_s"], r["ct_e"], r["ct_s"]["delegate"], r["ct_e"]["delegate"]
        print(f"| {r['name']} | {r['ms']['litert stock']:.3f} | {r['ms']['litert edgekit']:.3f} | "
              f"{r['ms']['litert edgekit'] / r['ms']['litert stock']:.2f} | {ds['partitions']} → {de['partitions']} | "
              f"{ds['default_kernel_ops']} → {de['default_kernel_ops']} | "
              f"{s['transpose']}/{s['reshape']}/{s['gather']} → {e['transpose']}/{e['reshape']}/{e['gather']} | "
              f"{s['nodes']} → {e['nodes']} | {s['graph_madds'] / 1e6:.2f}M → {e['graph_madds'] / 1e6:.2f}M | "
              f"{r['diffs']['litert edgekit']:.1e} |")
    print("\nOpenVINO (CPU plugin)\n")
    print("| model | stock ms | edgekit ms | edgekit/stock | Transpose/Reshape/Gather stock → edgekit | nodes | "
          "graph MAdds stock → edgekit | rel. diff vs PyTorch |")
    print("|---|---:|---:|---:|---|---|---|---:|")
    for r in rows:
        s, e = r["co_s"], r["co_e"]
        print(f"| {r['name']} | {r['ms']['openvino stock']:.3f} | {r['ms']['openvino edgekit']:.3f} | "
              f"{r['ms']['openvino edgekit'] / r['ms']['openvino stock']:.2f} | "
              f"{s['transpose']}/{s['reshape']}/{s['gather']} → {e['transpose']}/{e['reshape']}/{e['gather']} | "
              f"{s['nodes']} → {e['nodes']} | {s['graph_madds'] / 1e6:.2f}M → {e['graph_madds'] / 1e6:.2f}M | "
              f"{r['diffs']['openvino edgekit']:.1e} |")
    print("\nConversion time (s)\n")
    print("| model | edgekit all three targets (rewrite+convert+parity+census) | tflite convert | openvino convert "
          "| onnx convert | stock litert_torch.convert | stock torch.onnx.export |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        c = r["conv_s"]
        print(f"| {r['name']} | {r['all_s']:.1f} | {c.get('tflite', 0):.1f} | {c.get('openvino', 0):.1f} | "
              f"{c.get('onnx', 0):.1f} | {r['stock_s']['litert']:.1f} | {r['stock_s']['openvino']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
