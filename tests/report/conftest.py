"""Real bench and profile JSON for the report tests: tiny ONNX models (onnx.helper, no torch) with
sidecars, measured by `edgekit bench` and `edgekit profile` in a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EDGEKIT = [sys.executable, "-m", "edgekit"]


def make_onnx(path: Path, channels: int, size: int, layers: int) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, x, cin = [], [], "x", 3
    for i in range(layers):
        inits.append(numpy_helper.from_array((rng.standard_normal((channels, cin, 3, 3)) * 0.1).astype(np.float32),
                                             f"w{i}"))
        nodes += [helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x, cin = f"r{i}", channels
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["y"]))
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, 1, 1])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def measured(tmp_path_factory) -> dict[str, Path]:
    """bench.json (3 models) and profile.json (1 model), produced by the real commands."""
    d = tmp_path_factory.mktemp("report-inputs")
    specs = {"net-a": (8, 16, 1), "net-b": (16, 32, 2), "net-c": (32, 32, 3)}
    files = []
    for name, (channels, size, layers) in specs.items():
        f = make_onnx(d / f"{name}.onnx", channels, size, layers)
        (d / f"{name}.onnx.edgekit.json").write_text(json.dumps({"model": name, "precision": "fp32",
                                                                 "target": "onnx"}))
        files.append(f)
    bench, profile = d / "bench.json", d / "profile.json"
    proc = subprocess.run(EDGEKIT + ["bench", *map(str, files), "--runs", "20", "--warmup", "2", "--json",
                                     "-o", str(bench)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(EDGEKIT + ["profile", str(files[2]), "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    profile.write_text(proc.stdout)
    return {"bench": bench, "profile": profile, "dir": d}
