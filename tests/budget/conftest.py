"""Real artifacts for the budget tests, built without torch: ONNX with onnx.helper, TFLite with the
flatbuffer schema that ai-edge-litert ships (so LiteRT + XNNPACK really load and delegate them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def make_onnx(path: Path, channels: int = 4, size: int = 16, layers: int = 1) -> Path:
    """`layers` × (Conv 3x3 → Relu), then GlobalAveragePool; conv MAdds = sum of cout·cin·9·size²."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, x, cin = [], [], "x", 3
    for i in range(layers):
        w = numpy_helper.from_array((rng.standard_normal((channels, cin, 3, 3)) * 0.1).astype(np.float32), f"w{i}")
        inits.append(w)
        nodes += [helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x, cin = f"r{i}", channels
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["y"]))
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, 1, 1])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_tflite(path: Path, split: bool = False, channels: int = 4, size: int = 8) -> Path:
    """CONV_2D → CONV_2D (one XNNPACK partition); with `split`, a GATHER_ND between them, which
    XNNPACK does not take, so the graph runs as two partitions with one op on default kernels."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.default_rng(0)
    buffers, tensors, codes, ops = [s.BufferT()], [], [], []

    def tensor(name, shape, dtype=s.TensorType.FLOAT32, data=None):
        b = s.BufferT()
        if data is not None:
            b.data = np.frombuffer(data.tobytes(), np.uint8).tolist()
        buffers.append(b)
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, len(buffers) - 1
        tensors.append(t)
        return len(tensors) - 1

    def code(builtin):
        oc = s.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = builtin, min(builtin, 127), 1
        codes.append(oc)
        return len(codes) - 1

    def op(opcode, inputs, outputs, options_type=None, options=None):
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = opcode, inputs, outputs
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options_type, options
        ops.append(o)

    conv_code = code(s.BuiltinOperator.CONV_2D)

    def conv(x, cin, name):
        w = tensor(name + "_w", (channels, 3, 3, cin), data=rng.standard_normal((channels, 3, 3, cin)).astype(np.float32))
        b = tensor(name + "_b", (channels,), data=np.zeros(channels, np.float32))
        y = tensor(name + "_y", (1, size, size, channels))
        opt = s.Conv2DOptionsT()
        opt.padding, opt.strideW, opt.strideH = s.Padding.SAME, 1, 1
        opt.fusedActivationFunction = s.ActivationFunctionType.RELU
        op(conv_code, [x, w, b], [y], s.BuiltinOptions.Conv2DOptions, opt)
        return y

    x = tensor("x", (1, size, size, 3))
    y = conv(x, 3, "conv1")
    if split:
        idx = tensor("idx", (1, 1), s.TensorType.INT32, data=np.array([[0]], np.int32))
        g = tensor("gathered", (1, size, size, channels))
        op(code(s.BuiltinOperator.GATHER_ND), [y, idx], [g])
        y = g
    y = conv(y, channels, "conv2")
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [x], [y], ops, "main"
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, codes, [sg], buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("budget-models")
    return {
        "small": make_onnx(d / "small.onnx"),                                   # 27,648 MAdds
        "big": make_onnx(d / "big.onnx", channels=32, size=64, layers=3),      # 79,036,416 MAdds
        "one": make_tflite(d / "one.tflite"),
        "two": make_tflite(d / "two.tflite", split=True),
    }
