"""--int8-io on every target and --calib-method entropy / percentile on every target, on the trained digits model.

Integer-I/O models run on their real runtime through the Runner protocol: the runner reads the
(scale, zero point) from the file, parity and eval quantize the float inputs with it and
dequantize the outputs.
"""

import json

import numpy as np
import pytest

from edgekit.analysis.accuracy import runner_predict, topk_accuracy
from edgekit.analysis.parity import measure_parity
from edgekit.runtimes.base import open_runner

from quantization_host import LITERT_INT8_IO_HOST

BUDGET = 0.5  # top-1 points


def _check_io_runner(path, report, dtype):
    """The file on its runtime: integer specs carrying the report's scale / zero point."""
    runner = open_runner(path)
    (i,), (o,) = runner.inputs(), runner.outputs()
    io = report["io"]
    assert report["int8_io"] and io["input"]["dtype"] == i.dtype == dtype and io["output"]["dtype"] == o.dtype == dtype
    assert i.quantization == (pytest.approx(io["input"]["scale"]), io["input"]["zero_point"])
    assert o.quantization == (pytest.approx(io["output"]["scale"]), io["output"]["zero_point"])
    assert 0.005 < i.quantization[0] < 0.05 and 0.005 < o.quantization[0] < 0.05  # ranges of ±2.6 / 0..5.3 over 8 bits
    return runner


def _parity_and_accuracy(runner, digits, report, min_cosine, min_agreement=1.0):
    p = measure_parity(digits["model"], runner, (3, 32, 32), inputs=digits["calib"], n=64, precision="int8")
    assert p.n_inputs == 64 and p.top1_agreement >= min_agreement and p.cosine > min_cosine
    top1 = topk_accuracy(runner_predict(runner, digits["x"]), digits["y"]).top1
    assert top1 == pytest.approx(report["accuracy"]["int8_top1"])  # the report measured this very file
    assert report["accuracy"]["fp32_top1"] - top1 <= BUDGET
    return p


def test_onnx_int8_io(digits, fp32_onnx, tmp_path):
    import onnx

    from edgekit.exporters.quantize_onnx import quantize_onnx

    out = tmp_path / "io.onnx"
    r = quantize_onnx(fp32_onnx, out, digits["calib"], int8_io=True, eval_data=(digits["x"], digits["y"]), search=False)
    m = onnx.load(str(out))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert m.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    # the boundary QuantizeLinear is gone: the integer input feeds the first DequantizeLinear directly
    assert [n.op_type for n in m.graph.node if "input" in n.input] == ["DequantizeLinear"]
    assert json.loads({p.key: p.value for p in m.metadata_props}["int8_io"]) == r["io"]
    _parity_and_accuracy(_check_io_runner(out, r, "uint8"), digits, r, 0.99)  # measured min cosine 0.9968


def test_openvino_int8_io(digits, fp32_openvino, tmp_path):
    import openvino as ov

    from edgekit.exporters.quantize_openvino import quantize_openvino

    model, r = quantize_openvino(fp32_openvino, digits["calib"], int8_io=True, eval_data=(digits["x"], digits["y"]),
                                 search=False)
    xml = tmp_path / "io.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    # the input is dequantized on the grid of the FakeQuantize after it (NNCF symmetric: zero point 0)
    assert r["io"]["input"]["zero_point"] == 0
    # NNCF's default ranges (mean of per-sample min/max) clip: min cosine 0.977 measured (entropy: 0.995); 0.991
    # with 7-bit weights (x86 without VNNI), where one of the 64 flips: its FP32 top-2 margin is 0.024 (0.5 % of scale)
    _parity_and_accuracy(_check_io_runner(xml, r, "int8"), digits, r, 0.97, min_agreement=63 / 64)


@pytest.mark.slow
def test_litert_int8_io_parity(digits, fp32_tflite, tmp_path):
    from edgekit.exporters.quantize_tflite import quantize_tflite

    content, r = quantize_tflite(fp32_tflite, digits["calib"], method="entropy", int8_io=True,
                                 eval_data=(digits["x"], digits["y"]), search=False)
    path = tmp_path / "io.tflite"
    path.write_bytes(content)
    _parity_and_accuracy(_check_io_runner(path, r, "int8"), digits, r, 0.99)


@pytest.mark.parametrize("target", ["onnx", pytest.param("openvino", marks=pytest.mark.slow),
                                    pytest.param("tflite", marks=pytest.mark.slow)])
def test_entropy_keeps_accuracy(digits, request, tmp_path, target):
    """Entropy-calibrated INT8 within 0.5 pt of FP32 on each target, with the method that really ran named."""
    ev = (digits["x"], digits["y"])
    fp32 = request.getfixturevalue(f"fp32_{target}")  # only this target's export (each costs 5-20 s)
    if target == "onnx":
        from edgekit.exporters.quantize_onnx import quantize_onnx

        r = quantize_onnx(fp32, tmp_path / "e.onnx", digits["calib"], method="entropy", eval_data=ev, search=False)
        assert r["calib_method_impl"].startswith("onnxruntime EntropyCalibrater")
    elif target == "openvino":
        from edgekit.exporters.quantize_openvino import quantize_openvino

        _, r = quantize_openvino(fp32, digits["calib"], method="entropy", eval_data=ev, search=False)
        # one activation FakeQuantize in front of each of the 26 INT8 layers, each with edgekit's range
        assert r["calib_method_impl"].startswith("edgekit entropy")
        # 13 of them per channel (NNCF does that in front of depthwise convs): per-channel edgekit ranges
        assert r["own_ranges_tensors"] == r["activation_quantizers"] == r["n_int8"] == 26
        assert r["per_channel_quantizers"] == 13
    else:
        from edgekit.exporters.quantize_tflite import quantize_tflite

        _, r = quantize_tflite(fp32, digits["calib"], method="entropy", eval_data=ev, search=False)
        # every tensor ai-edge-quantizer calibrated got edgekit's range (none left at its min/max)
        assert r["calib_method_impl"].startswith("edgekit entropy")
        assert r["own_ranges_tensors"] == r["calibrated_tensors"] > 50
    a = r["accuracy"]
    assert r["calib_method"] == "entropy" and a["n"] == 449
    assert a["fp32_top1"] - a["int8_top1"] <= BUDGET
    assert 0.98 < r["logits_cosine"] < 1.0


@pytest.mark.slow
def test_onnxruntime_entropy_is_not_minmax(digits, fp32_onnx, tmp_path):
    """quantize_static's own Entropy setting (128 bins / 128 levels) has one candidate, the min/max:
    edgekit runs the calibrator with 512 bins so the threshold search really happens."""
    import onnx
    from onnx import numpy_helper

    from edgekit.exporters.quantize_onnx import quantize_onnx

    def input_scales(path):
        m = onnx.load(str(path))
        init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
        return {n.input[0]: float(init[n.input[1]]) for n in m.graph.node if n.op_type == "QuantizeLinear"}

    calib = digits["calib"][:32]
    for method in ("minmax", "entropy"):
        quantize_onnx(fp32_onnx, tmp_path / f"{method}.onnx", calib, method=method, search=False)
    a, b = input_scales(tmp_path / "minmax.onnx"), input_scales(tmp_path / "entropy.onnx")
    assert a.keys() == b.keys()
    clipped = sum(b[k] < 0.99 * a[k] for k in a)
    # measured: 17 of 45 quantized tensors narrowed, down to 0.50x the min/max scale; none widened
    assert clipped >= len(a) // 3 and all(b[k] <= a[k] * 1.001 for k in a)


@pytest.mark.parametrize("target", ["openvino",
                                    pytest.param("tflite", marks=pytest.mark.slow)])
def test_percentile_uses_edgekit_ranges(digits, request, target):
    ev = (digits["x"], digits["y"])
    fp32 = request.getfixturevalue(f"fp32_{target}")
    if target == "openvino":
        from edgekit.exporters.quantize_openvino import quantize_openvino

        _, r = quantize_openvino(fp32, digits["calib"], method="percentile", eval_data=ev, search=False)
    else:
        from edgekit.exporters.quantize_tflite import quantize_tflite

        _, r = quantize_tflite(fp32, digits["calib"], method="percentile", eval_data=ev, search=False)
    assert r["calib_method_impl"].startswith("edgekit percentile") and r["own_ranges_tensors"] >= 26
    assert r["accuracy"]["fp32_top1"] - r["accuracy"]["int8_top1"] <= BUDGET


def test_unknown_method_is_one_line_error(digits, fp32_openvino):
    from edgekit.errors import EdgekitError
    from edgekit.exporters.quantize_openvino import quantize_openvino
    from edgekit.exporters.quantize_tflite import quantize_tflite

    with pytest.raises(EdgekitError, match="unknown calibration method 'kl' for openvino"):
        quantize_openvino(fp32_openvino, digits["calib"], method="kl")
    with pytest.raises(EdgekitError, match="unknown calibration method 'kl' for tflite"):
        # refused before the file is read: empty bytes prove no conversion work is done first
        quantize_tflite(b"", digits["calib"], method="kl")


@pytest.mark.slow
@LITERT_INT8_IO_HOST
def test_export_int8_io_sidecar_on_all_targets(digits_fixture, tmp_path):
    """Through `export_model`: each sidecar records integer I/O with the scale / zero point the
    runtime reads from the file, and parity was measured on the calibration data through them."""
    from edgekit.artifact import read_sidecar
    from edgekit.exporters import pipeline

    f = digits_fixture
    # the latency search is tested in test_int8_accuracy; here only the I/O matters
    r = pipeline.export_model(f["model"], "all", weights=f["weights"], num_classes=10, input_size=32, precision="int8",
                              calib=f["train"], calib_size=64, calib_method="entropy", int8_io=True, n_parity=16,
                              out=tmp_path, int8_search=False)
    for e in r.exports:
        meta = read_sidecar(e.file)
        io = meta["quantization"]["io"]
        (i,), (o,) = meta["inputs"], meta["outputs"]
        assert i["dtype"] in ("int8", "uint8") and o["dtype"] in ("int8", "uint8"), e.target
        assert i["quantization"] == [io["input"]["scale"], io["input"]["zero_point"]], e.target
        assert o["quantization"] == [io["output"]["scale"], io["output"]["zero_point"]], e.target
        runner = open_runner(e.file)
        assert runner.inputs()[0].quantization == tuple(i["quantization"]), e.target
        p = meta["parity"]
        assert p["inputs"] == "calibration data" and p["n_inputs"] == 16, e.target
        assert p["top1_agreement"] >= 15 / 16 and p["cosine"] > 0.97, e.target
        assert meta["quantization"]["calib_method"] == "entropy"


def test_bench_inputs_follow_the_io_scale():
    """bench / budget feed an integer-I/O model the same standard-normal data, quantized with its scale."""
    from edgekit.runtimes.base import TensorSpec, random_inputs

    (q,) = random_inputs([TensorSpec("input", (1, 3, 32, 32), "int8", (0.02, -3))])
    (f,) = random_inputs([TensorSpec("input", (1, 3, 32, 32), "float32")])
    assert q.dtype == np.int8
    inside = (q > -128) & (q < 127)  # beyond ±2.5 the normal values saturate
    assert inside.mean() > 0.98
    np.testing.assert_allclose(((q.astype(np.float32) + 3) * 0.02)[inside], f[inside], atol=0.01 + 1e-6)
    (raw,) = random_inputs([TensorSpec("input", (1, 3, 32, 32), "int8")])  # no scale: the full range
    assert raw.min() == -128 and raw.max() == 127


@pytest.mark.slow  # CI has test_openvino_int8_io
def test_openvino_channels_last_int8_io(digits, fp32_openvino, tmp_path):
    """An --nhwc IR (N, H, W, C input): calibration and eval data follow its layout (this crashed before)."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    from edgekit.exporters.quantize_openvino import quantize_openvino

    ppp = PrePostProcessor(fp32_openvino.clone())
    ppp.input(0).tensor().set_layout(ov.Layout("NHWC"))
    ppp.input(0).model().set_layout(ov.Layout("NCHW"))
    nhwc = ppp.build()
    assert list(nhwc.input(0).get_shape()) == [1, 32, 32, 3]
    model, r = quantize_openvino(nhwc, digits["calib"], method="entropy", int8_io=True,
                                 eval_data=(digits["x"], digits["y"]), search=False)
    xml = tmp_path / "nhwc.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    runner = _check_io_runner(xml, r, "int8")
    assert runner.inputs()[0].shape == (1, 32, 32, 3)
    top1 = topk_accuracy(runner_predict(runner, digits["x"]), digits["y"]).top1  # transposed by runner_predict
    assert top1 == pytest.approx(r["accuracy"]["int8_top1"]) and r["accuracy"]["fp32_top1"] - top1 <= BUDGET
