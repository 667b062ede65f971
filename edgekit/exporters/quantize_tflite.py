"""INT8 for LiteRT: ai-edge-quantizer static INT8 (int8 weights and activations) on the FP32 .tflite.

Same policy as the other targets (edgekit.exporters.quantize_policy): each CONV_2D /
DEPTHWISE_CONV_2D / FULLY_CONNECTED gets its own static-INT8 recipe entry (scope = its output
tensor), so the dynamic heads and everything element-wise stay float unless measured faster and
as accurate on LiteRT (XNNPACK, 1 thread). Calibration runs once over the float model; every
variant reuses its ranges. Works on any FP32 .tflite (edgekit's export or a stock conversion). Percentile / entropy ranges
are edgekit's own (see METHOD_IMPL).
"""

from __future__ import annotations

import contextlib
import io
import re
import time

import numpy as np

from edgekit.analysis.accuracy import tensor_error
from edgekit.errors import EdgekitError
from edgekit.exporters.quantize_onnx import Layer, check_max_drop, n_samples, split_calibration, take
from edgekit.exporters.quantize_policy import (policy_report, choose_groups, accuracy_with_budget, initial_precision,
                                               initial_reasons, rank_by_added_error, alternating_ms,
                                               annotate_layers, eval_score)

WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
POOLS = ("MEAN", "AVERAGE_POOL_2D", "REDUCE_MAX")
METHODS = ("minmax", "percentile", "entropy")
# What each --calib-method really runs. ai-edge-quantizer's calibrate() keeps a moving average (factor
# 0.95) of per-sample min / max, which is not the min / max of the set: on the digits fixture it
# clipped the logits near 4.1 and lost 0.67 pt top-1 (97.77 → 97.10). So every method's ranges come
# from edgekit.calibration.ranges and replace the ones calibrate() returned.
METHOD_IMPL = {
    "minmax": "edgekit min / max over the calibration set (edgekit.calibration.ranges, activations of the float "
              "model on LiteRT) replacing the moving-average min/max of ai-edge-quantizer's calibrate()",
    "percentile": "edgekit percentile ranges (edgekit.calibration.ranges, activations of the float model on "
                  "LiteRT) replacing the min/max of ai-edge-quantizer's calibrate()",
    "entropy": "edgekit entropy ranges (edgekit.calibration.ranges: KL-divergence threshold search on the float "
               "model's activations on LiteRT) replacing the min/max of ai-edge-quantizer's calibrate()",
}


def _interpreter(content: bytes, threads: int = 1, preserve: bool = False):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=bytes(content), num_threads=threads,
                     experimental_preserve_all_tensors=preserve)
    it.allocate_tensors()
    return it


def tflite_layers(content: bytes) -> list[Layer]:
    it = _interpreter(content)
    ops = it._get_ops_details()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    produced = {o for op in ops for o in op["outputs"]}
    graph_inputs = {d["index"] for d in it.get_input_details()}

    def const(i):
        return i >= 0 and i not in produced and i not in graph_inputs

    pooled: set[int] = set()
    for op in ops:
        data = [i for i in op["inputs"] if i >= 0 and not const(i)]
        if op["op_name"] in POOLS or (data and all(i in pooled for i in data)):
            pooled.update(op["outputs"])
    consumers: dict[int, list] = {}
    for op in ops:
        for i in op["inputs"]:
            consumers.setdefault(i, []).append(op)

    def modulates(op) -> bool:
        """Its pooled result meets a feature map: a dynamic head, not the classifier."""
        seen, stack = set(), list(op["outputs"])
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            for c in consumers.get(t, []):
                if any(i >= 0 and not const(i) and i not in pooled for i in c["inputs"]):
                    return True
                stack.extend(o for o in c["outputs"] if o in pooled)
        return False

    layers = []
    for op in ops:
        kind = op["op_name"]
        if kind not in WEIGHTED or len(op["inputs"]) < 2 or not const(op["inputs"][1]):
            continue
        x = op["inputs"][0]
        if x in pooled:
            group = "dynamic" if modulates(op) else "classifier"
        elif kind == "DEPTHWISE_CONV_2D":
            group = "conv:depthwise"
        elif kind == "CONV_2D":
            cin = int(tensors[x]["shape"][-1])
            group = "conv:grouped" if int(tensors[op["inputs"][1]]["shape"][-1]) < cin else "conv:dense"
        else:
            group = "classifier"
        out = tensors[op["outputs"][0]]["name"]
        layers.append(Layer(out, kind, group, out.split("/")[-1][:120], [tensors[x]["name"]], out))
    return layers


def _io(it):
    sig = it.get_signature_list()
    key = next(iter(sig)) if sig else None
    return key, it.get_input_details()[0], it.get_output_details()[0]


def _feed(it, x):
    if isinstance(x, dict):  # several inputs, in the graph's order; ids cast to the file's int32
        for d, v in zip(it.get_input_details(), x.values()):
            scale, zp = d["quantization"]
            if scale and np.issubdtype(np.asarray(v).dtype, np.floating):  # an --int8-io input: its own grid
                info = np.iinfo(d["dtype"])
                v = np.clip(np.round(v / scale) + zp, info.min, info.max)
            it.set_tensor(d["index"], np.ascontiguousarray(v, dtype=d["dtype"]))
        return
    d = it.get_input_details()[0]
    if np.issubdtype(np.dtype(d["dtype"]), np.integer):
        scale, zp = d["quantization"]
        info = np.iinfo(d["dtype"])
        x = np.clip(np.round(x / scale) + zp, info.min, info.max).astype(d["dtype"])
    it.set_tensor(d["index"], x)


def _fetch(it):
    """The output (dequantized); with several outputs, all of them flattened into one row per sample."""
    ys = []
    for d in it.get_output_details():
        y = it.get_tensor(d["index"])
        if np.issubdtype(y.dtype, np.integer):
            scale, zp = d["quantization"]
            y = (y.astype(np.float32) - zp) * scale
        ys.append(y.astype(np.float32))
    return ys[0] if len(ys) == 1 else np.concatenate([y.reshape(len(y), -1) for y in ys], axis=1)


def tfl_predict(content: bytes, x: np.ndarray, tensors: list[str] | None = None):
    """Logits (and, with `tensors`, those intermediate tensors) for each sample of `x`."""
    it = _interpreter(content, preserve=tensors is not None)
    details = {t["name"]: t for t in it.get_tensor_details()}
    by_name = {n: t["index"] for n, t in details.items()}
    logits, inter = [], {n: [] for n in (tensors or []) if n in by_name}
    for i in range(n_samples(x)):
        _feed(it, take(x, i, i + 1))
        it.invoke()
        logits.append(_fetch(it))
        for n in inter:
            t = it.get_tensor(by_name[n])
            if np.issubdtype(t.dtype, np.integer):  # an INT8 tensor: dequantize with its own scale
                scale, zp = details[n]["quantization"]
                t = (t.astype(np.float32) - zp) * scale if scale else None
            inter[n].append(None if t is None else t.astype(np.float32))
    inter = {n: np.concatenate(v) for n, v in inter.items() if all(a is not None for a in v)}
    return np.concatenate(logits), inter


def match_layout(x: np.ndarray, shape) -> np.ndarray:
    from edgekit.layouts import match_layout as channels_last_if_needed

    return np.ascontiguousarray(channels_last_if_needed(x, shape), dtype=np.float32)


def quantize_tflite(fp32: bytes, calib, method: str = "minmax", int8_io: bool = False, keep_float=(), *,
                    eval_data=None, max_drop: float | None = None, search: bool = True) -> tuple[bytes, dict]:
    """(INT8 .tflite bytes, report) for the FP32 flatbuffer `fp32`, calibrated on `calib` (N, C, H, W)."""
    from ai_edge_quantizer import quantizer

    if method not in METHODS:
        raise EdgekitError(f"unknown calibration method {method!r} for tflite; choose from {', '.join(METHODS)}")
    if calib is None or n_samples(calib) == 0:
        raise EdgekitError("INT8 needs calibration data: pass --calib DIR|file.npz (or 'synthetic')")
    check_max_drop(max_drop, eval_data)
    several = isinstance(calib, dict)  # {input name: (N, ...)}: the signature's names are the IO spec's
    t0 = time.perf_counter()
    fp32 = bytes(fp32)
    it = _interpreter(fp32)
    key, din, _ = _io(it)
    in_name = it.get_signature_list()[key]["inputs"][0] if key else din["name"]
    if several:
        calib = {d["name"]: np.ascontiguousarray(match_layout(v, d["shape"]) if v.dtype.kind == "f" else v,
                                                 dtype=d["dtype"])
                 for d, v in zip(it.get_input_details(), calib.values())}
    else:
        calib = match_layout(calib, din["shape"])
    if eval_data is not None and not several:  # several inputs: {name: (N, ...)} fed by _feed, like calib
        eval_data = (match_layout(eval_data[0], din["shape"]), eval_data[1])
    layers = tflite_layers(fp32)
    keep_float = set(keep_float)
    unknown = keep_float - {L.name for L in layers}
    if unknown:
        raise EdgekitError(f"--keep-float names no quantizable layer: {', '.join(sorted(unknown)[:3])}")
    probe = take(calib, 0, min(32, n_samples(calib)))
    ref = tfl_predict(fp32, probe)[0]
    by_name = {L.name: L for L in layers}

    io_ops = io_boundary_ops(fp32) if int8_io else []  # the ops next to the graph's input and output

    def make(names) -> "quantizer.Quantizer":
        qt = quantizer.Quantizer(bytearray(fp32))
        for n in sorted(names):
            qt.add_static_config(regex="^" + re.escape(n) + ";$", operation_name=by_name[n].op,
                                 activation_num_bits=8, weight_num_bits=8)
        for scope, op_name in io_ops:
            qt.add_static_config(regex="^" + re.escape(scope) + "$", operation_name=op_name,
                                 activation_num_bits=8, weight_num_bits=8)
        return qt

    with contextlib.redirect_stderr(io.StringIO()):
        samples = [take(calib, i, i + 1) if several else {in_name: calib[i:i + 1]} for i in range(n_samples(calib))]
        calibration = make(by_name).calibrate({key: samples}, num_threads=1)
    replaced = override_ranges(calibration, own_ranges(fp32, calib, list(calibration), method))
    built: dict = {}

    def build(names: frozenset) -> bytes:
        if names not in built:
            if not names and not int8_io:
                built[names] = fp32
            else:
                with contextlib.redirect_stderr(io.StringIO()):  # per-tensor tqdm bars
                    res = make(names).quantize(calibration, enable_progress_bar=False, enable_progress_report=False)
                built[names] = bytes(res.quantized_model)
                if int8_io:
                    built[names] = strip_io_quantization(built[names])
                if several:  # the IO spec's names, as the float file has them
                    built[names] = keep_io_names(fp32, built[names])
        return built[names]

    def int8_set(prec, forced=()):
        return frozenset(L.name for L in layers if prec[L.group] == "int8" and L.name not in keep_float
                         and L.name not in forced)

    precision, reasons = initial_precision(), initial_reasons()
    present = {L.group for L in layers}
    trials: list = []
    def caller(content: bytes):
        it = _interpreter(content)
        _feed(it, take(calib, 0, 1))
        return it.invoke

    def fidelity(content: bytes) -> float:
        return tensor_error(ref, tfl_predict(content, probe)[0])["cosine"]

    if search:
        precision = choose_groups(present, precision, lambda prec: build(int8_set(prec)), caller, fidelity,
                                  reasons, trials, label="ai-edge-quantizer static int8")

    forced: list[str] = []
    final = build(int8_set(precision))
    acc = None
    if eval_data is not None and eval_data[1] is not None:
        x_eval, y_eval = eval_data

        def top1(content):
            return eval_score(tfl_predict(content, x_eval)[0], y_eval)

        final, forced, acc = accuracy_with_budget(
            top1, fp32, final, len(y_eval), max_drop,
            lambda: rank_by_added_error(layers, int8_set(precision), layer_errors(fp32, final, layers, probe)),
            lambda f: top1(build(int8_set(precision, f))), lambda f: build(int8_set(precision, f)))

    chosen = int8_set(precision, forced)
    errors = layer_errors(fp32, final, layers, probe)
    annotate_layers(layers, chosen, keep_float, forced, reasons, errors, max_drop)
    fp32_ms, int8_ms = alternating_ms([caller(fp32), caller(final)], seconds=0.6) if search else (None, None)
    report = policy_report(
        runtime="litert",
        tool="ai-edge-quantizer static int8 (per-channel int8 weights, int8 activations), one recipe entry per layer",
        calib_method=method, calib_method_impl=METHOD_IMPL[method],
        own_ranges_tensors=replaced, calibrated_tensors=len(calibration),
        calib_samples=n_samples(calib), int8_io=int8_io, **({"io": io_spec(final)} if int8_io else {}),
        precision=precision, reasons=reasons, present=present, layers=layers, forced=forced, fp32_ms=fp32_ms,
        int8_ms=int8_ms, search=search, logits_cosine=tensor_error(ref, tfl_predict(final, probe)[0])["cosine"],
        accuracy=acc, trials=trials, started=t0)
    return final, report


def own_ranges(fp32: bytes, calib: np.ndarray, names: list[str], method: str) -> dict[str, tuple[float, float]]:
    """edgekit's ranges (edgekit.calibration.ranges) of the named tensors of the float model, run on LiteRT."""
    from edgekit.calibration.ranges import RangeCollector

    it = _interpreter(fp32, preserve=True)
    index = {t["name"]: t["index"] for t in it.get_tensor_details()}
    found = [n for n in names if n in index]

    def samples():
        for i in range(n_samples(calib)):
            _feed(it, take(calib, i, i + 1))
            it.invoke()
            yield {n: it.get_tensor(index[n]) for n in found}

    return RangeCollector(method).collect(samples)


def override_ranges(calibration: dict, ranges: dict[str, tuple[float, float]]) -> int:
    """Replace the min / max that ai-edge-quantizer's calibrate() recorded (in place); the number replaced."""
    n = 0
    for name, (lo, hi) in ranges.items():
        qsv = calibration.get(name)
        if not qsv or "min" not in qsv or "max" not in qsv:
            continue
        qsv["min"] = np.full_like(np.asarray(qsv["min"]), lo)
        qsv["max"] = np.full_like(np.asarray(qsv["max"]), hi)
        n += 1
    return n


def _float_inputs(it) -> set[int]:
    """Tensor indexes of the graph's float inputs (integer ones, token ids, are never quantized)."""
    return {d["index"] for d in it.get_input_details() if np.issubdtype(np.dtype(d["dtype"]), np.floating)}


def io_boundary_ops(content: bytes) -> list[tuple[str, str]]:
    """(scope, op name) of the ops reading a float graph input and writing a graph output: with
    --int8-io they are quantized so the graph starts with QUANTIZEs and ends with DEQUANTIZEs."""
    it = _interpreter(content)
    tensors = {t["index"]: t["name"] for t in it.get_tensor_details()}
    ins, outs = _float_inputs(it), {d["index"] for d in it.get_output_details()}
    out = []
    for op in it._get_ops_details():
        if op["op_name"] == "DELEGATE":
            continue
        if ins & set(op["inputs"]) or outs & set(op["outputs"]):
            out.append((";".join(tensors[o] for o in op["outputs"]) + ";", op["op_name"]))
    return out


def _model_object(content: bytes):
    """The flatbuffer as a mutable object, with data stored after it (by offset) inlined again."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    for buf in model.buffers or []:
        if getattr(buf, "offset", 0) > 1:
            buf.data = np.frombuffer(content[buf.offset:buf.offset + buf.size], dtype=np.uint8).copy()
            buf.offset, buf.size = 0, 0
    return model


def _io_names(content: bytes) -> list[list[str]]:
    it = _interpreter(content)
    return [[d["name"] for d in it.get_input_details()], [d["name"] for d in it.get_output_details()]]


def keep_io_names(fp32: bytes, content: bytes) -> bytes:
    """`content` with its graph inputs' and outputs' tensor names those of the float file: ai-edge-quantizer
    names the float tensor after the DEQUANTIZE it adds before an output `<name>_dequant` (and --int8-io makes
    the QUANTIZE's output the input), so the INT8 file's I/O would not be the float file's (nor the IO spec's)
    by name. A float tensor left unused under the same name is renamed out of the way."""
    from ai_edge_litert.tools import flatbuffer_utils

    want = _io_names(fp32)
    if _io_names(content) == want:
        return content
    model = _model_object(content)
    sg = model.subgraphs[0]
    io = list(sg.inputs) + list(sg.outputs)
    names = want[0] + want[1]
    taken = {n.encode() for n in names}
    for i, t in enumerate(sg.tensors):
        if i not in io and t.name in taken:
            t.name = t.name + b"_float"
    for t, name in zip(io, names):
        sg.tensors[t].name = name.encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def strip_io_quantization(content: bytes) -> bytes:
    """Integer I/O: drop the QUANTIZE after the float input and the DEQUANTIZE before the float
    output, so the graph takes and returns int8 tensors (their scale / zero point are in the file)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = _model_object(content)
    sg = model.subgraphs[0]

    def code(op):
        c = model.operatorCodes[op.opcodeIndex]
        return max(c.builtinCode, c.deprecatedBuiltinCode)

    remap, drop = {}, []
    for op in sg.operators:
        if code(op) == schema.BuiltinOperator.QUANTIZE and op.inputs[0] in sg.inputs:
            remap[op.inputs[0]] = op.outputs[0]
            drop.append(op)
        elif code(op) == schema.BuiltinOperator.DEQUANTIZE and op.outputs[0] in sg.outputs:
            remap[op.outputs[0]] = op.inputs[0]
            drop.append(op)
    ints = [t for t in sg.inputs if sg.tensors[t].type not in (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)]
    missing = [t for t in list(sg.inputs) + list(sg.outputs) if t not in remap and t not in ints]
    if missing:
        raise EdgekitError("--int8-io: the quantized graph has no QUANTIZE/DEQUANTIZE at its input/output to remove "
                           "(the first or last op could not be quantized)")
    for t in list(sg.inputs) + list(sg.outputs):  # the float tensor must feed nothing else
        users = [op for op in sg.operators if op not in drop and t in list(op.inputs)]
        if users and t in sg.inputs and t not in ints:
            raise EdgekitError("--int8-io: the float input also feeds float ops; it cannot become int8")
    sg.operators = [op for op in sg.operators if op not in drop]
    sg.inputs = [remap.get(t, t) for t in sg.inputs]  # token ids: kept as they are
    sg.outputs = [remap[t] for t in sg.outputs]
    for sig in model.signatureDefs or []:
        for t in list(sig.inputs) + list(sig.outputs):
            t.tensorIndex = remap.get(t.tensorIndex, t.tensorIndex)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def io_spec(content: bytes) -> dict:
    """The integer-I/O spec (edgekit.exporters.int8_io's form): one input and output, or per name."""
    from edgekit.exporters.int8_io import kept_entry

    it = _interpreter(content)

    def spec(d):
        if not d["quantization"][0]:  # token ids: no grid
            return kept_entry(d["name"], d["dtype"])
        return {"name": d["name"], "dtype": np.dtype(d["dtype"]).name, "scale": float(d["quantization"][0]),
                "zero_point": int(d["quantization"][1])}

    ins, outs = it.get_input_details(), it.get_output_details()
    if len(ins) == 1 and len(outs) == 1:
        return {"input": spec(ins[0]), "output": spec(outs[0])}
    return {"inputs": [spec(d) for d in ins], "outputs": [spec(d) for d in outs]}


def layer_errors(fp32: bytes, quantized: bytes, layers, probe) -> dict[str, dict]:
    """Layer outputs / inputs of `quantized` (INT8 tensors dequantized) against `fp32`, by tensor name."""
    names = sorted({t for L in layers for t in (L.output, *L.inputs)})
    _, r = tfl_predict(fp32, probe, names)
    _, q = tfl_predict(quantized, probe, names)
    return {n: tensor_error(r[n], q[n]) for n in names if n in r and n in q and r[n].shape == q[n].shape}


def quantize(src, dst, options) -> dict:
    """The exporter contract (see quantize_onnx.quantize): INT8 .tflite at `dst`, the report."""
    from pathlib import Path

    calib, eval_data = split_calibration(options.calib, options.extra)
    content, report = quantize_tflite(Path(src).read_bytes(), calib, options.calib_method, options.int8_io,
                                      options.extra.get("keep_float", ()), eval_data=eval_data,
                                      max_drop=options.extra.get("max_drop"), search=options.extra.get("search", True))
    Path(dst).write_bytes(content)
    return report
