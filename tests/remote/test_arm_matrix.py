"""The README's ARM matrix rows (benchmarks/arm_matrix.py), a bounded set: the trained digits M0 (32x32)
x {FP32, FP16, INT8} x {ai-edge-litert, tflite-runtime 2.14} for aarch64, run on the emulated device.

Each row: the aarch64 build loads the edgekit export, runs it, and its outputs on the stored reference
inputs match PyTorch within the x86 bounds (FP32 <= 1e-4 x output scale, FP16 <= 1e-2; INT8: cosine and
top-1 agreement). The whole zoo at 224 is `python benchmarks/arm_matrix.py` (minutes under qemu).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.remote


@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_matrix_row(arm_matrix, aarch64_device, digits_tflite, precision, runtime):
    cell = arm_matrix.row(aarch64_device, runtime, digits_tflite[precision])
    assert cell["loads"] and cell["runs"], cell.get("error")
    assert cell["machine"] == "aarch64" and cell["emulated"]
    dist = "ai-edge-litert" if runtime == "litert" else "tflite-runtime"
    assert cell["version"] == aarch64_device.runtimes[runtime]["packages"][dist]
    p = cell["parity"]
    assert p["n_inputs"] == 2
    if precision == "fp32":
        assert p["rel_max_abs_diff"] <= 1e-4 and p["top1_agreement"] == 1.0
    elif precision == "fp16":
        assert p["rel_max_abs_diff"] <= 1e-2 and p["top1_agreement"] == 1.0
    else:
        assert p["tolerance"] is None and p["cosine"] > 0.98 and p["top1_agreement"] == 1.0
    # the same kernels' answer on x86 (the export machine's runtime) is close too
    assert p["vs_export_runtime"]["rel_max_abs_diff"] <= (1e-4 if precision == "fp32" else 5e-2)


def test_compat_tflite_runtime_2_14_holds_for_the_files_it_loads(digits_tflite):
    """`--compat tflite-runtime==2.14`: the table says yes for the exports the matrix shows loading on
    tflite-runtime 2.14 aarch64, and no (one line naming the op) for a version below their CONV_2D v6."""
    from edgekit.analysis.runtime_compat import check_compat
    from edgekit.errors import EdgekitError

    for precision, f in digits_tflite.items():
        need = check_compat(f, "tflite-runtime==2.14")
        assert need["min_tflite_runtime"] == "2.9.0" and need["min_because"] == ["CONV_2D v6"], precision
        if precision == "fp32":  # the converter's own answer agrees (the quantizers may not rewrite it)
            assert need["converter_min_runtime_version"] == need["min_tflite_runtime"]
        with pytest.raises(EdgekitError, match=r"cannot be loaded by tflite-runtime 2.8: CONV_2D v6 needs 2.9.0$"):
            check_compat(f, "tflite-runtime==2.8")


def test_inspect_states_runtime_minimums(tiny_onnx, digits_tflite):
    import json
    import subprocess
    import sys

    def inspect(path):
        proc = subprocess.run([sys.executable, "-m", "edgekit", "inspect", str(path), "--json"], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["runtime_compat"]

    onnx_need = inspect(tiny_onnx)  # IR 8, opset 17
    assert (onnx_need["ir_version"], onnx_need["opsets"], onnx_need["min_onnxruntime"]) == (8, {"ai.onnx": 17}, "1.13")
    assert inspect(digits_tflite["fp32"])["min_tflite_runtime"] == "2.9.0"


def test_export_compat_for_another_format_is_one_line(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "edgekit", "export", "micronet-m0", "--target", "onnx", "--compat",
                           "tflite-runtime==2.14", "-o", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --compat tflite-runtime==2.14 is about tflite files; this export makes onnx"]
    assert not any(tmp_path.iterdir())
