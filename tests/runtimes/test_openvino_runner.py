"""OpenVINORunner on the real CPU plugin: IR and ONNX files, specs, threads read back, errors."""

from __future__ import annotations

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from edgekit.errors import EdgekitError  # noqa: E402
from edgekit.runtimes.base import open_runner, random_inputs  # noqa: E402
from edgekit.runtimes.openvino_runner import OpenVINORunner  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from edgekit.exporters.base import ExportOptions
    from edgekit.exporters.openvino import OpenVINOExporter, onnx_file

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, groups=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5),
    ).eval()
    d = tmp_path_factory.mktemp("ov")
    ex = torch.zeros(1, 3, 16, 16)
    OpenVINOExporter().convert(model, ex, [d / "tiny.xml", d / "tiny.bin"], ExportOptions("openvino"))
    onnx_file(model, ex, d / "tiny.onnx")
    return d, model


def test_ir_and_onnx_run_like_pytorch(tiny):
    import torch

    d, model = tiny
    for name in ("tiny.xml", "tiny.onnx"):
        runner = open_runner(d / name, runtime="openvino", threads=1)
        assert isinstance(runner, OpenVINORunner)
        (i,), (o,) = runner.inputs(), runner.outputs()
        assert (i.name, i.shape, i.dtype) == ("input", (1, 3, 16, 16), "float32")
        assert (o.name, o.shape, o.dtype) == ("output", (1, 5), "float32")
        x = random_inputs(runner.inputs(), seed=2)[0]
        (y,) = runner.run(x)
        ref = model(torch.from_numpy(x)).detach().numpy()
        assert np.abs(y - ref).max() <= 1e-5 * np.abs(ref).max()


def test_compile_properties_read_back(tiny):
    d, _ = tiny
    for threads in (1, 2):
        r = OpenVINORunner(d / "tiny.xml", threads=threads)
        assert r.property("INFERENCE_NUM_THREADS") == threads
        assert r.property("NUM_STREAMS") == 1
        assert r.property("INFERENCE_PRECISION_HINT") == ov.Type.f32
        assert str(r.property("PERFORMANCE_HINT")) == "LATENCY"


def test_census_counts_conv_group_conv_and_matmul(tiny):
    from edgekit.analysis.census_openvino import census

    d, _ = tiny
    c = census(d / "tiny.xml")
    assert c["graph_madds"] == 16 * 16 * 8 * 27 + 16 * 16 * 8 * 9 + 5 * 8
    assert c["madds_by_op"] == {"Convolution": 16 * 16 * 8 * 27, "GroupConvolution": 16 * 16 * 8 * 9,
                                "MatMul": 5 * 8}


def test_errors_are_one_line(tiny, tmp_path):
    d, _ = tiny
    r = OpenVINORunner(d / "tiny.xml")
    with pytest.raises(EdgekitError, match=r"has shape \(1, 3, 16, 16\)"):
        r.run(np.zeros((1, 16, 16, 3), np.float32))
    bad = tmp_path / "bad.xml"
    bad.write_text("<net>not an IR</net>")
    with pytest.raises(EdgekitError, match="OpenVINO cannot load"):
        open_runner(bad)


def test_error_line_skips_openvino_location_headers():
    """The aarch64 OpenVINO refusing mobilenetv3-small-100's INT8 IR said three lines; the one printed was
    the first, a location header ("Exception from src/inference/src/cpp/core.cpp:117:"), not the message."""
    from edgekit.runtimes.device_bench import error_line

    said = RuntimeError("Exception from src/inference/src/cpp/core.cpp:117:\n"
                        "Exception from src/inference/src/dev/plugin.cpp:54:\nobject is not initialized\n")
    assert error_line(said) == "object is not initialized"
    assert error_line(RuntimeError("Exception from a.cpp:1:\n")) == "Exception from a.cpp:1:"  # nothing else
    assert error_line(ValueError("bad magic\nmore")) == "bad magic"
    assert error_line(ValueError(""), "\nfrom the log\n") == "from the log" and error_line(KeyError()) == "KeyError"
    assert len(error_line(ValueError("x" * 500))) == 200
