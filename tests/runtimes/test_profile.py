"""Per-op profiles from onnxruntime's trace and OpenVINO's performance counters (real runtimes)."""

from __future__ import annotations

import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes.profile import parse_ort_trace, profile_file
from tiny_models import make_onnx, make_openvino_ir


@pytest.fixture(scope="module")
def two_conv(tmp_path_factory):
    # Conv(3→32) → Relu → Conv(32→32) → Relu → pool → Gemm on 48x48: convolutions dominate the time
    return make_onnx(tmp_path_factory.mktemp("profile") / "two_conv.onnx", channels=32, size=48, second_conv=True)


def _check_profile(r, runs, conv_op):
    assert r["kind"] == "profile" and r["runs"] == runs
    ops = {e["op"]: e for e in r["ops"]}
    assert conv_op in ops and ops[conv_op]["nodes"] == 2
    assert r["ops"][0]["op"] == conv_op  # 3.5M + 31.9M MAdds of convolution: the bulk of the time
    assert sum(e["pct"] for e in r["ops"]) == pytest.approx(100.0)  # --top covers every op type here
    assert sum(e["ms"] for e in r["ops"]) == pytest.approx(r["op_total_ms"])
    # op times are measured inside the same runs as the wall clock: a part of it, not more
    # (like for like: per-node medians against the median run, OpenVINO's mean counters against the mean run)
    wall = r["wall_ms"]
    assert wall == r["latency_ms"][r["wall_stat"]]
    assert 0.1 * wall < r["op_total_ms"] < 1.2 * wall, (r["op_total_ms"], wall)
    assert r["nodes"][0]["op"] == conv_op and r["nodes"][0]["ms"] <= r["ops"][0]["ms"]


def test_onnxruntime_profile(two_conv):
    r = profile_file(two_conv, runs=10, warmup=2, top=20)
    assert r["runtime"] == "onnxruntime" and r["threads"] == 1
    _check_profile(r, 10, "Conv")  # Relu is fused into the Conv kernels by ORT's optimizer
    assert "Relu" not in {e["op"] for e in r["ops"]}


def test_openvino_profile(two_conv, tmp_path):
    xml = make_openvino_ir(two_conv, tmp_path / "two_conv.xml")
    r = profile_file(xml, threads=1, runs=10, warmup=2, top=20)
    assert r["runtime"] == "openvino"
    _check_profile(r, 10, "Convolution")
    assert r["wall_stat"] == "mean"
    assert all("f32" in k for e in r["ops"] for k in e["kernels"] if k != "undef")  # f32 precision, not bf16


def test_top_limits_the_list(two_conv):
    r = profile_file(two_conv, runs=3, warmup=1, top=1)
    assert len(r["ops"]) == 1 and len(r["nodes"]) == 1 and r["ops_total"] >= 2
    assert r["ops"][0]["pct"] < 100


def test_trace_parsing_skips_warmup_runs():
    events = [
        {"cat": "Session", "name": "model_run", "ts": 0, "dur": 100},
        {"cat": "Node", "name": "a_kernel_time", "ts": 10, "dur": 50, "args": {"op_name": "Conv"}},
        {"cat": "Session", "name": "model_run", "ts": 200, "dur": 100},
        {"cat": "Node", "name": "a_kernel_time", "ts": 210, "dur": 30, "args": {"op_name": "Conv", "provider": "CPU"}},
        {"cat": "Node", "name": "b_fence_before", "ts": 250, "dur": 1, "args": {"op_name": "Add"}},
        {"cat": "Node", "name": "b_kernel_time", "ts": 260, "dur": 20, "args": {"op_name": "Add"}},
    ]
    assert parse_ort_trace(events, skip=1) == [[("a", "Conv", "CPU", 0.03), ("b", "Add", "", 0.02)]]
    assert len(parse_ort_trace(events, skip=0)) == 2


def test_litert_says_what_is_not_available(tmp_path):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"TFL3")
    with pytest.raises(EdgekitError, match="not exposed by the ai-edge-litert Python Interpreter") as info:
        profile_file(f)
    assert "--runtime openvino" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name, runtime, message", [
    ("m.onnx", "litert", "litert cannot profile .onnx"),
    ("m.xml", "onnxruntime", "onnxruntime cannot profile .xml"),
    ("m.txt", "auto", "cannot tell the runtime"),
    ("m.onnx", "tvm", "unknown runtime"),
])
def test_bad_inputs(tmp_path, name, runtime, message):
    f = tmp_path / name
    f.write_bytes(b"x")
    with pytest.raises(EdgekitError, match=message):
        profile_file(f, runtime)
    with pytest.raises(EdgekitError, match="not found"):
        profile_file(tmp_path / "missing.onnx")
