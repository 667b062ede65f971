"""The DA-NAS-style search on a small slice of the digits, against the tiny space's real table."""

import json
import subprocess
import sys

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.search.danas import LatencyModel, search, stage_classes
from edgekit.search.predict import load_table


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    from edgekit.search.data import digit_images

    x, y = digit_images(16)
    keep = np.random.default_rng(0).permutation(len(y))[:400]
    p = tmp_path_factory.mktemp("digits") / "digits16.npz"
    np.savez(p, x=x[keep], y=y[keep])
    return p


def test_budget_no_architecture_meets(tiny_lut, tmp_path):
    table = load_table(tiny_lut["lut"], "local")
    fastest = LatencyModel(tiny_lut["space"], table, 1).fastest()[1]
    with pytest.raises(EdgekitError, match=r"no architecture of tiny can meet it on local .* predicted at"):
        search(tiny_lut["space"], table, threads=1, budget_ms=fastest * 0.9, data="digits", out_dir=tmp_path / "s",
               device="local")
    assert not (tmp_path / "s").exists()
    proc = subprocess.run([sys.executable, "-m", "edgekit", "search", str(tiny_lut["space_file"]), "--lut",
                           str(tiny_lut["lut"]), "--max-latency-ms", "0.000001", "--data", "digits", "-o",
                           str(tmp_path / "s")], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_stage_classes():
    assert stage_classes(list(range(10)), None) == [list(range(4)), list(range(7)), list(range(10))]
    with pytest.raises(EdgekitError):
        stage_classes(list(range(10)), [4, 3, 10])


def test_search_prunes_writes_an_exportable_module_and_resumes(tiny_lut, digits_npz, tmp_path):
    table = load_table(tiny_lut["lut"], "local")
    lat = LatencyModel(tiny_lut["space"], table, 1)
    slowest = max(lat.predict([c]) for c in range(3))
    budget = slowest * 1.5  # every architecture fits: the choice is the supernet's
    out = tmp_path / "found"
    rep = search(tiny_lut["space"], table, threads=1, budget_ms=budget, data=str(digits_npz), out_dir=out,
                 device="local", epochs=1, final_epochs=2, stages=[4, 10], measure=True, runs=20)
    assert [s["candidates_before"] for s in rep["stages"]] == [[3], [2]]
    assert [s["candidates_left"] for s in rep["stages"]] == [[2], [2]]  # half pruned after stage 1; the last picks
    assert [len(s["classes"]) for s in rep["stages"]] == [4, 10]
    assert rep["stages"][0]["classes"] == rep["class_order"][:4]
    assert rep["predicted_ms"] <= budget and rep["predicted_ms"] == pytest.approx(lat.predict(rep["choice"]))
    assert rep["choice"][0] in [i for i, lab in enumerate(tiny_lut["space"].stages[0].labels())
                                if lab in rep["stages"][0]["left"][0]]
    assert rep["measured_ms"] > 0 and rep["measured_conditions"]["runtime"] == "onnxruntime"
    # the module + weights load through edgekit's model source and give the reported accuracy
    from edgekit.models.source import load_model
    from edgekit.search.data import accuracy, split

    model, card = load_model(f"{out / 'net.py'}:build", weights=str(out / "net.pth"))
    assert tuple(card.input_size) == (3, 16, 16) and card.num_classes == 10
    d = np.load(digits_npz)
    from edgekit.calibration import Preprocess

    x = Preprocess.from_card(card).uint8_batch(d["x"], "nhwc").astype(np.float32)
    _, va = split(len(d["y"]), 0)
    assert accuracy(model, x[va], d["y"][va]) == pytest.approx(rep["top1"], abs=1e-6)
    assert json.loads((out / "arch.json").read_text())["choices"] == rep["choice"]
    # finished: refused without --force; resumed: the stages are not trained again
    with pytest.raises(EdgekitError, match="already holds a finished search"):
        search(tiny_lut["space"], table, threads=1, budget_ms=budget, data=str(digits_npz), out_dir=out,
               device="local", epochs=1, final_epochs=2, stages=[4, 10])
    for name in ("net.py", "net.pth", "arch.json", "card.json", "report.json"):
        (out / name).unlink()
    again = search(tiny_lut["space"], table, threads=1, budget_ms=budget, data=str(digits_npz), out_dir=out,
                   device="local", epochs=1, final_epochs=2, stages=[4, 10])
    assert again["stages"] == rep["stages"] and again["choice"] == rep["choice"] and again["top1"] == rep["top1"]
    with pytest.raises(EdgekitError, match="other settings"):
        for name in ("net.py", "net.pth", "arch.json", "card.json", "report.json"):
            (out / name).unlink()
        search(tiny_lut["space"], table, threads=1, budget_ms=budget, data=str(digits_npz), out_dir=out,
               device="local", epochs=2, final_epochs=2, stages=[4, 10])
