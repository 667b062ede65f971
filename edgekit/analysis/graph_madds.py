"""Conv + linear multiply-adds counted from an exported ONNX graph itself (shape inference).

The same convention as `edgekit.analysis.flops` (published MicroNet figures): every Conv / Gemm /
MatMul (and their INT8 forms) counts output elements × reduction length, an LSTM / GRU / RNN its input and
recurrent products at every step; bias, BatchNorm and
element-wise ops are not counted. Per sample: the batch dimension is divided out. The export
report asserts graph MAdds == model MAdds + the rewrite overhead the rewrite log reports.

TFLite and OpenVINO graph counts live next to this module, one per format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from pathlib import Path

# op → (index of the weight input, index of the data input)
_CONVS = {"Conv": (1, 0), "ConvInteger": (1, 0), "QLinearConv": (3, 0), "ConvTranspose": (1, 0)}
_MATMULS = {"MatMul": 0, "MatMulInteger": 0, "QLinearMatMul": 0, "Gemm": 0, "QGemm": 0}


@dataclass
class NodeMadds:
    name: str
    op: str
    output_shape: tuple[int, ...]
    madds: int


@dataclass
class GraphMadds:
    total: int
    nodes: list[NodeMadds] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # counted ops whose shapes inference could not resolve

    def by_op(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.op] = out.get(n.op, 0) + n.madds
        return out

    def to_dict(self, per_node: bool = False) -> dict:
        d = {"total": self.total, "by_op": self.by_op(), "unknown": list(self.unknown)}
        if per_node:
            d["nodes"] = [vars(n) | {"output_shape": list(n.output_shape)} for n in self.nodes]
        return d


def _shapes(proto) -> dict[str, tuple[int, ...] | None]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    g = inferred.graph
    shapes: dict[str, tuple[int, ...] | None] = {init.name: tuple(init.dims) for init in g.initializer}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
        shapes[vi.name] = None if any(d <= 0 for d in dims) else dims
    for node in g.node:  # Constant nodes carry their shape in the attribute
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = tuple(a.t.dims)
    return shapes


def _attr(node, name, default):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _qgemm_madds(node, shapes) -> tuple[int, tuple[int, ...]] | None:
    """com.microsoft QGemm (onnxruntime's INT8 Gemm): inputs A, a_scale, a_zp, B, ...; ONNX shape
    inference does not know the op, so the output shape comes from A and B."""
    a, b = shapes.get(node.input[0]), shapes.get(node.input[3])
    if a is None or b is None:
        return None
    rows, k = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])
    n = b[0] if _attr(node, "transB", 0) else b[1]
    return n * k, (rows, n)


def _rnn_madds(node, shapes, batch: int) -> tuple[int, tuple[int, ...]] | None:
    """LSTM / GRU / RNN: X (T, N, in) (layout 0), W (dirs, gates*H, in), R (dirs, gates*H, H): every step
    multiplies the input by W and the hidden state by R."""
    x, w, r = (shapes.get(node.input[i]) for i in range(3))
    if x is None or w is None or r is None:
        return None
    steps_rows = x[1] * x[0]  # T x N (batch-major layout 1 is N x T: the product is the same)
    return steps_rows // batch * (prod(w) + prod(r)), shapes.get(node.output[0]) or ()


_RNNS = ("LSTM", "GRU", "RNN")


def _node_madds(node, shapes, batch: int = 1) -> tuple[int, tuple[int, ...]] | None:
    if node.op_type == "QGemm":
        return _qgemm_madds(node, shapes)
    if node.op_type in _RNNS:
        return _rnn_madds(node, shapes, batch)
    out = shapes.get(node.output[0])
    if node.op_type in _CONVS:
        w_idx, x_idx = _CONVS[node.op_type]
        w = shapes.get(node.input[w_idx])
        if node.op_type == "ConvTranspose":
            x = shapes.get(node.input[x_idx])
            if w is None or x is None or out is None:
                return None
            return prod(x) // batch * prod(w[1:]), out  # every input element scatters Cout/g × k×k products
        if w is None or out is None:
            return None
        # per sample of the graph's batch (not the node's leading axis: video frames run as a batch of T)
        return prod(out) // batch * prod(w[1:]), out
    a = shapes.get(node.input[_MATMULS[node.op_type]])
    if a is None or out is None:
        return None
    if node.op_type == "Gemm":
        k = a[0] if _attr(node, "transA", 0) else a[1]
        # 2-D: rows of A are the graph's batch, or more rows per sample (TCN: 25 proposals through one Linear)
        return prod(out) // batch * k, out
    k = a[-1]
    # Batch-1 export: a leading 1 is the batch; MatMul of rank ≥ 3 keeps it in front.
    per_sample = prod(out[1:]) if len(out) >= 3 and out[0] == 1 else prod(out)
    return per_sample * k, out


def graph_madds(model) -> GraphMadds:
    """Count an ONNX file or ModelProto (weights may be external: only shapes are read)."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False) if isinstance(model, (str, Path)) else model
    shapes = _shapes(proto)
    first = shapes.get(proto.graph.input[0].name) if len(proto.graph.input) else None
    batch = first[0] if first else 1
    nodes, unknown = [], []
    for node in proto.graph.node:
        if node.op_type not in _CONVS and node.op_type not in _MATMULS and node.op_type not in _RNNS:
            continue
        counted = _node_madds(node, shapes, batch)
        name = node.name or node.output[0]
        if counted is None:
            unknown.append(name)
            continue
        madds, out = counted
        nodes.append(NodeMadds(name, node.op_type, tuple(out), int(madds)))
    return GraphMadds(total=sum(n.madds for n in nodes), nodes=nodes, unknown=unknown)
