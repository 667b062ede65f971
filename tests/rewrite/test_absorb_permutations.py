import copy

import pytest
import torch
from torch import nn

from edgekit.rewrite.absorb_permutations import AbsorbPermutations, absorb_into
from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.permute_channels import PermuteChannels, grid_matrix
from edgekit.rewrite.pipeline import default_passes, rewrite_for_export
from edgekit.rewrite.shift_max_from_producer import ConvShiftMax
from edgekit.rewrite.verify import check_equivalent
from rewrite_util import apply_exact, micronet

SHUFFLE = grid_matrix(48, (1, 2, 6, 4))  # a 2×6 shuffle of blocks of 4 channels (12 runs)


def _site(cout=16, groups=4, hw=8):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(48, 48, 1), nn.Sequential(PermuteChannels(SHUFFLE), nn.Conv2d(48, cout, 1, groups=groups))).eval()


@pytest.mark.parametrize("form", ["keep", "conv", "densify", "slices", "no_transpose"])
def test_every_form_is_exact_and_has_its_shape(form):
    m = _site()
    p = AbsorbPermutations(force=form)
    m2, (n,) = apply_exact(m, RewriteContext((48, 8, 8), "tflite"), p)
    assert n == 1
    assert check_equivalent(m, m2, (48, 8, 8)) < 1e-6
    first, consumer = m2[1][0], m2[1][1]
    expect = {"keep": "transpose", "conv": "conv", "slices": "slices"}
    if form in expect:
        assert isinstance(first, PermuteChannels) and first.kind == expect[form] and consumer.groups == 4
    else:  # densify (also no_transpose's choice here): no op left for the permutation, the conv is dense
        assert p.chosen == ["densify"] and isinstance(first, nn.Identity) and consumer.groups == 1
        assert int((consumer.weight != 0).sum()) == int((m[1][1].weight != 0).sum())  # only zeros added


def test_rule_follows_the_measured_costs():
    p = AbsorbPermutations()
    perm = PermuteChannels(SHUFFLE)
    # 56×56, 4 outputs per group: the grouped conv alone is slower than the dense one (densify < 0)
    c = p.costs(perm, nn.Conv2d(48, 16, 1, groups=4), 56 * 56)
    assert min(c, key=c.get) == "densify" and c["densify"] < 0
    assert c["keep"] == pytest.approx(0.193 * 48 * 3136) and c["conv"] == pytest.approx(0.0082 * 48 * 48 * 3136)
    # 7×7 expansion 48 → 288 in 4 groups: densifying costs ~6× a transpose
    c = p.costs(perm, nn.Conv2d(48, 288, 1, groups=4), 49)
    assert min(c, key=c.get) == "keep" and c["densify"] == pytest.approx(1991.2, abs=0.1) and c["keep"] == pytest.approx(453.9, abs=0.1)
    # a Shift-Max consumer: the transpose form was measured free there; nothing to absorb into
    from edgekit.rewrite.shift_max_static import StaticShiftMax
    sm = StaticShiftMax.__new__(StaticShiftMax)
    nn.Module.__init__(sm)
    c = p.costs(perm, sm, 56 * 56)
    assert c["keep"] == 0.0 and "densify" not in c


def test_absorbs_into_the_real_conv_shift_max_sites_of_micronet_m0():
    m = micronet("m0")
    shape = (3, 64, 64)
    passes = [q for q in default_passes("tflite") if not isinstance(q, AbsorbPermutations)]
    before, _ = rewrite_for_export(m, shape, target="tflite", passes=passes)
    sites = [s for s in before.modules() if isinstance(s, nn.Sequential) and len(s) == 2
             and isinstance(s[0], PermuteChannels) and isinstance(s[1], ConvShiftMax)]
    assert len(sites) == 9  # of M0's ten permutations; the tenth feeds a Shift-Max
    for s in sites:
        c = len(s[0].perm)
        x = torch.randn(1, c, 5, 5)
        with torch.no_grad():
            ref = s(x)
            got = absorb_into(copy.deepcopy(s[1]), s[0].perm)(x)
        assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_pipeline_tflite_and_openvino_micronet_m0():
    m = micronet("m0")
    shape = (3, 64, 64)
    for target, n_transposes in (("tflite", 6), ("openvino", 4)):
        out, log = rewrite_for_export(m, shape, target=target)
        rec = log[-1]
        assert rec.name == "absorb_permutations" and rec.changed == 10 and rec.max_abs_diff < 1e-5
        kinds = [p.kind for p in out.modules() if isinstance(p, PermuteChannels)]
        assert sum(k in ("transpose", "transpose2") for k in kinds) == n_transposes
    out, log = rewrite_for_export(m, shape, target="onnx")
    assert "absorb_permutations" not in [r.name for r in log]  # the ONNX target is unchanged


@pytest.mark.slow
def test_litert_m0_parity_and_census(tmp_path):
    """On the real LiteRT runtime: the pass's model matches PyTorch, and its census is what the
    rule's choices at 64×64 imply (densified sites leave no op; transposes it keeps stay)."""
    pytest.importorskip("litert_torch")
    from edgekit.analysis.census_tflite import census
    from edgekit.exporters.tflite import litert_convert
    from edgekit.runtimes.base import open_runner

    m = micronet("m0")
    shape = (3, 64, 64)
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = m(x)
    found = {}
    for name, passes in (("before", [q for q in default_passes("tflite") if not isinstance(q, AbsorbPermutations)]),
                         ("after", None)):
        r, _ = rewrite_for_export(m, shape, target="tflite", passes=passes)
        path = tmp_path / f"{name}.tflite"
        with torch.no_grad():
            path.write_bytes(litert_convert(r, torch.zeros(1, *shape)))
        y = open_runner(path, "litert", 1).run(x.numpy())[0]
        assert float(abs(torch.from_numpy(y) - ref).max() / ref.abs().max()) < 1e-4
        c = census(str(path))
        assert c["delegate"]["partitions"] == 1 and c["delegate"]["default_kernel_ops"] == 0
        found[name] = (c["transpose"], c["reshape"])
    # after: 6 grid transposes kept (see test_pipeline_tflite_and_openvino_micronet_m0), 3 TRANSPOSE each
    # with the converter's NHWC pair, + the NCHW input; RESHAPE 2 each + 2; the densified sites leave none
    assert found == {"before": (17, 21), "after": (1 + 3 * 6, 2 + 2 * 6)}
