"""Video zoo through `export_model` on the real runtimes, at small clips (3×4×32×32).

LiteRT: one XNNPACK partition and nothing on the default kernels, FP32 and INT8 (calibrated on an
.npz of uint8 clips), N,T,H,W,C input without a TRANSPOSE; every runtime: FP32 parity ≤ 1e-4 ×
output scale and graph MAdds == model MAdds (frames convolutions run as a batch of T).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from edgekit.exporters.pipeline import export_model  # noqa: E402

CLIP = "3,4,32,32"


def one(model, target, out, **kw) -> dict:
    (e,) = export_model(model, target, input_shape=CLIP, out=out, n_parity=4, **kw).exports
    return {**e.meta, "file": e.file}


def check_fp32(meta, frames: bool = True):
    assert meta["parity"]["rel_max_abs_diff"] <= 1e-4 and meta["parity"]["ok"]
    assert meta["madds"]["graph_madds"] == meta["madds"]["conv_madds"]  # the rewrite adds no MAdds
    rewrites = {r["name"]: r["changed"] for r in meta["rewrites"]}
    if frames:
        assert rewrites["conv3d_to_frames"] > 0 and rewrites["keep_frames_layout"] > 0
    else:  # OpenVINO runs Conv3D natively, faster than the frames form (frames_layout.KEEPS_CONV3D)
        assert "conv3d_to_frames" not in rewrites and rewrites["fold_batchnorm"] > 0


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "clips.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (8, 4, 40, 48, 3), dtype=np.uint8), y=np.arange(8) % 3)
    return path


def test_litert_fp32_nthwc_and_int8_fully_delegated(tmp_path, clips):
    pytest.importorskip("ai_edge_litert")
    from edgekit.analysis.census_tflite import census

    fp32 = one("c3d-small", "tflite", tmp_path / "fp32", nhwc=True)
    check_fp32(fp32)
    assert fp32["inputs"][0]["shape"] == [1, 4, 32, 32, 3]  # N,T,H,W,C
    c = census(fp32["file"])
    assert (c["delegate"]["partitions"], c["delegate"]["default_kernel_ops"]) == (1, 0)
    assert c["ops"]["CONV_2D"] == 3 and "CONV_3D" not in c["ops"] and "TRANSPOSE" not in c["ops"]
    assert c["graph_madds"] == fp32["madds"]["conv_madds"] == 26_548_544

    int8 = one("c3d-small", "tflite", tmp_path / "int8", precision="int8", calib=str(clips))
    c8 = census(int8["file"])
    assert (c8["delegate"]["partitions"], c8["delegate"]["default_kernel_ops"]) == (1, 0)
    assert int8["parity"]["inputs"] == "calibration data" and int8["parity"]["cosine"] > 0.99


def test_litert_strided_taps_over_16_frames_stay_delegated(tmp_path):
    """A temporal stride over 16 frames must not become a 6+-input CONCATENATION (XNNPACK refuses it)."""
    pytest.importorskip("ai_edge_litert")
    from edgekit.analysis.census_tflite import census

    (e,) = export_model("s3d-small", "tflite", input_shape="3,16,16,16", out=tmp_path, n_parity=2).exports
    d = census(e.file)["delegate"]
    assert (d["partitions"], d["default_kernel_ops"]) == (1, 0) and e.meta["parity"]["rel_max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("model,target", [("s3d-small", "onnx"), ("tan-small", "openvino")])
def test_fp32_parity_and_graph_madds(model, target, tmp_path):
    pytest.importorskip({"onnx": "onnxruntime", "openvino": "openvino"}[target])
    check_fp32(one(model, target, tmp_path), frames=target != "openvino")
