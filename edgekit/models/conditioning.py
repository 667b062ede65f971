"""Give an untrained zoo model the BatchNorm statistics a trained one has.

A freshly initialised network has running_mean 0 / running_var 1 everywhere, so activations
shrink layer after layer and the logits come out ~1e-14: parity, INT8 calibration and latency
(denormals) on such a model say nothing. Setting the statistics from data, as training would,
gives O(1) logits. The weights stay random; the sidecar says so.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def condition_batchnorm(model: nn.Module, input_shape, batches: int = 4, batch_size: int = 8, seed: int = 0) -> nn.Module:
    """Set every BatchNorm's running statistics from random-normal inputs (cumulative average).
    `input_shape`: the per-sample shape, or the IO spec of a model with several inputs (token ids
    then stay ids inside their range)."""
    from edgekit.models.examples import example_inputs

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.train()
    try:
        for _ in range(batches):
            model(*example_inputs(input_shape, fill="randn", generator=gen, batch=batch_size))
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.train(was_training)
    return model
