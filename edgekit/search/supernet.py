"""The supernet: the space's stem and head around one mixed layer per stage, whose output is the
softmax(α)-weighted sum of its candidates still alive (DARTS-style relaxation). Pruned candidates
leave the sum; the expected latency is the same weighting applied to their table entries."""

from __future__ import annotations

import torch
from torch import nn

from edgekit.search.blocks import build_block, init_weights


class MixedLayer(nn.Module):
    def __init__(self, candidates: list[dict], cin: int):
        super().__init__()
        self.ops = nn.ModuleList(build_block(c, cin) for c in candidates)
        self.alpha = nn.Parameter(torch.zeros(len(candidates)))
        self.register_buffer("alive", torch.ones(len(candidates), dtype=torch.bool))

    def probs(self) -> torch.Tensor:
        """Probabilities over all candidates (0 for pruned ones)."""
        masked = self.alpha.masked_fill(~self.alive, float("-inf"))
        return torch.softmax(masked, 0)

    def forward(self, x):
        p = self.probs()
        out = 0
        for i, op in enumerate(self.ops):
            if self.alive[i]:
                out = out + p[i] * op(x)
        return out


class SuperNet(nn.Module):
    def __init__(self, space):
        super().__init__()
        self.stem = build_block(space.stem, space.input[0])
        self.layers = nn.ModuleList(MixedLayer(st.candidates, st.input[0]) for st in space.stages)
        self.head = build_block(space.head, space.head_input[0])
        init_weights(self)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [layer.alpha for layer in self.layers]

    def weight_parameters(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]

    def expected_latency(self, lat: list[torch.Tensor], fixed: float, alpha: float = 1.0, beta: float = 0.0):
        """alpha · (fixed + Σ_layers Σ_i p_i · lat_i) + beta: the predictor applied to the expected block sum."""
        total = fixed + sum((layer.probs() * t).sum() for layer, t in zip(self.layers, lat))
        return alpha * total + beta

    def choices(self) -> list[int]:
        return [int(layer.probs().argmax()) for layer in self.layers]

    def alive_counts(self) -> list[int]:
        return [int(layer.alive.sum()) for layer in self.layers]
