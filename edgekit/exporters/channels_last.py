"""The channels-last input (`--nhwc`): a model wrapped so its image-like inputs arrive (N, H, W, C) — or
(N, T, H, W, C) for a clip — as camera pipelines hand them over, moved back to channels-first by one
permute at the graph's entry (which the runtimes fuse into the first conv's layout).

With several inputs, only the float images, flows and clips (4-D / 5-D at batch 1) go channels-last;
feature sequences (N, C, T) and integer ids keep their layout. `channels_last(model, example)` gives
the wrapped model and its example for one input (a tensor) or several (a tuple) alike.
"""

from __future__ import annotations

from edgekit.layouts import to_channels_first, to_channels_last


def channels_last_flags(example) -> list[bool]:
    """Per input of `example` (a tuple of batch-1 tensors): does it go channels-last?"""
    return [bool(t.is_floating_point() and t.dim() in (4, 5)) for t in example]


def channels_last(model, example):
    """(model taking channels-last inputs, the example permuted to match). `example`: a tensor or a tuple."""
    from torch import nn

    single = not isinstance(example, tuple)
    xs = (example,) if single else example
    flags = [True] if single else channels_last_flags(xs)

    class ChannelsLastInputs(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *ins):
            return self.inner(*(x.permute(*to_channels_first(x.dim())) if f else x for x, f in zip(ins, flags)))

    moved = tuple(x.permute(*to_channels_last(x.dim())).contiguous() if f else x for x, f in zip(xs, flags))
    return ChannelsLastInputs(model).eval(), (moved[0] if single else moved)
