"""ExecuTorch target: `torch.export` → `to_edge_transform_and_lower(..., [XnnpackPartitioner()])` → `.pte`.

- FP32: the exported program is lowered to the XNNPACK delegate; whatever the partitioner refuses
  stays on ExecuTorch's portable kernels (counted by edgekit.analysis.census_executorch). The
  rewrite engine's executorch form (edgekit.rewrite.shift_max_slices) leaves nothing outside.
- `fp16` is refused (one line): the half program fails to run on executorch 1.5.1 here;
  `--target all --fp16` makes the other targets.
- `int8`: ExecuTorch's own XNNPACK quantizer (PT2E, symmetric per-channel weights) calibrated with
  edgekit's ranges (edgekit.exporters.quantize_executorch), then lowered like FP32.
- No metadata is embedded in the program: the sidecar JSON carries the card and precision.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.exporters.base import ExportOptions

if importlib.util.find_spec("executorch") is None:  # get_exporter turns this into "target executorch needs executorch"
    raise ModuleNotFoundError("No module named 'executorch'", name="executorch")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def export_program(model, example):
    """torch.export of eval-mode `model` on `example`; one-line EdgekitError when it cannot be traced."""
    import torch

    try:
        from edgekit.exporters.base import as_args

        program = torch.export.export(model, as_args(example), strict=False)
    except Exception as exc:  # torch.export raises many types (Unsupported, UserError, ...)
        raise EdgekitError(f"ExecuTorch cannot export the model (torch.export): {type(exc).__name__}: "
                           f"{_first_line(exc)}") from None
    keepdim_spatial_means(program.graph_module)
    return program


def keepdim_spatial_means(gm) -> int:
    """`x.mean((2, 3))` of a 4-D tensor (a classifier head as users write it) → `mean(keepdim=True)` + view:
    XNNPACK's partitioner delegates only the keepdim form (global average pooling) and leaves the other on
    ExecuTorch's portable kernels, cutting the graph in two. Same values; returns how many were changed."""
    import torch

    changed = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target is not torch.ops.aten.mean.dim:
            continue
        x, dims = node.args[0], node.args[1]
        keep = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
        val = x.meta.get("val") if isinstance(x, torch.fx.Node) else None
        if keep or val is None or val.dim() != 4 or sorted(d % 4 for d in dims) != [2, 3] or "dtype" in node.kwargs:
            continue
        with gm.graph.inserting_before(node):
            kept = gm.graph.call_function(torch.ops.aten.mean.dim, (x, [2, 3], True))
            flat = gm.graph.call_function(torch.ops.aten.view.default, (kept, list(val.shape[:2])))
        kept.meta["val"] = val.mean((2, 3), keepdim=True)
        flat.meta["val"] = node.meta.get("val")
        node.replace_all_uses_with(flat)
        gm.graph.erase_node(node)
        changed += 1
    if changed:
        gm.recompile()
    return changed


def lower_to_pte(program) -> bytes:
    """An exported program lowered to XNNPACK and serialized as .pte bytes."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    try:
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        return bytes(edge.to_executorch().buffer)
    except EdgekitError:
        raise
    except Exception as exc:
        raise EdgekitError(f"ExecuTorch cannot lower the model: {type(exc).__name__}: {_first_line(exc)}") from None


def executorch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("executorch")
    except PackageNotFoundError:
        return "?"


class ExecuTorchExporter:
    target = "executorch"
    suffixes = (".pte",)

    # fp16: a half model lowers, but the program fails at run time (Method forward: error 0x12,
    # InvalidArgument) with executorch 1.5.1 here, so it is refused rather than written.
    precisions = ("fp32", "int8")
    # `--target all` takes ExecuTorch in FP32 and INT8 (fully delegated since issue 12), but not
    # with --nhwc or --int8-io: programs take NCHW float input.
    all_precisions = ("fp32", "int8")
    nchw_only = True
    float_io_only = True

    def convert(self, model, example, out_paths: list[Path], options: ExportOptions) -> dict:
        if options.precision not in self.precisions:
            raise EdgekitError(f"executorch export does not support precision {options.precision!r} "
                               f"(choose from {', '.join(self.precisions)})")
        if options.nhwc:
            raise EdgekitError("--nhwc is for TFLite: ExecuTorch programs take NCHW (XNNPACK lays out NHWC inside the delegate)")
        if options.int8_io:
            raise EdgekitError("--int8-io is not supported on executorch: the program keeps float input and output")
        import torch

        seconds: dict[str, float] = {}
        quantization = None
        model = model.eval()
        t0 = time.perf_counter()
        if options.precision == "int8":
            from edgekit.exporters.quantize_executorch import quantize

            program, quantization = quantize(model, example, options)
        else:
            program = export_program(model, example)
        seconds["export" if quantization is None else "export_and_quantize"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        content = lower_to_pte(program)
        seconds["lower"] = time.perf_counter() - t1
        Path(out_paths[0]).write_bytes(content)
        return {
            **({"quantization": quantization} if quantization is not None else {}),
            "converter": f"executorch {executorch_version()} (torch {torch.__version__.split('+')[0]}), XNNPACK partitioner",
            "layout": "nchw",
            "input_shape": list(example.shape) if not isinstance(example, tuple) else [list(a.shape) for a in example],
            "weights_dtype": {"int8": "int8"}.get(options.precision, "float32"),
            "metadata_embedded": False,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        }
