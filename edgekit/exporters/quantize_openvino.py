"""INT8 for OpenVINO: NNCF post-training quantization with each layer's precision decided by measurement.

Same policy as the other targets (edgekit.exporters.quantize_policy): convolutions and linears are
INT8 candidates, the dynamic heads (weighted ops fed by a global pool whose result multiplies a feature map) start
in float through NNCF's ignored scope, and groups flip when OpenVINO at 1 thread measures the other
precision faster or more accurate. Layers are found from the ov.Model's structure, so this works on
an IR converted from ONNX or from PyTorch alike.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from pathlib import Path

import numpy as np

from edgekit.analysis.accuracy import tensor_error
from edgekit.errors import EdgekitError
from edgekit.exporters.int8_io import dequantize_outputs, openvino_integer_io, quantize_inputs
from edgekit.exporters.quantize_onnx import (REDUCE_RANGE, REDUCE_RANGE_WHY, Layer, check_max_drop, n_samples,
                                             split_calibration, take)
from edgekit.exporters.quantize_tflite import match_layout
from edgekit.exporters.quantize_policy import (policy_report, choose_groups, accuracy_with_budget, initial_precision,
                                               initial_reasons, rank_by_added_error, alternating_ms,
                                               annotate_layers, eval_score, with_int8_top1)

WEIGHTED = ("Convolution", "GroupConvolution", "MatMul")
POOLS = ("ReduceMean", "AvgPool", "ReduceMax", "AdaptiveAvgPool")
PASS_TO_CONST = ("Convert", "Reshape", "Multiply", "Subtract", "Transpose", "Unsqueeze", "Squeeze")
METHODS = ("minmax", "percentile", "entropy")
# What each --calib-method really runs here: NNCF has min/max, quantile and L2-histogram estimators
# but no KL-divergence one, and its quantile estimator ruined the digits model, so percentile and
# entropy ranges come from edgekit's own search, written into the activation FakeQuantize nodes
# that NNCF placed (with its default ranges).
METHOD_IMPL = {
    "minmax": "NNCF default activation ranges (MEAN_MINMAX: per-sample min / max, averaged over the samples)",
    "percentile": "edgekit percentile ranges (edgekit.calibration.ranges, the float IR's activations on OpenVINO) "
                  "written into NNCF's activation FakeQuantize nodes (NNCF's MEAN_QUANTILE estimator gave 11.6% "
                  "top-1, chance level, on the digits fixture)",
    "entropy": "edgekit entropy ranges (edgekit.calibration.ranges: KL-divergence threshold search on the float "
               "IR's activations on OpenVINO) written into NNCF's activation FakeQuantize nodes",
}
MINMAX_OWN = ("edgekit min / max over the calibration set (edgekit.calibration.ranges, the float IR's activations "
              "on OpenVINO) written into NNCF's activation FakeQuantize nodes: a model with several inputs")


# OpenVINO's x86 int8 kernels without VNNI (AVX2 vpmaddubsw) add pairs of u8*s8 products in 16 bits and
# saturate, like onnxruntime's (quantize_onnx.REDUCE_RANGE). NNCF's remedy, overflow_fix (7-bit weights), skips
# what its metatypes call depthwise (GroupConvolution with groups == input channels) even when each group makes
# several output channels (MicroNet's factorized depthwise convs: [G, 2, 1, 1, 3]), and oneDNN runs those through
# its saturating grouped kernel. One such conv on an AMD EPYC (AVX2 only), random full-range weights: plugin vs its
# float simulation cosine 0.970-0.998 with 8-bit weights, 1.00000 with 7-bit; a true depthwise conv (one output
# per group) is exact either way. Trained digits M0, stock graph (2026-12-03): every op NNCF quantizes, logits
# cosine vs FP32 0.694 (NNCF default), 0.734 (overflow_fix ENABLE), 0.993 (ENABLE + those convs 7-bit; the float
# simulation of the 8-bit IR: 0.994); edgekit's convs-only policy 0.742 / top-1 63.7 -> 0.998 / 98.2 (FP32 97.8).
SEVEN_BIT_WHY = ("7-bit weights (NNCF overflow_fix ENABLE, and edgekit's on the channel-multiplier depthwise convs "
                 "NNCF skips): " + REDUCE_RANGE_WHY)


def multiplier_depthwise(op) -> bool:
    """A GroupConvolution with one input channel per group and several outputs per group."""
    if op.get_type_name() != "GroupConvolution" or not op.input(1).get_partial_shape().is_static:
        return False
    shape = list(op.input(1).get_partial_shape().to_shape())  # G, Cout/G, Cin/G, kh, kw
    return shape[2] == 1 and shape[1] > 1


def seven_bit_weights(quantized, fp32) -> list[str]:
    """Requantize (in place) the 8-bit weights of `quantized`'s channel-multiplier depthwise convs to 7 bits
    (NNCF's half range: integers in [-64, 63], scale max|w| / 63 per output channel), from the float weights
    in `fp32` (the dequantized ones when the layer is not found there); the names of the layers changed."""
    from openvino import Type
    from openvino import opset13 as ops

    fp32_by_name = {op.get_friendly_name(): op for op in fp32.get_ordered_ops()}
    changed = []
    for op in quantized.get_ordered_ops():
        if not multiplier_depthwise(op):
            continue
        # NNCF's compressed weights: Constant(i8) -> Convert -> Multiply(per-channel scale)
        mul = op.input(1).get_source_output().get_node()
        if mul.get_type_name() != "Multiply":
            continue
        convert, scale = (mul.input(i).get_source_output().get_node() for i in (0, 1))
        if convert.get_type_name() != "Convert" or scale.get_type_name() != "Constant":
            continue
        ints = convert.input(0).get_source_output().get_node()
        if ints.get_type_name() != "Constant" or ints.get_element_type() != Type.i8:
            continue
        q = np.asarray(ints.get_data(), np.float32)
        if np.abs(q).max() <= 64:
            continue
        s = np.asarray(scale.get_data(), np.float32)
        w = q * s
        src = fp32_by_name.get(op.get_friendly_name())
        if src is not None and src.input(1).get_source_output().get_node().get_type_name() == "Constant":
            float_w = np.asarray(src.input(1).get_source_output().get_node().get_data(), np.float32)
            w = float_w if float_w.shape == q.shape else w
        # the scale's shape says which axes one scale covers: [G, Cout/G, 1, 1, 1] per channel, or one
        per_channel = s.ndim == w.ndim and s.size > 1
        axes = tuple(i for i in range(w.ndim) if s.shape[i] == 1) if per_channel else None
        s7 = (np.maximum(np.abs(w).max(axis=axes, keepdims=per_channel), 1e-12) / 63).astype(np.float32)
        q7 = np.clip(np.round(w / s7), -64, 63).astype(np.int8)
        convert.input(0).replace_source_output(ops.constant(q7).output(0))
        mul.input(1).replace_source_output(ops.constant(s7.reshape(s.shape)).output(0))
        changed.append(op.get_friendly_name())
    return changed


def _const_source(output) -> bool:
    """The tensor comes from constants only (weights, possibly decompressed / reshaped)."""
    node = output.get_node()
    if node.get_type_name() == "Constant":
        return True
    if node.get_type_name() in PASS_TO_CONST:
        return all(_const_source(i.get_source_output()) for i in node.inputs())
    return False


def ov_layers(model) -> list[Layer]:
    ops = model.get_ordered_ops()
    pooled: set = set()  # ids of nodes whose output derives from a global pool only
    for op in ops:
        data = [i.get_source_output() for i in op.inputs() if not _const_source(i.get_source_output())]
        if op.get_type_name() in POOLS or (data and all(id_of(d.get_node()) in pooled for d in data)):
            pooled.add(id_of(op))
    consumers: dict = {}
    for op in ops:
        for i in op.inputs():
            consumers.setdefault(id_of(i.get_source_output().get_node()), []).append(op)

    def modulates(op) -> bool:
        """Its pooled result meets a feature map: a dynamic head, not the classifier."""
        seen, stack = set(), [op]
        while stack:
            n = stack.pop()
            for c in consumers.get(id_of(n), []):
                if id_of(c) in seen:
                    continue
                seen.add(id_of(c))
                data = [i.get_source_output() for i in c.inputs() if not _const_source(i.get_source_output())]
                if any(id_of(d.get_node()) not in pooled for d in data):
                    return True
                if id_of(c) in pooled:
                    stack.append(c)
        return False

    layers = []
    for op in ops:
        kind = op.get_type_name()
        if kind not in WEIGHTED or not _const_source(op.input(1).get_source_output()):
            continue
        src = op.input(0).get_source_output().get_node()
        if id_of(src) in pooled:
            group = "dynamic" if modulates(op) else "classifier"
        elif kind == "GroupConvolution":
            shape = list(op.input(1).get_partial_shape().to_shape())  # G, Cout/G, Cin/G, kh, kw
            group = "conv:depthwise" if shape[2] == 1 else "conv:grouped"
        elif kind == "Convolution":
            group = "conv:dense"
        else:
            group = "classifier"
        name = op.get_friendly_name()
        layers.append(Layer(name, kind, group, name, [src.get_friendly_name()], name))
    return layers


def id_of(node) -> str:
    return node.get_friendly_name() + "#" + node.get_type_name()


def _compile(model):
    import openvino as ov

    core = ov.Core()
    return core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1,
                                             "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})


def feed(x, a: int, b: int) -> dict:
    """The infer request's feed of samples a..b: input 0, or with several inputs ({input name: (N, ...)},
    in the model's order, ids kept integer) each input by its index."""
    if isinstance(x, dict):
        return {i: np.ascontiguousarray(v[a:b]) for i, v in enumerate(x.values())}
    return {0: x[a:b]}


def ov_predict(compiled, x, outputs=None, io: dict | None = None) -> list[np.ndarray]:
    """Every output (or those in `outputs`) for each sample of float `x` (one array, or {input name: array});
    with an integer-I/O spec `io`, fed and read through it."""
    req = compiled.create_infer_request()
    outs = outputs if outputs is not None else list(compiled.outputs)
    x = quantize_inputs(x, io, compiled.input(0).get_any_name())
    res = []
    for i in range(n_samples(x)):
        r = req.infer(feed(x, i, i + 1))
        res.append([np.array(r[o]) for o in outs])
    res = [np.concatenate([r[k] for r in res]) for k in range(len(outs))]
    if outputs is None:
        res = dequantize_outputs(res, io, [o.get_any_name() for o in outs])
    return res


def _cosine(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    """The lowest cosine over the outputs."""
    return min(tensor_error(r, g)["cosine"] for r, g in zip(ref, got))


@contextlib.contextmanager
def _quiet_nncf():
    from nncf.common.logging import nncf_logger

    level = nncf_logger.level
    nncf_logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        nncf_logger.setLevel(level)


def _read(model_or_xml):
    import openvino as ov

    if isinstance(model_or_xml, (str, Path)):
        p = Path(model_or_xml)
        if not p.is_file():
            raise EdgekitError(f"OpenVINO model not found: {p}")
        return ov.Core().read_model(str(p))
    return model_or_xml


def quantize_openvino(model_or_xml, calib, method: str = "minmax", int8_io: bool = False, keep_float=(), *,
                      eval_data=None, max_drop: float | None = None, search: bool = True):
    """(INT8 ov.Model, report) for an FP32 ov.Model or .xml, calibrated on `calib` (N, C, H, W), or for a model
    with several inputs on {input name: (N, ...)} in the model's input order (ids kept integer: an integer
    input only ever feeds ops NNCF leaves alone, as everything but the INT8 convs / matmuls is ignored)."""
    import nncf

    if method not in METHODS:
        raise EdgekitError(f"unknown calibration method {method!r} for openvino; choose from {', '.join(METHODS)}")
    if calib is None or n_samples(calib) == 0:
        raise EdgekitError("INT8 needs calibration data: pass --calib DIR|file.npz (or 'synthetic')")
    check_max_drop(max_drop, eval_data)
    t0 = time.perf_counter()
    fp32 = _read(model_or_xml)
    several = isinstance(calib, dict)
    if several:
        calib = {k: np.ascontiguousarray(v) for k, v in calib.items()}
    else:
        shape = list(fp32.input(0).get_partial_shape().to_shape())
        calib = match_layout(np.asarray(calib, dtype=np.float32), shape)  # an --nhwc IR takes N, H, W, C
        if eval_data is not None:
            eval_data = (match_layout(np.asarray(eval_data[0], dtype=np.float32), shape), eval_data[1])
    layers = ov_layers(fp32)
    keep_float = set(keep_float)
    unknown = keep_float - {L.name for L in layers}
    if unknown:
        raise EdgekitError(f"--keep-float names no quantizable layer: {', '.join(sorted(unknown)[:3])}")
    probe = take(calib, 0, min(32, n_samples(calib)))
    ref = ov_predict(_compile(fp32), probe)
    # one item per sample: the input array, or with several inputs a dict {input index: array} (ids int64)
    dataset = nncf.Dataset([feed(calib, i, i + 1) if several else calib[i:i + 1] for i in range(n_samples(calib))])
    # Everything that is not an INT8 layer is ignored by name: NNCF would otherwise put FakeQuantize
    # on the element-wise Shift-Max / DY-ReLU arithmetic too (the stock path's slowdown).
    all_names = {op.get_friendly_name() for op in fp32.get_ordered_ops()
                 if op.get_type_name() not in ("Parameter", "Result", "Constant")}
    built: dict = {}
    own_ranges = ActivationRanges(fp32, calib, method)
    # several inputs: edgekit's ranges for minmax too (the min / max over the set, not NNCF's per-sample average,
    # which clipped held-out inputs of the image + ids test model: logits cosine 0.946 vs ONNX's 0.99+)
    own = method != "minmax" or several

    presets = {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED}
    preset = "performance"

    advanced = {}
    if REDUCE_RANGE:  # see SEVEN_BIT_WHY
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

        advanced["advanced_parameters"] = AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE)
    seven_bit: dict = {}

    def build(int8_names: frozenset, preset_name: str | None = None):
        key = (int8_names, preset_name or preset)
        if key not in built:
            if not int8_names:
                built[key] = fp32
            else:
                ignored = nncf.IgnoredScope(names=sorted(all_names - int8_names), validate=False)
                with _quiet_nncf():  # its progress bars go to stdout, which --json owns
                    built[key] = nncf.quantize(fp32.clone(), dataset, preset=presets[key[1]],
                                               subset_size=n_samples(calib), ignored_scope=ignored,
                                               fast_bias_correction=True, **advanced)
                if REDUCE_RANGE:
                    seven_bit[id(built[key])] = seven_bit_weights(built[key], fp32)
                if own:
                    set_activation_ranges(built[key], own_ranges.ranges_for(built[key]))
        return built[key]

    def int8_set(prec, forced=()):
        return frozenset(L.name for L in layers if prec[L.group] == "int8" and L.name not in keep_float
                         and L.name not in forced)

    precision, reasons = initial_precision(), initial_reasons()
    present = {L.group for L in layers}
    trials: list = []
    compiled: dict = {}

    def caller(model):
        if id(model) not in compiled:
            compiled[id(model)] = (model, _compile(model))
        req = compiled[id(model)][1].create_infer_request()
        first = feed(calib, 0, 1)
        return lambda: req.infer(first)

    def fidelity(model) -> float:
        if id(model) not in compiled:
            compiled[id(model)] = (model, _compile(model))
        return _cosine(ref, ov_predict(compiled[id(model)][1], probe))

    if search:
        # symmetric (PERFORMANCE) vs asymmetric (MIXED) activations: the most faithful, then the fastest
        names = list(presets)
        models = [build(int8_set(precision), n) for n in names]
        coss = [fidelity(m) for m in models]
        mss = alternating_ms([caller(m) for m in models])
        for n, ms, cos in zip(names, mss, coss):
            trials.append({"variant": f"nncf {n}", "groups": dict(precision), "ms": ms, "cosine": cos})
        ok = [i for i, c in enumerate(coss) if c >= max(coss) - 2e-3]
        preset = names[min(ok, key=lambda i: mss[i])]
        precision = choose_groups(present, precision, lambda prec: build(int8_set(prec)), caller, fidelity,
                                  reasons, trials, label=f"nncf {preset}")

    forced: list[str] = []
    final = build(int8_set(precision))
    acc = None
    if eval_data is not None and eval_data[1] is not None:
        x_eval, y_eval = eval_data
        if not several:
            x_eval = np.ascontiguousarray(x_eval, dtype=np.float32)

        def top1(model):
            return eval_score(ov_predict(_compile(model), x_eval), y_eval)

        final, forced, acc = accuracy_with_budget(
            top1, fp32, final, len(y_eval), max_drop,
            lambda: rank_by_added_error(layers, int8_set(precision), layer_errors(fp32, final, layers, probe)),
            lambda f: top1(build(int8_set(precision, f))), lambda f: build(int8_set(precision, f)))

    final, arm_float = aarch64_compatible(final, lambda extra: build(int8_set(precision, forced + extra)))
    if arm_float and acc is not None:  # the accuracy is the shipped model's
        acc = with_int8_top1(acc, top1(final), max_drop)
    chosen = int8_set(precision, forced + list(arm_float))
    final_seven_bit = seven_bit.get(id(final), [])
    errors = layer_errors(fp32, final, layers, probe)
    annotate_layers(layers, chosen, keep_float, forced, reasons, errors, max_drop)
    for L in layers:
        if L.name in arm_float:
            L.reason = f"float: OpenVINO 2026.4's aarch64 CPU plugin refuses it INT8 ({arm_float[L.name]})"
    fp32_ms, int8_ms = alternating_ms([caller(fp32), caller(final)], seconds=0.6) if search else (None, None)
    io = None
    if int8_io:  # i8 input / output; accuracy and fidelity are re-measured on that model
        final, io = openvino_integer_io(final.clone(), calib, ov_predict(_compile(final), calib))
        if acc is not None:
            acc = with_int8_top1(acc, eval_score(ov_predict(_compile(final), x_eval, io=io), eval_data[1]), max_drop)
    final_c = _compile(final)
    report = policy_report(
        runtime="openvino", tool=f"nncf.quantize (preset {preset.upper()}, ignored_scope = every op not quantized)"
                                 + (f" ({SEVEN_BIT_WHY})" if REDUCE_RANGE else ""),
        **({"seven_bit_multiplier_convs": final_seven_bit} if REDUCE_RANGE else {}),
        kept_float_for_aarch64=[{"layer": k, "why": v} for k, v in arm_float.items()],
        calib_method=method, calib_method_impl=METHOD_IMPL[method] if not (own and method == "minmax") else
        MINMAX_OWN, **(own_ranges.replaced(final) if own else {}), calib_samples=n_samples(calib), int8_io=int8_io,
        **({"io": io} if io else {}), precision=precision, reasons=reasons,
        present=present, layers=layers, forced=forced, fp32_ms=fp32_ms, int8_ms=int8_ms, search=search,
        logits_cosine=_cosine(ref, ov_predict(final_c, probe, io=io)), accuracy=acc, trials=trials,
        started=t0)
    return final, report


def aarch64_compatible(model, rebuild, rounds: int = 4) -> tuple[object, dict[str, str]]:
    """(model, {layer: why}): the convolutions that match a pattern OpenVINO 2026.4's aarch64 CPU plugin refuses
    to compile (edgekit.analysis.openvino_arm_int8) are kept float, `rebuild(names)` quantizing the rest, until
    none is left. Keeping the first convolution of a refused pair float removes the precision mix the plugin
    cannot fuse; x86 loses that one layer's INT8 speed-up. Measured on the zoo in benchmarks/results/arm_matrix.md."""
    from edgekit.analysis.openvino_arm_int8 import refusals

    kept: dict[str, str] = {}
    for _ in range(rounds):
        new = {r["node"]: f"rule {r['rule']}: {r['why']}" for r in refusals(model) if r["node"] not in kept}
        if not new:
            return model, kept
        kept |= new
        model = rebuild(list(kept))
    left = refusals(model)
    if left:
        raise EdgekitError(f"OpenVINO INT8: {len(left)} convolution(s) still match a pattern the aarch64 CPU "
                           f"plugin refuses after keeping {len(kept)} float, first {left[0]['node']}")
    return model, kept


def activation_fake_quantizes(model) -> list:
    """The FakeQuantize nodes on activations (their data input does not come from constants)."""
    return [op for op in model.get_ordered_ops()
            if op.get_type_name() == "FakeQuantize" and not _const_source(op.input(0).get_source_output())]


def _tensor_key(output) -> str:
    return f"{output.get_node().get_friendly_name()}:{output.get_index()}"


def _range_inputs(fq):
    """The four range constants of a FakeQuantize (None when one is not a Constant)."""
    nodes = [fq.input(i).get_source_output().get_node() for i in range(1, 5)]
    if any(n.get_type_name() != "Constant" for n in nodes):
        return None
    return [np.asarray(n.get_data(), dtype=np.float32) for n in nodes]


def _channel_axis(fq) -> int | None:
    """None for a per-tensor FakeQuantize; the channel axis of a per-channel one (NNCF puts those in
    front of depthwise convolutions)."""
    vals = _range_inputs(fq)
    if vals is None or vals[0].size == 1:
        return None
    axes = [i for i, d in enumerate(vals[0].shape) if d > 1]
    return axes[0] if len(axes) == 1 else -1


def _fq_keys(fq) -> list[str]:
    """The range keys one FakeQuantize needs: its tensor, or one per channel ("tensor|axis:channel")."""
    key, axis = _tensor_key(fq.input(0).get_source_output()), _channel_axis(fq)
    if axis is None:
        return [key]
    if axis < 0:
        return []
    return [f"{key}|{axis}:{c}" for c in range(_range_inputs(fq)[0].shape[axis])]


class ActivationRanges:
    """edgekit's own ranges (edgekit.calibration.ranges) of the float IR's tensors on OpenVINO,
    collected on demand for the tensors a quantized variant's FakeQuantize nodes read, and cached.
    A per-channel quantizer gets each channel's min / max clipped to the whole tensor's threshold:
    a KL search on one channel's sparse histogram clipped some channels to 4% of their range
    (84.9% top-1 on the digits model; 97.77, the FP32 figure, this way)."""

    def __init__(self, fp32, calib, method: str):
        self.fp32, self.calib, self.method = fp32, calib, method
        self.cache: dict[str, tuple[float, float]] = {}

    def ranges_for(self, quantized) -> dict[str, tuple[float, float]]:
        keys = {k for fq in activation_fake_quantizes(quantized) for k in _fq_keys(fq)}
        missing = sorted(keys - set(self.cache))
        if missing:
            self.cache.update(self._collect(missing))
        return {k: self.cache[k] for k in keys if k in self.cache}

    def replaced(self, quantized) -> dict:
        """How many activation FakeQuantize nodes of `quantized` carry edgekit ranges, of how many."""
        fqs = activation_fake_quantizes(quantized)
        n = sum(bool(_fq_keys(fq)) and all(k in self.cache for k in _fq_keys(fq)) for fq in fqs)
        return {"own_ranges_tensors": n, "activation_quantizers": len(fqs),
                "per_channel_quantizers": sum(_channel_axis(fq) is not None for fq in fqs)}

    def _collect(self, keys: list[str]) -> dict[str, tuple[float, float]]:
        from edgekit.calibration.ranges import RangeCollector

        tensors = sorted({k.partition("|")[0] for k in keys})
        m = self.fp32.clone()
        by_name = {op.get_friendly_name(): op for op in m.get_ordered_ops()}
        found = [t for t in tensors if t.rpartition(":")[0] in by_name]
        added = m.add_outputs([by_name[t.rpartition(":")[0]].output(int(t.rpartition(":")[2])) for t in found])
        compiled = _compile(m)
        # looked up, not counted: a tensor that already is a model output is not added again
        index = {(o.get_node().get_friendly_name(), o.get_index()): i for i, o in enumerate(m.outputs)}
        outs = {t: compiled.output(index[(o.get_node().get_friendly_name(), o.get_index())])
                for t, o in zip(found, added)}
        per_channel = {}  # tensor -> (axis, channels wanted)
        for k in keys:
            t, _, ch = k.partition("|")
            if t in outs and ch:
                axis, _, c = ch.partition(":")
                per_channel.setdefault(t, (int(axis), []))[1].append(int(c))
        req = compiled.create_infer_request()

        def samples(channels: bool):
            def gen():
                for i in range(n_samples(self.calib)):
                    r = req.infer(feed(self.calib, i, i + 1))
                    acts = {}
                    for t, o in outs.items():
                        a = np.array(r[o])
                        if channels and t in per_channel:
                            axis, cs = per_channel[t]
                            acts.update({f"{t}|{axis}:{c}": np.take(a, c, axis=axis) for c in cs})
                        elif not channels:
                            acts[t] = a
                    yield acts
            return gen

        ranges = RangeCollector(self.method).collect(samples(False))
        if per_channel:  # each channel's min / max, clipped to its tensor's threshold
            for k, (lo, hi) in RangeCollector("minmax").collect(samples(True)).items():
                t_lo, t_hi = ranges[k.partition("|")[0]]
                ranges[k] = (max(lo, t_lo), min(hi, t_hi))
        return ranges


def set_activation_ranges(model, ranges: dict[str, tuple[float, float]]) -> int:
    """Write `ranges` into the activation FakeQuantize nodes of `model` (in place); the number changed.

    NNCF's sign scheme is kept, element by element for a per-channel quantizer: an unsigned range
    ([0, h]) becomes [0, T]; a symmetric signed one ([-T'·128/127, T']) is scaled to T; an
    asymmetric one gets the new range with zero on the grid.
    """
    from openvino import opset13 as ops

    changed = 0
    for fq in activation_fake_quantizes(model):
        keys = _fq_keys(fq)
        if not keys or any(k not in ranges for k in keys):
            continue
        vals = _range_inputs(fq)
        shape = vals[0].shape
        il, ih = vals[0].astype(np.float64), vals[1].astype(np.float64)
        axis = _channel_axis(fq)
        lo = np.array([ranges[k][0] for k in keys], np.float64)
        hi = np.array([ranges[k][1] for k in keys], np.float64)
        if axis is not None:
            bshape = [1] * len(shape)
            bshape[axis] = len(keys)
            lo, hi = lo.reshape(bshape), hi.reshape(bshape)
        else:
            lo, hi = lo.reshape(shape), hi.reshape(shape)
        levels = int(fq.get_attributes().get("levels", 256)) - 1
        t = np.maximum(np.maximum(-lo, hi), 1e-12)
        symmetric = (il < 0) & (ih > 0) & (np.abs(ih + il * 127 / 128) <= 1e-3 * np.abs(il))
        a_lo, a_hi = np.minimum(lo, 0.0), np.maximum(hi, 1e-12)
        step = (a_hi - a_lo) / levels
        zp = np.round(-a_lo / step)
        # NNCF symmetric: [-T·128/127, T] for a largest |x| of T
        new_lo = np.where(il >= 0, il, np.where(symmetric, il * t / np.maximum(ih, 1e-12), -zp * step))
        new_hi = np.where(il >= 0, np.maximum(hi, il + 1e-12), np.where(symmetric, t, (levels - zp) * step))
        for i, v in zip((1, 2, 3, 4), (new_lo, new_hi, new_lo, new_hi)):
            fq.input(i).replace_source_output(ops.constant(np.asarray(v, np.float32).reshape(shape)).output(0))
        changed += 1
    return changed


def layer_errors(fp32, quantized, layers, probe) -> dict[str, dict]:
    """Each layer's output (and its data input) in `quantized` against `fp32`, by friendly name."""
    names = sorted({t for L in layers for t in (L.output, *L.inputs)})

    def outputs_of(model):
        by_name = {op.get_friendly_name(): op for op in model.get_ordered_ops()}
        found = [n for n in names if n in by_name and by_name[n].get_output_size() > 0]
        m = model.clone()
        by_name = {op.get_friendly_name(): op for op in m.get_ordered_ops()}
        outs = m.add_outputs([by_name[n].output(0) for n in found])
        # a layer whose output already is a model output (the classifier: the logits) is not added again, so
        # its index is looked up, not counted (counting put MobileNetV3-small's last index one past the end)
        index = {(o.get_node().get_friendly_name(), o.get_index()): i for i, o in enumerate(m.outputs)}
        return m, {n: index[(o.get_node().get_friendly_name(), o.get_index())] for n, o in zip(found, outs)}

    mr, ir = outputs_of(fp32)
    mq, iq = outputs_of(quantized)
    common = [n for n in ir if n in iq]
    cr, cq = _compile(mr), _compile(mq)
    r = ov_predict(cr, probe, [cr.output(ir[n]) for n in common])
    q = ov_predict(cq, probe, [cq.output(iq[n]) for n in common])
    return {n: tensor_error(a, b) for n, a, b in zip(common, r, q)}


def quantize(xml_src, xml_dst, options) -> dict:
    """The exporter contract (see quantize_onnx.quantize): INT8 IR at `xml_dst` (+ .bin), the report."""
    import openvino as ov

    calib, eval_data = split_calibration(options.calib, options.extra)
    model, report = quantize_openvino(xml_src, calib, options.calib_method, options.int8_io,
                                      options.extra.get("keep_float", ()), eval_data=eval_data,
                                      max_drop=options.extra.get("max_drop"), search=options.extra.get("search", True))
    ov.save_model(model, str(xml_dst), compress_to_fp16=False)
    return report
