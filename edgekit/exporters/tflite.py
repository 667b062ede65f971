"""TFLite (LiteRT) target: litert-torch conversion, channels-last input, FP16 weights.

- `nhwc`: the graph takes (1, H, W, C), what camera pipelines hand over. The model is wrapped
  with a permute at its input; litert-torch lays convolutions out NHWC anyway, so the permute
  and the layout transpose it would otherwise insert cancel and no TRANSPOSE is left at the input.
- `fp16`: weights of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED stored as float16 with a
  DEQUANTIZE in front (ai-edge-quantizer's float-casting algorithm); XNNPACK folds those
  dequantizes at load time, so compute stays fp32 and the file is about half the size.
- Max pooling with padding: litert-torch lowers it to PADV2 (pad with −inf) + MAX_POOL_2D, and
  XNNPACK leaves PADV2 on the default kernels (a second partition, ResNet's stem). Before the
  conversion each padded nn.MaxPool2d becomes an edge-replicating pad (slices + concat, all
  delegated) and an unpadded pool: exact, because every window that reaches into the padding also
  holds the edge value that is replicated there.
- `int8`: the FP32 file is handed to `edgekit.exporters.quantize_tflite.quantize` (issue 5).
- Metadata `edgekit` (JSON: the pipeline's `options.extra["metadata"]`, or model, card, precision,
  layout when called standalone) is embedded in the flatbuffer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.exporters.base import ExportOptions
from edgekit.exporters.channels_last import channels_last

METADATA_NAME = "edgekit"

# ai-edge-quantizer recipe: fp16 weight-only for every op the float-casting algorithm supports.
FP16_RECIPE = [{
    "regex": ".*",
    "operation": "*",
    "algorithm_key": "float_casting",
    "op_config": {
        "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
        "compute_precision": "FLOAT",
        "explicit_dequantize": True,
        "skip_checks": False,
        "min_weight_elements": 0,
    },
}]


def _replicate_pad(x, p: int, dim: int):
    import torch

    n = x.shape[dim]
    edge_lo, edge_hi = x.narrow(dim, 0, 1), x.narrow(dim, n - 1, 1)
    return torch.cat([edge_lo] * p + [x] + [edge_hi] * p, dim=dim)


def replicate_pad_max_pools(model):
    """`model` with each padded nn.MaxPool2d as replicate-pad + unpadded pool (a copy; same outputs).

    Returns (model, number replaced). Pools with dilation or ceil_mode are left alone.
    """
    import copy

    from torch import nn

    def eligible(m) -> bool:
        if not isinstance(m, nn.MaxPool2d):
            return False
        pad = m.padding if isinstance(m.padding, tuple) else (m.padding, m.padding)
        dil = m.dilation if isinstance(m.dilation, tuple) else (m.dilation, m.dilation)
        return (any(pad) and dil == (1, 1) and not m.ceil_mode
                and not m.return_indices)

    if not any(eligible(m) for m in model.modules()):
        return model, 0

    class ReplicatePadMaxPool(nn.Module):
        def __init__(self, pool: nn.MaxPool2d):
            super().__init__()
            self.pad = pool.padding if isinstance(pool.padding, tuple) else (pool.padding, pool.padding)
            self.pool = nn.MaxPool2d(pool.kernel_size, pool.stride, 0)

        def forward(self, x):
            ph, pw = self.pad
            if ph:
                x = _replicate_pad(x, ph, 2)
            if pw:
                x = _replicate_pad(x, pw, 3)
            return self.pool(x)

    from edgekit.rewrite.base import replace_children

    model = copy.deepcopy(model)
    return model, replace_children(model, lambda m: ReplicatePadMaxPool(m) if eligible(m) else None)


def litert_convert(model, example) -> bytes:
    """litert_torch.convert(model, (example,)) → flatbuffer bytes, quietly (`example`: a tensor or a tuple)."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    import litert_torch

    from edgekit.exporters.base import as_args

    try:
        edge = litert_torch.convert(model, as_args(example))
    except Exception as exc:  # the converter raises many types; the first line says what it was
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise EdgekitError(f"litert-torch could not convert the model: {type(exc).__name__}: {first}") from None
    return bytes(edge.model_content())


def fp16_weights(content: bytes) -> bytes:
    """The same model with float16 conv / FC weights (dequantized to fp32 in the graph)."""
    import contextlib
    import io

    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(bytearray(content), FP16_RECIPE)
    with contextlib.redirect_stderr(io.StringIO()):  # its transformation step draws a progress bar regardless
        result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


def rename_io(content: bytes, input_names: list[str], output_names: list[str]) -> bytes:
    """The flatbuffer with its signature's inputs/outputs (and their tensors) named as the IO spec says.

    litert-torch names them args_0.. / output_0..; the subgraph keeps forward's positional order, which
    the runner reads back and the pipeline checks against the spec after conversion."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    sg = model.subgraphs[0]
    if len(sg.inputs) != len(input_names) or len(sg.outputs) != len(output_names):
        raise EdgekitError(f"litert-torch made a graph with {len(sg.inputs)} inputs / {len(sg.outputs)} outputs, the "
                           f"model has {len(input_names)} / {len(output_names)}")
    by_index = {int(i): n for i, n in zip(sg.inputs, input_names)} | {int(i): n for i, n in zip(sg.outputs, output_names)}
    for idx, name in by_index.items():
        sg.tensors[idx].name = name.encode()
    for sd in model.signatureDefs or []:
        for t in list(sd.inputs or []) + list(sd.outputs or []):
            if int(t.tensorIndex) in by_index:
                t.name = by_index[int(t.tensorIndex)].encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def embed_metadata(content: bytes, name: str, text: str) -> bytes:
    """Add (or replace) a metadata entry `name` holding UTF-8 `text` in a .tflite flatbuffer."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    buf = schema.BufferT()
    buf.data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buf)
    md = schema.MetadataT()
    md.name = name
    md.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (name, name.encode())] + [md]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


class TFLiteExporter:
    target = "tflite"
    suffixes = (".tflite",)

    precisions = ("fp32", "fp16", "int8")

    def convert(self, model, example, out_paths: list[Path], options: ExportOptions) -> dict:
        if options.precision not in self.precisions:
            raise EdgekitError(f"tflite export does not support precision {options.precision!r} "
                               f"(choose from {', '.join(self.precisions)})")
        import torch

        card = getattr(model, "card", None)
        model, pools = replicate_pad_max_pools(model.eval())
        sample = example
        if options.nhwc:  # one input, or the images / flows / clips of several (exporters/channels_last.py)
            model, sample = channels_last(model, example)
        t0 = time.perf_counter()
        with torch.no_grad():
            content = litert_convert(model, sample)
        seconds = {"litert_torch_convert": time.perf_counter() - t0}
        layout = "nhwc" if options.nhwc else "nchw"
        meta = dict(options.extra.get("metadata") or {
            "model": getattr(card, "name", type(model).__name__),
            "card": card.to_dict() if card is not None else None,
            "precision": options.precision,
        })
        if options.extra.get("io") is not None:
            from edgekit.exporters.base import io_names

            content = rename_io(content, *io_names(options))
        meta.update(layout=layout, input_shape=list(sample.shape) if not isinstance(sample, tuple)
                    else [list(a.shape) for a in sample])
        embedded = True
        try:  # before the fp16 pass: its output stores buffers by offset, which repacking breaks
            content = embed_metadata(content, METADATA_NAME, json.dumps(meta))
        except Exception:  # metadata is a convenience; the sidecar carries the same facts
            embedded = False
        fp32_bytes = len(content)
        if options.precision == "fp16":
            t1 = time.perf_counter()
            content = fp16_weights(content)
            seconds["fp16_weights"] = time.perf_counter() - t1
        path = Path(out_paths[0])
        quantization = None
        if options.precision == "int8":
            t1 = time.perf_counter()
            quantization = _quantize_int8(content, path, options)
            seconds["int8"] = time.perf_counter() - t1
        else:
            path.write_bytes(content)

        import litert_torch

        return {
            **({"quantization": quantization} if quantization is not None else {}),
            "converter": f"litert_torch {getattr(litert_torch, '__version__', '')}".strip(),
            "layout": layout,
            "input_shape": list(sample.shape) if not isinstance(sample, tuple) else [list(a.shape) for a in sample],
            "weights_dtype": {"fp16": "float16", "int8": "int8"}.get(options.precision, "float32"),
            "fp32_bytes": fp32_bytes,
            "metadata_embedded": embedded,
            "max_pools_replicate_padded": pools,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        }


def _quantize_int8(fp32: bytes, path: Path, options: ExportOptions) -> dict:
    """Write the INT8 form of the FP32 flatbuffer `fp32` to `path` (quantization owned by quantize_tflite)."""
    from edgekit.exporters.quantize_tflite import quantize

    side = path.with_name(path.stem + ".fp32" + path.suffix)  # same (temporary) directory as `path`
    side.write_bytes(fp32)
    try:
        return quantize(side, path, options)
    finally:
        side.unlink(missing_ok=True)
