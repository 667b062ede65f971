
import pytest
import torch
from torch import nn

from edgekit.rewrite.pipeline import PassRecord, rewrite_for_export
from edgekit.rewrite.verify import max_rel_diff, op_census
from rewrite_util import micronet


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def _check_static(model, shape):
    census = op_census(model, shape)
    assert census.gathers == 0, census.ops
    assert census.max_rank <= 4
    assert census.dynamic_conv_weights == 0
    return census


@pytest.mark.parametrize("variant,target", [("m0", "onnx"), ("m1", "tflite"),
                                            pytest.param("m2", "openvino", marks=pytest.mark.slow),
                                            pytest.param("m3", "tflite", marks=pytest.mark.slow)])
def test_micronet_pipeline_static_and_equivalent(variant, target):
    m = micronet(variant)
    shape = (3, 64, 64)
    stock = op_census(m, shape)
    assert stock.gathers > 0 and stock.max_rank == 5
    before = _state(m)
    types_before = [type(x) for x in m.modules()]
    m2, log = rewrite_for_export(m, shape, target=target)
    # the original is untouched
    assert [type(x) for x in m.modules()] == types_before
    after = m.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not m2.training
    _check_static(m2, shape)
    assert next(m2.parameters()).dtype == torch.float32
    assert max_rel_diff(m, m2, shape) < 1e-5  # float32 export model: measured difference
    names = [r.name for r in log]
    assert names[:2] == ["fold_batchnorm", "shift_max_static"]
    rec = {r.name: r for r in log}
    assert rec["shift_max_static"].ops_before.get("index", 0) == stock.ops["index"]
    assert rec["shift_max_static"].ops_after.get("index", 0) == 0
    assert rec["fold_channel_shuffles"].changed > 0
    for r in log:
        assert isinstance(r, PassRecord) and r.max_abs_diff < 1e-5 and r.seconds >= 0
        assert r.exact_diff < 1e-12  # float64 proof: only float64 rounding is left
        d = r.to_dict()
        assert set(d) == {"name", "changed", "ops_before", "ops_after", "madds_before", "madds_after",
                          "max_abs_diff", "seconds", "details", "exact_diff"}
    assert log[0].madds_before == log[0].madds_after  # BN folding costs no MAdds


@pytest.mark.slow
def test_micronet_m0_at_224():
    m = micronet("m0")
    shape = (3, 224, 224)
    m2, log = rewrite_for_export(m, shape, target="tflite")
    _check_static(m2, shape)
    assert max(r.exact_diff for r in log) < 1e-12 and max_rel_diff(m, m2, shape) < 1e-5


def test_training_mode_model_is_copied_not_switched():
    m = micronet("m0").train()
    m2, _ = rewrite_for_export(m, (3, 64, 64), target="onnx", verify=False)
    assert m.training and not m2.training


def test_unknown_target_is_a_user_error():
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match="unknown rewrite target"):
        rewrite_for_export(nn.Sequential(nn.Conv2d(3, 3, 1)), (3, 8, 8), target="coreml")


def test_plain_model_passes_through_unchanged_but_logged():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    m2, log = rewrite_for_export(m, (3, 8, 8))
    assert all(r.changed == 0 for r in log[1:]) and log[0].changed == 0
    assert torch.equal(m2[0].weight, m[0].weight) and m2[0].weight is not m[0].weight


@pytest.mark.slow  # CI: every zoo model through the passes in float64, tests/rewrite/test_exactness_zoo.py
def test_dy_models_from_the_zoo_become_static():
    import edgekit.models.zoo  # noqa: F401
    from edgekit.models.dyconv import DynamicConv2d
    from edgekit.models.registry import create_model, list_models

    names = [n for n in list_models() if "dy" in n]
    assert names
    for name in names:
        m = create_model(name).eval()
        m2, log = rewrite_for_export(m, (3, 64, 64), target="tflite")
        _check_static(m2, (3, 64, 64))
        assert not any(isinstance(x, DynamicConv2d) for x in m2.modules())
