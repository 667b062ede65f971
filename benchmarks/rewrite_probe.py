"""Exploration: stock vs rewritten MicroNet on onnxruntime and LiteRT, 1 thread, one run, ratios.

    python benchmarks/rewrite_probe.py --model micronet-m0 --size 224 [--variants base,fused] [--no-tflite]

Variants: `base` = default pipeline for the target, `fused` = plus the separable-depthwise fusion,
`nofuse` = without it. Medians of alternating rounds; absolute times on a shared machine mean little.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter

os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
import numpy as np  # noqa: E402
import torch  # noqa: E402


def conditioned(name: str, seed: int = 1):
    """A zoo model with non-trivial BatchNorm statistics and hyper-function weights."""
    import edgekit.models.zoo  # noqa: F401
    from edgekit.models.registry import create_model

    m = create_model(name).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                n = mod.num_features
                mod.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                mod.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                mod.weight.copy_(torch.rand(n, generator=g) + 0.5)
                mod.bias.copy_(torch.rand(n, generator=g) * 0.6 - 0.3)
    return m


def to_onnx(model, shape) -> bytes:
    import onnx
    import onnxslim

    f = io.BytesIO()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model.eval(), (torch.randn(1, *shape),), f, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"])
        m = onnxslim.slim(onnx.load_from_string(f.getvalue()))
    return m.SerializeToString()


def onnx_census(content: bytes) -> dict:
    import onnx

    c = Counter(n.op_type for n in onnx.load_from_string(content).graph.node)
    return {"nodes": sum(c.values()), "gather": c["Gather"] + c["GatherND"], "transpose": c["Transpose"],
            "reshape": c["Reshape"], "slice": c["Slice"], "concat": c["Concat"]}


def ort_runner(content: bytes, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    s = ort.InferenceSession(content, so, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    x = np.random.randn(*inp.shape).astype(np.float32)
    return lambda: s.run(None, {inp.name: x})


def to_tflite(model, shape) -> bytes:
    import litert_torch

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        edge = litert_torch.convert(model.eval(), (torch.randn(1, *shape),))
    mc = edge.model_content
    return bytes(mc() if callable(mc) else mc)


def tflite_census(content: bytes) -> dict:
    from edgekit.analysis.census_tflite import census

    with tempfile.NamedTemporaryFile(suffix=".tflite", delete=False) as f:
        f.write(content)
    try:
        c = census(f.name)
    finally:
        os.unlink(f.name)
    return {"ops": c.get("nodes", c.get("ops_total")), "transpose": c["transpose"], "reshape": c["reshape"], "gather": c["gather"],
            "partitions": c["delegate"]["partitions"], "default_kernel_ops": c["delegate"]["default_kernel_ops"],
            "by_type": c["ops"]}


def tflite_runner(content: bytes, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=content, num_threads=threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    x = np.random.randn(*inp["shape"]).astype(np.float32)

    def run():
        it.set_tensor(inp["index"], x)
        it.invoke()
    return run


def openvino_runner(onnx_content: bytes, threads: int = 1):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(_tmp_file(onnx_content, ".onnx"))
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
    req = compiled.create_infer_request()
    x = np.random.randn(*compiled.input(0).shape).astype(np.float32)
    return lambda: req.infer({0: x})


def _tmp_file(content: bytes, suffix: str) -> str:
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as f:
        f.write(content)
    return f.name


def compare(runners: dict, rounds: int = 21, iters: int = 20, warm: int = 30) -> dict:
    """Median ms per run; rounds alternate between runners so load drifts hit all alike."""
    for r in runners.values():
        for _ in range(warm):
            r()
    times = {k: [] for k in runners}
    for _ in range(rounds):
        for k, r in runners.items():
            t = time.perf_counter()
            for _ in range(iters):
                r()
            times[k].append((time.perf_counter() - t) / iters * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def variants(model, shape, names, target):
    from edgekit.rewrite.fuse_separable_depthwise import FuseSeparableDepthwise
    from edgekit.rewrite.pipeline import default_passes, rewrite_for_export
    from edgekit.rewrite.shift_max_from_producer import ShiftMaxFromProducer

    out = {}
    for name in names:  # "+"-joined options: fused, producer, producerdw (through depthwise convs); "base" = defaults
        opts = set(name.split("+"))
        passes = [p for p in default_passes(target) if not isinstance(p, (FuseSeparableDepthwise, ShiftMaxFromProducer))]
        if "producer" in opts or "producerdw" in opts:
            passes.append(ShiftMaxFromProducer(through_depthwise="producerdw" in opts))
        if "fused" in opts:
            passes.append(FuseSeparableDepthwise())
        if "base" in opts:
            passes = None
        out[name], _ = rewrite_for_export(model, shape, target=target, passes=passes)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="micronet-m0")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--variants", default="nofuse,fused")
    ap.add_argument("--no-tflite", action="store_true")
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--openvino", action="store_true", help="also OpenVINO (IR read from the ONNX export)")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--out", help="also write the result JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    shape = (3, args.size, args.size)
    stock = conditioned(args.model)
    names = [v for v in args.variants.split(",") if v]
    result = {"model": args.model, "size": args.size}
    if not args.no_onnx:
        models = {"stock": stock, **variants(stock, shape, names, "onnx")}
        files = {k: to_onnx(m, shape) for k, m in models.items()}
        result["onnx_census"] = {k: onnx_census(v) for k, v in files.items()}
        ms = compare({k: ort_runner(v) for k, v in files.items()}, rounds=args.rounds)
        result["ort_ms"] = ms
        result["ort_ratio"] = {k: ms[k] / ms["stock"] for k in ms}
        print(json.dumps({k: result[k] for k in ("onnx_census", "ort_ms", "ort_ratio")}, indent=1), flush=True)
    if args.openvino:
        models = {"stock": stock, **variants(stock, shape, names, "openvino")}
        files = {k: to_onnx(m, shape) for k, m in models.items()}
        ms = compare({k: openvino_runner(v) for k, v in files.items()}, rounds=args.rounds)
        result["openvino_ms"] = ms
        result["openvino_ratio"] = {k: ms[k] / ms["stock"] for k in ms}
        print(json.dumps({k: result[k] for k in ("openvino_ms", "openvino_ratio")}, indent=1), flush=True)
    if not args.no_tflite:
        models = {"stock": stock, **variants(stock, shape, names, "tflite")}
        files = {}
        for k, m in models.items():
            t = time.perf_counter()
            files[k] = to_tflite(m, shape)
            result.setdefault("tflite_convert_s", {})[k] = time.perf_counter() - t
        result["tflite_census"] = {k: tflite_census(v) for k, v in files.items()}
        ms = compare({k: tflite_runner(v) for k, v in files.items()}, rounds=args.rounds)
        result["tflite_ms"] = ms
        result["tflite_ratio"] = {k: ms[k] / ms["stock"] for k in ms}
        print(json.dumps({k: result[k] for k in ("tflite_convert_s", "tflite_census", "tflite_ms", "tflite_ratio")},
                         indent=1), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
