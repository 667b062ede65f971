"""Conv3D → frames 2-D convolutions: float64 proof per configuration and form, and a wrong pass caught."""

import pytest
import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.conv3d_frames import Conv3dToFrames, FramesConv3d
from edgekit.rewrite.frames import tap_indices
from edgekit.rewrite.verify import RewriteNotExact, check_exact

SHAPE = (4, 7, 9, 10)  # C, T, H, W: odd T so that strides and dilations hit both clip ends

CONFIGS = [
    dict(kernel_size=3, padding=1),  # C3D
    dict(kernel_size=(3, 1, 1), padding=(2, 0, 0), dilation=(2, 1, 1), bias=False),  # dilated temporal 1-D
    dict(kernel_size=3, stride=2, padding=1),  # temporal and spatial stride
    dict(kernel_size=(2, 3, 3), padding=(1, 1, 1), groups=2),  # even k_t, grouped (sum form)
    dict(kernel_size=(3, 3, 3), padding=(0, 1, 1), stride=(3, 1, 2)),  # no temporal padding, stride 3
    dict(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),  # spatial only (TAN)
]


@pytest.mark.parametrize("form", ["stacked", "sum", "channels"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_frames_conv_is_exact(cfg, form):
    conv = nn.Conv3d(4, 6, **cfg).eval()
    frames = FramesConv3d(conv, form)
    assert check_exact(conv, frames, SHAPE) < 1e-13


def test_batch_of_clips_runs_clip_by_clip():
    conv = nn.Conv3d(4, 6, 3, padding=1).double().eval()
    x = torch.randn(3, *SHAPE, dtype=torch.float64)
    assert torch.allclose(FramesConv3d(conv)(x), conv(x), rtol=0, atol=1e-12)


def test_pass_replaces_every_conv3d_and_records_form():
    model = nn.Sequential(nn.Conv3d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0),
                                                                            groups=8))
    p = Conv3dToFrames()
    assert p.apply(model, RewriteContext(SHAPE, "tflite")) == 2
    assert [m.form for m in model if isinstance(m, FramesConv3d)] == ["stacked", "sum"]
    assert p.details == {"form": "stacked"}


def test_off_by_one_frame_shift_is_caught(monkeypatch):
    """A temporal pass reading frame t+1 for t (padding off by one) must fail the float64 proof."""
    conv = nn.Conv3d(4, 6, 3, padding=1).eval()
    import edgekit.rewrite.frames as frames

    def shifted(t, k, kernel, stride, padding, dilation):  # every tap one frame late, same output length
        return [i + 1 if 0 <= i + 1 < t else -1 for i in tap_indices(t, k, kernel, stride, padding, dilation)]

    monkeypatch.setattr(frames, "tap_indices", shifted)
    wrong = FramesConv3d(conv)
    with pytest.raises(RewriteNotExact, match="differs from the original"):
        check_exact(conv, wrong, SHAPE)


def test_long_concatenations_are_trees_of_at_most_five_inputs(monkeypatch):
    """XNNPACK leaves a CONCATENATION of 6+ inputs on LiteRT's default kernels (a stride-2 tap over
    16 frames is 8 one-frame slices)."""
    from edgekit.rewrite.frames import MAX_CONCAT_INPUTS, cat
    from edgekit.rewrite.verify import op_census

    conv = nn.Conv3d(4, 6, 3, stride=(2, 1, 1), padding=1).eval()
    shape = (4, 16, 6, 6)
    frames = FramesConv3d(conv)
    assert check_exact(conv, frames, shape) < 1e-13
    parts = [torch.full((1, 2), float(i)) for i in range(13)]
    assert torch.equal(cat(parts, 0), torch.cat(parts, 0)) and MAX_CONCAT_INPUTS == 5

    seen = []
    real_cat = torch.cat

    def spy(tensors, dim=0):
        seen.append(len(tensors))
        return real_cat(tensors, dim)

    monkeypatch.setattr(torch, "cat", spy)
    frames(torch.randn(1, *shape))
    assert seen and max(seen) <= MAX_CONCAT_INPUTS
