"""`edgekit eval` on the trained digits fixture: PyTorch model, exported file, image folder, bad input."""

import json
import warnings

import numpy as np
import pytest

from cli_helpers import run_in_process as run


@pytest.fixture(scope="module")
def digits_onnx(digits_fixture, tmp_path_factory):
    """The fixture exported to ONNX with a sidecar carrying its card (as `edgekit export` writes one)."""
    import torch

    from edgekit.artifact import sidecar_path
    from edgekit.models.source import load_model

    f = digits_fixture
    model, card = load_model(f["model"], weights=f["weights"], input_size=f["input_size"])
    path = tmp_path_factory.mktemp("eval") / "digits.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False, input_names=["input"])
    sidecar_path(path).write_text(json.dumps({"card": card.to_dict(), "precision": "fp32"}))
    return path


def test_eval_pytorch_model_json(capsys, digits_fixture):
    f = digits_fixture
    code, out, _ = run(capsys, "eval", f["model"], "--weights", f["weights"], "--input-size", "32",
                       "--data", f["test"], "--json")
    assert code == 0
    r = json.loads(out)
    assert r["runtime"] == "pytorch" and r["n"] == 449
    assert r["top1"] == pytest.approx(f["test_top1"])
    assert r["top5"] >= r["top1"] and r["top1"] > 90


def test_eval_exported_file_on_its_runtime(capsys, digits_fixture, digits_onnx):
    code, out, _ = run(capsys, "eval", str(digits_onnx), "--data", digits_fixture["test"], "--json")
    assert code == 0
    r = json.loads(out)
    assert r["runtime"] == "onnxruntime" and r["card_from"] == "sidecar" and r["n"] == 449
    assert abs(r["top1"] - digits_fixture["test_top1"]) <= 0.25  # FP32 file: same predictions (±1 tie)
    code, out, _ = run(capsys, "eval", str(digits_onnx), "--data", digits_fixture["test"], "--size", "100")
    assert code == 0 and "onnxruntime: top-1" in out and "/100)" in out


def test_eval_image_folder_matches_npz(capsys, digits_fixture, tmp_path):
    from PIL import Image

    d = np.load(digits_fixture["test"])
    idx = np.concatenate([np.flatnonzero(d["y"] == k)[:4] for k in range(10)])  # 4 of each digit
    x, y = d["x"][idx], d["y"][idx]
    for i, (img, label) in enumerate(zip(x, y)):
        (tmp_path / "imgs" / f"{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "imgs" / f"{label}" / f"{i}.png")
    np.savez(tmp_path / "same.npz", x=x, y=y)
    (tmp_path / "imgs" / "README.txt").write_text("not an image")
    f = digits_fixture
    common = ("eval", f["model"], "--weights", f["weights"], "--input-size", "32", "--json", "--data")
    code, out, _ = run(capsys, *common, str(tmp_path / "same.npz"))
    ref = json.loads(out)
    assert code == 0
    code, out, _ = run(capsys, *common, str(tmp_path / "imgs"))
    got = json.loads(out)
    # folders 0..9 sort as the digits, so folder index == label; png is lossless → same numbers
    assert code == 0
    assert (got["n"], got["correct1"], got["skipped_files"]) == (40, ref["correct1"], 1)


def test_eval_bad_input_is_one_line(capsys, digits_fixture, digits_onnx, tmp_path):
    f = digits_fixture
    np.savez(tmp_path / "nolabels.npz", x=np.load(f["test"])["x"][:5])
    np.savez(tmp_path / "biglabels.npz", x=np.load(f["test"])["x"][:5], y=np.full(5, 42))
    (tmp_path / "empty").mkdir()
    cases = [
        (("eval", str(digits_onnx), "--data", str(tmp_path / "nolabels.npz")), "has no labels"),
        (("eval", str(digits_onnx), "--data", str(tmp_path / "biglabels.npz")), "labels go up to 42"),
        (("eval", str(digits_onnx), "--data", str(tmp_path / "empty")), "is empty"),
        (("eval", str(digits_onnx), "--data", str(tmp_path / "missing.npz")), "not found"),
        (("eval", f["weights"], "--data", f["test"]), "is a checkpoint"),
        (("eval", "micronet-m9", "--data", f["test"]), "unknown model"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
