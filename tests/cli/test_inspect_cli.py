"""`edgekit inspect` on real .onnx / .xml / .tflite files: census, MAdds, I/O, metadata, XNNPACK coverage."""

from __future__ import annotations

import json

import pytest

from edgekit.analysis.inspect import inspect_file
from edgekit.artifact import sidecar_path
from edgekit.errors import EdgekitError
from cli_helpers import run_cli
from tiny_models import make_tflite, onnx_and_ir, tiny_madds

def edgekit(*args):
    return run_cli(*args)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return onnx_and_ir(tmp_path_factory.mktemp("inspect"))


def test_onnx_json(files):
    proc = edgekit("inspect", str(files["onnx"]), "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["kind"] == "inspect" and r["format"] == "onnx" and r["size_bytes"] == files["onnx"].stat().st_size
    assert r["census"]["ops"] == {"Conv": 1, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1, "Relu": 1}
    assert r["census"]["transpose"] == 0 and r["census"]["dynamic_weight_convs"] == 0
    assert r["graph_madds"] == tiny_madds() and r["madds_by_op"] == {"Conv": 16 * 32 * 32 * 27, "Gemm": 160}
    assert r["inputs"] == [{"name": "x", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert r["outputs"] == [{"name": "y", "shape": [1, 10], "dtype": "float32"}]
    assert r["metadata"]["ir_version"] == 8 and r["delegate"] is None and r["sidecar"] == {}


def test_onnx_table_and_sidecar(files, tmp_path):
    model = tmp_path / "m0.onnx"
    model.write_bytes(files["onnx"].read_bytes())
    sidecar_path(model).write_text(json.dumps({"model": "micronet-m0", "precision": "fp32", "target": "onnx",
                                               "card": {"name": "micronet-m0", "madds_target": 4_000_000}}))
    proc = edgekit("inspect", str(model))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "input  x: 1x3x32x32 float32" in out and "5 nodes, 5 types" in out
    assert "442,528" in out and "model=micronet-m0" in out and "madds_target=4.00M" in out
    r = inspect_file(model)
    assert r["sidecar"]["madds_target"] == 4_000_000 and r["sidecar"]["precision"] == "fp32"


def test_openvino_ir(files):
    pytest.importorskip("edgekit.analysis.census_openvino")
    r = inspect_file(files["xml"])
    assert r["format"] == "openvino" and r["files"] == ["tiny.xml", "tiny.bin"]
    assert r["size_bytes"] == files["xml"].stat().st_size + files["xml"].with_suffix(".bin").stat().st_size
    assert r["graph_madds"] == tiny_madds()
    assert r["census"]["ops"]["Convolution"] == 1


def test_tflite_delegate_coverage(tmp_path):
    tfl = make_tflite(tmp_path / "tiny.tflite")  # skips without torch / litert-torch
    proc = edgekit("inspect", str(tfl), "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["format"] == "tflite" and r["graph_madds"] == tiny_madds(channels=8, size=16)
    assert r["census"]["ops"]["CONV_2D"] == 1 and r["census"]["ops"]["FULLY_CONNECTED"] == 1
    d = r["delegate"]
    assert d["name"] == "XNNPACK" and d["partitions"] == 1 and d["default_kernel_ops"] == 0 and d["fully_delegated"]
    assert all("\x00" not in str(v) for v in r["metadata"].values())
    table = edgekit("inspect", str(tfl))
    assert "XNNPACK 1 partition(s)" in table.stdout and "fully delegated" in table.stdout


def test_corrupt_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(EdgekitError, match="cannot read .*bad.onnx as onnx") as info:
        inspect_file(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(EdgekitError, match="model file not found"):
        inspect_file(tmp_path / "none.tflite")
