"""What "stock" means in every benchmark: what a user gets from each ecosystem's own tool on the
unmodified model, with default settings. One definition, imported by every script here.

- ONNX: `torch.onnx.export(model, x, path)` with torch's defaults (static shapes, batch 1).
- LiteRT: `litert_torch.convert(model, (x,))`.
- OpenVINO: the stock ONNX file, read by OpenVINO (what `ov.convert_model("m.onnx")` sees).
- INT8: onnxruntime `quantize_static` (QDQ, per-channel) of the stock ONNX; NNCF `quantize` of
  the stock OpenVINO model; ai-edge-quantizer's static int8 recipe on the stock .tflite.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def quiet():
    """Silence converter chatter (Python warnings, logging, stdout) for a benchmark table."""
    logging.disable(logging.WARNING)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def reference_model(name: str, size: int, seed: int = 0):
    """The zoo model, seeded, with BatchNorm statistics from data (as after training), eval mode."""
    import torch

    from edgekit.models.source import load_model

    torch.manual_seed(seed)
    model, _ = load_model(name, input_size=size)
    return model


def save_weights(model, path: Path) -> Path:
    """So edgekit's export of `name` uses exactly the weights the stock paths see."""
    import torch

    torch.save(model.state_dict(), path)
    return path


def model_and_weights(name: str, size: int, tmp: Path):
    """reference_model(name, size) and its weights saved under tmp: (model, weights path)."""
    model = reference_model(name, size)
    return model, save_weights(model, tmp / f"{name}.pth")


def interleave_args(ap, rounds: int) -> None:
    """--models / --size / --rounds / --block of the time_alternating scripts."""
    ap.add_argument("--models", default="micronet-m0,micronet-m1,micronet-m2,micronet-m3")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--block", type=int, default=20)


def stock_onnx(model, size: int, path: Path, example=None) -> Path:
    """`example`: the input to trace (default an RGB image of `size`; a clip for video models)."""
    import torch

    with quiet(), torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 3, size, size) if example is None else example,), str(path))
    return path


def stock_tflite(model, size: int, path: Path, example=None) -> Path:
    import torch

    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    import litert_torch

    x = torch.zeros(1, 3, size, size) if example is None else example
    with quiet(), torch.no_grad():
        path.write_bytes(bytes(litert_torch.convert(model, (x,)).model_content()))
    return path


def ort_quantize(src: Path, calib: np.ndarray, out: Path, fmt: str = "qdq", per_channel: bool = True) -> Path:
    """onnxruntime quantize_static of `src` on `calib` (QDQ per-channel is the stock setting)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{input_name: calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.items, None)

    with quiet():
        quantize_static(str(src), str(out), Reader(), per_channel=per_channel,
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator)
    return out


def stock_int8(runtime: str, model, size: int, calib: np.ndarray, tmp: Path, name: str) -> Path:
    """The stock INT8 path of `runtime` ("onnxruntime" | "openvino" | "litert")."""
    if runtime == "onnxruntime":
        src = stock_onnx(model, size, tmp / f"{name}-stock-q.onnx")
        return ort_quantize(src, calib, tmp / f"{name}-stock-int8.onnx")
    if runtime == "openvino":
        import nncf
        import openvino as ov

        src = stock_onnx(model, size, tmp / f"{name}-stock-ov.onnx")
        with quiet():
            q = nncf.quantize(ov.convert_model(str(src)), nncf.Dataset([calib[i:i + 1] for i in range(len(calib))]),
                              subset_size=len(calib))
        out = tmp / f"{name}-stock-int8.xml"
        ov.save_model(q, str(out), compress_to_fp16=False)
        return out
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    fp32 = stock_tflite(model, size, tmp / f"{name}-stock-q.tflite").read_bytes()
    with quiet():
        qt = quantizer.Quantizer(bytearray(fp32), recipe.static_wi8_ai8())
        it = Interpreter(model_content=fp32)
        key = next(iter(it.get_signature_list()))
        in_name = it.get_signature_list()[key]["inputs"][0]
        cal = qt.calibrate({key: [{in_name: calib[i:i + 1]} for i in range(len(calib))]}, num_threads=1)
        content = bytes(qt.quantize(cal, enable_progress_bar=False, enable_progress_report=False).quantized_model)
    out = tmp / f"{name}-stock-int8.tflite"
    out.write_bytes(content)
    return out


def round_times(calls: dict, rounds: int, block: int) -> dict[str, list[float]]:
    """ms per run of each zero-argument callable, one value per round: blocks of `block` runs
    interleaved over `rounds` rounds, the order flipped every round so drift and load hit every
    callable alike. Round i of two callables is a pair timed seconds apart: `pair_ratio` uses that."""
    for call in calls.values():  # warm up
        for _ in range(block):
            call()
    times = {k: [] for k in calls}
    for i in range(rounds):
        order = list(calls) if i % 2 == 0 else list(reversed(calls))
        for k in order:
            call = calls[k]
            t0 = time.perf_counter()
            for _ in range(block):
                call()
            times[k].append((time.perf_counter() - t0) / block * 1e3)
    return times


def round_times_per_count(calls: dict, threads: list[int], rounds: int, block: int) -> dict:
    """round_times for a runtime with one thread pool per process (ExecuTorch): the calls of one thread
    count (key[1]) at a time, the counts one after another (a pool reset reloads the other programs)."""
    times = {}
    for n in threads:
        times |= round_times({k: c for k, c in calls.items() if k[1] == n}, rounds, block)
    return times


def pair_ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of a's time / b's time in the same round (round_times)."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def time_alternating(runners: dict, feeds: dict, rounds: int, block: int) -> dict[str, float]:
    """Median ms per run for each runner (its input in `feeds`), blocks of `block` runs interleaved over
    `rounds` rounds, the order flipped every round so drift and load hit every runner alike."""
    times = round_times({k: (lambda r=r, x=feeds[k]: r.run(x)) for k, r in runners.items()}, rounds, block)
    return {k: statistics.median(v) for k, v in times.items()}


def pair_at_threads(files: dict, threads: list[int], rounds: int, block: int, feed=None) -> dict[int, dict]:
    """Two files {"a": path, "b": path} timed interleaved (round_times) at every thread count: per count
    {"ratio": median over rounds of a / b, "a_ms", "b_ms": medians}. `feed(runner)` gives the inputs
    (default: random inputs in each input's range and dtype)."""
    from edgekit.runtimes.base import open_runner, random_inputs

    (ka, fa), (kb, fb) = files.items()
    calls = {}
    for n in threads:
        for k, f in ((ka, fa), (kb, fb)):
            runner = open_runner(f, threads=n)
            x = feed(runner) if feed is not None else random_inputs(runner.inputs())
            calls[(k, n)] = (lambda rr=runner, xx=x: rr.run(*xx))
    times = round_times(calls, rounds, block)
    return {n: {"ratio": pair_ratio(times, (ka, n), (kb, n)), "a_ms": statistics.median(times[(ka, n)]),
                "b_ms": statistics.median(times[(kb, n)])} for n in threads}


def partitions_text(delegate: dict) -> str:
    """'partitions / ops on default kernels' of a census delegate entry."""
    return f"{delegate['partitions']} / {delegate['default_kernel_ops']}"


def emit(text: str, out) -> None:
    """Print a results table and write it to `out` (a Path) when given."""
    print(text)
    if out:
        Path(out).write_text(text)
