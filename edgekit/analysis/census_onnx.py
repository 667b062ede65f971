"""Op census of an ONNX graph: what a runtime will actually execute.

Counts ops by type and the patterns that make dynamic CNNs slow or unquantizable: gathers (the
channel shift exported as-is), transposes and reshapes (5-D shuffles, 2-D hyper-function heads),
and convolutions / matmuls whose weight is computed from the input instead of being a constant.

A value is *constant* when it is an initializer, a Constant node's output, or the output of a
node whose inputs are all constant (DequantizeLinear of an INT8 initializer, a Cast of an FP16
one): such a weight is static for the runtime even when it is not stored in final form.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

GATHER_OPS = ("Gather", "GatherND", "GatherElements")
_WEIGHTED = {"Conv": 1, "ConvInteger": 1, "ConvTranspose": 1, "QLinearConv": 3}  # op → index of the weight input
_MATMULS = {"Gemm": (0, 1), "MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}


def _load(model):
    import onnx

    if isinstance(model, (str, Path)):
        return onnx.load(str(model), load_external_data=False)
    return model


def constant_values(graph) -> set[str]:
    """Names of every value in `graph` that does not depend on a graph input."""
    const = {init.name for init in graph.initializer}
    const.add("")  # an omitted optional input
    for node in graph.node:  # nodes are stored in topological order (onnx.checker enforces it)
        if node.op_type == "Constant" or (node.input and all(i in const for i in node.input)):
            const.update(node.output)
    return const


def census(model) -> dict:
    """Counts for an ONNX file or ModelProto (the main graph; subgraphs are not expected here)."""
    proto = _load(model)
    graph = proto.graph
    ops = Counter(node.op_type for node in graph.node)
    const = constant_values(graph)
    dynamic_convs = [n.name or n.output[0] for n in graph.node
                     if n.op_type in _WEIGHTED and n.input[_WEIGHTED[n.op_type]] not in const]
    dynamic_matmuls = [n.name or n.output[0] for n in graph.node
                       if n.op_type in _MATMULS and not any(n.input[i] in const for i in _MATMULS[n.op_type])]
    return {
        "format": "onnx",
        "nodes": len(graph.node),
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "gather": sum(ops[o] for o in GATHER_OPS),
        "gather_nd": ops["GatherND"],
        "transpose": ops["Transpose"],
        "reshape": ops["Reshape"],
        "conv": sum(ops[o] for o in _WEIGHTED),
        "dynamic_weight_convs": len(dynamic_convs),
        "dynamic_weight_matmuls": len(dynamic_matmuls),
        "dynamic_weight_nodes": dynamic_convs + dynamic_matmuls,
        "initializers": len(graph.initializer),
        "opset": max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=None),
    }
