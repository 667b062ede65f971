"""INT8 for ONNX Runtime: static quantization with each layer's precision decided by measurement.

Convolutions and linears are the INT8 candidates; the dynamic parts (the hyper-function heads of
Dynamic Shift-Max / DY-ReLU / DY-Conv attention, found from the graph's structure: weighted ops
fed by a global pool whose result multiplies a feature map) start in float. Then, on this CPU, with
onnxruntime at 1 thread:
  1. the quantized format (QDQ with int8 or uint8 activations, or QOperator) is the fastest one;
  2. each group of layers (dense / grouped 1x1 / depthwise convs, classifier, dynamic heads) is
     flipped to the other precision when that is measurably faster without hurting the logits,
     or more accurate at no cost;
  3. with `max_drop` and labeled data, the most sensitive quantized layers (largest error added
     by the layer itself) go back to float until top-1 is within the budget.
The report lists every layer, its precision, the reason and its error against float.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.analysis.accuracy import tensor_error
from edgekit.errors import EdgekitError
from edgekit.exporters.int8_io import META_KEY as IO_KEY
from edgekit.exporters.int8_io import dequantize_outputs, onnx_integer_io, quantize_inputs
from edgekit.exporters.quantize_policy import (policy_report, choose_groups, accuracy_with_budget, initial_precision,
                                               initial_reasons, rank_by_added_error, alternating_ms,
                                               annotate_layers, eval_score, with_int8_top1)

METHODS = ("minmax", "percentile", "entropy")
# onnxruntime's own calibrators, with their defaults (quantize_static's CalibrationMethod)
METHOD_IMPL = {
    "minmax": "onnxruntime CalibrationMethod.MinMax (min / max over the calibration set)",
    "percentile": "onnxruntime CalibrationMethod.Percentile (99.999th percentile of |x|, 2048-bin histogram)",
    "entropy": "onnxruntime EntropyCalibrater (KL-divergence threshold search, 512 bins, 128 quantized bins), "
               "run by edgekit: quantize_static fixes it at 128 bins / 128 quantized bins, which leaves one "
               "candidate threshold, the min/max (measured: scales identical to MinMax)",
}
ENTROPY_BINS = 512  # 192 candidate thresholds; 2048 bins took 145 s on the 32x32 digits model, 512 about 8 s
WEIGHTED_OPS = ("Conv", "Gemm", "MatMul")
POOL_OPS = ("GlobalAveragePool", "ReduceMean", "GlobalMaxPool", "ReduceMax")


@dataclass
class Layer:
    name: str
    op: str
    group: str
    scope: str
    inputs: list
    output: str
    precision: str = "int8"
    reason: str = ""
    cosine: float | None = None
    max_abs_err: float | None = None
    added_error: float | None = None



def _x86_without_vnni() -> bool:
    """An x86 host whose int8 dot products go through AVX2's vpmaddubsw (no AVX-512 VNNI / AVX-VNNI)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx2" in flags and "avx512_vnni" not in flags and "avx_vnni" not in flags


# onnxruntime's u8s8 kernels on x86 without VNNI add pairs of 8-bit products in 16 bits and saturate
# (onnxruntime's quantization docs: use reduce_range there). Measured on such a host (AMD EPYC, AVX2 only):
# the trained digits M0, stock ONNX, full 8-bit QDQ 86.6 % top-1, reduce_range 98.0 %, FP32 97.8 %.
# The file is measured (parity, accuracy, the INT8 policy) where it is made, so it is made for that host.
REDUCE_RANGE = _x86_without_vnni()
REDUCE_RANGE_WHY = "x86 host without VNNI: 8-bit u8s8 products saturate in 16 bits"

def _scope(node) -> str:
    meta = {p.key: p.value for p in node.metadata_props}
    ns = meta.get("namespace", "")
    if ns:  # ": Cls/features: Seq/features.1: Block/..." → "features.1/..." (module path)
        parts = [p.split(":")[0].strip() for p in ns.split("/")[1:]]
        return ".".join(p.split(".")[-1] for p in parts if p) or node.name
    return node.name


def onnx_layers(model) -> list[Layer]:
    """Weighted ops (constant weight) with their group: conv kind, classifier, or dynamic head."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consts = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def weight_of(n):
        w = n.input[1] if len(n.input) > 1 else ""
        return w if (w in inits or w in consts) else None

    weighted = [n for n in graph.node if n.op_type in WEIGHTED_OPS and weight_of(n)]
    # A tensor is "pooled" when it comes from a global pool through ops whose every non-constant
    # input is pooled too: the hyper-function / attention branch and the classifier, not the
    # feature maps they multiply (graph.node is topologically sorted).
    pooled_t: set[str] = set()
    for n in graph.node:
        data = [i for i in n.input if i and i not in inits and i not in consts]
        if n.op_type in POOL_OPS or (data and all(i in pooled_t for i in data)):
            pooled_t.update(n.output)
    pooled = {id(n): n.input[0] in pooled_t for n in weighted}

    def modulates(n) -> bool:
        """Its pooled result meets a feature map (x·a + x̃·b, x·attention): a dynamic head, not the classifier."""
        seen, stack = set(), list(n.output)
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            for c in consumers.get(t, []):
                if any(i and i not in inits and i not in consts and i not in pooled_t for i in c.input):
                    return True
                stack.extend(o for o in c.output if o in pooled_t)
        return False

    def tensor(name):
        from onnx import numpy_helper

        return numpy_helper.to_array(inits[name]) if name in inits else numpy_helper.to_array(consts[name].attribute[0].t)

    layers = []
    for n in weighted:
        if pooled[id(n)]:
            group = "dynamic" if modulates(n) else "classifier"
        elif n.op_type == "Conv":
            w = tensor(weight_of(n))
            g = next((a.i for a in n.attribute if a.name == "group"), 1)
            if g > 1 and w.shape[1] == 1:
                group = "conv:depthwise"
            elif g > 1:
                group = "conv:grouped"
            else:
                group = "conv:dense"
        else:
            group = "classifier"
        layers.append(Layer(n.name, n.op_type, group, _scope(n), [n.input[0]], n.output[0]))
    return layers


def n_samples(x) -> int:
    """Samples in a calibration set: one array (N, ...) or, for several inputs, {input name: (N, ...)}."""
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take(x, a: int, b: int):
    """Samples a..b of a calibration set (either form)."""
    return {k: v[a:b] for k, v in x.items()} if isinstance(x, dict) else x[a:b]


def feed_of(x, name: str, a: int, b: int) -> dict:
    """The onnxruntime feed of samples a..b: every input by name (several inputs) or `name`."""
    return {k: v[a:b] for k, v in x.items()} if isinstance(x, dict) else {name: x[a:b]}


class _Reader:
    def __init__(self, name: str, x):
        self.name, self.x, self.i = name, x, 0

    def get_next(self):
        if self.i >= n_samples(self.x):
            return None
        self.i += 1
        return feed_of(self.x, self.name, self.i - 1, self.i)

    def rewind(self):
        self.i = 0


def _session(path, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def predict(path, x: np.ndarray, outputs: list[str] | None = None) -> list[np.ndarray]:
    """Outputs of `path` for each sample of float `x`; an integer-I/O model is fed and read through its io spec."""
    s = _session(path)
    name = s.get_inputs()[0].name
    io = json.loads(s.get_modelmeta().custom_metadata_map.get(IO_KEY) or "null")
    x = quantize_inputs(x, io, name)
    res = [s.run(outputs, feed_of(x, name, i, i + 1)) for i in range(n_samples(x))]
    out = [np.concatenate([r[k] for r in res]) for k in range(len(res[0]))]
    return dequantize_outputs(out, io, [o.name for o in s.get_outputs()]) if outputs is None else out


class OnnxQuantizer:
    """One FP32 ONNX file, calibrated once; builds and measures INT8 variants of it."""

    def __init__(self, fp32_path, calib: np.ndarray, method: str = "minmax", per_channel: bool = True,
                 workdir=None):
        import onnx

        if method not in METHODS:
            raise EdgekitError(f"unknown calibration method {method!r}; choose from {', '.join(METHODS)}")
        if calib is None or n_samples(calib) == 0:
            raise EdgekitError("INT8 needs calibration data: pass --calib DIR|file.npz (or 'synthetic')")
        self.fp32 = Path(fp32_path)
        self.model = onnx.load(str(self.fp32))
        self.input_name = self.model.graph.input[0].name
        self.input_names = {i.name for i in self.model.graph.input}
        self.output_name = self.model.graph.output[0].name
        # several inputs: {name: (N, ...)} with each input's own dtype (token ids stay integers)
        self.calib = ({k: np.ascontiguousarray(v) for k, v in calib.items()} if isinstance(calib, dict)
                      else np.ascontiguousarray(calib, dtype=np.float32))
        self.method = method
        self.per_channel = per_channel
        self.layers = onnx_layers(self.model)
        self.tmp = Path(workdir or tempfile.mkdtemp(prefix="edgekit-q-"))
        self._own_tmp = workdir is None
        self.cache = self.tmp / "calibration.json"
        self.n = 0
        self.probe = take(self.calib, 0, min(n_samples(self.calib), 32))  # samples for the logits check
        self.ref_logits = predict(self.fp32, self.probe)

    def close(self):
        if self._own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def build(self, int8_layers: set[str], fmt: str = "qdq_u8", out=None) -> Path:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        self.n += 1
        out = Path(out) if out else self.tmp / f"v{self.n}.onnx"
        calib_method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                        "entropy": CalibrationMethod.Entropy}[self.method]
        act = QuantType.QInt8 if fmt == "qdq_s8" else QuantType.QUInt8
        quant_format = QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ
        nodes = sorted(int8_layers)
        if not nodes:
            import onnx

            onnx.save(self.model, str(out))
            return out
        logging.disable(logging.WARNING)  # quantize_static logs pre-processing advice on the root logger
        try:
            if self.method == "entropy" and not self.cache.is_file():
                self._entropy_cache()
            quantize_static(str(self.fp32), str(out), _Reader(self.input_name, self.calib), quant_format=quant_format,
                            op_types_to_quantize=list(WEIGHTED_OPS), per_channel=self.per_channel,
                            activation_type=act, weight_type=QuantType.QInt8, nodes_to_quantize=nodes,
                            calibrate_method=calib_method, calibration_cache_path=str(self.cache),
                            reduce_range=REDUCE_RANGE,
                            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        finally:
            logging.disable(logging.NOTSET)
        return out

    def _entropy_cache(self) -> None:
        """Run onnxruntime's EntropyCalibrater with enough bins to search, into the calibration cache
        quantize_static then reads (its own call cannot pass the bin counts)."""
        from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator, save_tensors_data

        calibrator = create_calibrator(self.fp32, list(WEIGHTED_OPS), augmented_model_path=str(self.tmp / "augmented.onnx"),
                                       calibrate_method=CalibrationMethod.Entropy,
                                       extra_options={"num_bins": ENTROPY_BINS, "num_quantized_bins": 128})
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress; --json owns stdout
            calibrator.collect_data(_Reader(self.input_name, self.calib))
            save_tensors_data(calibrator.compute_data(), self.cache)
        del calibrator

    def caller(self, path):
        """A zero-argument single-sample inference of `path` (1 thread), for side-by-side timing."""
        s = _session(path)
        feed = feed_of(self.calib, s.get_inputs()[0].name, 0, 1)
        return lambda: s.run(None, feed)

    def fidelity(self, path) -> float:
        """Logits cosine against FP32 on the probe samples; with several outputs, the lowest of them."""
        got = predict(path, self.probe)
        return min(tensor_error(r, g)["cosine"] for r, g in zip(self.ref_logits, got))

    def layer_errors(self, path) -> dict[str, dict]:
        """Each layer's output (and data input) in `path` against the FP32 model, on the probe samples."""
        import onnx

        names = sorted({t for L in self.layers for t in (L.output, *L.inputs)} - self.input_names)
        ref = self._with_outputs(self.model, names, "ref")
        m = onnx.load(str(path))
        have = {o for n in m.graph.node for o in n.output} | {i.name for i in m.graph.input}
        names = [t for t in names if t in have]
        test = self._with_outputs(m, names, "test")
        r = dict(zip(names, predict(ref, self.probe, names)))
        q = dict(zip(names, predict(test, self.probe, names)))
        return {t: tensor_error(r[t], q[t]) for t in names}

    def _with_outputs(self, model, names, tag) -> Path:
        import onnx
        from onnx import helper

        m = onnx.ModelProto()
        m.CopyFrom(model)
        existing = {o.name for o in m.graph.output}
        for t in names:
            if t not in existing and t not in self.input_names:
                m.graph.output.append(helper.make_empty_tensor_value_info(t))
        p = self.tmp / f"probe_{tag}.onnx"
        onnx.save(m, str(p))
        return p


def quantize_onnx(fp32_onnx_path, out_path, calib, method: str = "minmax", int8_io: bool = False,
                  keep_float=(), *, eval_data=None, max_drop: float | None = None, search: bool = True,
                  per_channel: bool = True) -> dict:
    """Write an INT8 model of `fp32_onnx_path` to `out_path`; return the quantization report.

    `keep_float`: node names forced to float. `eval_data` = (x, labels) held out; `max_drop` (top-1
    points) needs it. `search=False` skips the latency measurements (default policy). `out_path`
    may be `fp32_onnx_path` itself.
    """
    check_max_drop(max_drop, eval_data)
    with tempfile.TemporaryDirectory(prefix="edgekit-q-") as tmp:
        import onnx

        src = Path(tmp) / "fp32.onnx"
        onnx.save(onnx.load(str(fp32_onnx_path)), str(src))  # self-contained copy: out may overwrite the input
        calib = calib if isinstance(calib, dict) else _nchw_or_nhwc(calib, src)
        q = OnnxQuantizer(src, calib, method=method, per_channel=per_channel, workdir=tmp)
        if eval_data is not None:
            eval_data = (eval_data[0] if isinstance(eval_data[0], dict) else _nchw_or_nhwc(eval_data[0], src),
                         eval_data[1])
        return _quantize(q, Path(out_path), set(keep_float), eval_data, max_drop, search, int8_io)


def quantize(src, dst, options) -> dict:
    """The exporter contract: `options` is an ExportOptions; extra may hold eval_data = (x, y) or
    eval_x / eval_y (held-out labeled data), labels (of options.calib), max_drop, keep_float, search."""
    x, extra = options.calib, options.extra
    calib, eval_data = split_calibration(x, extra)
    return quantize_onnx(src, dst, calib, method=options.calib_method, int8_io=options.int8_io,
                         keep_float=extra.get("keep_float", ()), eval_data=eval_data,
                         max_drop=extra.get("max_drop"), search=extra.get("search", True))


def check_max_drop(max_drop, eval_data) -> None:
    if max_drop is not None and (eval_data is None or eval_data[1] is None):
        raise EdgekitError("--max-drop needs labeled data: class sub-folders in --calib, or an .npz with a 'y' array")
    if max_drop is not None and max_drop < 0:
        raise EdgekitError(f"--max-drop must be >= 0 top-1 points, got {max_drop}")


def split_calibration(x, extra: dict):
    """(calibration batch, (eval x, eval y) or None). Labels of the calibration data alone: the
    second half is held out for the accuracy check (deterministic), the first half calibrates."""
    if extra.get("eval_data") is not None:  # the export pipeline's held-out split
        return x, tuple(extra["eval_data"])
    if extra.get("eval_x") is not None:
        return x, (extra["eval_x"], extra.get("eval_y"))
    labels = extra.get("labels")
    if labels is None:
        return x, None
    labels = np.asarray(labels)
    if len(x) < 8:
        raise EdgekitError(f"--max-drop needs more labeled samples than {len(x)} (raise --calib-size)")
    half = len(x) // 2
    return x[:half], (x[half:], labels[half:])


def _nchw_or_nhwc(x: np.ndarray, onnx_path) -> np.ndarray:
    """Match the model's input layout (a channels-last export takes N,H,W,C)."""
    import onnx

    dims = [d.dim_value for d in onnx.load(str(onnx_path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim]
    from edgekit.layouts import match_layout

    return match_layout(x, dims)


def _quantize(q: OnnxQuantizer, out_path: Path, keep_float: set, eval_data, max_drop, search,
              int8_io: bool = False) -> dict:
    t0 = time.perf_counter()
    layers = q.layers
    unknown = keep_float - {L.name for L in layers}
    if unknown:
        raise EdgekitError(f"--keep-float names no quantizable layer: {', '.join(sorted(unknown)[:3])}")
    precision, reasons = initial_precision(), initial_reasons()
    present = {L.group for L in layers}
    trials: list = []

    def int8_set(prec, forced=()):
        return {L.name for L in layers if prec[L.group] == "int8" and L.name not in keep_float and L.name not in forced}

    fmt = "qdq_u8"
    if search:
        formats = ("qdq_u8", "qdq_s8", "qoperator")
        paths = [q.build(int8_set(precision), f, out=q.tmp / f"format_{f}.onnx") for f in formats]
        coss = [q.fidelity(p) for p in paths]
        mss = alternating_ms([q.caller(p) for p in paths])
        for f, ms, cos in zip(formats, mss, coss):
            trials.append({"variant": f, "groups": dict(precision), "ms": ms, "cosine": cos})
        ok = [i for i, c in enumerate(coss) if c >= max(coss) - 2e-3]
        fmt = formats[min(ok, key=lambda i: mss[i])]
        precision = choose_groups(present, precision, lambda prec: q.build(int8_set(prec), fmt), q.caller,
                                  q.fidelity, reasons, trials, label=fmt)

    forced: list[str] = []
    final = q.build(int8_set(precision), fmt)
    acc = None
    if eval_data is not None and eval_data[1] is not None:
        x_eval, y_eval = eval_data

        def top1(path):
            return eval_score(predict(path, x_eval), y_eval)

        final, forced, acc = accuracy_with_budget(
            top1, q.fp32, final, len(y_eval), max_drop,
            lambda: rank_by_added_error(layers, int8_set(precision), q.layer_errors(final)),
            lambda f: top1(q.build(int8_set(precision, f), fmt, out=q.tmp / "fallback.onnx")),
            lambda f: q.build(int8_set(precision, f), fmt))

    # per-layer report, measured on the QDQ form of the final choice (same ranges, readable tensors)
    chosen = int8_set(precision, forced)
    qdq = final if fmt != "qoperator" else q.build(chosen, "qdq_u8")
    errors = q.layer_errors(qdq)
    annotate_layers(layers, chosen, keep_float, forced, reasons, errors, max_drop)
    import onnx

    io = None
    if int8_io:  # the model takes and returns integers; accuracy is re-measured on that file
        proto = onnx.load(str(final))
        io = onnx_integer_io(proto, q.calib, predict(final, q.calib), "int8" if fmt == "qdq_s8" else "uint8")
        onnx.save(proto, str(out_path))
        if acc is not None:
            acc = with_int8_top1(acc, eval_score(predict(out_path, eval_data[0]), eval_data[1]), max_drop)
    else:
        onnx.save(onnx.load(str(final)), str(out_path))
    fp32_ms, int8_ms = alternating_ms([q.caller(q.fp32), q.caller(final)], seconds=0.6) if search else (None, None)
    return policy_report(
        runtime="onnxruntime", tool="onnxruntime.quantization.quantize_static"
        + (" (reduce_range: 7-bit weights, " + REDUCE_RANGE_WHY + ")" if REDUCE_RANGE else ""),
        format={"qdq_u8": "QDQ (uint8 activations)", "qdq_s8": "QDQ (int8 activations)",
                "qoperator": "QOperator (uint8 activations)"}[fmt],
        per_channel=q.per_channel, calib_method=q.method, calib_method_impl=METHOD_IMPL[q.method],
        calib_samples=n_samples(q.calib), int8_io=int8_io,
        **({"io": io} if io else {}),
        precision=precision, reasons=reasons, present=present, layers=layers, forced=forced, fp32_ms=fp32_ms,
        int8_ms=int8_ms, search=search, logits_cosine=q.fidelity(out_path), accuracy=acc, trials=trials, started=t0)
