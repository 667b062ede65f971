"""`edgekit report`: Markdown + PNGs from real bench/profile JSON; images valid and referenced;
atomic output; Pareto front; one-line errors for bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from edgekit.errors import EdgekitError
from edgekit.report import build as build_mod
from edgekit.report.build import build_report
from edgekit.report.load import load_results
from edgekit.report.pareto import pareto_front

EDGEKIT = [sys.executable, "-m", "edgekit"]


def run_cli(*args):
    return subprocess.run(EDGEKIT + [str(a) for a in args], capture_output=True, text=True, timeout=300)


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.verify()  # a truncated or corrupt PNG raises here
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        return im.size


def test_pareto_front():
    pts = [(4.0, 2.0), (6.0, 1.5), (12.0, 3.0), (21.0, 1.0), (4.0, 2.5), (6.0, 1.5)]
    # (12, 3) and (4, 2.5) are dominated; the duplicate (6, 1.5) points are both kept
    assert pareto_front(pts) == [0, 1, 5, 3]
    assert pareto_front([]) == []


def test_report_from_real_bench_and_profile(measured, tmp_path):
    out = tmp_path / "report"
    proc = run_cli("report", measured["bench"], measured["profile"], "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["bench"] == 3 and summary["profiles"] == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(summary["files"]) == [
        "index.md", "latency_distribution.png", "latency_vs_madds.png", "ops-1-net-c.onnx.png"]

    profile = json.loads(measured["profile"].read_text())
    n_rows = min(len(profile["ops"]), 12) + (1 if len(profile["ops"]) > 12 else 0)
    assert png_size(out / "latency_vs_madds.png") == (800, 500)
    assert png_size(out / "latency_distribution.png") == (800, 150 + 50 * 3)
    assert png_size(out / "ops-1-net-c.onnx.png") == (800, int(round(100 * (1.5 + 0.35 * n_rows))))

    md = (out / "index.md").read_text()
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(referenced) == sorted(f for f in summary["files"] if f.endswith(".png"))
    # one table row per bench result, with the sidecar's model names and the graph's MAdds
    rows = [l for l in md.splitlines() if l.startswith("| net-")]
    assert [r.split(" | ")[0] for r in rows] == ["| net-a", "| net-b", "| net-c"]
    bench = json.loads(measured["bench"].read_text())
    for r, b in zip(rows, bench):
        assert f"{b['madds']:,}" in r
    assert bench[0]["madds"] == 8 * 3 * 9 * 16 * 16
    # the cheapest model is always on the onnxruntime Pareto front
    front_line = next(l for l in md.splitlines() if l.startswith("- **onnxruntime** Pareto front:"))
    assert "net-a fp32" in front_line
    assert "| Conv | 3 |" in md


def test_look_of_a_report_with_several_runtimes_and_precisions(tmp_path):
    # Hand-made records (MicroNet-like figures) to exercise colours, markers and fronts.
    def rec(model, prec, runtime, madds, median, where="local"):
        return {"kind": "bench", "model": model, "precision": prec, "runtime": runtime, "where": where,
                "madds": madds, "name": f"{model}-{prec}", "latency_ms": {"median": median, "mean": median,
                "min": median * 0.95, "max": median * 1.3, "p90": median * 1.1, "p99": median * 1.2, "cv": 0.05},
                "samples_ms": [median * (1 + 0.01 * k) for k in range(20)]}
    records = [rec("micronet-m0", "fp32", "litert", 4.06e6, 0.9), rec("micronet-m0", "int8", "litert", 4.06e6, 0.6),
               rec("micronet-m1", "fp32", "litert", 6.1e6, 1.4), rec("micronet-m3", "fp32", "litert", 20.8e6, 3.1),
               rec("micronet-m3", "int8", "litert", 20.8e6, 2.0), rec("micronet-m0", "fp32", "onnxruntime", 4.06e6, 1.6),
               rec("micronet-m3", "fp32", "onnxruntime", 20.8e6, 5.9),
               rec("micronet-m0", "fp32", "onnxruntime", 4.06e6, 9.5, where="ssh://pi@raspberrypi")]
    src = tmp_path / "many.json"
    src.write_text(json.dumps(records))
    out = tmp_path / "r"
    build_report(load_results([src]), out)
    md = (out / "index.md").read_text()
    assert "- **litert** Pareto front: micronet-m0 int8 (0.600 ms)" in md
    assert "- **onnxruntime** Pareto front: micronet-m0 fp32 (1.600 ms)" in md
    assert "- **onnxruntime @ ssh://pi@raspberrypi** Pareto front: micronet-m0 fp32 (9.500 ms)" in md
    assert png_size(out / "latency_vs_madds.png") == (800, 500)


def test_existing_output_needs_force_and_failures_leave_it_untouched(measured, tmp_path, monkeypatch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.md").write_text("previous report")
    proc = run_cli("report", measured["bench"], "-o", out)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {out} exists; pass --force to replace it"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_mod.plots, "latency_distribution", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_report(load_results([measured["bench"]]), out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["old.md"]  # the old report, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temporaries left behind

    monkeypatch.undo()
    build_report(load_results([measured["bench"]]), out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["index.md", "latency_distribution.png", "latency_vs_madds.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_bad_inputs_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    cases = {
        tmp_path / "none.json": f"error: results file not found: {tmp_path / 'none.json'}",
        bad: f"error: {bad} is not JSON (Expecting property name enclosed in double quotes at line 1); "
             f"pass what `edgekit bench --json` wrote",
        other: f"error: {other} holds no bench or profile results (expected the JSON of `edgekit bench --json`, "
               f"`edgekit profile --json` or `edgekit check --json`)",
    }
    for path, expected in cases.items():
        proc = run_cli("report", path, "-o", tmp_path / "out")
        assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [expected], proc.stderr
    assert not (tmp_path / "out").exists()


def test_adb_results_with_benchmark_model_ops_become_a_profile(tmp_path):
    from edgekit.runtimes.remote.benchmark_model_parser import parse_benchmark_model

    data = Path(__file__).resolve().parents[1] / "data" / "benchmark_model"
    parsed = parse_benchmark_model((data / "riscv_qemu_mobilenet_v1_op_profiling.txt").read_text())
    record = {"kind": "bench", "where": "adb", "name": "mobilenet_v1_1.0_224.tflite", **parsed}
    src = tmp_path / "adb.json"
    src.write_text(json.dumps([record]))
    results = load_results([src])
    assert len(results.bench) == 1 and len(results.profiles) == 1
    out = tmp_path / "r"
    files = build_report(results, out)
    assert "ops-1-mobilenet_v1_1.0_224.tflite.png" in files
    assert png_size(out / "ops-1-mobilenet_v1_1.0_224.tflite.png") == (800, int(round(100 * (1.5 + 0.35 * 5))))
    md = (out / "index.md").read_text()
    assert "| CONV_2D | 15 | 2652 | 89.9 |" in md
