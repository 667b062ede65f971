"""`edgekit export` through a real process: output, JSON, no-clobber exit code, one-line errors."""

import json
import subprocess
import sys

import pytest
import torch

from edgekit.models.registry import create_model
from edgekit.models.conditioning import condition_batchnorm

SIZE = 64


def edgekit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """MicroNet-M0 with BatchNorm statistics from data (logits O(1)), as a checkpoint file."""
    model = condition_batchnorm(create_model("micronet-m0"), (3, SIZE, SIZE), batches=3)
    path = tmp_path_factory.mktemp("w") / "m0.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.slow
def test_export_json_then_refuse_then_force(weights, tmp_path):
    args = ["export", "micronet-m0", "--target", "onnx", "--input-size", SIZE, "--weights", weights,
            "--parity-inputs", 4]
    r = edgekit(*args, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    e = out["exports"][0]
    assert e["file"] == "micronet-m0.onnx" and (tmp_path / "micronet-m0.onnx").stat().st_size == e["size_bytes"]
    assert (tmp_path / "micronet-m0.onnx.edgekit.json").is_file()
    assert (tmp_path / "micronet-m0.onnx.report.md").is_file()
    assert e["parity"]["ok"] and e["parity"]["rel_max_abs_diff"] <= 1e-4 and e["parity"]["n_inputs"] == 4
    assert e["census"]["gather"] == 0
    assert e["madds"]["graph_madds"] == e["madds"]["conv_madds"] + e["madds"]["rewrite_overhead"]

    before = (tmp_path / "micronet-m0.onnx").stat().st_mtime_ns
    r = edgekit(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["error: micronet-m0.onnx exists; pass --force to overwrite"]
    assert (tmp_path / "micronet-m0.onnx").stat().st_mtime_ns == before

    r = edgekit(*args, "--force", "-o", tmp_path / "sub" / "m0.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "onnx fp32  m0.onnx" in r.stdout and "parity" in r.stdout and "MAdds" in r.stdout
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["m0.onnx", "m0.onnx.edgekit.json",
                                                                   "m0.onnx.edgekit.ref.npz", "m0.onnx.report.md"]


@pytest.mark.parametrize("args, message", [
    (["--fp16", "--int8"], "error: --fp16 and --int8 exclude each other; pick one"),
    (["--target", "onx"], "error: unknown target 'onx' (did you mean: onnx?); choose from onnx, tflite, openvino, executorch, all"),
    (["--calib-size", "8"], "error: --calib-size only applies with --int8"),
    (["--no-int8-search"], "error: --no-int8-search only applies with --int8"),
    (["--opset", "16"], "error: edgekit export: Invalid value for '--opset': Input should be greater than or equal to 17 (see edgekit export --help)"),
    (["-o", "m0.txt"], "error: -o m0.txt: expected a directory or a .onnx file"),
])
def test_user_mistakes_are_one_line(args, message, tmp_path):
    r = edgekit("export", "micronet-m0", *args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [message]
    assert list(tmp_path.iterdir()) == []


def test_help_has_examples():
    r = edgekit("export", "--help")
    assert r.returncode == 0
    assert "Examples:" in r.stdout and "--target all" in r.stdout and "--int8 --calib" in r.stdout
