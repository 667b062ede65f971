"""Local benchmarking: statistics, timing loop, real runtimes, artifact metadata, device script."""

from __future__ import annotations

import ast
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.artifact import sidecar_path
from edgekit.errors import EdgekitError
from edgekit.runtimes import device_bench as db
from edgekit.runtimes.bench import add_artifact_metadata, benchmark, benchmark_files

from tiny_models import make_onnx, make_openvino_ir, make_tflite, tiny_madds

DEVICE_BENCH = Path(db.__file__)
TINY_MADDS = tiny_madds()  # Conv(3→16, 3x3) on 32x32 + Gemm(16→10): 16·32·32·27 + 16·10
assert TINY_MADDS == 16 * 32 * 32 * 27 + 16 * 10


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    return make_onnx(tmp_path_factory.mktemp("bench") / "tiny.onnx")


# --------------------------------------------------------------------------- statistics


def test_latency_stats_exact_values():
    s = db.latency_stats([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])  # order must not matter
    assert s["median"] == 5.5 and s["mean"] == 5.5
    assert s["p90"] == pytest.approx(9.1) and s["p99"] == pytest.approx(9.91)
    assert (s["min"], s["max"]) == (1.0, 10.0)
    assert s["std"] == pytest.approx(math.sqrt(8.25))
    assert s["cv"] == pytest.approx(math.sqrt(8.25) / 5.5)
    ref = np.arange(1, 11)
    assert s["p90"] == pytest.approx(np.percentile(ref, 90)) and s["p99"] == pytest.approx(np.percentile(ref, 99))
    one = db.latency_stats([2.5])
    assert one["median"] == one["p99"] == one["min"] == 2.5 and one["cv"] == 0
    with pytest.raises(ValueError):
        db.latency_stats([])


def test_capped_samples_keeps_1000_evenly():
    xs = list(range(2500))
    capped = db.capped_samples(xs)
    assert len(capped) == 1000 and capped[0] == 0 and capped[-1] >= 2490
    assert capped == sorted(capped)
    assert db.capped_samples([1, 2, 3]) == [1, 2, 3]


def test_timed_runs_counts_warmup_and_runs():
    calls = []
    samples = db.timed_runs(lambda: calls.append(1), warmup=3, runs=7)
    assert len(samples) == 7 and len(calls) == 10
    assert all(s >= 0 for s in samples)


def test_timed_runs_for_seconds():
    import time

    samples = db.timed_runs(lambda: time.sleep(0.002), warmup=0, seconds=0.05)
    assert 1 <= len(samples) <= 26 and min(samples) >= 2.0  # 0.05 s of ≥ 2 ms sleeps
    assert sum(samples[:-1]) < 50.0 <= sum(samples) + 1.0  # the run that crosses the deadline is the last


def test_device_inputs_match_edgekit_random_inputs():
    from edgekit.runtimes.base import TensorSpec, random_inputs

    specs = [TensorSpec("a", (1, 3, 8, 8), "float32"), TensorSpec("b", (4,), "int8"), TensorSpec("c", (2, 2), "uint8")]
    ours = db.make_inputs([(s.name, s.shape, s.dtype) for s in specs], seed=3)
    theirs = random_inputs(specs, seed=3)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and np.array_equal(a, b)


# --------------------------------------------------------------------------- real runtimes


def test_benchmark_onnx_is_sane(tiny_onnx):
    r = benchmark(tiny_onnx, threads=2, warmup=3, runs=40)
    s = r["latency_ms"]
    assert r["kind"] == "bench" and r["schema"] == 1 and r["where"] == "local"
    assert r["runtime"] == "onnxruntime" and r["runtime_version"]
    assert r["threads"] == 2 and r["runs"] == 40 and len(r["samples_ms"]) == 40 and r["warmup"] == 3
    assert 0 < s["min"] <= s["median"] <= s["p90"] <= s["p99"] <= s["max"]
    assert s["min"] == min(r["samples_ms"]) and s["max"] == max(r["samples_ms"])
    assert r["init_ms"] > 0 and r["first_run_ms"] > 0
    assert r["peak_rss_mb"] > 10  # a Python process with numpy and onnxruntime loaded
    assert r["inputs"] == [{"name": "x", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    # no sidecar: MAdds come from the graph, exactly
    assert r["madds"] == TINY_MADDS and r["madds_source"] == "graph" and r["madds_target"] is None
    assert r["us_per_mmadd"] == pytest.approx(s["median"] * 1e3 / (TINY_MADDS / 1e6))
    assert r["size_bytes"] == tiny_onnx.stat().st_size and r["files"] == ["tiny.onnx"]
    json.dumps(r)  # serialisable as is


def test_sidecar_metadata_wins_over_the_graph(tiny_onnx, tmp_path):
    model = tmp_path / "m0.onnx"
    shutil.copy(tiny_onnx, model)
    sidecar_path(model).write_text(json.dumps({
        "model": "micronet-m0", "precision": "fp32", "target": "onnx",
        "madds": {"total_madds": 4_060_000, "graph_madds": 4_100_000},
        "card": {"name": "micronet-m0", "madds_target": 4_000_000}}))
    r = add_artifact_metadata({"latency_ms": {"median": 2.0}}, model)
    assert (r["model"], r["precision"], r["target"]) == ("micronet-m0", "fp32", "onnx")
    assert r["madds"] == 4_060_000 and r["graph_madds"] == 4_100_000 and r["madds_source"] == "sidecar"
    assert r["madds_ratio_to_target"] == pytest.approx(1.015)
    assert r["us_per_mmadd"] == pytest.approx(2000 / 4.06)


def test_several_files_interleaved(tiny_onnx, tmp_path):
    wide = make_onnx(tmp_path / "wide.onnx", channels=64)
    a, b = benchmark_files([tiny_onnx, wide], warmup=2, runs=25)
    assert a["runs"] == b["runs"] == 25 and a["interleaved_with"] == b["interleaved_with"] == 2
    assert b["madds"] == 64 * 32 * 32 * 27 + 64 * 10
    assert b["size_bytes"] > a["size_bytes"]


def test_seconds_mode(tiny_onnx):
    r = benchmark(tiny_onnx, warmup=1, seconds=0.2)
    assert r["seconds"] == 0.2 and r["runs"] >= 5
    assert r["runs"] == len(r["samples_ms"]) or len(r["samples_ms"]) == 1000


def test_openvino_ir_counts_xml_and_bin(tiny_onnx, tmp_path):
    xml = make_openvino_ir(tiny_onnx, tmp_path / "tiny.xml")
    r = add_artifact_metadata({"latency_ms": {"median": 1.0}}, xml)
    assert r["files"] == ["tiny.xml", "tiny.bin"]
    assert r["size_bytes"] == xml.stat().st_size + xml.with_suffix(".bin").stat().st_size
    pytest.importorskip("edgekit.runtimes.openvino_runner")
    out = benchmark(xml, runs=10, warmup=1)
    assert out["runtime"] == "openvino" and out["runs"] == 10 and out["threads"] == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"runs": 0}, "--runs"), ({"threads": 0}, "--threads"), ({"warmup": -1}, "--warmup"),
    ({"seconds": 0}, "--seconds"), ({"runtime": "tensorrt"}, "unknown runtime"),
    ({"runtime": "litert"}, "cannot open .onnx"),
])
def test_bad_arguments_are_one_line_errors(tiny_onnx, kwargs, message):
    with pytest.raises(EdgekitError, match=message) as info:
        benchmark(tiny_onnx, **kwargs)
    assert "\n" not in str(info.value)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(EdgekitError, match="not found"):
        benchmark(tmp_path / "nope.onnx")
    txt = tmp_path / "model.txt"
    txt.write_text("hello")
    with pytest.raises(EdgekitError, match="cannot tell the runtime"):
        benchmark(txt)


# --------------------------------------------------------------------------- the device script

ALLOWED_IMPORTS = {"__future__", "argparse", "json", "math", "os", "platform", "re", "sys", "time", "resource",
                   "importlib", "numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "openvino",
                   "executorch", "torch"}  # the last two only inside the .pte loader: ExecuTorch's runtime links libtorch


def test_device_bench_imports_only_stdlib_numpy_and_runtimes():
    tree = ast.parse(DEVICE_BENCH.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "").split(".")[0])
    assert found <= ALLOWED_IMPORTS, found - ALLOWED_IMPORTS
    assert "edgekit" not in found


BLOCKER = '''
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError("No module named " + repr(name) + " (blocked by the test)", name=name)
sys.meta_path.insert(0, _Block())
'''


def _isolated_env(tmp_path: Path, blocked: set[str]) -> dict:
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=sorted(blocked)))
    return {**os.environ, "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}


def test_device_bench_runs_alone_as_a_script(tiny_onnx, tmp_path):
    work = tmp_path / "device"
    work.mkdir()
    shutil.copy(DEVICE_BENCH, work / "device_bench.py")
    shutil.copy(tiny_onnx, work / "model.onnx")
    env = _isolated_env(tmp_path, {"edgekit", "torch"})
    proof = subprocess.run([sys.executable, "-c", "import edgekit"], cwd=work, env=env, capture_output=True, text=True)
    assert proof.returncode != 0  # the blocker works: edgekit is not importable there
    proc = subprocess.run([sys.executable, "device_bench.py", "model.onnx", "--runtime", "auto", "--threads", "1",
                           "--warmup", "2", "--runs", "15", "--json"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert r["runtime"] == "onnxruntime" and r["model"] == "model.onnx" and r["runs"] == 15
    assert r["threads"] == 1 and r["warmup"] == 2 and len(r["samples_ms"]) == 15
    s = r["latency_ms"]
    assert s["min"] <= s["median"] <= s["max"] and set(s) == {"median", "mean", "p90", "p99", "min", "max", "std", "cv"}
    assert r["peak_rss_mb"] > 0 and r["peak_rss_delta_mb"] is not None and r["init_ms"] > 0
    assert set(r["host"]) >= {"machine", "system", "python", "cpu_count"}
    assert r["inputs"] == [{"name": "x", "shape": [1, 3, 32, 32], "dtype": "float32"}]


@pytest.mark.parametrize("args, message", [
    (["missing.onnx"], "model file not found"),
    (["model.onnx", "--runtime", "tensorrt"], "unknown runtime"),
    (["model.onnx", "--runtime", "litert"], "cannot open .onnx"),
    (["model.onnx", "--runs", "0"], "--runs"),
])
def test_device_bench_bad_input_exit_2(tiny_onnx, tmp_path, args, message):
    shutil.copy(tiny_onnx, tmp_path / "model.onnx")
    proc = subprocess.run([sys.executable, str(DEVICE_BENCH), *args, "--json"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_device_bench_reports_a_missing_runtime(tiny_onnx, tmp_path):
    shutil.copy(tiny_onnx, tmp_path / "model.onnx")
    env = _isolated_env(tmp_path, {"onnxruntime", "openvino"})
    proc = subprocess.run([sys.executable, str(DEVICE_BENCH), "model.onnx"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: no runtime for .onnx files is installed on this machine "
                                   "(need onnxruntime or openvino)")


def test_tflite_on_litert_locally_and_with_the_device_script(tmp_path):
    tfl = make_tflite(tmp_path / "tiny.tflite")  # skips without torch / litert-torch
    r = benchmark(tfl, threads=1, warmup=2, runs=20)
    assert r["runtime"] == "litert" and r["runs"] == 20 and r["runtime_version"]
    assert r["madds"] == tiny_madds(channels=8, size=16) and r["madds_source"] == "graph"
    assert r["inputs"] == [{"name": "serving_default_args_0", "shape": [1, 3, 16, 16], "dtype": "float32"}]
    proc = subprocess.run([sys.executable, str(DEVICE_BENCH), str(tfl), "--runtime", "litert", "--runs", "10",
                           "--threads", "2", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["runtime"] == "litert" and d["threads"] == 2 and d["runs"] == 10 and d["inputs"] == r["inputs"]
