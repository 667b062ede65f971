"""OpenVINO target: IR (.xml + .bin), FP16 weight compression.

The IR is converted from an ONNX export of the model, not from the torch module directly:
measured on MicroNet-M0 at 224 (1 thread, same run), OpenVINO's ONNX frontend gives a graph
with static shapes (33 Reshape, channel shuffles recognised as ShuffleChannels) that runs in
0.67 ms, while its PyTorch frontend keeps ShapeOf/Gather shape arithmetic (124 Reshape, 47
Gather, 31 ShapeOf) and runs in 1.69 ms. `options.extra["openvino_frontend"] = "torch"`
selects the PyTorch frontend anyway. `int8`: the FP32 IR is handed to
`edgekit.exporters.quantize_openvino.quantize` (NNCF, issue 5).
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.exporters.base import ExportOptions


def onnx_file(model, example, path: Path, opset: int = 18, names=None) -> None:
    """A plain static-shape ONNX export (TorchScript exporter, constants folded)."""
    import torch

    from edgekit.exporters.base import as_args

    names_in, names_out = names or (["input"], ["output"])
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, as_args(example), str(path), dynamo=False, opset_version=min(opset, 18),
                          input_names=list(names_in), output_names=list(names_out), do_constant_folding=True)


def to_openvino(model, example, frontend: str = "onnx", opset: int = 18, names=None):
    """An ov.Model of eval-mode `model` traced on `example`."""
    import openvino as ov

    try:
        if frontend == "torch":
            import torch

            from edgekit.exporters.base import as_args

            args = as_args(example)
            with torch.no_grad():
                return ov.convert_model(model, example_input=args if len(args) > 1 else example,
                                        input=[tuple(a.shape) for a in args])
        with tempfile.TemporaryDirectory(prefix="edgekit-ov-") as tmp:
            path = Path(tmp) / "model.onnx"
            onnx_file(model, example, path, opset, names)
            return ov.convert_model(str(path))
    except EdgekitError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise EdgekitError(f"OpenVINO could not convert the model ({frontend} frontend): {first}") from None


class OpenVINOExporter:
    target = "openvino"
    suffixes = (".xml", ".bin")

    precisions = ("fp32", "fp16", "int8")

    def convert(self, model, example, out_paths: list[Path], options: ExportOptions) -> dict:
        if options.precision not in self.precisions:
            raise EdgekitError(f"openvino export does not support precision {options.precision!r} "
                               f"(choose from {', '.join(self.precisions)})")
        import openvino as ov

        frontend = options.extra.get("openvino_frontend", "onnx")
        if frontend not in ("onnx", "torch"):
            raise EdgekitError(f"openvino_frontend must be onnx or torch, not {frontend!r}")
        layout = "nchw"
        if options.nhwc:  # channels-last input: a permute in front, which the CPU plugin fuses
            from edgekit.exporters.channels_last import channels_last

            card_of = getattr(model, "card", None)
            (model, example), layout = channels_last(model, example), "nhwc"
            model.card = card_of
        t0 = time.perf_counter()
        from edgekit.exporters.base import io_names

        names = io_names(options) if options.extra.get("io") is not None else None
        ov_model = to_openvino(model.eval(), example, frontend, options.opset, names)
        if names is not None:  # friendly names and tensor names: the IO spec's, checked after conversion
            for port, name in zip(ov_model.inputs, names[0]):
                port.get_node().set_friendly_name(name)
                port.set_names({name})
            for port, name in zip(ov_model.outputs, names[1]):
                port.set_names({name})
        convert_s = time.perf_counter() - t0
        card = getattr(model, "card", None)
        meta = dict(options.extra.get("metadata") or {})
        meta.setdefault("model", card.name if card is not None else type(model).__name__)
        meta["precision"] = options.precision
        for key, value in meta.items():
            ov_model.set_rt_info(value if isinstance(value, str) else json.dumps(value, sort_keys=True),
                                 ["edgekit", str(key)])
        xml, bin_ = Path(out_paths[0]), Path(out_paths[1])
        _check_pair(xml, bin_)
        t1 = time.perf_counter()
        quantization = None
        if options.precision == "int8":
            quantization = _quantize_int8(ov_model, xml, options)
        else:
            ov.save_model(ov_model, str(xml), compress_to_fp16=options.precision == "fp16")
        return {
            **({"quantization": quantization} if quantization is not None else {}),
            "converter": f"openvino {ov.get_version().split('-')[0]}",
            "frontend": frontend,
            "layout": layout,
            "input_shape": list(example.shape) if not isinstance(example, tuple) else [list(a.shape) for a in example],
            "weights_dtype": {"fp16": "float16", "int8": "int8"}.get(options.precision, "float32"),
            "seconds": {"convert_model": round(convert_s, 3), "save_model": round(time.perf_counter() - t1, 3)},
        }


def _check_pair(xml: Path, bin_: Path) -> None:
    """OpenVINO reads the weights from the .bin next to the .xml with the same stem."""
    if bin_ != xml.with_suffix(".bin"):
        raise EdgekitError(f"OpenVINO weights must sit next to the IR as {xml.with_suffix('.bin').name}, "
                           f"not {bin_.name}")


def _quantize_int8(ov_model, xml: Path, options: ExportOptions) -> dict:
    """Write the INT8 IR at `xml` from the FP32 model (quantization owned by quantize_openvino)."""
    import openvino as ov

    from edgekit.exporters.quantize_openvino import quantize

    side = xml.with_name(xml.stem + ".fp32.xml")  # same (temporary) directory as `xml`
    ov.save_model(ov_model, str(side), compress_to_fp16=False)
    try:
        return quantize(side, xml, options)
    finally:
        side.unlink(missing_ok=True)
        side.with_suffix(".bin").unlink(missing_ok=True)
