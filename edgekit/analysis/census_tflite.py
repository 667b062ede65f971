"""Op census of a .tflite file, with XNNPACK delegate coverage measured from the runtime.

The op list comes from an interpreter built without default delegates (every op of the
flatbuffer, with shapes). Delegation is read from a second interpreter with XNNPACK applied:
after `allocate_tensors()` its node list holds the original nodes followed by one DELEGATE node
per partition. A partition's members are found by walking back from the DELEGATE node's outputs
to its inputs through the original producers; the original nodes in no partition are the ones
left on LiteRT's default kernels. Needs only numpy and a LiteRT interpreter (no torch).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from edgekit.runtimes.device_bench import delegate_partitions, dist_version  # one walk, on devices too
from edgekit.analysis.xnnpack_why import explain
from edgekit.runtimes.litert_runner import make_interpreter

# Ops whose presence inside a graph means layout or indexing work the model itself does not need.
WATCHED = ("TRANSPOSE", "RESHAPE", "GATHER", "GATHER_ND")
DELEGATE_OP = "DELEGATE"


def _node_tensors(interp, i: int) -> tuple[list[int], list[int]]:
    raw = interp._interpreter
    return ([int(t) for t in raw.NodeInputs(i) if t >= 0], [int(t) for t in raw.NodeOutputs(i) if t >= 0])


def _shape(interp, t: int) -> tuple[int, ...]:
    return tuple(int(d) for d in interp._interpreter.TensorSize(t, 0))


def op_list(interp, n: int | None = None) -> list[dict]:
    """[{index, op, inputs, outputs}] for the first `n` nodes (all when None)."""
    raw = interp._interpreter
    n = raw.NumNodes() if n is None else n
    out = []
    for i in range(n):
        ins, outs = _node_tensors(interp, i)
        out.append({"index": i, "op": raw.NodeName(i), "inputs": ins, "outputs": outs})
    return out


def op_madds(interp, op: dict) -> int:
    """Multiply-adds of one CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV / BATCH_MATMUL from its
    tensor shapes."""
    name = op["op"]
    if name == "TRANSPOSE_CONV" and len(op["inputs"]) >= 3:  # (output shape, filter [Cout, kh, kw, Cin], input)
        w = _shape(interp, op["inputs"][1])
        return int(np.prod(_shape(interp, op["inputs"][2]))) * w[0] * w[1] * w[2]
    if name == "BATCH_MATMUL" and len(op["inputs"]) >= 2:  # a product of two computed operands (attention)
        a = _shape(interp, op["inputs"][0])
        return int(np.prod(_shape(interp, op["outputs"][0]))) * a[-1]  # adj_x is not what converters emit
    if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") or len(op["inputs"]) < 2:
        return 0
    out = int(np.prod(_shape(interp, op["outputs"][0])))
    w = _shape(interp, op["inputs"][1])
    if name == "CONV_2D":  # filter [Cout, kh, kw, Cin/groups]
        return out * w[1] * w[2] * w[3]
    if name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, Cout]
        return out * w[1] * w[2]
    return out * w[-1]  # FULLY_CONNECTED weights [units, in]


def tensor_specs(interp, details: list[dict]) -> list[dict]:
    out = []
    for d in details:
        spec = {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name}
        scale, zp = d.get("quantization", (0.0, 0))
        if scale:
            spec["quantization"] = [float(scale), int(zp)]
        out.append(spec)
    return out


def read_metadata(path) -> dict[str, str]:
    """The flatbuffer's metadata entries (name → UTF-8 text; binary entries as their size)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return {}
    buf = Path(path).read_bytes()
    model = schema.Model.GetRootAsModel(buf, 0)
    out = {}
    for i in range(model.MetadataLength()):
        md = model.Metadata(i)
        name = md.Name().decode() if md.Name() else f"metadata_{i}"
        data = model.Buffers(md.Buffer()).DataAsNumpy()
        raw = bytes(data) if isinstance(data, np.ndarray) else b""
        try:
            out[name] = raw.decode("utf-8").rstrip("\x00")
        except UnicodeDecodeError:
            out[name] = f"<{len(raw)} bytes>"
    return out


def census(path, threads: int = 1) -> dict:
    """Ops by type, watched-op counts, graph MAdds, and XNNPACK coverage as the runtime applies it.

    Keys: format, nodes, ops {type: n}, transpose/reshape/gather counts, graph_madds,
    inputs, outputs, delegate {name, partitions, delegated_ops, default_kernel_ops,
    default_kernel_by_type, fully_delegated}, metadata.
    """
    plain = make_interpreter(path, threads, xnnpack=False)
    ops = op_list(plain)
    counts = Counter(op["op"] for op in ops)
    by_op: Counter = Counter()
    for op in ops:
        by_op[op["op"]] += op_madds(plain, op)
    madds = sum(by_op.values())

    xnn = make_interpreter(path, threads, xnnpack=True)
    all_nodes = op_list(xnn)
    delegate_nodes = [n for n in all_nodes[len(ops):] if n["op"] == DELEGATE_OP]
    partitions = delegate_partitions(ops, delegate_nodes)
    delegated = set().union(*partitions) if partitions else set()
    left = [op for op in ops if op["index"] not in delegated]
    left_by_type = Counter(op["op"] for op in left)
    dtypes = {d["index"]: d["dtype"] for d in plain.get_tensor_details()}
    why = explain(ops, left, dtypes, [d["index"] for d in plain.get_input_details()])
    return {
        "format": "tflite",
        "nodes": len(ops),
        "ops": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "transpose": counts.get("TRANSPOSE", 0),
        "reshape": counts.get("RESHAPE", 0),
        "gather": counts.get("GATHER", 0) + counts.get("GATHER_ND", 0),
        "gather_nd": counts.get("GATHER_ND", 0),
        "graph_madds": int(madds),
        "madds_by_op": {k: int(v) for k, v in by_op.items() if v},
        "inputs": tensor_specs(plain, plain.get_input_details()),
        "outputs": tensor_specs(plain, plain.get_output_details()),
        "delegate": {
            "name": "XNNPACK",
            # what THIS build delegates: tflite-runtime 2.14 leaves int8 grouped CONV_2D and FULLY_CONNECTED on
            # its default kernels where ai-edge-litert 2.3 takes them (device_bench.litert_delegation on a device)
            "runtime": f"ai-edge-litert {dist_version('ai-edge-litert')}",
            "partitions": len(delegate_nodes),
            "delegated_ops": len(delegated),
            "default_kernel_ops": len(left),
            "default_kernel_by_type": dict(sorted(left_by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
            "fully_delegated": len(delegate_nodes) == 1 and not left,
            # one line per node left on the default kernels: why XNNPACK declined it (analysis/xnnpack_why.py)
            "default_kernel_why": why,
        },
        "metadata": read_metadata(path),
    }
