"""User-written dynamic convs (tests/rewrite/user_dynamic_convs.py, not edgekit's classes) are
recognised by what they compute, made static, proven exact, and export as one XNNPACK partition."""

import copy
import sys
from pathlib import Path

import pytest
import torch

from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.lift_dynamic_conv import LiftUserDynamicConv, StaticBranches
from edgekit.rewrite.pipeline import rewrite_for_export
from edgekit.rewrite.verify import RewriteNotExact, as_float64, check_exact, float64_mode, op_census

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import user_dynamic_convs as U  # noqa: E402
from rewrite_util import user_model_file  # noqa: E402

SHAPE = (3, 32, 32)
KINDS = ("mm", "condconv", "einsum", "broadcast", "temperature", "odconv")


def model(kind):
    torch.manual_seed(0)
    return U.Net(kind).eval()


def lifted(kind):
    """(float64 original, float64 copy after the pass, convs changed, pass)."""
    with torch.no_grad(), float64_mode():
        ref = as_float64(model(kind))
        work = copy.deepcopy(ref)
        p = LiftUserDynamicConv()
        return ref, work, p.apply(work, RewriteContext(SHAPE, "tflite")), p


@pytest.mark.parametrize("kind", KINDS)
def test_lift_is_exact_and_leaves_no_dynamic_weight(kind):
    ref, work, changed, p = lifted(kind)
    assert op_census(ref, SHAPE).dynamic_conv_weights == ref.expected
    assert changed == ref.expected  # exactly the dynamic convs present
    assert len(p.details["lifted"]) == ref.expected
    assert sum(isinstance(m, StaticBranches) for m in work.modules()) == ref.expected
    with float64_mode():
        assert check_exact(ref, work, SHAPE) < 1e-9
    assert op_census(work, SHAPE).dynamic_conv_weights == 0


@pytest.mark.parametrize("kind", KINDS)
def test_pipeline_leaves_no_dynamic_weight(kind):
    out, log = rewrite_for_export(model(kind), SHAPE, target="tflite")
    rec = next(r for r in log if r.name == "lift_dynamic_conv")
    assert rec.changed == model(kind).expected and rec.exact_diff < 1e-9
    assert op_census(out, SHAPE).dynamic_conv_weights == 0


def test_wrong_kernel_is_caught():
    """A lift with one expert kernel swapped for another is not exact: the proof says so."""
    ref, work, changed, _ = lifted("mm")
    lift = next(m for m in work.modules() if isinstance(m, StaticBranches))
    with torch.no_grad():
        w0 = lift.branches[0].weight.clone()
        lift.branches[0].weight.copy_(lift.branches[1].weight)
        lift.branches[1].weight.copy_(w0)
    with float64_mode(), pytest.raises(RewriteNotExact):
        check_exact(ref, work, SHAPE)


def test_unrecognised_dynamic_conv_is_left_and_named():
    ref, work, changed, p = lifted("gated")
    assert changed == 0
    assert p.details["left"] == ["conv weight computed from the input at body.0"]
    assert op_census(work, SHAPE).dynamic_conv_weights == 1
    out, log = rewrite_for_export(model("gated"), SHAPE, target="tflite")  # no exception, proof holds
    assert op_census(out, SHAPE).dynamic_conv_weights == 1
    rec = next(r for r in log if r.name == "lift_dynamic_conv")  # the rewrite log says where and why
    assert rec.changed == 0 and rec.details["left"] == ["conv weight computed from the input at body.0"]


def test_edgekit_dyconv_is_left_for_its_own_pass():
    from edgekit.models.dyconv import DynamicConv2d

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), DynamicConv2d(8, 8, 3, padding=1)).eval()
    p = LiftUserDynamicConv()
    assert p.apply(copy.deepcopy(net), RewriteContext(SHAPE, "tflite")) == 0
    assert p.details == {}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return user_model_file(tmp_path_factory, "user_dynamic_convs.py", "usermodel.py")


def _export_census(kind, model_file, out):
    from edgekit.analysis.census_tflite import census
    from edgekit.exporters.pipeline import export_model

    res = export_model(f"{model_file}:factory_{kind}", "tflite", input_shape="3,32,32", out=out)
    return census(res.file)["delegate"]


@pytest.mark.parametrize("kind", ("condconv", "einsum", "broadcast"))  # ~5 s each: in CI
def test_export_tflite_one_partition(kind, model_file, tmp_path):
    d = _export_census(kind, model_file, tmp_path)
    assert d["partitions"] == 1 and d["default_kernel_ops"] == 0, d


def test_export_tflite_one_partition_mm(model_file, tmp_path):
    """DY-Conv with torch.mm and the batch folded into the groups."""
    d = _export_census("mm", model_file, tmp_path)
    assert d["partitions"] == 1 and d["default_kernel_ops"] == 0, d


def test_export_unrecognised_as_stock(model_file, tmp_path):
    """No pass recognises it: it exports (no exception), its computed weight on default kernels as stock,
    and the export says which op was left, where, and which pass looked at it."""
    from edgekit.exporters.pipeline import export_model

    meta = export_model(f"{model_file}:factory_gated", "tflite", input_shape="3,32,32", out=tmp_path).exports[0].meta
    assert meta["census"]["delegate"]["default_kernel_ops"] > 0, meta["census"]["delegate"]
    assert "left as the stock converter has it (lift_dynamic_conv found no static form): conv weight computed " \
           "from the input at body.0" in meta["warnings"], meta["warnings"]


@pytest.mark.parametrize("net, shape, base", [
    (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), U.AffineDyConv(8, 16)), (3, 16, 16), True),
    (lambda: torch.nn.Sequential(torch.nn.Conv1d(4, 8, 1), U.DyConv1d(8, 12)), (4, 40), False),
])
def test_affine_strided_dilated_and_1d(net, shape, base):
    """A static base kernel (W_0 ≠ 0) kept as its own branch; stride, dilation, 1-D convs and bmm."""
    torch.manual_seed(0)
    with torch.no_grad(), float64_mode():
        ref = as_float64(net().eval())
        work = copy.deepcopy(ref)
        assert LiftUserDynamicConv().apply(work, RewriteContext(shape, "onnx")) == 1
        assert check_exact(ref, work, shape) < 1e-9
    (lift,) = [m for m in work.modules() if isinstance(m, StaticBranches)]
    assert (lift.base is not None) == base
    assert op_census(work, shape).dynamic_conv_weights == 0


def test_untraceable_module_is_left_without_error():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), U.Branchy(8, 8)).eval()
    p = LiftUserDynamicConv()
    work = copy.deepcopy(net)
    assert p.apply(work, RewriteContext(SHAPE, "tflite")) == 0
    assert p.details["left"] == ["conv weight computed from the input at 1"]
    assert op_census(work, SHAPE).dynamic_conv_weights == 1
