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
