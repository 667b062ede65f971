"""Several inputs, several outputs: names and order kept by every target, parity per output.

The models are user-style (tests/exporters/multi_io_models.py): a two-output detector, a five-input
motion-boundary refiner returning a dict, and a video + int64 token-id retrieval model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import assert_user_error, run_cli

MODELS = Path(__file__).with_name("multi_io_models.py")
REFINE_INPUTS = ["image0=3,32,32", "image1=3,32,32", "flow_fw=2,32,32", "flow_bw=2,32,32", "warp_error=2,32,32"]


def _export(factory, target, tmp_path, **kw):
    from edgekit.exporters.pipeline import export_model

    return export_model(f"{MODELS}:{factory}", target, out=tmp_path, **kw)


def _graph_names(path: Path) -> tuple[list[str], list[str]]:
    """The names stored in the file itself, read with the format's own library (not edgekit's runner)."""
    if path.suffix == ".onnx":
        import onnx

        g = onnx.load(str(path)).graph
        return [i.name for i in g.input], [o.name for o in g.output]
    if path.suffix == ".tflite":
        from ai_edge_litert import interpreter

        sig = interpreter.Interpreter(model_path=str(path)).get_signature_list()["serving_default"]
        return sorted(sig["inputs"]), sorted(sig["outputs"])  # a signature map is keyed, not ordered
    if path.suffix == ".xml":
        import openvino as ov

        m = ov.Core().read_model(str(path))
        return [p.get_node().get_friendly_name() for p in m.inputs], [p.get_any_name() for p in m.outputs]
    raise AssertionError(path)


def test_two_outputs_every_target(tmp_path):
    result = _export("detector", "all", tmp_path, input_shape="3,64,64")
    targets = {e.target for e in result.exports}
    assert targets == {"onnx", "tflite", "openvino", "executorch"}
    for e in result.exports:
        meta = e.meta
        assert [s["name"] for s in meta["inputs"]] == ["input"]
        assert [s["name"] for s in meta["outputs"]] == ["output_0", "output_1"]
        assert [s["shape"] for s in meta["outputs"]] == [[1, 5, 16, 16], [1, 4, 16, 16]]
        parity = meta["parity"]
        assert set(parity["outputs"]) == {"output_0", "output_1"}
        for name, p in parity["outputs"].items():
            assert p["rel_max_abs_diff"] <= 1e-4, (e.target, name, p)
            assert p["output_scale"] > 1e-3  # each output against its own, non-trivial scale
        assert parity["ok"] is True
        if e.target != "executorch":  # a .pte stores no names (its method order is checked by shape)
            names_in, names_out = _graph_names(e.file)
            assert sorted(names_out) == ["output_0", "output_1"] and names_in == ["input"]
    reference = np.load(str(result.exports[0].file) + ".edgekit.ref.npz")
    assert list(reference["output_names"]) == ["output_0", "output_1"]
    assert reference["x:input"].shape == (2, 1, 3, 64, 64)


@pytest.mark.slow  # CI keeps the 5-input model in the float/INT8 TFLite order test and the CLI error tests
def test_five_inputs_and_a_dict_of_outputs(tmp_path):
    result = _export("refine", "all", tmp_path, inputs=REFINE_INPUTS)
    names = ["image0", "image1", "flow_fw", "flow_bw", "warp_error"]
    for e in result.exports:
        assert [s["name"] for s in e.meta["inputs"]] == names, e.target
        assert [s["shape"][1] for s in e.meta["inputs"]] == [3, 3, 2, 2, 2]
        assert [s["name"] for s in e.meta["outputs"]] == ["boundary", "flow"]
        assert max(p["rel_max_abs_diff"] for p in e.meta["parity"]["outputs"].values()) <= 1e-4, e.target
        assert e.meta["io"]["inputs"][2]["kind"] == "image"  # 2,H,W floats: an image-like input by default
        if e.target != "executorch":
            got_in, got_out = _graph_names(e.file)
            assert (got_in if e.target != "tflite" else got_in) == (names if e.target != "tflite" else sorted(names))
            assert sorted(got_out) == ["boundary", "flow"]


def test_int64_token_ids_stay_integer(tmp_path):
    result = _export("retrieval", "all", tmp_path, inputs=["video=32,16", "tokens=6:int64"])
    for e in result.exports:
        ins = e.meta["inputs"]
        assert [s["name"] for s in ins] == ["video", "tokens"]
        assert ins[1]["dtype"] in ("int64", "int32"), e.target  # LiteRT stores ids as int32 (no x64)
        assert e.meta["io"]["inputs"][1]["range"] == [0, 100]  # the Embedding's vocabulary
        assert [s["name"] for s in e.meta["outputs"]] == ["output_0", "output_1"]
        assert e.meta["parity"]["ok"], e.target
    ref = np.load(str(result.exports[0].file) + ".edgekit.ref.npz")
    tokens = ref["x:tokens"]
    assert tokens.dtype == np.int64 and tokens.min() >= 0 and tokens.max() < 100


def test_runner_order_matches_the_spec_after_conversion(tmp_path):
    """The check after conversion: a file whose names/order differ from the spec fails the export."""
    from edgekit.errors import EdgekitError
    from edgekit.exporters.pipeline import check_io
    from edgekit.models.io_spec import InputSpec, IOSpec, OutputSpec
    from edgekit.runtimes.base import open_runner

    result = _export("retrieval", "onnx", tmp_path, inputs=["video=32,16", "tokens=6:int64"])
    runner = open_runner(result.file)
    good = IOSpec((InputSpec("video", (32, 16)), InputSpec("tokens", (6,), "int64")),
                  (OutputSpec("output_0"), OutputSpec("output_1")))
    check_io("onnx", good, runner)
    swapped = IOSpec(tuple(reversed(good.inputs)), good.outputs)
    with pytest.raises(EdgekitError, match=r"converted file's I/O is \(video, tokens\)"):
        check_io("onnx", swapped, runner)


@pytest.mark.parametrize("args,needles", [
    (["--input", "image0=3,32,32", "--input", "fl0w=2,32,32"], ["no parameter 'fl0w'"]),
    (["--input", "image0=3,32,32"], ["also needs image1"]),
    (["--input-shape", "3,32,32"], ["forward() takes 5 inputs"]),
    (["--input", "image0=3,32", "--input", "image1=3,32,32", "--input", "flow_fw=2,32,32", "--input",
      "flow_bw=2,32,32", "--input", "warp_error=2,32,32"], ["cannot run on"]),
    (["--input", "image0=3,32,32:float64"], ["dtype 'float64'"]),
])
def test_bad_inputs_are_one_line(tmp_path, args, needles):
    proc = run_cli("export", f"{MODELS}:refine", *args, "--target", "onnx", "-o", tmp_path)
    assert_user_error(proc, *needles)
    assert not any(tmp_path.iterdir())


def test_missing_second_input_of_a_two_input_model_is_one_line(tmp_path):
    proc = run_cli("export", f"{MODELS}:retrieval", "--input-shape", "32,16", "--target", "tflite", "-o", tmp_path)
    assert_user_error(proc, "forward() takes 2 inputs (video, tokens)")
    assert not any(tmp_path.iterdir())


def test_cli_json_names_every_output(tmp_path):
    proc = run_cli("export", f"{MODELS}:detector", "--input-shape", "3,32,32", "--target", "onnx", "-o", tmp_path,
                   "--json")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(proc.stdout)["exports"][0]
    assert list(meta["parity"]["outputs"]) == ["output_0", "output_1"]


def test_benchmark_model_gets_every_input_layer(tmp_path):
    """`bench --adb` of a several-input .tflite: benchmark_model's --input_layer flags from the sidecar,
    token ids inside the Embedding's table (inclusive bounds), shell-quoted like every other argument."""
    from edgekit.artifact import read_sidecar
    from edgekit.runtimes.remote import adb

    result = _export("retrieval", "tflite", tmp_path, inputs=["video=32,16", "tokens=6:int64"], n_parity=2)
    flags = adb.input_layer_args(read_sidecar(result.file))
    assert flags == ["--input_layer=video,tokens", "--input_layer_shape=1,32,16:1,6",
                     "--input_layer_value_range=tokens,0,99"]
    args = adb.benchmark_model_args("bm", "m.tflite", 1, 1, 5, None, flags)
    assert args[-3:] == flags
    single = _export("detector", "tflite", tmp_path, input_shape="3,32,32", n_parity=2)
    assert adb.input_layer_args(read_sidecar(single.file)) == []  # one input: benchmark_model feeds it itself


def test_condition_makes_an_untrained_user_model_meaningful(tmp_path):
    """--condition: BatchNorm statistics from data, as the zoo's: each BatchNorm then normalises what it
    sees (mean ~0, std ~1 over new random inputs), which default statistics (0, 1) do not; the card says so."""
    import torch

    from edgekit.models.source import load_model

    def bn_stats(model):
        seen = []
        hooks = [m.register_forward_hook(lambda m, i, o: seen.append((float(o.mean()), float(o.std()))))
                 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        with torch.no_grad():
            model(torch.randn(16, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
        for h in hooks:
            h.remove()
        return seen

    plain, card_plain = load_model(f"{MODELS}:detector", input_shape="3,64,64")
    cond, card_cond = load_model(f"{MODELS}:detector", input_shape="3,64,64", condition_user=True)
    assert "weights" not in card_plain.extra and card_cond.extra["weights"].endswith("(--condition)")
    for mean, std in bn_stats(cond):
        assert abs(mean) < 0.1 and abs(std - 1) < 0.1
    assert any(abs(std - 1) > 0.3 for _, std in bn_stats(plain))  # default statistics do not normalise
    result = _export("detector", "onnx", tmp_path, input_shape="3,64,64", n_parity=2, condition=True)
    assert result.exports[0].meta["card"]["extra"]["weights"].endswith("(--condition)")


def _retrieval_calib(path, n=32, **override):
    rng = np.random.default_rng(0)
    arrays = {"video": rng.standard_normal((n, 32, 16)).astype(np.float32), "tokens": rng.integers(0, 100, (n, 6))}
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("target", ["onnx", "tflite", pytest.param("executorch", marks=pytest.mark.slow)])
def test_int8_calibrated_per_input(tmp_path, target):
    """INT8 with one calibration array per input name; token ids stay integer (the lookup is not
    quantized); parity per output on the calibration distribution."""
    calib = _retrieval_calib(tmp_path / "calib.npz")
    result = _export("retrieval", target, tmp_path, inputs=["video=32,16", "tokens=6:int64"], precision="int8",
                     calib=str(calib), int8_search=False)
    meta = result.exports[0].meta
    assert meta["quantization"]["calib_samples"] == 32
    if target == "onnx":
        assert meta["census"]["ops"]["QuantizeLinear"] >= 2 and meta["census"]["ops"]["Gather"] == 1
    elif target == "tflite":  # the id lookup stays on LiteRT's int kernels, the rest in one XNNPACK partition
        assert meta["census"]["delegate"]["partitions"] == 1
        assert meta["census"]["delegate"]["default_kernel_by_type"].get("EMBEDDING_LOOKUP") == 1
        assert [s["name"] for s in meta["inputs"]] == ["video", "tokens"]
    else:  # both convs quantized per channel inside the one XNNPACK delegate; the embedding stays on ints
        assert meta["quantization"]["per_channel_weights"] == 2
        assert meta["census"]["delegate"]["partitions"] == 1
    assert [s["dtype"] for s in meta["inputs"]] == ["float32", "int32" if target == "tflite" else "int64"]
    assert meta["parity"]["inputs"] == "calibration data"
    for name, p in meta["parity"]["outputs"].items():
        assert p["cosine"] > 0.999, (name, p)  # measured 0.99987 / 0.99981 (ONNX), 0.99989 / 0.99990 (.pte)
        assert p["rel_max_abs_diff"] < 0.1


@pytest.mark.parametrize("override,needles", [
    ({"tokens": None}, ["no array for input 'tokens'"]),
    ({"extra": np.zeros((32, 3), np.float32)}, ["array 'extra' names no input"]),
    ({"video": np.zeros((30, 32, 16), np.float32)}, ["different sample counts (video 30, tokens 32)"]),
    ({"tokens": np.zeros((32, 6), np.float32)}, ["input 'tokens' is int64 (ids), its array is float32"]),
    ({"tokens": np.full((32, 6), 100)}, ["outside [0, 100)"]),
    ({"video": np.zeros((32, 16, 32), np.float32)}, ["'video' has samples of shape (16, 32)"]),
])
def test_bad_calibration_is_one_line(tmp_path, override, needles):
    calib = _retrieval_calib(tmp_path / "calib.npz", **override)
    out = tmp_path / "out"
    proc = run_cli("export", f"{MODELS}:retrieval", "--input", "video=32,16", "--input", "tokens=6:int64", "--target",
                   "onnx", "--int8", "--calib", calib, "-o", out)
    assert_user_error(proc, *needles)
    assert not out.exists()


def test_int8_io_of_several_inputs_on_a_target_without_it_is_one_line(tmp_path):
    """INT8 of such models now runs on all four targets and per-name --int8-io on ONNX, TFLite and OpenVINO
    (tests/exporters/test_multi_io_int8.py); an ExecuTorch program keeps float I/O."""
    calib = _retrieval_calib(tmp_path / "calib.npz")
    proc = run_cli("export", f"{MODELS}:retrieval", "--input", "video=32,16", "--input", "tokens=6:int64", "--target",
                   "executorch", "--int8", "--int8-io", "--calib", calib, "-o", tmp_path / "out")
    assert_user_error(proc, "--int8-io is not supported on executorch")
    assert not (tmp_path / "out").exists()


def test_float_and_int8_tflite_keep_the_same_io_order(tmp_path):
    """The converters' trackers' complaint: a float and an INT8 .tflite of one model with inputs and outputs in a
    different order. Five inputs, a dict of two outputs: the same names in the same order in both files,
    read from the interpreter (what a user's code indexes) and from the signature."""
    from ai_edge_litert import interpreter

    fp32 = _export("refine", "tflite", tmp_path / "fp32", inputs=REFINE_INPUTS, n_parity=2)
    int8 = _export("refine", "tflite", tmp_path / "int8", inputs=REFINE_INPUTS, n_parity=2, precision="int8",
                   calib="synthetic", calib_size=16, int8_search=False)
    order = []
    for r in (fp32, int8):
        it = interpreter.Interpreter(model_path=str(r.file))
        ins = [d["name"] for d in it.get_input_details()]
        outs = [d["name"] for d in it.get_output_details()]
        sig = it.get_signature_list()["serving_default"]
        assert sorted(sig["inputs"]) == sorted(ins) and sorted(sig["outputs"]) == sorted(outs)
        order.append((ins, outs))
    assert order[0] == order[1] == (["image0", "image1", "flow_fw", "flow_bw", "warp_error"], ["boundary", "flow"])
    assert int8.exports[0].meta["quantization"]["calib_samples"] == 16
