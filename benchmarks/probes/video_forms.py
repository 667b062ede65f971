"""Which frames form of Conv3D runs fastest (issue 15): c3d-small at 8×112×112, 1 thread, one process.

Variants of the same weights, each file timed interleaved with the others on its runtime
(stock.time_alternating; medians of blocks):
  stock      the unmodified Conv3D model (litert_torch.convert / torch.onnx.export)
  stacked    time in the batch, the k_t taps concatenated along channels, one conv2d per layer
  sum        time in the batch, k_t conv2d + adds per layer
  channels   time folded into channels: (1, T'·k_t·C, H, W), one grouped conv2d (T' groups)

    python benchmarks/probes/video_forms.py -o benchmarks/results/video_forms.md
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stock import quiet, time_alternating  # noqa: E402


def variants(model, shape):
    from edgekit.rewrite.base import RewriteContext
    from edgekit.rewrite.conv3d_frames import Conv3dToFrames
    from edgekit.rewrite.fold_batchnorm import FoldBatchNorm
    from edgekit.rewrite.frames_layout import KeepFramesLayout
    from edgekit.rewrite.pool3d_frames import Pool3dToFrames

    out = {"stock": model}
    for form in ("stacked", "sum", "channels"):
        m = copy.deepcopy(model)
        ctx = RewriteContext(shape, "tflite")
        for p in (FoldBatchNorm(), Conv3dToFrames(form), Pool3dToFrames(), KeepFramesLayout()):
            p.apply(m, ctx)
        out[form] = m.eval()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="c3d-small")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from edgekit.analysis.census_tflite import census
    from edgekit.exporters.onnx import torch_to_onnx
    from edgekit.exporters.tflite import litert_convert
    from edgekit.models.source import load_model
    from edgekit.runtimes.base import open_runner

    torch.manual_seed(0)
    model, card = load_model(args.model)
    shape = tuple(card.input_size)
    x = torch.zeros((1, *shape))
    feed = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    models = variants(model, shape)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {"litert": {}, "onnxruntime": {}}
        for name, m in models.items():
            with quiet(), torch.no_grad():
                p = Path(tmp) / f"{name}.tflite"
                p.write_bytes(litert_convert(m, x))
                files["litert"][name] = p
                o = Path(tmp) / f"{name}.onnx"
                torch_to_onnx(m, x, o, 18)
                files["onnxruntime"][name] = o
        ref = model(torch.from_numpy(feed)).detach().numpy()
        for runtime, fs in files.items():
            runners = {k: open_runner(f, runtime, threads=1) for k, f in fs.items()}
            for k, r in runners.items():
                y = r.run(feed)[0]
                err = float(np.abs(y - ref).max() / np.abs(ref).max())
                d = census(fs[k])["delegate"] if runtime == "litert" else {}
                rows.append({"runtime": runtime, "variant": k, "rel_err": err,
                             "partitions": d.get("partitions"), "default_ops": d.get("default_kernel_ops")})
            ms = time_alternating(runners, {k: feed for k in runners}, args.rounds, args.block)
            for row in rows:
                if row["runtime"] == runtime:
                    row["ms"] = ms[row["variant"]]
                    row["vs_stock"] = ms[row["variant"]] / ms["stock"]
            print(runtime, {k: round(v, 2) for k, v in ms.items()}, flush=True)
    lines = [f"# Conv3D frames forms, {args.model} {shape}, 1 thread, one interleaved run", "",
             "| runtime | variant | ms | / stock | XNNPACK partitions / default-kernel ops | max rel err |",
             "|---|---|---:|---:|---|---:|"]
    for r in rows:
        part = f"{r['partitions']} / {r['default_ops']}" if r["partitions"] is not None else ""
        lines.append(f"| {r['runtime']} | {r['variant']} | {r['ms']:.2f} | {r['vs_stock']:.2f} | {part} | {r['rel_err']:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
