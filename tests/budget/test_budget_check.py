"""`edgekit check budget.toml`: schema errors (exit 2), passing and failing limits (exit 0 / 1),
--json and --junit, on real ONNX / TFLite artifacts measured by real runtimes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgekit.budget.check import check_budget
from edgekit.budget.schema import load_budget
from edgekit.errors import EdgekitError

EDGEKIT = [sys.executable, "-m", "edgekit"]


def write(tmp_path: Path, text: str, name: str = "budget.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip())
    return p


def run_cli(*args, cwd=None):
    return subprocess.run(EDGEKIT + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300)


def one_error_line(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


# ----------------------------------------------------------------------------- bad input → exit 2


def test_unknown_key_names_line_and_key(tmp_path, models):
    b = write(tmp_path, f"""
        [settings]
        threads = 1

        [artifacts.m0]
        file = "{models['small']}"
        max_size_kb = 100
        max_latncy_ms = 3.0
        """)
    line = one_error_line(run_cli("check", b))
    assert line == (f"error: {b}:7: unknown key 'max_latncy_ms' in [artifacts.m0] (did you mean: max_latency_ms?); "
                    "known: file, runtime, threads, max_size_kb, max_madds, max_latency_ms, max_latency_ratio, reference, "
                    "max_partitions, min_accuracy, max_int8_drop, baseline, eval")


@pytest.mark.parametrize("key,value,expected,line", [
    ("max_size_kb", '"big"', "expected a number > 0 (KiB)", 3),
    ("max_partitions", "1.5", "expected an integer >= 1", 3),
    ("max_partitions", "true", "expected an integer >= 1", 3),
    ("min_accuracy", "146", "expected a top-1 percentage in 0-100", 3),
    ("runtime", '"tensorrt"', "expected one of auto, onnxruntime, litert, openvino", 3),
])
def test_wrong_types_name_line_and_key(tmp_path, models, key, value, expected, line):
    b = write(tmp_path, f"""
        [artifacts.m0]
        file = "{models['one']}"
        {key} = {value}
        """)
    with pytest.raises(EdgekitError) as err:
        load_budget(b)
    assert str(err.value) == f"{b}:{line}: [artifacts.m0] {key} = {_py(value)}: {expected}"


def _py(toml_value: str) -> str:
    import tomllib

    return repr(tomllib.loads(f"v = {toml_value}")["v"])


def test_settings_unknown_key_and_top_level_key(tmp_path, models):
    b = write(tmp_path, f"""
        [settings]
        thread = 2
        [artifacts.a]
        file = "{models['small']}"
        max_size_kb = 1
        """)
    with pytest.raises(EdgekitError, match=r"budget.toml:2: unknown key 'thread' in \[settings\] \(did you mean: threads\?\)"):
        load_budget(b)
    b = write(tmp_path, f"""
        [artifact.a]
        file = "{models['small']}"
        """)
    with pytest.raises(EdgekitError, match=r"budget.toml:1: unknown top-level key 'artifact' \(did you mean: artifacts\?\)"):
        load_budget(b)


def test_missing_artifact_file_names_it(tmp_path):
    b = write(tmp_path, """
        [artifacts.m0]
        max_size_kb = 10
        file = "out/nope.tflite"
        """)
    line = one_error_line(run_cli("check", b))
    assert line == f"error: {b}:3: [artifacts.m0] file 'out/nope.tflite' not found (looked for {tmp_path / 'out/nope.tflite'})"


def test_missing_budget_file_and_bad_toml(tmp_path):
    assert one_error_line(run_cli("check", tmp_path / "none.toml")) == f"error: budget file not found: {tmp_path / 'none.toml'}"
    b = write(tmp_path, "[artifacts.m0\nfile = 1\n")
    assert one_error_line(run_cli("check", b)).startswith(f"error: {b}: not valid TOML: ")
    assert "line 1" in one_error_line(run_cli("check", b))


def test_dangling_reference_and_missing_links(tmp_path, models):
    b = write(tmp_path, f"""
        [artifacts.fast]
        file = "{models['small']}"
        max_latency_ratio = 0.5
        reference = "slwo"

        [artifacts.slow]
        file = "{models['big']}"
        max_size_kb = 10000
        """)
    with pytest.raises(EdgekitError, match=r":4: \[artifacts.fast\] reference = 'slwo' is not an artifact in this file \(did you mean: slow\?\)"):
        load_budget(b)
    b = write(tmp_path, f"""
        [artifacts.q]
        file = "{models['small']}"
        max_int8_drop = 0.5
        """)
    with pytest.raises(EdgekitError, match=r":3: \[artifacts.q\] max_int8_drop needs baseline = \"<artifact name>\""):
        load_budget(b)


def test_partitions_only_for_tflite(tmp_path, models):
    b = write(tmp_path, f"""
        [artifacts.m]
        file = "{models['small']}"
        max_partitions = 1
        """)
    with pytest.raises(EdgekitError, match=r":3: \[artifacts.m\] max_partitions counts XNNPACK partitions, which only .tflite"):
        load_budget(b)


def test_accuracy_limit_without_any_accuracy_is_exit_2(tmp_path, models):
    b = write(tmp_path, f"""
        [artifacts.m]
        file = "{models['small']}"
        min_accuracy = 40
        """)
    assert one_error_line(run_cli("check", b)) == (
        "error: no accuracy for m (small.onnx): set eval = \"<file>\" in [artifacts.m] (the output of "
        "`edgekit eval small.onnx --data DIR --json`) or drop the accuracy limit")


# ----------------------------------------------------------------------------- measured limits


def test_size_madds_partitions_accuracy_exact_values(tmp_path, models):
    (tmp_path / "q.eval.json").write_text(json.dumps({"kind": "eval", "file": "q.tflite", "top1": 46.0, "top5": 70.0}))
    (tmp_path / "f.eval.json").write_text(json.dumps([{"file": str(models["one"]), "accuracy": {"top1": 46.6}}]))
    b = write(tmp_path, f"""
        [artifacts.small]
        file = "{models['small']}"
        max_size_kb = 1
        max_madds = 27648

        [artifacts.fp32]
        file = "{models['one']}"
        max_partitions = 1
        min_accuracy = 46.5
        eval = "f.eval.json"

        [artifacts.int8]
        file = "{models['two']}"
        max_partitions = 1
        min_accuracy = 46.0
        max_int8_drop = 0.5
        baseline = "fp32"
        eval = "q.eval.json"
        """)
    report = check_budget(load_budget(b))
    got = {(o.artifact, o.check): (o.value, o.passed) for o in report.outcomes}
    size_kb = models["small"].stat().st_size / 1024
    assert got == {
        ("small", "max_size_kb"): (size_kb, size_kb <= 1),
        ("small", "max_madds"): (27648, True),
        ("fp32", "max_partitions"): (1, True),
        ("fp32", "min_accuracy"): (46.6, True),
        ("int8", "max_partitions"): (2, False),
        ("int8", "min_accuracy"): (46.0, True),
        ("int8", "max_int8_drop"): (pytest.approx(0.6), False),
    }
    assert report.bench == {}  # nothing asked for latency, nothing was timed
    assert not report.passed


def test_latency_ratio_against_a_reference_in_the_same_run(tmp_path, models):
    b = write(tmp_path, f"""
        [settings]
        warmup = 2
        runs = 20

        [artifacts.small]
        file = "{models['small']}"
        max_latency_ratio = 0.5
        reference = "big"

        [artifacts.big]
        file = "{models['big']}"
        max_latency_ratio = 2.0
        reference = "small"
        max_latency_ms = 100000
        """)
    report = check_budget(load_budget(b))
    by = {(o.artifact, o.check): o for o in report.outcomes}
    ratio_small = by["small", "max_latency_ratio"].value
    ratio_big = by["big", "max_latency_ratio"].value
    # 27,648 vs 79,036,416 MAdds: the big model is many times slower, measured side by side
    assert ratio_small < 0.5 and by["small", "max_latency_ratio"].passed
    assert ratio_big > 2.0 and not by["big", "max_latency_ratio"].passed
    assert ratio_small * ratio_big == pytest.approx(1.0)
    assert by["big", "max_latency_ms"].passed
    small, big = report.bench["small"], report.bench["big"]
    assert small["runs"] == big["runs"] == 20 and small["interleaved_with"] == 2
    assert big["madds"] == 79_036_416 and small["madds"] == 27_648


def test_cli_exit_codes_json_and_junit(tmp_path, models):
    passing = write(tmp_path, f"""
        [artifacts.one]
        file = "{models['one']}"
        max_partitions = 1
        max_size_kb = 10
        """, "pass.toml")
    proc = run_cli("check", passing, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["kind"] == "check" and doc["passed"] is True and doc["checks"] == 2 and doc["failed"] == 0

    failing = write(tmp_path, f"""
        [artifacts.one]
        file = "{models['one']}"
        max_partitions = 1

        [artifacts.two]
        file = "{models['two']}"
        max_partitions = 1
        max_madds = 1
        """, "fail.toml")
    junit = tmp_path / "reports" / "budget.xml"
    proc = run_cli("check", failing, "--junit", junit)
    assert proc.returncode == 1, proc.stderr
    assert "2 of 3 limits exceeded" in proc.stdout and "two.max_partitions" in proc.stdout
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    cases = {(c.get("classname"), c.get("name")): c.find("failure") for c in suite.iter("testcase")}
    assert set(cases) == {("budget.one", "max_partitions"), ("budget.two", "max_partitions"),
                          ("budget.two", "max_madds")}
    assert cases["budget.one", "max_partitions"] is None
    assert cases["budget.two", "max_partitions"].get("message").startswith("two max_partitions: 2 partitions (limit <= 1)")
    # never overwrite a report without --force
    assert one_error_line(run_cli("check", failing, "--junit", junit)) == f"error: {junit} exists; pass --force to overwrite"
    assert run_cli("check", failing, "--junit", junit, "--force").returncode == 1


def test_example_budget_file_is_valid():
    example = Path(__file__).resolve().parents[2] / "examples" / "budget.toml"
    text = example.read_text()
    import tomllib

    from edgekit.budget.schema import ARTIFACT_KEYS, SETTINGS_KEYS

    data = tomllib.loads(text)
    assert set(data) == {"settings", "artifacts"}
    assert set(data["settings"]) <= set(SETTINGS_KEYS)
    used = set().union(*(set(t) for t in data["artifacts"].values()))
    assert used == set(ARTIFACT_KEYS)  # the example shows every key
