"""Users' own dynamic networks against the zoo's (issue 22): the edgekit / stock LiteRT latency ratio of the
library-style CondConv EfficientNet-B0 (tests/rewrite/user_condconv_net.py, 224, 4 experts, BatchNorm
statistics from data) and a user's DY-Conv MobileNetV3-Small (tests/rewrite/user_dyconv_mnv3.py: the
widely copied public Dynamic_conv2d in every conv after the stem) next to the zoo's mobilenetv3-small-dyconv, at 1 and 2 threads, every file timed in one
process, interleaved (stock.round_times), ratio = median over rounds of the per-round ratio.

  stock    litert_torch.convert of the model as written (computed conv weights stay computed)
  edgekit  edgekit export --target tflite (lift_dynamic_conv: K static branches per CondConv)

    python benchmarks/user_models.py [--rounds 30] [--block 5] [--models DY-Conv,zoo] [-o benchmarks/results/user_models.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "rewrite"))

from stock import emit, pair_at_threads, partitions_text, quiet, stock_tflite  # noqa: E402

MODELS = {
    "user CondConv EfficientNet-B0 (4 experts)": ("file", HERE.parent / "tests" / "rewrite" / "user_condconv_net.py",
                                                  "efficientnet_cc_b0_4e"),
    "user DY-Conv MobileNetV3-Small (public Dynamic_conv2d)": ("file", HERE.parent / "tests" / "rewrite" /
                                                              "user_dyconv_mnv3.py", "dy_mobilenetv3_small"),
    "zoo mobilenetv3-small-dyconv": ("zoo", "mobilenetv3-small-dyconv", None),
}


def build(kind, src, factory, size):
    """(model with BatchNorm statistics from data, edgekit source string)."""
    import torch

    from edgekit.models.source import load_model

    torch.manual_seed(0)
    source = f"{src}:{factory}" if kind == "file" else src
    model, _ = load_model(source, input_shape=f"3,{size},{size}", condition_user=True) if kind == "file" else \
        load_model(source, input_size=size)
    return model.eval(), source


def main(argv=None) -> int:
    import torch

    from edgekit.analysis.census_tflite import census
    from edgekit.exporters.pipeline import export_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--models", default=None, help="comma-separated substrings of the labels to run (default: all)")
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        chosen = {k: v for k, v in MODELS.items()
                  if args.models is None or any(m.strip() in k for m in args.models.split(","))}
        for label, (kind, src, factory) in chosen.items():
            t0 = time.perf_counter()
            model, source = build(kind, src, factory, args.size)
            weights = tmp / "w.pth"
            torch.save(model.state_dict(), weights)
            stock = stock_tflite(model, args.size, tmp / "stock.tflite")
            with quiet():
                r = export_model(source, "tflite", input_size=args.size if kind == "zoo" else None,
                                 input_shape=f"3,{args.size},{args.size}" if kind == "file" else None,
                                 weights=str(weights), out=tmp / "edgekit.tflite", force=True,
                                 **({"condition": False} if kind == "file" else {}))
            ours = r.file
            parts = {k: census(f)["delegate"] for k, f in (("stock", stock), ("edgekit", ours))}
            timed = pair_at_threads({"edgekit": ours, "stock": stock}, threads, args.rounds, args.block)
            rows += [(label, n, t["ratio"], t["b_ms"], t["a_ms"], parts["stock"], parts["edgekit"])
                     for n, t in timed.items()]
            print(f"{label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    lines = [f"LiteRT (ai-edge-litert), {args.size}x{args.size}, {args.rounds} interleaved rounds of {args.block} runs; "
             "ratio = median over rounds of edgekit / stock.", "",
             "| model | threads | edgekit / stock | stock ms | edgekit ms | stock partitions / default ops | "
             "edgekit partitions / default ops |", "|---|---:|---:|---:|---:|---|---|"]
    for label, n, ratio, s_ms, e_ms, ps, pe in rows:
        lines.append(f"| {label} | {n} | {ratio:.3f} | {s_ms:.2f} | {e_ms:.2f} | {partitions_text(ps)} | "
                     f"{partitions_text(pe)} |")
    emit("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
