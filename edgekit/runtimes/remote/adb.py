"""Benchmark .tflite and .pte files on an Android device over ADB with each format's own runner:
TFLite's `benchmark_model` for .tflite, ExecuTorch's `executor_runner` for .pte.

    adb [-s SERIAL] shell mktemp -d /data/local/tmp/edgekit.XXXXXX
    adb [-s SERIAL] push model.tflite DIR/model.tflite
    adb [-s SERIAL] shell '<benchmark_model> --graph=DIR/model.tflite --num_threads=N --use_xnnpack=true
                           --warmup_runs=W --warmup_min_secs=0 --num_runs=R --min_secs=0'
    adb [-s SERIAL] shell rm -rf DIR           (always, in a finally)

`adb` is run with argument lists; `adb shell` joins its arguments into one command line for the
device's shell, so edgekit passes it a single string built only from `shlex.quote`d pieces. Files
are pushed under a sanitized name. The output is parsed by benchmark_model_parser into the bench
schema. benchmark_model prints mean/std/min/max but (before recent builds) no percentiles: then
`latency_ms.median` holds the mean and `latency_note` says so.

The benchmark_model binary itself is the user's to push (TFLite publishes prebuilt ones per ABI):
    adb push benchmark_model /data/local/tmp/ && adb shell chmod +x /data/local/tmp/benchmark_model

A .pte runs the same way with ExecuTorch's executor_runner (examples/portable/executor_runner; built
with -DEXECUTORCH_BUILD_XNNPACK=ON it links XNNPACK, as the older xnn_executor_runner target did):
    adb [-s SERIAL] shell 't=$(date ...); <executor_runner> --model_path=DIR/m.pte --num_executions=W+R
                           --cpu_threads=N & p=$!; wait $p; echo edgekit-exit=$?; sleep 1;
                           logcat -d -v threadtime -T "$t" --pid=$p -s ExecuTorch'
Its log goes to stderr (the POSIX log sink) or, in the android-arm64-v8a preset's build, to logcat
under the tag "ExecuTorch": edgekit reads both, logcat only for that process since its start. It
has no warm-up flag, so the first W of the W+R timed executions are dropped (runners that print
per-iteration times, ExecuTorch 1.3+) or counted in the mean (older runners print only the total;
the result's latency_note says so). It has no time-based mode: --seconds is refused for .pte files.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.runtimes.remote.benchmark_model_parser import parse_benchmark_model
from edgekit.runtimes.remote.executor_runner_parser import parse_executor_runner

DEFAULT_BENCHMARK_MODEL = "/data/local/tmp/benchmark_model"
DEFAULT_EXECUTOR_RUNNER = "/data/local/tmp/executor_runner"
DEVICE_SUFFIXES = (".tflite", ".pte")
DEVICE_TMP = "/data/local/tmp"
_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_MKTEMP_OUT = re.compile(r"/[A-Za-z0-9._/-]+")
PUSH_HINT = ("push it with `adb push benchmark_model /data/local/tmp/ && adb shell chmod +x "
             "/data/local/tmp/benchmark_model` (prebuilt binaries per ABI are on the TFLite performance "
             "measurement page), or pass --benchmark-model PATH")
RUNNER_HINT = ("build it for arm64-v8a with XNNPACK and logging (ExecuTorch's devtools/scripts/benchmark_android.sh "
               "does: cmake --preset android-arm64-v8a -DEXECUTORCH_BUILD_EXECUTOR_RUNNER=ON "
               "-DEXECUTORCH_ENABLE_LOGGING=ON), push it with `adb push executor_runner /data/local/tmp/ && adb shell "
               "chmod +x /data/local/tmp/executor_runner`, or pass --executor-runner PATH")


def adb_executable() -> str:
    adb = os.environ.get("EDGEKIT_ADB") or shutil.which("adb")
    if not adb:
        raise EdgekitError("adb not found: install Android platform-tools (e.g. apt-get install adb) and put adb "
                           "on PATH, or set EDGEKIT_ADB to its path")
    return adb


def adb_base(adb: str, serial: str | None) -> list[str]:
    if serial is not None and not _SERIAL.fullmatch(serial):
        raise EdgekitError(f"bad --adb serial {serial!r}: expected what `adb devices` lists (e.g. emulator-5554, "
                           f"R58M1234ABC or 192.168.1.5:5555)")
    return [adb] + (["-s", serial] if serial else [])


def shell_line(args: list[str]) -> str:
    """One command line for the device's shell, every piece quoted."""
    return " ".join(shlex.quote(str(a)) for a in args)


def device_name(local: Path) -> str:
    """The name a file gets on the device: letters, digits, '.', '_' and '-' only."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", local.name)
    return name if not name.startswith((".", "-")) else "m" + name


def input_layer_args(meta: dict) -> list[str]:
    """benchmark_model's --input_layer / --input_layer_shape (and --input_layer_value_range for token ids)
    for an export with several inputs, from its sidecar (`inputs` as the file has them, `io` ranges);
    [] for a one-input model, which benchmark_model feeds by itself."""
    inputs = meta.get("inputs") or []
    if len(inputs) < 2:
        return []
    args = [f"--input_layer={','.join(i['name'] for i in inputs)}",
            f"--input_layer_shape={':'.join(','.join(str(d) for d in i['shape']) for i in inputs)}"]
    ranges = [f"{s['name']},{int(s['range'][0])},{int(s['range'][1]) - 1}"
              for s in (meta.get("io") or {}).get("inputs", [])
              if s.get("range") is not None and str(s.get("dtype", "")).startswith("int")]
    if ranges:  # inclusive bounds; random ids outside an embedding's table would fail the lookup
        args.append(f"--input_layer_value_range={':'.join(ranges)}")
    return args


def benchmark_model_args(benchmark_model: str, graph: str, threads: int, warmup: int, runs: int,
                         seconds: float | None, inputs: list[str] | None = None) -> list[str]:
    """benchmark_model's arguments for edgekit's --threads/--warmup/--runs/--seconds.

    It runs max(num_runs, as many as fit in min_secs): --min_secs=0 makes --runs exact, and with
    --seconds it is --num_runs=1 plus --min_secs. At least one warm-up run (its "First inference"
    comes from the warm-up statistics).
    """
    args = [benchmark_model, f"--graph={graph}", f"--num_threads={threads}", "--use_xnnpack=true",
            f"--warmup_runs={max(1, warmup)}", "--warmup_min_secs=0"]
    if seconds is None:
        args += [f"--num_runs={runs}", "--min_secs=0"]
    else:
        args += ["--num_runs=1", f"--min_secs={seconds:g}", f"--max_secs={max(2 * seconds, seconds + 10):g}"]
    return args + list(inputs or [])


def executor_runner_args(executor_runner: str, model: str, threads: int, warmup: int, runs: int) -> list[str]:
    """executor_runner's arguments: every one of --num_executions is timed, so warm-up + runs of them
    (the parser drops the first `warmup`). --cpu_threads sizes its thread pool (1 = no pool)."""
    return [executor_runner, f"--model_path={model}", f"--num_executions={warmup + runs}", f"--cpu_threads={threads}"]


def executor_runner_line(args: list[str]) -> str:
    """The device shell line that runs executor_runner and then prints its logcat lines.

    The runner logs to stderr or (Android log sink) to logcat; the script part is fixed text, and
    every argument in it is quoted. logcat reads only this process's "ExecuTorch" lines since its
    start (-T the device time before it ran, --pid its pid), a second after it ended: log writes
    reach logd over a socket, so the last lines (the timing line) may not be stored at exit.
    """
    return ("t=$(date '+%m-%d %H:%M:%S.000'); " + shell_line(args) + " & p=$!; wait $p; echo edgekit-exit=$?; "
            "sleep 1; logcat -d -v threadtime -T \"$t\" --pid=$p -s ExecuTorch 2>/dev/null")


def runner_exit(out: str) -> str:
    """' (exit N[, signal S])' for a runner that did not exit 0, from executor_runner_line's marker."""
    m = re.search(r"^edgekit-exit=(\d+)\s*$", out, re.M)
    if not m or m.group(1) == "0":
        return ""
    code = int(m.group(1))
    return f" (exit {code}{f', signal {code - 128}' if 128 < code < 160 else ''})"


class _Device:
    def __init__(self, serial: str | None, timeout: float | None = None):
        self.serial = serial
        self.base = adb_base(adb_executable(), serial)
        self.timeout = timeout
        self.label = f"device {serial}" if serial else "the Android device"

    def run(self, args: list[str], merge: bool = False) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(self.base + args, capture_output=not merge, text=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL,
                                  **({"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT} if merge else {}))
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"adb: {self.label} did not answer within {self.timeout:.0f} s") from None
        out = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode != 0 and out.lstrip().startswith(("error:", "adb: error:")):
            raise EdgekitError(self._adb_failure(out))
        return proc

    def shell(self, line: str, merge: bool = False) -> subprocess.CompletedProcess:
        return self.run(["shell", line], merge=merge)

    def _adb_failure(self, out: str) -> str:
        first = out.strip().splitlines()[0]
        low = first.lower()
        if "no devices" in low:
            return "adb: no device attached (check `adb devices`; enable USB debugging and accept the prompt)"
        if "more than one" in low:
            return "adb: more than one device attached: pass its serial, --adb SERIAL (see `adb devices`)"
        if "not found" in low and self.serial:
            return f"adb: device {self.serial!r} not found (see `adb devices`)"
        if "unauthorized" in low:
            return f"adb: {self.label} is unauthorized: accept the USB debugging prompt on the device"
        if "offline" in low:
            return f"adb: {self.label} is offline: reconnect it (adb reconnect)"
        return f"adb: {first[:200]}"


def bench_over_adb(serial: str | None, files: list[Path], threads: int = 1, warmup: int = 10, runs: int = 100,
                   seconds: float | None = None, benchmark_model: str | None = None, *,
                   executor_runner: str | None = None, timeout: float | None = None) -> list[dict]:
    """Benchmark each file on the device: .tflite with benchmark_model (XNNPACK on), .pte with
    executor_runner.

    Returns one bench dict per file (edgekit.runtimes.bench schema; `where` "adb[:SERIAL]", `device`
    {transport, serial, model, abi, android, benchmark_model, executor_runner, workdir}, plus
    `delegate` and, with op profiling, `ops` from benchmark_model's own output). EdgekitError, one
    line, for adb missing, no or several devices, a runner missing there, or a run that printed no
    timings.
    """
    paths = [Path(f) for f in files]
    if not paths:
        raise EdgekitError("no model files given")
    for p in paths:
        if not p.is_file():
            raise EdgekitError(f"model file not found: {p}")
        if p.suffix.lower() not in DEVICE_SUFFIXES:
            raise EdgekitError(f"--adb runs .tflite files with TFLite's benchmark_model and .pte files with "
                               f"ExecuTorch's executor_runner, not {p.name}")
    ptes = [p for p in paths if p.suffix.lower() == ".pte"]
    tflites = [p for p in paths if p.suffix.lower() == ".tflite"]
    if ptes and seconds is not None:
        raise EdgekitError("executor_runner takes a count of executions, not a time: use --runs for .pte files "
                           "on --adb")
    if executor_runner and not ptes:
        raise EdgekitError("--executor-runner runs .pte files, and none was given")
    if benchmark_model and not tflites:
        raise EdgekitError("--benchmark-model runs .tflite files, and none was given")
    tools = {".tflite": (benchmark_model or DEFAULT_BENCHMARK_MODEL, "benchmark_model", PUSH_HINT),
             ".pte": (executor_runner or DEFAULT_EXECUTOR_RUNNER, "executor_runner", RUNNER_HINT)}
    names = [device_name(p) for p in paths]
    if len(set(names)) != len(names):
        raise EdgekitError("two of the files have the same name on the device; benchmark them in separate runs")
    dev = _Device(serial, timeout)

    info = dev.shell("getprop ro.product.model; getprop ro.product.cpu.abi; getprop ro.build.version.release")
    model, abi, android = ((info.stdout or "").splitlines() + ["", "", ""])[:3]
    for suffix in sorted({p.suffix.lower() for p in paths}):
        path, tool, hint = tools[suffix]
        check = dev.shell(f"test -x {shlex.quote(path)} && echo edgekit-ok")
        if "edgekit-ok" not in (check.stdout or ""):
            raise EdgekitError(f"{tool} not found or not executable at {path} on {dev.label}: {hint}")
    made = dev.shell(f"mktemp -d {shlex.quote(DEVICE_TMP + '/edgekit.XXXXXX')}")
    workdir = (made.stdout or "").strip()
    if made.returncode != 0 or not _MKTEMP_OUT.fullmatch(workdir):
        raise EdgekitError(f"cannot make a temporary directory in {DEVICE_TMP} on {dev.label}: "
                           f"{((made.stdout or '') + (made.stderr or '')).strip()[:120]}")
    device = {"transport": "adb", "serial": serial, "model": model.strip() or None, "abi": abi.strip() or None,
              "android": android.strip() or None,
              "benchmark_model": tools[".tflite"][0] if tflites else None,
              "executor_runner": tools[".pte"][0] if ptes else None, "workdir": workdir}
    results = []
    try:
        for local, name in zip(paths, names):
            remote = f"{workdir}/{name}"
            pushed = dev.run(["push", str(local), remote])
            if pushed.returncode != 0:
                raise EdgekitError(f"adb push {local.name} failed: {(pushed.stderr or pushed.stdout).strip()[:200]}")
            try:
                if local.suffix.lower() == ".pte":
                    args = executor_runner_args(tools[".pte"][0], remote, threads, warmup, runs)
                    out = dev.shell(executor_runner_line(args), merge=True).stdout or ""
                    try:
                        parsed = parse_executor_runner(out, warmup=warmup)
                    except EdgekitError as exc:
                        raise EdgekitError(f"{exc}{runner_exit(out)}") from None
                else:
                    from edgekit.artifact import read_sidecar

                    args = benchmark_model_args(tools[".tflite"][0], remote, threads, warmup, runs, seconds,
                                                input_layer_args(read_sidecar(local)))
                    out = dev.shell(shell_line(args), merge=True).stdout or ""
                    parsed = parse_benchmark_model(out)
            except EdgekitError as exc:
                raise EdgekitError(f"on {dev.label}, {local.name}: {exc}") from None
            results.append(_result(parsed, local, serial, device, threads))
    finally:
        gone = dev.shell(f"rm -rf {shlex.quote(workdir)}")
        if gone.returncode != 0:
            print(f"warning: could not remove {workdir} on {dev.label}", file=sys.stderr)
    return results


def _result(parsed: dict, local: Path, serial: str | None, device: dict, threads: int) -> dict:
    """The bench dict of one device run; a median the tool did not print is its mean, and says so."""
    from edgekit.runtimes.bench import add_artifact_metadata

    latency = dict(parsed["latency_ms"])
    result = {"kind": "bench", "schema": 1, "where": f"adb:{serial}" if serial else "adb", **parsed,
              "threads": parsed.get("threads") or threads, "latency_ms": latency, "seconds": None,
              "device": device, "interleaved_with": 1, "inputs": [],
              "host": {"machine": device["abi"], "system": "Android", "release": device["android"],
                       "node": device["model"], "python": None, "cpu_count": None}}
    if latency.get("median") is None and latency.get("mean") is not None:
        latency["median"] = latency["mean"]
        result["latency_note"] = f"{parsed.get('tool', 'the tool')} printed no percentiles: median is the mean"
    if parsed.get("tool") == "executor_runner" and parsed.get("threads") is None:
        result["threads_note"] = ("executor_runner printed no 'Resetting threadpool' line: built without "
                                  f"ET_USE_THREADPOOL, it did not apply --cpu_threads={threads}")
    return add_artifact_metadata(result, local)
