"""Model registry: `@register_model(card)` on a builder, `create_model(name, ...)` to build.

The registry itself imports no torch; builders do, and are imported on first use
(`edgekit.models.zoo`), so `edgekit bench` on a device without torch never touches them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from edgekit.errors import EdgekitError, did_you_mean
from edgekit.models.card import Card

_BUILDERS: dict[str, Callable] = {}
_CARDS: dict[str, Card] = {}


def register_model(card: Card):
    """Decorator: register `builder(num_classes=...) -> nn.Module` under `card.name`."""

    def wrap(builder: Callable) -> Callable:
        if card.name in _BUILDERS:
            raise ValueError(f"model {card.name!r} registered twice")
        _BUILDERS[card.name] = builder
        _CARDS[card.name] = card
        return builder

    return wrap


def _ensure_zoo() -> None:
    import edgekit.models.zoo  # noqa: F401  (registers every builder)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, optionally filtered by a glob pattern (`micronet-*`)."""
    import fnmatch

    _ensure_zoo()
    names = sorted(_BUILDERS)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def is_registered(name: str) -> bool:
    _ensure_zoo()
    return name in _BUILDERS


def get_card(name: str) -> Card:
    _ensure_zoo()
    if name not in _CARDS:
        raise EdgekitError(f"unknown model {name!r}{did_you_mean(name, _CARDS)}; run `edgekit models` for the list")
    return _CARDS[name]


def create_model(name: str, weights: str | None = None, num_classes: int | None = None, **overrides):
    """Build a zoo model in eval mode with its card attached as `model.card`.

    `weights` is a checkpoint path (published MicroNet layouts are accepted); when it carries a
    classifier of another size and `num_classes` is not given, the checkpoint's size wins.
    """
    card = get_card(name)
    state = None
    if weights is not None:
        from edgekit.models.checkpoints import read_state_dict, infer_num_classes

        state = read_state_dict(weights)
        if num_classes is None:
            num_classes = infer_num_classes(state, card.num_classes)
    if num_classes is not None and num_classes != card.num_classes:
        card = dataclasses.replace(card, num_classes=num_classes)
    model = _BUILDERS[name](num_classes=card.num_classes, **overrides)
    if state is not None:
        from edgekit.models.checkpoints import load_into

        load_into(model, state, source=weights)
    model.eval()
    model.card = card
    return model
