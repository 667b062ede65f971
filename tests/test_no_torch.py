"""The measurement side works on a device with numpy and a runtime but no torch.

Each check runs in a subprocess whose sitecustomize makes torch (and the torch-based converters)
unimportable, exactly as on a Raspberry Pi that only has `pip install edgekit[onnxruntime]`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tiny_models import make_onnx, tiny_madds

TORCH_FAMILY = ["torch", "torchvision", "torchaudio", "litert_torch", "ai_edge_torch"]
BLOCKER = '''
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError("No module named " + repr(name) + " (torch is blocked in this test)", name=name)
sys.meta_path.insert(0, _NoTorch())
'''
# Modules that must import without torch (the rule of the house): the whole runtimes/, budget/ and
# report/ packages, plus the measurement commands.
IMPORT_CHECK = '''
import importlib, pkgutil, sys
import edgekit
mods = ["edgekit.cli.app", "edgekit.cli.bench", "edgekit.cli.profile", "edgekit.cli.inspect",
        "edgekit.analysis.inspect", "edgekit.artifact", "edgekit.fileio"]
for pkg in ("edgekit.runtimes", "edgekit.budget", "edgekit.report"):
    p = importlib.import_module(pkg)
    mods += [m.name for m in pkgutil.walk_packages(p.__path__, pkg + ".")]
for m in mods:
    importlib.import_module(m)
assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
print(len(mods))
'''


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory):
    d = tmp_path_factory.mktemp("no_torch")
    site = d / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=TORCH_FAMILY))
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return {"env": env, "model": make_onnx(d / "model.onnx"), "dir": d}


def run(no_torch, *args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=no_torch["env"],
                          cwd=no_torch["dir"])


def test_torch_is_really_blocked(no_torch):
    proc = run(no_torch, "-c", "import torch")
    assert proc.returncode == 1 and "torch is blocked in this test" in proc.stderr


def test_import_edgekit_and_the_measurement_modules(no_torch):
    proc = run(no_torch, "-c", IMPORT_CHECK)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) >= 10


def test_help_lists_the_commands(no_torch):
    proc = run(no_torch, "-m", "edgekit", "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("bench", "profile", "inspect"):
        assert command in proc.stdout


def test_bench_json(no_torch):
    proc = run(no_torch, "-m", "edgekit", "bench", "model.onnx", "--runs", "10", "--warmup", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    (r,) = json.loads(proc.stdout)
    assert r["kind"] == "bench" and r["runtime"] == "onnxruntime" and r["runs"] == 10
    assert r["madds"] == tiny_madds() and r["latency_ms"]["min"] <= r["latency_ms"]["median"]


def test_inspect_and_profile(no_torch):
    proc = run(no_torch, "-m", "edgekit", "inspect", "model.onnx", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["graph_madds"] == tiny_madds() and r["census"]["ops"]["Conv"] == 1
    proc = run(no_torch, "-m", "edgekit", "profile", "model.onnx", "--runs", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ops"][0]["op"] == "Conv"


def test_bad_input_is_one_line_without_torch(no_torch):
    proc = run(no_torch, "-m", "edgekit", "bench", "missing.onnx")
    assert proc.returncode == 2 and proc.stderr.strip() == "error: model file not found: missing.onnx"
