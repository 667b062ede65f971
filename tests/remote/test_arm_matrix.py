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
        assert need["unknown_op_versions"] == [], precision
        if precision == "fp32":  # the converter's own answer agrees (the quantizers may not rewrite it)
            assert need["converter_min_runtime_version"] == need["min_tflite_runtime"]
        with pytest.raises(EdgekitError, match=r"cannot be loaded by tflite-runtime 2.8: CONV_2D v6 needs 2.9.0$"):
            check_compat(f, "tflite-runtime==2.8")


def test_compat_ai_edge_litert(digits_tflite):
    """ai-edge-litert: every op version of these exports is in the runtime_version.cc of LiteRT's first release
    carrying one (1.1.0), so 1.1.0 on loads them (the matrix runs them on 2.3.0); 1.0.x is below the table
    (built from a TensorFlow commit whose TF Lite version its wheel does not state): refused, not guessed."""
    from edgekit.analysis.runtime_compat import check_compat
    from edgekit.errors import EdgekitError

    for precision, f in digits_tflite.items():
        need = check_compat(f, "ai-edge-litert==1.1.0")
        assert need["min_ai_edge_litert"] == "1.1.0", precision
        assert check_compat(f, "ai-edge-litert==2.3")["min_ai_edge_litert"] == "1.1.0"
        with pytest.raises(EdgekitError, match=r"^cannot tell whether ai-edge-litert 1.0.1 loads .*the table starts "
                                               r"at 1.1.0"):
            check_compat(f, "ai-edge-litert==1.0.1")


def test_inspect_states_runtime_minimums(tiny_onnx, digits_tflite):
    import json
    import subprocess
    import sys

    def inspect(path):
        proc = subprocess.run([sys.executable, "-m", "edgekit", "inspect", str(path), "--json"], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["runtime_compat"]

    onnx_need = inspect(tiny_onnx)  # IR 8, opset 17: onnxruntime 1.12 implements both (compatibility page)
    assert (onnx_need["ir_version"], onnx_need["opsets"], onnx_need["min_onnxruntime"]) == (8, {"ai.onnx": 17}, "1.12")
    tfl = inspect(digits_tflite["fp32"])
    assert (tfl["min_tflite_runtime"], tfl["min_ai_edge_litert"]) == ("2.9.0", "1.1.0")
    proc = subprocess.run([sys.executable, "-m", "edgekit", "inspect", str(digits_tflite["int8"])],
                          capture_output=True, text=True, timeout=300)
    assert "tflite-runtime / TF Lite >= 2.9.0 (CONV_2D v6); ai-edge-litert >= 1.1.0;" in proc.stdout


def test_export_compat_for_another_format_is_one_line(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "edgekit", "export", "micronet-m0", "--target", "onnx", "--compat",
                           "tflite-runtime==2.14", "-o", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --compat tflite-runtime==2.14 is about tflite files; this export makes onnx"]
    assert not any(tmp_path.iterdir())


def test_export_compat_ai_edge_litert(tmp_path):
    """--compat ai-edge-litert==X works like --compat tflite-runtime==2.14: checked on the converted file
    (written when it holds); a release below the table is refused in one line before any work."""
    import subprocess
    import sys

    from edgekit.exporters import pipeline

    r = pipeline.export_model("micronet-m0", "tflite", input_size=32, out=tmp_path / "ok", n_parity=2,
                              compat="ai-edge-litert==1.1.0")
    assert r.file.exists() and r.file.suffix == ".tflite"
    proc = subprocess.run([sys.executable, "-m", "edgekit", "export", "micronet-m0", "--target", "tflite", "--compat",
                           "ai-edge-litert==1.0.1", "-o", str(tmp_path / "old")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: cannot tell whether ai-edge-litert 1.0.1 loads a file: the table starts at 1.1.0 (the first release "
        "carrying its own runtime_version.cc); ask for >= 1.1.0 or --compat tflite-runtime==VERSION"]
    assert not (tmp_path / "old").exists() or not any((tmp_path / "old").iterdir())
