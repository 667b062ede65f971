"""DY-ReLU in a static broadcasting 4-D form (filled in below)."""

from __future__ import annotations

from torch import nn

from edgekit.rewrite.base import RewriteContext


class DYReLUToStatic:
    name = "dyrelu_static"

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        return 0
