"""edgekit.analysis.openvino_arm_int8 against the board's answers: each minimal IR of
benchmarks/probes/openvino_arm_min_ir.py is flagged exactly when OpenVINO 2026.4.1's aarch64 CPU plugin
refused it (measured on the emulated device, tests/remote/test_arm_openvino.py re-checks the table there),
with the rule that names the plugin's error; `inspect` and the INT8 export keep the refused convolutions
float so the IR compiles."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ov = pytest.importorskip("openvino")

from edgekit.analysis.openvino_arm_int8 import refusals, warning  # noqa: E402

PROBE = Path(__file__).resolve().parents[2] / "benchmarks" / "probes" / "openvino_arm_min_ir.py"
RULES = {"not-initialized": {"mixed", "zero-point"}, "align": {"float-input"}, "ok": set()}


def _probe():
    spec = importlib.util.spec_from_file_location("openvino_arm_min_ir", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


M = _probe()


@pytest.mark.parametrize("name", M.NAMES)
def test_rules_match_the_board(name):
    _, outcome = M.PROBES[name]
    found = refusals(M.build(name))
    rules = {r["rule"] for r in found}
    if outcome == "ok":
        assert found == []
    else:
        assert len(found) == 1 and rules <= RULES[outcome], found


def test_table_has_both_sides_of_every_rule():
    outcomes = [o for _, o in M.PROBES.values()]
    assert (outcomes.count("ok"), outcomes.count("not-initialized"), outcomes.count("align")) == (18, 8, 8)


def test_a_wrong_rule_is_caught(monkeypatch):
    """The table is a real check: a rule that ignores the second convolution's requantization (the first
    version of 'mixed') flags the sibling that the board compiles."""
    import edgekit.analysis.openvino_arm_int8 as A

    monkeypatch.setattr(A, "_requantized", lambda conv, biased: biased.get(conv.get_friendly_name()) is not None)
    assert [r["rule"] for r in refusals(M.build("chain_i8_u8_open"))] == ["mixed"]


def test_warning_line_names_the_error_and_the_node(tmp_path):
    files = M.write(tmp_path)
    line = warning(files["refused_chain"])
    assert line.startswith('OpenVINO 2026.4 aarch64 CPU refuses this INT8 IR ("object is not initialized"): 1 ')
    assert "u8 input, i8 output" in line and line.endswith("x86 compiles it")
    assert "Convolution input precision should be single" in warning(files["refused_align"])
    assert warning(files["accepted_chain"]) is None


def test_inspect_reports_it(tmp_path):
    from edgekit.analysis.inspect import inspect_file

    files = M.write(tmp_path)
    assert len(inspect_file(files["refused"])["warnings"]) == 1
    assert inspect_file(files["accepted"])["warnings"] == []
