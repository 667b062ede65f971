"""What is inside an exported model file: op census, inputs/outputs, graph MAdds, metadata and
(for .tflite) XNNPACK delegate coverage as the runtime applies it.

One dispatcher over the per-format census modules (census_onnx, census_tflite, census_openvino),
each imported only for its own format. No torch.

Result schema (`edgekit inspect --json`):
  kind "inspect", schema 1, file, name, format ("onnx"|"tflite"|"openvino"), size_bytes, files,
  inputs / outputs [{name, shape, dtype}], graph_madds (conv+linear, or null), madds_by_op,
  census {the format module's dict: ops {type: n}, transpose, reshape, gather, ...},
  delegate {name, partitions, delegated_ops, default_kernel_ops, default_kernel_by_type,
            fully_delegated} for .tflite (null otherwise),
  metadata {embedded key → value}, sidecar {model, precision, target, madds, madds_target, parity,
  layout} (empty when the artifact has no sidecar), warnings [one line each: e.g. an OpenVINO INT8 IR that
  the aarch64 CPU plugin refuses (analysis.openvino_arm_int8)]
"""

from __future__ import annotations

import importlib
from pathlib import Path

from edgekit.artifact import read_sidecar
from edgekit.errors import EdgekitError

FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".xml": "openvino", ".pte": "executorch"}
# format → (census module, the library it reads the file with, pip extra)
CENSUS = {"onnx": ("edgekit.analysis.census_onnx", "onnx", "export"),
          "tflite": ("edgekit.analysis.census_tflite", "ai_edge_litert", "litert"),
          "openvino": ("edgekit.analysis.census_openvino", "openvino", "openvino"),
          "executorch": ("edgekit.analysis.census_executorch", "executorch", "executorch")}
SIDECAR_KEYS = ("model", "precision", "target", "layout", "madds", "parity", "conversion_seconds", "census")


def _census_module(fmt: str):
    module_name, lib, extra = CENSUS[fmt]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise EdgekitError(f"inspecting {fmt} files is not available in this edgekit build "
                               f"({module_name} missing)") from None
        if exc.name and exc.name.startswith("edgekit"):
            raise
        raise EdgekitError(f"inspecting {fmt} files needs {exc.name or lib}: pip install 'edgekit[{extra}]'") from None


def inspect_file(path) -> dict:
    """Everything edgekit can tell about `path` without running it for latency."""
    from edgekit.runtimes.bench import artifact_files

    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"model file not found: {p}")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise EdgekitError(f"cannot inspect {p.name}: expected a .onnx, .tflite, .xml (OpenVINO IR) or .pte (ExecuTorch) file")
    module = _census_module(fmt)
    try:
        census = module.census(p)
    except EdgekitError:
        raise
    except ModuleNotFoundError as exc:
        raise EdgekitError(f"inspecting {fmt} files needs {exc.name}: pip install 'edgekit[{CENSUS[fmt][2]}]'") \
            from None
    except Exception as exc:  # a corrupt file: the parser's own exception type
        from edgekit.runtimes.device_bench import error_line

        raise EdgekitError(f"cannot read {p} as {fmt}: {error_line(exc)}") from None
    census = dict(census)
    files = artifact_files(p)
    result = {"kind": "inspect", "schema": 1, "file": str(p), "name": p.name, "format": fmt,
              "size_bytes": sum(f.stat().st_size for f in files), "files": [f.name for f in files],
              "inputs": census.pop("inputs", None), "outputs": census.pop("outputs", None),
              "graph_madds": census.pop("graph_madds", None), "madds_by_op": census.pop("madds_by_op", None),
              "delegate": census.pop("delegate", None), "metadata": census.pop("metadata", None) or {},
              "census": census}
    if fmt == "onnx":
        _add_onnx(p, result)
    result["warnings"] = []
    if fmt == "openvino":
        from edgekit.analysis.openvino_arm_int8 import warning

        arm = warning(p)
        result["warnings"] += [arm] if arm else []
    result["runtime_compat"] = _runtime_compat(p)
    meta = read_sidecar(p)
    side = {k: meta[k] for k in SIDECAR_KEYS if k in meta}
    if meta.get("card"):
        side["madds_target"] = meta["card"].get("madds_target")
        side["card"] = meta["card"].get("name")
    result["sidecar"] = side
    # flatbuffer string entries are NUL-padded
    result["metadata"] = {k: v.rstrip("\x00") if isinstance(v, str) else v for k, v in result["metadata"].items()}
    return result


def _runtime_compat(p: Path) -> dict | None:
    """What the file needs of its runtime (analysis.runtime_compat), or None for formats it does not cover."""
    from edgekit.analysis.runtime_compat import REQUIREMENTS, runtime_requirements

    if p.suffix.lower() not in REQUIREMENTS:
        return None
    return runtime_requirements(p)


def _add_onnx(p: Path, result: dict) -> None:
    """Inputs/outputs, embedded metadata and graph MAdds of an ONNX file (census_onnx counts ops only)."""
    import onnx

    from edgekit.analysis.graph_madds import graph_madds

    proto = onnx.load(str(p), load_external_data=False)
    inits = {i.name for i in proto.graph.initializer}

    def spec(vi) -> dict:
        t = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "?"
        return {"name": vi.name, "shape": shape, "dtype": dtype}

    if result["inputs"] is None:
        result["inputs"] = [spec(v) for v in proto.graph.input if v.name not in inits]
    if result["outputs"] is None:
        result["outputs"] = [spec(v) for v in proto.graph.output]
    meta = {m.key: m.value for m in proto.metadata_props}
    for key in ("producer_name", "producer_version", "domain", "doc_string"):
        if getattr(proto, key, ""):
            meta[key] = getattr(proto, key)
    meta["ir_version"] = proto.ir_version
    result["metadata"] = {**meta, **result["metadata"]}
    if result["graph_madds"] is None:
        counted = graph_madds(proto)
        result["graph_madds"] = counted.total
        result["madds_by_op"] = counted.by_op()
        if counted.unknown:
            result["madds_unknown_nodes"] = counted.unknown
