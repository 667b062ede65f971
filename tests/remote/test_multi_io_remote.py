"""`edgekit bench --ssh --parity` of a model with several inputs (float + int64 token ids) and outputs:
on this machine's sshd, and on the emulated aarch64 board (ARM kernels; times are not latencies)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.remote

MODELS = Path(__file__).resolve().parent.parent / "exporters" / "multi_io_models.py"


@pytest.fixture(scope="module")
def retrieval_files(tmp_path_factory):
    from edgekit.exporters.pipeline import export_model

    out = tmp_path_factory.mktemp("multi_io")
    result = export_model(f"{MODELS}:retrieval", "tflite", out=out, inputs=["video=32,16", "tokens=6:int64"])
    onnx = export_model(f"{MODELS}:retrieval", "onnx", out=out, inputs=["video=32,16", "tokens=6:int64"])
    return {"tflite": result.file, "onnx": onnx.file}


def _bench(file, sshd, python):
    proc = subprocess.run([sys.executable, "-m", "edgekit", "bench", str(file), "--ssh", sshd.target, "--ssh-key",
                           str(sshd.key), "--parity", "--runs", "3", "--warmup", "1", "--json"],
                          capture_output=True, text=True, env=sshd.env(python), timeout=600)
    assert proc.returncode == 0, proc.stderr
    (r,) = json.loads(proc.stdout)
    return r


def _check(r):
    assert [i["name"] for i in r["inputs"]] == ["video", "tokens"]
    assert r["inputs"][1]["dtype"] in ("int64", "int32")
    par = r["parity"]
    assert set(par["outputs"]) == {"output_0", "output_1"} and par["n_inputs"] == 2
    for p in par["outputs"].values():
        assert p["rel_max_abs_diff"] <= 1e-4 and p["ok"]
    assert par["vs_export_runtime"]["rel_max_abs_diff"] <= 1e-4


def test_bench_ssh_parity_of_two_inputs_two_outputs(sshd, retrieval_files):
    r = _bench(retrieval_files["onnx"], sshd, sys.executable)
    _check(r)
    assert r["latency_ms"]["median"] > 0 and r["emulated"] is None


def test_bench_ssh_parity_on_the_emulated_board(sshd, aarch64_device, retrieval_files):
    r = _bench(retrieval_files["tflite"], sshd, aarch64_device.python("litert"))
    _check(r)
    assert r["device"]["machine"] == "aarch64" and r["emulated"]
