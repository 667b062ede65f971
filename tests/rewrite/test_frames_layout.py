"""The video zoo through the frames passes: exact in float64, one clip→frames conversion at the input."""

import copy

import pytest
import torch
from torch import nn

from edgekit.models.registry import create_model
from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.conv3d_frames import Conv3dToFrames
from edgekit.rewrite.fold_batchnorm import FoldBatchNorm
from edgekit.rewrite.frames_layout import KeepFramesLayout
from edgekit.rewrite.pool3d_frames import Pool3dToFrames
from edgekit.rewrite.verify import check_exact, op_census

from rewrite_util import condition

CLIP = (3, 4, 32, 32)
PASSES = (FoldBatchNorm, Conv3dToFrames, Pool3dToFrames)


def rewritten(model):
    work = copy.deepcopy(model).double()
    ctx = RewriteContext(CLIP, "tflite")
    for p in PASSES:
        p().apply(work, ctx)
    return work


@pytest.mark.parametrize("name", ["c3d-small", "tan-small", "s3d-small"])
def test_zoo_model_is_exact_and_transposes_only_at_the_ends(name):
    model = condition(create_model(name))
    work = rewritten(model)
    before = op_census(copy.deepcopy(work).float(), CLIP).ops.get("transpose", 0)
    wired = KeepFramesLayout().apply(work, RewriteContext(CLIP))
    assert wired == sum(1 for m in work.modules() if getattr(m, "layout", None) == "frames") > 0
    assert check_exact(model, work, CLIP) < 1e-12
    after = op_census(copy.deepcopy(work).float(), CLIP).ops
    assert after.get("convolution", 0) == sum(isinstance(m, nn.Conv3d) for m in model.modules())
    assert before >= 2 * wired and after.get("transpose", 0) == 2  # clip → frames, frames → clip
    clone = copy.deepcopy(work)  # the rewired class survives the pipeline's copies
    x = torch.randn(1, *CLIP, dtype=torch.float64)
    assert torch.equal(clone(x), work(x))


def test_untraceable_model_keeps_per_op_conversions():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(3, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(x) if x.sum() > -1e9 else x  # fx cannot trace a data-dependent branch

    model = DataDependent().eval()
    work = rewritten(model)
    assert KeepFramesLayout().apply(work, RewriteContext(CLIP)) == 0
    assert check_exact(model, work, CLIP) < 1e-12


def test_rewired_model_refuses_a_batch_of_clips():
    work = rewritten(create_model("c3d-small").eval())
    KeepFramesLayout().apply(work, RewriteContext(CLIP))
    with pytest.raises(ValueError, match="one clip at a time"):
        work(torch.zeros(2, *CLIP, dtype=torch.float64))
