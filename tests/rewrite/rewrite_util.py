"""Helpers for the rewrite tests: well-conditioned random models (BatchNorm statistics that are
not the identity, hyper-function weights large enough that the dynamic parts really vary)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def condition(model: nn.Module, seed: int = 1, fc_std: float = 0.3) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            if m.weight is not None:
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.6 - 0.3)
        elif isinstance(m, nn.Linear):
            m.weight.normal_(0, fc_std, generator=g)
            m.bias.normal_(0, fc_std, generator=g)
    return model.eval()


def micronet(variant: str) -> nn.Module:
    import edgekit.models.zoo  # noqa: F401
    from edgekit.models.registry import create_model

    return condition(create_model(f"micronet-{variant}"))


def apply_exact(model: nn.Module, ctx, *passes):
    """A float64 copy of `model` rewritten by `passes` as the pipeline runs them (folded weights
    exact, so `check_equivalent` proves the pass itself), and each pass's changed count.
    The pipeline rounds this model to float32 once, at the end (`.float()`)."""
    from edgekit.rewrite.base import RewriteContext
    from edgekit.rewrite.verify import as_float64, float64_mode

    if not isinstance(ctx, RewriteContext):
        ctx = RewriteContext(tuple(ctx))
    with torch.no_grad(), float64_mode():
        work = as_float64(model)
        counts = [int(p.apply(work, ctx)) for p in passes]
    return work.eval(), counts


def user_model_file(tmp_path_factory, source: str, name: str):
    """tests/rewrite/<source> copied to a fresh directory as <name>: a FILE for `FILE:factory` exports as a user
    passes one, loaded under its own module name (not the module the tests import)."""
    import shutil
    from pathlib import Path

    out = tmp_path_factory.mktemp(Path(name).stem) / name
    shutil.copy(Path(__file__).parent / source, out)
    return out
