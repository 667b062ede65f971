"""ADB remote: command construction and quoting (no Android device here), and the errors a user
without adb or with a wrong file gets. The parser itself is tested on real output elsewhere."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes.remote import adb

EDGEKIT = [sys.executable, "-m", "edgekit"]
EVIL = "a b;$(touch PWNED)'\"`id`.tflite"


def test_benchmark_model_args_for_runs_and_seconds():
    assert adb.benchmark_model_args("/data/local/tmp/benchmark_model", "/data/local/tmp/edgekit.x/m.tflite",
                                    2, 10, 100, None) == [
        "/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/edgekit.x/m.tflite", "--num_threads=2",
        "--use_xnnpack=true", "--warmup_runs=10", "--warmup_min_secs=0", "--num_runs=100", "--min_secs=0"]
    args = adb.benchmark_model_args("bm", "g.tflite", 1, 0, 100, 5.0)
    assert args[4:] == ["--warmup_runs=1", "--warmup_min_secs=0", "--num_runs=1", "--min_secs=5", "--max_secs=15"]


def test_device_names_are_sanitized():
    assert adb.device_name(Path(EVIL)) == "a_b___touch_PWNED____id_.tflite"
    assert adb.device_name(Path("-rf.tflite")) == "m-rf.tflite"
    assert adb.device_name(Path("micronet-m0_int8.tflite")) == "micronet-m0_int8.tflite"


def test_shell_line_survives_a_real_posix_shell(tmp_path):
    # What `adb shell` does on the device: hand the joined line to sh. A stand-in benchmark_model
    # prints its arguments; they must come back exactly, with nothing executed.
    bm = tmp_path / "bench mark;model"
    bm.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    bm.chmod(0o755)
    args = adb.benchmark_model_args(str(bm), f"/data/local/tmp/{EVIL}", 1, 1, 3, None)
    line = adb.shell_line(args)
    assert shlex.split(line) == args
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert out.splitlines() == args[1:]
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("serial", ["emulator-5554", "R58M1234ABC", "192.168.1.5:5555"])
def test_good_serials(serial, monkeypatch):
    monkeypatch.setenv("EDGEKIT_ADB", "/usr/bin/adb")
    assert adb.adb_base(adb.adb_executable(), serial) == ["/usr/bin/adb", "-s", serial]


@pytest.mark.parametrize("serial", ["", "a b", "x;reboot", "$(id)", "-d"])
def test_bad_serials(serial):
    with pytest.raises(EdgekitError, match="bad --adb serial"):
        adb.adb_base("/usr/bin/adb", serial)


def test_adb_not_installed_is_one_line_exit_2(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\x1c\x00\x00\x00TFL3")
    env = {k: v for k, v in os.environ.items() if k != "EDGEKIT_ADB"}
    env["PATH"] = str(Path(sys.executable).parent)  # python, but no adb
    proc = subprocess.run(EDGEKIT + ["bench", str(model), "--adb"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: adb not found: install Android platform-tools (e.g. apt-get install adb) and put adb on PATH, "
        "or set EDGEKIT_ADB to its path"]


def test_only_tflite_files(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(EdgekitError, match=r"--adb runs TFLite's benchmark_model, which takes .tflite files, not m.onnx"):
        adb.bench_over_adb(None, [onnx])
    with pytest.raises(EdgekitError, match="model file not found"):
        adb.bench_over_adb(None, [tmp_path / "none.tflite"])
