"""Graph MAdds and op census of hand-built ONNX graphs with known answers."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.analysis.census_onnx import census
from edgekit.analysis.graph_madds import graph_madds


def _init(name, shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def _model(nodes, inputs, outputs, inits):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(m)
    return m


def _vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_conv_gemm_matmul_counts():
    nodes = [
        # 8 → 16 channels, 3x3, stride 2, pad 1 on 32x32: out 16x16x16, each 8*9 products
        helper.make_node("Conv", ["x", "w1"], ["a"], strides=[2, 2], pads=[1, 1, 1, 1]),
        # depthwise 3x3 on 16 channels, 16x16: 16*16*16 outputs, 9 each
        helper.make_node("Conv", ["a", "w2"], ["b"], group=16, pads=[1, 1, 1, 1]),
        # grouped 1x1, 16 → 32 in 4 groups: 32*16*16 outputs, 4 each
        helper.make_node("Conv", ["b", "w3"], ["c"], group=4),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w4"], ["g"], transB=1),  # 32 → 10
        helper.make_node("MatMul", ["g", "w5"], ["y"]),  # 10 → 5
    ]
    m = _model(nodes, [_vi("x", [1, 8, 32, 32])], [_vi("y", [1, 5])],
               [_init("w1", (16, 8, 3, 3)), _init("w2", (16, 1, 3, 3)), _init("w3", (32, 4, 1, 1)),
                _init("w4", (10, 32)), _init("w5", (10, 5))])
    g = graph_madds(m)
    conv = 16 * 16 * 16 * 8 * 9 + 16 * 16 * 16 * 9 + 32 * 16 * 16 * 4
    assert g.by_op() == {"Conv": conv, "Gemm": 320, "MatMul": 50}
    assert g.total == conv + 320 + 50 == 364_914
    assert g.unknown == []
    assert [n.output_shape for n in g.nodes][:3] == [(1, 16, 16, 16), (1, 16, 16, 16), (1, 32, 16, 16)]


def test_batched_matmul_is_per_sample_and_conv_transpose_scatters():
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"]),  # (1, 4, 6) @ (6, 3): 12 outputs x 6
        helper.make_node("ConvTranspose", ["z", "wt"], ["t"], strides=[2, 2]),  # 4x4x4 inputs, 2*2*2 each
    ]
    m = _model(nodes, [_vi("x", [1, 4, 6]), _vi("z", [1, 4, 4, 4])], [_vi("m", [1, 4, 3]), _vi("t", [1, 2, 8, 8])],
               [_init("w", (6, 3)), _init("wt", (4, 2, 2, 2))])
    g = graph_madds(m)
    assert g.by_op() == {"MatMul": 72, "ConvTranspose": 64 * 8}


def test_onnxruntime_int8_gemm_is_counted():
    """onnxruntime's quantizer writes an INT8 classifier as com.microsoft QGemm, which ONNX shape
    inference does not know: it was left out of the count (an INT8 M0 export showed 344,640 of
    1,230,400 MAdds). Made by the real quantizer on a 64 → 10 Gemm."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((10, 64)).astype(np.float32), "w")
    m = _model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [_vi("x", [1, 64])], [_vi("y", [1, 10])], [w])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"x": rng.standard_normal((1, 64)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.items, None)

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
        onnx.save(m, src)
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QOperator)
        q = onnx.load(str(dst))
    assert "QGemm" in [n.op_type for n in q.graph.node]
    g = graph_madds(q)
    assert g.by_op() == {"QGemm": 640}
    assert g.nodes[0].output_shape == (1, 10)
    assert g.unknown == []


def test_census_finds_dynamic_weights_and_gathers():
    nodes = [
        # a per-input kernel: weight computed from the input, like DY-Conv exported as-is
        helper.make_node("ReduceMean", ["x"], ["s"], keepdims=1),
        helper.make_node("Mul", ["s", "w_base"], ["w_dyn"]),
        helper.make_node("Conv", ["x", "w_dyn"], ["a"], group=4),
        # a static kernel that goes through DequantizeLinear (INT8 QDQ): still constant
        helper.make_node("DequantizeLinear", ["wq", "ws"], ["w_deq"], axis=0),
        helper.make_node("Conv", ["a", "w_deq"], ["b"]),
        helper.make_node("Gather", ["b", "idx"], ["c"], axis=1),
        helper.make_node("Transpose", ["c"], ["d"], perm=[0, 1, 3, 2]),
        helper.make_node("Reshape", ["d", "shape"], ["y"]),
    ]
    wq = numpy_helper.from_array(np.zeros((4, 4, 1, 1), np.int8), "wq")
    inits = [_init("w_base", (4, 1, 1, 1)), wq, numpy_helper.from_array(np.ones(4, np.float32), "ws"),
             numpy_helper.from_array(np.array([1, 0, 3, 2], np.int64), "idx"),
             numpy_helper.from_array(np.array([1, 64], np.int64), "shape")]
    m = _model(nodes, [_vi("x", [1, 4, 4, 4])], [_vi("y", [1, 64])], inits)
    c = census(m)
    assert c["ops"]["Conv"] == 2
    assert c["dynamic_weight_convs"] == 1
    assert c["dynamic_weight_nodes"] == ["a"]  # nodes without a name are named by their output
    assert (c["gather"], c["gather_nd"], c["transpose"], c["reshape"]) == (1, 0, 1, 1)
    assert c["nodes"] == 8 and c["opset"] == 18
    g = graph_madds(m)
    assert g.total == 4 * 4 * 4 * 1 + 4 * 4 * 4 * 4 == 320  # depthwise dynamic conv (1 per output) + 1x1 4→4


@pytest.mark.parametrize("bad_shape", [["N", 8, 32, 32]])
def test_unresolvable_shapes_are_reported_not_guessed(bad_shape):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"])]
    m = _model(nodes, [_vi("x", bad_shape)], [_vi("y", ["N", 4, 32, 32])], [_init("w", (4, 8, 1, 1))])
    g = graph_madds(m)
    assert g.total == 0 and g.unknown == ["y"]
