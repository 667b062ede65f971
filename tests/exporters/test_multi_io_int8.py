"""INT8 of models with several inputs and outputs on all four targets (issues 21 + 24).

The model is user-style: a float image and int64 token ids in, a dict of two outputs (class logits and
a dense map) out. INT8 with per-input calibration keeps names, order and the int64 ids; `--int8-io`
makes every float boundary 8-bit and leaves the ids alone; `--max-drop` watches every output, so a
layer that only ruins the second one is caught. Loadable as `tests/exporters/test_multi_io_int8.py:FACTORY`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__)
INPUTS = ["image=3,32,32", "tokens=8:int64"]
VOCAB = 50


class ImageText(nn.Module):
    """forward(image, tokens) -> {"logits", "dense"}. `ruin_second`: the dense head's conv also reads a
    constant channel of 500 that its weights ignore: exact in float, but an 8-bit grid over [0, 500] has
    steps of ~2, which zeroes the real features of that conv's input (and so the second output only)."""

    def __init__(self, ruin_second: bool = False):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.emb = nn.Embedding(VOCAB, 32)
        self.cls = nn.Linear(32, 10)
        self.head = nn.Conv2d(32, 8, 1)
        self.ruin_second = ruin_second
        self.bad = nn.Conv2d(9 if ruin_second else 8, 2, 1)
        if ruin_second:
            with torch.no_grad():
                self.bad.weight[:, 8] = 0.0

    def forward(self, image, tokens):
        f = self.body(image)
        q = torch.tanh(self.emb(tokens).mean(1))
        logits = self.cls(f.mean((2, 3)) + q)
        h = F.relu(self.head(f * (1 + q[:, :, None, None])))
        if self.ruin_second:
            h = torch.cat([h, torch.full_like(h[:, :1], 500.0)], 1)
        return {"logits": logits, "dense": self.bad(h)}


def image_text():
    torch.manual_seed(0)
    return ImageText()


def image_text_ruined():
    torch.manual_seed(0)
    return ImageText(ruin_second=True)


def _export(factory, target, out, **kw):
    from edgekit.exporters.pipeline import export_model

    kw = {"inputs": INPUTS, "precision": "int8", "calib": "synthetic", "calib_size": 32, "int8_search": False,
          "condition": True, "n_parity": 4, **kw}
    return export_model(f"{HERE}:{factory}", target, out=out, **kw)


def _model(factory="image_text"):
    from edgekit.models.source import load_model

    model, card = load_model(f"{HERE}:{factory}", inputs=INPUTS, condition_user=True)
    return model.eval(), card.io


def _file_dtypes(path: Path) -> list[str]:
    """The inputs' dtypes as the file itself stores them (the format's own library, not edgekit's runner)."""
    if path.suffix == ".onnx":
        import onnx
        from onnx import helper

        return [np.dtype(helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)).name
                for i in onnx.load(str(path)).graph.input]
    if path.suffix == ".xml":
        import openvino as ov

        return [np.dtype(p.get_element_type().to_dtype()).name for p in ov.Core().read_model(str(path)).inputs]
    if path.suffix == ".tflite":
        from ai_edge_litert import interpreter

        return [np.dtype(d["dtype"]).name for d in interpreter.Interpreter(model_path=str(path)).get_input_details()]
    from edgekit.runtimes.base import open_runner  # a .pte stores its method's input dtypes

    return [s.dtype for s in open_runner(path).inputs()]


@pytest.mark.parametrize("target", ["onnx", "tflite", "openvino", "executorch"])
def test_int8_on_every_target_keeps_io_and_ids(tmp_path, target):
    """Names and order kept, the ids untouched (int64 in the file; LiteRT's converter stores ids as int32,
    as its FP32 file does, never quantized), every output within 0.98 cosine of PyTorch on held-out inputs."""
    from edgekit.analysis.parity import measure_parity_io
    from edgekit.analysis.sample_inputs import sample_set
    from edgekit.runtimes.base import open_runner

    result = _export("image_text", target, tmp_path)
    meta = result.exports[0].meta
    assert [s["name"] for s in meta["inputs"]] == ["image", "tokens"]
    assert [s["name"] for s in meta["outputs"]] == ["logits", "dense"]
    assert _file_dtypes(result.file) == ["float32", "int32" if target == "tflite" else "int64"]
    assert meta["inputs"][1].get("quantization") is None
    assert meta["quantization"]["calib_samples"] == 32 and meta["quantization"]["n_int8"] >= 3
    model, io = _model()
    held_out = sample_set(io, 6, seed=1)  # random + structured per input kind, not the calibration samples
    parity = measure_parity_io(model, open_runner(result.file), io, n=6, precision="int8", samples=held_out)
    for name, p in parity["outputs"].items():
        assert p["cosine"] >= 0.98, (target, name, p)


def test_float_and_int8_tflite_of_one_model_keep_the_same_order(tmp_path):
    from ai_edge_litert import interpreter

    fp32 = _export("image_text", "tflite", tmp_path / "fp32", precision="fp32", calib=None)
    int8 = _export("image_text", "tflite", tmp_path / "int8")
    order = []
    for r in (fp32, int8):
        it = interpreter.Interpreter(model_path=str(r.file))
        order.append(([d["name"] for d in it.get_input_details()], [d["name"] for d in it.get_output_details()]))
    assert order[0] == order[1] == (["image", "tokens"], ["logits", "dense"])


@pytest.mark.parametrize("target,int_type", [("onnx", "uint8"), ("tflite", "int8"), ("openvino", "int8")])
def test_int8_io_per_name(tmp_path, target, int_type):
    """--int8-io: the image and both outputs 8-bit with their own scale / zero point (sidecar, runner), the
    token ids int64. Fed the quantized image, the integer-I/O file's dequantized outputs match the float-I/O
    INT8 file's (fed the same values in float) within one quantization step of each output."""
    from edgekit.analysis.parity import dequantize, quantize
    from edgekit.analysis.sample_inputs import sample_set
    from edgekit.runtimes.base import open_runner

    float_io = _export("image_text", target, tmp_path / "f")
    int_io = _export("image_text", target, tmp_path / "i", int8_io=True)
    spec = int_io.exports[0].meta["quantization"]["io"]
    ids = "int32" if target == "tflite" else "int64"  # LiteRT stores ids as int32 in its float file too
    assert [e["name"] for e in spec["inputs"]] == ["image", "tokens"]
    assert [e["dtype"] for e in spec["inputs"]] == [int_type, ids] and spec["inputs"][1]["scale"] is None
    assert [e["name"] for e in spec["outputs"]] == ["logits", "dense"]
    assert all(e["dtype"] == int_type and e["scale"] > 0 for e in spec["outputs"])
    assert _file_dtypes(int_io.file) == [int_type, ids]
    r_int, r_float = open_runner(int_io.file), open_runner(float_io.file)
    ins, outs = r_int.inputs(), r_int.outputs()
    assert [s.dtype for s in ins] == [int_type, ids] and ins[1].quantization is None
    assert ins[0].quantization == (spec["inputs"][0]["scale"], spec["inputs"][0]["zero_point"])
    assert [s.quantization for s in outs] == [(e["scale"], e["zero_point"]) for e in spec["outputs"]]
    _, io = _model()
    for image, tokens in sample_set(io, 4, seed=1):
        q = quantize(image, *ins[0].quantization, np.dtype(int_type))
        got = r_int.run(q, tokens)
        want = r_float.run(dequantize(q, *ins[0].quantization), tokens)
        for y, w, s in zip(got, want, outs):
            assert y.dtype == np.dtype(int_type)
            assert np.abs(dequantize(y, *s.quantization) - w).max() <= s.quantization[0] * 1.01, s.name
    for p in int_io.exports[0].meta["parity"]["outputs"].values():
        assert p["cosine"] > 0.98


@pytest.mark.parametrize("target", ["onnx", "openvino", pytest.param("tflite", marks=pytest.mark.slow),
                                    pytest.param("executorch", marks=pytest.mark.slow)])
def test_max_drop_watches_the_second_output(tmp_path, target):
    """Only the second output ("dense") degrades in INT8 (see ImageText.ruin_second): the first output's
    error is small, so a signal on output 0 alone would pass. The policy's signal is the worst per-output
    error against each output's own scale: it keeps the conv that ruins "dense" float, and "dense" recovers."""
    plain = _export("image_text_ruined", target, tmp_path / "plain")
    budget = _export("image_text_ruined", target, tmp_path / "budget", max_drop=5.0)
    before = plain.exports[0].meta["parity"]["outputs"]
    after = budget.exports[0].meta["parity"]["outputs"]
    assert before["logits"]["rel_max_abs_diff"] < 0.05 and before["dense"]["rel_max_abs_diff"] > 0.2, before
    q = budget.exports[0].meta["quantization"]
    kept = [L for L in q["layers"] if L["name"] in q["kept_float_for_accuracy"]]

    def is_bad(L):  # named after the module where the converter keeps names, else known by its input, the concat
        return "bad" in L["name"] + L.get("scope", "") or any("cat" in i.lower() for i in L.get("inputs", []))

    assert kept and any(is_bad(L) for L in kept), kept
    assert "output fidelity" in q["accuracy"]["metric"]
    if target == "executorch":  # XNNPACKQuantizer still quantizes the concatenation in front of the float conv
        return  # (a cat is annotated on its own), so the policy finds the conv but "dense" does not recover there
    assert q["accuracy"]["within_budget"]
    assert after["dense"]["rel_max_abs_diff"] < 0.05, after


def _calib(path, n=32, **override):
    rng = np.random.default_rng(0)
    arrays = {"image": rng.standard_normal((n, 3, 32, 32)).astype(np.float32),
              "tokens": rng.integers(0, VOCAB, (n, 8))}
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("override,needles", [
    ({"tokens": None}, ["no array for input 'tokens'"]),
    ({"extra": np.zeros((32, 3), np.float32)}, ["array 'extra' names no input"]),
    ({"image": np.zeros((30, 3, 32, 32), np.float32)}, ["different sample counts (image 30, tokens 32)"]),
    ({"tokens": np.zeros((32, 8), np.float32)}, ["input 'tokens' is int64 (ids), its array is float32"]),
])
@pytest.mark.parametrize("flags", [["--target", "openvino"], ["--target", "onnx", "--int8-io", "--max-drop", "2"]])
def test_bad_calibration_is_one_line_and_writes_nothing(tmp_path, override, needles, flags):
    from cli_helpers import assert_user_error, run_cli

    out = tmp_path / "out"
    proc = run_cli("export", f"{HERE}:image_text", "--input", INPUTS[0], "--input", INPUTS[1], *flags, "--int8",
                   "--calib", _calib(tmp_path / "calib.npz", **override), "-o", out)
    assert_user_error(proc, *needles)
    assert not out.exists()


@pytest.mark.parametrize("target, precision", [("tflite", "int8"), ("onnx", "fp32"), ("openvino", "fp32")])
def test_nhwc_with_several_inputs(tmp_path, target, precision):
    """--nhwc on a several-input model: the image goes channels-last (1, 32, 32, 3), the token ids keep (1, 8);
    names, order and per-output parity hold, INT8 calibrates the channels-last image from NCHW data."""
    from edgekit.analysis.parity import measure_parity_io
    from edgekit.analysis.sample_inputs import sample_set
    from edgekit.runtimes.base import open_runner

    fp32 = {"calib": None, "calib_size": None} if precision == "fp32" else {}
    result = _export("image_text", target, tmp_path, nhwc=True, precision=precision, **fp32)
    meta = result.exports[0].meta
    runner = open_runner(result.file)
    assert [(s.name, tuple(s.shape)) for s in runner.inputs()] == [("image", (1, 32, 32, 3)), ("tokens", (1, 8))]
    assert [s.name for s in runner.outputs()] == ["logits", "dense"] and meta["layout"] == "nhwc"
    model, io = _model()
    parity = measure_parity_io(model, runner, io, n=4, precision=precision, samples=sample_set(io, 4, seed=1))
    for name, p in parity["outputs"].items():
        if precision == "fp32":
            assert p["rel_max_abs_diff"] <= 1e-4, (name, p)
        else:
            assert p["cosine"] >= 0.98, (name, p)
