"""`edgekit eval FILE --data val.npz --ssh` for a task beyond top-1: the research line's TCN (one feature-sequence
input, two outputs, decoded by its card into detections) runs on the emulated aarch64 board's LiteRT through the
loopback sshd, and its mAP equals the one computed here from the same file on x86."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.remote


@pytest.fixture(scope="module")
def tcn_tflite(tmp_path_factory):
    from edgekit.exporters.pipeline import export_model

    out = tmp_path_factory.mktemp("tcn")
    meta = export_model("tcn-small", "tflite", out=out).exports[0].meta
    return meta, out / meta["file"]


def test_arm_matrix_row_of_a_two_output_model(aarch64_device, tcn_tflite):
    """The ARM matrix cell (benchmarks/arm_matrix.row) feeds the board a several-input reference set by name and
    compares every output: TCN's two outputs on the board's LiteRT within FP32 tolerance of PyTorch."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from arm_matrix import row

    cell = row(aarch64_device, "litert", tcn_tflite[1])
    assert cell["loads"] and cell["machine"] == "aarch64", cell
    p = cell["parity"]
    assert p["ok"] and p["rel_max_abs_diff"] < 1e-5 and list(p["outputs"]) == ["scores", "ranking"], p


def test_detection_map_on_the_board_equals_the_one_here(sshd, aarch64_device, tcn_tflite, tmp_path):
    from tests.models.test_research_line import _ground_truth

    from edgekit.analysis.metrics.decode import decode

    meta, path = tcn_tflite
    with np.load(path.parent / meta["reference"]["file"]) as z:
        inputs = {k[2:]: np.concatenate(list(z[k])) for k in z.files if k.startswith("x:")}
        torch_out = {k[2:]: np.concatenate(list(z[k])) for k in z.files if k.startswith("y:")}
    np.savez(tmp_path / "val.npz", **inputs, **_ground_truth("tcn-small", decode(torch_out, meta["card"]["extra"]["task"])))

    def run(*extra, env=None):
        proc = subprocess.run([sys.executable, "-m", "edgekit", "eval", str(path), "--data", str(tmp_path / "val.npz"),
                               "--json", *extra], capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    here = run()
    board = run("--ssh", sshd.target, "--ssh-key", str(sshd.key), env=sshd.env(aarch64_device.python("litert")))
    assert here["where"] == "local" and board["where"] == "ssh" and board["task"] == "detection-1d"
    assert board["device"]["host"]["machine"] == "aarch64" and board["device"]["emulated"]
    assert board["n"] == here["n"] == 2
    for k in ("mAP@0.5", "mAP@0.5:0.95", "detections"):
        assert board["metrics"][k] == pytest.approx(here["metrics"][k], abs=1e-6), (board["metrics"], here["metrics"])
    assert here["metrics"]["mAP@0.5"] > 25.0  # the ground truth holds the model's best detection of each video
