"""The stream transform: step models proven exact in float64 against the whole-video clip model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.models.video import c3d_small, s3d_small, tan_small
from edgekit.rewrite.stream import StreamNotExact, build_step_model, check_stream_exact, window_vs_separate
from edgekit.rewrite.stream.layers import Delay, StreamConv
from edgekit.rewrite.stream.transform import WindowTap, stream_info

sys.path.insert(0, str(Path(__file__).parent))
import user_stream_models as U  # noqa: E402

FRAMES = 48


def _state(step, name):
    return next(s for s in step.state_list() if s["op"] == name)


def test_user_clip_detector_is_exact_with_dilations_stride_and_branches():
    shape = (3, 16, 16, 16)
    model = U.conditioned(U.build_detector(), shape)
    step = build_step_model(model, shape)
    # frames per step = the temporal stride; lags: stem 1, r1 +1, r2 +2 (=4 frames), stride-2 conv
    # 2 (at rate 2), r4 +4 → 6, the pool (look-ahead 1) and depthwise (2) branches join at 8
    assert step.frames_per_step == 2 and step.delay_steps == 8
    assert _state(step, "r2_conv")["shape"] == [1, 4 * 8, 16, 16]  # dilation 2: d·(k−1) = 4 frames
    assert _state(step, "r4_conv")["shape"] == [1, 8 * 16, 8, 8]  # dilation 4: 8 frames
    assert _state(step, "add_3_delay0")["frames"] == 1  # pool branch waits for the depthwise one
    assert all(len(s["shape"]) <= 4 and s["name"].startswith("state_") for s in step.state_list())
    result = check_stream_exact(model, step, FRAMES)
    rel, n = result["flatten"]
    assert rel < 1e-12 and n == FRAMES // 2 - 8


def test_user_sequence_conv1d_is_exact():
    shape = (12, 32)
    model = U.conditioned(U.build_sequence(), shape)
    step = build_step_model(model, shape)
    assert step.frames_per_step == 2 and step.delay_steps == 9
    assert _state(step, "r4_conv")["shape"] == [1, 16, 8]
    rel, n = check_stream_exact(model, step, FRAMES)["out"]
    assert rel < 1e-12 and n == FRAMES // 2 - 9


def test_user_classifier_window_pool_exact_and_difference_to_separate_windows():
    shape = (3, 16, 16, 16)
    model = U.conditioned(U.build_classifier(), shape)
    step = build_step_model(model, shape)  # window = clip length 16 frames = 8 steps
    assert (step.frames_per_step, step.delay_steps, step.window) == (2, 7, 16)
    rel, n = check_stream_exact(model, step, FRAMES)["fc"]
    assert rel < 1e-12 and n == 10  # windows ending at steps 7..16 (24 steps − 7 delay − 7 warm-up)
    sep = window_vs_separate(model, step, FRAMES)
    # a separate window starts from zero padding; the stream sees the real preceding frames: they differ
    assert sep["windows"] == 10 and 0.01 < sep["rel_max_abs_diff"] < 1.0


@pytest.mark.parametrize("factory, clip, delay, ratio", [(c3d_small, 8, 2, 0.25), (tan_small, 16, 7, 0.125),
                                                         (s3d_small, 16, 4, 0.125)])
def test_zoo_video_models_stream_exactly(factory, clip, delay, ratio):
    from edgekit.analysis.flops import count_madds

    torch.manual_seed(0)
    model = factory().eval()
    shape = (3, clip, 32, 32)
    step = build_step_model(model, shape)
    assert step.frames_per_step == 2 and step.delay_steps == delay
    for rel, n in check_stream_exact(model, step, FRAMES).values():
        assert rel < 1e-12 and n >= 10
    info = stream_info(step, count_madds(model, shape).conv_madds)
    assert abs(info["step_over_clip_madds"] - ratio) <= 0.001  # frames_per_step / clip frames (+ the head once)
    assert info["state_bytes"] == sum(s["bytes"] for s in info["states"])


def test_injected_wrong_delay_and_wrong_state_size_are_caught():
    shape = (3, 16, 16, 16)
    model = U.conditioned(U.build_detector(), shape)
    step = build_step_model(model, shape)
    chunk = torch.zeros((1, *step.input_shape))
    # one step too much delay on one residual branch: its identity read one step earlier in the window
    # of the dilation-2 conv next to it (WindowTap), and a FIFO (Delay) one step longer on another
    tap: WindowTap = step.ops["add_1_delay0"]
    assert tap.start == 2 and tap.m == 2  # window [4 state frames; 2 new]: 2 frames late
    tap.start -= tap.m
    with pytest.raises(StreamNotExact, match="flatten"):
        check_stream_exact(model, step, FRAMES)
    tap.start += tap.m
    check_stream_exact(model, step, FRAMES)
    delay: Delay = step.ops["add_3_delay0"]  # the pool branch waits for the depthwise one
    delay.state_frames += delay.m
    step.probe(chunk)
    with pytest.raises(StreamNotExact, match="flatten"):
        check_stream_exact(model, step, FRAMES)
    delay.state_frames -= delay.m
    step.probe(chunk)
    check_stream_exact(model, step, FRAMES)
    # the dilation-4 conv keeps one frame less than d·(k−1) + … (a buffer sized as if dilation were ignored)
    conv: StreamConv = step.ops["r4_conv"]
    assert conv.d == 4
    conv.state_frames -= 1
    step.probe(chunk)
    with pytest.raises(StreamNotExact, match="differs from the clip model"):
        check_stream_exact(model, step, FRAMES)


class _Image(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.c(x)


class _Replicate(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv3d(3, 4, 3, padding=1, padding_mode="replicate")

    def forward(self, x):
        return self.c(x)


class _TimeMix(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv3d(3, 4, 1)
        self.fc = nn.Linear(4 * 8, 2)

    def forward(self, x):
        return self.fc(self.c(x).mean((3, 4)).flatten(1))


class _Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 4)

    def forward(self, x):
        return self.rnn(x)[0]


@pytest.mark.parametrize("model, shape, message", [
    (_Image(), (3, 16, 16), "no time axis"),
    (_Replicate(), (3, 8, 8, 8), r"cannot stream c \(Conv3d\): padding_mode='replicate'"),
    (_TimeMix(), (3, 8, 8, 8), r"cannot stream flatten \(flatten\): flatten\(1, -?\d+\) merges the time axis"),
    (_Lstm(), (3, 8), r"cannot stream rnn \(GRU\)"),
])
def test_unsupported_models_say_which_op_and_why(model, shape, message):
    with pytest.raises(EdgekitError, match=message) as err:
        build_step_model(model.eval(), shape)
    assert "\n" not in str(err.value)
