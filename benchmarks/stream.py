"""Streaming video (issue 23): per-step latency of a step model against its clip model, LiteRT, 1 thread.

For each model the clip export (`edgekit export MODEL --target tflite`) and the step export
(`--stream`) are timed interleaved in one process (runtimes.bench.benchmark_files: blocks of runs,
A×k, B×k, …), the step model with live state (each step's new states fed to the next). The target
(issue 23): per-step latency ≤ 0.15 × the clip's at 16-frame clips (ideal frames_per_step / 16).

    python benchmarks/stream.py                                  # tan-small, s3d-small at 112×112
    python benchmarks/stream.py --models s3d-small --runs 50 -o benchmarks/results/stream.md
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tan-small,s3d-small")
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("-o", "--output", default="benchmarks/results/stream.md")
    args = ap.parse_args(argv)

    from edgekit.exporters.pipeline import export_model
    from edgekit.runtimes.bench import benchmark_files

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            clip = export_model(name, "tflite", input_size=args.size, out=f"{tmp}/", n_parity=2).exports[0]
            step = export_model(name, "tflite", input_size=args.size, out=f"{tmp}/", stream=True, n_parity=2).exports[0]
            res = benchmark_files([clip.file, step.file], threads=args.threads, runs=args.runs, warmup=10)
            c_ms, s_ms = res[0]["latency_ms"]["median"], res[1]["latency_ms"]["median"]
            st = step.meta["stream"]
            clip_frames = st["clip_shape"][1]
            rows.append({
                "model": name, "input": f"3×{clip_frames}×{args.size}×{args.size}", "threads": args.threads,
                "frames_per_step": st["frames_per_step"], "delay_steps": st["delay_steps"],
                "clip_ms": c_ms, "step_ms": s_ms, "step_over_clip": s_ms / c_ms,
                "ideal": st["frames_per_step"] / clip_frames,
                "clip_madds": st["clip_madds"], "step_madds": st["madds_per_step"],
                "madds_ratio": st["madds_per_step"] / st["clip_madds"],
                "state_bytes": st["state_bytes"], "states": len(st["states"]),
                "partitions": f"{step.meta['census']['delegate']['partitions']} / "
                              f"{step.meta['census']['delegate']['default_kernel_ops']}",
                "parity": max(p["rel_max_abs_diff"] for p in st["parity"]["outputs"].values()),
                "runs": args.runs,
            })
            print(json.dumps(rows[-1]), flush=True)
    lines = ["# Streaming: per-step vs clip latency (LiteRT)", "",
             "`python benchmarks/stream.py` — clip export and `--stream` step export of each model timed "
             "interleaved in one process (median of "
             f"{args.runs} runs each), the step with live state. Ideal ratio = frames per step / clip frames.", "",
             "| model | input | threads | frames/step | delay steps | clip ms | step ms | step/clip | ideal | "
             "clip MAdds | step MAdds | MAdds step/clip | states (bytes) | XNNPACK partitions / default-kernel ops "
             "(step) | streamed FP32 parity (x scale) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['input']} | {r['threads']} | {r['frames_per_step']} | {r['delay_steps']} | "
                     f"{r['clip_ms']:.2f} | {r['step_ms']:.2f} | {r['step_over_clip']:.3f} | {r['ideal']:.3f} | "
                     f"{r['clip_madds']:,} | {r['step_madds']:,} | {r['madds_ratio']:.3f} | "
                     f"{r['states']} ({r['state_bytes']:,}) | {r['partitions']} | {r['parity']:.1e} |")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_text("\n".join(lines) + "\n")
    tmp_out.replace(out)
    (out.with_suffix(".json")).write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
