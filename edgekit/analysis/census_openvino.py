"""Op census of an OpenVINO model (.xml IR or .onnx read by OpenVINO) and its graph MAdds.

Two views: the IR as stored (`model.get_ordered_ops()`), and — when `runtime=True` — the
execution graph the CPU plugin actually runs after its own fusions (`get_runtime_model()`),
with the precision each node runs in. MAdds follow the published convention: Convolution,
GroupConvolution and MatMul count output elements × reduction length, per sample. No torch.
"""

from __future__ import annotations

from collections import Counter
from math import prod
from pathlib import Path

STRUCTURAL = ("Constant", "Parameter", "Result")


def _shape(output) -> tuple[int, ...] | None:
    ps = output.get_partial_shape()
    return tuple(d.get_length() for d in ps) if ps.is_static else None


def constant_nodes(model) -> set[str]:
    """Friendly names of nodes that do not depend on a Parameter (weights, decompressed fp16 weights)."""
    const: set[str] = set()
    for node in model.get_ordered_ops():
        kind = node.get_type_name()
        ins = [v.get_node() for v in node.input_values()]
        if kind == "Constant" or (kind != "Parameter" and ins and all(i.get_friendly_name() in const for i in ins)):
            const.add(node.get_friendly_name())
    return const


def node_madds(node, batch: int | None = None) -> int:
    """Multiply-adds of one Convolution / GroupConvolution / MatMul, per sample (0 for other ops).

    `batch` is the model input's batch; without it a node's leading axis is taken as the batch,
    which undercounts a video model whose frames run as a batch of T inside a batch-1 graph."""
    kind = node.get_type_name()
    if kind not in ("Convolution", "GroupConvolution", "MatMul"):
        return 0
    out = _shape(node.output(0))
    if out is None:
        return 0
    per_sample = prod(out) // max(out[0] if batch is None else batch, 1) if len(out) > 1 else prod(out)
    w = _shape(node.input_value(1))
    if kind == "Convolution" and w:  # [Cout, Cin, kh, kw]
        return per_sample * prod(w[1:])
    if kind == "GroupConvolution" and w:  # [G, Cout/G, Cin/G, kh, kw]
        return per_sample * prod(w[2:])
    a = _shape(node.input_value(0))
    if kind == "MatMul" and a:
        transpose_a = bool(node.get_attributes().get("transpose_a", False))
        k = a[-2] if transpose_a and len(a) > 1 else a[-1]
        if len(out) == 2:  # (N, units): the batch is the first axis
            return out[1] * k
        return per_sample * k
    return 0


def _read(model):
    import openvino as ov

    if isinstance(model, (str, Path)):
        return ov.Core().read_model(str(model))
    return model


def runtime_census(model, threads: int = 1) -> dict:
    """Execution-graph node types and precisions after the CPU plugin compiled `model`."""
    import openvino as ov

    from edgekit.runtimes.openvino_runner import compile_config

    compiled = ov.Core().compile_model(_read(model), "CPU", compile_config(threads))
    layers: Counter = Counter()
    precisions: Counter = Counter()
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else node.get_type_name()
        if kind in ("Input", "Output", "Const"):
            continue
        layers[kind] += 1
        if "runtimePrecision" in info:
            precisions[info["runtimePrecision"].astype(str)] += 1
    return {"nodes": sum(layers.values()), "ops": dict(layers.most_common()), "precisions": dict(precisions.most_common())}


def census(model, runtime: bool = False, threads: int = 1) -> dict:
    """Ops by type, watched-op counts, graph MAdds, inputs/outputs, edgekit rt_info."""
    m = _read(model)
    ops = [n for n in m.get_ordered_ops() if n.get_type_name() not in STRUCTURAL]
    counts = Counter(n.get_type_name() for n in ops)
    const = constant_nodes(m)
    dynamic = [n.get_friendly_name() for n in ops if n.get_type_name() in ("Convolution", "GroupConvolution")
               and n.input_value(1).get_node().get_friendly_name() not in const]
    first = _shape(m.inputs[0]) if m.inputs else None
    batch = first[0] if first else None
    by_op: Counter = Counter()
    for n in ops:
        by_op[n.get_type_name()] += node_madds(n, batch)
    out = {
        "format": "openvino",
        "nodes": len(ops),
        "ops": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "transpose": counts.get("Transpose", 0),
        "reshape": counts.get("Reshape", 0),
        "gather": counts.get("Gather", 0) + counts.get("GatherND", 0) + counts.get("GatherElements", 0),
        "gather_nd": counts.get("GatherND", 0),
        "dynamic_weight_convs": len(dynamic),
        "graph_madds": int(sum(by_op.values())),
        "madds_by_op": {k: int(v) for k, v in by_op.items() if v},
        "inputs": [_port(p) for p in m.inputs],
        "outputs": [_port(p) for p in m.outputs],
        "metadata": _edgekit_rt_info(m),
    }
    if runtime:
        out["runtime"] = runtime_census(m, threads)
    return out


def _port(p) -> dict:
    shape = _shape(p)
    return {"name": p.get_any_name() if p.get_names() else p.get_node().get_friendly_name(),
            "shape": list(shape) if shape else None, "dtype": p.get_element_type().get_type_name()}


def _edgekit_rt_info(m) -> dict:
    """The `edgekit` section of the model's rt_info (what the exporter stored), as strings."""
    if not m.has_rt_info(["edgekit"]):
        return {}
    section = m.get_rt_info(["edgekit"]).astype(dict)
    return {str(k): v.astype(str) if hasattr(v, "astype") else str(v) for k, v in section.items()}
