"""Op census of an ExecuTorch .pte program, read from the lowered program itself.

Outside the delegate: the method's instruction chain (`KernelCall`s name an operator of the
execution plan, `DelegateCall`s a delegate), so every op ExecuTorch runs on its own kernels is
counted by name. Inside: each XNNPACK delegate's payload is its serialized XNNGraph (header
`XH00`, then a flatbuffer of `schema.fbs`), decoded with the flatc that ships with executorch;
its nodes are the kernels XNNPACK runs (`XNNConv2d`, `XNNAdd`, …). Needs executorch's
serialization (which imports torch); not used by bench.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from edgekit.errors import EdgekitError

# Instructions that move or free values: the plumbing around kernels and delegates, not compute.
PLUMBING = ("MoveCall", "FreeCall", "JumpFalseCall")
# Kernels outside a delegate that only reshape or view memory.
VIEW_OPS = ("aten::view_copy", "executorch_prim::et_view", "aten::alias_copy")


def _xnn_payload_nodes(payload: bytes) -> list[str]:
    """XNNPACK node types of one delegate payload."""
    from importlib import resources

    from executorch.exir._serialize._flatbuffer import _get_flatc_path

    if payload[4:8] == b"XH00":
        fb_offset = int.from_bytes(payload[10:14], "little")
        fb_size = int.from_bytes(payload[14:18], "little")
        fb = payload[fb_offset:fb_offset + fb_size]
    else:
        fb = payload
    schema = resources.files("executorch.backends.xnnpack.serialization") / "schema.fbs"
    with tempfile.TemporaryDirectory() as d:
        bin_path, schema_path = Path(d) / "graph.bin", Path(d) / "schema.fbs"
        bin_path.write_bytes(fb)
        schema_path.write_bytes(schema.read_bytes())
        subprocess.run([_get_flatc_path(), "--json", "--strict-json", "--defaults-json", "--raw-binary", "-o", d,
                        str(schema_path), "--", str(bin_path)], check=True, capture_output=True)
        text = (Path(d) / "graph.json").read_text()
    # flatc writes non-finite floats (a clamp's ±inf) as bare inf / nan, which is not JSON: read the types only
    return re.findall(r'"xnode_union_type":\s*"(\w+)"', text)


def _op_name(op) -> str:
    return op.name if not op.overload or op.overload == "default" else f"{op.name}.{op.overload}"


def read_program(path):
    from executorch.exir._serialize._program import deserialize_pte_binary

    pte = deserialize_pte_binary(Path(path).read_bytes())
    return getattr(pte, "program", pte)


def census(path) -> dict:
    """Ops outside the delegate by name, delegate calls, XNNPACK kernels inside by type, I/O."""
    try:
        program = read_program(path)
    except ModuleNotFoundError:
        raise
    except Exception as exc:
        raise EdgekitError(f"cannot read {path} as an ExecuTorch program: {type(exc).__name__}") from None
    plan = program.execution_plan[0]
    instructions = [i for chain in plan.chains for i in chain.instructions]
    kinds = Counter(type(i.instr_args).__name__ for i in instructions)
    outside = Counter(_op_name(plan.operators[i.instr_args.op_index]) for i in instructions
                      if type(i.instr_args).__name__ == "KernelCall")
    delegate_calls = kinds.get("DelegateCall", 0)
    inside: Counter = Counter()
    backends = Counter(d.id for d in plan.delegates)
    for d in plan.delegates:
        if "xnnpack" not in d.id.lower():
            continue
        loc = d.processed
        payload = bytes(program.backend_delegate_data[loc.index].data) if loc.location.name == "INLINE" else b""
        if payload:
            inside.update(_xnn_payload_nodes(payload))
    compute_outside = {k: v for k, v in outside.items() if k not in VIEW_OPS}
    values = plan.values

    def spec(i):
        t = values[i].val
        dtype = {6: "float32", 5: "float16", 1: "int8", 0: "uint8", 3: "int32", 4: "int64"}.get(
            int(getattr(t.scalar_type, "value", t.scalar_type)), str(t.scalar_type))
        return {"name": f"{'input' if i in plan.inputs else 'output'}_{i}", "shape": [int(s) for s in t.sizes],
                "dtype": dtype}

    return {
        "format": "executorch",
        "nodes": sum(outside.values()) + sum(inside.values()),
        "ops": dict(sorted((Counter({f"xnnpack:{k}": v for k, v in inside.items()}) + outside).items(),
                           key=lambda kv: (-kv[1], kv[0]))),
        "transpose": sum(v for k, v in inside.items() if "Transpose" in k) + outside.get("aten::permute_copy", 0),
        "reshape": sum(v for k, v in inside.items() if "Reshape" in k) + outside.get("aten::view_copy", 0),
        "gather": outside.get("aten::index", 0) + outside.get("aten::index.Tensor_out", 0),
        "instructions": dict(kinds),
        "inputs": [spec(i) for i in plan.inputs],
        "outputs": [spec(i) for i in plan.outputs],
        "delegate": {
            "name": "XNNPACK",
            "backends": dict(backends),
            "partitions": delegate_calls,
            "delegated_ops": sum(inside.values()),
            "delegated_by_type": dict(sorted(inside.items(), key=lambda kv: (-kv[1], kv[0]))),
            "default_kernel_ops": sum(compute_outside.values()),
            "default_kernel_by_type": dict(sorted(compute_outside.items(), key=lambda kv: (-kv[1], kv[0]))),
            "view_ops_outside": {k: v for k, v in outside.items() if k in VIEW_OPS},
            "fully_delegated": delegate_calls == 1 and not compute_outside,
        },
        "metadata": {},
    }
