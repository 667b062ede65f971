"""Moment retrieval of the research line, at edge size: MAN.

- `man-small` — Moment Alignment Network (Zhang et al., CVPR 2019): a *video and a language query*. The
  query (`tokens`, 12 int64 ids in [1, 1000), 0 = padding) is embedded and encoded by an LSTM (its last
  state); the video (`video`, a per-frame feature sequence, C=64, T=32) is encoded by temporal convolutions
  modulated by the sentence; candidate moments at multiple temporal locations and scales come from a
  temporal pyramid (32, 16, 8, 4 steps: 60 candidates); an iterative graph adjustment network models the
  moment-wise relations: the adjacency is computed from the moment features (softmax of a matrix product of
  two input-dependent operands), updated twice; output `scores` (60,), one alignment score per candidate
  moment (sigmoid not applied), and `offsets` (60, 2) boundary refinements.
No published weights at this size: random weights with BatchNorm statistics from data; `--weights` for yours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.card import Card
from edgekit.models.io_spec import InputSpec, OutputSpec
from edgekit.models.registry import register_model

VOCAB, TOKENS = 1000, 12


class GraphAdjust(nn.Module):
    """One iteration: A = softmax(Q K^T / sqrt(d)) over the moments, M <- M + ReLU(A M W)."""

    def __init__(self, d: int):
        super().__init__()
        self.q, self.k, self.w = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.scale = d ** -0.5

    def forward(self, m):  # (N, M, d)
        adj = torch.softmax(self.q(m) @ self.k(m).transpose(1, 2) * self.scale, dim=-1)
        return m + F.relu(self.w(adj @ m))


class MANSmall(nn.Module):
    def __init__(self, c: int = 64, d: int = 64, iterations: int = 2):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32, padding_idx=0)
        self.lstm = nn.LSTM(32, d, batch_first=True)
        self.video = nn.Sequential(nn.Conv1d(c, d, 3, padding=1, bias=False), nn.BatchNorm1d(d), nn.ReLU())
        self.film = nn.Linear(d, 2 * d)
        self.pyramid = nn.ModuleList(nn.Sequential(nn.Conv1d(d, d, 3, 2, 1, bias=False), nn.BatchNorm1d(d), nn.ReLU())
                                     for _ in range(3))
        self.graph = nn.ModuleList(GraphAdjust(d) for _ in range(iterations))
        self.score, self.offset = nn.Linear(d, 1), nn.Linear(d, 2)

    def forward(self, video, tokens):  # (N, C, T) float, (N, L) int64
        _, (h, _) = self.lstm(self.embed(tokens))
        q = h[-1]  # (N, d): the sentence
        gamma, beta = self.film(q).unsqueeze(2).chunk(2, dim=1)
        x = self.video(video) * (1 + gamma) + beta  # the video aligned with the sentence
        moments = [x]
        for p in self.pyramid:
            moments.append(p(moments[-1]))
        m = torch.cat(moments, 2).transpose(1, 2)  # (N, 60, d): candidates at every location and scale
        m = m * q.unsqueeze(1)
        for g in self.graph:
            m = g(m)
        return self.score(m).squeeze(2), self.offset(m)


@register_model(Card(
    name="man-small", family="moment_retrieval", input_size=(64, 32), num_classes=1,
    paper="Zhang et al., MAN: Moment Alignment Network for Natural Language Moment Retrieval via Iterative "
          "Graph Adjustment, CVPR 2019",
    description="video features + int64 query tokens -> LSTM sentence, sentence-modulated temporal pyramid, 60 "
                "candidate moments, 2 iterations of graph adjustment (computed adjacency) -> a score per moment",
    inputs=(InputSpec("video", (64, 32), layout="CT", kind="sequence",
                      preprocessing="per-frame features of a frame backbone, 32 steps"),
            InputSpec("tokens", (TOKENS,), dtype="int64", kind="tokens", range=(0, VOCAB),
                      preprocessing="word ids of the query, 0 = padding")),
    outputs=(OutputSpec("scores", "scores", "alignment score per candidate moment (32+16+8+4 = 60; logits)"),
             OutputSpec("offsets", "boxes", "per candidate moment: (start, end) refinements")),
    extra={"published_weights": "none at this size: random weights, BatchNorm statistics from data; --weights for "
                      "your own",
           "task": {"name": "moment-retrieval", "decode": "moment_offsets", "units": "video steps (32 per video)",
                    "candidates": [[t, s] for s, n in ((1, 32), (2, 16), (4, 8), (8, 4)) for t in range(n)]}}))
def man_small(num_classes: int = 1) -> nn.Module:
    return MANSmall()
