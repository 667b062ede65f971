"""The export pipeline end to end on the real ONNX Runtime: report numbers, atomicity, no clobbering."""

import json
import os
from pathlib import Path

import onnx
import pytest
import torch

from edgekit.artifact import read_sidecar, sidecar_path
from edgekit.errors import EdgekitError
from edgekit.exporters import base as exporters_base
from edgekit.exporters import pipeline
from edgekit.exporters.pipeline import artifact_stem, export_model, plan_paths
from edgekit.models.registry import create_model, get_card, list_models
from edgekit.models.conditioning import condition_batchnorm

SIZE = 64


def conditioned_weights(path: Path, name="micronet-m0", size=SIZE, seed=0) -> Path:
    """A checkpoint whose BatchNorm statistics come from data, as after training (logits O(1), not ~0)."""
    model = condition_batchnorm(create_model(name), (3, size, size), batches=3, seed=seed)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return conditioned_weights(tmp_path_factory.mktemp("w") / "m0.pth")


@pytest.fixture(scope="module")
def exported(weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    steps = []
    result = export_model("micronet-m0", "onnx", weights=weights, input_size=SIZE, out=out,
                          progress=lambda msg, done, total: steps.append((msg, done, total)))
    return result, out, steps


def test_files_sidecar_and_report(exported):
    result, out, steps = exported
    assert sorted(os.listdir(out)) == ["micronet-m0.onnx", "micronet-m0.onnx.edgekit.json",
                                       "micronet-m0.onnx.edgekit.ref.npz", "micronet-m0.onnx.report.md"]
    e = result.exports[0]
    assert e.file == out / "micronet-m0.onnx" and e.sidecar == sidecar_path(e.file)
    meta = read_sidecar(e.file)
    assert meta == json.loads(json.dumps(e.meta, default=str))
    for key in ("edgekit_version", "model", "source", "target", "precision", "file", "files", "size_bytes", "card",
                "madds", "rewrites", "parity", "census", "conversion_seconds", "layout", "inputs", "outputs"):
        assert key in meta, key
    assert (meta["target"], meta["precision"], meta["layout"], meta["file"]) == ("onnx", "fp32", "nchw", "micronet-m0.onnx")
    assert meta["size_bytes"] == e.file.stat().st_size
    assert meta["card"]["input_size"] == [3, SIZE, SIZE]
    assert meta["inputs"] == [{"name": "input", "shape": [1, 3, SIZE, SIZE], "dtype": "float32", "quantization": None}]
    assert meta["outputs"][0]["name"] == "logits" and meta["outputs"][0]["shape"] == [1, 1000]
    assert 0 < meta["conversion_seconds"] < 120
    assert [s[0] for s in steps] == ["loading model", "onnx: rewriting", "onnx: converting",
                                     "onnx: parity on the runtime", "onnx: census and MAdds", "done"]
    report = (out / "micronet-m0.onnx.report.md").read_text()
    assert "# Export report: micronet-m0" in report and "parity vs PyTorch" in report


def test_parity_within_tolerance(exported):
    p = exported[0].exports[0].meta["parity"]
    assert p["n_inputs"] == 8 and p["output_scale"] > 0.5
    assert p["rel_max_abs_diff"] <= 1e-4 and p["ok"]
    assert p["cosine"] > 0.99999 and p["top1_agreement"] == 1.0


def test_graph_madds_equal_model_madds_plus_overhead(exported):
    m = exported[0].exports[0].meta["madds"]
    assert m["conv_madds"] == 1_190_960  # MicroNet-M0 conv+linear at 64x64
    assert m["graph_madds"] == m["conv_madds"] + m["rewrite_overhead"]
    assert m["graph_matches_model"] is True


def test_metadata_in_the_file(exported):
    e = exported[0].exports[0]
    meta = {p.key: p.value for p in onnx.load(str(e.file)).metadata_props}
    assert meta["model"] == "micronet-m0" and meta["edgekit_version"] == e.meta["edgekit_version"]
    assert json.loads(meta["card"])["input_size"] == [3, SIZE, SIZE]
    assert json.loads(meta["madds"])["conv_madds"] == 1_190_960
    assert int(meta["graph_madds"]) == e.meta["madds"]["graph_madds"]


def test_rewritten_graph_has_no_gather_and_static_weights(exported):
    meta = exported[0].exports[0].meta
    c = meta["census"]
    assert meta["rewrite_status"] == "applied"
    assert c["gather"] == 0 and c["gather_nd"] == 0
    assert c["dynamic_weight_convs"] == 0


def test_published_checkpoint_layout_exports_with_the_same_parity(weights, tmp_path):
    """Saved the way the MicroNet release trains: DataParallel `module.` keys inside a training wrapper."""
    state = torch.load(weights, weights_only=True)
    published = tmp_path / "model_best.pth.tar"
    torch.save({"epoch": 300, "arch": "micronet_m0", "state_dict": {f"module.{k}": v for k, v in state.items()},
                "best_prec1": torch.tensor(46.6)}, published)
    r = export_model("micronet-m0", "onnx", weights=published, input_size=SIZE, out=tmp_path / "out", n_parity=4)
    meta = r.exports[0].meta
    assert meta["parity"]["output_scale"] > 0.5  # the checkpoint's BatchNorm statistics were loaded
    assert meta["parity"]["rel_max_abs_diff"] <= 1e-4 and meta["parity"]["top1_agreement"] == 1.0
    assert meta["census"]["gather"] == 0 and meta["census"]["dynamic_weight_convs"] == 0


@pytest.mark.slow
def test_no_rewrite_exports_the_model_as_is(weights, tmp_path):
    r = export_model("micronet-m0", "onnx", weights=weights, input_size=SIZE, out=tmp_path, rewrite=False, n_parity=2)
    meta = r.exports[0].meta
    assert meta["rewrite_status"].startswith("skipped") and meta["rewrites"] == []
    assert meta["madds"]["graph_madds"] == meta["madds"]["conv_madds"] == 1_190_960
    assert meta["census"]["gather_nd"] == 15  # the stock channel shift: one GatherND per Shift-Max
    assert meta["parity"]["ok"] and meta["parity"]["n_inputs"] == 2


def test_refuses_to_overwrite_then_force(exported, weights):
    _, out, _ = exported
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(EdgekitError, match=r"micronet-m0\.onnx exists; pass --force to overwrite"):
        export_model("micronet-m0", "onnx", weights=weights, input_size=SIZE, out=out)
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before


class BrokenExporter:
    """Writes part of its file, then fails: what a crash half-way through a converter looks like."""

    target = "broken"
    suffixes = (".onnx",)

    def convert(self, model, example, out_paths, options):
        Path(out_paths[0]).write_bytes(b"partial")
        raise RuntimeError("converter crashed")


@pytest.fixture
def broken_target(monkeypatch):
    monkeypatch.setitem(exporters_base.EXPORTERS, "broken", (__name__, "BrokenExporter"))


def test_failure_leaves_nothing_behind(broken_target, tmp_path):
    with pytest.raises(RuntimeError, match="converter crashed"):
        export_model("micronet-m0", "broken", input_size=SIZE, out=tmp_path / "o.onnx", rewrite=False)
    assert list(tmp_path.iterdir()) == []


def test_all_targets_commit_together(broken_target, monkeypatch, weights, tmp_path):
    """onnx succeeds, then the next target fails: the finished onnx file is not committed either."""
    monkeypatch.setattr(pipeline, "ALL_TARGETS", ("onnx", "broken"))
    monkeypatch.setattr(pipeline, "plan_paths", _distinct_names(pipeline.plan_paths))
    with pytest.raises(RuntimeError, match="converter crashed"):
        export_model("micronet-m0", "all", weights=weights, input_size=SIZE, out=tmp_path, n_parity=1,
                     rewrite=False)
    assert list(tmp_path.iterdir()) == []


def _distinct_names(plan):
    def wrapped(targets, exporters, stem, out):
        paths = plan(targets, exporters, stem, out)
        return {t: [p.with_name(f"{t}-{p.name}") for p in ps] for t, ps in paths.items()}

    return wrapped


def test_paths_and_names(tmp_path):
    ex = {t: exporters_base.get_exporter(t) for t in ("onnx",)}
    assert artifact_stem("micronet-m0", "fp32") == "micronet-m0"
    assert artifact_stem("micronet-m0", "int8") == "micronet-m0-int8"
    assert artifact_stem("some/dir/net.py:build", "fp16") == "net-build-fp16"
    assert plan_paths(["onnx"], ex, "m", None) == {"onnx": [Path("m.onnx")]}
    assert plan_paths(["onnx"], ex, "m", tmp_path) == {"onnx": [tmp_path / "m.onnx"]}
    assert plan_paths(["onnx"], ex, "m", tmp_path / "x.onnx") == {"onnx": [tmp_path / "x.onnx"]}
    assert plan_paths(["onnx"], ex, "m", str(tmp_path / "new") + "/") == {"onnx": [tmp_path / "new" / "m.onnx"]}
    with pytest.raises(EdgekitError, match="--target onnx writes a .onnx file"):
        plan_paths(["onnx"], {"onnx": ex["onnx"], "tflite": _Suffixes((".tflite",))}, "m", tmp_path / "x.tflite")
    with pytest.raises(EdgekitError, match="with --target all, -o takes a directory"):
        plan_paths(["onnx", "tflite"], {"onnx": ex["onnx"], "tflite": _Suffixes((".tflite",))}, "m",
                   tmp_path / "x.onnx")
    with pytest.raises(EdgekitError, match="expected a directory or a .onnx file"):
        plan_paths(["onnx"], ex, "m", tmp_path / "x.txt")


class _Suffixes:
    def __init__(self, suffixes):
        self.suffixes = suffixes


@pytest.mark.parametrize("kwargs, message", [
    (dict(precision="int8"), "--int8 needs calibration data"),
    (dict(calib="synthetic"), "--calib only applies with --int8"),
    (dict(int8_io=True), "--int8-io only applies with --int8"),
    (dict(opset=13), "opset 13 is too old"),
    (dict(precision="bf16"), "unknown precision 'bf16'"),
    (dict(calib_method="mse", precision="int8", calib="synthetic"), "unknown --calib-method 'mse'"),
])
def test_bad_arguments_are_one_line_errors(kwargs, message, tmp_path):
    with pytest.raises(EdgekitError, match=message):
        export_model("micronet-m0", "onnx", input_size=SIZE, out=tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_user_model_from_a_file(tmp_path):
    src = tmp_path / "tiny_net.py"
    src.write_text(
        "import torch\n"
        "from torch import nn\n"
        "def build(num_classes=10):\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),\n"
        "                         nn.Linear(8, num_classes))\n")
    out = tmp_path / "out"
    r = export_model(f"{src}:build", "onnx", input_shape="1,28,28", out=out)
    e = r.exports[0]
    assert e.file == out / "tiny_net-build.onnx"
    assert e.meta["inputs"][0]["shape"] == [1, 1, 28, 28] and e.meta["outputs"][0]["shape"] == [1, 10]
    assert e.meta["madds"]["graph_madds"] == e.meta["madds"]["conv_madds"] == 13 * 13 * 8 * 9 + 80
    assert e.meta["parity"]["rel_max_abs_diff"] <= 1e-5


@pytest.mark.slow
# one image input (clips: test_video_export; several inputs: tests/models/test_research_line.py)
@pytest.mark.parametrize("name", [n for n in list_models() if len(get_card(n).input_size) == 3 and not get_card(n).inputs])
def test_every_zoo_model_exports_static_and_equivalent(name, tmp_path):
    w = conditioned_weights(tmp_path / f"{name}.pth", name=name)
    r = export_model(name, "onnx", weights=w, input_size=SIZE, out=tmp_path, n_parity=4)
    meta = r.exports[0].meta
    assert meta["census"]["gather"] == 0 and meta["census"]["dynamic_weight_convs"] == 0
    assert meta["parity"]["rel_max_abs_diff"] <= 1e-4
    assert meta["madds"]["graph_madds"] == meta["madds"]["conv_madds"] + meta["madds"]["rewrite_overhead"]


@pytest.mark.slow
def test_micronet_m0_at_224(tmp_path):
    w = conditioned_weights(tmp_path / "m0.pth", size=224)
    r = export_model("micronet-m0", "onnx", weights=w, out=tmp_path, n_parity=4)
    meta = r.exports[0].meta
    assert meta["madds"]["conv_madds"] == 3_448_880  # the reference implementation's count (FACTS.md)
    assert meta["madds"]["graph_madds"] == 3_448_880 + meta["madds"]["rewrite_overhead"]
    assert meta["parity"]["rel_max_abs_diff"] <= 1e-4 and meta["parity"]["top1_agreement"] == 1.0


@pytest.mark.slow
def test_all_targets_one_report(weights, tmp_path):
    r = export_model("micronet-m0", "all", weights=weights, input_size=SIZE, out=tmp_path, n_parity=4)
    assert [e.target for e in r.exports] == ["onnx", "tflite", "openvino", "executorch"]
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["micronet-m0.bin", "micronet-m0.report.md"]
        + [f"micronet-m0.{ext}{s}" for ext in ("onnx", "tflite", "xml", "pte") for s in ("", ".edgekit.json",
                                                                                          ".edgekit.ref.npz")])
    assert r.report == tmp_path / "micronet-m0.report.md"
    report = r.report.read_text()
    assert all(f"## {t} · fp32" in report for t in ("onnx", "tflite", "openvino", "executorch"))
    for e in r.exports:
        meta = read_sidecar(e.file)
        assert meta["target"] == e.target and meta["parity"]["rel_max_abs_diff"] <= 1e-4, e.target
        assert meta["parity"]["top1_agreement"] == 1.0
        if e.target != "executorch":  # a .pte's delegate blob is not counted (graph_madds None)
            assert meta["madds"]["graph_madds"] == meta["madds"]["conv_madds"] + meta["madds"]["rewrite_overhead"], e.target
        assert meta["size_bytes"] == sum(f.stat().st_size for f in e.files)
    assert r.exports[3].meta["madds"]["graph_madds"] is None
    openvino = r.exports[2]
    assert openvino.meta["files"] == ["micronet-m0.xml", "micronet-m0.bin"]
    assert (tmp_path / "micronet-m0.bin").stat().st_size > 4 * 1_000_000  # the weights are in the .bin


@pytest.mark.slow
def test_int8_flags_reach_the_quantizer(weights, tmp_path):
    r = export_model("micronet-m0", "onnx", weights=weights, input_size=SIZE, out=tmp_path, precision="int8",
                     calib="synthetic", calib_size=16, calib_method="percentile", n_parity=4)
    e = r.exports[0]
    assert e.file == tmp_path / "micronet-m0-int8.onnx"
    meta = e.meta
    assert meta["precision"] == "int8" and meta["parity"]["tolerance"] is None
    assert meta["quantization"]["calib_method"] == "percentile" and meta["quantization"]["calib_samples"] == 16
    assert meta["census"]["ops"].get("QuantizeLinear", 0) > 0
    assert meta["parity"]["n_inputs"] == 4 and -1.0 <= meta["parity"]["cosine"] <= 1.0  # INT8 quality: tests/quantization


@pytest.mark.parametrize("target", ["onnx", pytest.param("tflite", marks=pytest.mark.slow),
                                    pytest.param("openvino", marks=pytest.mark.slow)])
def test_int8_search_off_keeps_the_default_policy(weights, tmp_path, target):
    """int8_search=False reaches every target's quantizer (the ONNX exporter once dropped it and timed
    the groups anyway, keeping M0 all float on an AVX2-only host): no timing, every group INT8 but the
    dynamic heads."""
    r = export_model("micronet-m0", target, weights=weights, input_size=32, out=tmp_path, precision="int8",
                     calib="synthetic", calib_size=8, n_parity=2, int8_search=False)
    q = r.exports[0].meta["quantization"]
    assert q["search"] == [] and q["latency_ms"] is None and q["verdict"] is None
    groups = {g: v["precision"] for g, v in q["groups"].items()}
    assert groups.pop("dynamic", "float") == "float" and set(groups.values()) == {"int8"}
    assert q["n_int8"] == sum(L["group"] != "dynamic" for L in q["layers"]) > 0
