"""DY-Conv static forms (branches / stacked / input_mix): per layer and per whole model, per runtime.

    python benchmarks/dyconv_forms.py --size 224 --targets onnx,tflite,openvino \
        --out benchmarks/results/dyconv_forms

1. Per layer: every distinct DynamicConv2d (configuration + input shape) of each DY-Conv zoo model
   exported alone in each form and timed interleaved on the target runtime, 1 thread
   (`edgekit.rewrite.tune.measure_forms`, the tuner's own measurement). The fastest form per layer
   is its pick.
2. Whole model: the default rewrite pipeline with every layer in one form (branches, stacked,
   input_mix) and with the per-layer picks, exported with the edgekit exporter (fp32), timed
   interleaved (`benchmark_files`, 1 thread); latency ratio to the all-branches export, graph node
   count, MAdds (count_madds of the rewritten model).
Ratios only: the machine is shared. Writes <out>.json and <out>.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELS = ("mobilenetv3-small-dyconv", "resnet18-dyconv")


def per_layer(model, size, target, seconds):
    from edgekit.models.dyconv import DynamicConv2d
    import torch

    from edgekit.rewrite.base import input_shapes
    from edgekit.rewrite.dyconv_forms import FORMS, layer_key, layer_kind
    from edgekit.rewrite.tune import measure_forms

    with torch.no_grad():
        shapes = {k: tuple(v[1:]) for k, v in input_shapes(model, (3, size, size), DynamicConv2d).items()}
    rows, cache = [], {}
    for name, m in model.named_modules():
        if not isinstance(m, DynamicConv2d):
            continue
        key = layer_key(m, shapes[id(m)])
        if key not in cache:
            cache[key] = measure_forms({f: F(m).eval() for f, F in FORMS.items()}, shapes[id(m)], target, seconds)
            t = cache[key]
            print(f"  {target} {name:28s} {layer_kind(m):9s} {m.in_channels}->{m.out_channels} "
                  f"k{m.kernel_size[0]} s{m.stride[0]} @{shapes[id(m)][1]}: "
                  + " ".join(f"{f}={v:.4f}" for f, v in t.items()), file=sys.stderr, flush=True)
        t = cache[key]
        rows.append({"name": name, "kind": layer_kind(m), "cin": m.in_channels, "cout": m.out_channels,
                     "kernel": m.kernel_size[0], "stride": m.stride[0], "groups": m.groups,
                     "input_shape": list(shapes[id(m)]), "timings_ms": t, "pick": min(t, key=t.get)})
    return rows


def whole_model(model, size, target, picks, seconds, tmp: Path, forms=None, tuned=False):
    from edgekit.analysis.flops import count_madds
    from edgekit.exporters.pipeline import analyse
    from edgekit.rewrite.dyconv_forms import FORMS, DynamicConvToStaticForms
    from edgekit.rewrite.pipeline import default_passes, rewrite_for_export
    from edgekit.rewrite.tune import export_one
    from edgekit.runtimes.bench import benchmark_files

    variants = {f: DynamicConvToStaticForms(forms=(f,)) for f in (forms or FORMS)}
    if picks:
        variants["picked"] = DynamicConvToStaticForms(picks=picks)  # the per-layer fastest, measured above
    variants["rule"] = DynamicConvToStaticForms()  # the untuned default: dyconv_forms.RULE
    if tuned:
        variants["tuned"] = DynamicConvToStaticForms()  # rewrite_for_export(tune=True): measured, with MARGIN
    files, info = {}, {}
    for v, dy in variants.items():
        passes = [dy if p.name == "dyconv_static" else p for p in default_passes(target)]
        net, log = rewrite_for_export(model, (3, size, size), target=target, passes=passes,
                                      verify=(v in ("picked", "rule", "tuned")), tune=(v == "tuned"))
        files[v] = export_one(net, (3, size, size), target, tmp / f"{target}_{v}")
        census, _, _ = analyse(target, files[v])
        info[v] = {"nodes": (census or {}).get("nodes"), "madds": int(count_madds(net, (3, size, size)).total_madds),
                   "max_abs_diff": max(r.max_abs_diff for r in log),
                   "forms": next((r.details.get("forms") for r in log if r.name == "dyconv_static"), None)}
    res = benchmark_files(list(files.values()), threads=1, warmup=3, seconds=seconds)
    for v, r in zip(files, res):
        info[v]["median_ms"] = round(float(r["latency_ms"]["median"]), 4)
    base = info["branches"]["median_ms"]
    for v in info:
        info[v]["ratio_vs_branches"] = round(info[v]["median_ms"] / base, 3)
    return info


def markdown(result) -> str:
    out = [f"# DY-Conv static forms, {result['size']}x{result['size']}, 1 thread, fp32", "",
           f"`python benchmarks/dyconv_forms.py --size {result['size']} --targets {','.join(result['targets'])}` "
           f"({result['date']}, one run; shared 2-core machine: ratios only).", "",
           "## Whole model: latency ratio to the all-branches form (lower is faster), graph nodes, MAdds", "",
           "| model | target | form | ratio | median ms | nodes | MAdds |", "|---|---|---|---:|---:|---:|---:|"]
    for model, per_target in result["models"].items():
        for target, r in per_target.items():
            for v, i in r["whole"].items():
                out.append(f"| {model} | {target} | {v} | {i['ratio_vs_branches']:.3f} | {i['median_ms']:.3f} | "
                           f"{i['nodes']} | {i['madds']:,} |")
    out += ["", "## Per layer: median ms of each form alone (interleaved), fastest in bold", ""]
    for model, per_target in result["models"].items():
        for target, r in per_target.items():
            if not r["layers"]:
                continue
            forms = list(r["layers"][0]["timings_ms"])
            out += [f"### {model} on {target}", "",
                    "| layer | kind | cin→cout | k/s | input | " + " | ".join(forms) + " | pick |",
                    "|---|---|---|---|---|" + "---:|" * len(forms) + "---|"]
            seen = set()
            for row in r["layers"]:
                t = row["timings_ms"]
                key = (row["kind"], row["cin"], row["cout"], row["kernel"], row["stride"], tuple(row["input_shape"]))
                if key in seen:
                    continue
                seen.add(key)
                cells = [f"**{t[f]:.4f}**" if f == row["pick"] else f"{t[f]:.4f}" for f in forms]
                out.append(f"| {row['name']} | {row['kind']} | {row['cin']}→{row['cout']} | {row['kernel']}/{row['stride']} | "
                           f"{row['input_shape'][1]}² | " + " | ".join(cells) + f" | {row['pick']} |")
            out.append("")
    if not result.get("by_kind"):
        return "\n".join(out) + "\n"
    out += ["## Per layer kind: geometric-mean latency ratio to branches over the distinct layers, and the picks", "",
            "| target | kind | " + " | ".join(f"{f}/branches" for f in OTHERS) + " | picks |",
            "|---|---|" + "---:|" * len(OTHERS) + "---|"]
    for target, kinds in result["by_kind"].items():
        for kind, s in kinds.items():
            out.append(f"| {target} | {kind} | " + " | ".join(f"{s[f]:.3f}" if f in s else "-" for f in OTHERS) + f" | {s['picks']} |")
    return "\n".join(out) + "\n"


OTHERS = ("stacked", "input_mix", "tiled")


def by_kind(result):
    acc = defaultdict(lambda: defaultdict(lambda: {**{f: [] for f in OTHERS}, "picks": defaultdict(int)}))
    for per_target in result["models"].values():
        for target, r in per_target.items():
            seen = set()
            for row in r["layers"]:
                key = (row["kind"], row["cin"], row["cout"], row["kernel"], row["stride"], tuple(row["input_shape"]))
                if key in seen:
                    continue
                seen.add(key)
                kind = row["kind"] if row["kind"] != "pointwise" else "expand" if row["cout"] > row["cin"] else "project"
                a, t = acc[target][kind], row["timings_ms"]
                for f in OTHERS:
                    if f in t:
                        a[f].append(t[f] / t["branches"])
                a["picks"][row["pick"]] += 1
    return {t: {k: {**{f: statistics.geometric_mean(a[f]) for f in OTHERS if a[f]}, "picks": dict(a["picks"])}
                for k, a in kinds.items()} for t, kinds in acc.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--targets", default="onnx,tflite,openvino")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--layer-seconds", type=float, default=0.3)
    ap.add_argument("--model-seconds", type=float, default=4.0)
    ap.add_argument("--out", default="benchmarks/results/dyconv_forms")
    ap.add_argument("--render", help="only re-render <out>.md from this result JSON")
    ap.add_argument("--tuned", action="store_true", help="with --whole-only: also the --tune-forms rewrite")
    ap.add_argument("--whole-only", action="store_true",
                    help="skip the per-layer timing: whole models as all-branches vs the rule only")
    args = ap.parse_args()
    if args.render:
        result = json.loads(Path(args.render).read_text())
        result["by_kind"] = by_kind(result)
        Path(args.out + ".md").write_text(markdown(result))
        return
    import torch

    from stock import quiet, reference_model

    torch.set_num_threads(1)
    result = {"size": args.size, "targets": args.targets.split(","), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "models": {}}
    with tempfile.TemporaryDirectory(prefix="dyconv-forms-") as tmp:
        for name in args.models.split(","):
            model = reference_model(name, args.size).eval()
            result["models"][name] = {}
            for target in result["targets"]:
                with quiet():
                    if args.whole_only:
                        layers = []
                        whole = whole_model(model, args.size, target, None, args.model_seconds, Path(tmp), ("branches",),
                                            tuned=args.tuned)
                    else:
                        layers = per_layer(model, args.size, target, args.layer_seconds)
                        picks = {row["name"]: row["pick"] for row in layers}
                        whole = whole_model(model, args.size, target, picks, args.model_seconds, Path(tmp))
                print(f"{name} {target}: " + ", ".join(f"{v} {i['ratio_vs_branches']:.3f} ({i['nodes']} nodes)"
                                                      for v, i in whole.items()), flush=True)
                result["models"][name][target] = {"layers": layers, "whole": whole}
                Path(args.out + ".json").write_text(json.dumps(result, indent=1))
    result["by_kind"] = by_kind(result)
    Path(args.out + ".json").write_text(json.dumps(result, indent=1))
    Path(args.out + ".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
