"""The benchmark_model parser on REAL output pasted by people on their devices (see
tests/data/benchmark_model/SOURCES.md for where each file comes from)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes.remote.benchmark_model_parser import parse_benchmark_model

from real_samples import assert_every_sample_sourced

DATA = Path(__file__).resolve().parents[1] / "data" / "benchmark_model"


def parse(name: str) -> dict:
    return parse_benchmark_model((DATA / name).read_text())


def test_every_sample_is_listed_with_its_source():
    assert_every_sample_sourced(DATA, 6)


def test_riscv_op_profiling_run():
    r = parse("riscv_qemu_mobilenet_v1_op_profiling.txt")
    assert r["model"] == "./mobilenet_v1_1.0_224.tflite" and r["threads"] == 4
    assert (r["warmup"], r["runs"]) == (1, 50)
    assert r["init_ms"] == pytest.approx(17.187) and r["session_init_ms"] == pytest.approx(17.187)
    assert r["first_inference_ms"] == pytest.approx(3512.391)
    assert r["warmup_mean_ms"] == pytest.approx(3512.39)  # "3.51239e+06" us
    lat = r["latency_ms"]
    assert lat["mean"] == pytest.approx(2950.34)  # "avg=2.95034e+06"
    assert (lat["min"], lat["max"], lat["std"]) == pytest.approx((2727.568, 3189.954, 109.798))
    assert lat["cv"] == pytest.approx(109798 / 2.95034e6)
    assert lat["median"] is None and lat["p90"] is None  # this build printed no percentiles
    assert r["memory"] == {"kind": "delta_from_start", "init_mb": 4.21094, "overall_mb": 46.0859}
    assert r["peak_rss_mb"] == 46.0859
    # "Summary by node type" of the regular runs, not of the initialization
    assert [(o["op"], o["count"], o["ms"]) for o in r["ops"]] == [
        ("CONV_2D", 15, 2651.853), ("DEPTHWISE_CONV_2D", 13, 296.919), ("AVERAGE_POOL_2D", 1, 0.869),
        ("SOFTMAX", 1, 0.232), ("SQUEEZE", 1, 0.016)]
    assert sum(o["percent"] for o in r["ops"]) == pytest.approx(100.0, abs=0.01)


def test_android_tf24_peak_memory_format():
    r = parse("mi11_yolov5s_fp32_cpu.txt")
    assert (r["runs"], r["warmup"]) == (50, None)  # only the regular stat line was pasted
    assert (r["init_ms"], r["first_inference_ms"], r["warmup_mean_ms"]) == pytest.approx((16.242, 360.262, 304.586))
    lat = r["latency_ms"]
    assert (lat["mean"], lat["min"], lat["max"], lat["std"]) == pytest.approx((249.684, 247.067, 254.474, 1.442))
    assert r["memory"] == {"kind": "peak", "init_mb": 4.92969, "overall_mb": 138.809}
    assert r["peak_rss_mb"] == 138.809 and r["ops"] == [] and r["delegate"] == {}


def test_android_delta_memory_format():
    r = parse("mi11_yolov5s_int8_cpu.txt")
    assert r["latency_ms"]["mean"] == pytest.approx(159.413)
    assert r["init_ms"] == pytest.approx(1.829)
    assert r["memory"]["kind"] == "delta_from_start" and r["peak_rss_mb"] == 43.9961


def test_raspberry_pi_xnnpack_run():
    r = parse("rpi_xnnpack_yolo_int8.txt")  # first line is the prompt glued to STARTING!
    assert r["model"] == "yolo_best_recall_int8_static.tflite" and r["threads"] == 4
    assert (r["warmup"], r["runs"]) == (10, 50)
    assert r["latency_ms"]["mean"] == pytest.approx(55.7442) and r["latency_ms"]["max"] == pytest.approx(113.361)
    assert r["delegate"] == {"name": "XNNPACK", "fully_delegated": False, "partitions": 1}
    assert r["peak_rss_mb"] is None and r["memory"] == {}


def test_raspberry_pi_profiling_head():
    r = parse("rpi_yolo_int8_op_profiling_head.txt")
    assert (r["warmup"], r["runs"]) == (9, 50)
    assert r["init_ms"] == pytest.approx(18.777) and r["latency_ms"]["std"] == pytest.approx(1.562)
    assert r["memory"]["init_mb"] == 8.97656


def test_failed_run_is_one_line_error():
    with pytest.raises(EdgekitError) as err:
        parse("mi11_yolov5s_int8_nnapi_failed.txt")
    assert str(err.value) == ("benchmark_model printed no timings: ERROR: NN API returned error "
                              "ANEURALNETWORKS_OP_FAILED at line 3779 while completing NNAPI compilation.")


def test_logger_prefixes_and_percentiles_are_understood():
    # The same real lines as the Raspberry Pi paste, as Android's logcat and newer builds print them
    # (logger prefix; percentiles appended to the stat line).
    text = (DATA / "rpi_xnnpack_yolo_int8.txt").read_text().splitlines()
    prefixed = "\n".join("07-14 13:14:52.097 22838 22838 I tflite  : " + l for l in text)
    prefixed = prefixed.replace("avg=55744.2 std=9900", "avg=55744.2 std=9900 p5=52600 median=53400 p95=61000")
    r = parse_benchmark_model(prefixed)
    assert r["runs"] == 50 and r["latency_ms"]["mean"] == pytest.approx(55.7442)
    assert (r["latency_ms"]["p5"], r["latency_ms"]["median"], r["latency_ms"]["p95"]) == pytest.approx((52.6, 53.4, 61.0))
