"""edgekit's ONNX export vs stock `torch.onnx.export` of the unmodified model, on onnxruntime, 1 thread.

    python benchmarks/onnx_vs_stock.py [--models micronet-m0,micronet-m3] [--size 224] [--rounds 30]

For each model: BatchNorm statistics are set from data (as after training, so the numbers are not
those of a degenerate network), the stock export is `torch.onnx.export(model, (x,), path)` with
torch's defaults, the edgekit export is `export_model(...)` (rewrites + simplification). Both run
in this one process, one intra-op thread each, alternating blocks of runs so machine load hits
both alike; the table shows per-run medians, the edgekit/stock ratio and the op counts that
explain it. Absolute times on a shared machine mean little: compare the ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


sys.path.insert(0, str(Path(__file__).resolve().parent))
from stock import interleave_args, model_and_weights, stock_onnx as stock_export, time_alternating  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    interleave_args(ap, rounds=30)
    args = ap.parse_args(argv)

    import torch

    from edgekit.analysis.census_onnx import census
    from edgekit.exporters.pipeline import export_model
    from edgekit.runtimes.base import open_runner

    rows = []
    with tempfile.TemporaryDirectory(prefix="ek-bench-") as tmp:
        tmp = Path(tmp)
        for name in args.models.split(","):
            model, ckpt = model_and_weights(name, args.size, tmp)
            stock = stock_export(model, args.size, tmp / f"{name}-stock.onnx")
            t0 = time.perf_counter()
            res = export_model(name, "onnx", weights=ckpt, input_size=args.size, out=tmp / "edgekit", n_parity=4)
            export_s = time.perf_counter() - t0
            ours = res.file
            runners = {"stock": open_runner(stock, threads=1), "edgekit": open_runner(ours, threads=1)}
            x = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
            a, b = runners["stock"].run(x)[0], runners["edgekit"].run(x)[0]
            rel = float(np.abs(a - b).max() / np.abs(a).max())
            ms = time_alternating(runners, {k: x for k in runners}, args.rounds, args.block)
            cs, ce = census(stock), census(ours)
            rows.append((name, ms["stock"], ms["edgekit"], ms["edgekit"] / ms["stock"], rel,
                         f"{cs['transpose']}/{cs['reshape']}/{cs['gather']}/{cs['nodes']}",
                         f"{ce['transpose']}/{ce['reshape']}/{ce['gather']}/{ce['nodes']}", export_s))
            print(f"{name}: stock {ms['stock']:.3f} ms, edgekit {ms['edgekit']:.3f} ms, "
                  f"ratio {ms['edgekit'] / ms['stock']:.2f}", file=sys.stderr, flush=True)

    import onnxruntime

    print(f"\nonnxruntime {onnxruntime.__version__}, torch {torch.__version__}, 1 thread, input {args.size}x{args.size}, "
          f"median of {args.rounds} alternating blocks of {args.block} runs\n")
    print("| model | stock ms | edgekit ms | edgekit/stock | rel. diff vs stock | stock T/R/G/nodes | "
          "edgekit T/R/G/nodes | export s |")
    print("|---|---:|---:|---:|---:|---|---|---:|")
    for name, s, e, r, rel, cs, ce, es in rows:
        print(f"| {name} | {s:.3f} | {e:.3f} | {r:.2f} | {rel:.1e} | {cs} | {ce} | {es:.1f} |")
    print("\nT/R/G = Transpose / Reshape / Gather+GatherND op counts in the ONNX graph.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
