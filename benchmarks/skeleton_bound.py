"""How fast could an exact rewrite of MicroNet possibly be? The static skeleton as a lower bound.

The *skeleton* is edgekit's rewritten model for a target with every Dynamic Shift-Max deleted
(replaced by identity; a Shift-Max computed from a producer conv keeps that conv) and the head's
hard-swish made ReLU6 (XNNPACK runs no INT8 hard-swish; it would split the INT8 graph). It is NOT an
equivalent model: it is what would remain if Shift-Max cost nothing at all. Any exact rewrite that
keeps the network's convolutions therefore runs at best at the skeleton's speed, so

  skeleton / stock              bounds edgekit / stock from below          (issues 3 and 4)
  skeleton INT8 / skeleton FP32 bounds what 8-bit convolutions can save    (issue 5)

For each runtime, in one process, 1 thread, interleaved (edgekit.runtimes.bench.benchmark_files):
stock (the unmodified model), edgekit (the exact rewrite), skeleton FP32, skeleton INT8 (the runtime's
own full INT8 path: the fastest of onnxruntime quantize_static QDQ per-channel / QDQ per-tensor /
QOperator, NNCF, ai-edge-quantizer static int8; see stock.py). Every variant goes through the same
converter (stock.py), so the converter is not what differs. The one LiteRT INT8 op left on default
kernels is the stem's border-correction ADD (its two input scales differ by more than XNNPACK's 2^8).

    python benchmarks/skeleton_bound.py                      # M0 at 224
    python benchmarks/skeleton_bound.py --models m0 m3 -o benchmarks/results/skeleton_bound.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stock import ort_quantize, quiet, reference_model, stock_int8, stock_onnx, stock_tflite  # noqa: E402

TARGET_OF = {"onnxruntime": "onnx", "litert": "tflite", "openvino": "openvino"}


def skeleton(model):
    """The rewritten model with every Shift-Max removed (a producer conv it owns is kept)."""
    from torch import nn

    from edgekit.models.layers import HSwish
    from edgekit.rewrite.base import replace_children
    from edgekit.rewrite.shift_max_from_producer import ConvShiftMax
    from edgekit.rewrite.shift_max_static import StaticShiftMax

    # XNNPACK has no INT8 hard-swish: ReLU6 keeps the INT8 skeleton delegated
    replace_children(model, lambda m: nn.ReLU6() if isinstance(m, (HSwish, nn.Hardswish)) else None)
    removed = replace_children(model, lambda m: nn.Identity() if isinstance(m, StaticShiftMax) else
                               nn.Sequential(m.conv, *m.chain) if isinstance(m, ConvShiftMax) else None)
    return model, removed


def files_for(runtime: str, model, size: int, tmp: Path, tag: str, calib) -> dict[str, Path]:
    from edgekit.rewrite.pipeline import rewrite_for_export

    target = TARGET_OF[runtime]
    with quiet():
        exact, _ = rewrite_for_export(model, (3, size, size), target)
        bare, removed = skeleton(rewrite_for_export(model, (3, size, size), target, verify=False)[0])
    if removed == 0:
        raise SystemExit("no Shift-Max found: the skeleton bound is for MicroNet")
    convert = stock_tflite if runtime == "litert" else stock_onnx
    ext = ".tflite" if runtime == "litert" else ".onnx"
    out = {"stock": convert(model, size, tmp / f"{tag}-stock{ext}"),
           "edgekit": convert(exact, size, tmp / f"{tag}-{target}-edgekit{ext}"),
           "skeleton": convert(bare, size, tmp / f"{tag}-{target}-skeleton{ext}")}
    out["skeleton int8"] = stock_int8(runtime, bare, size, calib, tmp, f"{tag}-{target}-skeleton")
    if runtime == "onnxruntime":  # the QDQ per-channel default is not onnxruntime's fastest INT8 form
        out.update(ort_int8_forms(out["skeleton"], calib, tmp, f"{tag}-{target}-skeleton"))
    return out


def ort_int8_forms(src: Path, calib, tmp: Path, tag: str) -> dict[str, Path]:
    """The other onnxruntime INT8 layouts: QDQ per-tensor, and QOperator (QLinearConv) per-tensor."""
    return {f"skeleton int8 {fmt} per-tensor": ort_quantize(src, calib, tmp / f"{tag}-{fmt}.onnx", fmt, per_channel=False)
            for fmt in ("qdq", "qoperator")}


def partitions(path: Path) -> str:
    from edgekit.analysis.census_tflite import census

    d = census(path)["delegate"]
    return f"{d['partitions']} / {d['default_kernel_ops']}"


def run_model(variant: str, size: int, runs: int, tmp: Path) -> list[dict]:
    import numpy as np

    from edgekit.runtimes.bench import benchmark_files

    name = f"micronet-{variant}"
    model = reference_model(name, size)
    calib = np.random.default_rng(0).standard_normal((16, 3, size, size)).astype(np.float32)
    rows = []
    for runtime in ("onnxruntime", "litert", "openvino"):
        files = files_for(runtime, model, size, tmp, name, calib)
        res = benchmark_files(list(files.values()), runtime=runtime, threads=1, warmup=20, runs=runs)
        ms = {k: r["latency_ms"]["median"] for k, r in zip(files, res)}
        int8 = min(v for k, v in ms.items() if k.startswith("skeleton int8"))
        for k in [k for k in ms if k.startswith("skeleton int8 ")]:  # keep the fastest INT8 form only
            print(f"  {name} {runtime} {k}: {ms.pop(k):.3f} ms")
        ms["skeleton int8"] = int8
        parts = {k: partitions(files[k]) for k in ("stock", "skeleton", "skeleton int8")} if runtime == "litert" else {}
        row = {"model": name, "runtime": runtime, **{f"{k} ms": v for k, v in ms.items()},
               "edgekit/stock": ms["edgekit"] / ms["stock"], "skeleton/stock": ms["skeleton"] / ms["stock"],
               "skeleton int8/fp32": ms["skeleton int8"] / ms["skeleton"],
               "partitions": " · ".join(f"{k} {v}" for k, v in parts.items())}
        rows.append(row)
        print(f"{name:12s} {runtime:12s} " + "  ".join(f"{k} {v:.3f}" for k, v in ms.items())
              + f"  | edgekit/stock {row['edgekit/stock']:.2f}  skeleton/stock {row['skeleton/stock']:.2f}"
                f"  skeleton int8/fp32 {row['skeleton int8/fp32']:.2f}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    keys = ["stock ms", "edgekit ms", "skeleton ms", "skeleton int8 ms", "edgekit/stock", "skeleton/stock",
            "skeleton int8/fp32"]
    lines = ["| model | runtime | " + " | ".join(keys) + " | XNNPACK partitions / default-kernel ops |",
             "|---|---|" + "---:|" * len(keys) + "---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['runtime']} | " + " | ".join(
            f"{r[k]:.3f}" if k.endswith("ms") else f"**{r[k]:.2f}**" for k in keys) + f" | {r['partitions']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["m0"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("-o", "--out", type=Path, help="write the Markdown table here")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for v in args.models:
            rows += run_model(v, args.size, args.runs, Path(tmp))
    md = table(rows)
    print("\n" + md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# The static skeleton as a lower bound, {args.size}x{args.size}, batch 1, 1 thread, "
                            f"one run per runtime\n\n{__doc__.split(chr(10) + chr(10), 1)[1].split('    python')[0]}"
                            f"{md}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
