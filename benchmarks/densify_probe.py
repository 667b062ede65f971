"""Exploration: does densifying grouped 1x1 convs (block-diagonal dense weights) speed up the rewrite?

    python benchmarks/densify_probe.py --model micronet-m0 --size 224 --targets onnx,tflite

Variants: stock (unmodified model), base (default pipeline for the target), dense<N> (pipeline +
DensifyGroupedPointwise(max_dense_madds_per_pixel=N)). Exported with the edgekit exporters (opset 18,
fp32), 1 thread, medians of alternating rounds; the comparison is repeated `--repeats` times in one
process. Ratios only: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from rewrite_probe import compare, conditioned, ort_runner, tflite_runner, to_onnx, to_tflite  # noqa: E402


def export(model, shape, target: str, tmp: str, name: str) -> bytes:
    from edgekit.exporters.base import ExportOptions, get_exporter

    path = Path(tmp) / f"{name}.{'onnx' if target == 'onnx' else 'tflite'}"
    get_exporter(target).convert(model, torch.zeros(1, *shape), [path], ExportOptions(target=target))
    return path.read_bytes()


def main(argv=None):
    from edgekit.analysis.flops import count_madds
    from edgekit.rewrite.densify_grouped_pointwise import DensifyGroupedPointwise
    from edgekit.rewrite.pipeline import default_passes, rewrite_for_export

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="micronet-m0")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--targets", default="onnx,tflite")
    ap.add_argument("--thresholds", default="4096,16384,1000000")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-stock", action="store_true")
    ap.add_argument("--stem", action="store_true", help="also `stem`: base with the stem's grouped convs dense "
                    "(MicroNet's stem (1,3) conv is depthwise with multiplier 2-3, so the pass itself skips it)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    shape = (3, args.size, args.size)
    stock = conditioned(args.model)
    result = {"model": args.model, "size": args.size}
    for target in args.targets.split(","):
        models = {}
        base, _ = rewrite_for_export(stock, shape, target=target)
        models["base"] = base
        madds = {"base": int(count_madds(base, shape).conv_madds)}
        for t in (int(s) for s in args.thresholds.split(",")):
            m, log = rewrite_for_export(stock, shape, target=target,
                                        passes=[*default_passes(target), DensifyGroupedPointwise(t)])
            models[f"dense{t}"] = m
            madds[f"dense{t}"] = int(count_madds(m, shape).conv_madds)
            result.setdefault(f"{target}_sites", {})[f"dense{t}"] = log[-1].changed
        if args.stem:
            import copy

            from edgekit.rewrite.densify_grouped_pointwise import densify

            m = copy.deepcopy(base)
            sites = [(p, k, c) for p in m.features[0].modules() for k, c in p.named_children()
                     if type(c) is torch.nn.Conv2d and c.groups > 1]
            for p, k, c in sites:
                setattr(p, k, densify(c))
            models["stem"] = m
            madds["stem"] = int(count_madds(m, shape).conv_madds)
            result.setdefault(f"{target}_sites", {})["stem"] = len(sites)
        result[f"{target}_conv_madds"] = madds
        with tempfile.TemporaryDirectory() as tmp:
            files = {k: export(m, shape, target, tmp, k) for k, m in models.items()}
        if not args.no_stock:
            files["stock"] = to_onnx(stock, shape) if target == "onnx" else to_tflite(stock, shape)
        make = ort_runner if target == "onnx" else tflite_runner
        runners = {k: make(v) for k, v in files.items()}
        for r in range(args.repeats):
            ms = compare(runners, rounds=args.rounds)
            rep = {"ms": ms, "vs_base": {k: ms[k] / ms["base"] for k in ms}}
            if "stock" in ms:
                rep["vs_stock"] = {k: ms[k] / ms["stock"] for k in ms}
            result.setdefault(target, []).append(rep)
            print(json.dumps({"target": target, "repeat": r, **rep, "conv_madds": madds,
                              "sites": result[f"{target}_sites"]}), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
