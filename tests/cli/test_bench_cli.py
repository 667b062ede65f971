"""`edgekit bench` and `edgekit profile` through a real process: JSON schema, table, -o, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cli_helpers import assert_user_error
from tiny_models import make_onnx, make_openvino_ir, tiny_madds

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}

BLOCKER = '''
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError("No module named " + repr(name), name=name)
sys.meta_path.insert(0, _Block())
'''


def edgekit(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env or ENV)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_cli")
    onnx_file = make_onnx(d / "tiny.onnx")
    return {"onnx": onnx_file, "xml": make_openvino_ir(onnx_file, d / "tiny.xml"), "dir": d}


def test_json_for_two_files_side_by_side_and_output_file(models, tmp_path):
    out = tmp_path / "results.json"
    proc = edgekit("bench", str(models["onnx"]), str(models["xml"]), "--runs", "12", "--warmup", "1", "--threads", "2",
                   "--json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert [r["runtime"] for r in results] == ["onnxruntime", "openvino"]
    for r in results:
        assert r["kind"] == "bench" and r["runs"] == 12 and r["threads"] == 2 and r["interleaved_with"] == 2
        assert r["latency_ms"]["min"] <= r["latency_ms"]["median"] <= r["latency_ms"]["max"]
        assert r["madds"] == tiny_madds() and r["madds_source"] == "graph"
    assert results[1]["files"] == ["tiny.xml", "tiny.bin"]
    assert json.loads(out.read_text()) == results
    again = edgekit("bench", str(models["onnx"]), "--runs", "2", "-o", str(out))
    assert_user_error(again, "exists", "--force")
    forced = edgekit("bench", str(models["onnx"]), "--runs", "3", "-o", str(out), "--force", "--json")
    assert forced.returncode == 0 and json.loads(out.read_text())[0]["runs"] == 3


def test_table(models):
    proc = edgekit("bench", str(models["onnx"]), "--seconds", "0.2")
    assert proc.returncode == 0, proc.stderr
    for column in ("median ms", "p90", "p99", "min", "CV %", "init ms", "mem MB", "MAdds", "µs/MMAdd", "size"):
        assert column in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.strip().startswith("tiny.onnx"))
    assert "onnxruntime" in row and "442.53K" in row  # 16·32·32·27 + 160 MAdds


def test_profile_cli(models):
    proc = edgekit("profile", str(models["onnx"]), "--runs", "5", "--top", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["kind"] == "profile" and r["runs"] == 5 and len(r["ops"]) == 2 and r["ops"][0]["op"] == "Conv"
    table = edgekit("profile", str(models["xml"]), "--runs", "5")
    assert table.returncode == 0 and "Convolution" in table.stdout and "of the mean wall-clock" in table.stdout


@pytest.mark.parametrize("args, needles", [
    (["bench", "{dir}/missing.onnx"], ["model file not found"]),
    (["bench", "{onnx}", "--runtime", "tensorrt"], ["unknown runtime 'tensorrt'"]),
    (["bench", "{onnx}", "--runtime", "litrt"], ["did you mean: litert"]),
    (["bench", "{dir}/notes.txt"], ["cannot tell the runtime"]),
    (["bench", "{onnx}", "--runs", "5", "--seconds", "1"], ["--runs or --seconds"]),
    (["bench", "{onnx}", "--runs", "0"], ["--runs", "greater than or equal to 1"]),
    (["bench", "{onnx}", "--threads", "0"], ["--threads must be at least 1"]),
    (["bench", "{onnx}", "--ssh-key", "k"], ["--ssh-key needs --ssh"]),
    (["bench", "{onnx}", "--serial", "abc"], ["--serial needs --adb"]),
    (["bench", "{onnx}", "--adb", "s1", "s2"], ["one adb serial at most"]),
    (["bench", "{onnx}", "--adb", "--runtime", "openvino"], ["--adb picks the device's runner by file type"]),
    (["profile", "{dir}/notes.txt"], ["cannot tell the runtime"]),
    (["profile", "{dir}/missing.xml"], ["model file not found"]),
    (["inspect", "{dir}/notes.txt"], ["expected a .onnx, .tflite, .xml"]),
])
def test_bad_input_is_one_line_exit_2(models, args, needles):
    (models["dir"] / "notes.txt").write_text("not a model")
    fmt = {"dir": models["dir"], "onnx": models["onnx"]}
    assert_user_error(edgekit(*[a.format(**fmt) for a in args]), *needles)


def test_runtime_not_installed(models, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=["onnxruntime"]))
    env = {**ENV, "PYTHONPATH": str(site)}
    assert_user_error(edgekit("bench", str(models["onnx"]), "--runs", "2", env=env),
                      "runtime onnxruntime is not installed", "pip install 'edgekit[onnxruntime]'")
    assert_user_error(edgekit("profile", str(models["onnx"]), env=env), "runtime onnxruntime is not installed")
    # the same file still benchmarks on the runtime that is there
    proc = edgekit("bench", str(models["onnx"]), "--runtime", "openvino", "--runs", "2", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["runtime"] == "openvino"
