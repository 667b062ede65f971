"""INT8 for ExecuTorch: PT2E with ExecuTorch's XNNPACKQuantizer, ranges from edgekit.calibration.

    program, report = quantize(model, example, options)   # an ExportedProgram ready for XNNPACK lowering

- Weights: symmetric per-channel int8 (`get_symmetric_quantization_config(is_per_channel=True)`),
  activations int8 per tensor, as the XNNPACK delegate runs them.
- Activation ranges: the quantizer's own activation observers (histogram) are swapped for min/max
  observers whose range is edgekit's (`edgekit.calibration.ranges.RangeCollector`, the same
  minmax / percentile / entropy search the other targets use), computed from the float activations
  each observer sees over the calibration set. `minmax` is then the min/max over the set.
- `--max-drop`: top-1 of the float model and of the PT2E reference (quantize/dequantize in
  PyTorch, what XNNPACK's int8 kernels compute up to rounding) on the held-out data; over budget,
  the most sensitive convs / linears (error added on top of their input's, measured on that
  reference) are left float, 1, 2, 4, … at a time (`quantize_policy.accuracy_with_budget`).
  Layers left float stay in the XNNPACK delegate as FP32.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from edgekit.analysis.accuracy import tensor_error
from edgekit.calibration.ranges import RangeCollector, describe
from edgekit.errors import EdgekitError
from edgekit.exporters.quantize_onnx import Layer, check_max_drop, n_samples, split_calibration, take
from edgekit.exporters.quantize_policy import accuracy_with_budget, eval_score, rank_by_added_error

WEIGHTED = ("aten.conv2d.default", "aten.linear.default")


def _activation_observers(prepared) -> dict:
    """{first name: observer} of each distinct per-tensor activation observer of `prepared`."""
    from torchao.quantization.pt2e.observer import HistogramObserver, MinMaxObserver

    return {names[0]: getattr(prepared, names[0]) for names in _observer_aliases(prepared).values()
            if isinstance(getattr(prepared, names[0]), (HistogramObserver, MinMaxObserver))
            and getattr(prepared, names[0]).qscheme in _per_tensor()}


def _observer_aliases(prepared) -> dict:
    """{id(observer): [every attribute name holding it]}.

    prepare_pt2e inserts one observer *instance* under several names where the quantizer shares
    quantization parameters (SharedQuantizationSpec: a reshape, slice or concat and its input).
    Replacing the instance under one name only would split the group: the other names kept the
    quantizer's histogram observer, so a flatten got a scale a hair off its input's, and XNNPACK
    refuses a quantized reshape whose input and output parameters differ (M0 INT8: "Failed to
    create squeeze node", xnn_status_invalid_parameter, at init)."""
    groups: dict = {}
    for name, m in prepared._modules.items():
        if m is not None and name.startswith("activation_post_process"):
            groups.setdefault(id(m), []).append(name)
    return groups


def _per_tensor():
    import torch

    return (torch.per_tensor_affine, torch.per_tensor_symmetric)


def _batches(x):
    """One sample at a time as the model's positional inputs: a 1-tuple, or one tensor per input of a
    several-input calibration set ({name: (N, ...)} in the model's input order, ids kept integer)."""
    import torch

    for i in range(n_samples(x)):
        if isinstance(x, dict):
            yield tuple(torch.from_numpy(np.ascontiguousarray(v[i:i + 1])) for v in x.values())
        else:
            yield (torch.from_numpy(np.ascontiguousarray(x[i:i + 1], dtype=np.float32)),)


def edgekit_ranges(prepared, calib: np.ndarray, method: str) -> tuple[dict, dict]:
    """Replace each activation observer of `prepared` by a min/max observer holding edgekit's range.

    Returns ({observer name: (lo, hi)}, {observer name: observed (min, max)})."""
    import torch
    from torchao.quantization.pt2e.observer import MinMaxObserver

    aliases = _observer_aliases(prepared)
    observers = _activation_observers(prepared)
    for name, m in observers.items():  # cheap observers while the activations are recorded
        new = MinMaxObserver(dtype=m.dtype, qscheme=m.qscheme, quant_min=m.quant_min,
                             quant_max=m.quant_max, eps=float(m.eps))
        for alias in aliases[id(m)]:  # one instance for the whole shared group, as prepare_pt2e made it
            setattr(prepared, alias, new)

    def samples():
        for xb in _batches(calib):
            acts: dict = {}
            # a shared observer is called once per tensor of its group: its range covers them all
            hooks = [getattr(prepared, n).register_forward_hook(
                lambda mod, inp, out, n=n: acts.setdefault(n, []).append(inp[0].detach().float().numpy().ravel()))
                for n in observers]
            try:
                with torch.no_grad():
                    prepared(*xb)
            finally:
                for h in hooks:
                    h.remove()
            yield {n: np.concatenate(v) for n, v in acts.items()}

    rc = RangeCollector(method)
    ranges = rc.collect(samples)
    observed = {n: (s.lo, s.hi) for n, s in rc.stats.items()}
    for name in observers:
        obs = getattr(prepared, name)
        lo, hi = ranges.get(name, observed.get(name, (0.0, 0.0)))
        obs.min_val = torch.tensor(float(lo))
        obs.max_val = torch.tensor(float(hi))
    return ranges, observed


def _quantizer(skip: list[str]):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)

    q = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    for name in skip:  # left float: a named module with no config (set_module_name asserts on None)
        q.module_name_config[name] = None
    return q


def _module_name(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return node.name
    path = list(stack.values())[-1][0]
    return path.replace("L['self'].", "").replace("L__self___", "")


def _graph_layers(gm) -> list[Layer]:
    layers = []
    for node in gm.graph.nodes:
        if node.op == "call_function" and str(node.target) in WEIGHTED:
            op = "linear" if "linear" in str(node.target) else "conv2d"
            name = _module_name(node)
            layers.append(Layer(name, op, "classifier" if op == "linear" else "conv", name, [node.args[0].name],
                                node.name))
    return layers


def _node_outputs(gm, x, names: set) -> dict:
    import torch
    from torch.fx import Interpreter

    out: dict = {}

    class Recorder(Interpreter):
        def run_node(self, n):
            r = super().run_node(n)
            if n.name in names and isinstance(r, torch.Tensor):
                out.setdefault(n.name, []).append(r.detach().float().numpy())
            return r

    with torch.no_grad():
        for xb in _batches(x):
            Recorder(gm).run(*xb)
    return {k: np.concatenate(v) for k, v in out.items()}


def _logits(gm, x) -> list[np.ndarray]:
    """Every output of `gm` over the samples of `x`, one array per output."""
    import torch

    from edgekit.models.examples import flatten_outputs

    with torch.no_grad():
        outs = [flatten_outputs(gm(*xb)) for xb in _batches(x)]
    return [np.concatenate([o[k].float().numpy() for o in outs]) for k in range(len(outs[0]))]


def _cosine(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    return min(tensor_error(r, g)["cosine"] for r, g in zip(ref, got))


def quantize(model, example, options):
    """(ExportedProgram of the quantized model, report) for the exporter (see module docstring)."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from edgekit.exporters.executorch import export_program

    method = options.calib_method
    calib, eval_data = split_calibration(options.calib, options.extra)
    if calib is None or n_samples(calib) == 0:
        raise EdgekitError("INT8 needs calibration data: pass --calib DIR|file.npz (or 'synthetic')")
    max_drop = options.extra.get("max_drop")
    check_max_drop(max_drop, eval_data)
    t0 = time.perf_counter()
    if not isinstance(calib, dict):
        calib = np.asarray(calib, dtype=np.float32)
    float_gm = export_program(model, example).module()

    def build(skip: list[str]):
        prepared = prepare_pt2e(copy.deepcopy(float_gm), _quantizer(skip))
        ranges, observed = edgekit_ranges(prepared, calib, method)
        return convert_pt2e(prepared), ranges, observed

    converted, ranges, observed = build([])
    layers = _graph_layers(float_gm)
    probe = take(calib, 0, min(16, n_samples(calib)))
    ref = _logits(float_gm, probe)
    accuracy, forced = None, []
    if eval_data is not None:
        x_eval, y_eval = eval_data

        def top1(gm):
            return eval_score(_logits(gm, x_eval), y_eval)

        def ranked():
            names = {t for L in layers for t in (L.output, *L.inputs)}
            f, q = _node_outputs(float_gm, probe, names), _node_outputs(converted, probe, names)
            errors = {n: tensor_error(f[n], q[n]) for n in f if n in q}
            return rank_by_added_error(layers, {L.name for L in layers}, errors)

        converted, forced, accuracy = accuracy_with_budget(top1, float_gm, converted, len(y_eval), max_drop, ranked,
                                                           lambda f: top1(build(f)[0]), lambda f: build(f)[0])
    cosine = _cosine(ref, _logits(converted, probe))
    from edgekit.exporters.base import as_args

    try:
        program = torch.export.export(converted, as_args(example), strict=False)
    except Exception as exc:
        raise EdgekitError(f"ExecuTorch cannot export the quantized model: {type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}") from None
    n_q = sum(1 for n in converted.graph.nodes if n.op == "call_function" and "quantize_per_channel" in str(n.target))
    report = {
        "runtime": "executorch",
        "tool": "ExecuTorch XNNPACKQuantizer (PT2E prepare_pt2e / convert_pt2e): symmetric per-channel int8 weights, "
                "int8 activations per tensor",
        "calib_method": method,
        "calib_method_impl": describe(method) + " (edgekit.calibration.ranges, float activations at each of the "
                             "quantizer's activation observers, replacing its histogram observers)",
        "calib_samples": int(n_samples(calib)),
        "int8_io": False,
        "activation_observers": len(ranges),
        "own_ranges_tensors": len(ranges),
        "clipped_tensors": sum(1 for n, r in ranges.items() if tuple(r) != tuple(observed.get(n, r))),
        "per_channel_weights": n_q,
        "layers": [{"name": L.name, "op": L.op, "precision": "float" if L.name in forced else "int8"} for L in layers],
        "n_int8": sum(L.name not in forced for L in layers),
        "n_float": len(forced),
        "kept_float_for_accuracy": forced,
        "logits_cosine": cosine,
        "accuracy": accuracy | {"measured_on": "PT2E reference (quantize/dequantize in PyTorch)"} if accuracy else None,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return program, report
