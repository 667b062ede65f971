"""`--threads 1,2,4`: parsing, one result per thread count, speed-up against 1 thread, the flag for more
threads than cores, the runtime settings each runner states, the budget key and the report's plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes import device_bench as db
from edgekit.runtimes.bench import benchmark_files, parse_threads

from cli_helpers import CLI_ENV, assert_user_error, run_cli
from tiny_models import onnx_and_ir

CORES = db.available_cpus()
def edgekit(*args):
    return run_cli(*args)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return onnx_and_ir(tmp_path_factory.mktemp("threads"))


@pytest.mark.parametrize("text, expected", [("2", [2]), (3, [3]), ("1,2,4", [1, 2, 4]), (" 4, 1 ,4", [4, 1]),
                                            ([1, 2], [1, 2])])
def test_thread_lists_parse(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text, message", [("0", "at least 1"), ("1,0", "at least 1"), ("-2", "at least 1"),
                                           ("two", "comma list"), ("1,,2", "comma list"), ("1.5", "comma list"),
                                           ("", "comma list")])
def test_bad_thread_lists_are_one_line_errors(text, message):
    with pytest.raises(EdgekitError, match=message) as info:
        parse_threads(text)
    assert "\n" not in str(info.value)


def test_one_result_per_thread_count_with_speedup_and_settings(files):
    res = benchmark_files([files["onnx"], files["xml"]], threads="1,2", warmup=1, runs=10)
    assert [(Path(r["file"]).suffix, r["threads"]) for r in res] == [(".onnx", 1), (".onnx", 2), (".xml", 1), (".xml", 2)]
    for r in res:
        assert r["runs"] == 10 and r["interleaved_with"] == 4 and r["oversubscribed"] is (r["threads"] > CORES)
    by = {(Path(r["file"]).suffix, r["threads"]): r for r in res}
    for suffix in (".onnx", ".xml"):
        one, two = by[(suffix, 1)], by[(suffix, 2)]
        assert one["speedup_vs_1_thread"] == 1.0
        assert two["speedup_vs_1_thread"] == pytest.approx(one["latency_ms"]["median"] / two["latency_ms"]["median"])
    assert by[(".onnx", 2)]["thread_settings"] == {
        "intra_op_num_threads": 2, "inter_op_num_threads": 1, "execution_mode": "sequential",
        "session.intra_op.allow_spinning": "1" if db.ORT_ALLOW_SPINNING else "0"}
    assert by[(".xml", 2)]["thread_settings"] == {"NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                                                  "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2}


def test_runners_apply_the_stated_settings(files):
    from edgekit.runtimes.onnxruntime_runner import OnnxRuntimeRunner
    from edgekit.runtimes.openvino_runner import OpenVINORunner

    ort = OnnxRuntimeRunner(files["onnx"], threads=2)
    opts = ort.session.get_session_options()
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == ("1" if db.ORT_ALLOW_SPINNING else "0")
    off = OnnxRuntimeRunner(files["onnx"], threads=2, spinning=False).session.get_session_options()
    assert off.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    ov = OpenVINORunner(files["xml"], threads=2)
    assert int(ov.property("INFERENCE_NUM_THREADS")) == 2 and int(ov.property("NUM_STREAMS")) == 1
    assert str(ov.property("PERFORMANCE_HINT")).upper().endswith("LATENCY")
    assert db.thread_settings("litert", 3) == {"num_threads": 3, "delegate": "XNNPACK"}


def test_more_threads_than_cores_is_flagged_in_json_and_warned(files):
    proc = edgekit("bench", str(files["onnx"]), "--threads", f"1,{CORES + 1}", "--runs", "4", "--warmup", "0",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    one, over = json.loads(proc.stdout)
    assert (one["threads"], one["oversubscribed"], over["threads"], over["oversubscribed"]) == (1, False, CORES + 1, True)
    warning = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and f"--threads {CORES + 1} is more than the {CORES} core(s)" in warning[0]
    table = edgekit("bench", str(files["onnx"]), "--threads", "1,2", "--runs", "4", "--warmup", "0")
    assert table.returncode == 0, table.stderr
    assert "×1 thread" in table.stdout and "1,2 thread(s)" in table.stdout
    assert "1.00" in table.stdout.split("tiny.onnx", 1)[1].splitlines()[0]  # the 1-thread row's speed-up
    assert_user_error(edgekit("bench", str(files["onnx"]), "--threads", "1,x"), "--threads", "comma list")


def test_device_script_takes_a_thread_list(files, tmp_path):
    proc = subprocess.run([sys.executable, str(Path(db.__file__)), str(files["onnx"]), "--threads", "1,2",
                           "--runs", "6", "--warmup", "0", "--json"], capture_output=True, text=True, timeout=120,
                          env=CLI_ENV)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    one, two = (json.loads(ln) for ln in lines)
    assert len(lines) == 2 and (one["threads"], two["threads"]) == (1, 2)
    assert one["speedup_vs_1_thread"] == 1.0 and two["interleaved_with"] == 2 and two["runs"] == 6
    assert two["thread_settings"]["intra_op_num_threads"] == 2


def test_budget_names_the_thread_count_per_artifact(files, tmp_path):
    from edgekit.budget.check import check_budget
    from edgekit.budget.schema import load_budget

    budget = tmp_path / "budget.toml"
    budget.write_text(f'[settings]\nruns = 4\nwarmup = 0\n\n[artifacts.one]\nfile = "{files["onnx"]}"\n'
                      f'max_latency_ms = 1e6\n\n[artifacts.two]\nfile = "{files["xml"]}"\nthreads = 2\n'
                      f'max_latency_ms = 1e6\n')
    b = load_budget(budget)
    assert (b.artifacts["one"].threads, b.artifacts["two"].threads) == (1, 2)
    bench = check_budget(b).bench
    assert (bench["one"]["threads"], bench["two"]["threads"]) == (1, 2)
    assert bench["two"]["thread_settings"]["INFERENCE_NUM_THREADS"] == 2
    for bad in ("0", '"2"', "true", "1.5"):
        budget.write_text(f'[artifacts.two]\nfile = "{files["xml"]}"\nmax_latency_ms = 5\nthreads = {bad}\n')
        with pytest.raises(EdgekitError) as info:
            load_budget(budget)
        msg = str(info.value)
        assert msg.startswith(f"{budget}:4:") and "threads" in msg and "\n" not in msg


def test_report_draws_thread_scaling_from_bench_results_and_plain_records(files, tmp_path):
    pytest.importorskip("matplotlib")
    from edgekit.report import plots
    from edgekit.report.build import build_report
    from edgekit.report.load import load_results

    res = benchmark_files([files["onnx"]], threads=[1, 2], warmup=0, runs=5)
    src = tmp_path / "bench.json"
    src.write_text(json.dumps(res))
    written = build_report(load_results([src]), tmp_path / "report")
    png = tmp_path / "report" / "thread_scaling.png"
    assert "thread_scaling.png" in written and png.stat().st_size > 10_000
    index = (tmp_path / "report" / "index.md").read_text()
    assert "## Thread scaling" in index and "intra_op_num_threads=2" in index
    plain = [{"series": "m0 · sweep", "threads": n, "median_ms": ms} for n, ms in ((1, 4.0), (2, 2.5), (4, 2.0))]
    series = plots.scaling_plot(plain, tmp_path / "plain.png", xlabel="threads")
    assert series == {"m0 · sweep": [(1, 4.0, 1.0), (2, 2.5, 1.6), (4, 2.0, 2.0)]}
    assert (tmp_path / "plain.png").stat().st_size > 10_000
