"""DY-Conv without input-dependent conv weights (filled in below)."""

from __future__ import annotations

from torch import nn

from edgekit.rewrite.base import RewriteContext


class DynamicConvToBranches:
    name = "dyconv_static"

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        return 0
