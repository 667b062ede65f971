"""The latency table and the predictor on this machine's onnxruntime (real exports, real timing)."""

import json
import shutil

import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes.bench import _runtime_version
from edgekit.search.lut import build_lut, cpu_model
from edgekit.search.predict import block_sum, errors_summary, fit_correction, load_table, predict_blocks, validate
from edgekit.sweep.store import read_records


def test_every_distinct_block_once_with_its_conditions(tiny_lut):
    s = tiny_lut["summary"]
    assert s["blocks"] == 5 and s["measured"] == 7 and s["already"] == 0
    recs = read_records(tiny_lut["lut"] / "local", kind="lut")
    blocks = [r for r in recs if r["role"] == "block"]
    models = [r for r in recs if r["role"] == "model"]
    assert len(blocks) == 5 and len(models) == 2
    assert sorted(r["label"] for r in blocks) == ["head-10", "micro-k3-e2-g2-relu6", "micro-k3-e2-g2-shiftmax-j1k1",
                                                  "micro-k5-e2-g2-relu6", "stem-8"]
    assert [m["choices"] for m in models] == [[0], [2]]
    for r in recs:
        c = r["conditions"]
        assert c["runtime"] == "onnxruntime" and c["runtime_version"] == _runtime_version("onnxruntime")
        assert c["threads"] == 1 and c["delegate"] == "CPUExecutionProvider"
        assert c["cpu_model"] == cpu_model() and c["emulated"] is None
        assert r["runs"] == 20 and 0 < r["latency_ms"]["median"] < 50
    # the export went through edgekit's pipeline (rewrite status recorded, ops counted)
    sm = next(r for r in blocks if "shiftmax" in r["label"])
    assert sm["export"]["ops"]["Conv"] >= 3


def test_resume_and_a_second_device_share_exports(tiny_lut):
    again = build_lut(tiny_lut["space"], tiny_lut["lut"], target="onnx", threads=(1,), runs=20, warmup=2, calibrate=2)
    assert again["measured"] == 0 and again["already"] == 7 and again["exports_fresh"] == 0
    other = build_lut(tiny_lut["space"], tiny_lut["lut"], target="onnx", threads=(1,), runs=5, warmup=1, calibrate=2,
                      device_name="box2")
    assert other["measured"] == 7 and other["exports_fresh"] == 0
    assert len(read_records(tiny_lut["lut"] / "box2", kind="lut")) == 7
    assert len(read_records(tiny_lut["lut"] / "local", kind="lut")) == 7


def test_prediction_is_the_corrected_sum(tiny_lut):
    table = load_table(tiny_lut["lut"], "local")
    arch = tiny_lut["space"].architecture((1,))
    total, parts = block_sum(table, arch, 1)
    assert len(parts) == 3 and total == pytest.approx(sum(p["ms"] for p in parts))
    corr = fit_correction(table, 1)
    assert corr["n"] == 2
    # two calibration points: the line goes through both
    for m in table.models:
        x = block_sum(table, [(b["spec"], tuple(b["input"])) for b in m["blocks"]], 1)[0]
        assert corr["alpha"] * x + corr["beta"] == pytest.approx(m["latency_ms"]["median"], rel=1e-9)
    p = predict_blocks(table, arch, 1)
    assert p["predicted_ms"] == pytest.approx(corr["alpha"] * total + corr["beta"])


def test_missing_block_is_an_error_naming_it(tiny_lut):
    table = load_table(tiny_lut["lut"], "local")
    arch = tiny_lut["space"].architecture((1,))
    wider = [(dict(s, out=24) if s["type"] == "micro" else s, sh) for s, sh in arch]
    with pytest.raises(EdgekitError, match=r"block micro-k3-e2-g2-relu6 at input \[8, 8, 8\] has no entry"):
        block_sum(table, wider, 1)
    with pytest.raises(EdgekitError, match=r"at 2 thread\(s\) \(threads there: 1\)"):
        block_sum(table, arch, 2)


def test_refuses_other_runtime_version_other_device_and_emulated_mix(tiny_lut, tmp_path):
    with pytest.raises(EdgekitError, match="measured with onnxruntime .* not 0.0.1"):
        load_table(tiny_lut["lut"], "local", runtime_version="0.0.1")
    with pytest.raises(EdgekitError, match="no latency table for device 'pi'.*tables: box2, local|tables: local"):
        load_table(tiny_lut["lut"], "pi")
    fake = tmp_path / "lut" / "local"
    fake.mkdir(parents=True)
    lines = (tiny_lut["lut"] / "local" / "results.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["conditions"]["emulated"] = "qemu-user"
    (fake / "results.jsonl").write_text("\n".join([json.dumps(rec)] + lines[1:]) + "\n")
    with pytest.raises(EdgekitError, match="mixes emulated and real entries"):
        load_table(tmp_path / "lut", "local")
    all_emulated = [json.loads(l) for l in lines]
    for r in all_emulated:
        r["conditions"]["emulated"] = "qemu-user"
    (fake / "results.jsonl").write_text("\n".join(map(json.dumps, all_emulated)) + "\n")
    with pytest.raises(EdgekitError, match="every entry is emulated"):
        load_table(tmp_path / "lut", "local")
    assert len(load_table(tmp_path / "lut", "local", allow_emulated=True).blocks) == 5


def test_validate_measures_the_rest_of_the_space(tiny_lut):
    rep = validate(tiny_lut["space"], tiny_lut["lut"], "local", 5, [1], "onnx", runs=20, warmup=2)
    assert rep["architectures"] == 1 and rep["calibration"] == 2  # 3 architectures in the space
    r = rep["threads"][1]
    assert r["n"] == 1 and r["rows"][0]["choices"] == [1]
    row = r["rows"][0]
    err = (row["predicted_ms"] - row["measured_ms"]) / row["measured_ms"]
    assert r["rmspe_pct"] == pytest.approx(100 * abs(err))
    assert r["within_10_pct"] == (100.0 if abs(err) <= 0.10 else 0.0)
    assert r["correction"]["run"] == rep["run"] and r["correction"]["n"] == 2


def test_errors_summary_numbers():
    rows = [{"predicted_ms": p, "measured_ms": 1.0} for p in (1.0, 1.04, 0.92, 1.2)]
    s = errors_summary(rows)
    assert s["n"] == 4 and s["within_5_pct"] == 50.0 and s["within_10_pct"] == 75.0
    assert s["rmspe_pct"] == pytest.approx(100 * ((0 + 0.04 ** 2 + 0.08 ** 2 + 0.2 ** 2) / 4) ** 0.5)


def _cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True)


def test_cli_predict_json_and_refusals(tiny_lut):
    proc = _cli("predict", "--lut", tiny_lut["lut"], "--space", tiny_lut["space_file"], "--choices", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    table = load_table(tiny_lut["lut"], "local")
    want = predict_blocks(table, tiny_lut["space"].architecture((1,)), 1)["predicted_ms"]
    assert out["emulated"] is False and out["results"][0]["predicted_ms"] == pytest.approx(want, rel=1e-12)
    for args, text in ((("--runtime-version", "0.0.1"), "not 0.0.1"), (("--device", "pi"), "no latency table"),
                       (("--threads", "2"), "has no entry")):
        proc = _cli("predict", "--lut", tiny_lut["lut"], "--space", tiny_lut["space_file"], "--choices", "1", *args)
        assert proc.returncode == 2 and text in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
