"""The executor_runner parser on REAL output pasted by people (see tests/data/executor_runner/SOURCES.md
for where each file comes from)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes.remote.executor_runner_parser import parse_executor_runner

from real_samples import assert_every_sample_sourced

DATA = Path(__file__).resolve().parents[1] / "data" / "executor_runner"


def parse(name: str, warmup: int = 0) -> dict:
    return parse_executor_runner((DATA / name).read_text(), warmup=warmup)


def failure(name: str) -> str:
    with pytest.raises(EdgekitError) as err:
        parse(name)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_every_sample_is_listed_with_its_source():
    assert_every_sample_sourced(DATA, 6)


def test_arm64_one_thread_run():
    r = parse("arm64_linear_fp32_1thread_etdump.txt")
    assert (r["tool"], r["runtime"]) == ("executor_runner", "executorch")
    assert r["model"] == "model/linear_model_f32.pte" and r["method"] == "forward"
    assert r["threads"] == 1  # "Resetting threadpool with num threads = 1"
    assert (r["executions"], r["runs"], r["total_ms"]) == (1, 1, 2.904883)
    lat = r["latency_ms"]
    # one execution: the total is its time, so every statistic is that one sample
    assert (lat["median"], lat["mean"], lat["min"], lat["max"]) == (2.904883,) * 4
    assert lat["std"] == 0.0 and r["samples_ms"] == [2.904883]
    assert r["init_ms"] is None  # "Model loaded in" came with ExecuTorch 1.3
    assert "latency_note" not in r


def test_docs_run_without_threadpool_line():
    r = parse("docs_mv2_xnnpack_fp32.txt")
    assert (r["executions"], r["total_ms"], r["latency_ms"]["median"]) == (1, 15.013292, 15.013292)
    assert r["threads"] is None and r["model"] is None  # the block starts at the timing line


def test_total_only_with_several_executions_is_a_mean_and_says_so():
    # The real arm64 lines as a runner before 1.3 prints them for --num_executions=11: the same
    # format string with a count of 11 (what "N time(s) in X ms" means: the total of all N).
    text = (DATA / "arm64_linear_fp32_1thread_etdump.txt").read_text().replace(
        "successfully 1 time(s) in 2.904883 ms", "successfully 11 time(s) in 31.953713 ms")
    r = parse_executor_runner(text, warmup=1)
    lat = r["latency_ms"]
    assert (r["executions"], r["runs"]) == (11, 11)
    assert lat["median"] == lat["mean"] == pytest.approx(31.953713 / 11)
    assert lat["min"] is None and lat["p90"] is None and lat["cv"] is None and r["warmup"] is None
    assert r["latency_note"] == ("executor_runner printed only the total of its 11 execution(s) (per-iteration "
                                 "times need ExecuTorch 1.3+): median is the mean, warm-up runs included (1); "
                                 "no min/max/percentiles")


def test_per_iteration_lines_drop_the_warmup():
    # ExecuTorch 1.3+ prints "Model loaded in X ms." and "Iteration i of N: X ms" (executor_runner.cpp
    # format strings) around the same real lines; the sample's timestamps and prefix are kept.
    lines = (DATA / "arm64_linear_fp32_1thread_etdump.txt").read_text().splitlines()
    at = next(i for i, l in enumerate(lines) if "Model executed successfully" in l)
    prefix = "I 00:00:00.091459 executorch:executor_runner.cpp:705] "
    times = [9.5, 3.1, 2.9, 3.0, 2.8]
    iters = [f"{prefix}Iteration {i + 1} of 5: {t:f} ms" for i, t in enumerate(times)]
    lines[at] = lines[at].replace("1 time(s) in 2.904883 ms", f"5 time(s) in {sum(times):f} ms")
    lines[at:at] = [prefix + "Model loaded in 39.258000 ms."] + iters
    r = parse_executor_runner("\n".join(lines), warmup=1)
    assert (r["executions"], r["warmup"], r["runs"]) == (5, 1, 4)
    assert r["first_inference_ms"] == 9.5 and r["warmup_mean_ms"] == 9.5 and r["init_ms"] == 39.258
    assert r["samples_ms"] == [3.1, 2.9, 3.0, 2.8]
    lat = r["latency_ms"]
    assert (lat["min"], lat["max"], lat["mean"]) == pytest.approx((2.8, 3.1, 2.95))
    assert lat["median"] == pytest.approx(2.95) and "latency_note" not in r


def test_android_logcat_lines_are_understood():
    # The Android log sink (runtime/platform/default/android.cpp) writes the same messages to logcat
    # under the tag "ExecuTorch"; `logcat -v threadtime` prefixes date, pid, tid and level.
    text = (DATA / "arm64_linear_fp32_1thread_etdump.txt").read_text()
    logcat = re.sub(r"^([DIEF]) \d+:\d\d:\d\d\.\d+ executorch:[^\]]*\] ",
                    lambda m: f"12-02 06:41:07.512  8123  8123 {m.group(1)} ExecuTorch: ", text, flags=re.M)
    assert logcat != text
    r = parse_executor_runner(logcat)
    assert (r["threads"], r["total_ms"], r["model"]) == (1, 2.904883, "model/linear_model_f32.pte")


def test_old_runner_without_timings_is_one_line():
    assert failure("x86_resnet18_portable_old_runner.txt") == (
        "this executor_runner prints no timings (ExecuTorch before 0.6 says only 'Model executed successfully.'): "
        "build executor_runner from ExecuTorch 0.6 or later")


def test_run_that_stopped_is_one_line():
    assert failure("linux_stuck_after_inputs_prepared.txt") == (
        "executor_runner stopped without timings or an error after 'Inputs prepared.' (killed, out of memory, "
        "or a crash?)")


def test_android_runner_built_without_logging_is_one_line():
    assert failure("android_z3q_xnn_runner_no_logging_head.txt") == (
        "executor_runner printed only its outputs, no log lines and so no timings: it was built without logging "
        "(Release builds turn it off); rebuild it with -DEXECUTORCH_ENABLE_LOGGING=ON")


def test_missing_operator_is_one_line_with_what_to_do():
    assert failure("missing_operator_scatter.txt") == (
        "executor_runner failed: Missing operator: [16] aten::scatter.src_out; the runner was built without that "
        "kernel: build it with the kernel libraries the model needs (e.g. -DEXECUTORCH_BUILD_KERNELS_OPTIMIZED=ON) "
        "or export the op into the delegate")


def test_the_runners_abort_line_is_kept_with_the_cause():
    # executor_runner then aborts with ET_CHECK_MSG (runtime/platform/assert.h: "In function %s(),
    # assert failed (%s): " + executor_runner.cpp's "Loading of method %s failed with status 0x%x");
    # 0x14 is Error::OperatorMissing (runtime/core/error.h). Appended in the sink's format.
    text = (DATA / "missing_operator_scatter.txt").read_text() + (
        "F 00:00:25.935790 executorch:executor_runner.cpp:152] In function main(), assert failed (method.ok()): "
        "Loading of method forward failed with status 0x14\n")
    with pytest.raises(EdgekitError) as err:
        parse_executor_runner(text)
    assert str(err.value).startswith("executor_runner failed: Missing operator: [16] aten::scatter.src_out "
                                     "(Loading of method forward failed with status 0x14); the runner was built")


def test_a_runner_without_the_flags_is_one_line():
    # A runner from before ExecuTorch 0.6 defines only --model_path; gflags (gflags.cc: kError +
    # "unknown command line flag '" + key + "'") refuses the first flag it does not know.
    with pytest.raises(EdgekitError) as err:
        parse_executor_runner("ERROR: unknown command line flag 'num_executions'\n")
    assert str(err.value) == ("this executor_runner has no --num_executions flag (ExecuTorch before 0.6): build "
                              "executor_runner from ExecuTorch 0.6 or later")
