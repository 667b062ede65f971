"""Why an INT8 .tflite can be slower than its FP32 twin on one LiteRT build and not on another.

    python benchmarks/probes/tflite_int8_delegation.py FP32.tflite INT8.tflite [--module ai_edge_litert]
    PYTHONPATH=/tmp/tfl214 python benchmarks/probes/tflite_int8_delegation.py FP32.tflite INT8.tflite \
        --module tflite_runtime        # tflite-runtime 2.14 installed with pip --target (needs numpy<2)

Loads both files with the named interpreter module (1 thread, its default XNNPACK delegate), prints
what that build delegates (device_bench.litert_delegation: partitions, ops left on default kernels)
and times the two interleaved in this one process (blocks of runs, medians). Answer recorded in
benchmarks/results/arm_matrix.md.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import statistics
import time
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "device_bench", Path(__file__).resolve().parents[2] / "edgekit" / "runtimes" / "device_bench.py")
db = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(db)


def load(module: str, path: str):
    interp = importlib.import_module(f"{module}.interpreter").Interpreter(model_path=path, num_threads=1)
    interp.allocate_tensors()
    d = interp.get_input_details()[0]
    x = db.make_inputs([(d["name"], tuple(d["shape"]), np.dtype(d["dtype"]).name)])[0]

    def run():
        interp.set_tensor(d["index"], x)
        interp.invoke()

    return interp, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fp32")
    ap.add_argument("int8")
    ap.add_argument("--module", default="ai_edge_litert")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--block", type=int, default=20)
    args = ap.parse_args()
    dist = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}[args.module]
    loaded = {k: load(args.module, p) for k, p in (("fp32", args.fp32), ("int8", args.int8))}
    for _, run in loaded.values():
        for _ in range(10):
            run()
    samples = {k: [] for k in loaded}
    for _ in range(args.rounds):
        for k, (_, run) in loaded.items():
            for _ in range(args.block):
                t0 = time.perf_counter_ns()
                run()
                samples[k].append((time.perf_counter_ns() - t0) / 1e6)
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(json.dumps({"runtime": dist, "version": db.dist_version(dist), "median_ms": med,
                      "int8_over_fp32": med["int8"] / med["fp32"],
                      "delegation": {k: db.litert_delegation(i) for k, (i, _) in loaded.items()}}, indent=1))


if __name__ == "__main__":
    main()
