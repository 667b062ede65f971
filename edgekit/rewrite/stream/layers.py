"""The stateful pieces of a step model: one temporal op fed one chunk of frames per step.

Every op keeps, as an explicit state tensor, the last `state_frames` frames of its input — exactly
the frames its next outputs still read. A value in the step graph carries, per step, the `m` newest
frames of its clip-model counterpart, `lag` frames behind the video: at step n it holds frames
[n·m − lag, (n+1)·m − lag). Frames with a negative index ("junk", computed before the video began)
never reach a zero-padded op: the op's window is multiplied by a 0/1 mask from its `ValidFrames`
register (a state too), so zero padding at the video's start is reproduced exactly (a max pool's tap there takes its window's newest frame).

States are at most 4-D (what GPU delegates take): a 5-D clip's frames (B, C, H, W) are stored as
(1, B·C, H, W); a 1-D sequence (1, C, T) keeps its (1, C, B). Time runs along dim 0 of the frames
form inside the ops, so temporal taps are frame slices and a 3-D conv is one stacked 2-D conv (the
`rewrite/frames.py` forms every delegate takes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.rewrite.frames import cat, gather_frames

def to_seq(x: torch.Tensor) -> torch.Tensor:
    """Clip-form chunk → sequence form with time first: (1, C, m, H, W) → (m, C, H, W); (1, C, m) kept.
    Reshapes, not x[0] / unsqueeze (ExecuTorch's XNNPACK partitioner leaves select/unsqueeze copies out)."""
    return x.reshape(x.shape[1:]).transpose(0, 1) if x.dim() == 5 else x


def from_seq(y: torch.Tensor, rank: int) -> torch.Tensor:
    if rank != 5:
        return y
    y = y.transpose(0, 1)
    return y.reshape(1, *y.shape)


def tdim(rank: int) -> int:
    return 0 if rank == 5 else 2


def seq_len(s: torch.Tensor, rank: int) -> int:
    return s.shape[tdim(rank)]


def seq_cat(parts, rank: int) -> torch.Tensor:
    return cat(parts, tdim(rank)) if rank == 5 else torch.cat(parts, 2)


def seq_slice(s: torch.Tensor, start: int, stop: int, rank: int) -> torch.Tensor:
    return s[start:stop] if rank == 5 else s[:, :, start:stop]


def state_to_seq(state: torch.Tensor, frames: int, rank: int) -> torch.Tensor:
    # one frame: the state already is that frame (no reshape: a converter may name the state after it)
    return state.reshape(frames, -1, *state.shape[2:]) if rank == 5 and frames > 1 else state


def seq_to_state(s: torch.Tensor, rank: int) -> torch.Tensor:
    return s.reshape(1, -1, *s.shape[2:]) if rank == 5 and s.shape[0] > 1 else s


class StreamOp(nn.Module):
    """Base: a window = [state (B frames) ; new chunk (m frames)], masked where it may hold frames
    from before the video, then `compute(window)`; the new state is the window's last B frames.

    `state_frames` is what the op keeps; `needed_frames` what its taps are laid out for (the two
    differ only when a test injects a wrong state size: the op then reads a zero frame where the
    missing one should be, as an undersized buffer would)."""

    kind = "op"

    def __init__(self, name: str, rank: int, m: int, lag: int, state_frames: int, mask: str | None = None):
        super().__init__()
        self.name, self.rank, self.m, self.lag = name, rank, m, lag
        self.state_frames = self.needed_frames = state_frames
        self.mask = mask  # None | "zero" | "neg": how frames before the video are replaced
        self.madds = 0  # per step, set on the first call
        self.frames_io = False  # True: takes and returns frames (m, C, H, W), not clip chunks

    def _in(self, new):
        return new if self.frames_io else to_seq(new)

    def _out(self, y):
        return y if self.frames_io else from_seq(y, self.rank)

    def window(self, new: torch.Tensor, state: torch.Tensor | None, valid: torch.Tensor | None) -> torch.Tensor:
        s = self._in(new)
        if self.state_frames:
            w = seq_cat([state_to_seq(state, self.state_frames, self.rank), s], self.rank)
        else:
            w = s
        if self.mask and valid is not None:  # valid: (B + m,) 0/1, from this op's ValidFrames register
            n = seq_len(w, self.rank)
            if valid.shape[0] != n:  # (only a test's undersized state): the newest frames line up
                valid = valid[valid.shape[0] - n:]
            mask = valid.reshape(-1, *([1] * (w.dim() - 1))) if self.rank == 5 else valid.reshape(1, 1, -1)
            if self.mask == "zero":
                w = w * mask
            else:  # max: the op replaces those frames itself (no huge constant an INT8 range would swallow)
                self._frame_mask = mask
        return w

    def forward(self, new, state=None, valid=None):
        w = self.window(new, state, valid)
        self.last_window = w  # a WindowTap (a residual's delayed identity) reads it in the same step
        y = self.compute(w)
        n = seq_len(w, self.rank)
        next_state = seq_to_state(seq_slice(w, n - self.state_frames, n, self.rank), self.rank) \
            if self.state_frames else None
        return y, next_state

    def zero_state(self, new: torch.Tensor) -> torch.Tensor | None:
        if not self.state_frames:
            return None
        s = self._in(new)
        shape = list(s.shape)
        shape[tdim(self.rank)] = self.state_frames
        return seq_to_state(torch.zeros(shape, dtype=new.dtype), self.rank)

    def shift(self) -> int:
        """Window index of the frame the taps call 0 (negative when the state is short)."""
        return self.state_frames - self.needed_frames

    def compute(self, w):  # pragma: no cover - abstract
        raise NotImplementedError


class ValidFrames(StreamOp):
    """Which frames of an op's window lie inside the video: a 0/1 shift register (state, zeros at the
    start) that takes m ones per step. After step n its first B + m entries are 1 exactly where the
    window frame's video index n·m − lag − B + w is ≥ 0 (register length B + m + lag). Only 0 and 1
    ever pass through it (concat and slice), so it stays exact in INT8 too — a mask computed from a
    step counter would be rounded there."""

    kind = "valid"

    def __init__(self, name, m, lag, window: int):
        super().__init__(name, 2, m, lag, window + lag)
        self.window_frames = window

    def zero_state(self, new):
        return torch.zeros((1, self.state_frames), dtype=new.dtype)

    def forward(self, new=None, state=None, valid=None):
        r = torch.cat([state[:, self.m:], torch.ones((1, self.m), dtype=state.dtype)], 1)
        return r[0, :self.window_frames], r


class Delay(StreamOp):
    """A FIFO of `frames` frames: aligns a branch that is ahead (e.g. the identity of a residual add
    around a "same"-padded temporal conv, whose look-ahead is a delay)."""

    kind = "delay"

    def __init__(self, name, rank, m, lag, frames: int):
        super().__init__(name, rank, m, lag, frames)

    def compute(self, w):
        return self._out(seq_slice(w, 0, self.m, self.rank))


def _taps(w, first: int, count: int, step: int, rank: int) -> torch.Tensor:
    idx = [first + i * step for i in range(count)]
    n = seq_len(w, rank)
    idx = [i if 0 <= i < n else -1 for i in idx]
    if rank == 5:
        return gather_frames(w, idx)
    parts = [w[:, :, i:i + 1] if i >= 0 else torch.zeros_like(w[:, :, :1]) for i in idx]
    return torch.cat(parts, 2)


class WindowConv(nn.Module):
    """The conv of a `StreamConv` on its window (a module of its own so the MAdds counter sees it):
    output i reads window frames first + i·s + j·d, j < k. 3-D: one conv2d on the k taps stacked
    along channels (grouped convs: one conv2d per tap, summed); 1-D: conv1d on the window."""

    def __init__(self, rank: int, m_out: int, conv: nn.Module):
        super().__init__()
        self.rank, self.m_out = rank, m_out
        self.k, self.s, self.d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        self.groups = conv.groups
        self.first = 0
        self.frames_io = False
        w = conv.weight.detach()
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
        if rank == 5:
            kh, kw = conv.kernel_size[1:]
            pad = conv.padding if isinstance(conv.padding, (tuple, list)) else (conv.padding,) * 3
            self.conv2d = dict(stride=tuple(conv.stride[1:]), padding=tuple(pad[1:]), dilation=tuple(conv.dilation[1:]))
            if self.groups == 1:
                w2 = w.permute(0, 2, 1, 3, 4).reshape(w.shape[0], self.k * w.shape[1], kh, kw)
            else:
                w2 = w.permute(2, 0, 1, 3, 4).contiguous()
            self.weight = nn.Parameter(w2.clone(), requires_grad=False)
        else:
            self.weight = nn.Parameter(w.clone(), requires_grad=False)
        self.per_output = w.shape[1] * w[0, 0].numel()

    def forward(self, w):
        first = self.first
        if self.rank == 5:
            taps = [_taps(w, first + j * self.d, self.m_out, self.s, 5) for j in range(self.k)]
            if self.groups == 1:
                y = F.conv2d(cat(taps, 1), self.weight, self.bias, **self.conv2d)
            else:
                y = F.conv2d(taps[0], self.weight[0], self.bias, groups=self.groups, **self.conv2d)
                for j in range(1, self.k):
                    y = y + F.conv2d(taps[j], self.weight[j], None, groups=self.groups, **self.conv2d)
            return y if self.frames_io else from_seq(y, 5)
        if first < 0:
            w = torch.cat([torch.zeros_like(w[:, :, :1]).expand(-1, -1, -first), w], 2)
            first = 0
        need = (self.m_out - 1) * self.s + (self.k - 1) * self.d + 1
        return F.conv1d(w[:, :, first:first + need], self.weight, self.bias, stride=self.s, dilation=self.d,
                        groups=self.groups)

    def count_madds(self, inputs, out) -> dict:
        return {"conv": (out.numel() if self.frames_io else out[0].numel()) * self.per_output}


class StreamConv(StreamOp):
    """A Conv3d (any temporal kernel k, dilation d, stride s) or Conv1d streamed on its window."""

    kind = "conv"

    def __init__(self, name, rank, m, lag, state_frames, conv: nn.Module, mask=None):
        super().__init__(name, rank, m, lag, state_frames, mask)
        self.k, self.s, self.d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        self.m_out = m // self.s
        self.conv = WindowConv(rank, self.m_out, conv)

    def compute(self, w):
        self.conv.first = self.shift()
        self.conv.frames_io = self.frames_io
        y = self.conv(w)
        self.madds = (y.numel() if self.frames_io else y[0].numel()) * self.conv.per_output
        return y


class StreamPool(StreamOp):
    """The temporal part of a max/avg pool (kernel k, stride s, dilation d) on its window; the spatial
    part ran per frame before (max and mean are separable). Avg counts padding frames (k divisor)."""

    kind = "pool"

    def __init__(self, name, rank, m, lag, state_frames, how: str, k: int, s: int, d: int = 1, mask=None):
        super().__init__(name, rank, m, lag, state_frames, mask)
        self.how, self.k, self.s, self.d = how, k, s, d
        self.m_out = m // s

    def compute(self, w):
        taps = [_taps(w, self.shift() + j * self.d, self.m_out, self.s, self.rank) for j in range(self.k)]
        mask = getattr(self, "_frame_mask", None)
        if self.how == "max" and mask is not None:
            # a tap before the video (max-pool padding) takes the window's newest tap instead: it is real
            # whenever the output is, and lies in the same window, so the maximum is unchanged (exact:
            # x·1 + y·0 = x for a 0/1 mask)
            self._frame_mask = None
            last = taps[-1]
            for j in range(self.k - 1):
                q = _taps(mask, self.shift() + j * self.d, self.m_out, self.s, self.rank)
                taps[j] = taps[j] * q + last * (1.0 - q)
        y = taps[0]
        for t in taps[1:]:
            y = torch.maximum(y, t) if self.how == "max" else y + t
        if self.how == "avg":
            y = y * (1.0 / self.k)
        return self._out(y)


class WindowPool(StreamOp):
    """A global temporal pool over the last `window` frames of its (spatially pooled) input: the step
    output is the clip model's pool over the video's last window, context carried in the state."""

    kind = "window_pool"

    def __init__(self, name, rank, m, lag, window: int, how: str):
        super().__init__(name, rank, m, lag, window - m)
        self.how, self.window_frames = how, window

    def compute(self, w):
        n = seq_len(w, self.rank)
        frames = [seq_slice(w, i, i + 1, self.rank) for i in range(n)]
        y = frames[0]
        for f in frames[1:]:
            y = torch.maximum(y, f) if self.how == "max" else y + f
        if self.how == "avg":
            y = y * (1.0 / n)
        return from_seq(y, self.rank)
