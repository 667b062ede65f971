"""A sweep over models with several named inputs: a user's two-input model declares `inputs` in its
[models.X] table, a zoo model with named inputs (tcn-small) brings its card's; neither takes the
input-size axis (one size: its own), both export, bench and land in results/select beside an image model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

EDGEKIT = [sys.executable, "-m", "edgekit"]

TWO_INPUTS = '''
import torch
from torch import nn


class Grounding(nn.Module):
    """a feature sequence and int64 query ids -> a score per step, and a pooled score"""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1)

    def forward(self, video, tokens):
        q = self.embed(tokens).mean(1)  # (N, 8)
        s = (self.conv(video) * q.unsqueeze(2)).sum(1)  # (N, T)
        return s, s.mean(1, keepdim=True)


def build():
    return Grounding()
'''


def _sweep(tmp_path, models_extra: str, models: list[str]) -> str:
    (tmp_path / "grounding.py").write_text(TWO_INPUTS)
    text = (f'[grid]\nmodels = {json.dumps(models)}\ninput_sizes = [32, 48]\ntargets = ["onnx"]\n'
            'precisions = ["fp32"]\n\n' + models_extra +
            '\n[bench]\nruns = 5\nwarmup = 1\n\n[export]\nverify = false\nparity_samples = 2\n')
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


def _run(*args):
    return subprocess.run([*EDGEKIT, *map(str, args)], capture_output=True, text=True, timeout=900)


def test_grid_gives_models_with_named_inputs_one_size(tmp_path):
    from edgekit.sweep.grid import load_sweep

    path = _sweep(tmp_path, '[models.grounding]\nsource = "grounding.py:build"\n'
                            'inputs = ["video=8,16", "tokens=6:int64"]\n', ["micronet-m0", "grounding", "tcn-small"])
    sweep = load_sweep(path)
    sizes = {m: sorted((c.export.input_size or 0) for c in sweep.cells() if c.export.model.name == m)
             for m in ("micronet-m0", "grounding", "tcn-small")}
    assert sizes == {"micronet-m0": [32, 48], "grounding": [0], "tcn-small": [0]}  # 0: declared inputs (None)
    g = next(m for m in sweep.models if m.name == "grounding")
    assert g.inputs == ("video=8,16", "tokens=6:int64") and g.fixed_inputs


@pytest.mark.parametrize("bad, needle", [
    ('inputs = ["video"]', "inputs"),
    ('inputs = ["=8,16"]', "inputs"),
    ('inputs = "video=8,16"', "inputs"),
])
def test_bad_inputs_are_one_line_with_the_key(tmp_path, bad, needle):
    path = _sweep(tmp_path, f'[models.grounding]\nsource = "grounding.py:build"\n{bad}\n', ["grounding"])
    proc = _run("sweep", path, "-o", tmp_path / "r", "--dry-run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and needle in err[0] and "s.toml" in err[0], proc.stderr


def test_sweep_exports_and_times_a_two_input_model_beside_an_image_model(tmp_path):
    path = _sweep(tmp_path, '[models.grounding]\nsource = "grounding.py:build"\n'
                            'inputs = ["video=8,16", "tokens=6:int64"]\n', ["micronet-m0", "grounding"])
    out = tmp_path / "r"
    summary = json.loads(_run("sweep", path, "-o", out, "--json").stdout)
    assert summary["ok"] == 3 and summary["failed"] == 0, summary  # m0 at 32 and 48, grounding once
    records = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines() if ln.strip()]
    g = [r for r in records if r["cell"]["model"] == "grounding"]
    assert len(g) == 1 and g[0]["cell"]["input_size"] is None
    assert g[0]["bench"]["latency_ms"]["median"] > 0
    parity = g[0]["export"]["parity"]
    assert len(parity["outputs"]) == 2 and all(o["rel_max_abs_diff"] <= 1e-4 for o in parity["outputs"].values())
    assert [i["dtype"] for i in g[0]["export"]["card"]["inputs"]] == ["float32", "int64"]
    proc = _run("select", out, "--device", "local", "--runners-up", "5")  # the text lists every cell considered
    assert proc.returncode == 0, proc.stderr
    assert "grounding declared inputs onnx fp32" in proc.stdout, proc.stdout
