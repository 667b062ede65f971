"""FP32 files of the trained digits model for the three targets, made once per session.

The FP32 files are produced here directly (torch.onnx.export, openvino.convert_model on that ONNX,
litert_torch.convert) so the quantizers are tested on their own, independent of the export pipeline.
"""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits(digits_fixture):
    from edgekit.calibration import load_calibration
    from edgekit.models.source import load_model

    f = digits_fixture
    model, card = load_model(f["model"], weights=f["weights"], input_size=f["input_size"])
    x_cal, _ = load_calibration(f["train"], card, size=128, seed=0)
    x_test, y_test = load_calibration(f["test"], card)
    return {**f, "model": model, "card": card, "calib": x_cal, "x": x_test, "y": y_test}


@pytest.fixture(scope="session")
def fp32_onnx(digits, tmp_path_factory):
    import warnings

    import torch

    path = tmp_path_factory.mktemp("onnx") / "digits_fp32.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(digits["model"].eval(), (torch.from_numpy(digits["x"][:1]),), str(path), dynamo=False,
                          opset_version=18, input_names=["input"], output_names=["logits"])
    return path


@pytest.fixture(scope="session")
def fp32_openvino(fp32_onnx):
    import openvino as ov

    return ov.convert_model(str(fp32_onnx))


@pytest.fixture(scope="session")
def fp32_tflite(digits):
    import os

    import torch

    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    import litert_torch

    edge = litert_torch.convert(digits["model"].eval(), (torch.from_numpy(np.ascontiguousarray(digits["x"][:1])),))
    return bytes(edge.model_content())
