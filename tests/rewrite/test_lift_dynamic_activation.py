"""User-written DY-ReLU A/B/C (5-D broadcast + max(dim=-1) / amax / torch.maximum of slices;
tests/rewrite/user_dynamic_layers.py, not edgekit's classes) become K − 1 4-D maxima, proven exact,
and export as one XNNPACK partition."""

import copy
import sys
from pathlib import Path

import pytest
import torch

import edgekit.rewrite.lift_dynamic_activation as L
from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.pipeline import rewrite_for_export
from edgekit.rewrite.verify import RewriteNotExact, as_float64, check_exact, float64_mode, op_census

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import user_dynamic_layers as U  # noqa: E402
from rewrite_util import user_model_file  # noqa: E402

SHAPE = (3, 32, 32)


def lifted(kind):
    torch.manual_seed(0)
    with torch.no_grad(), float64_mode():
        ref = as_float64(U.ActNet(kind).eval())
        work = copy.deepcopy(ref)
        p = L.LiftDynamicActivation()
        return ref, work, p.apply(work, RewriteContext(SHAPE, "tflite")), p


@pytest.mark.parametrize("kind", U.ACT_KINDS)
def test_lift_is_exact_and_4d(kind):
    ref, work, changed, p = lifted(kind)
    # one max per block; torch.maximum of slices: each of the K = 2 slices is lifted on its own
    assert changed == (4 if kind.endswith("maximum") else 2)
    assert p.details["lifted"] == ["blocks.0.act", "blocks.1.act"]
    assert op_census(ref, SHAPE).max_rank == 5
    with float64_mode():
        assert check_exact(ref, work, SHAPE) < 1e-9
    census = op_census(work, SHAPE)
    assert census.max_rank == 4 and census.gathers == 0
    assert census.ops.get("maximum", 0) == 2 and "max" not in census.ops  # K − 1 = 1 per block


def test_swapped_coefficient_is_caught():
    """a_1 ↔ a_2 swapped in the lifted graph is not exact: the float64 proof says so."""
    ref, work, _, _ = lifted("B")
    gm = work.blocks[1].act
    rows = [n for n in gm.graph.nodes if n.target is torch.ops.aten.select.int]
    assert len(rows) >= 4  # a_1, a_2, b_1, b_2
    rows[0].update_arg(2, 1 - rows[0].args[2])
    gm.recompile()
    with float64_mode(), pytest.raises(RewriteNotExact):
        check_exact(ref, work, SHAPE)


def test_indices_used_is_left():
    class ArgMax(torch.nn.Module):
        def forward(self, x):
            v, i = (x.unsqueeze(-1) * torch.ones(2)).max(dim=-1)
            return v + i

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), ArgMax()).eval()
    p = L.LiftDynamicActivation()
    assert p.apply(net, RewriteContext((3, 8, 8), "onnx")) == 0
    assert p.details["left"] == ["max over K affine forms at 1"]


def test_edgekit_dyrelu_is_left_for_its_own_pass():
    from edgekit.models.dyrelu import DYReLU

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), DYReLU(8)).eval()
    p = L.LiftDynamicActivation()
    assert p.apply(copy.deepcopy(net), RewriteContext((3, 8, 8), "tflite")) == 0


def test_pipeline_lifts_and_proves():
    torch.manual_seed(0)
    out, log = rewrite_for_export(U.ActNet("C").eval(), SHAPE, target="tflite")
    rec = next(r for r in log if r.name == "lift_dynamic_activation")
    assert rec.changed == 2 and rec.exact_diff < 1e-9
    assert op_census(out, SHAPE).max_rank == 4


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return user_model_file(tmp_path_factory, "user_dynamic_layers.py", "useract.py")


@pytest.mark.parametrize("kind", ("B", "C", "B_hwbc"))
def test_export_tflite_one_partition(kind, model_file, tmp_path):
    from edgekit.analysis.census_tflite import census
    from edgekit.exporters.pipeline import export_model

    res = export_model(f"{model_file}:factory_dyrelu_{kind}", "tflite", input_shape="3,32,32", out=tmp_path)
    d = census(res.file)["delegate"]
    assert d["partitions"] == 1 and d["default_kernel_ops"] == 0, d
    assert res.exports[0].meta["parity"]["rel_max_abs_diff"] <= 1e-4
    # the public form's permute to (H, W, B, C) moves no whole channels: no "channel gather" line for it
    assert not [w for w in res.exports[0].meta.get("warnings", []) if "channel gather" in w], res.exports[0].meta["warnings"]
