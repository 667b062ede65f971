"""ONNX target: one self-contained .onnx file with static shapes, simplified, checked, labelled.

Conversion goes through `torch.onnx.export(dynamo=True)` (torch.export → ONNX with the exporter's
own graph optimisation: constant folding, BatchNorm folding, no leftover Identity/Constant
nodes); the TorchScript exporter is the fallback for a model torch.export cannot trace and for
opsets older than the dynamo exporter's native one (its down-conversion fails on Split). Weights
are embedded in the file. The graph is then simplified (onnxslim; onnxsim when that is what is
installed), given the metadata the pipeline passes in `options.extra["metadata"]`, and checked
with onnx.checker. Input `input` (1, C, H, W) — or (1, H, W, C) with `nhwc` — output `logits`.

FP16 keeps float32 input and output (Casts at the edges) and stores every weight in float16, via
onnxruntime's float16 converter. INT8 is onnxruntime quantization, delegated to the module that
owns it (`edgekit.exporters.quantize_onnx`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.exporters.base import ExportOptions
from edgekit.exporters.channels_last import channels_last

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
MIN_OPSET = 17


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:240]


@contextlib.contextmanager
def _quiet():
    """torch.onnx prints progress lines and warnings that mean nothing to an edgekit user."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)


def _opset_of(path: Path) -> int | None:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def torch_to_onnx(model, example, path: Path, opset: int, input_names=None, output_names=None) -> str:
    """Export with torch.export (dynamo); fall back to TorchScript. Returns the path taken.

    The dynamo exporter writes its native opset and down-converts with onnx's version converter,
    which fails on some ops (it keeps the native opset then); TorchScript writes older opsets
    directly, so it is used when the dynamo file does not carry the requested opset.
    """
    import torch

    from edgekit.exporters.base import as_args

    common = dict(input_names=list(input_names or [INPUT_NAME]), output_names=list(output_names or [OUTPUT_NAME]),
                  opset_version=opset)
    args = as_args(example)
    dynamo_error = None
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(model, args, str(path), dynamo=True, external_data=False, optimize=True,
                              verbose=False, **common)
        if _opset_of(path) == opset:
            return "torch.onnx.export(dynamo=True)"
    except Exception as exc:  # torch.export refuses some Python control flow; TorchScript may not
        dynamo_error = exc
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(model, args, str(path), dynamo=False, do_constant_folding=True, **common)
        return "torch.onnx.export(dynamo=False)"
    except Exception as exc:
        raise EdgekitError(f"torch.onnx.export failed: {_first_line(dynamo_error or exc)}") from exc


def simplify(proto):
    """(simplified proto, simplifier name) — the input unchanged when no simplifier works."""
    try:
        import onnxslim

        return onnxslim.slim(proto), f"onnxslim {getattr(onnxslim, '__version__', '')}".strip()
    except ImportError:
        pass
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(proto)
        if ok:
            return simplified, "onnxsim"
    except ImportError:
        pass
    return proto, "none"


def to_fp16(proto):
    """Weights and compute in float16, input/output kept float32."""
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError:
        raise EdgekitError("--fp16 for onnx needs onnxruntime's float16 converter: pip install onnxruntime") from None
    with _quiet():
        converted = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=False)
    topological_sort(converted.graph)  # the converter appends the input Casts at the end
    return converted


def topological_sort(graph) -> None:
    """Reorder `graph.node` in place so every node comes after its inputs' producers (stable)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise EdgekitError("exported graph has a cycle or a dangling input; cannot order its nodes")
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        for n in ready:
            available.update(n.output)
        ordered.extend(ready)
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered):
        c.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(copies)


def set_metadata(proto, metadata: dict) -> None:
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = str(key)
        entry.value = value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def static_shape_problems(proto) -> list[str]:
    bad = []
    for vi in list(proto.graph.input) + list(proto.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if not dims or any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims):
            bad.append(vi.name)
    return bad


class OnnxExporter:
    target = "onnx"
    suffixes = (".onnx",)

    precisions = ("fp32", "fp16", "int8")

    def convert(self, model, example, out_paths: list[Path], options: ExportOptions) -> dict:
        import onnx

        from edgekit.analysis.graph_madds import graph_madds

        path = Path(out_paths[0])
        if options.opset < MIN_OPSET:
            raise EdgekitError(f"--opset {options.opset} is too old: edgekit exports opset {MIN_OPSET} or newer")
        if options.nhwc:
            model, example = channels_last(model, example)
        from edgekit.exporters.base import io_names

        names_in, names_out = io_names(options)
        path_taken = torch_to_onnx(model, example, path, options.opset, names_in, names_out)

        proto = onnx.load(str(path))
        nodes_exported = len(proto.graph.node)
        proto, simplifier = simplify(proto)
        info = {"exporter": path_taken, "opset": options.opset, "simplifier": simplifier,
                "nodes_exported": nodes_exported, "nodes_simplified": len(proto.graph.node)}
        if options.precision == "fp16":
            proto = to_fp16(proto)
            info["fp16"] = "onnxruntime.transformers.float16 (float32 I/O)"
        elif options.precision == "int8":
            onnx.save(proto, str(path))
            info["quantization"] = _quantize_int8(path, options)
            proto = onnx.load(str(path))
        bad = static_shape_problems(proto)
        if bad:
            raise EdgekitError(f"exported graph has dynamic shapes on {', '.join(bad)}; the model must trace "
                               "with a fixed (1, C, H, W) input")

        metadata = dict(options.extra.get("metadata", {}))
        metadata["graph_madds"] = str(graph_madds(proto).total)
        metadata["onnx_exporter"] = path_taken
        io = (info.get("quantization") or {}).get("io")
        if io:  # --int8-io: the integer input/output's scale and zero point, read by the runner
            metadata["int8_io"] = io
        set_metadata(proto, metadata)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(path))
        quantization = info.pop("quantization", None)
        return {"onnx": info, **({"quantization": quantization} if quantization is not None else {})}


def _quantize_int8(path: Path, options: ExportOptions) -> dict:
    """Replace the float file at `path` by its INT8 form (onnxruntime quantization, owned by quantize_onnx)."""
    from edgekit.exporters.quantize_onnx import quantize

    fp32 = path.with_name(path.stem + ".fp32" + path.suffix)  # same (temporary) directory as `path`
    path.replace(fp32)
    try:  # the contract the other targets use: keep_float and search reach the quantizer too
        return quantize(fp32, path, options)
    finally:
        fp32.unlink(missing_ok=True)
