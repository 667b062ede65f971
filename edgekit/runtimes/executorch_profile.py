"""Per-kernel times of a .pte from ExecuTorch's own event tracing (ETDump), for `edgekit profile`.

The program is loaded with ETDump enabled; each run records one event per XNNPACK kernel the
delegate executes ("Convolution (NHWC, F32) IGEMM #3", "Add (ND) #12", ...; the wheel's XNNPACK
delegate has kernel profiling on), one per portable kernel outside a delegate, and the
DELEGATE_CALL / Method::execute spans around them. `executorch.devtools.Inspector` reads the dump;
each kernel event becomes a node (its name), grouped by op type (the name up to " (") with the
kernel variant (the name without the "#n" instance number). Imports torch (see executorch_runner).
"""

from __future__ import annotations

import re
import tempfile
import time
import warnings
from pathlib import Path

SPANS = ("DELEGATE_CALL", "Method::execute", "Method::init", "Program::load_method")


def op_and_kernel(event_name: str) -> tuple[str, str]:
    """('Convolution', 'Convolution (NHWC, F32) IGEMM') from 'Convolution (NHWC, F32) IGEMM #3'."""
    kernel = re.sub(r"\s*#\d+$", "", event_name)
    return kernel.split(" (")[0].strip() or kernel, kernel


def profile_executorch(path: Path, threads: int, warmup: int, runs: int):
    """(wall-clock ms of the profiled runs, per run [(node, op, kernel, ms)]), the profile.summarize input."""
    from edgekit.runtimes.base import input_ranges, random_inputs
    from edgekit.runtimes.executorch_runner import ExecuTorchRunner

    runner = ExecuTorchRunner(path, threads=threads, etdump=True)
    feed = random_inputs(runner.inputs(), ranges=input_ranges(path))
    samples = []
    for i in range(warmup + runs):
        t0 = time.perf_counter_ns()
        runner.run(*feed)
        if i >= warmup:
            samples.append((time.perf_counter_ns() - t0) / 1e6)
    with tempfile.TemporaryDirectory(prefix="edgekit-profile-") as tmp:
        dump = Path(tmp) / "run.etdp"
        runner.write_etdump(dump)
        from executorch.devtools import Inspector

        with warnings.catch_warnings():  # "Output Buffer not found": no tensor debug data was asked for
            warnings.simplefilter("ignore")
            inspector = Inspector(etdump_path=str(dump))
    return samples, per_run_events(inspector, skip=warmup)


def per_run_events(inspector, skip: int = 0) -> list[list[tuple[str, str, str, float]]]:
    """[(node, op, kernel, ms)] per execution after the first `skip`, from an Inspector's Execute block."""
    per_run: list[list] = []
    for block in inspector.event_blocks:
        for e in block.events:
            if e.name in SPANS or e.perf_data is None:
                continue
            op, kernel = op_and_kernel(e.name)
            for r, ms in enumerate(list(e.perf_data.raw)[skip:]):
                while len(per_run) <= r:
                    per_run.append([])
                per_run[r].append((e.name, op, kernel, float(ms)))
    return per_run
