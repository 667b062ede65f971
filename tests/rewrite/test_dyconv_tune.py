"""The per-layer DY-Conv form tuner: real exports, real runtimes, timings recorded, argmin chosen."""

import json
from pathlib import Path

import pytest

from edgekit.cli.app import main
from edgekit.rewrite.dyconv_forms import FORMS, MARGIN, default_form, pick
from edgekit.rewrite.pipeline import rewrite_for_export

from dyconv_tiny import build

SHAPE = (3, 16, 16)
TINY = str(Path(__file__).with_name("dyconv_tiny.py")) + ":build"


def _dyconv_record(log):
    (rec,) = [r for r in log if r.name == "dyconv_static"]
    return rec


def test_pick_prefers_the_rule_only_within_the_margin():
    assert pick({"branches": 1.0, "stacked": 0.5, "input_mix": 0.9}, "branches") == "stacked"
    assert pick({"branches": 1.0, "stacked": 1.0 / (1 + MARGIN / 2), "input_mix": 1.1}, "branches") == "branches"
    assert pick({"branches": 1.0, "stacked": 1.2}, "input_mix") == "branches"  # rule form not measured


@pytest.mark.parametrize("target", [pytest.param("onnx", marks=pytest.mark.slow), "openvino"])
def test_tuned_rewrite_records_timings_and_picks_the_fastest(target):
    model = build()
    net, log = rewrite_for_export(model, SHAPE, target=target, tune=True)
    rec = _dyconv_record(log)
    assert rec.changed == 3 and rec.max_abs_diff < 1e-5
    d = rec.details
    assert d["mode"] == "tuned" and d["target"] == target and sum(d["forms"].values()) == 3
    assert [r["kind"] for r in d["layers"]] == ["depthwise", "pointwise", "dense"]
    assert [r["input_shape"] for r in d["layers"]] == [[8, 8, 8], [8, 8, 8], [16, 8, 8]]
    originals = [m for m in model.modules() if type(m).__name__ == "DynamicConv2d"]
    for layer, original, replaced in zip(d["layers"], originals, (net[2], net[4], net[6])):
        t = layer["timings_ms"]
        assert set(t) == set(FORMS) and all(v > 0 for v in t.values())
        assert layer["fastest"] == min(t, key=t.get)
        rule = default_form(original, tuple(layer["input_shape"]), target)
        assert layer["form"] == pick(t, rule)
        # the argmin, or the rule's form when that is within the noise margin of it
        assert layer["form"] == layer["fastest"] or t[layer["form"]] <= t[layer["fastest"]] * (1 + MARGIN)
        assert isinstance(replaced, FORMS[layer["form"]])


def test_untuned_rewrite_follows_the_rule():
    model = build()
    _, log = rewrite_for_export(model, SHAPE, target="tflite")
    d = _dyconv_record(log).details
    originals = [m for m in model.modules() if type(m).__name__ == "DynamicConv2d"]
    assert d["mode"] == "rule" and all("timings_ms" not in r for r in d["layers"])
    assert [r["form"] for r in d["layers"]] == [default_form(m, None, "tflite") for m in originals]


@pytest.mark.slow
def test_cli_rewrite_tune_forms_json_and_report(capsys):
    with pytest.raises(SystemExit) as e:
        main(["rewrite", TINY, "--input-shape", "3,16,16", "--num-classes", "10", "--tune-forms", "--json"])
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out)
    (rec,) = [p for p in out["passes"] if p["name"] == "dyconv_static"]
    assert rec["details"]["mode"] == "tuned" and len(rec["details"]["layers"]) == 3
    assert all(set(r["timings_ms"]) == set(FORMS) for r in rec["details"]["layers"])
    with pytest.raises(SystemExit) as e:
        main(["rewrite", TINY, "--input-shape", "3,16,16", "--num-classes", "10", "--report"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "DY-Conv forms (rule, onnx)" in text and "2  depthwise @ 8x8x8" in text


@pytest.mark.slow
def test_cli_export_tune_forms_records_the_choice_in_sidecar_and_report(tmp_path):
    out = tmp_path / "tiny.xml"
    with pytest.raises(SystemExit) as e:
        main(["export", TINY, "--input-shape", "3,16,16", "--num-classes", "10", "--target", "openvino",
              "--tune-forms", "--parity-inputs", "2", "-o", str(out)])
    assert e.value.code == 0
    side = json.loads(out.with_name("tiny.xml.edgekit.json").read_text())
    (rec,) = [r for r in side["rewrites"] if r["name"] == "dyconv_static"]
    layers = rec["details"]["layers"]
    assert rec["details"]["mode"] == "tuned" and len(layers) == 3
    assert all(set(r["timings_ms"]) == set(FORMS) and r["form"] in FORMS for r in layers)
    report = out.with_name("tiny.xml.report.md").read_text()
    assert "DY-Conv forms (tuned, openvino)" in report and "ms" in report
