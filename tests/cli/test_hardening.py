"""The CLI's rough edges (issue 13): numeric options, tables on a pipe, library chatter, usage errors.

Every case runs the real `edgekit` entry point in a subprocess, so exit codes and stderr are what a
shell sees. Numeric options are refused before any work: exit 2, one `error:` line, nothing written.
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import CLI_ENV, assert_user_error, run_cli

ENV = {k: v for k, v in CLI_ENV.items() if k != "EDGEKIT_DEBUG"}  # the default run: chatter must stay hidden


def edgekit(*args, cwd):
    return run_cli(*args, cwd=cwd, env=ENV, timeout=600)


BAD_VALUES = ("0", "-3", "1000000", "abc", "2.5")

# (command line before the option, option, values that must be refused)
NUMERIC = [
    (["export", "micronet-m0"], "--input-size", BAD_VALUES),
    (["export", "micronet-m0"], "--opset", ("0", "16", "99", "abc")),
    (["export", "micronet-m0", "--int8", "--calib", "synthetic"], "--calib-size", ("0", "-3", "10000000", "abc")),
    (["export", "micronet-m0", "--int8", "--calib", "synthetic"], "--max-drop", ("-1", "101", "abc")),
    (["export", "micronet-m0"], "--parity-inputs", ("-1", "1000000", "abc")),
    (["export", "micronet-m0"], "--num-classes", ("0", "-3", "abc")),
    (["flops", "micronet-m0"], "--input-size", BAD_VALUES),
    (["rewrite", "micronet-m0"], "--input-size", BAD_VALUES),
    (["bench", "m.onnx"], "--runs", ("0", "-3", "100000000", "abc")),
    (["bench", "m.onnx"], "--seconds", ("0", "-3", "1e9", "abc")),
    (["bench", "m.onnx"], "--warmup", ("-1", "100000000", "abc")),
    (["profile", "m.onnx"], "--runs", ("0", "-3", "abc")),
    (["profile", "m.onnx"], "--threads", ("0", "-3", "100000", "abc")),
    (["profile", "m.onnx"], "--top", ("0", "abc")),
    (["eval", "m.onnx", "--data", "d"], "--threads", ("0", "-3", "100000", "abc")),
    (["eval", "m.onnx", "--data", "d"], "--size", ("0", "-3", "abc")),
    (["select", "results", "--device", "pi"], "--max-latency-ms", ("0", "-1", "abc")),
    (["select", "results", "--device", "pi"], "--min-top1", ("-1", "101", "abc")),
    (["sweep", "s.toml", "-o", "r"], "--jobs", ("0", "-3", "100000", "abc")),
]


@pytest.mark.parametrize("before,option,values", NUMERIC, ids=[f"{b[0]}{o}" for b, o, _ in NUMERIC])
def test_numeric_options_are_refused_up_front(tmp_path, before, option, values):
    (tmp_path / "m.onnx").write_bytes(b"not a model")  # bench/profile would fail later on this, not first
    for value in values:
        proc = edgekit(*before, f"{option}={value}", cwd=tmp_path)
        assert_user_error(proc, option)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"], value  # nothing written


def test_thread_counts_are_refused_up_front(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    for value in ("0", "-3", "abc", "1,0", ""):
        assert_user_error(edgekit("bench", "m.onnx", "--threads", value, cwd=tmp_path), "thread")


def test_a_size_the_network_cannot_take_is_one_line(tmp_path):
    (tmp_path / "net.py").write_text("import torch\n\ndef build():\n    return torch.nn.Conv2d(3, 4, 5)\n")
    proc = edgekit("export", "net.py:build", "--input-shape", "3,2,2", cwd=tmp_path)
    assert_user_error(proc, "cannot run on a 3x2x2 input")
    assert_user_error(edgekit("flops", "net.py:build", "--input-shape", "3,100000,100000", cwd=tmp_path),
                      "--input-shape")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.py"]


def test_usage_errors_are_one_line(tmp_path):
    assert_user_error(edgekit("no-such-command", cwd=tmp_path), "No such command")
    assert_user_error(edgekit("export", "micronet-m0", "--no-such-flag", cwd=tmp_path), "--no-such-flag")
    assert_user_error(edgekit("export", cwd=tmp_path), "MODEL")


def test_tables_on_a_pipe_print_every_cell_whole(tmp_path):
    proc = edgekit("models", cwd=tmp_path)  # stdout is a pipe here, as in `edgekit models | cat`
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "# edgekit model zoo" and "…" not in proc.stdout
    header = lines[1].split("\t")
    rows = {r.split("\t")[0]: dict(zip(header, r.split("\t"))) for r in lines[2:]}
    names = {r["name"] for r in json.loads(edgekit("models", "--json", cwd=tmp_path).stdout)}
    assert set(rows) == names  # every name whole, e.g. mobilenetv3-small-dyconv
    assert rows["micronet-m0"]["input"] == "3x224x224"


def test_rewrite_report_on_a_pipe_shows_both_differences_whole(tmp_path):
    proc = edgekit("rewrite", "micronet-m0", "--input-size", "64", "--report", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    lines = proc.stdout.splitlines()
    header = lines[1].split("\t")
    assert "float64 |Δ|/scale" in header and "float32 |Δ|/scale" in header
    rows = [dict(zip(header, line.split("\t"))) for line in lines[2:] if line.count("\t") == len(header) - 1]
    shift = next(r for r in rows if r["pass"] == "shift_max_static")
    assert shift["MAdds"] == "1,304,512"  # whole, with its digit groups (count_madds at 64x64)
    assert float(shift["float64 |Δ|/scale"]) < 1e-12 and 0 < float(shift["float32 |Δ|/scale"]) < 1e-4
    assert any(line.startswith("exact in float64: every pass within 1e-09") for line in lines)


def test_default_export_prints_only_edgekits_own_lines(tmp_path):
    proc = edgekit("export", "micronet-m0", "--target", "tflite", "--input-size", "32", "--parity-inputs", "2",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no _pytree warning, no converter log line
    out = proc.stdout.splitlines()
    assert out[0].startswith("tflite fp32  micronet-m0.tflite")
    assert out[-1].startswith("wrote micronet-m0.tflite")
    assert all(line.startswith(("tflite ", "  ", "wrote ")) for line in out), out
