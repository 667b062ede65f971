"""Walking a model as chains of leaf modules in execution order.

A chain is what a Sequential executes, with single-child holder modules (MicroNet's `_Conv`,
`Stem`, `SwishLinear`, whose forward only calls their child) flattened into it, so that "a conv
followed by a BatchNorm" is found even when the two sit in different containers. A `Slot`
remembers where a leaf lives so a pass can replace it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

# Holders whose forward is exactly their only child's forward.
HOLDERS = ("_Conv", "Stem", "SwishLinear")


@dataclass
class Slot:
    parent: nn.Module
    key: str
    module: nn.Module

    def replace(self, new: nn.Module) -> None:
        setattr(self.parent, self.key, new)
        self.module = new


def is_holder(m: nn.Module) -> bool:
    return type(m).__name__ in HOLDERS and len(list(m.children())) == 1


def flatten(container: nn.Module) -> list[Slot]:
    """Leaves of a Sequential (or holder) in execution order; nested Sequentials/holders inlined."""
    out: list[Slot] = []
    for key, child in container.named_children():
        if isinstance(child, nn.Sequential) or is_holder(child):
            out.extend(flatten(child))
        else:
            out.append(Slot(container, key, child))
    return out


def chains(model: nn.Module) -> list[list[Slot]]:
    """Every maximal chain in the model: one per Sequential not itself inside a flattened chain."""
    found: list[list[Slot]] = []

    def visit(m: nn.Module):
        for child in m.children():
            if isinstance(child, nn.Sequential) or is_holder(child):
                slots = flatten(child)
                found.append(slots)
                for s in slots:
                    visit(s.module)
            else:
                visit(child)

    if isinstance(model, nn.Sequential) or is_holder(model):
        slots = flatten(model)
        found.append(slots)
        for s in slots:
            visit(s.module)
    else:
        visit(model)
    return found


def is_passthrough(m: nn.Module) -> bool:
    """Modules that are the identity at inference (empty Sequential, Identity, Dropout)."""
    return isinstance(m, (nn.Identity, nn.Dropout)) or (isinstance(m, nn.Sequential) and len(m) == 0)
