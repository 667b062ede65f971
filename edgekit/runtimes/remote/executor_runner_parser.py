"""Parse what ExecuTorch's `executor_runner` (and the XNNPACK-linked `xnn_executor_runner`) prints
into edgekit's bench schema.

Facts from the runner's source (examples/portable/executor_runner/executor_runner.cpp, ExecuTorch
v0.4 … main) and its log sink (runtime/platform/default/posix.cpp, android.cpp):

  every line is an ET_LOG, which exists only when the runner was built with logging on
  (EXECUTORCH_ENABLE_LOGGING, off by default in Release builds: such a runner prints only its
  "OutputX 0: tensor(...)" summary). The POSIX log sink writes to stderr as
      I 00:00:00.091459 executorch:executor_runner.cpp:340] <message>
  and the Android one (EXECUTORCH_PAL_DEFAULT=android, the android-arm64-v8a preset) writes to
  logcat with the tag "ExecuTorch" instead:
      07-14 13:14:52.097 22838 22838 I ExecuTorch: <message>

  Resetting threadpool with num threads = N      (built with the threadpool; N from --cpu_threads)
  Model file PATH is loaded.
  Model loaded in X ms.                          (v1.3+: program + method load)
  Iteration i of N: X ms                         (v1.3+: one line per execution)
  Model executed successfully N time(s) in X ms. (v0.6+: the total of all N executions)
  Model executed successfully.                   (v0.5 and before: no count, no time)
  F ... In function main(), assert failed (...): Loading of method forward failed with status 0x..

There is no warm-up flag: every one of --num_executions is timed. edgekit asks for warm-up + runs
executions and drops the first `warmup` per-iteration times; a runner that prints only the total
gives the mean over all executions, warm-up included, and the result says so (`latency_note`).
"""

from __future__ import annotations

import re

from edgekit.errors import EdgekitError
from edgekit.runtimes.device_bench import latency_stats

_NUM = r"\d+(?:\.\d+)?"
_POSIX = re.compile(r"^[DIEF] \d+:\d\d:\d\d\.\d+ executorch:[^\]\s]*\] ?")
_LOGCAT = re.compile(r"^(?:\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+([VDIWEF]) ExecuTorch\s*: ?"
                     r"|([VDIWEF])/ExecuTorch\(\s*\d+\): ?)")
_TOTAL = re.compile(rf"Model executed successfully (\d+) time\(s\) in ({_NUM}) ms")
_OLD_SUCCESS = re.compile(r"Model executed successfully\.\s*$")
_ITER = re.compile(rf"Iteration (\d+) of (\d+): ({_NUM}) ms")
_LOAD = re.compile(rf"Model loaded in ({_NUM}) ms")
_THREADS = re.compile(r"Resetting threadpool with num threads = (\d+)")
_MODEL = re.compile(r"Model file (.*) is loaded\.")
_METHOD = re.compile(r"Using method (\S+)")
_UNKNOWN_FLAG = re.compile(r"ERROR: unknown command line flag '(\w+)'")
_CAUSES = ("Missing operator", "is not registered", "Init failed for backend", "kernel '", "Failed to")


def _log_lines(text: str) -> list[tuple[str, str]]:
    """(level, message) of every ExecuTorch log line, in either sink's format."""
    out = []
    for raw in text.splitlines():
        line = raw.rstrip("\r\n")
        if m := _POSIX.match(line):
            out.append((line[0], line[m.end():].strip()))
        elif m := _LOGCAT.match(line):
            out.append((m.group(1) or m.group(2), line[m.end():].strip()))
    return out


def _failure(text: str, logs: list[tuple[str, str]]) -> str:
    """One line saying why the output holds no timings, and what to do about it."""
    if m := _UNKNOWN_FLAG.search(text):
        return (f"this executor_runner has no --{m.group(1)} flag (ExecuTorch before 0.6): build executor_runner "
                f"from ExecuTorch 0.6 or later")
    errors = [msg for level, msg in logs if level in "EF"]
    if errors:
        cause = next((e for e in errors if any(c in e for c in _CAUSES)), None)
        fatal = next((e for e in errors if "assert failed" in e), None)
        detail = cause or fatal or errors[0]
        if cause and fatal and cause != fatal:
            detail = f"{cause} ({fatal.split('): ', 1)[-1]})"
        hint = ""
        if "Missing operator" in detail or "kernel '" in detail:
            hint = ("; the runner was built without that kernel: build it with the kernel libraries the model needs "
                    "(e.g. -DEXECUTORCH_BUILD_KERNELS_OPTIMIZED=ON) or export the op into the delegate")
        elif "is not registered" in detail:
            hint = "; the runner was built without that backend: build it with -DEXECUTORCH_BUILD_XNNPACK=ON"
        return f"executor_runner failed: {detail[:200]}{hint}"
    if any(_OLD_SUCCESS.search(msg) for _, msg in logs):
        return ("this executor_runner prints no timings (ExecuTorch before 0.6 says only 'Model executed "
                "successfully.'): build executor_runner from ExecuTorch 0.6 or later")
    if not logs:
        outputs = any(l.lstrip().startswith(("Output", "OutputX")) for l in text.splitlines())
        return (f"executor_runner printed {'only its outputs' if outputs else 'nothing'}, no log lines and so no "
                f"timings: it was built without logging (Release builds turn it off); rebuild it with "
                f"-DEXECUTORCH_ENABLE_LOGGING=ON")
    return (f"executor_runner stopped without timings or an error after '{logs[-1][1][:120]}' "
            f"(killed, out of memory, or a crash?)")


def parse_executor_runner(text: str, warmup: int = 0) -> dict:
    """The bench schema (latencies in ms) from executor_runner's output (stderr, or logcat on Android).

    `warmup` is how many of the executions were warm-up: their per-iteration times are left out.
    Raises EdgekitError, one line, when the output holds no timings.
    """
    logs = _log_lines(text)
    messages = [msg for _, msg in logs]
    total = next((m for msg in reversed(messages) if (m := _TOTAL.search(msg))), None)
    if total is None:
        raise EdgekitError(_failure(text, logs))
    executions, total_ms = int(total.group(1)), float(total.group(2))
    iterations = [(int(m.group(1)), float(m.group(3))) for msg in messages if (m := _ITER.search(msg))]
    samples = [ms for _, ms in sorted(dict(iterations).items())]  # one per execution, by index

    def first(pattern, cast=str):
        return next((cast(m.group(1)) for msg in messages if (m := pattern.search(msg))), None)

    if not samples and executions == 1:  # one execution: its total is its time
        samples = [total_ms]
    note = None
    if len(samples) == executions and executions > warmup:
        timed = samples[warmup:]
        latency = latency_stats(timed)
        latency.update(p5=None, p95=None)
        runs, first_ms = len(timed), samples[0]
        warm_mean = sum(samples[:warmup]) / warmup if warmup else None
    else:
        mean = total_ms / executions
        latency = {"median": mean, "mean": mean, "p5": None, "p90": None, "p95": None, "p99": None,
                   "min": None, "max": None, "std": None, "cv": None}
        timed, runs, first_ms, warm_mean = [], executions, None, None
        note = (f"executor_runner printed only the total of its {executions} execution(s) (per-iteration times "
                f"need ExecuTorch 1.3+): median is the mean"
                + (f", warm-up runs included ({warmup})" if warmup else "") + "; no min/max/percentiles")
    return {
        "runtime": "executorch",
        "runtime_version": None,
        "tool": "executor_runner",
        "model": first(_MODEL),
        "method": first(_METHOD),
        "threads": first(_THREADS, int),
        "warmup": warmup if samples and len(samples) == executions else None,
        "runs": runs,
        "executions": executions,
        "total_ms": total_ms,
        "init_ms": first(_LOAD, float),
        "session_init_ms": None,
        "first_inference_ms": first_ms,
        "warmup_mean_ms": warm_mean,
        "latency_ms": latency,
        "samples_ms": timed,
        "peak_rss_mb": None,
        "memory": {},
        "delegate": {},
        "ops": [],
        **({"latency_note": note} if note else {}),
    }
