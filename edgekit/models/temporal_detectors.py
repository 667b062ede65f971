"""Temporal action detectors of the research line, at edge size: TCN and DTPN.

No published weights exist for these sizes: the zoo gives random weights with BatchNorm statistics from data,
`--weights` loads a user's checkpoint by key, `file.py:factory` builds variants. Post-processing (NMS over
the proposals / default spans) stays outside the graph (a numpy step in `eval`), as the cards say.

- `tcn-small` — Temporal Context Network (Dai et al., ICCV 2017): proposals at equal intervals over several
  temporal scales; for each, features sampled uniformly at a *pair of scales*, the segment and its context
  (twice as long, same centre), go through a temporal convolutional network that ranks the proposal and
  classifies it. Input: a per-frame feature sequence `features` (C=64, T=64) from a frame backbone. The
  sampling is linear interpolation at fixed positions, a constant (T, P*L) matrix: one static MatMul.
  Outputs: `scores` (P, classes + 1: background first), `ranking` (P,) — proposals of lengths 8, 16, 32
  frames at stride length/2 (P = 15 + 7 + 3 = 25), 8 samples per segment and per context.
- `dtpn-small` — Dynamic Temporal Pyramid Network: frames sampled at *varying FPS* form a pyramidal input
  (here two inputs: `frames_slow` 8 frames, `frames_fast` 16 frames of the same video, 3x56x56); a two-branch
  multi-scale temporal feature hierarchy (the fast branch strided to the slow one's rate); local and global
  temporal context fused (a global average broadcast back); a single-shot detector over three pyramid levels
  (8, 4, 2 steps) with 3 default spans per position: `class_scores` (14*3*(classes + 1),) and `offsets`
  (14*3*2,) (centre, length) flattened level by level.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.card import Card
from edgekit.models.io_spec import InputSpec, OutputSpec
from edgekit.models.registry import register_model
from edgekit.models.video import KINETICS_MEAN, KINETICS_STD

TCN_SCALES = (8, 16, 32)
TCN_SAMPLES = 8


def proposals(t: int, scales=TCN_SCALES) -> list[tuple[float, float]]:
    """(start, end) in frames: every scale's windows at stride scale/2 that fit in t frames."""
    return [(float(s), float(s + L)) for L in scales for s in range(0, t - L + 1, L // 2)]


def sampling_matrix(t: int, spans, samples: int) -> torch.Tensor:
    """(t, len(spans)*samples): column j linearly interpolates the feature sequence at the j-th sample point
    (uniform inside each span, frame centres at i + 0.5, clamped to the sequence)."""
    cols = []
    for a, b in spans:
        for k in range(samples):
            pos = min(max(a + (k + 0.5) * (b - a) / samples - 0.5, 0.0), t - 1.0)
            i0 = int(pos)
            i1 = min(i0 + 1, t - 1)
            w = torch.zeros(t)
            w[i0] += 1 - (pos - i0)
            w[i1] += pos - i0
            cols.append(w)
    return torch.stack(cols, 1)


class TCNSmall(nn.Module):
    def __init__(self, num_classes: int = 20, channels: int = 64, frames: int = 64):
        super().__init__()
        spans = proposals(frames)
        context = [((a + b) / 2 - (b - a), (a + b) / 2 + (b - a)) for a, b in spans]
        self.p, self.l = len(spans), TCN_SAMPLES
        self.register_buffer("seg", sampling_matrix(frames, spans, TCN_SAMPLES))
        self.register_buffer("ctx", sampling_matrix(frames, context, TCN_SAMPLES))
        c = channels
        self.tcn = nn.Sequential(nn.Conv1d(2 * c, c, 3, padding=1, bias=False), nn.BatchNorm1d(c), nn.ReLU(),
                                 nn.Conv1d(c, c, 3, padding=2, dilation=2, bias=False), nn.BatchNorm1d(c), nn.ReLU())
        self.cls = nn.Linear(c, num_classes + 1)
        self.rank = nn.Linear(c, 1)

    def forward(self, features):  # (N, C, T)
        n, c, _ = features.shape
        seg = (features @ self.seg).view(n, c, self.p, self.l)  # (N, C, P, L): segment samples
        ctx = (features @ self.ctx).view(n, c, self.p, self.l)  # context samples, same positions in time
        pair = torch.cat([seg, ctx], 1).permute(0, 2, 1, 3).reshape(n * self.p, 2 * c, self.l)
        h = self.tcn(pair).mean(2)  # (N*P, C)
        return self.cls(h).view(n, self.p, -1), self.rank(h).view(n, self.p)


def _branch(cin: int, c: int, t_stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, c, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False), nn.BatchNorm3d(c), nn.ReLU(),
        nn.Conv3d(c, c, (3, 3, 3), (t_stride, 2, 2), (1, 1, 1), bias=False), nn.BatchNorm3d(c), nn.ReLU(),
        nn.AdaptiveAvgPool3d((None, 1, 1)))


class DTPNSmall(nn.Module):
    SPANS = 3

    def __init__(self, num_classes: int = 20, c: int = 32):
        super().__init__()
        self.k = num_classes + 1
        self.slow, self.fast = _branch(3, c, 1), _branch(3, c, 2)  # fast: 16 frames strided to the slow rate
        self.fuse = nn.Sequential(nn.Conv1d(2 * c, 2 * c, 3, padding=1, bias=False), nn.BatchNorm1d(2 * c), nn.ReLU())
        self.down = nn.ModuleList(nn.Sequential(nn.Conv1d(2 * c, 2 * c, 3, 2, 1, bias=False), nn.BatchNorm1d(2 * c),
                                                nn.ReLU()) for _ in range(2))
        self.context = nn.Conv1d(2 * c, 2 * c, 1)
        self.cls = nn.Conv1d(2 * c, self.SPANS * self.k, 3, padding=1)
        self.reg = nn.Conv1d(2 * c, self.SPANS * 2, 3, padding=1)

    def forward(self, frames_slow, frames_fast):  # (N, 3, 8, H, W), (N, 3, 16, H, W)
        a = self.slow(frames_slow).flatten(3).squeeze(3)  # (N, C, 8)
        b = self.fast(frames_fast).flatten(3).squeeze(3)  # (N, C, 8)
        x = self.fuse(torch.cat([a, b], 1))
        levels = [x]
        for d in self.down:
            levels.append(d(levels[-1]))
        n = x.shape[0]
        scores, offsets = [], []
        for f in levels:  # local features + global temporal context of the level
            f = f + self.context(f.mean(2, keepdim=True))
            scores.append(self.cls(f).flatten(1))
            offsets.append(self.reg(f).flatten(1))
        return torch.cat(scores, 1).view(n, -1), torch.cat(offsets, 1).view(n, -1)


def _card(name, description, inputs, outputs, num_classes, paper, **extra) -> Card:
    return Card(name=name, family="temporal_detectors", input_size=inputs[0].shape, num_classes=num_classes,
                mean=KINETICS_MEAN, std=KINETICS_STD, paper=paper, description=description, inputs=inputs,
                outputs=outputs, crop=inputs[0].shape[-1], resize=inputs[0].shape[-1],
                extra={"published_weights": "none at this size: random weights, BatchNorm statistics from data; "
                                  "--weights for your own", "postprocessing": "decoding and NMS outside the graph (edgekit eval: "
                                                                        "extra.task)", **extra})


@register_model(_card(
    "tcn-small", "Temporal Context Network: segment + context samples of 25 multi-scale proposals -> temporal conv "
                 "net -> ranking and class scores",
    (InputSpec("features", (64, 64), layout="CT", kind="sequence", preprocessing="per-frame features of a frame "
                                                                                   "backbone, 64 frames"),),
    (OutputSpec("scores", "scores", "per proposal: background + 20 class scores (logits)"),
     OutputSpec("ranking", "scores", "per proposal: actionness ranking score (logit)")),
    20, "Dai et al., Temporal Context Network for Activity Localization in Videos, ICCV 2017",
    task={"name": "detection-1d", "decode": "proposals", "units": "feature frames",
          "proposals": [list(p) for p in proposals(64)]}))
def tcn_small(num_classes: int = 20) -> nn.Module:
    return TCNSmall(num_classes)


@register_model(_card(
    "dtpn-small", "Dynamic Temporal Pyramid Network: 8- and 16-frame samplings of one video, two branches fused, "
                  "local + global context, single-shot heads over 3 pyramid levels",
    (InputSpec("frames_slow", (3, 8, 56, 56), layout="CTHW", kind="clip", preprocessing="card"),
     InputSpec("frames_fast", (3, 16, 56, 56), layout="CTHW", kind="clip", preprocessing="card")),
    (OutputSpec("class_scores", "scores", "per default span (14 positions x 3 spans, levels of 8/4/2 steps): "
                                          "background + 20 class logits, flattened level by level"),
     OutputSpec("offsets", "boxes", "per default span: (centre, length) offsets")),
    20, "Zhang et al., Dynamic Temporal Pyramid Network: A Closer Look at Multi-Scale Modeling for Activity "
        "Detection, ACCV 2018",
    task={"name": "detection-1d", "decode": "default_spans", "units": "frames_slow steps (8 per clip)",
          "levels": [[8, 1.0], [4, 2.0], [2, 4.0]], "lengths": [0.5, 1.0, 2.0]}))
def dtpn_small(num_classes: int = 20) -> nn.Module:
    return DTPNSmall(num_classes)
