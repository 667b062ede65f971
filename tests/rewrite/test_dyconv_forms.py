"""The static DY-Conv forms (stacked, input_mix, and the K-branch one): exact, static, counted."""


import pytest
import torch

from edgekit.analysis.flops import count_madds
from edgekit.models.dyconv import DynamicConv2d
from edgekit.rewrite.dyconv_forms import FORMS, DynamicConvToStaticForms, layer_kind
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact

K = 4
# cin, cout, kernel, stride, padding, dilation, groups, bias
CONFIGS = {
    "dense": (8, 16, 3, 1, 1, 1, 1, True),
    "strided": (8, 16, 3, 2, 1, 1, 1, False),
    "dilated": (8, 8, 3, 1, 2, 2, 1, True),
    "grouped_1x1": (8, 12, 1, 1, 0, 1, 4, True),
    "depthwise_strided": (12, 12, 3, 2, 1, 1, 12, False),
    "depthwise_multiplier": (6, 12, 5, 1, 2, 1, 6, True),
    "projection_1x1": (16, 8, 1, 1, 0, 1, 1, False),
}
SHAPE_HW = (10, 9)


def dyconv(cfg) -> DynamicConv2d:
    cin, cout, k, s, p, d, g, bias = cfg
    torch.manual_seed(0)
    m = DynamicConv2d(cin, cout, k, s, p, dilation=d, groups=g, bias=bias, k=K, temperature=2.0).eval()
    with torch.no_grad():  # attention weights large enough that π really varies with the input
        for prm in m.attention.parameters():
            prm.normal_(0, 0.5)
    return m


def extra_convs(form, cfg) -> int:
    g, bias = cfg[6], cfg[7]
    return {"branches": K - 1, "stacked": 1 + (g > 1), "input_mix": 1 + (g > 1) + bias, "tiled": 1}[form]


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("case", list(CONFIGS))
def test_every_form_is_exact_static_and_counted(form, case):
    cfg = CONFIGS[case]
    cin, cout, k, s, p, d, g, bias = cfg
    m = dyconv(cfg)
    shape = (cin, *SHAPE_HW)
    seq, (n,) = apply_exact(torch.nn.Sequential(m), _ctx(shape), DynamicConvToStaticForms(forms=(form,)))
    assert n == 1
    assert isinstance(seq[0], FORMS[form])
    assert check_equivalent(m, seq, shape, n=6) < 1e-5
    census = op_census(seq, shape)
    assert census.dynamic_conv_weights == 0 and census.max_rank == 4
    assert census.ops["convolution"] == 1 + 2 + extra_convs(form, cfg)  # + the 2 attention 1x1 convs
    # MAdds: every form is K x the aggregated conv plus its own static helper convs, exactly.
    before, after = count_madds(m, shape), count_madds(seq, shape)
    conv = before.layers[-1].conv
    ho = (SHAPE_HW[0] + 2 * p - d * (k - 1) - 1) // s + 1
    wo = (SHAPE_HW[1] + 2 * p - d * (k - 1) - 1) // s + 1
    helpers = {
        "branches": 0,
        "stacked": K * K * cout + (g > 1) * K * cout * ho * wo,  # π spread + the summing conv
        "input_mix": K * K * cin + (g > 1) * K * cin * SHAPE_HW[0] * SHAPE_HW[1] * (cin // g) + bias * K * cout,
        "tiled": K * K * cout,  # π spread
    }[form]
    assert after.conv_madds - before.conv_madds == (K - 1) * conv + helpers


def _ctx(shape):
    from edgekit.rewrite.base import RewriteContext

    return RewriteContext(shape)


def test_layer_kinds():
    assert [layer_kind(dyconv(CONFIGS[c])) for c in ("dense", "grouped_1x1", "depthwise_strided", "projection_1x1")] \
        == ["dense", "grouped", "depthwise", "pointwise"]


@pytest.mark.parametrize("case", ["dense", "depthwise_multiplier"])
def test_onnx_export_has_static_conv_weights_and_fewer_nodes(case, tmp_path):
    import numpy as np

    from edgekit.analysis.census_onnx import census
    from edgekit.rewrite.tune import export_one
    from edgekit.runtimes.base import open_runner

    cfg = CONFIGS[case]
    m = dyconv(cfg)
    shape = (cfg[0], *SHAPE_HW)
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = m(x).numpy()
    nodes = {}
    for form, cls in FORMS.items():
        path = export_one(cls(m).eval(), shape, "onnx", tmp_path / form)
        c = census(path)
        assert c["dynamic_weight_convs"] == 0, (form, c)
        assert c["ops"]["Conv"] == 1 + 2 + extra_convs(form, cfg)
        nodes[form] = c["nodes"]
        out = open_runner(path).run(x.numpy())[0]
        assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max(), form
    # one conv instead of K, one Mul instead of K: the stacked and input-mix graphs are smaller
    assert max(nodes["stacked"], nodes["input_mix"], nodes["tiled"]) < nodes["branches"], nodes
    assert nodes == {"dense": {"branches": 17, "stacked": 12, "input_mix": 11, "tiled": 13},
                     "depthwise_multiplier": {"branches": 17, "stacked": 9, "input_mix": 11, "tiled": 13}}[case]


def test_rule_on_the_zoo_models():
    """Untuned: 1×1 expansions take input_mix on onnxruntime / LiteRT, 1×1 projections the stacked form
    on LiteRT, everything else (depthwise, dense 3×3, all of OpenVINO) the K branches."""
    import edgekit.models.zoo  # noqa: F401
    from edgekit.models.registry import create_model
    from edgekit.rewrite.dyconv_forms import default_form, rule_kind
    from edgekit.rewrite.pipeline import rewrite_for_export

    model = create_model("mobilenetv3-small-dyconv").eval()
    kinds = [rule_kind(m) for m in model.modules() if isinstance(m, DynamicConv2d)]
    assert (kinds.count("expand"), kinds.count("project"), kinds.count("depthwise")) == (11, 11, 11)
    for target, forms in (("onnx", {"branches": 22, "input_mix": 11}), ("openvino", {"branches": 33})):
        _, log = rewrite_for_export(model, (3, 64, 64), target=target)
        (rec,) = [r for r in log if r.name == "dyconv_static"]
        assert rec.details["forms"] == forms and rec.details["mode"] == "rule" and rec.max_abs_diff < 1e-5
        assert all((r["form"] == "input_mix") == (target == "onnx" and r["kind"] == "pointwise"
                                                  and r["input_shape"][0] < _cout(model, r["name"]))
                   for r in rec.details["layers"])
    _, log = rewrite_for_export(model, (3, 64, 64), target="tflite")
    (rec,) = [r for r in log if r.name == "dyconv_static"]
    assert rec.details["forms"] == {"branches": 11, "input_mix": 11, "stacked": 11}
    assert {r["form"] for r in rec.details["layers"] if r["kind"] == "depthwise"} == {"branches"}
    resnet = create_model("resnet18-dyconv").eval()
    assert {default_form(m, None, t) for m in resnet.modules() if isinstance(m, DynamicConv2d)
            for t in ("onnx", "tflite", "openvino")} == {"branches"}


def _cout(model, name):
    return model.get_submodule(name).out_channels
