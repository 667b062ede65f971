"""OpenVINO 2026.4.1 on the emulated aarch64 device: minimal INT8 IRs its CPU plugin refuses and their accepted
siblings (benchmarks/probes/openvino_arm_min_ir.py); x86 compiles all of them."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

ov = pytest.importorskip("openvino")

PROBE = Path(__file__).resolve().parents[2] / "benchmarks" / "probes" / "openvino_arm_min_ir.py"
COMPILE = """
import sys, openvino as ov
core = ov.Core()
for f in sys.argv[1:]:
    try:
        core.compile_model(core.read_model(f), "CPU", {"INFERENCE_NUM_THREADS": 1})
        print("OK")
    except Exception as e:
        print("FAIL", " ".join(str(e).split()))
"""


def _probe():
    spec = importlib.util.spec_from_file_location("openvino_arm_min_ir", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_x86_compiles_all(tmp_path):
    files = _probe().write(tmp_path)
    core = ov.Core()
    for f in files.values():
        core.compile_model(core.read_model(str(f)), "CPU")


def test_aarch64_refuses_the_minimal_irs(aarch64_device, tmp_path):
    if "openvino" not in aarch64_device.runtimes:
        pytest.skip("no openvino on the emulated device: edgekit device setup --runtime openvino")
    files = _probe().write(tmp_path)
    names = list(files)
    r = subprocess.run([str(aarch64_device.python("openvino")), "-c", COMPILE, *map(str, files.values())],
                       capture_output=True, text=True, timeout=600)
    got = dict(zip(names, r.stdout.splitlines()))
    for name in ("refused", "refused_chain"):
        assert got[name].startswith("FAIL") and got[name].endswith("object is not initialized"), got
    assert got["refused_align"].startswith("FAIL") and "AlignUnsupportedLPConvFQPrecision" in got["refused_align"]
    assert "Convolution input precision should be single" in got["refused_align"]
    assert got["accepted"] == got["accepted_chain"] == got["accepted_align"] == "OK", got
