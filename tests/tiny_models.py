"""Tiny real models for runtime tests: ONNX built with onnx.helper (no torch), OpenVINO IR converted
from it (no torch), and a .tflite converted by litert-torch (skips when torch is missing).

Importable from any test as `from tiny_models import ...` (tests/ is on sys.path via its conftest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def tiny_madds(channels: int = 16, size: int = 32, second_conv: bool = False) -> int:
    """Conv+linear MAdds of `make_onnx(...)` with the same arguments."""
    madds = channels * size * size * 3 * 9 + channels * 10
    if second_conv:
        madds += channels * size * size * channels * 9
    return madds


def make_onnx(path, channels: int = 16, size: int = 32, second_conv: bool = False) -> Path:
    """Conv(3→C, 3x3) → Relu [→ Conv(C→C) → Relu] → GlobalAveragePool → Flatten → Gemm(C→10)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((channels, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(channels, np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal((10, channels)).astype(np.float32), "fw"),
             numpy_helper.from_array(np.zeros(10, np.float32), "fb")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"])]
    last = "r"
    if second_conv:
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((channels, channels, 3, 3)) / (3 * channels ** 0.5)).astype(np.float32), "w2"))
        nodes += [helper.make_node("Conv", ["r", "w2"], ["c2"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["c2"], ["r2"])]
        last = "r2"
    nodes += [helper.make_node("GlobalAveragePool", [last], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
              helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def make_openvino_ir(onnx_path, xml_path) -> Path:
    ov = pytest.importorskip("openvino")
    ov.save_model(ov.convert_model(str(onnx_path)), str(xml_path))
    return Path(xml_path)


def make_tflite(path, channels: int = 8, size: int = 16) -> Path:
    """Conv(3→C, 3x3) → ReLU → avgpool → Linear(C→10) through litert-torch; MAdds = tiny_madds(C, size)."""
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, channels, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, 10)).eval()
    litert_torch.convert(net, (torch.randn(1, 3, size, size),)).export(str(path))
    return Path(path)


def onnx_and_ir(directory) -> dict:
    """{"onnx": tiny.onnx, "xml": its OpenVINO IR, "dir": directory}: the files CLI tests bench and inspect."""
    d = Path(directory)
    onnx_file = make_onnx(d / "tiny.onnx")
    return {"onnx": onnx_file, "xml": make_openvino_ir(onnx_file, d / "tiny.xml"), "dir": d}
