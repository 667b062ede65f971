"""Which realization of each leftover channel permutation is fastest: grid transpose, 1×1
permutation conv, or absorbed into the (densified) consumer conv. LiteRT (XNNPACK) and OpenVINO,
1 thread, interleaved side by side (edgekit.runtimes.bench.benchmark_files).

    python benchmarks/permutation_forms.py sites --models micronet-m0,micronet-m3 [--size 224]
    python benchmarks/permutation_forms.py models --models micronet-m0 [--openvino]

`sites`: every permutation `fold_channel_shuffles` leaves in the tflite rewrite of each model,
cut out with its consumer and the layer that produces its input (a dense 1×1 conv, so the
tensor is laid out as in the network), converted once per form plus once without the
permutation at all ("none": the floor; not equivalent, a timing reference only). Reported: µs
per form above "none", and the form `AbsorbPermutations.costs` would choose.
`models`: whole models: stock, edgekit before this pass (`before`), each form forced everywhere,
and the default (`auto`); TRANSPOSE / RESHAPE counts, ratios to stock of medians in one run.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from stock import quiet, reference_model, stock_onnx, stock_tflite  # noqa: E402

FORMS = ("keep", "conv", "densify", "slices")


def tflite_bytes(model, shape) -> bytes:
    from edgekit.exporters.tflite import litert_convert

    with quiet(), torch.no_grad():
        return litert_convert(model.eval(), torch.zeros(1, *shape))


def onnx_file(model, shape, path: Path) -> Path:
    with quiet(), torch.no_grad():
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), str(path), dynamo=False, opset_version=17)
    return path


def counts(path: Path) -> dict:
    from edgekit.analysis.census_tflite import census

    c = census(str(path))
    return {"transpose": c["transpose"], "reshape": c["reshape"], "partitions": c["delegate"]["partitions"],
            "default_kernel_ops": c["delegate"]["default_kernel_ops"]}


def bench(paths: dict[str, Path], runtime: str, runs: int) -> dict[str, float]:
    from edgekit.runtimes.bench import benchmark_files

    res = benchmark_files(list(paths.values()), runtime=runtime, threads=1, warmup=20, runs=runs)
    return {k: r["latency_ms"]["median"] for k, r in zip(paths, res)}


def rewritten(model, shape, target: str, form: str | None, before: bool = False):
    from edgekit.rewrite.absorb_permutations import AbsorbPermutations
    from edgekit.rewrite.pipeline import default_passes, rewrite_for_export

    passes = [p for p in default_passes(target) if not isinstance(p, AbsorbPermutations)]
    if not before:
        passes.append(AbsorbPermutations(force=form))
    with quiet():
        out, _ = rewrite_for_export(model, shape, target=target, passes=passes)
    return out


# -- sites ---------------------------------------------------------------------------------------
class Site(nn.Module):
    """producer (dense 1×1) → the permutation → its consumer, as cut out of the network."""

    def __init__(self, c: int, body: nn.Sequential):
        super().__init__()
        self.pre = nn.Conv2d(c, c, 1)
        self.body = body

    def forward(self, x):
        return self.body(self.pre(x))


def sites_of(model, shape):
    """[(name, C, H, W, Sequential(PermuteChannels, consumer))] of the tflite rewrite (before this pass)."""
    from edgekit.rewrite.permute_channels import PermuteChannels

    r = rewritten(model, shape, "tflite", None, before=True)
    seen = {}
    hooks = [m.register_forward_pre_hook(lambda m, a: seen.setdefault(id(m), tuple(a[0].shape)) and None)
             for m in r.modules() if isinstance(m, PermuteChannels)]
    with torch.no_grad():
        r(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    out = []
    for name, m in r.named_modules():
        if isinstance(m, nn.Sequential) and len(m) == 2 and isinstance(m[0], PermuteChannels) \
                and m[0].kind in ("transpose", "transpose2", "conv"):
            _, c, h, w = seen[id(m[0])]
            out.append((name, c, h, w, copy.deepcopy(m)))
    return out


def site_forms(site: nn.Sequential, c: int):
    from edgekit.rewrite.absorb_permutations import AbsorbPermutations
    from edgekit.rewrite.base import RewriteContext
    from edgekit.rewrite.permute_channels import PermuteChannels

    forms = {}
    for form in FORMS:
        s = copy.deepcopy(site)
        if form == "keep" and s[0].kind == "conv":  # the transpose form of a site the fold made a conv
            s[0] = PermuteChannels(s[0].perm, False, conv_below=0)
            if s[0].kind == "conv":
                continue
        m = Site(c, s).eval()
        n = AbsorbPermutations(force=form)
        n.apply(m, RewriteContext((c, 8, 8), "tflite"))
        if form in ("densify", "slices") and n.chosen != [form]:
            continue
        forms[form] = m
    none = copy.deepcopy(site)
    none[0] = nn.Identity()
    forms["none"] = Site(c, none).eval()
    for m in forms.values():  # one producer for all forms
        m.pre.load_state_dict(forms["none"].pre.state_dict())
    return forms


def run_sites(args) -> list[dict]:
    from edgekit.rewrite.absorb_permutations import AbsorbPermutations
    from edgekit.rewrite.base import RewriteContext

    rows, done = [], {}
    tmp = Path(tempfile.mkdtemp(prefix="permforms-"))
    for name in args.models.split(","):
        shape = (3, args.size, args.size)
        for site_name, c, h, w, site in sites_of(reference_model(name, args.size), shape):
            key = (c, h, w, repr(site))
            if key in done:
                done[key]["models"].append(f"{name}:{site_name}")
                continue
            forms = site_forms(site, c)
            x = torch.randn(1, c, h, w)
            with torch.no_grad():
                ref = forms["keep" if "keep" in forms else "conv"](x)
                parity = {k: float((m(x) - ref).abs().max()) for k, m in forms.items() if k != "none"}
            paths = {}
            for k, m in forms.items():
                p = tmp / f"{len(rows)}-{k}.tflite"
                p.write_bytes(tflite_bytes(m, (c, h, w)))
                paths[k] = p
            ms = bench(paths, "litert", args.runs)
            row = {"models": [f"{name}:{site_name}"], "c": c, "h": h, "w": w, "kind": site[0].kind,
                   "consumer": type(site[1]).__name__, "litert_us": {k: round(1e3 * (v - ms["none"]), 1)
                                                                     for k, v in ms.items() if k != "none"},
                   "parity": parity}
            if args.openvino:
                ov = {k: onnx_file(m, (c, h, w), tmp / f"{len(rows)}-{k}.onnx") for k, m in forms.items()}
                ms = bench(ov, "openvino", args.runs)
                row["openvino_us"] = {k: round(1e3 * (v - ms["none"]), 1) for k, v in ms.items() if k != "none"}
            probe = Site(c, copy.deepcopy(site)).eval()
            chooser = AbsorbPermutations()
            chooser.apply(probe, RewriteContext((c, h, w), "tflite"))
            row["rule"] = chooser.chosen[0] if chooser.chosen else "keep"
            row["rule_us"] = {k: round(v / 1e3, 1) for k, v in
                              chooser.costs(site[0], site[1], h * w).items()}
            row["fastest"] = min(row["litert_us"], key=row["litert_us"].get)
            print(json.dumps(row), flush=True)
            rows.append(row)
            done[key] = row
    return rows


def sites_table(rows) -> str:
    ov = any("openvino_us" in r for r in rows)
    head = "| site (first model) | C×H×W | fold's form | consumer | LiteRT µs keep / conv / densify / slices | fastest | rule |"
    head += " OpenVINO µs keep / conv / densify / slices |" if ov else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        def f(d):
            return " / ".join(str(d[k]) if k in d else "—" for k in FORMS)
        line = (f"| {r['models'][0]}{' +' + str(len(r['models']) - 1) if len(r['models']) > 1 else ''} "
                f"| {r['c']}×{r['h']}×{r['w']} | {r['kind']} | {r['consumer']} | {f(r['litert_us'])} "
                f"| {r['fastest']} | {r['rule']} |")
        lines.append(line + (f" {f(r.get('openvino_us', {}))} |" if ov else ""))
    return "\n".join(lines)


def runtime_parity(path: Path, runtime: str, x, ref) -> float:
    """max |runtime(x) − torch(x)| / max |torch(x)|."""
    from edgekit.runtimes.base import open_runner

    y = open_runner(path, runtime, 1).run(x.numpy())[0]
    return float(abs(torch.from_numpy(y).reshape(ref.shape) - ref).max() / ref.abs().max())


# -- whole models ------------------------------------------------------------------------------
def run_models(args) -> list[dict]:
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="permforms-"))
    variants = [v for v in args.variants.split(",") if v]
    for name in args.models.split(","):
        size, shape = args.size, (3, args.size, args.size)
        model = reference_model(name, size)
        models = {v: rewritten(model, shape, "tflite", None if v == "auto" else v, before=v == "before")
                  for v in variants}
        paths = {"stock": stock_tflite(model, size, tmp / f"{name}-stock.tflite")}
        with torch.no_grad():
            x = torch.randn(1, *shape)
            ref = model(x)
            scale = float(ref.abs().max())
            parity = {v: float((m(x) - ref).abs().max()) / scale for v, m in models.items()}
        for v, m in models.items():
            p = tmp / f"{name}-{v}.tflite"
            p.write_bytes(tflite_bytes(m, shape))
            paths[v] = p
        ms = bench(paths, "litert", args.runs)
        row = {"model": name, "size": size, "litert_ms": ms, "litert_ratio": {k: v / ms["stock"] for k, v in ms.items()},
               "census": {k: counts(p) for k, p in paths.items()}, "torch_parity": parity,
               "litert_parity": {k: runtime_parity(p, "litert", x, ref) for k, p in paths.items()}}
        if args.openvino:
            ov = {"stock": stock_onnx(model, size, tmp / f"{name}-stock.onnx")}
            for v in variants:
                ov[v] = onnx_file(rewritten(model, shape, "openvino", None if v == "auto" else v, before=v == "before"),
                                  shape, tmp / f"{name}-{v}-ov.onnx")
            ms = bench(ov, "openvino", args.runs)
            row["openvino_parity"] = {k: runtime_parity(p, "openvino", x, ref) for k, p in ov.items()}
            row["openvino_ms"] = ms
            row["openvino_ratio"] = {k: v / ms["stock"] for k, v in ms.items()}
        if args.onnxruntime:  # the ONNX target (the pass is off there by default): before vs forced on
            ox = {"stock": stock_onnx(model, size, tmp / f"{name}-stock-ort.onnx")}
            for v in variants:
                ox[v] = onnx_file(rewritten(model, shape, "onnx", None if v == "auto" else v, before=v == "before"),
                                  shape, tmp / f"{name}-{v}-ort.onnx")
            ms = bench(ox, "onnxruntime", args.runs)
            row["onnxruntime_ratio"] = {k: v / ms["stock"] for k, v in ms.items()}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def models_table(rows) -> str:
    variants = [k for k in rows[0]["litert_ms"] if k != "stock"]
    head = ("| model | " + " | ".join(f"LiteRT {v}/stock" for v in variants) + " | "
            + " | ".join(f"TRANSPOSE/RESHAPE {v}" for v in ["stock"] + variants) + " |")
    head += " max parity LiteRT |"
    if "openvino_ms" in rows[0]:
        head += " " + " | ".join(f"OV {v}/stock" for v in variants) + " | max parity OV |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        c = r["census"]
        line = (f"| {r['model']} | " + " | ".join(f"{r['litert_ratio'][v]:.3f}" for v in variants) + " | "
                + " | ".join(f"{c[v]['transpose']}/{c[v]['reshape']}" for v in ["stock"] + variants) + " |")
        line += f" {max(r['litert_parity'][v] for v in variants):.1e} |"
        if "openvino_ms" in r:
            line += (" " + " | ".join(f"{r['openvino_ratio'][v]:.3f}" for v in variants)
                     + f" | {max(r['openvino_parity'][v] for v in variants):.1e} |")
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("sites", "models"))
    ap.add_argument("--models", default="micronet-m0")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--variants", default="before,no_transpose,auto")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--openvino", action="store_true")
    ap.add_argument("--onnxruntime", action="store_true", help="models: also the onnx target on onnxruntime")
    ap.add_argument("--out", help="append the markdown table and JSON rows here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = run_sites(args) if args.mode == "sites" else run_models(args)
    table = sites_table(rows) if args.mode == "sites" else models_table(rows)
    print(table)
    if args.out:
        with open(args.out, "a") as f:
            f.write(f"\n`python benchmarks/permutation_forms.py {' '.join(argv or sys.argv[1:])}`\n\n{table}\n\n"
                    f"<details><summary>rows</summary>\n\n```json\n{json.dumps(rows, indent=1)}\n```\n</details>\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
