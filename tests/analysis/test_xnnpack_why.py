"""The census says why XNNPACK left each node on LiteRT's default kernels (edgekit/analysis/xnnpack_why.py):
each rule on a real converted graph that trips it, next to one that does not, and the rules alone."""

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.analysis.xnnpack_why import MAX_CONCAT_INPUTS, why_left, why_lines

pytest.importorskip("ai_edge_litert")


class Tripping(nn.Module):
    """What the research line brings: int64 ids into an embedding, a 6-input concat, a Q·Kᵀ adjacency."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.q, self.k = nn.Linear(8, 8), nn.Linear(8, 8)
        self.conv = nn.Conv2d(6, 4, 1)

    def forward(self, tokens, a, b, c, d, e, f):
        m = self.embed(tokens)  # (1, 12, 8)
        adj = self.q(m) @ self.k(m).transpose(1, 2)  # the converter writes a FULLY_CONNECTED with dynamic weights
        y = self.conv(torch.cat([a, b, c, d, e, f], 1))
        return y, torch.softmax(adj, -1) @ m


class Clean(nn.Module):
    """The same without the causes: float inputs, a 5-input concat, constant weights."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.conv = nn.Conv2d(5, 4, 1)

    def forward(self, m, a, b, c, d, e):
        return self.conv(torch.cat([a, b, c, d, e], 1)), self.q(m)


def _census(model, example, tmp_path):
    from edgekit.analysis.census_tflite import census
    from edgekit.exporters.tflite import litert_convert

    path = tmp_path / f"{type(model).__name__}.tflite"
    path.write_bytes(litert_convert(model.eval(), example))
    return census(path)["delegate"]


def test_each_cause_is_named_on_a_real_graph(tmp_path):
    img = tuple(torch.randn(1, 1, 8, 8) for _ in range(6))
    d = _census(Tripping(), (torch.randint(0, 50, (1, 12)),) + img, tmp_path)
    why = {(w["op"], w["why"].split(":")[0]) for w in d["default_kernel_why"]}
    assert ("EMBEDDING_LOOKUP", "EMBEDDING_LOOKUP is not an XNNPACK operator") in why
    assert ("CONCATENATION", "6 inputs") in why
    assert ("FULLY_CONNECTED", "weights computed at run time (both operands dynamic)") in why
    assert len(d["default_kernel_why"]) == d["default_kernel_ops"]  # every node left has its line
    assert not any("not explained" in w["why"] for w in d["default_kernel_why"]), d["default_kernel_why"]

    clean = _census(Clean(), (torch.randn(1, 12, 8),) + img[:5], tmp_path)
    assert clean["default_kernel_ops"] == 0 and clean["default_kernel_why"] == [] and clean["fully_delegated"]


def test_rules_alone():
    f32, i32 = np.float32, np.int32
    dtypes = {0: f32, 1: f32, 2: f32, 3: i32, 4: f32}
    dyn = {0, 2, 3, 4}  # tensor 1 is a constant
    assert why_left({"op": "FULLY_CONNECTED", "inputs": [0, 1], "outputs": [4]}, dtypes, dyn) == \
        "not explained by edgekit's rules"  # constant weights: nothing to blame
    assert why_left({"op": "FULLY_CONNECTED", "inputs": [0, 2], "outputs": [4]}, dtypes, dyn).startswith("weights computed")
    assert why_left({"op": "RESHAPE", "inputs": [3], "outputs": [3]}, dtypes, dyn).startswith("int32 tensors")
    assert why_left({"op": "CONCATENATION", "inputs": [0] * MAX_CONCAT_INPUTS, "outputs": [4]}, dtypes, dyn) == \
        "not explained by edgekit's rules"
    assert why_lines({"default_kernel_why": [{"op": "GATHER", "why": "x"}, {"op": "GATHER", "why": "x"}]}) == ["GATHER x2: x"]
