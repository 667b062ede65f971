"""ADB remote: command construction and quoting (no Android device here), and the errors a user
without adb or with a wrong file gets. The parser itself is tested on real output elsewhere."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes.remote import adb
from edgekit.runtimes.remote.executor_runner_parser import parse_executor_runner

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


def test_only_tflite_and_pte_files(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(EdgekitError) as err:
        adb.bench_over_adb(None, [onnx])
    assert str(err.value) == ("--adb runs .tflite files with TFLite's benchmark_model and .pte files with ExecuTorch's "
                              "executor_runner, not m.onnx")
    with pytest.raises(EdgekitError, match="model file not found"):
        adb.bench_over_adb(None, [tmp_path / "none.tflite"])


def test_executor_runner_args():
    runner, model = "/data/local/tmp/executor_runner", "/data/local/tmp/edgekit.x/m.pte"
    assert adb.executor_runner_args(runner, model, 4, 10, 100) == [
        "/data/local/tmp/executor_runner", "--model_path=/data/local/tmp/edgekit.x/m.pte", "--num_executions=110",
        "--cpu_threads=4"]
    assert adb.executor_runner_args("r", "m.pte", 1, 0, 5)[2:] == ["--num_executions=5", "--cpu_threads=1"]


def _stand_ins(tmp_path, runner_body: str):
    """A stand-in executor_runner (a name full of shell characters) and a stand-in logcat on PATH:
    each prints what it was given, so the device line can be checked in a real POSIX shell."""
    runner = tmp_path / "execu tor;runner$(id)"
    runner.write_text("#!/bin/sh\n" + runner_body)
    runner.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    logcat = bin_dir / "logcat"
    logcat.write_text('#!/bin/sh\nfor a in "$@"; do printf "logcat:%s\\n" "$a"; done\n')
    logcat.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return runner, env


def test_executor_runner_line_survives_a_real_posix_shell(tmp_path):
    runner, env = _stand_ins(tmp_path, 'for a in "$@"; do printf "arg:%s\\n" "$a"; done\n')
    args = adb.executor_runner_args(str(runner), f"/data/local/tmp/{EVIL[:-7]}.pte", 2, 1, 3)
    out = subprocess.run(["sh", "-c", adb.executor_runner_line(args)], capture_output=True, text=True, cwd=tmp_path,
                         env=env, check=True).stdout.splitlines()
    assert [l[4:] for l in out if l.startswith("arg:")] == args[1:]
    assert "edgekit-exit=0" in out and adb.runner_exit("\n".join(out)) == ""
    logcat = [l[7:] for l in out if l.startswith("logcat:")]
    assert logcat[:4] == ["-d", "-v", "threadtime", "-T"]
    assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d:\d\d\.000", logcat[4])  # the device time before the run
    assert re.fullmatch(r"--pid=\d+", logcat[5]) and logcat[6:] == ["-s", "ExecuTorch"]
    assert not (tmp_path / "PWNED").exists()


def test_executor_runner_line_carries_real_output_and_exit_code(tmp_path):
    # The stand-in prints a real runner's log (tests/data/executor_runner) on stderr, as the POSIX
    # log sink does, and aborts the way ET_CHECK_MSG does (SIGABRT, exit 134).
    sample = Path(__file__).resolve().parents[1] / "data" / "executor_runner" / "arm64_linear_fp32_1thread_etdump.txt"
    runner, env = _stand_ins(tmp_path, f"cat {shlex.quote(str(sample))} >&2\nkill -ABRT $$\n")
    line = adb.executor_runner_line(adb.executor_runner_args(str(runner), "m.pte", 1, 0, 1))
    proc = subprocess.run(["sh", "-c", line], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=tmp_path, env=env)
    assert "edgekit-exit=134" in proc.stdout.splitlines()
    assert adb.runner_exit(proc.stdout) == " (exit 134, signal 6)"  # SIGABRT
    parsed = parse_executor_runner(proc.stdout)
    assert (parsed["total_ms"], parsed["threads"], parsed["model"]) == (2.904883, 1, "model/linear_model_f32.pte")


def test_pte_user_mistakes_are_one_line_before_any_device_work(tmp_path):
    pte = tmp_path / "m.pte"
    pte.write_bytes(b"\x00\x00\x00\x00ET12")
    tfl = tmp_path / "m.tflite"
    tfl.write_bytes(b"\x1c\x00\x00\x00TFL3")
    with pytest.raises(EdgekitError, match=r"^executor_runner takes a count of executions, not a time: use --runs"):
        adb.bench_over_adb(None, [pte], seconds=5.0)
    with pytest.raises(EdgekitError, match=r"^--executor-runner runs .pte files, and none was given$"):
        adb.bench_over_adb(None, [tfl], executor_runner="/data/local/tmp/executor_runner")
    with pytest.raises(EdgekitError, match=r"^--benchmark-model runs .tflite files, and none was given$"):
        adb.bench_over_adb(None, [pte], benchmark_model="/data/local/tmp/benchmark_model")


@pytest.mark.parametrize("extra, message", [
    (["--executor-runner", "/data/local/tmp/executor_runner"], "error: --executor-runner needs --adb"),
    (["--adb", "--seconds", "5"], "error: executor_runner takes a count of executions, not a time: use --runs for "
                                  ".pte files on --adb"),
    (["--adb", "--runtime", "onnxruntime"], "error: --adb picks the device's runner by file type (.tflite: "
                                            "benchmark_model, .pte: executor_runner); --runtime onnxruntime is not "
                                            "available there"),
])
def test_pte_cli_mistakes_are_one_line_exit_2(tmp_path, extra, message):
    pte = tmp_path / "m.pte"
    pte.write_bytes(b"\x00\x00\x00\x00ET12")
    env = {k: v for k, v in os.environ.items() if k != "EDGEKIT_ADB"}
    env["PATH"] = str(Path(sys.executable).parent)  # python, but no adb
    proc = subprocess.run(EDGEKIT + ["bench", str(pte), *extra], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [message]


def test_a_total_only_pte_result_renders_with_its_note(tmp_path):
    # What bench_over_adb makes of a real runner log that has no per-iteration times: the table
    # shows "-" where the runner printed nothing (no CV, no p90), and the result says why.
    from rich.console import Console

    from edgekit.cli.bench import results_table

    text = (Path(__file__).resolve().parents[1] / "data" / "executor_runner" / "arm64_linear_fp32_1thread_etdump.txt"
            ).read_text().replace("successfully 1 time(s) in 2.904883 ms", "successfully 11 time(s) in 31.953713 ms")
    pte = tmp_path / "m.pte"
    pte.write_bytes(b"\x00\x00\x00\x00ET12")
    device = {"transport": "adb", "serial": None, "model": "Pixel 8", "abi": "arm64-v8a", "android": "15",
              "benchmark_model": None, "executor_runner": adb.DEFAULT_EXECUTOR_RUNNER, "workdir": "/data/local/tmp/x"}
    r = adb._result(parse_executor_runner(text, warmup=1), pte, None, device, 1)
    assert r["latency_ms"]["median"] == pytest.approx(31.953713 / 11) and r["runtime"] == "executorch"
    assert r["latency_note"].startswith("executor_runner printed only the total of its 11 execution(s)")
    assert "threads_note" not in r  # the log has the "Resetting threadpool ... = 1" line
    console = Console(width=200, record=True)
    console.print(results_table([r]))
    row = next(l for l in console.export_text().splitlines() if l.strip().startswith("m.pte"))
    assert row.split()[:8] == ["m.pte", "executorch", "11", "2.905", "-", "-", "-", "-"]
