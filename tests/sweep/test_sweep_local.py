"""`edgekit sweep` on this machine: a 2 models x 1-2 sizes x 2 precisions x 2 targets grid killed with
SIGKILL mid-run and resumed (every cell recorded once, no export redone), `select` checked against
the records and a re-evaluation, failures recorded per cell, sweep-file errors with line and key."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import raw_keys, write_sweep

EDGEKIT = [sys.executable, "-m", "edgekit"]


def run(*args, check=None, **kw):
    proc = subprocess.run([*EDGEKIT, *map(str, args)], capture_output=True, text=True, **kw)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


def test_sweep_file_errors_name_line_and_key(tmp_path, sweep_data):
    f = write_sweep(tmp_path / "s.toml", sweep_data, models=["narrow"], extra="\n[bench]\nwarmpu = 3\n")
    # the duplicate [bench] table is invalid TOML
    assert "not valid TOML" in run("sweep", f, "-o", tmp_path / "r", check=2).stderr
    text = write_sweep(tmp_path / "s.toml", sweep_data, models=["narrow"]).read_text()
    bad = text.replace("runs = 10", "runs = 10\nwarmpu = 3")
    (tmp_path / "s.toml").write_text(bad)
    line = bad.splitlines().index("warmpu = 3") + 1
    err = run("sweep", tmp_path / "s.toml", "-o", tmp_path / "r", check=2).stderr
    assert f"s.toml:{line}: unknown key 'warmpu' in [bench] (did you mean: warmup?)" in err
    bad = text.replace('input_sizes = [32]', 'input_sizes = [32, "48"]')
    (tmp_path / "s.toml").write_text(bad)
    line = bad.splitlines().index('input_sizes = [32, "48"]') + 1
    err = run("sweep", tmp_path / "s.toml", "-o", tmp_path / "r", check=2).stderr
    assert f"s.toml:{line}: [grid] input_sizes: '48' is not an integer" in err
    bad = text.replace('targets = ["onnx"]', 'targets = ["tflight"]')
    (tmp_path / "s.toml").write_text(bad)
    err = run("sweep", tmp_path / "s.toml", "-o", tmp_path / "r", check=2).stderr
    assert "unknown 'tflight' (did you mean: tflite?)" in err and f"s.toml:{line + 1}:" in err
    assert not (tmp_path / "r").exists()


# enough timed runs per cell that the kill lands while cells are still being timed: at 20
# runs a loaded CI machine recorded all 8 cells between two polls
RUNS = 100


# CI kills and resumes the 8-cell grid (one size); the 16-cell one (two sizes) is `slow`: same code paths
@pytest.mark.parametrize("sizes", [(32,), pytest.param((32, 48), marks=pytest.mark.slow)], ids=["8-cells", "16-cells"])
def test_local_sweep_killed_resumed_and_selected(tmp_path, sweep_data, sizes):
    n = 2 * len(sizes) * 2 * 2  # models x sizes x targets x precisions
    sweep = write_sweep(tmp_path / "sweep.toml", sweep_data, models=["narrow", "wide"], sizes=sizes,
                        targets=("onnx", "tflite"), precisions=("fp32", "int8"), runs=RUNS)
    out = tmp_path / "results"
    plan = json.loads(run("sweep", sweep, "-o", out, "--dry-run", "--json", check=0).stdout)
    assert (plan["cells"], plan["exports"], plan["exports_cached"]) == (n, n, 0)
    assert plan["devices"]["local"]["timed_runs"] == n * RUNS

    first = subprocess.Popen([*EDGEKIT, "sweep", str(sweep), "-o", str(out), "-j", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if results.is_file() and results.read_text().strip():
            break
        time.sleep(0.005)
    assert first.poll() is None, "the sweep finished before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = raw_keys(out)
    assert 1 <= len(before) < n

    resumed = json.loads(run("sweep", sweep, "-o", out, "--json", check=0).stdout)
    assert resumed["already_done"] == len(before)
    assert resumed["ok"] == n - len(before) and resumed["failed"] == 0
    # every export was finished and cached before the local timing began: none is redone
    assert resumed["exports_fresh"] == 0 and resumed["exports_cached"] > 0
    keys = raw_keys(out)
    assert len(keys) == n and len(set(keys)) == n and keys[:len(before)] == before
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert {r["run"] for r in records[:len(before)]} != {resumed["run"]}

    # a third run has nothing to do
    again = json.loads(run("sweep", sweep, "-o", out, "--json", check=0).stdout)
    assert (again["already_done"], again["ok"], again["exports_fresh"]) == (n, 0, 0)

    # select, recomputed from the records: latency = median of the samples, top-1 measured
    assert [r for r in records if r["status"] != "ok"] == []
    for r in records:
        assert r["accuracy"]["source"] == "measured" and r["accuracy"]["n"] == 150
        assert r["bench"]["latency_ms"]["median"] == pytest.approx(float(np.median(r["bench"]["samples_ms"])))
    # trained at 32 px: 58% (narrow) and 90% (wide) of the held-out digits in PyTorch
    assert min(r["accuracy"]["top1"] for r in records if r["cell"]["input_size"] == 32) > 50
    medians = sorted(r["bench"]["latency_ms"]["median"] for r in records)
    limit = medians[len(medians) // 2]
    fits = [r for r in records if r["bench"]["latency_ms"]["median"] <= limit]
    want = max(fits, key=lambda r: (r["accuracy"]["top1"], -r["bench"]["latency_ms"]["median"]))
    sel = json.loads(run("select", out, "--device", "local", "--max-latency-ms", limit, "--json", check=0).stdout)
    assert sel["best"]["key"] == want["key"]
    assert len(sel["runners_up"]) == 3 and len(sel["out"]) == n - 4
    assert all(o["reasons"] for o in sel["out"])
    assert sum(1 for o in sel["out"] if o["reasons"][0].startswith("latency")) == n - len(fits)

    # the selected file, evaluated again on its runtime, gives the recorded top-1
    from edgekit.analysis.accuracy import runner_predict, topk_accuracy
    from edgekit.calibration import load_calibration_set
    from edgekit.cli.eval import card_for_file
    from edgekit.runtimes.base import open_runner

    runner = open_runner(sel["best"]["file"])
    card, _ = card_for_file(sel["best"]["file"], runner)
    data = load_calibration_set(sweep_data["eval"], card)
    assert topk_accuracy(runner_predict(runner, data.x), data.labels).top1 == sel["best"]["top1"]

    text = run("select", out, "--device", "local", "--max-latency-ms", limit, check=0).stdout
    assert f"best: {want['cell']['model']} {want['cell']['input_size']}px" in text
    assert run("select", out, "--device", "local", "--max-latency-ms", medians[0] / 2).returncode == 1

    # the report: its Pareto column is the front recomputed here (nothing both faster and more accurate)
    files = json.loads(run("report", out, "--json", check=0).stdout)["files"]
    assert {"accuracy-vs-latency-local.png", "madds-vs-latency-rank.png"} <= set(files)
    index = (out / "report" / "index.md").read_text()

    def beats(o, r):
        lo, lr = o["bench"]["latency_ms"]["median"], r["bench"]["latency_ms"]["median"]
        ao, ar = o["accuracy"]["top1"], r["accuracy"]["top1"]
        return lo <= lr and ao >= ar and (lo < lr or ao > ar)

    for r in records:
        c = r["cell"]
        row = next(line for line in index.splitlines()
                   if line.startswith(f"| {c['model']} {c['input_size']}px {c['target']} {c['precision']} |"))
        assert row.endswith("| ✓ |") == (not any(beats(o, r) for o in records)), row


def test_bad_cells_are_recorded_and_the_sweep_goes_on(tmp_path, sweep_data):
    sweep = write_sweep(tmp_path / "sweep.toml", sweep_data, models=["narrow", "micronet-m9", "broken"], threads=(1, 2),
                        devices={"here": {"kind": "local"}, "gone": {"kind": "ssh", "address": "nobody@127.0.0.1:1"}})
    proc = run("sweep", sweep, "-o", tmp_path / "r")
    assert proc.returncode == 1, proc.stderr
    assert "12 cells: 0 already done, 2 ok, 10 failed in this run" in proc.stdout
    assert "failed micronet-m9|32|onnx|fp32|gone|t1 (export): unknown model 'micronet-m9'" in proc.stderr
    records = {r["key"]: r for r in map(json.loads, (tmp_path / "r" / "results.jsonl").read_text().splitlines())}
    assert sorted(records) == sorted(raw_keys(tmp_path / "r"))
    assert sorted(records) == sorted(f"{m}|32|onnx|fp32|{d}|t{t}" for m in ("narrow", "micronet-m9", "broken")
                                     for d in ("here", "gone") for t in (1, 2))
    assert records["narrow|32|onnx|fp32|here|t2"]["bench"]["threads"] == 2
    gone = records["narrow|32|onnx|fp32|gone|t1"]
    assert gone["status"] == "failed" and gone["stage"] == "bench" and "127.0.0.1" in gone["error"]
    assert records["broken|32|onnx|fp32|here|t1"]["stage"] == "export"
    assert sum(r["status"] == "failed" for r in records.values()) == 10

    # the report lists the failures and draws the thread scaling of the cells that ran
    files = json.loads(run("report", tmp_path / "r", "--json", check=0).stdout)["files"]
    assert "thread-scaling.png" in files
    index = (tmp_path / "r" / "report" / "index.md").read_text()
    assert "12 cells: 2 measured, 10 failed." in index
    assert "- broken|32|onnx|fp32|here|t1 (export):" in index


def test_published_top1_only_at_the_published_resolution():
    from edgekit.sweep.grid import ExportSpec, ModelSpec
    from edgekit.sweep.work import published_top1

    info = {"card": {"published_top1": 46.6}}
    spec = ExportSpec(ModelSpec("micronet-m0", "micronet-m0"), 224, "onnx", "fp32")
    acc = published_top1(spec, info)
    assert acc["top1"] == 46.6 and acc["source"].startswith("published (model card, 224 px)")
    assert published_top1(ExportSpec(spec.model, 160, "onnx", "fp32"), info) is None
    assert published_top1(ExportSpec(ModelSpec("m0", "micronet-m0", "/w.pth"), 224, "onnx", "fp32"), info) is None
