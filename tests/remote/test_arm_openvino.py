"""OpenVINO 2026.4.1 on the emulated aarch64 device: minimal INT8 IRs its CPU plugin refuses and their accepted
siblings (benchmarks/probes/openvino_arm_min_ir.py, 34 with the board's answer each); x86 compiles all of them."""

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


# CI compiles one refused IR per rule and an accepted sibling of each (~25 s emulated); the 34 are `slow` (~100 s)
SIBLINGS = ("refused", "accepted", "refused_chain", "chain_i8_u8_open", "refused_align", "align_float_weights")


@pytest.mark.parametrize("names", [SIBLINGS, pytest.param(None, marks=pytest.mark.slow)], ids=["siblings", "all"])
def test_aarch64_answers_as_the_table_says(aarch64_device, tmp_path, names):
    """Each probe's recorded outcome (PROBES) is what the board's plugin does: the analyzer's test
    (tests/analysis/test_openvino_arm_int8.py) relies on this table."""
    if "openvino" not in aarch64_device.runtimes:
        pytest.skip("no openvino on the emulated device: edgekit device setup --runtime openvino")
    probe = _probe()
    names = names or probe.NAMES
    files = {n: f for n, f in probe.write(tmp_path).items() if n in names}
    r = subprocess.run([str(aarch64_device.python("openvino")), "-c", COMPILE, *map(str, files.values())],
                       capture_output=True, text=True, timeout=1200)
    got = dict(zip(files, r.stdout.splitlines()))
    assert len(got) == len(names), r.stdout + r.stderr
    for name in names:
        outcome = probe.PROBES[name][1]
        if outcome == "ok":
            assert got[name] == "OK", (name, got[name])
        elif outcome == "not-initialized":
            assert got[name].startswith("FAIL") and got[name].endswith("object is not initialized"), (name, got[name])
        else:
            assert "AlignUnsupportedLPConvFQPrecision" in got[name], (name, got[name])
            assert "Convolution input precision should be single" in got[name], (name, got[name])
