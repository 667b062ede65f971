"""A tiny space (one stage of 3 candidates, 16×16 input) and its latency table on this machine's
onnxruntime, built once per session: real exports, real timing, few runs."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = """\
[space]
name = "tiny"
input = [3, 16, 16]
num_classes = 10
stem = 8

[blocks.sm]
type = "micro"
kernel = 3
expansion = 2
groups = 2
act = "shiftmax"
j = 1
k = 1

[blocks.plain]
type = "micro"
kernel = [3, 5]
expansion = 2
groups = 2
act = "relu6"

[stages.s1]
out = 16
stride = 2
candidates = ["sm", "plain"]

[stages.s2]
out = 16
stride = 1
candidates = ["plain"]
"""


# one stage of three candidates: 5 distinct blocks, 3 architectures (2 calibrate the predictor)
ONE_STAGE = TINY.split("[stages.s2]")[0].rstrip() + "\n"


def write_space(path: Path, text: str = TINY) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def tiny_lut(tmp_path_factory):
    from edgekit.search.lut import build_lut
    from edgekit.search.space import load_space

    root = tmp_path_factory.mktemp("lut")
    space = load_space(write_space(root / "space.toml", ONE_STAGE))
    summary = build_lut(space, root / "lut", target="onnx", threads=(1,), runs=20, warmup=2, calibrate=2)
    return {"root": root, "lut": root / "lut", "space": space, "space_file": root / "space.toml", "summary": summary}
