"""What a model file needs of its runtime: the oldest runtime version that can load it, from the file itself.

- .tflite: every builtin operator code with its version, looked up in TF Lite's own table of the
  runtime version that introduced each (op, version) pair — `FindMinimumRuntimeVersionForOp` in
  runtime_version.cc (the TF Lite version == the tflite-runtime version) — and in the copy of that table each
  ai-edge-litert release carries (the oldest ai-edge-litert that lists every pair). The converter's own
  answer, the `min_runtime_version` metadata it writes, is shown next to it. Only the ops edgekit's exports
  use are kept here; a pair missing from the table is reported as unknown, never guessed.
- .onnx: IR version and the default-domain opset, against the "ONNX opset support" table of
  onnxruntime's compatibility page (onnxruntime.ai/docs/reference/compatibility.html): the first
  onnxruntime release implementing that opset and reading that IR version.
- .xml: the OpenVINO IR version (the `version` attribute of <net>); IR v11 is read from OpenVINO
  2022.1 on (the release that introduced it with API 2.0), IR v10 by 2020.1 and later.

`check_compat(path, "tflite-runtime==2.14")` (or "ai-edge-litert==1.4.0") raises EdgekitError (one line) naming every op the
file needs a newer runtime for; `edgekit export --compat` calls it before anything is written.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgekit.errors import EdgekitError

# (TF Lite builtin op, op version) -> first TF Lite runtime version that runs it: FindMinimumRuntimeVersionForOp in
# runtime_version.cc (google-ai-edge/LiteRT tflite/converter/tools/versioning/runtime_version.cc at v2.2.0, which
# carries every row of tensorflow/tensorflow's tensorflow/lite/tools/versioning/runtime_version.cc unchanged and
# the rows added since), every version of the ops edgekit's exports contain.
TFLITE_OP_MIN_RUNTIME = {
    ("ADD", 1): "1.5.0", ("ADD", 2): "1.14.0", ("ADD", 3): "2.4.0", ("ADD", 4): "2.6.0", ("ADD", 5): "2.13.0",
    ("ADD", 6): "2.23.0",
    ("AVERAGE_POOL_2D", 1): "1.5.0", ("AVERAGE_POOL_2D", 2): "1.14.0", ("AVERAGE_POOL_2D", 3): "2.3.0",
    ("BATCH_MATMUL", 1): "2.3.0", ("BATCH_MATMUL", 2): "2.3.0", ("BATCH_MATMUL", 3): "2.4.0",
    ("BATCH_MATMUL", 4): "2.5.0",
    ("CONCATENATION", 1): "1.5.0", ("CONCATENATION", 2): "1.14.0", ("CONCATENATION", 3): "2.3.0",
    ("CONCATENATION", 4): "2.14.0", ("CONCATENATION", 5): "2.21.0", ("CONCATENATION", 6): "2.23.0",
    ("CONCATENATION", 7): "2.23.0",
    ("CONV_2D", 1): "1.5.0", ("CONV_2D", 2): "1.14.0", ("CONV_2D", 3): "1.14.0", ("CONV_2D", 4): "2.3.0",
    ("CONV_2D", 5): "2.4.0", ("CONV_2D", 6): "2.9.0", ("CONV_2D", 7): "2.11.0", ("CONV_2D", 8): "2.15.0",
    ("DEPTHWISE_CONV_2D", 1): "1.5.0", ("DEPTHWISE_CONV_2D", 2): "1.12.0", ("DEPTHWISE_CONV_2D", 3): "1.14.0",
    ("DEPTHWISE_CONV_2D", 4): "2.2.0", ("DEPTHWISE_CONV_2D", 5): "2.3.0", ("DEPTHWISE_CONV_2D", 6): "2.3.0",
    ("DEPTHWISE_CONV_2D", 7): "2.11.0",
    ("DEQUANTIZE", 1): "1.13.1", ("DEQUANTIZE", 2): "1.14.0", ("DEQUANTIZE", 3): "1.15.0",
    ("DEQUANTIZE", 4): "2.2.0", ("DEQUANTIZE", 5): "2.7.0", ("DEQUANTIZE", 6): "2.18.0", ("DEQUANTIZE", 7): "2.21.0",
    ("DEQUANTIZE", 8): "2.22.0", ("DEQUANTIZE", 9): "2.23.0",
    ("DIV", 1): "1.6.0", ("DIV", 2): "2.3.0",
    ("FULLY_CONNECTED", 1): "1.5.0", ("FULLY_CONNECTED", 2): "1.10.0", ("FULLY_CONNECTED", 3): "1.14.0",
    ("FULLY_CONNECTED", 4): "1.14.0", ("FULLY_CONNECTED", 5): "2.0.0", ("FULLY_CONNECTED", 6): "2.1.0",
    ("FULLY_CONNECTED", 7): "2.3.0", ("FULLY_CONNECTED", 8): "2.3.0", ("FULLY_CONNECTED", 9): "2.3.0",
    ("FULLY_CONNECTED", 10): "2.11.0", ("FULLY_CONNECTED", 11): "2.15.0", ("FULLY_CONNECTED", 12): "2.17.0",
    ("FULLY_CONNECTED", 13): "2.18.0", ("FULLY_CONNECTED", 14): "2.21.0",
    ("GATHER", 1): "1.6.0", ("GATHER", 2): "1.14.0", ("GATHER", 3): "1.15.0", ("GATHER", 4): "2.4.0",
    ("GATHER", 5): "2.5.0", ("GATHER", 6): "2.13.0", ("GATHER", 7): "2.15.0", ("GATHER", 8): "2.23.0",
    ("GATHER_ND", 1): "1.14.0", ("GATHER_ND", 2): "2.3.0", ("GATHER_ND", 3): "2.5.0", ("GATHER_ND", 4): "2.13.0",
    ("GATHER_ND", 5): "2.16.0", ("GATHER_ND", 6): "2.23.0",
    ("HARD_SWISH", 1): "1.15.0",
    ("LOGISTIC", 1): "1.14.0", ("LOGISTIC", 2): "1.14.0", ("LOGISTIC", 3): "2.3.0",
    ("MAXIMUM", 1): "1.14.0", ("MAXIMUM", 2): "1.14.0", ("MAXIMUM", 3): "2.3.0", ("MAXIMUM", 4): "2.3.0",
    ("MAX_POOL_2D", 1): "1.5.0", ("MAX_POOL_2D", 2): "1.14.0", ("MAX_POOL_2D", 3): "2.3.0",
    ("MEAN", 1): "1.6.0", ("MEAN", 2): "1.14.0", ("MEAN", 3): "2.4.0",
    ("MINIMUM", 1): "1.14.0", ("MINIMUM", 2): "1.14.0", ("MINIMUM", 3): "2.3.0", ("MINIMUM", 4): "2.3.0",
    ("MUL", 1): "1.5.0", ("MUL", 2): "1.14.0", ("MUL", 3): "1.15.0", ("MUL", 4): "2.3.0", ("MUL", 5): "2.6.0",
    ("MUL", 6): "2.11.0", ("MUL", 7): "2.13.0", ("MUL", 8): "2.23.0",
    ("PAD", 1): "1.5.0", ("PAD", 2): "1.14.0", ("PAD", 3): "2.4.0", ("PAD", 4): "2.6.0", ("PAD", 5): "2.20.0",
    ("PAD", 6): "2.23.0",
    ("PADV2", 1): "1.9.0", ("PADV2", 2): "1.14.0", ("PADV2", 3): "2.4.0", ("PADV2", 4): "2.6.0",
    ("PADV2", 5): "2.20.0", ("PADV2", 6): "2.23.0",
    ("QUANTIZE", 1): "1.14.0", ("QUANTIZE", 2): "1.15.0", ("QUANTIZE", 3): "2.7.0", ("QUANTIZE", 4): "2.21.0",
    ("QUANTIZE", 5): "2.21.0", ("QUANTIZE", 6): "2.21.0",
    ("RELU", 1): "1.5.0", ("RELU", 2): "2.1.0", ("RELU", 3): "2.5.0",
    ("RELU6", 1): "1.5.0", ("RELU6", 2): "1.14.0", ("RELU6", 3): "2.5.0",
    ("RESHAPE", 1): "1.5.0",
    ("SLICE", 1): "1.14.0", ("SLICE", 2): "1.14.0", ("SLICE", 3): "1.14.0", ("SLICE", 4): "2.4.0",
    ("SLICE", 5): "2.5.0", ("SLICE", 6): "2.14.0", ("SLICE", 7): "2.21.0", ("SLICE", 8): "2.23.0",
    ("SOFTMAX", 1): "1.5.0", ("SOFTMAX", 2): "1.14.0", ("SOFTMAX", 3): "2.3.0", ("SOFTMAX", 4): "2.23.0",
    ("SPLIT", 1): "1.5.0", ("SPLIT", 2): "1.14.0", ("SPLIT", 3): "1.14.0", ("SPLIT", 4): "2.3.0",
    ("SPLIT", 5): "2.23.0",
    ("STRIDED_SLICE", 1): "1.6.0", ("STRIDED_SLICE", 2): "1.14.0", ("STRIDED_SLICE", 3): "2.1.0",
    ("STRIDED_SLICE", 4): "2.2.0", ("STRIDED_SLICE", 5): "2.5.0", ("STRIDED_SLICE", 6): "2.6.0",
    ("STRIDED_SLICE", 7): "2.14.0", ("STRIDED_SLICE", 8): "2.14.0",
    ("SUB", 1): "1.6.0", ("SUB", 2): "1.14.0", ("SUB", 3): "2.3.0", ("SUB", 4): "2.4.0", ("SUB", 5): "2.4.0",
    ("SUM", 1): "1.10.0", ("SUM", 2): "1.15.0",
    ("TANH", 1): "1.14.0", ("TANH", 2): "1.14.0", ("TANH", 3): "2.3.0",
    ("TRANSPOSE", 1): "1.6.0", ("TRANSPOSE", 2): "1.14.0", ("TRANSPOSE", 3): "1.15.0", ("TRANSPOSE", 4): "2.3.0",
    ("TRANSPOSE", 5): "2.4.0", ("TRANSPOSE", 6): "2.12.0", ("TRANSPOSE", 7): "2.14.4", ("TRANSPOSE", 8): "2.22.0",
    ("TRANSPOSE", 9): "2.23.0",
}

# ai-edge-litert (LiteRT's Python package) carries its own copy of that table from 1.1.0 on
# (tflite/tools/versioning/runtime_version.cc; tflite/converter/tools/... from 2.0.2), and the copies only grow:
# a release runs an (op, version) pair iff its own table lists it. Every pair above is in 1.1.0's table except
# these, listed from the release shown (LiteRT git tags v1.1.0 ... v2.2.0, one table per tag). ai-edge-litert
# 1.0.x was built from a tensorflow commit (LiteRT v1.0.1's third_party/tensorflow submodule) and its wheel does
# not say which TF Lite version that is, so it is below the table: --compat refuses it rather than guess.
AI_EDGE_LITERT_FIRST = {
    ("ADD", 6): "2.1.6",
    ("CONCATENATION", 5): "2.1.2", ("CONCATENATION", 6): "2.1.6", ("CONCATENATION", 7): "2.2.0",
    ("DEQUANTIZE", 7): "2.1.0", ("DEQUANTIZE", 8): "2.1.3", ("DEQUANTIZE", 9): "2.2.0",
    ("FULLY_CONNECTED", 14): "2.1.0",
    ("GATHER", 8): "2.2.0",
    ("GATHER_ND", 6): "2.2.0",
    ("MUL", 8): "2.1.6",
    ("PAD", 5): "2.0.2", ("PAD", 6): "2.2.0",
    ("PADV2", 5): "2.0.2", ("PADV2", 6): "2.2.0",
    ("QUANTIZE", 4): "2.1.0", ("QUANTIZE", 5): "2.1.3", ("QUANTIZE", 6): "2.1.3",
    ("SLICE", 7): "2.1.0", ("SLICE", 8): "2.1.6",
    ("SOFTMAX", 4): "2.1.6",
    ("SPLIT", 5): "2.2.0",
    ("TRANSPOSE", 7): "1.2.0", ("TRANSPOSE", 8): "2.1.6", ("TRANSPOSE", 9): "2.1.6",
}
AI_EDGE_LITERT_OLDEST = "1.1.0"
# release -> the newest TF Lite runtime version its own table names (for the reader: which TF Lite it matches)
AI_EDGE_LITERT_TFLITE = {"1.1.0": "2.19.0", "1.1.1": "2.19.0", "1.1.2": "2.19.0", "1.2.0": "2.19.0", "1.3.0": "2.20.0",
                         "1.4.0": "2.20.0", "2.0.2": "2.21.0", "2.0.3": "2.21.0", "2.1.0": "2.21.0", "2.1.1": "2.21.0",
                         "2.1.2": "2.21.0", "2.1.3": "2.22.0", "2.1.4": "2.22.0", "2.1.5": "2.22.0", "2.1.6": "2.23.0",
                         "2.2.0": "2.23.0"}

# onnxruntime release -> (highest default-domain opset it implements, highest IR version it reads): the
# "ONNX opset support" table of onnxruntime's compatibility page (microsoft/onnxruntime gh-pages
# docs/reference/compatibility.md = onnxruntime.ai/docs/reference/compatibility.html; docs/Versioning.md on main
# stops at 1.8). A model runs on every release whose opset and IR are at least the model's.
ONNXRUNTIME_SUPPORT = {"1.0": (11, 6), "1.1": (11, 6), "1.2": (11, 6), "1.3": (12, 7), "1.4": (12, 7), "1.5": (12, 7),
                       "1.6": (13, 7), "1.7": (13, 7), "1.8": (14, 7), "1.9": (15, 8), "1.10": (15, 8), "1.11": (16, 8),
                       "1.12": (17, 8), "1.13": (17, 8), "1.14": (18, 8), "1.15": (19, 8), "1.16": (19, 9),
                       "1.17": (20, 9), "1.18": (21, 10), "1.19": (21, 10), "1.20": (21, 10)}
ONNXRUNTIME_SOURCE = "onnxruntime.ai/docs/reference/compatibility.html (ONNX opset support)"

OPENVINO_IR_MIN = {10: "2020.1", 11: "2022.1"}

# what --compat accepts: package name -> the file format it constrains
COMPAT_PACKAGES = {"tflite-runtime": "tflite", "ai-edge-litert": "tflite", "onnxruntime": "onnx",
                   "openvino": "openvino"}


def _vkey(v: str) -> tuple:
    """'2.14' -> (2, 14, 0): a release named without its patch number is its .0."""
    parts = [int(x) for x in re.findall(r"\d+", v)]
    return tuple(parts + [0] * (3 - len(parts)))


# ------------------------------------------------------------------------------------------ tflite

def tflite_op_versions(path) -> dict[str, int]:
    """{builtin op name: highest version used} of a .tflite file (custom ops as 'CUSTOM:name')."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    ops: dict[str, int] = {}
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())  # codes above 127 live in builtin_code
        name = names.get(code, str(code))
        if name == "CUSTOM":
            name = f"CUSTOM:{(oc.CustomCode() or b'?').decode()}"
        ops[name] = max(ops.get(name, 0), int(oc.Version()))
    return dict(sorted(ops.items()))


def _tflite_metadata_min(path) -> str | None:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    for i in range(model.MetadataLength()):
        md = model.Metadata(i)
        if md.Name() == b"min_runtime_version":
            data = model.Buffers(md.Buffer()).DataAsNumpy()
            return (bytes(data).rstrip(b"\0").decode() or None) if hasattr(data, "tobytes") else None
    return None


def ai_edge_litert_first(op: str, version: int) -> str | None:
    """The first ai-edge-litert release whose own runtime_version.cc lists (op, version); None if unknown."""
    if (op, version) not in TFLITE_OP_MIN_RUNTIME:
        return None
    return AI_EDGE_LITERT_FIRST.get((op, version), AI_EDGE_LITERT_OLDEST)


def _oldest(table: dict[str, str | None]) -> tuple[str | None, list[str]]:
    """(the newest of the versions `table` maps op keys to, the keys that need it); (None, []) if empty."""
    known = {k: v for k, v in table.items() if v is not None}
    if not known:
        return None, []
    need = max(known.values(), key=_vkey)
    return need, sorted(k for k, v in known.items() if v == need)


def tflite_requirements(path) -> dict:
    ops = tflite_op_versions(path)
    unknown = [f"{op} v{v}" for op, v in ops.items() if (op, v) not in TFLITE_OP_MIN_RUNTIME]
    need, drivers = _oldest({f"{op} v{v}": TFLITE_OP_MIN_RUNTIME.get((op, v)) for op, v in ops.items()})
    litert, litert_drivers = _oldest({f"{op} v{v}": ai_edge_litert_first(op, v) for op, v in ops.items()})
    return {"format": "tflite", "op_versions": ops, "min_tflite_runtime": need,
            "min_because": drivers, "unknown_op_versions": unknown,
            "min_ai_edge_litert": litert, "min_ai_edge_litert_because": litert_drivers,
            "converter_min_runtime_version": _tflite_metadata_min(path),
            "source": "runtime_version.cc (FindMinimumRuntimeVersionForOp; tensorflow/tensorflow "
                      "tensorflow/lite/tools/versioning/, and each ai-edge-litert release's copy in google-ai-edge/LiteRT)"}


# -------------------------------------------------------------------------------------------- onnx

def onnx_requirements(path) -> dict:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in proto.opset_import}
    opset, ir = opsets.get("ai.onnx"), int(proto.ir_version)
    need = next((rel for rel, (max_opset, max_ir) in ONNXRUNTIME_SUPPORT.items()
                 if (opset is None or opset <= max_opset) and ir <= max_ir), None)
    return {"format": "onnx", "ir_version": ir, "opsets": opsets, "min_onnxruntime": need,
            "min_because": f"opset {opset}, IR {ir}",
            "source": ONNXRUNTIME_SOURCE}


# ---------------------------------------------------------------------------------------- openvino

def openvino_requirements(path) -> dict:
    head = Path(path).read_text(errors="replace")[:4000]
    m = re.search(r"<net\b[^>]*\bversion=\"(\d+)\"", head)
    ir = int(m.group(1)) if m else None
    return {"format": "openvino", "ir_version": ir, "min_openvino": OPENVINO_IR_MIN.get(ir),
            "min_because": f"IR v{ir}", "source": "OpenVINO IR versions: v10 from 2020.1, v11 from 2022.1 (API 2.0)"}


REQUIREMENTS = {".tflite": tflite_requirements, ".onnx": onnx_requirements, ".xml": openvino_requirements}


def runtime_requirements(path) -> dict:
    fn = REQUIREMENTS.get(Path(path).suffix.lower())
    if fn is None:
        raise EdgekitError(f"cannot tell what {Path(path).name} needs of a runtime: expected .onnx, .tflite or .xml")
    return fn(path)


# ---------------------------------------------------------------------------------------- --compat

def parse_compat(spec: str) -> tuple[str, str]:
    """'tflite-runtime==2.14' -> ('tflite-runtime', '2.14'); EdgekitError for anything else."""
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*(\d+(?:\.\d+){0,2})\s*", spec or "")
    if not m or m.group(1).lower().replace("_", "-") not in COMPAT_PACKAGES:
        raise EdgekitError(f"bad --compat {spec!r}: expected PACKAGE==VERSION with PACKAGE one of "
                           f"{', '.join(COMPAT_PACKAGES)} (e.g. tflite-runtime==2.14)")
    return m.group(1).lower().replace("_", "-"), m.group(2)


def compat_format(spec: str) -> str:
    """The file format `spec` constrains; EdgekitError (before any work) for a spec the tables cannot judge."""
    package, version = parse_compat(spec)
    if package == "ai-edge-litert" and _vkey(version) < _vkey(AI_EDGE_LITERT_OLDEST):
        raise EdgekitError(_below_litert_table(version, "a file"))
    return COMPAT_PACKAGES[package]


def _below_litert_table(version: str, name: str) -> str:
    return (f"cannot tell whether ai-edge-litert {version} loads {name}: the table starts at {AI_EDGE_LITERT_OLDEST} "
            f"(the first release carrying its own runtime_version.cc); ask for >= {AI_EDGE_LITERT_OLDEST} "
            f"or --compat tflite-runtime==VERSION")


def check_compat(path, spec: str) -> dict:
    """The requirements of `path` if `spec` ('tflite-runtime==2.14') can load it; else EdgekitError."""
    package, version = parse_compat(spec)
    req = runtime_requirements(path)
    name = Path(path).name
    if req["format"] != COMPAT_PACKAGES[package]:
        raise EdgekitError(f"--compat {spec} is about {COMPAT_PACKAGES[package]} files, not {name}")
    if package == "tflite-runtime":
        too_new = [f"{op} v{v} needs {TFLITE_OP_MIN_RUNTIME[(op, v)]}" for op, v in req["op_versions"].items()
                   if (op, v) in TFLITE_OP_MIN_RUNTIME and _vkey(TFLITE_OP_MIN_RUNTIME[(op, v)]) > _vkey(version)]
        _refuse_tflite(name, package, version, too_new, req["unknown_op_versions"])
    elif package == "ai-edge-litert":
        if _vkey(version) < _vkey(AI_EDGE_LITERT_OLDEST):
            raise EdgekitError(_below_litert_table(version, name))
        too_new = [f"{op} v{v} needs {ai_edge_litert_first(op, v)}" for op, v in req["op_versions"].items()
                   if (op, v) in TFLITE_OP_MIN_RUNTIME and _vkey(ai_edge_litert_first(op, v)) > _vkey(version)]
        _refuse_tflite(name, package, version, too_new, req["unknown_op_versions"])
    elif package == "onnxruntime":
        need = req["min_onnxruntime"]
        if need is None or _vkey(need) > _vkey(version):
            raise EdgekitError(f"{name} (opset {req['opsets'].get('ai.onnx')}, IR {req['ir_version']}) needs "
                               f"onnxruntime {need or 'newer than ' + max(ONNXRUNTIME_SUPPORT, key=_vkey)}, "
                               f"not {version}: export with a lower --opset")
    elif package == "openvino":
        need = req["min_openvino"]
        if need is None or _vkey(need) > _vkey(version):
            raise EdgekitError(f"{name} is OpenVINO IR v{req['ir_version']}, which openvino {version} cannot read")
    return req


def _refuse_tflite(name: str, package: str, version: str, too_new: list[str], unknown: list[str]) -> None:
    if too_new or unknown:
        parts = too_new + [f"{u} is newer than every version in the table" for u in unknown]
        raise EdgekitError(f"{name} cannot be loaded by {package} {version}: {'; '.join(parts)}")
