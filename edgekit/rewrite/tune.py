"""Pick a static form per layer by measuring it: each candidate as a one-layer model at that
layer's real input shape, exported to the target with the target's own exporter (fp32), timed
side by side (interleaved, 1 thread) on the target's runtime with `benchmark_files`.

    timings = measure_forms({"a": module_a, "b": module_b}, (C, H, W), "onnx")   # form → median ms
    best = min(timings, key=timings.get)

Absolute numbers mean little on a shared machine; the candidates of one layer are timed in one
interleaved run, so their ratio does. A layer timed alone has no neighbours: the runtime cannot
fuse the activation that follows it, and its output is the graph's. Measured on
mobilenetv3-small-dyconv at 224 (benchmarks/results/dyconv_forms.md), the per-layer picks assembled
into the whole model ran 0.86× (onnxruntime), 0.96× (LiteRT), 0.99× (OpenVINO) of all-branches,
and on resnet18-dyconv, where the forms differ by a few % per layer, 0.98–1.08× (noise level).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import torch
from torch import nn

SECONDS = 0.25  # timing per candidate, interleaved in blocks of 5 runs
WARMUP = 5


def export_one(module: nn.Module, input_shape, target: str, stem: Path) -> Path:
    """`module` exported (fp32) to `target` next to `stem`; returns the main file."""
    from edgekit.exporters.base import ExportOptions, get_exporter

    exporter = get_exporter(target)
    paths = [stem.with_suffix(s) for s in exporter.suffixes]
    import copy

    from edgekit.rewrite.verify import default_dtype

    module32 = copy.deepcopy(module).float().eval()  # the rewrite engine builds candidates in float64
    with torch.no_grad(), default_dtype(torch.float32), contextlib.redirect_stdout(io.StringIO()):
        exporter.convert(module32, torch.zeros(1, *input_shape, dtype=torch.float32), paths, ExportOptions(target))
    return paths[0]


def measure_forms(candidates: dict[str, nn.Module], input_shape, target: str, seconds: float = SECONDS,
                  workdir: Path | None = None) -> dict[str, float]:
    """Median latency in ms of each candidate one-layer model on `target`, interleaved, 1 thread."""
    from edgekit.runtimes.bench import benchmark_files

    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgekit-tune-")))
        names = list(candidates)
        files = [export_one(candidates[n], input_shape, target, Path(workdir) / f"{i}_{n}") for i, n in enumerate(names)]
        results = benchmark_files(files, runtime="auto", threads=1, warmup=WARMUP, seconds=seconds)
    return {n: round(float(r["latency_ms"]["median"]), 5) for n, r in zip(names, results)}
