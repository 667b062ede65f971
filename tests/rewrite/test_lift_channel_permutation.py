"""User-written channel permutations (tests/rewrite/user_dynamic_layers.py, not edgekit's classes) are
recognised by what they compute, made static (no gather, no 5-D), proven exact, and export as one
XNNPACK partition."""

import copy
import sys
from pathlib import Path

import pytest
import torch

import edgekit.rewrite.lift_channel_permutation as L
from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.pipeline import rewrite_for_export
from edgekit.rewrite.verify import RewriteNotExact, as_float64, check_exact, float64_mode, op_census

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import user_dynamic_layers as U  # noqa: E402
from rewrite_util import user_model_file  # noqa: E402

SHAPE = (3, 32, 32)


def lifted(kind, find=None):
    torch.manual_seed(0)
    with torch.no_grad(), float64_mode():
        ref = as_float64(U.Net(kind).eval())
        work = copy.deepcopy(ref)
        p = L.LiftChannelPermutation()
        return ref, work, p.apply(work, RewriteContext(SHAPE, "tflite")), p


@pytest.mark.parametrize("kind", U.KINDS)
def test_lift_is_exact_and_static(kind):
    ref, work, changed, p = lifted(kind)
    assert changed == ref.expected
    # block 0's consumer is a dense conv: the whole block is traced and the permutation absorbed into it
    assert p.details["lifted"] == ["blocks.0", "blocks.1.perm"]
    with float64_mode():
        assert check_exact(ref, work, SHAPE) < 1e-9
    census = op_census(work, SHAPE)
    assert census.gathers == 0 and census.max_rank == 4
    assert not any(op in ("roll", "index", "index_select", "gather") for op in census.ops)


def test_shuffle_perm_is_the_one_written():
    """The derived permutation is exactly the user's index buffer (ShuffleNet 4×4 on 16 channels)."""
    ref, work, _, _ = lifted("index_buffer")
    perms = [m.perm for m in work.modules() if isinstance(m, L.PermuteChannels)]
    assert len(perms) == 1 and torch.equal(perms[0], U.shuffle_perm(16, 4))  # block 1 (depthwise consumer)
    absorbed = [t for n, t in work.blocks[0].named_buffers() if n.startswith("absorbed_weight")]
    assert len(absorbed) == 1  # block 0: W' = W[:, inverse(perm)], no op left
    inv = L.inverse(U.shuffle_perm(16, 4))
    assert torch.equal(absorbed[0], ref.blocks[0].after.weight[:, inv])


def test_wrong_permutation_is_caught(monkeypatch):
    """A permutation off by one (rolled by a channel) is not exact: the module's own check leaves it,
    and the float64 proof rejects it when forced in."""
    def off_by_one(g, a, b):
        p = L.channel_perm(g, a, b)
        return None if p is None else torch.roll(p, 1)

    monkeypatch.setattr(L, "lift_module", lambda m, args, found=None: L._lift(m, args, off_by_one, found))
    ref, work, changed, p = lifted("view_transpose")
    assert changed == 0 and len(p.details["left"]) == 2
    with torch.no_grad(), float64_mode():
        bad = copy.deepcopy(ref)
        bad.blocks[1].perm = L.PermuteChannels(torch.roll(U.shuffle_perm(16, 4), 1))
        with pytest.raises(RewriteNotExact):
            check_exact(ref, bad, SHAPE)


def test_not_a_permutation_is_left():
    """A transpose that mixes spatial and channel axes is data movement but not a channel permutation."""
    class Spatial(torch.nn.Module):
        def forward(self, x):
            return x.transpose(2, 3)

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), Spatial()).eval()
    p = L.LiftChannelPermutation()
    assert p.apply(net, RewriteContext((3, 8, 8), "onnx")) == 0


def test_edgekit_shuffle_is_left_for_its_own_pass():
    from edgekit.models.layers import ChannelShuffle

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), ChannelShuffle(2)).eval()
    p = L.LiftChannelPermutation()
    assert p.apply(copy.deepcopy(net), RewriteContext((3, 8, 8), "tflite")) == 0


def test_pipeline_lifts_and_proves():
    torch.manual_seed(0)
    out, log = rewrite_for_export(U.Net("index_select").eval(), SHAPE, target="tflite")
    rec = next(r for r in log if r.name == "lift_channel_permutation")
    assert rec.changed == 2 and rec.exact_diff < 1e-9
    assert op_census(out, SHAPE).gathers == 0


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return user_model_file(tmp_path_factory, "user_dynamic_layers.py", "userlayers.py")


@pytest.mark.parametrize("kind", ("index_buffer", "view_transpose"))
def test_export_tflite_one_partition(kind, model_file, tmp_path):
    from edgekit.analysis.census_tflite import census
    from edgekit.exporters.pipeline import export_model

    res = export_model(f"{model_file}:factory_{kind}", "tflite", input_shape="3,32,32", out=tmp_path)
    d = census(res.file)["delegate"]
    assert d["partitions"] == 1 and d["default_kernel_ops"] == 0, d


@pytest.mark.parametrize("kind", ("gather", "roll"))
def test_export_onnx_no_gather(kind, model_file, tmp_path):
    import onnx

    from edgekit.exporters.pipeline import export_model

    res = export_model(f"{model_file}:factory_{kind}", "onnx", input_shape="3,32,32", out=tmp_path)
    ops = {n.op_type for n in onnx.load(str(res.file)).graph.node}
    assert not ops & {"Gather", "GatherElements", "GatherND"}, ops
