"""`export --stream`: step models on the real runtimes, streamed outputs vs the whole-video clip model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.exporters.pipeline import export_model

HERE = Path(__file__).parent


def _check_entry(meta: dict, frames_per_step: int, delay: int):
    s = meta["stream"]
    assert s["frames_per_step"] == frames_per_step and s["delay_steps"] == delay
    names = [i["name"] for i in meta["inputs"]]
    assert names[0] == "input" and names[1:] == [st["name"] for st in s["states"]]
    assert all(n.startswith("state_") for n in names[1:])
    assert [o["name"] for o in meta["outputs"]][1:] == [f"{n}_next" for n in names[1:]]
    assert all(len(st["shape"]) <= 4 for st in s["states"])
    assert s["state_bytes"] == sum(4 * __import__("math").prod(st["shape"]) for st in s["states"])
    for name, p in s["parity"]["outputs"].items():
        assert p["rel_max_abs_diff"] <= 1e-4 and p["positions"] >= 10, (name, p)
    return s


def test_s3d_small_stream_tflite_is_exact_and_one_xnnpack_partition(tmp_path):
    r = export_model("s3d-small", "tflite", stream=True, input_size=32, out=str(tmp_path) + "/")
    e = r.exports[0]
    assert e.file.name == "s3d-small-stream.tflite" and r.warnings == []
    meta = json.loads(Path(str(e.file) + ".edgekit.json").read_text())
    s = _check_entry(meta, 2, 4)
    assert s["parity"]["runtime"] == "litert" and s["parity"]["outputs"]["logits"]["positions"] == 20
    assert meta["census"]["delegate"]["partitions"] == 1
    assert meta["census"]["delegate"]["default_kernel_ops"] == 0
    assert s["step_over_clip_madds"] == 0.125  # 2 of 16 frames


@pytest.mark.slow
@pytest.mark.parametrize("target", ["onnx", "tflite"])
@pytest.mark.parametrize("name, delay, window", [("tan-small", 7, 16), ("c3d-small", 2, 8)])
def test_window_pool_models_stream(tmp_path, target, name, delay, window):
    r = export_model(name, target, stream=True, input_size=32, out=str(tmp_path) + "/")
    meta = r.exports[0].meta
    s = _check_entry(meta, 2, delay)
    assert s["window_frames"] == window and s["window_steps"] == window // 2
    assert 0.01 < s["window_vs_separate_windows"]["rel_max_abs_diff"] < 1.0
    if target == "tflite":
        assert meta["census"]["delegate"]["partitions"] == 1 and meta["census"]["delegate"]["default_kernel_ops"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("factory, shape, delay", [("build_detector", "3,16,16,16", 8), ("build_sequence", "12,32", 9)])
def test_user_models_stream_onnx(tmp_path, factory, shape, delay):
    r = export_model(f"{HERE / 'user_stream_models.py'}:{factory}", "onnx", stream=True, input_shape=shape,
                     condition=True, out=str(tmp_path) + "/")
    _check_entry(r.exports[0].meta, 2, delay)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["openvino", "executorch"])
@pytest.mark.parametrize("name, delay", [("s3d-small", 4), ("tan-small", 7), ("c3d-small", 2)])
def test_zoo_stream_openvino_executorch(tmp_path, target, name, delay):
    r = export_model(name, target, stream=True, input_size=32, out=str(tmp_path) + "/")
    s = _check_entry(r.exports[0].meta, 2, delay)
    assert s["parity"]["runtime"] == {"openvino": "openvino", "executorch": "executorch"}[target]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["tflite", "openvino", "executorch"])
def test_user_detector_stream_every_target(tmp_path, target):
    r = export_model(f"{HERE / 'user_stream_models.py'}:build_detector", target, stream=True,
                     input_shape="3,16,16,16", condition=True, out=str(tmp_path) + "/")
    meta = r.exports[0].meta
    _check_entry(meta, 2, 8)
    if target == "tflite":
        assert meta["census"]["delegate"]["partitions"] == 1 and meta["census"]["delegate"]["default_kernel_ops"] == 0


def test_stream_with_int8_io_is_refused_before_anything_is_traced(tmp_path):
    """--stream --int8-io would put integer states at the file's boundary (each state input and its _next output on
    grids of their own): one line, exit 2, nothing written."""
    from tests.cli_helpers import assert_user_error, run_cli

    proc = run_cli("export", "tan-small", "--stream", "--int8", "--int8-io", "--calib", "synthetic", "--target", "onnx",
                   "-o", str(tmp_path / "out"))
    assert_user_error(proc, "--stream --int8-io", "stay float")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_stream_with_nhwc_is_refused(tmp_path):
    from tests.cli_helpers import assert_user_error, run_cli

    proc = run_cli("export", "tan-small", "--stream", "--nhwc", "--target", "tflite", "-o", str(tmp_path / "out"))
    assert_user_error(proc, "--stream --nhwc")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
